/* Unit tests for the web API's pure core (nvr/httproute.c): the route table's policies, path
 * matching with hostile paths, the from_us/to_us query, the mutation decision table, cookies,
 * and the JSON body parsers. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "httproute.h"

/* ---- the table ---- */

static void
test_table (void)
{
  const NvrRoute *t = nvr_httproute_table ();
  guint camera_routes = 0;
  for (guint i = 0; i < NVR_ROUTE_COUNT; i++) {
    const NvrRoute *r = &t[i];
    g_assert_cmpint (r->id, ==, i);
    if (r->policy == NVR_POLICY_NONE)
      g_error ("route %s %s has no policy", r->method, r->pattern);
    /* A pattern that names {cam} is a camera route and nothing else is. */
    gboolean names_cam = strstr (r->pattern, "{cam}") != NULL;
    g_assert_cmpint (names_cam, ==, r->policy == NVR_POLICY_CAMERA);
    camera_routes += names_cam;
    /* The object kind follows from the placeholder. */
    NvrObjectKind want = strstr (r->pattern, "{seg}") ? NVR_OBJECT_SEGMENT
                         : strstr (r->pattern, "{ev}") ? NVR_OBJECT_EVENT : NVR_OBJECT_NONE;
    if (r->kind != want)
      g_error ("route %s has object kind %d, its pattern says %d", r->pattern, r->kind, want);
    /* GET takes no body, mutations always take one. */
    g_assert_cmpint (strcmp (r->method, "GET") == 0, ==, r->body == NVR_BODY_NONE);
    /* {dev} routes are admin. */
    if (strstr (r->pattern, "{dev}"))
      g_assert_cmpint (r->policy, ==, NVR_POLICY_ADMIN);
    /* Only the four pairing/login messages are public. */
    gboolean public = g_str_has_prefix (r->pattern, "pair/") ||
                      g_str_has_prefix (r->pattern, "login/");
    g_assert_cmpint (public, ==, r->policy == NVR_POLICY_PUBLIC);
    /* Unique method + pattern. */
    for (guint j = 0; j < i; j++)
      g_assert_false (strcmp (t[j].pattern, r->pattern) == 0 &&
                      strcmp (t[j].method, r->method) == 0);
  }
  g_assert_cmpuint (camera_routes, ==, 11);

  /* The JSON dump lists every route with its policy. */
  g_autofree char *json = nvr_httproute_table_json ();
  g_autoptr (JsonParser) p = json_parser_new ();
  g_assert_true (json_parser_load_from_data (p, json, -1, NULL));
  JsonObject *root = json_node_get_object (json_parser_get_root (p));
  g_assert_cmpstr (json_object_get_string_member (root, "prefix"), ==, "/api/v1/");
  JsonArray *a = json_object_get_array_member (root, "routes");
  g_assert_cmpuint (json_array_get_length (a), ==, NVR_ROUTE_COUNT);
  JsonObject *media = json_array_get_object_element (a, NVR_ROUTE_SEGMENT_MEDIA);
  g_assert_cmpstr (json_object_get_string_member (media, "path"), ==,
                   "/api/v1/cameras/{cam}/segments/{seg}/media");
  g_assert_cmpstr (json_object_get_string_member (media, "policy"), ==, "camera");
  g_assert_cmpstr (json_object_get_string_member (media, "object"), ==, "segment");
  for (guint i = 0; i < NVR_ROUTE_COUNT; i++)
    g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (a, i),
                                                    "policy"), !=, "none");
}

/* ---- matching ---- */

typedef struct {
  const char *method;
  const char *path;
  guint status;           /* 0 = matched */
  NvrRouteId route;
  gint64 cam, obj, dev;
} MatchCase;

