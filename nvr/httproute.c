/* httproute — the web API's route table, path/query matching, mutation checks and JSON body
 * parsers. Pure (no I/O, no clock), fuzzed (tests/fuzz/fuzz-httproute.c, fuzz-jsonbody.c).
 * Invariant: a route with NVR_POLICY_NONE never exists (test-httproute checks the table). */
#define G_LOG_DOMAIN "nvr-http"

#include "httproute.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

/* Indexed by NvrRouteId; the order is the order of docs/design/auth.md "Routes". */
static const NvrRoute routes[NVR_ROUTE_COUNT] = {
  { NVR_ROUTE_PAIR_BEGIN, "POST", "pair/begin", NVR_POLICY_PUBLIC, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_PAIR_BEGIN, FALSE },
  { NVR_ROUTE_PAIR_FINISH, "POST", "pair/finish", NVR_POLICY_PUBLIC, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_PAIR_FINISH, FALSE },
  { NVR_ROUTE_LOGIN_BEGIN, "POST", "login/begin", NVR_POLICY_PUBLIC, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_LOGIN_BEGIN, FALSE },
  { NVR_ROUTE_LOGIN_FINISH, "POST", "login/finish", NVR_POLICY_PUBLIC, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_LOGIN_FINISH, FALSE },
  { NVR_ROUTE_LOGOUT, "POST", "logout", NVR_POLICY_SESSION, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_EMPTY_OBJECT, FALSE },
  { NVR_ROUTE_ME, "GET", "me", NVR_POLICY_SESSION, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_NONE, FALSE },
  { NVR_ROUTE_BOX, "GET", "box", NVR_POLICY_SESSION, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_NONE, FALSE },
  { NVR_ROUTE_CAMERAS, "GET", "cameras", NVR_POLICY_SESSION, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_NONE, FALSE },
  { NVR_ROUTE_CAMERA, "GET", "cameras/{cam}", NVR_POLICY_CAMERA, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_NONE, FALSE },
  { NVR_ROUTE_TIMELINE, "GET", "cameras/{cam}/timeline", NVR_POLICY_CAMERA, NVR_OBJECT_NONE,
    NVR_QUERY_RANGE, NVR_BODY_NONE, FALSE },
  { NVR_ROUTE_SEGMENTS, "GET", "cameras/{cam}/segments", NVR_POLICY_CAMERA, NVR_OBJECT_NONE,
    NVR_QUERY_RANGE, NVR_BODY_NONE, FALSE },
  { NVR_ROUTE_SEGMENT_MEDIA, "GET", "cameras/{cam}/segments/{seg}/media", NVR_POLICY_CAMERA,
    NVR_OBJECT_SEGMENT, NVR_QUERY_NONE, NVR_BODY_NONE, TRUE },
  { NVR_ROUTE_SNAPSHOT, "GET", "cameras/{cam}/snapshot.jpg", NVR_POLICY_CAMERA, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_NONE, TRUE },
  { NVR_ROUTE_EVENTS, "GET", "cameras/{cam}/events", NVR_POLICY_CAMERA, NVR_OBJECT_NONE,
    NVR_QUERY_RANGE, NVR_BODY_NONE, FALSE },
  { NVR_ROUTE_EVENT_THUMBNAIL, "GET", "cameras/{cam}/events/{ev}/thumbnail.jpg",
    NVR_POLICY_CAMERA, NVR_OBJECT_EVENT, NVR_QUERY_NONE, NVR_BODY_NONE, TRUE },
  { NVR_ROUTE_LIVE, "GET", "cameras/{cam}/live", NVR_POLICY_CAMERA, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_NONE, TRUE },
  { NVR_ROUTE_EXPORT_MP4, "GET", "cameras/{cam}/export.mp4", NVR_POLICY_CAMERA, NVR_OBJECT_NONE,
    NVR_QUERY_RANGE, NVR_BODY_NONE, TRUE },
  { NVR_ROUTE_EXPORT_SIG, "GET", "cameras/{cam}/export.sig", NVR_POLICY_CAMERA, NVR_OBJECT_NONE,
    NVR_QUERY_RANGE, NVR_BODY_NONE, TRUE },
  { NVR_ROUTE_DEVICES, "GET", "devices", NVR_POLICY_ADMIN, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_NONE, FALSE },
  { NVR_ROUTE_DEVICE_REVOKE, "POST", "devices/{dev}/revoke", NVR_POLICY_ADMIN, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_EMPTY_OBJECT, FALSE },
  { NVR_ROUTE_DEVICE_CAMERAS, "PUT", "devices/{dev}/cameras", NVR_POLICY_ADMIN,
    NVR_OBJECT_NONE, NVR_QUERY_NONE, NVR_BODY_CAMERA_LIST, FALSE },
  { NVR_ROUTE_INVITES, "POST", "invites", NVR_POLICY_ADMIN, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_INVITE, FALSE },
  { NVR_ROUTE_PLAYLIST, "GET", "cameras/{cam}/playlist.m3u8", NVR_POLICY_CAMERA,
    NVR_OBJECT_NONE, NVR_QUERY_RANGE, NVR_BODY_NONE, TRUE },
  /* Administration (docs/design/admin.md): {id} names the camera to change (in
   * NvrRouteMatch.object_id). It is not {cam}: the admin device need not have it in its ACL. */
  { NVR_ROUTE_SETTINGS_CAMERAS, "GET", "settings/cameras", NVR_POLICY_ADMIN, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_NONE, FALSE },
  { NVR_ROUTE_SETTINGS_CAMERA_ADD, "POST", "settings/cameras", NVR_POLICY_ADMIN,
    NVR_OBJECT_NONE, NVR_QUERY_NONE, NVR_BODY_CAMERA_ADD, FALSE },
  { NVR_ROUTE_SETTINGS_CAMERA_EDIT, "PUT", "settings/cameras/{id}", NVR_POLICY_ADMIN,
    NVR_OBJECT_NONE, NVR_QUERY_NONE, NVR_BODY_CAMERA_EDIT, FALSE },
  { NVR_ROUTE_SETTINGS_CAMERA_DELETE, "DELETE", "settings/cameras/{id}", NVR_POLICY_ADMIN,
    NVR_OBJECT_NONE, NVR_QUERY_NONE, NVR_BODY_EMPTY_OR_NONE, FALSE },
  { NVR_ROUTE_SETTINGS_CAMERA_MOTION, "PUT", "settings/cameras/{id}/motion", NVR_POLICY_ADMIN,
    NVR_OBJECT_NONE, NVR_QUERY_NONE, NVR_BODY_MOTION, FALSE },
  { NVR_ROUTE_AUDIT, "GET", "audit", NVR_POLICY_ADMIN, NVR_OBJECT_NONE,
    NVR_QUERY_AUDIT, NVR_BODY_NONE, FALSE },
  { NVR_ROUTE_HEALTH, "GET", "health", NVR_POLICY_ADMIN, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_NONE, FALSE },
  { NVR_ROUTE_CAMERA_TEST, "POST", "settings/cameras/test", NVR_POLICY_ADMIN, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_CAMERA_TEST, FALSE },
  { NVR_ROUTE_ONVIF_PROFILES, "POST", "settings/onvif/profiles", NVR_POLICY_ADMIN,
    NVR_OBJECT_NONE, NVR_QUERY_NONE, NVR_BODY_ONVIF, FALSE },
  { NVR_ROUTE_ONVIF_SCAN, "POST", "settings/onvif/scan", NVR_POLICY_ADMIN, NVR_OBJECT_NONE,
    NVR_QUERY_NONE, NVR_BODY_EMPTY_OBJECT, FALSE },
};