static const MatchCase match_cases[] = {
  { "POST", "/api/v1/pair/begin", 0, NVR_ROUTE_PAIR_BEGIN, 0, 0, 0 },
  { "POST", "/api/v1/pair/finish", 0, NVR_ROUTE_PAIR_FINISH, 0, 0, 0 },
  { "POST", "/api/v1/login/begin", 0, NVR_ROUTE_LOGIN_BEGIN, 0, 0, 0 },
  { "POST", "/api/v1/login/finish", 0, NVR_ROUTE_LOGIN_FINISH, 0, 0, 0 },
  { "POST", "/api/v1/logout", 0, NVR_ROUTE_LOGOUT, 0, 0, 0 },
  { "GET", "/api/v1/me", 0, NVR_ROUTE_ME, 0, 0, 0 },
  { "GET", "/api/v1/box", 0, NVR_ROUTE_BOX, 0, 0, 0 },
  { "GET", "/api/v1/cameras", 0, NVR_ROUTE_CAMERAS, 0, 0, 0 },
  { "GET", "/api/v1/cameras/7", 0, NVR_ROUTE_CAMERA, 7, 0, 0 },
  { "GET", "/api/v1/cameras/0", 0, NVR_ROUTE_CAMERA, 0, 0, 0 },
  { "GET", "/api/v1/cameras/12/timeline", 0, NVR_ROUTE_TIMELINE, 12, 0, 0 },
  { "GET", "/api/v1/cameras/12/segments", 0, NVR_ROUTE_SEGMENTS, 12, 0, 0 },
  { "GET", "/api/v1/cameras/3/segments/99/media", 0, NVR_ROUTE_SEGMENT_MEDIA, 3, 99, 0 },
  { "GET", "/api/v1/cameras/3/snapshot.jpg", 0, NVR_ROUTE_SNAPSHOT, 3, 0, 0 },
  { "GET", "/api/v1/cameras/3/events", 0, NVR_ROUTE_EVENTS, 3, 0, 0 },
  { "GET", "/api/v1/cameras/3/events/5/thumbnail.jpg", 0, NVR_ROUTE_EVENT_THUMBNAIL, 3, 5, 0 },
  { "GET", "/api/v1/cameras/3/live", 0, NVR_ROUTE_LIVE, 3, 0, 0 },
  { "GET", "/api/v1/cameras/3/export.mp4", 0, NVR_ROUTE_EXPORT_MP4, 3, 0, 0 },
  { "GET", "/api/v1/cameras/3/export.sig", 0, NVR_ROUTE_EXPORT_SIG, 3, 0, 0 },
  { "GET", "/api/v1/cameras/3/export.mp4.sig", 404, 0, 0, 0, 0 },
  { "POST", "/api/v1/cameras/3/export.mp4", 405, 0, 0, 0, 0 },
  { "GET", "/api/v1/devices", 0, NVR_ROUTE_DEVICES, 0, 0, 0 },
  { "POST", "/api/v1/devices/4/revoke", 0, NVR_ROUTE_DEVICE_REVOKE, 0, 0, 4 },
  { "PUT", "/api/v1/devices/4/cameras", 0, NVR_ROUTE_DEVICE_CAMERAS, 0, 0, 4 },
  { "POST", "/api/v1/invites", 0, NVR_ROUTE_INVITES, 0, 0, 0 },
  { "GET", "/api/v1/cameras/3/playlist.m3u8", 0, NVR_ROUTE_PLAYLIST, 3, 0, 0 },
  { "POST", "/api/v1/cameras/3/playlist.m3u8", 405, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/3/playlist.m3u", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/999999999999999999", 0, NVR_ROUTE_CAMERA, 999999999999999999, 0, 0 },
  { "POST", "/api/v1/settings/cameras/test", 0, NVR_ROUTE_CAMERA_TEST, 0, 0, 0 },
  { "GET", "/api/v1/settings/cameras/test", 405, 0, 0, 0, 0 },
  { "POST", "/api/v1/settings/onvif/profiles", 0, NVR_ROUTE_ONVIF_PROFILES, 0, 0, 0 },
  { "POST", "/api/v1/settings/onvif/scan", 0, NVR_ROUTE_ONVIF_SCAN, 0, 0, 0 },
  { "POST", "/api/v1/settings/onvif/scan/", 404, 0, 0, 0, 0 },
  /* method */
  { "GET", "/api/v1/pair/begin", 405, 0, 0, 0, 0 },
  { "POST", "/api/v1/cameras/1", 405, 0, 0, 0, 0 },
  { "DELETE", "/api/v1/devices/4/cameras", 405, 0, 0, 0, 0 },
  { "HEAD", "/api/v1/me", 405, 0, 0, 0, 0 },
  { "get", "/api/v1/me", 405, 0, 0, 0, 0 },
  /* ids */
  { "GET", "/api/v1/cameras/-1", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/+1", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/01", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/00", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/1e3", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/0x10", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/1.0", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/ 1", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/1 ", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/1234567890123456789", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/99999999999999999999999", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/{cam}", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/%31", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/1%00", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/１", 404, 0, 0, 0, 0 },          /* fullwidth digit */
  /* structure */
  { "GET", "/api/v1/cameras/1/", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras//1", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1//cameras/1", 404, 0, 0, 0, 0 },
  { "GET", "//api/v1/cameras/1", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/1/../2", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/2/segments/../../1/segments/5/media", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/./1", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/./me", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/../v1/me", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/1/segments/2/media/", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/1/segments/2/media/x", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/1/segments/2/mediax", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/1/segments/2/media;x", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/1/snapshot.jpg.bak", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/1/snapshot", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras/1/events/2/thumbnail.jpgx", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/Cameras", 404, 0, 0, 0, 0 },
  { "GET", "/API/v1/cameras", 404, 0, 0, 0, 0 },
  { "GET", "/api/v2/cameras", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/me/", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/me%2f", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras%2f1", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/cameras\\1", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/me?x", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/me#x", 404, 0, 0, 0, 0 },
  { "GET", "", 404, 0, 0, 0, 0 },
  { "GET", "/", 404, 0, 0, 0, 0 },
  { "GET", "api/v1/me", 404, 0, 0, 0, 0 },
  { "GET", "/api/v1/me\n", 404, 0, 0, 0, 0 },
};

static void
test_match (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (match_cases); i++) {
    const MatchCase *c = &match_cases[i];
    NvrRouteMatch m;
    guint status = nvr_httproute_match (c->method, c->path, &m);
    if (status != c->status)
      g_error ("%s '%s': got %u, want %u", c->method, c->path, status, c->status);
    if (status != 0) {
      g_assert_null (m.route);
      continue;
    }
    g_assert_cmpint (m.route->id, ==, c->route);
    g_assert_cmpint (m.camera_id, ==, c->cam);
    g_assert_cmpint (m.object_id, ==, c->obj);
    g_assert_cmpint (m.device_id, ==, c->dev);
  }
  /* Over-long paths never match. */
  g_autoptr (GString) s = g_string_new ("/api/v1/cameras/1");
  while (s->len <= NVR_HTTP_PATH_MAX)
    g_string_append (s, "/x");
  NvrRouteMatch m;
  g_assert_cmpuint (nvr_httproute_match ("GET", s->str, &m), ==, 404);
  g_assert_cmpuint (nvr_httproute_match (NULL, "/api/v1/me", &m), ==, 404);
}

/* ---- query ---- */

typedef struct {
  const char *query;
  gint64 max;
  guint status;
  gint64 from, to;
} RangeCase;

static const RangeCase range_cases[] = {
  { "from_us=1&to_us=2", 0, 0, 1, 2 },
  { "to_us=2000&from_us=0", 0, 0, 0, 2000 },
  { "from_us=1700000000000000&to_us=1700000060000000", 0, 0, 1700000000000000, 1700000060000000 },
  { "from_us=0&to_us=100", 100, 0, 0, 100 },
  { "from_us=0&to_us=101", 100, 400, 0, 0 },
  { "from_us=2&to_us=2", 0, 400, 0, 0 },
  { "from_us=3&to_us=2", 0, 400, 0, 0 },
  { NULL, 0, 400, 0, 0 },
  { "", 0, 400, 0, 0 },
  { "from_us=1", 0, 400, 0, 0 },
  { "to_us=1", 0, 400, 0, 0 },
  { "from_us=1&to_us=2&", 0, 400, 0, 0 },
  { "&from_us=1&to_us=2", 0, 400, 0, 0 },
  { "from_us=1&&to_us=2", 0, 400, 0, 0 },
  { "from_us=1&to_us=2&from_us=0", 0, 400, 0, 0 },
  { "from_us=1&to_us=2&x=1", 0, 400, 0, 0 },
  { "from_us=-1&to_us=2", 0, 400, 0, 0 },
  { "from_us=+1&to_us=2", 0, 400, 0, 0 },
  { "from_us=01&to_us=2", 0, 400, 0, 0 },
  { "from_us=1&to_us=2x", 0, 400, 0, 0 },
  { "from_us=1&to_us=", 0, 400, 0, 0 },
  { "from_us&to_us=2", 0, 400, 0, 0 },
  { "from_us=%31&to_us=2", 0, 400, 0, 0 },
  { "from%5Fus=1&to_us=2", 0, 400, 0, 0 },
  { "from_us=1&to_us=1234567890123456789", 0, 400, 0, 0 },
  { "FROM_US=1&to_us=2", 0, 400, 0, 0 },
  { "from_us=1;to_us=2", 0, 400, 0, 0 },
  { "from_us==1&to_us=2", 0, 400, 0, 0 },
};

static void
test_range (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (range_cases); i++) {
    const RangeCase *c = &range_cases[i];
    gint64 from = -1, to = -1;
    const char *reason = NULL;
    guint status = nvr_httproute_parse_range (c->query, c->max, &from, &to, &reason);
    if (status != c->status)
      g_error ("'%s': got %u, want %u", c->query, status, c->status);
    if (status == 0) {
      g_assert_cmpint (from, ==, c->from);
      g_assert_cmpint (to, ==, c->to);
      g_assert_null (reason);
    } else {
      g_assert_nonnull (reason);
    }
  }
}

/* ---- mutation checks ---- */

#define ORIGIN "https://127.0.0.1:8443"

typedef struct {
  const char *method, *content_type, *origin, *site;
  guint status;
} MutationCase;

static const MutationCase mutation_cases[] = {
  { "GET", NULL, NULL, NULL, 0 },
  { "GET", "text/plain", "https://evil.example", "cross-site", 0 },
  { "POST", "application/json", ORIGIN, "same-origin", 0 },
  { "PUT", "application/json", ORIGIN, "same-origin", 0 },
  { "DELETE", "application/json", ORIGIN, "same-origin", 0 },
  { "POST", "application/json; charset=utf-8", ORIGIN, "same-origin", 0 },
  { "POST", "Application/JSON", ORIGIN, "same-origin", 0 },
  { "POST", "application/json;charset=UTF-8", ORIGIN, "same-origin", 0 },
  /* Origin */
  { "POST", "application/json", NULL, "same-origin", 403 },
  { "POST", "application/json", "", "same-origin", 403 },
  { "POST", "application/json", "null", "same-origin", 403 },
  { "POST", "application/json", "https://evil.example", "same-origin", 403 },
  { "POST", "application/json", "http://127.0.0.1:8443", "same-origin", 403 },
  { "POST", "application/json", "https://127.0.0.1:8444", "same-origin", 403 },
  { "POST", "application/json", "https://127.0.0.1", "same-origin", 403 },
  { "POST", "application/json", ORIGIN "/", "same-origin", 403 },
  { "POST", "application/json", "HTTPS://127.0.0.1:8443", "same-origin", 403 },
  { "POST", "application/json", ORIGIN ".evil.example", "same-origin", 403 },
  /* Sec-Fetch-Site */
  { "POST", "application/json", ORIGIN, NULL, 403 },
  { "POST", "application/json", ORIGIN, "same-site", 403 },
  { "POST", "application/json", ORIGIN, "cross-site", 403 },
  { "POST", "application/json", ORIGIN, "none", 403 },
  { "POST", "application/json", ORIGIN, "Same-Origin", 403 },
  /* Content-Type */
  { "POST", NULL, ORIGIN, "same-origin", 415 },
  { "POST", "", ORIGIN, "same-origin", 415 },
  { "POST", "text/plain", ORIGIN, "same-origin", 415 },
  { "POST", "application/x-www-form-urlencoded", ORIGIN, "same-origin", 415 },
  { "POST", "multipart/form-data; boundary=x", ORIGIN, "same-origin", 415 },
  { "POST", "application/jsonx", ORIGIN, "same-origin", 415 },
  { "POST", "application/json-patch+json", ORIGIN, "same-origin", 415 },
  { "POST", "text/plain; application/json", ORIGIN, "same-origin", 415 },
  /* CSRF checks come before the content type. */
  { "POST", "text/plain", "https://evil.example", "cross-site", 403 },
  { "PUT", "text/plain", ORIGIN, "cross-site", 403 },
  { NULL, "application/json", ORIGIN, "same-origin", 0 },
  { NULL, "application/json", NULL, "same-origin", 403 },
};