const NvrRoute *
nvr_httproute_table (void)
{
  return routes;
}

const char *
nvr_httproute_policy_name (NvrPolicy policy)
{
  switch (policy) {
  case NVR_POLICY_PUBLIC: return "public";
  case NVR_POLICY_SESSION: return "session";
  case NVR_POLICY_CAMERA: return "camera";
  case NVR_POLICY_ADMIN: return "admin";
  case NVR_POLICY_NONE: default: return "none";
  }
}

const char *
nvr_httproute_object_name (NvrObjectKind kind)
{
  switch (kind) {
  case NVR_OBJECT_SEGMENT: return "segment";
  case NVR_OBJECT_EVENT: return "event";
  case NVR_OBJECT_NONE: default: return "none";
  }
}

static const char *
body_name (NvrBodyKind kind)
{
  switch (kind) {
  case NVR_BODY_EMPTY_OBJECT: return "{}";
  case NVR_BODY_PAIR_BEGIN: return "{code}";
  case NVR_BODY_PAIR_FINISH: return "{code,nonce,public_key,signature}";
  case NVR_BODY_LOGIN_BEGIN: return "{public_key}";
  case NVR_BODY_LOGIN_FINISH: return "{public_key,nonce,signature}";
  case NVR_BODY_CAMERA_LIST: return "{cameras}";
  case NVR_BODY_INVITE: return "{name,cameras,admin,ttl_s}";
  case NVR_BODY_CAMERA_ADD:
    return "{name,main_url,sub_url,user,password,transport,audio,retention_days}";
  case NVR_BODY_CAMERA_EDIT:
    return "{name?,main_url?,sub_url?,user?,password?,transport?,audio?,retention_days?}";
  case NVR_BODY_MOTION: return "{masks?,zones?}";
  case NVR_BODY_EMPTY_OR_NONE: return "{}";
  case NVR_BODY_CAMERA_TEST: return "{main_url,user,password,transport}";
  case NVR_BODY_ONVIF: return "{address,user,password}";
  case NVR_BODY_NONE: default: return NULL;
  }
}

char *
nvr_httproute_table_json (void)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "prefix");
  json_builder_add_string_value (b, NVR_HTTP_API_PREFIX);
  json_builder_set_member_name (b, "routes");
  json_builder_begin_array (b);
  for (guint i = 0; i < NVR_ROUTE_COUNT; i++) {
    const NvrRoute *r = &routes[i];
    g_autofree char *path = g_strconcat (NVR_HTTP_API_PREFIX, r->pattern, NULL);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "method");
    json_builder_add_string_value (b, r->method);
    json_builder_set_member_name (b, "path");
    json_builder_add_string_value (b, path);
    json_builder_set_member_name (b, "policy");
    json_builder_add_string_value (b, nvr_httproute_policy_name (r->policy));
    json_builder_set_member_name (b, "object");
    json_builder_add_string_value (b, nvr_httproute_object_name (r->kind));
    json_builder_set_member_name (b, "query");
    json_builder_begin_array (b);
    if (r->query == NVR_QUERY_RANGE) {
      json_builder_add_string_value (b, "from_us");
      json_builder_add_string_value (b, "to_us");
    } else if (r->query == NVR_QUERY_AUDIT) {
      json_builder_add_string_value (b, "before_id");
      json_builder_add_string_value (b, "limit");
    }
    json_builder_end_array (b);
    json_builder_set_member_name (b, "body");
    if (body_name (r->body) != NULL)
      json_builder_add_string_value (b, body_name (r->body));
    else
      json_builder_add_null_value (b);
    json_builder_set_member_name (b, "media");
    json_builder_add_boolean_value (b, r->media);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  return json_generator_to_data (gen, NULL);
}

/* ---- paths ---- */

gboolean
nvr_httproute_parse_id (const char *s, gsize len, gint64 *out)
{
  if (len == 0 || len > NVR_HTTP_ID_MAX_DIGITS || (s[0] == '0' && len > 1))
    return FALSE;
  gint64 v = 0;
  for (gsize i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return FALSE;
    v = v * 10 + (s[i] - '0');   /* 18 digits never overflow a gint64 */
  }
  *out = v;
  return TRUE;
}

/* Matches @path (after the prefix) against @pattern segment by segment; ids go to @m. */
static gboolean
match_pattern (const char *pattern, const char *path, NvrRouteMatch *m)
{
  const char *p = pattern, *s = path;
  for (;;) {
    const char *pe = strchrnul (p, '/');
    const char *se = strchrnul (s, '/');
    gsize plen = (gsize) (pe - p), slen = (gsize) (se - s);
    if (plen > 2 && p[0] == '{' && p[plen - 1] == '}') {
      gint64 id;
      if (!nvr_httproute_parse_id (s, slen, &id))
        return FALSE;
      if (strncmp (p, "{cam}", plen) == 0)
        m->camera_id = id;
      else if (strncmp (p, "{dev}", plen) == 0)
        m->device_id = id;
      else
        m->object_id = id;   /* {seg}, {ev} */
    } else if (plen != slen || memcmp (p, s, plen) != 0) {
      return FALSE;
    }
    if (*pe == '\0' || *se == '\0')
      return *pe == '\0' && *se == '\0';
    p = pe + 1;
    s = se + 1;
  }
}

guint
nvr_httproute_match (const char *method, const char *path, NvrRouteMatch *out)
{
  memset (out, 0, sizeof *out);
  if (method == NULL || path == NULL || strlen (path) > NVR_HTTP_PATH_MAX ||
      !g_str_has_prefix (path, NVR_HTTP_API_PREFIX))
    return 404;
  const char *rest = path + strlen (NVR_HTTP_API_PREFIX);
  /* Only the characters a pattern can produce; no '%' (no decoding tricks), no empty
   * segment (no "//", no leading or trailing '/'). "." and ".." never equal a literal and
   * are not digits, so they never match either. */
  if (*rest == '\0' || strspn (rest, "abcdefghijklmnopqrstuvwxyz0123456789/._") != strlen (rest))
    return 404;
  gboolean path_known = FALSE;
  for (guint i = 0; i < NVR_ROUTE_COUNT; i++) {
    NvrRouteMatch m = { 0 };
    if (!match_pattern (routes[i].pattern, rest, &m))
      continue;
    path_known = TRUE;
    if (strcmp (routes[i].method, method) != 0)
      continue;
    m.route = &routes[i];
    *out = m;
    return 0;
  }
  return path_known ? 405 : 404;
}

/* ---- query ---- */

/* Walks @query as "key=N&key=N..." with @n known @keys, each at most once, N a strict decimal:
 * fills @vals/@seen by key index. 0, or 400 with @reason: @bad_pair for a pair without '=' or
 * a value that is no decimal, @bad_key for an unknown or repeated key. At most 128 bytes. */
static guint
query_ids (const char *query, const char *const *keys, guint n, gint64 *vals, gboolean *seen,
           const char *bad_pair, const char *bad_key, const char **reason)
{
  if (strlen (query) > 128) {
    *reason = "query too long";
    return 400;
  }
  for (const char *p = query;;) {
    const char *end = strchrnul (p, '&');
    const char *eq = memchr (p, '=', (gsize) (end - p));
    gint64 v;
    if (eq == NULL || !nvr_httproute_parse_id (eq + 1, (gsize) (end - eq - 1), &v)) {
      *reason = bad_pair;
      return 400;
    }
    gsize klen = (gsize) (eq - p);
    guint k = 0;
    while (k < n && !(strlen (keys[k]) == klen && memcmp (p, keys[k], klen) == 0))
      k++;
    if (k == n || seen[k]) {
      *reason = bad_key;
      return 400;
    }
    seen[k] = TRUE;
    vals[k] = v;
    if (*end == '\0')
      return 0;
    p = end + 1;
  }
}