static void
test_mutation (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (mutation_cases); i++) {
    const MutationCase *c = &mutation_cases[i];
    const char *reason = NULL;
    guint status = nvr_httproute_check_mutation (c->method, c->content_type, c->origin,
                                                 c->site, ORIGIN, &reason);
    if (status != c->status)
      g_error ("case %" G_GSIZE_FORMAT " %s ct='%s' origin='%s' site='%s': got %u, want %u",
               i, c->method, c->content_type, c->origin, c->site, status, c->status);
    g_assert_cmpint (reason != NULL, ==, status != 0);
  }
  /* No configured origin: every mutation is refused. */
  const char *reason;
  g_assert_cmpuint (nvr_httproute_check_mutation ("POST", "application/json", ORIGIN,
                                                  "same-origin", NULL, &reason), ==, 403);
}

/* ---- cookies ---- */

/* The client for rate limits is the entry lighttpd appended: the last one, never the client's. */
static void
test_client (void)
{
  static const struct { const char *xff; const char *client; } cases[] = {
    { NULL, "local" },
    { "192.168.1.20", "192.168.1.20" },
    { "6.6.6.6, 192.168.1.20", "192.168.1.20" },          /* a forged first entry is ignored */
    { "6.6.6.6,192.168.1.20", "192.168.1.20" },
    { "192.168.1.20, 6.6.6.6", "6.6.6.6" },
    { " 10.0.0.1 \t", "10.0.0.1" },
    { "FE80::0001", "fe80::1" },                          /* one address, one spelling */
    { "::ffff:10.0.0.1", "::ffff:10.0.0.1" },
    { "", "invalid" },
    { "1.2.3.4, ", "invalid" },
    { "1.2.3.4, example.org", "invalid" },                 /* never a name lookup */
    { "1.2.3.4, 10.0.0.1:443", "invalid" },
    { "1.2.3.4, 999.1.1.1", "invalid" },
    { "1.2.3.4, 0000:0000:0000:0000:0000:0000:0000:0000:0001", "invalid" },   /* too long */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *got = nvr_httproute_client (cases[i].xff);
    g_assert_cmpstr (got, ==, cases[i].client);
  }
}