guint
nvr_httproute_parse_range (const char *query, gint64 max_range_us, gint64 *from_us,
                           gint64 *to_us, const char **reason)
{
  static const char *const keys[] = { "from_us", "to_us" };
  gint64 v[2] = { 0, 0 };
  gboolean seen[2] = { FALSE, FALSE };
  *from_us = *to_us = 0;
  *reason = "from_us and to_us are required";
  if (query == NULL || *query == '\0')
    return 400;
  guint status = query_ids (query, keys, 2, v, seen,
                            "from_us and to_us must be non-negative decimal integers",
                            "query must be from_us=N&to_us=N, each once", reason);
  if (status != 0)
    return status;
  *from_us = v[0];
  *to_us = v[1];
  if (!seen[0] || !seen[1]) {
    *reason = "from_us and to_us are required";
    return 400;
  }
  if (*to_us <= *from_us) {
    *reason = "to_us must be after from_us";
    return 400;
  }
  if (max_range_us > 0 && *to_us - *from_us > max_range_us) {
    *reason = "the range is too long";
    return 400;
  }
  *reason = NULL;
  return 0;
}

guint
nvr_httproute_parse_audit_query (const char *query, guint limit_default, guint limit_max,
                                 gint64 *before_id, guint *limit, const char **reason)
{
  static const char *const keys[] = { "before_id", "limit" };
  gint64 v[2] = { 0, 0 };
  gboolean seen[2] = { FALSE, FALSE };
  *before_id = 0;
  *limit = limit_default;
  *reason = NULL;
  if (query == NULL || *query == '\0')
    return 0;
  guint status = query_ids (query, keys, 2, v, seen,
                            "query must be before_id=N&limit=N with decimal integers",
                            "query may hold before_id and limit, each once", reason);
  if (status != 0)
    return status;
  if (seen[0] && v[0] < 1) {
    *reason = "before_id must be at least 1";
    return 400;
  }
  if (seen[1] && (v[1] < 1 || v[1] > limit_max)) {
    *reason = "limit is out of range";
    return 400;
  }
  *before_id = v[0];
  if (seen[1])
    *limit = (guint) v[1];
  return 0;
}

/* ---- mutation checks ---- */

guint
nvr_httproute_check_mutation (const char *method, const char *content_type,
                              const char *origin, const char *sec_fetch_site,
                              const char *configured_origin, const char **reason)
{
  *reason = NULL;
  if (method != NULL && (strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0))
    return 0;
  if (origin == NULL || configured_origin == NULL || strcmp (origin, configured_origin) != 0) {
    *reason = "cross-origin request refused (Origin)";
    return 403;
  }
  if (sec_fetch_site == NULL || strcmp (sec_fetch_site, "same-origin") != 0) {
    *reason = "cross-site request refused (Sec-Fetch-Site)";
    return 403;
  }
  /* "application/json" then nothing, or parameters after ';' (e.g. "; charset=utf-8"). */
  static const char json[] = "application/json";
  const char *ct = content_type;
  while (ct != NULL && (*ct == ' ' || *ct == '\t'))
    ct++;
  if (ct == NULL || g_ascii_strncasecmp (ct, json, sizeof json - 1) != 0) {
    *reason = "Content-Type must be application/json";
    return 415;
  }
  ct += sizeof json - 1;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  if (*ct != '\0' && *ct != ';') {
    *reason = "Content-Type must be application/json";
    return 415;
  }
  return 0;
}

/* ---- cookies ---- */

char *
nvr_httproute_cookie (const char *header, const char *name)
{
  if (header == NULL || name == NULL)
    return NULL;
  gsize nlen = strlen (name);
  char *found = NULL;
  const char *p = header;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ';')
      p++;
    const char *end = strchrnul (p, ';');
    const char *eq = memchr (p, '=', (gsize) (end - p));
    if (eq != NULL && (gsize) (eq - p) == nlen && memcmp (p, name, nlen) == 0) {
      const char *v = eq + 1, *ve = end;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
      if (found != NULL) {
        g_free (found);
        return NULL;
      }
      found = g_strndup (v, (gsize) (ve - v));
    }
    p = end;
  }
  if (found != NULL && *found == '\0')
    g_clear_pointer (&found, g_free);
  return found;
}

#define CLIENT_ADDRESS_MAX 45   /* INET6_ADDRSTRLEN - 1 */

char *
nvr_httproute_client (const char *x_forwarded_for)
{
  if (x_forwarded_for == NULL)
    return g_strdup ("local");
  const char *last = strrchr (x_forwarded_for, ',');
  last = last ? last + 1 : x_forwarded_for;
  while (*last == ' ' || *last == '\t')
    last++;
  gsize len = strlen (last);
  while (len > 0 && (last[len - 1] == ' ' || last[len - 1] == '\t'))
    len--;
  if (len == 0 || len > CLIENT_ADDRESS_MAX)
    return g_strdup ("invalid");
  g_autofree char *addr = g_ascii_strdown (last, (gssize) len);
  /* GLib parses numeric literals only (no name lookups); it also spells one address one way. */
  g_autoptr (GInetAddress) ia = g_inet_address_new_from_string (addr);
  if (ia == NULL)
    return g_strdup ("invalid");
  return g_inet_address_to_string (ia);
}

/* ---- JSON bodies ---- */

void
nvr_camera_settings_clear (NvrCameraSettings *s)
{
  g_clear_pointer (&s->name, g_free);
  g_clear_pointer (&s->main_url, g_free);
  g_clear_pointer (&s->sub_url, g_free);
  g_clear_pointer (&s->user, g_free);
  if (s->password != NULL)
    memset (s->password, 0, strlen (s->password));
  g_clear_pointer (&s->password, g_free);
  g_clear_pointer (&s->transport, g_free);
  memset (s, 0, sizeof *s);
}

void
nvr_body_clear (NvrBody *b)
{
  nvr_camera_settings_clear (&b->camera);
  g_clear_pointer (&b->masks, g_ptr_array_unref);
  g_clear_pointer (&b->zones, g_ptr_array_unref);
  g_clear_pointer (&b->code, g_free);
  g_clear_pointer (&b->nonce, g_free);
  g_clear_pointer (&b->public_key, g_free);
  g_clear_pointer (&b->signature, g_free);
  g_clear_pointer (&b->name, g_free);
  g_clear_pointer (&b->cameras, g_array_unref);
  g_clear_pointer (&b->probe_url, g_free);
  g_clear_pointer (&b->probe_address, g_free);
  g_clear_pointer (&b->probe_user, g_free);
  if (b->probe_password != NULL)
    explicit_bzero (b->probe_password, strlen (b->probe_password));
  g_clear_pointer (&b->probe_password, g_free);
  g_clear_pointer (&b->probe_transport, g_free);
  memset (b, 0, sizeof *b);
}

/* Deepest nesting of arrays/objects outside strings, and where the first top-level value that
 * is an array or object ends (@end = @len if it never does). json-glib's parser recurses per
 * level, so a body of 16 KiB of '[' is refused before it is parsed; and it ignores text after
 * the root value, so "{} {}" is refused here. @nul_escape: a string holds "\u0000". */