static void
test_cookie (void)
{
  static const struct { const char *header; const char *value; } cases[] = {
    { "__Host-hearth=abc", "abc" },
    { "a=1; __Host-hearth=abc; b=2", "abc" },
    { "a=1;__Host-hearth=abc  ", "abc" },
    { "__Host-hearth=", NULL },
    { "__Host-hearth", NULL },
    { "hearth=abc", NULL },
    { "__Host-hearthx=abc", NULL },
    { "x__Host-hearth=abc", NULL },
    { "__host-hearth=abc", NULL },
    { "__Host-hearth=a; __Host-hearth=b", NULL },
    { "", NULL },
    { ";;;", NULL },
    { "a=__Host-hearth=x", NULL },
    { "__Host-hearth=a=b", "a=b" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *v = nvr_httproute_cookie (cases[i].header, "__Host-hearth");
    if (g_strcmp0 (v, cases[i].value) != 0)
      g_error ("cookie '%s': got '%s', want '%s'", cases[i].header, v, cases[i].value);
  }
  g_assert_null (nvr_httproute_cookie (NULL, "__Host-hearth"));
}

/* ---- administration (docs/design/admin.md) ---- */

static void
test_admin (void)
{
  /* Routes: {id} is the camera to change, not an ACL-checked {cam}. */
  NvrRouteMatch m;
  g_assert_cmpuint (nvr_httproute_match ("GET", "/api/v1/settings/cameras", &m), ==, 0);
  g_assert_cmpint (m.route->id, ==, NVR_ROUTE_SETTINGS_CAMERAS);
  g_assert_cmpint (m.route->policy, ==, NVR_POLICY_ADMIN);
  g_assert_cmpuint (nvr_httproute_match ("POST", "/api/v1/settings/cameras", &m), ==, 0);
  g_assert_cmpint (m.route->id, ==, NVR_ROUTE_SETTINGS_CAMERA_ADD);
  g_assert_cmpuint (nvr_httproute_match ("PUT", "/api/v1/settings/cameras/12", &m), ==, 0);
  g_assert_cmpint (m.route->id, ==, NVR_ROUTE_SETTINGS_CAMERA_EDIT);
  g_assert_cmpint (m.object_id, ==, 12);
  g_assert_cmpint (m.camera_id, ==, 0);
  g_assert_cmpuint (nvr_httproute_match ("DELETE", "/api/v1/settings/cameras/3", &m), ==, 0);
  g_assert_cmpint (m.route->id, ==, NVR_ROUTE_SETTINGS_CAMERA_DELETE);
  g_assert_cmpint (m.object_id, ==, 3);
  g_assert_cmpuint (nvr_httproute_match ("PUT", "/api/v1/settings/cameras/3/motion", &m), ==, 0);
  g_assert_cmpint (m.route->id, ==, NVR_ROUTE_SETTINGS_CAMERA_MOTION);
  g_assert_cmpuint (nvr_httproute_match ("GET", "/api/v1/audit", &m), ==, 0);
  g_assert_cmpint (m.route->id, ==, NVR_ROUTE_AUDIT);
  g_assert_cmpuint (nvr_httproute_match ("PATCH", "/api/v1/settings/cameras/3", &m), ==, 405);
  g_assert_cmpuint (nvr_httproute_match ("GET", "/api/v1/settings/cameras/3", &m), ==, 405);
  g_assert_cmpuint (nvr_httproute_match ("DELETE", "/api/v1/settings/cameras", &m), ==, 405);
  g_assert_cmpuint (nvr_httproute_match ("DELETE", "/api/v1/settings/cameras/03", &m), ==, 404);
  g_assert_cmpuint (nvr_httproute_match ("DELETE", "/api/v1/settings/cameras/-3", &m), ==, 404);
  g_assert_cmpuint (nvr_httproute_match ("PUT", "/api/v1/settings/cameras/3/motion/", &m), ==,
                    404);
  /* DELETE is a mutation like any other. */
  const char *reason;
  g_assert_cmpuint (nvr_httproute_check_mutation ("DELETE", NULL, "https://o", "same-origin",
                                                  "https://o", &reason), ==, 415);
  g_assert_cmpuint (nvr_httproute_check_mutation ("DELETE", "application/json", "https://x",
                                                  "same-origin", "https://o", &reason), ==, 403);

  /* The audit query. */
  static const struct { const char *q; guint status; gint64 before; guint limit; } qs[] = {
    { NULL, 0, 0, 100 }, { "", 0, 0, 100 }, { "limit=5", 0, 0, 5 },
    { "before_id=42", 0, 42, 100 }, { "limit=500&before_id=7", 0, 7, 500 },
    { "limit=501", 400, 0, 0 }, { "limit=0", 400, 0, 0 }, { "before_id=0", 400, 0, 0 },
    { "before_id=-1", 400, 0, 0 }, { "limit=5&limit=6", 400, 0, 0 }, { "from_us=1", 400, 0, 0 },
    { "limit", 400, 0, 0 }, { "limit=", 400, 0, 0 }, { "limit=07", 400, 0, 0 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (qs); i++) {
    gint64 before = -1;
    guint limit = 0;
    guint st = nvr_httproute_parse_audit_query (qs[i].q, 100, 500, &before, &limit, &reason);
    if (st != qs[i].status)
      g_error ("audit query '%s': got %u, want %u", qs[i].q, st, qs[i].status);
    if (st == 0) {
      g_assert_cmpint (before, ==, qs[i].before);
      g_assert_cmpuint (limit, ==, qs[i].limit);
    } else {
      g_assert_nonnull (reason);
    }
  }

  /* Camera bodies arrive typed, with presence: null clears, absent keeps. */
  {
    g_auto (NvrBody) b = { 0 };
    g_autofree char *why = NULL;
    const char *s = "{\"name\":\"porch\",\"main_url\":\"rtsp://10.0.0.5/main\","
                    "\"sub_url\":\"rtsp://10.0.0.5/sub\",\"user\":\"admin\",\"password\":\"s3cret\","
                    "\"transport\":\"udp\",\"audio\":false,\"retention_days\":14}";
    g_assert_cmpuint (nvr_httproute_parse_body (NVR_BODY_CAMERA_ADD, s, strlen (s), &b, &why),
                      ==, 0);
    const NvrCameraSettings *c = &b.camera;
    g_assert_cmpuint (c->given, ==, 0xff);
    g_assert_cmpstr (c->name, ==, "porch");
    g_assert_cmpstr (c->main_url, ==, "rtsp://10.0.0.5/main");
    g_assert_cmpstr (c->sub_url, ==, "rtsp://10.0.0.5/sub");
    g_assert_cmpstr (c->user, ==, "admin");
    g_assert_cmpstr (c->password, ==, "s3cret");
    g_assert_cmpstr (c->transport, ==, "udp");
    g_assert_false (c->audio);
    g_assert_cmpint (c->retention_days, ==, 14);
  }
  {
    g_auto (NvrBody) b = { 0 };
    g_autofree char *why = NULL;
    const char *s = "{\"password\":null,\"retention_days\":null,\"audio\":true}";
    g_assert_cmpuint (nvr_httproute_parse_body (NVR_BODY_CAMERA_EDIT, s, strlen (s), &b, &why),
                      ==, 0);
    g_assert_cmpuint (b.camera.given, ==,
                      NVR_CAMSET_PASSWORD | NVR_CAMSET_RETENTION | NVR_CAMSET_AUDIO);
    g_assert_null (b.camera.password);
    g_assert_cmpint (b.camera.retention_days, ==, 0);
    g_assert_true (b.camera.audio);
  }
  {
    g_auto (NvrBody) b = { 0 };
    g_autofree char *why = NULL;
    const char *s = "{\"zones\":[\"door=0,0 0.5,0 0.5,1\",\"path=0.5,0 1,0 1,1\"]}";
    g_assert_cmpuint (nvr_httproute_parse_body (NVR_BODY_MOTION, s, strlen (s), &b, &why), ==,
                      0);
    g_assert_null (b.masks);
    g_assert_cmpuint (b.zones->len, ==, 2);
    g_assert_cmpstr (b.zones->pdata[1], ==, "path=0.5,0 1,0 1,1");
  }
}

/* ---- bodies ---- */

typedef struct {
  NvrBodyKind kind;
  const char *body;
  guint status;
  const char *reason_part;
} BodyCase;

static const BodyCase body_cases[] = {
  { NVR_BODY_EMPTY_OBJECT, "{}", 0, NULL },
  { NVR_BODY_EMPTY_OBJECT, " { } ", 0, NULL },
  { NVR_BODY_EMPTY_OBJECT, "", 400, "JSON object" },
  { NVR_BODY_EMPTY_OBJECT, "[]", 400, "JSON object" },
  { NVR_BODY_EMPTY_OBJECT, "null", 400, "JSON object" },
  { NVR_BODY_EMPTY_OBJECT, "\"x\"", 400, "JSON object" },
  { NVR_BODY_EMPTY_OBJECT, "{", 400, "not valid JSON" },
  { NVR_BODY_EMPTY_OBJECT, "{} {}", 400, "not valid JSON" },
  { NVR_BODY_EMPTY_OBJECT, "{\"x\":1}", 400, "unknown member 'x'" },
  { NVR_BODY_NONE, "", 0, NULL },
  { NVR_BODY_NONE, "{}", 400, "no body" },
  { NVR_BODY_PAIR_BEGIN, "{\"code\":\"ABCD-EFGH-JKMN\"}", 0, NULL },
  { NVR_BODY_PAIR_BEGIN, "{}", 400, "'code' is required" },
  { NVR_BODY_PAIR_BEGIN, "{\"code\":1}", 400, "'code' must be a string" },
  { NVR_BODY_PAIR_BEGIN, "{\"code\":null}", 400, "'code' must be a string" },
  { NVR_BODY_PAIR_BEGIN, "{\"code\":[\"x\"]}", 400, "'code' must be a string" },
  { NVR_BODY_PAIR_BEGIN, "{\"code\":\"\"}", 400, "1 to 32 bytes" },
  { NVR_BODY_PAIR_BEGIN, "{\"code\":\"0123456789012345678901234567890123\"}", 400, "1 to 32" },
  { NVR_BODY_PAIR_BEGIN, "{\"code\":\"a\\u0000b\"}", 400, "control characters" },
  { NVR_BODY_PAIR_BEGIN, "{\"code\":\"a\\nb\"}", 400, "control characters" },
  { NVR_BODY_PAIR_BEGIN, "{\"code\":\"x\",\"admin\":true}", 400, "unknown member 'admin'" },
  { NVR_BODY_PAIR_FINISH,
    "{\"code\":\"c\",\"nonce\":\"n\",\"public_key\":\"k\",\"signature\":\"s\"}",
    0, NULL },
  { NVR_BODY_PAIR_FINISH, "{\"code\":\"c\",\"nonce\":\"n\",\"public_key\":\"k\"}", 400,
    "'signature' is required" },
  { NVR_BODY_LOGIN_BEGIN, "{\"public_key\":\"k\"}", 0, NULL },
  { NVR_BODY_LOGIN_FINISH, "{\"public_key\":\"k\",\"nonce\":\"n\",\"signature\":\"s\"}", 0, NULL },
  { NVR_BODY_LOGIN_FINISH, "{\"public_key\":\"k\",\"nonce\":\"n\",\"signature\":false}", 400,
    "'signature' must be a string" },
  { NVR_BODY_CAMERA_LIST, "{\"cameras\":[]}", 0, NULL },
  { NVR_BODY_CAMERA_LIST, "{\"cameras\":[1,2,3]}", 0, NULL },
  { NVR_BODY_CAMERA_LIST, "{\"cameras\":[1,1]}", 400, "twice" },
  { NVR_BODY_CAMERA_LIST, "{\"cameras\":[0]}", 400, "positive" },
  { NVR_BODY_CAMERA_LIST, "{\"cameras\":[-3]}", 400, "positive" },
  { NVR_BODY_CAMERA_LIST, "{\"cameras\":[1.0]}", 400, "integer" },
  { NVR_BODY_CAMERA_LIST, "{\"cameras\":[\"1\"]}", 400, "integer" },
  { NVR_BODY_CAMERA_LIST, "{\"cameras\":[[1]]}", 400, "integer" },
  { NVR_BODY_CAMERA_LIST, "{\"cameras\":1}", 400, "array" },
  { NVR_BODY_CAMERA_LIST, "{\"cameras\":null}", 400, "array" },
  { NVR_BODY_INVITE, "{\"name\":\"Kitchen tablet\",\"cameras\":[2]}", 0, NULL },
  { NVR_BODY_INVITE, "{\"name\":\"x\",\"cameras\":[],\"admin\":true,\"ttl_s\":3600}", 0, NULL },
  { NVR_BODY_INVITE, "{\"name\":\"x\",\"cameras\":[],\"admin\":1}", 400, "true or false" },
  { NVR_BODY_INVITE, "{\"name\":\"x\",\"cameras\":[],\"ttl_s\":86401}", 400, "ttl_s" },
  { NVR_BODY_INVITE, "{\"name\":\"x\",\"cameras\":[],\"ttl_s\":-1}", 400, "ttl_s" },
  { NVR_BODY_INVITE, "{\"name\":\"x\",\"cameras\":[],\"ttl_s\":1.5}", 400, "ttl_s" },
  { NVR_BODY_INVITE, "{\"cameras\":[]}", 400, "'name' is required" },
  { NVR_BODY_INVITE, "{\"name\":\"x\"}", 400, "'cameras' is required" },
  { NVR_BODY_INVITE,
    "{\"name\":\"01234567890123456789012345678901234567890123456789012345678901234\","
    "\"cameras\":[]}", 400, "1 to 64" },
  { NVR_BODY_INVITE, "{\"name\":\"\\u007f\",\"cameras\":[]}", 400, "control" },
  { NVR_BODY_INVITE, "{\"name\":\"caf\\u00e9\",\"cameras\":[]}", 0, NULL },
  /* Nesting */
  { NVR_BODY_EMPTY_OBJECT, "{\"a\":[[[[[[[[[[]]]]]]]]]]}", 400, "nested too deeply" },
  { NVR_BODY_EMPTY_OBJECT, "{\"a\":\"[[[[[[[[[[[[[[[[[[[\"}", 400, "unknown member 'a'" },
  { NVR_BODY_EMPTY_OBJECT, "{\"a\\\"\":\"[[[[[[[[[[[[[[[[[[[\"}", 400, "unknown member" },
  /* Camera settings (docs/design/admin.md) */
  { NVR_BODY_CAMERA_ADD, "{\"name\":\"porch\",\"main_url\":\"rtsp://h/x\"}", 0, NULL },
  { NVR_BODY_CAMERA_ADD, "{\"name\":\"porch\"}", 400, "'main_url' is required" },
  { NVR_BODY_CAMERA_ADD, "{\"main_url\":\"rtsp://h/x\"}", 400, "'name' is required" },
  { NVR_BODY_CAMERA_ADD, "{\"name\":null,\"main_url\":\"rtsp://h/x\"}", 400,
    "'name' must be a string" },
  { NVR_BODY_CAMERA_ADD, "{\"name\":\"p\",\"main_url\":\"rtsp://h/x\",\"transport\":\"http\"}",
    400, "'transport'" },
  { NVR_BODY_CAMERA_ADD, "{\"name\":\"p\",\"main_url\":\"rtsp://h/x\",\"audio\":\"yes\"}", 400,
    "'audio' must be true or false" },
  { NVR_BODY_CAMERA_ADD, "{\"name\":\"p\",\"main_url\":\"rtsp://h/x\",\"retention_days\":0}", 400,
    "retention_days" },
  { NVR_BODY_CAMERA_ADD, "{\"name\":\"p\",\"main_url\":\"rtsp://h/x\",\"retention_days\":3651}",
    400, "retention_days" },
  { NVR_BODY_CAMERA_ADD, "{\"name\":\"p\",\"main_url\":\"rtsp://h/x\",\"retention_days\":2.5}",
    400, "retention_days" },
  { NVR_BODY_CAMERA_ADD, "{\"name\":\"p\",\"main_url\":\"rtsp://h/x\",\"password\":\"a\\nb\"}",
    400, "control characters" },
  { NVR_BODY_CAMERA_ADD, "{\"name\":\"p\",\"main_url\":\"rtsp://h/x\",\"id\":3}", 400,
    "unknown member 'id'" },
  { NVR_BODY_CAMERA_EDIT, "{}", 400, "nothing to change" },
  { NVR_BODY_CAMERA_EDIT, "{\"password\":null}", 0, NULL },
  { NVR_BODY_CAMERA_EDIT, "{\"sub_url\":null,\"user\":null,\"retention_days\":null}", 0, NULL },
  { NVR_BODY_CAMERA_EDIT, "{\"main_url\":null}", 400, "'main_url' must be a string" },
  { NVR_BODY_CAMERA_EDIT, "{\"name\":\"012345678901234567890123456789012\"}", 400, "1 to 32" },
  { NVR_BODY_MOTION, "{}", 0, NULL },
  { NVR_BODY_MOTION, "{\"masks\":[],\"zones\":[\"door=0,0 1,0 1,1\"]}", 0, NULL },
  { NVR_BODY_MOTION, "{\"masks\":\"0,0 1,0 1,1\"}", 400, "array of strings" },
  { NVR_BODY_MOTION, "{\"masks\":[1]}", 400, "must hold strings" },
  { NVR_BODY_MOTION, "{\"masks\":[\"\"]}", 400, "1 to 1024 bytes" },
  { NVR_BODY_MOTION, "{\"zones\":[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
    "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}", 400, "more than 16" },
  { NVR_BODY_MOTION, "{\"masks\":[],\"clear\":true}", 400, "unknown member 'clear'" },
  { NVR_BODY_EMPTY_OR_NONE, "", 0, NULL },
  { NVR_BODY_EMPTY_OR_NONE, "{}", 0, NULL },
  { NVR_BODY_EMPTY_OR_NONE, "{\"force\":true}", 400, "unknown member" },
  { NVR_BODY_EMPTY_OR_NONE, "[]", 400, "JSON object" },
  /* Encoding */
  { NVR_BODY_PAIR_BEGIN, "{\"code\":\"\xff\"}", 400, "UTF-8" },
  { NVR_BODY_INVITE, "{\"name\":\"\\ud83d?\",\"cameras\":[]}", 400, "valid UTF-8" },
  { NVR_BODY_INVITE, "{\"name\":\"\\ud83d\\ude00\",\"cameras\":[]}", 0, NULL },
  /* Camera tests and ONVIF (docs/design/admin.md "Testing and finding cameras") */
  { NVR_BODY_CAMERA_TEST, "{\"main_url\":\"rtsp://10.0.0.1/s\"}", 0, NULL },
  { NVR_BODY_CAMERA_TEST, "{\"main_url\":\"rtsp://10.0.0.1/s\",\"user\":\"u\",\"password\":\"p\","
    "\"transport\":\"udp\"}", 0, NULL },
  { NVR_BODY_CAMERA_TEST, "{\"main_url\":\"rtsp://x/\",\"password\":\"p\"}", 400, "needs 'user'" },
  { NVR_BODY_CAMERA_TEST, "{\"main_url\":\"rtsp://x/\",\"transport\":\"http\"}", 400,
    "auto, tcp or udp" },
  { NVR_BODY_CAMERA_TEST, "{\"user\":\"u\"}", 400, "'main_url' is required" },
  { NVR_BODY_CAMERA_TEST, "{\"main_url\":\"\"}", 400, "1 to 1024" },
  { NVR_BODY_ONVIF, "{\"address\":\"10.0.0.1\",\"user\":\"u\",\"password\":\"p\"}", 0, NULL },
  { NVR_BODY_ONVIF, "{\"address\":\"10.0.0.1\",\"user\":\"u\"}", 400, "'password' is required" },
  { NVR_BODY_ONVIF, "{\"address\":\"10.0.0.1\",\"user\":\"u\",\"password\":1}", 400, "string" },
};

static void
test_body (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (body_cases); i++) {
    const BodyCase *c = &body_cases[i];
    g_auto (NvrBody) b = { 0 };
    g_autofree char *reason = NULL;
    guint status = nvr_httproute_parse_body (c->kind, c->body, strlen (c->body), &b, &reason);
    if (status != c->status)
      g_error ("body %" G_GSIZE_FORMAT " '%s': got %u (%s), want %u", i, c->body, status,
               reason, c->status);
    if (status == 0) {
      g_assert_null (reason);
      g_assert_cmpint (b.kind, ==, c->kind);
    } else if (strstr (reason, c->reason_part) == NULL) {
      g_error ("body %" G_GSIZE_FORMAT " '%s': reason '%s' lacks '%s'", i, c->body, reason,
               c->reason_part);
    }
  }

  /* Values arrive typed. */
  {
    g_auto (NvrBody) b = { 0 };
    g_autofree char *reason = NULL;
    const char *s = "{\"name\":\"Hall\",\"cameras\":[5,3],\"admin\":true,\"ttl_s\":60}";
    g_assert_cmpuint (nvr_httproute_parse_body (NVR_BODY_INVITE, s, strlen (s), &b, &reason),
                      ==, 0);
    g_assert_cmpstr (b.name, ==, "Hall");
    g_assert_cmpuint (b.cameras->len, ==, 2);
    g_assert_cmpint (g_array_index (b.cameras, gint64, 0), ==, 5);
    g_assert_cmpint (g_array_index (b.cameras, gint64, 1), ==, 3);
    g_assert_true (b.admin);
    g_assert_cmpint (b.ttl_s, ==, 60);
  }
  {
    g_auto (NvrBody) b = { 0 };
    g_autofree char *reason = NULL;
    const char *s = "{\"signature\":\"S\",\"public_key\":\"K\",\"nonce\":\"N\",\"code\":\"C\"}";
    g_assert_cmpuint (nvr_httproute_parse_body (NVR_BODY_PAIR_FINISH, s, strlen (s), &b,
                                                &reason), ==, 0);
    g_assert_cmpstr (b.code, ==, "C");
    g_assert_cmpstr (b.nonce, ==, "N");
    g_assert_cmpstr (b.public_key, ==, "K");
    g_assert_cmpstr (b.signature, ==, "S");
  }

  /* Size: exactly the maximum parses; one byte more is 413. A body of 16 KiB of '[' is
   * refused without recursing. */
  g_autofree char *big = g_malloc (NVR_HTTP_BODY_MAX + 1);
  memset (big, ' ', NVR_HTTP_BODY_MAX + 1);
  big[0] = '{';
  big[NVR_HTTP_BODY_MAX - 1] = '}';
  {
    g_auto (NvrBody) b = { 0 };
    g_autofree char *reason = NULL;
    g_assert_cmpuint (nvr_httproute_parse_body (NVR_BODY_EMPTY_OBJECT, big, NVR_HTTP_BODY_MAX,
                                                &b, &reason), ==, 0);
  }
  {
    g_auto (NvrBody) b = { 0 };
    g_autofree char *reason = NULL;
    g_assert_cmpuint (nvr_httproute_parse_body (NVR_BODY_EMPTY_OBJECT, big,
                                                NVR_HTTP_BODY_MAX + 1, &b, &reason), ==, 413);
  }
  memset (big, '[', NVR_HTTP_BODY_MAX);
  {
    g_auto (NvrBody) b = { 0 };
    g_autofree char *reason = NULL;
    g_assert_cmpuint (nvr_httproute_parse_body (NVR_BODY_EMPTY_OBJECT, big, NVR_HTTP_BODY_MAX,
                                                &b, &reason), ==, 400);
  }
  /* A list over the maximum. */
  g_autoptr (GString) list = g_string_new ("{\"cameras\":[");
  for (guint i = 1; i <= NVR_HTTP_LIST_MAX + 1; i++)
    g_string_append_printf (list, "%s%u", i > 1 ? "," : "", i);
  g_string_append (list, "]}");
  {
    g_auto (NvrBody) b = { 0 };
    g_autofree char *reason = NULL;
    g_assert_cmpuint (nvr_httproute_parse_body (NVR_BODY_CAMERA_LIST, list->str, list->len, &b,
                                                &reason), ==, 400);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/httproute/table", test_table);
  g_test_add_func ("/httproute/match", test_match);
  g_test_add_func ("/httproute/range", test_range);
  g_test_add_func ("/httproute/mutation", test_mutation);
  g_test_add_func ("/httproute/cookie", test_cookie);
  g_test_add_func ("/httproute/client", test_client);
  g_test_add_func ("/httproute/body", test_body);
  g_test_add_func ("/httproute/admin", test_admin);
  return g_test_run ();
}