static guint
json_shape (const char *data, gsize len, gsize *end, gboolean *nul_escape)
{
  guint depth = 0, max = 0;
  gboolean in_string = FALSE;
  *end = len;
  *nul_escape = FALSE;
  for (gsize i = 0; i < len; i++) {
    char c = data[i];
    if (in_string) {
      if (c == '\\') {
        /* json-glib would cut the string at a \u0000, hiding what follows. */
        if (len - i >= 6 && memcmp (data + i + 1, "u0000", 5) == 0)
          *nul_escape = TRUE;
        i++;
      }
      else if (c == '"')
        in_string = FALSE;
    } else if (c == '"') {
      in_string = TRUE;
    } else if (c == '[' || c == '{') {
      depth++;
      max = MAX (max, depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      if (--depth == 0 && *end == len)
        *end = i + 1;
    }
  }
  return max;
}

typedef struct {
  const char *name;
  gboolean required;
} Member;

static const Member *
members_of (NvrBodyKind kind)
{
  static const Member none[] = { { NULL, FALSE } };
  static const Member pair_begin[] = { { "code", TRUE }, { NULL, FALSE } };
  static const Member pair_finish[] = { { "code", TRUE }, { "nonce", TRUE },
                                        { "public_key", TRUE }, { "signature", TRUE },
                                        { NULL, FALSE } };
  static const Member login_begin[] = { { "public_key", TRUE }, { NULL, FALSE } };
  static const Member login_finish[] = { { "public_key", TRUE }, { "nonce", TRUE },
                                         { "signature", TRUE }, { NULL, FALSE } };
  static const Member camera_list[] = { { "cameras", TRUE }, { NULL, FALSE } };
  static const Member invite[] = { { "name", TRUE }, { "cameras", TRUE }, { "admin", FALSE },
                                   { "ttl_s", FALSE }, { NULL, FALSE } };
  static const Member camera_add[] = { { "name", TRUE }, { "main_url", TRUE },
                                       { "sub_url", FALSE }, { "user", FALSE },
                                       { "password", FALSE }, { "transport", FALSE },
                                       { "audio", FALSE }, { "retention_days", FALSE },
                                       { NULL, FALSE } };
  static const Member camera_edit[] = { { "name", FALSE }, { "main_url", FALSE },
                                        { "sub_url", FALSE }, { "user", FALSE },
                                        { "password", FALSE }, { "transport", FALSE },
                                        { "audio", FALSE }, { "retention_days", FALSE },
                                        { NULL, FALSE } };
  static const Member motion[] = { { "masks", FALSE }, { "zones", FALSE }, { NULL, FALSE } };
  static const Member camera_test[] = { { "main_url", TRUE }, { "user", FALSE },
                                        { "password", FALSE }, { "transport", FALSE },
                                        { NULL, FALSE } };
  static const Member onvif[] = { { "address", TRUE }, { "user", TRUE }, { "password", TRUE },
                                  { NULL, FALSE } };
  switch (kind) {
  case NVR_BODY_CAMERA_TEST: return camera_test;
  case NVR_BODY_ONVIF: return onvif;
  case NVR_BODY_PAIR_BEGIN: return pair_begin;
  case NVR_BODY_PAIR_FINISH: return pair_finish;
  case NVR_BODY_LOGIN_BEGIN: return login_begin;
  case NVR_BODY_LOGIN_FINISH: return login_finish;
  case NVR_BODY_CAMERA_LIST: return camera_list;
  case NVR_BODY_INVITE: return invite;
  case NVR_BODY_CAMERA_ADD: return camera_add;
  case NVR_BODY_CAMERA_EDIT: return camera_edit;
  case NVR_BODY_MOTION: return motion;
  case NVR_BODY_EMPTY_OR_NONE:
  case NVR_BODY_EMPTY_OBJECT: case NVR_BODY_NONE: default: return none;
  }
}

static guint
bad (char **reason, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static guint
bad (char **reason, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  *reason = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  return 400;
}

/* A string member: 1..@max bytes of UTF-8, no control characters. */
static guint
get_string (JsonObject *o, const char *name, gsize max, char **out, char **reason)
{
  JsonNode *n = json_object_get_member (o, name);
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return bad (reason, "'%s' must be a string", name);
  const char *s = json_node_get_string (n);
  gsize len = strlen (s);
  if (len == 0 || len > max)
    return bad (reason, "'%s' must be 1 to %" G_GSIZE_FORMAT " bytes", name, max);
  /* json-glib passes a lone surrogate escape ("\ud83d?") through as invalid UTF-8. */
  if (!g_utf8_validate (s, (gssize) len, NULL))
    return bad (reason, "'%s' must be valid UTF-8", name);
  for (const char *p = s; *p; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      return bad (reason, "'%s' must not contain control characters", name);
  *out = g_strdup (s);
  return 0;
}

static guint
get_ids (JsonObject *o, const char *name, GArray **out, char **reason)
{
  JsonNode *n = json_object_get_member (o, name);
  if (!JSON_NODE_HOLDS_ARRAY (n))
    return bad (reason, "'%s' must be an array of camera ids", name);
  JsonArray *a = json_node_get_array (n);
  guint len = json_array_get_length (a);
  if (len > NVR_HTTP_LIST_MAX)
    return bad (reason, "'%s' has more than %d ids", name, NVR_HTTP_LIST_MAX);
  g_autoptr (GArray) ids = g_array_sized_new (FALSE, FALSE, sizeof (gint64), len);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_int64_hash, g_int64_equal);
  for (guint i = 0; i < len; i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_INT64)
      return bad (reason, "'%s' must hold integer ids", name);
    gint64 id = json_node_get_int (e);
    if (id <= 0)
      return bad (reason, "'%s' must hold positive ids", name);
    g_array_append_val (ids, id);
    if (!g_hash_table_add (seen, &g_array_index (ids, gint64, i)))
      return bad (reason, "'%s' holds id %" G_GINT64_FORMAT " twice", name, id);
  }
  *out = g_steal_pointer (&ids);
  return 0;
}

/* A member that may be a string or null: *out NULL for null. */
static guint
get_string_or_null (JsonObject *o, const char *name, gsize max, char **out, char **reason)
{
  if (JSON_NODE_HOLDS_NULL (json_object_get_member (o, name))) {
    *out = NULL;
    return 0;
  }
  return get_string (o, name, max, out, reason);
}

/* The members of a camera body (docs/design/admin.md "Routes"); presence is in s->given. */
static guint
get_camera_settings (JsonObject *o, NvrCameraSettings *s, char **reason)
{
  static const struct {
    const char *name;
    guint bit;
    gsize max;
    gboolean nullable;
    gsize offset;
  } strings[] = {
    { "name", NVR_CAMSET_NAME, 32, FALSE, G_STRUCT_OFFSET (NvrCameraSettings, name) },
    { "main_url", NVR_CAMSET_MAIN_URL, NVR_HTTP_URL_MAX, FALSE,
      G_STRUCT_OFFSET (NvrCameraSettings, main_url) },
    { "sub_url", NVR_CAMSET_SUB_URL, NVR_HTTP_URL_MAX, TRUE,
      G_STRUCT_OFFSET (NvrCameraSettings, sub_url) },
    { "user", NVR_CAMSET_USER, NVR_HTTP_CREDENTIAL_MAX, TRUE,
      G_STRUCT_OFFSET (NvrCameraSettings, user) },
    { "password", NVR_CAMSET_PASSWORD, NVR_HTTP_CREDENTIAL_MAX, TRUE,
      G_STRUCT_OFFSET (NvrCameraSettings, password) },
    { "transport", NVR_CAMSET_TRANSPORT, 8, FALSE,
      G_STRUCT_OFFSET (NvrCameraSettings, transport) },
  };
  guint status;
  for (guint i = 0; i < G_N_ELEMENTS (strings); i++) {
    if (!json_object_has_member (o, strings[i].name))
      continue;
    char **field = G_STRUCT_MEMBER_P (s, strings[i].offset);
    status = strings[i].nullable
                 ? get_string_or_null (o, strings[i].name, strings[i].max, field, reason)
                 : get_string (o, strings[i].name, strings[i].max, field, reason);
    if (status)
      return status;
    s->given |= strings[i].bit;
  }
  if (s->transport != NULL && strcmp (s->transport, "auto") != 0 &&
      strcmp (s->transport, "tcp") != 0 && strcmp (s->transport, "udp") != 0)
    return bad (reason, "'transport' must be \"auto\", \"tcp\" or \"udp\"");
  if (json_object_has_member (o, "audio")) {
    JsonNode *n = json_object_get_member (o, "audio");
    if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
      return bad (reason, "'audio' must be true or false");
    s->audio = json_node_get_boolean (n);
    s->given |= NVR_CAMSET_AUDIO;
  }
  if (json_object_has_member (o, "retention_days")) {
    JsonNode *n = json_object_get_member (o, "retention_days");
    if (JSON_NODE_HOLDS_NULL (n)) {
      s->retention_days = 0;
    } else if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64 ||
               json_node_get_int (n) < 1 ||
               json_node_get_int (n) > NVR_HTTP_RETENTION_DAYS_MAX) {
      return bad (reason, "'retention_days' must be null or an integer from 1 to %d",
                  NVR_HTTP_RETENTION_DAYS_MAX);
    } else {
      s->retention_days = json_node_get_int (n);
    }
    s->given |= NVR_CAMSET_RETENTION;
  }
  return 0;
}

/* An array of polygon strings (their syntax is checked by nvr/camadmin.c); absent = NULL. */
static guint
get_polygons (JsonObject *o, const char *name, GPtrArray **out, char **reason)
{
  if (!json_object_has_member (o, name))
    return 0;
  JsonNode *n = json_object_get_member (o, name);
  if (!JSON_NODE_HOLDS_ARRAY (n))
    return bad (reason, "'%s' must be an array of strings", name);
  JsonArray *a = json_node_get_array (n);
  guint len = json_array_get_length (a);
  if (len > NVR_HTTP_POLYGONS_MAX)
    return bad (reason, "'%s' holds more than %d polygons", name, NVR_HTTP_POLYGONS_MAX);
  g_autoptr (GPtrArray) list = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < len; i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING)
      return bad (reason, "'%s' must hold strings", name);
    const char *t = json_node_get_string (e);
    gsize tlen = strlen (t);
    if (tlen == 0 || tlen > NVR_HTTP_POLYGON_TEXT_MAX || !g_utf8_validate (t, (gssize) tlen, NULL))
      return bad (reason, "'%s' strings must be 1 to %d bytes of UTF-8", name,
                  NVR_HTTP_POLYGON_TEXT_MAX);
    for (const char *p = t; *p; p++)
      if ((guchar) *p < 0x20 || *p == 0x7f)
        return bad (reason, "'%s' strings must not contain control characters", name);
    g_ptr_array_add (list, g_strdup (t));
  }
  *out = g_steal_pointer (&list);
  return 0;
}

guint
nvr_httproute_parse_body (NvrBodyKind kind, const char *data, gsize len, NvrBody *out,
                          char **reason)
{
  memset (out, 0, sizeof *out);
  *reason = NULL;
  out->kind = kind;
  if (len > NVR_HTTP_BODY_MAX) {
    *reason = g_strdup_printf ("the body is larger than %d bytes", NVR_HTTP_BODY_MAX);
    return 413;
  }
  if (kind == NVR_BODY_NONE)
    return len == 0 ? 0 : bad (reason, "this route takes no body");
  if (kind == NVR_BODY_EMPTY_OR_NONE && len == 0)
    return 0;
  if (len == 0 || data == NULL)
    return bad (reason, "the body must be a JSON object");
  if (memchr (data, '\0', len) != NULL || !g_utf8_validate (data, (gssize) len, NULL))
    return bad (reason, "the body must be UTF-8 JSON");
  gsize end;
  gboolean nul_escape;
  if (json_shape (data, len, &end, &nul_escape) > NVR_HTTP_JSON_MAX_DEPTH)
    return bad (reason, "the body is nested too deeply");
  if (nul_escape)
    return bad (reason, "strings must not contain control characters");
  while (end < len && (data[end] == ' ' || data[end] == '\t' || data[end] == '\r' ||
                       data[end] == '\n'))
    end++;
  if (end != len)
    return bad (reason, "the body is not valid JSON (text after the object)");

  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, data, (gssize) len, NULL))
    return bad (reason, "the body is not valid JSON");
  JsonNode *root = json_parser_get_root (parser);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    return bad (reason, "the body must be a JSON object");
  JsonObject *o = json_node_get_object (root);

  const Member *members = members_of (kind);
  g_autoptr (GList) names = json_object_get_members (o);
  for (GList *l = names; l != NULL; l = l->next) {
    gboolean known = FALSE;
    for (const Member *m = members; m->name != NULL; m++)
      known = known || strcmp (m->name, l->data) == 0;
    if (!known) {
      g_autofree char *shown = g_utf8_make_valid (l->data, MIN (strlen (l->data), 32));
      return bad (reason, "unknown member '%s'", shown);
    }
  }
  for (const Member *m = members; m->name != NULL; m++)
    if (m->required && !json_object_has_member (o, m->name))
      return bad (reason, "'%s' is required", m->name);

  g_auto (NvrBody) b = { .kind = kind };
  guint status = 0;
  switch (kind) {
  case NVR_BODY_PAIR_FINISH:
    if ((status = get_string (o, "nonce", 128, &b.nonce, reason)) ||
        (status = get_string (o, "public_key", 128, &b.public_key, reason)) ||
        (status = get_string (o, "signature", 128, &b.signature, reason)))
      return status;
    G_GNUC_FALLTHROUGH;
  case NVR_BODY_PAIR_BEGIN:
    if ((status = get_string (o, "code", 32, &b.code, reason)))
      return status;
    break;
  case NVR_BODY_LOGIN_FINISH:
    if ((status = get_string (o, "nonce", 128, &b.nonce, reason)) ||
        (status = get_string (o, "signature", 128, &b.signature, reason)))
      return status;
    G_GNUC_FALLTHROUGH;
  case NVR_BODY_LOGIN_BEGIN:
    if ((status = get_string (o, "public_key", 128, &b.public_key, reason)))
      return status;
    break;
  case NVR_BODY_INVITE:
    if ((status = get_string (o, "name", NVR_HTTP_NAME_MAX, &b.name, reason)))
      return status;
    if (json_object_has_member (o, "admin")) {
      JsonNode *n = json_object_get_member (o, "admin");
      if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
        return bad (reason, "'admin' must be true or false");
      b.admin = json_node_get_boolean (n);
    }
    if (json_object_has_member (o, "ttl_s")) {
      JsonNode *n = json_object_get_member (o, "ttl_s");
      if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64 ||
          json_node_get_int (n) < 0 || json_node_get_int (n) > NVR_AUTH_INVITE_TTL_MAX_S)
        return bad (reason, "'ttl_s' must be an integer from 0 (default) to %d",
                    NVR_AUTH_INVITE_TTL_MAX_S);
      b.ttl_s = json_node_get_int (n);
    }
    G_GNUC_FALLTHROUGH;
  case NVR_BODY_CAMERA_LIST:
    if ((status = get_ids (o, "cameras", &b.cameras, reason)))
      return status;
    break;
  case NVR_BODY_CAMERA_TEST:
    if ((status = get_string (o, "main_url", 1024, &b.probe_url, reason)))
      return status;
    if (json_object_has_member (o, "user") &&
        (status = get_string (o, "user", 128, &b.probe_user, reason)))
      return status;
    if (json_object_has_member (o, "password") &&
        (status = get_string (o, "password", 128, &b.probe_password, reason)))
      return status;
    if (b.probe_password != NULL && b.probe_user == NULL)
      return bad (reason, "'password' needs 'user'");
    if (json_object_has_member (o, "transport")) {
      if ((status = get_string (o, "transport", 8, &b.probe_transport, reason)))
        return status;
      if (strcmp (b.probe_transport, "auto") != 0 && strcmp (b.probe_transport, "tcp") != 0 &&
          strcmp (b.probe_transport, "udp") != 0)
        return bad (reason, "'transport' must be auto, tcp or udp");
    }
    break;
  case NVR_BODY_ONVIF:
    if ((status = get_string (o, "address", 1024, &b.probe_address, reason)) ||
        (status = get_string (o, "user", 128, &b.probe_user, reason)) ||
        (status = get_string (o, "password", 128, &b.probe_password, reason)))
      return status;
    break;
  case NVR_BODY_CAMERA_ADD:
  case NVR_BODY_CAMERA_EDIT:
    if ((status = get_camera_settings (o, &b.camera, reason)))
      return status;
    if (kind == NVR_BODY_CAMERA_EDIT && b.camera.given == 0)
      return bad (reason, "nothing to change");
    break;
  case NVR_BODY_MOTION:
    if ((status = get_polygons (o, "masks", &b.masks, reason)) ||
        (status = get_polygons (o, "zones", &b.zones, reason)))
      return status;
    break;
  case NVR_BODY_EMPTY_OR_NONE:
  case NVR_BODY_EMPTY_OBJECT:
  case NVR_BODY_NONE:
  default:
    break;
  }
  *out = b;
  memset (&b, 0, sizeof b);
  return 0;
}
