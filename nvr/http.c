/* http — the daemon's web API (docs/design/auth.md): libsoup 3 SoupServer on the [web] unix
 * socket, one handler for every path. Main loop only; nothing here blocks or reads a media file,
 * except exports, whose files are read on GIO worker threads (one job per export at a time).
 * Invariants: every request is matched against the route table (nvr/httproute.c); every route
 * whose policy is not public goes through nvr_catalog_authorize + nvr_auth_decide before its
 * handler runs; media answers carry no bytes, only X-Sendfile naming a file under the real
 * storage root that the catalog tied to the authorized camera; exports (the one media answer
 * the daemon streams) read only files the catalog lists for the authorized camera. */
#define G_LOG_DOMAIN "nvr-http"

#include "http.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit.h"
#include "auth.h"
#include "camadmin.h"
#include "export.h"
#include "health.h"
#include "httproute.h"
#include "paths.h"
#include "playlist.h"
#include "timeline.h"

#define LIST_LIMIT 1000                  /* segments or events in one answer */
#define LIVE_RECHECK_MS 1000             /* live clients are re-authorized this often */
#define MAX_CONNECTIONS 256              /* open connections (lighttpd is the only peer) */
/* Kept for short requests: live streams (the only answers that hold a connection after the
 * handler returns) may use at most MAX_CONNECTIONS - SHORT_RESERVE. */
#define SHORT_RESERVE 32
/* Seconds a refused live viewer is told to wait (503 Retry-After). */
#define LIVE_RETRY_AFTER_S "10"
/* A live stream that ended before its first byte: worth trying again soon. */
#define LIVE_ENDED_RETRY_AFTER_S "2"
/* Exports: bytes read from disk at a time, and at most this many waiting in libsoup. */
#define EXPORT_CHUNK (256 * 1024)
#define EXPORT_QUEUE_MAX (2 * EXPORT_CHUNK)
/* Exports (and signatures) in progress: each reads a whole range from disk. */
#define EXPORTS_PER_DEVICE 2
#define EXPORTS_TOTAL 8

struct _NvrHttp {
  const NvrConfig *config;
  NvrCatalog *catalog;
  NvrSupervisor *sup;
  NvrLiveHub *live;
  NvrPairing *pairing;
  const NvrSigner *signer;               /* export-signing key; NULL until set */
  NvrCamAdmin *camadmin;                 /* admin changes + audit; NULL until set (then 503) */
  NvrHealth *health;                     /* GET health; NULL until set (then 503) */
  char *real_root;                       /* realpath() of [storage] root: X-Sendfile prefix */
  char *socket_path;
  SoupServer *server;
  GSocketService *service;               /* accepts on the unix socket, hands over to server */
  GSocketAddress *fake_addr;             /* 127.0.0.1:0, what libsoup is told the ends are */
  GHashTable *connections;               /* GIOStream* open (weak refs) */
  gboolean refused_logged;
  GHashTable *live_clients;              /* LiveClient* (owned; freed on "finished") */
  GHashTable *lingering;                 /* Linger* of refused connections (own themselves) */
  GHashTable *exports;                   /* ExportClient* in progress (own themselves) */
  guint recheck_source;
  guint ticks;                           /* of the recheck timer: expired sessions every 60 */
  NvrProber *prober;                     /* camera tests and ONVIF; NULL until set (503) */
};

typedef struct {
  NvrHttp *http;
  SoupServerMessage *msg;                /* a reference while the client lives */
  guint64 id;                            /* hub client id; 0 once ended or detached */
  gint64 camera_id, device_id;
  guint8 token_hash[NVR_AUTH_HASH_BYTES];
  gsize queued;                          /* appended but not yet written */
  gboolean started;                      /* headers released (first chunk) */
  gulong wrote_handler, finished_handler;
} LiveClient;

/* ---- responses ---- */

static void
common_headers (SoupServerMessage *msg)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  soup_message_headers_replace (h, "Cache-Control", "no-store");
  soup_message_headers_replace (h, "X-Content-Type-Options", "nosniff");
}

static void
respond_json (SoupServerMessage *msg, guint status, JsonNode *node)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, node);
  gsize len = 0;
  g_autofree char *text = json_generator_to_data (gen, &len);
  common_headers (msg);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, text, len);
}

static void
respond_error (SoupServerMessage *msg, guint status, const char *reason)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, reason);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  respond_json (msg, status, root);
}

static const char *
status_reason (guint status)
{
  switch (status) {
  case 401: return "no valid session";
  case 403: return "refused";
  case 404: return "not found";
  case 405: return "method not allowed";
  case 413: return "request body too large";
  case 429: return "too many requests";
  case 503: return "unavailable";
  default: return "internal error";
  }
}

static void
respond_empty_object (SoupServerMessage *msg)
{
  g_autoptr (JsonNode) root = json_node_init_object (json_node_alloc (), json_object_new ());
  respond_json (msg, 200, root);
}

/* A media answer: no bytes, lighttpd sends the file (docs/design/auth.md "Front"). */
static void
respond_sendfile (NvrHttp *h, SoupServerMessage *msg, const char *relpath,
                  const char *content_type)
{
  g_autofree char *abs = g_build_filename (h->real_root, relpath, NULL);
  common_headers (msg);
  SoupMessageHeaders *rh = soup_server_message_get_response_headers (msg);
  soup_message_headers_replace (rh, "X-Sendfile", abs);
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, content_type, SOUP_MEMORY_STATIC, "", 0);
}

static void
set_camera_header (SoupServerMessage *msg, gint64 camera_id)
{
  char id[24];
  g_snprintf (id, sizeof id, "%" G_GINT64_FORMAT, camera_id);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "X-Hearth-Camera", id);
}

static void
set_session_cookie (NvrHttp *h, SoupServerMessage *msg, const char *token)
{
  g_autofree char *cookie =
    token ? g_strdup_printf (NVR_AUTH_COOKIE_NAME "=%s; Path=/; Secure; HttpOnly; "
                             "SameSite=Strict; Max-Age=%" G_GINT64_FORMAT, token,
                             h->config->web_session_max_s)
          : g_strdup (NVR_AUTH_COOKIE_NAME "=; Path=/; Secure; HttpOnly; SameSite=Strict; "
                      "Max-Age=0");
  soup_message_headers_append (soup_server_message_get_response_headers (msg), "Set-Cookie",
                               cookie);
}

/* ---- JSON documents ---- */

static void
add_int_or_null (JsonBuilder *b, const char *name, gint64 v)
{
  json_builder_set_member_name (b, name);
  if (v != 0)
    json_builder_add_int_value (b, v);
  else
    json_builder_add_null_value (b);
}

static const NvrCameraRow *
find_camera (GPtrArray *cams, gint64 id)
{
  for (guint i = 0; cams != NULL && i < cams->len; i++)
    if (((NvrCameraRow *) cams->pdata[i])->id == id)
      return cams->pdata[i];
  return NULL;
}

/* {"id","name","admin","cameras":[{"id","name"}]}: the cameras still active, by id. */
static void
add_device (JsonBuilder *b, const NvrDeviceRow *dev, GPtrArray *cams)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_int_value (b, dev->id);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, dev->name);
  json_builder_set_member_name (b, "admin");
  json_builder_add_boolean_value (b, dev->is_admin);
  json_builder_set_member_name (b, "cameras");
  json_builder_begin_array (b);
  for (guint i = 0; dev->camera_ids != NULL && i < dev->camera_ids->len; i++) {
    const NvrCameraRow *cam = find_camera (cams, g_array_index (dev->camera_ids, gint64, i));
    if (cam == NULL)
      continue;
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "id");
    json_builder_add_int_value (b, cam->id);
    json_builder_set_member_name (b, "name");
    json_builder_add_string_value (b, cam->name);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
}

/* {"device": {...}} for pair/finish, login/finish and me. */
static gboolean
respond_device (NvrHttp *h, SoupServerMessage *msg, gint64 device_id, GError **error)
{
  g_autoptr (NvrDeviceRow) dev = nvr_catalog_device_get (h->catalog, device_id, error);
  if (dev == NULL)
    return FALSE;
  g_autoptr (GPtrArray) cams = nvr_catalog_camera_list (h->catalog, error);
  if (cams == NULL)
    return FALSE;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "device");
  add_device (b, dev, cams);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  respond_json (msg, 200, root);
  return TRUE;
}

/* {"id","name","state","paused_by","paused_us","codec","width","height"} of an active camera;
 * paused_by ("mqtt" or "cli") and paused_us are null unless its recording was switched off. */
static void
add_camera (JsonBuilder *b, const NvrCameraRow *cam, GPtrArray *status)
{
  const NvrCameraStatus *st = NULL;
  for (guint i = 0; status != NULL && i < status->len && st == NULL; i++)
    if (((NvrCameraStatus *) status->pdata[i])->camera_id == cam->id)
      st = status->pdata[i];
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_int_value (b, cam->id);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, cam->name);
  json_builder_set_member_name (b, "state");
  json_builder_add_string_value (b, st && st->state ? st->state : "unknown");
  gboolean paused = st != NULL && st->paused_by != NULL && *st->paused_by != '\0';
  json_builder_set_member_name (b, "paused_by");
  if (paused)
    json_builder_add_string_value (b, st->paused_by);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "paused_us");
  if (paused)
    json_builder_add_int_value (b, st->paused_us);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "codec");
  if (st && st->codec && *st->codec)
    json_builder_add_string_value (b, st->codec);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "width");
  json_builder_add_int_value (b, st ? st->width : 0);
  json_builder_set_member_name (b, "height");
  json_builder_add_int_value (b, st ? st->height : 0);
  json_builder_end_object (b);
}

/* ---- route handlers: each runs after the route's policy allowed the request ---- */

typedef struct {
  NvrHttp *h;
  SoupServerMessage *msg;
  const NvrRouteMatch *m;
  const NvrAccess *access;          /* zeroed for public routes */
  const NvrBody *body;
  gboolean have_token;
  guint8 token_hash[NVR_AUTH_HASH_BYTES];
  const char *client;               /* nvr_httproute_client: the address lighttpd forwarded */
  const char *origin;               /* the configured origin equal to Origin, or NULL */
  gint64 now_us;
} Request;

static void
on_pairing_result (Request *r, guint status, gint64 device_id, const char *token,
                   const char *reason)
{
  if (status != 200) {
    respond_error (r->msg, status, reason ? reason : status_reason (status));
    return;
  }
  g_autoptr (GError) error = NULL;
  if (!respond_device (r->h, r->msg, device_id, &error)) {
    g_warning ("Failed to read device %" G_GINT64_FORMAT ": %s", device_id, error->message);
    respond_error (r->msg, 500, "internal error");
    return;
  }
  set_session_cookie (r->h, r->msg, token);
}

static void
route_pair_begin (Request *r)
{
  g_autofree char *nonce = NULL, *reason = NULL;
  g_autoptr (NvrInviteRow) inv = NULL;
  guint status = nvr_pairing_begin (r->h->pairing, r->client, r->body->code, r->now_us, &nonce,
                                    &inv, &reason);
  if (status != 200) {
    respond_error (r->msg, status, reason ? reason : status_reason (status));
    return;
  }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "nonce");
  json_builder_add_string_value (b, nonce);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, inv->name);
  json_builder_set_member_name (b, "cameras");
  json_builder_begin_array (b);
  for (guint i = 0; inv->camera_names != NULL && i < inv->camera_names->len; i++)
    json_builder_add_string_value (b, inv->camera_names->pdata[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "admin");
  json_builder_add_boolean_value (b, inv->is_admin);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  respond_json (r->msg, 200, root);
}

static void
route_pair_finish (Request *r)
{
  g_autofree char *token = NULL, *reason = NULL;
  gint64 device_id = 0;
  guint status = nvr_pairing_finish (r->h->pairing, r->client, r->origin, r->body->code,
                                     r->body->nonce,
                                     r->body->public_key, r->body->signature, r->now_us,
                                     &device_id, &token, &reason);
  if (status == 200 && r->h->camadmin != NULL) {
    /* The new device is its own actor: it paired with an invite an admin made. */
    g_autoptr (NvrDeviceRow) dev = nvr_catalog_device_get (r->h->catalog, device_id, NULL);
    if (dev != NULL) {
      NvrActor self = { dev->id, dev->name };
      nvr_camadmin_audit_device (r->h->camadmin, &self, "device.pair", dev, NULL, 0, r->now_us);
    }
  }
  on_pairing_result (r, status, device_id, token, reason);
}

static void
route_login_begin (Request *r)
{
  g_autofree char *nonce = NULL, *reason = NULL;
  guint status = nvr_pairing_login_begin (r->h->pairing, r->client, r->body->public_key,
                                          r->now_us, &nonce, &reason);
  if (status != 200) {
    respond_error (r->msg, status, reason ? reason : status_reason (status));
    return;
  }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "nonce");
  json_builder_add_string_value (b, nonce);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  respond_json (r->msg, 200, root);
}

static void
route_login_finish (Request *r)
{
  g_autofree char *token = NULL, *reason = NULL;
  gint64 device_id = 0;
  guint status = nvr_pairing_login_finish (r->h->pairing, r->client, r->origin,
                                           r->body->public_key,
                                           r->body->nonce, r->body->signature, r->now_us,
                                           &device_id, &token, &reason);
  on_pairing_result (r, status, device_id, token, reason);
}

static gboolean
route_logout (Request *r, GError **error)
{
  if (!nvr_catalog_session_delete (r->h->catalog, r->token_hash, error))
    return FALSE;
  respond_empty_object (r->msg);
  set_session_cookie (r->h, r->msg, NULL);
  return TRUE;
}

static gboolean
route_me (Request *r, GError **error)
{
  return respond_device (r->h, r->msg, r->access->device_id, error);
}

/* {"fingerprint", "public_key"}: what a page shows so that a user can check an export's key. */
static void
route_box (Request *r)
{
  if (r->h->signer == NULL) {
    respond_error (r->msg, 503, "no signing key");
    return;
  }
  const guint8 *pk = nvr_signer_public_key (r->h->signer);
  char fp[NVR_SIGNING_FINGERPRINT_LEN + 1];
  nvr_signing_fingerprint (pk, fp);
  g_autofree char *hex = nvr_signing_key_hex (pk);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "fingerprint");
  json_builder_add_string_value (b, fp);
  json_builder_set_member_name (b, "public_key");
  json_builder_add_string_value (b, hex);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  respond_json (r->msg, 200, root);
}

/* cameras (the device's ACL) or cameras/{cam} (@one > 0). */
static gboolean
route_cameras (Request *r, gint64 one, GError **error)
{
  g_autoptr (NvrDeviceRow) dev = nvr_catalog_device_get (r->h->catalog, r->access->device_id,
                                                         error);
  if (dev == NULL)
    return FALSE;
  g_autoptr (GPtrArray) cams = nvr_catalog_camera_list (r->h->catalog, error);
  if (cams == NULL)
    return FALSE;
  g_autoptr (GPtrArray) status = nvr_supervisor_status (r->h->sup);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  if (one > 0) {
    const NvrCameraRow *cam = find_camera (cams, one);
    if (cam == NULL) {             /* removed between the authorization and now */
      respond_error (r->msg, 404, "not found");
      return TRUE;
    }
    add_camera (b, cam, status);
  } else {
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "cameras");
    json_builder_begin_array (b);
    for (guint i = 0; i < dev->camera_ids->len; i++) {
      const NvrCameraRow *cam = find_camera (cams, g_array_index (dev->camera_ids, gint64, i));
      if (cam != NULL)
        add_camera (b, cam, status);
    }
    json_builder_end_array (b);
    json_builder_end_object (b);
  }
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  respond_json (r->msg, 200, root);
  return TRUE;
}

static gboolean
range_of (Request *r, gint64 max_range_us, gint64 *from_us, gint64 *to_us)
{
  const char *reason = NULL;
  GUri *uri = soup_server_message_get_uri (r->msg);
  if (nvr_httproute_parse_range (g_uri_get_query (uri), max_range_us, from_us, to_us,
                                 &reason) != 0) {
    respond_error (r->msg, 400, reason);
    return FALSE;
  }
  return TRUE;
}

/* An HLS playlist over the camera's fragment index (docs/design/playback.md "Playlist"): the
 * daemon answers this small text; the player then fetches byte ranges of segments/{seg}/media,
 * each authorized again and sent by lighttpd. */
static gboolean
route_playlist (Request *r, GError **error)
{
  gint64 from_us, to_us;
  if (!range_of (r, NVR_PLAYLIST_MAX_RANGE_US, &from_us, &to_us))
    return TRUE;
  g_autoptr (GArray) files = NULL, frags = NULL;
  if (!nvr_catalog_playlist (r->h->catalog, r->access->camera_id, from_us, to_us, &files, &frags,
                             error))
    return FALSE;
  gboolean live = FALSE;
  char *text = nvr_playlist_build ((const NvrPlaylistFile *) (void *) files->data, files->len,
                                   (const NvrFragment *) (void *) frags->data, frags->len,
                                   from_us, to_us, &live);
  common_headers (r->msg);
  soup_server_message_set_status (r->msg, 200, NULL);
  soup_server_message_set_response (r->msg, "application/vnd.apple.mpegurl", SOUP_MEMORY_TAKE,
                                    text, strlen (text));
  return TRUE;
}

static gboolean
route_timeline (Request *r, GError **error)
{
  gint64 from_us, to_us;
  if (!range_of (r, NVR_HTTP_TIMELINE_MAX_RANGE_US, &from_us, &to_us))
    return TRUE;
  g_autoptr (GArray) segs = nvr_catalog_timeline (r->h->catalog, r->access->camera_id, from_us,
                                                  to_us, error);
  if (segs == NULL)
    return FALSE;
  g_autoptr (GArray) spans = nvr_timeline_spans ((NvrTimelineSegment *) (void *) segs->data,
                                                 segs->len, from_us, to_us, G_USEC_PER_SEC);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  for (int recorded = 1; recorded >= 0; recorded--) {
    json_builder_set_member_name (b, recorded ? "spans" : "gaps");
    json_builder_begin_array (b);
    for (guint i = 0; i < spans->len; i++) {
      const NvrTimelineSpan *sp = &g_array_index (spans, NvrTimelineSpan, i);
      if (!sp->recorded != !recorded)
        continue;
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "start_us");
      json_builder_add_int_value (b, sp->start_us);
      json_builder_set_member_name (b, "end_us");
      json_builder_add_int_value (b, sp->end_us);
      json_builder_end_object (b);
    }
    json_builder_end_array (b);
  }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  respond_json (r->msg, 200, root);
  return TRUE;
}

static gboolean
route_segments (Request *r, GError **error)
{
  gint64 from_us, to_us;
  if (!range_of (r, 0, &from_us, &to_us))
    return TRUE;
  g_autoptr (GPtrArray) rows = nvr_catalog_segments_between (r->h->catalog, r->access->camera_id,
                                                             from_us, to_us, LIST_LIMIT, error);
  if (rows == NULL)
    return FALSE;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "segments");
  json_builder_begin_array (b);
  for (guint i = 0; i < rows->len; i++) {
    const NvrSegmentRow *s = rows->pdata[i];
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "id");
    json_builder_add_int_value (b, s->id);
    json_builder_set_member_name (b, "start_us");
    json_builder_add_int_value (b, s->start_us);
    add_int_or_null (b, "end_us", s->recording ? 0 : s->end_us);
    add_int_or_null (b, "duration_us", s->recording ? 0 : s->duration_us);
    json_builder_set_member_name (b, "bytes");
    json_builder_add_int_value (b, s->bytes);
    json_builder_set_member_name (b, "recording");
    json_builder_add_boolean_value (b, s->recording);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  respond_json (r->msg, 200, root);
  return TRUE;
}

static gboolean
route_events (Request *r, GError **error)
{
  gint64 from_us, to_us;
  if (!range_of (r, 0, &from_us, &to_us))
    return TRUE;
  g_autoptr (GPtrArray) rows = nvr_catalog_events_between (r->h->catalog, r->access->camera_id,
                                                           from_us, to_us, LIST_LIMIT, error);
  if (rows == NULL)
    return FALSE;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "events");
  json_builder_begin_array (b);
  for (guint i = 0; i < rows->len; i++) {
    const NvrEventRow *e = rows->pdata[i];
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "id");
    json_builder_add_int_value (b, e->id);
    json_builder_set_member_name (b, "start_us");
    json_builder_add_int_value (b, e->start_us);
    add_int_or_null (b, "end_us", e->active ? 0 : e->end_us);
    json_builder_set_member_name (b, "zones");
    /* Stored as a JSON array of names (nvr/events.h); anything else shows as no zones. */
    g_autoptr (JsonParser) p = json_parser_new_immutable ();
    JsonNode *zones = NULL;
    if (e->zones && *e->zones && json_parser_load_from_data (p, e->zones, -1, NULL) &&
        JSON_NODE_HOLDS_ARRAY (json_parser_get_root (p)))
      zones = json_node_copy (json_parser_get_root (p));
    json_builder_add_value (b, zones ? zones : json_node_init_array (json_node_alloc (),
                                                                     json_array_new ()));
    json_builder_set_member_name (b, "peak_area");
    json_builder_add_double_value (b, e->peak_area);
    json_builder_set_member_name (b, "has_thumbnail");
    json_builder_add_boolean_value (b, e->thumbnail != NULL && *e->thumbnail);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  respond_json (r->msg, 200, root);
  return TRUE;
}

/* A segment file or event thumbnail the authorization query returned for this camera. */
static void
route_object_file (Request *r, const char *content_type)
{
  const NvrAccess *a = r->access;
  if (a->object_path == NULL || a->camera_dir == NULL ||
      !nvr_paths_is_within (a->camera_dir, a->object_path)) {
    if (a->object_path != NULL)
      g_warning ("Failed to serve object %" G_GINT64_FORMAT " of camera %" G_GINT64_FORMAT
                 ": its path is outside the camera's directory", r->m->object_id,
                 a->camera_id);
    respond_error (r->msg, 404, "not found");
    return;
  }
  respond_sendfile (r->h, r->msg, a->object_path, content_type);
}

static void
route_snapshot (Request *r)
{
  /* The worker renames each new snapshot over <camera_dir>/snapshot.jpg (nvr/worker.c). */
  g_autofree char *rel = g_build_filename (r->access->camera_dir, "snapshot.jpg", NULL);
  g_autofree char *abs = g_build_filename (r->h->real_root, rel, NULL);
  struct stat st;
  if (r->access->camera_dir == NULL || !nvr_paths_is_within (r->access->camera_dir, rel) ||
      stat (abs, &st) != 0 || !S_ISREG (st.st_mode)) {
    respond_error (r->msg, 404, "no snapshot yet");
    return;
  }
  respond_sendfile (r->h, r->msg, rel, "image/jpeg");
}

static gboolean
route_devices (Request *r, GError **error)
{
  g_autoptr (GPtrArray) devs = nvr_catalog_device_list (r->h->catalog, error);
  if (devs == NULL)
    return FALSE;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "devices");
  json_builder_begin_array (b);
  for (guint i = 0; i < devs->len; i++) {
    const NvrDeviceRow *d = devs->pdata[i];
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "id");
    json_builder_add_int_value (b, d->id);
    json_builder_set_member_name (b, "name");
    json_builder_add_string_value (b, d->name);
    json_builder_set_member_name (b, "admin");
    json_builder_add_boolean_value (b, d->is_admin);
    json_builder_set_member_name (b, "created_us");
    json_builder_add_int_value (b, d->created_us);
    add_int_or_null (b, "revoked_us", d->revoked_us);
    add_int_or_null (b, "last_seen_us", d->last_seen_us);
    json_builder_set_member_name (b, "cameras");
    json_builder_begin_array (b);
    for (guint j = 0; d->camera_ids != NULL && j < d->camera_ids->len; j++)
      json_builder_add_int_value (b, g_array_index (d->camera_ids, gint64, j));
    json_builder_end_array (b);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  respond_json (r->msg, 200, root);
  return TRUE;
}

/* Maps a catalog refusal to 404/400; FALSE for a database error (500). */
static gboolean
catalog_refusal (Request *r, GError **error)
{
  if (g_error_matches (*error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND)) {
    respond_error (r->msg, 404, "no such device");
  } else if (g_error_matches (*error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID)) {
    respond_error (r->msg, 400, (*error)->message);
  } else if (g_error_matches (*error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_LAST_ADMIN)) {
    respond_error (r->msg, 409, "the last admin cannot be revoked: pair another admin first");
  } else {
    return FALSE;
  }
  g_clear_error (error);
  return TRUE;
}

/* The requesting admin device as an audit actor; @name holds its name. */
static NvrActor
actor_of (Request *r, char **name)
{
  g_autoptr (NvrDeviceRow) dev = nvr_catalog_device_get (r->h->catalog, r->access->device_id,
                                                         NULL);
  *name = dev ? g_strdup (dev->name) : g_strdup ("");
  return (NvrActor) { r->access->device_id, *name };
}

static gboolean
route_device_revoke (Request *r, GError **error)
{
  g_autoptr (NvrDeviceRow) dev = nvr_catalog_device_get (r->h->catalog, r->m->device_id, error);
  if (dev == NULL || !nvr_catalog_device_revoke (r->h->catalog, r->m->device_id, r->now_us,
                                                   TRUE, error))
    return catalog_refusal (r, error);
  if (r->h->camadmin != NULL) {
    g_autofree char *name = NULL;
    NvrActor actor = actor_of (r, &name);
    nvr_camadmin_audit_device (r->h->camadmin, &actor, "device.revoke", dev, NULL, 0, r->now_us);
  }
  g_message ("Device %" G_GINT64_FORMAT " revoked by device %" G_GINT64_FORMAT,
             r->m->device_id, r->access->device_id);
  nvr_http_device_changed (r->h, r->m->device_id);
  respond_empty_object (r->msg);
  return TRUE;
}

static gboolean
route_device_cameras (Request *r, GError **error)
{
  g_autoptr (NvrDeviceRow) dev = nvr_catalog_device_get (r->h->catalog, r->m->device_id, error);
  if (dev == NULL)
    return catalog_refusal (r, error);
  GArray *ids = r->body->cameras;
  if (!nvr_catalog_device_set_cameras (r->h->catalog, r->m->device_id,
                                       (gint64 *) (void *) ids->data, ids->len, error))
    return catalog_refusal (r, error);
  g_message ("Device %" G_GINT64_FORMAT " now sees %u camera(s) (set by device %" G_GINT64_FORMAT
             ")", r->m->device_id, ids->len, r->access->device_id);
  if (r->h->camadmin != NULL) {
    g_autofree char *name = NULL;
    NvrActor actor = actor_of (r, &name);
    nvr_camadmin_audit_device (r->h->camadmin, &actor, "device.cameras", dev,
                               (gint64 *) (void *) ids->data, ids->len, r->now_us);
  }
  nvr_http_device_changed (r->h, r->m->device_id);
  respond_empty_object (r->msg);
  return TRUE;
}

/* ---- camera tests and ONVIF (docs/design/admin.md "Testing and finding cameras") ---- */

typedef struct {
  SoupServerMessage *msg;                /* a reference until the probe answers */
  gboolean gone;                         /* the client left: answer nobody */
  gulong finished_handler;
} ProbeClient;

static void
on_probe_client_finished (SoupServerMessage *msg, gpointer data)
{
  ProbeClient *c = data;
  c->gone = TRUE;
}

static void
on_probe_answer (JsonNode *result, gpointer data)
{
  ProbeClient *c = data;
  g_signal_handler_disconnect (c->msg, c->finished_handler);
  if (!c->gone) {
    respond_json (c->msg, 200, result);
    soup_server_message_unpause (c->msg);
  }
  g_object_unref (c->msg);
  g_free (c);
}

/* Answers 200 with the probe's result when it is done (at most NVR_PROBER_*_LIMIT_S), 429 when
 * NVR_PROBER_MAX_RUNNING probes are running. The password goes to the probe only. */
static void
route_probe (Request *r, NvrProbeKind kind)
{
  if (r->h->prober == NULL) {
    respond_error (r->msg, 503, "camera probes are not available");
    return;
  }
  const NvrBody *b = r->body;
  ProbeClient *c = g_new0 (ProbeClient, 1);
  c->msg = g_object_ref (r->msg);
  g_autoptr (GError) error = NULL;
  if (!nvr_prober_start (r->h->prober, kind,
                         kind == NVR_PROBE_TEST ? b->probe_url : b->probe_address,
                         b->probe_user, b->probe_password, b->probe_transport, on_probe_answer, c,
                         &error)) {
    g_object_unref (c->msg);
    g_free (c);
    guint status = g_error_matches (error, NVR_PROBER_ERROR, NVR_PROBER_ERROR_BUSY) ? 429
                 : g_error_matches (error, NVR_PROBER_ERROR, NVR_PROBER_ERROR_INVALID) ? 400 : 500;
    if (status == 500)
      g_warning ("Failed to start a camera probe: %s", error->message);
    respond_error (r->msg, status, status == 500 ? "internal error" : error->message);
    return;
  }
  c->finished_handler = g_signal_connect (r->msg, "finished",
                                          G_CALLBACK (on_probe_client_finished), c);
  soup_server_message_pause (r->msg);
}

static void
route_invites (Request *r)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *url = NULL;
  gint64 expires_us = 0;
  GArray *ids = r->body->cameras;
  g_autofree char *code = nvr_pairing_invite_create (r->h->pairing, r->body->name,
                                                     (gint64 *) (void *) ids->data, ids->len,
                                                     r->body->admin, r->body->ttl_s, r->now_us,
                                                     &url, &expires_us, &error);
  if (code == NULL) {
    if (error->domain == NVR_CATALOG_ERROR && error->code == NVR_CATALOG_ERROR_DB) {
      g_warning ("Failed to create an invite: %s", error->message);
      respond_error (r->msg, 500, "internal error");
    } else {
      respond_error (r->msg, 400, error->message);
    }
    return;
  }
  if (r->h->camadmin != NULL) {
    g_autofree char *name = NULL;
    NvrActor actor = actor_of (r, &name);
    nvr_camadmin_audit_invite (r->h->camadmin, &actor, r->body->name,
                               (gint64 *) (void *) ids->data, ids->len, r->body->admin,
                               expires_us, r->now_us);
  }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "code");
  json_builder_add_string_value (b, code);
  json_builder_set_member_name (b, "url");
  if (url)
    json_builder_add_string_value (b, url);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "expires_us");
  json_builder_add_int_value (b, expires_us);
  /* The pairing URL as a QR code the page shows without a script (docs/design/admin.md). */
  json_builder_set_member_name (b, "qr_svg");
  g_autoptr (GError) qr_error = NULL;
  g_autofree char *svg = url ? nvr_pairing_qr_svg (url, &qr_error) : NULL;
  if (svg)
    json_builder_add_string_value (b, svg);
  else
    json_builder_add_null_value (b);
  if (qr_error != NULL)
    g_warning ("%s", qr_error->message);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  respond_json (r->msg, 200, root);
}

/* ---- administration (docs/design/admin.md) ---- */

/* A camera answer: {"camera": {...}} with @status. */
static void
respond_camera (Request *r, guint status, const NvrCameraRow *cam)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "camera");
  json_builder_add_value (b, nvr_camadmin_camera_json (r->h->camadmin, cam));
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  respond_json (r->msg, status, root);
}

/* A refusal of camadmin as its status and message (the message never holds a secret); a
 * catalog failure is logged and answered 500 without its text. */
static void
respond_camadmin_error (Request *r, const GError *error)
{
  guint status = nvr_camadmin_http_status (error);
  if (status == 500) {
    g_warning ("Failed to change a camera: %s", error->message);
    respond_error (r->msg, 500, "internal error");
  } else {
    respond_error (r->msg, status, error->message);
  }
}

static void
route_settings_cameras (Request *r)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) cams = nvr_catalog_camera_list (r->h->catalog, &error);
  if (cams == NULL) {
    g_warning ("Failed to list cameras: %s", error->message);
    respond_error (r->msg, 500, "internal error");
    return;
  }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "cameras");
  json_builder_begin_array (b);
  for (guint i = 0; i < cams->len; i++)
    json_builder_add_value (b, nvr_camadmin_camera_json (r->h->camadmin, cams->pdata[i]));
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  respond_json (r->msg, 200, root);
}

static void
route_settings_camera_add (Request *r)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name = NULL;
  NvrActor actor = actor_of (r, &name);
  g_autoptr (NvrCameraRow) cam = nvr_camadmin_add (r->h->camadmin, &r->body->camera, &actor,
                                                   r->now_us, &error);
  if (cam == NULL) {
    respond_camadmin_error (r, error);
    return;
  }
  set_camera_header (r->msg, cam->id);
  respond_camera (r, 201, cam);
}

static void
route_settings_camera_edit (Request *r)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name = NULL;
  NvrActor actor = actor_of (r, &name);
  g_autoptr (NvrCameraRow) cam = nvr_camadmin_edit (r->h->camadmin, r->m->object_id,
                                                    &r->body->camera, &actor, r->now_us, NULL,
                                                    &error);
  if (cam == NULL) {
    respond_camadmin_error (r, error);
    return;
  }
  set_camera_header (r->msg, cam->id);
  respond_camera (r, 200, cam);
}

static void
route_settings_camera_delete (Request *r)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name = NULL;
  NvrActor actor = actor_of (r, &name);
  if (!nvr_camadmin_remove (r->h->camadmin, r->m->object_id, &actor, r->now_us, &error)) {
    respond_camadmin_error (r, error);
    return;
  }
  /* Its live viewers and exports end now (the camera left every ACL). */
  nvr_http_device_changed (r->h, 0);
  set_camera_header (r->msg, r->m->object_id);
  respond_empty_object (r->msg);
}

static void
route_settings_camera_motion (Request *r)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name = NULL;
  NvrActor actor = actor_of (r, &name);
  g_autoptr (GPtrArray) masks = NULL, zones = NULL;
  if (!nvr_camadmin_motion (r->h->camadmin, r->m->object_id, r->body->masks, r->body->zones,
                            FALSE, &actor, r->now_us, NULL, NULL, &masks, &zones, &error)) {
    respond_camadmin_error (r, error);
    return;
  }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  GPtrArray *lists[] = { masks, zones };
  const char *names[] = { "masks", "zones" };
  for (guint k = 0; k < 2; k++) {
    json_builder_set_member_name (b, names[k]);
    json_builder_begin_array (b);
    for (guint i = 0; i < lists[k]->len; i++)
      json_builder_add_string_value (b, lists[k]->pdata[i]);
    json_builder_end_array (b);
  }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  set_camera_header (r->msg, r->m->object_id);
  respond_json (r->msg, 200, root);
}

static gboolean
route_audit (Request *r, GError **error)
{
  gint64 before_id;
  guint limit;
  const char *reason;
  GUri *uri = soup_server_message_get_uri (r->msg);
  if (nvr_httproute_parse_audit_query (g_uri_get_query (uri), NVR_AUDIT_LIMIT_DEFAULT,
                                       NVR_AUDIT_LIMIT_MAX, &before_id, &limit, &reason) != 0) {
    respond_error (r->msg, 400, reason);
    return TRUE;
  }
  g_autoptr (GPtrArray) rows = nvr_catalog_audit_list (r->h->catalog, before_id, limit, error);
  if (rows == NULL)
    return FALSE;
  g_autoptr (JsonNode) root = nvr_audit_list_json (rows, limit);
  respond_json (r->msg, 200, root);
  return TRUE;
}

static gboolean
route_health (Request *r, GError **error)
{
  if (r->h->health == NULL) {
    respond_error (r->msg, 503, "no health report");
    return TRUE;
  }
  g_autoptr (JsonNode) root = nvr_health_json (r->h->health, r->now_us, error);
  if (root == NULL)
    return FALSE;
  respond_json (r->msg, 200, root);
  return TRUE;
}

/* ---- live ---- */

static void
live_client_free (LiveClient *c)
{
  g_signal_handler_disconnect (c->msg, c->wrote_handler);
  g_signal_handler_disconnect (c->msg, c->finished_handler);
  g_object_unref (c->msg);
  g_free (c);
}

static void
live_write (GBytes *chunk, gpointer data)
{
  LiveClient *c = data;
  if (c->id == 0)
    return;
  if (!c->started) {
    /* Headers go out with the first bytes, once the codec of the stream is known. */
    const char *codec = nvr_live_hub_codec (c->http->live, c->camera_id);
    if (codec != NULL)
      soup_message_headers_replace (soup_server_message_get_response_headers (c->msg),
                                    "X-Hearth-Codec", codec);
    c->started = TRUE;
  }
  soup_message_body_append_bytes (soup_server_message_get_response_body (c->msg), chunk);
  c->queued += g_bytes_get_size (chunk);
  soup_server_message_unpause (c->msg);
}

static gsize
live_queued (gpointer data)
{
  return ((LiveClient *) data)->queued;
}

static void
live_ended (gpointer data)
{
  LiveClient *c = data;
  if (c->id == 0)
    return;
  c->id = 0;
  SoupMessageBody *body = soup_server_message_get_response_body (c->msg);
  if (!c->started) {
    /* Ended before its first byte (the camera dropped while this viewer waited for it): the
     * headers have not gone out, so say so as a refusal to retry, not an empty 200 without a
     * codec, which a player cannot tell from a broken stream. */
    SoupMessageHeaders *rh = soup_server_message_get_response_headers (c->msg);
    soup_server_message_set_status (c->msg, 503, NULL);
    soup_message_headers_set_content_type (rh, "application/json", NULL);
    soup_message_headers_replace (rh, "Retry-After", LIVE_ENDED_RETRY_AFTER_S);
    static const char reason[] = "{\"error\":\"the camera's stream ended before it started\"}";
    soup_message_body_append (body, SOUP_MEMORY_STATIC, reason, sizeof reason - 1);
  }
  soup_message_body_complete (body);
  soup_server_message_unpause (c->msg);
}

static void
on_live_wrote (SoupServerMessage *msg, guint size, gpointer data)
{
  LiveClient *c = data;
  c->queued -= MIN (c->queued, (gsize) size);
}

/* The HTTP exchange is over (stream ended, the client went away, or the server is freed). */
static void
on_live_finished (SoupServerMessage *msg, gpointer data)
{
  LiveClient *c = data;
  if (c->id != 0)
    nvr_live_hub_detach (c->http->live, c->id);
  c->id = 0;
  g_hash_table_remove (c->http->live_clients, c);
  live_client_free (c);   /* the connection still holds the message until after this signal */
}

static void
route_live (Request *r)
{
  NvrHttp *h = r->h;
  static const NvrLiveSink sink = { live_write, live_queued, live_ended };
  LiveClient *c = g_new0 (LiveClient, 1);
  c->http = h;
  c->msg = g_object_ref (r->msg);
  c->camera_id = r->access->camera_id;
  c->device_id = r->access->device_id;
  memcpy (c->token_hash, r->token_hash, sizeof c->token_hash);
  NvrLiveRefusal why = NVR_LIVE_ATTACHED;
  c->id = nvr_live_hub_attach (h->live, c->camera_id, c->device_id, &sink, c, &why);
  if (c->id == 0) {
    g_object_unref (c->msg);
    g_free (c);
    respond_error (r->msg, 503, nvr_live_refusal_reason (why));
    soup_message_headers_replace (soup_server_message_get_response_headers (r->msg),
                                  "Retry-After", LIVE_RETRY_AFTER_S);
    return;
  }
  c->wrote_handler = g_signal_connect (r->msg, "wrote-body-data", G_CALLBACK (on_live_wrote), c);
  c->finished_handler = g_signal_connect (r->msg, "finished", G_CALLBACK (on_live_finished), c);
  g_hash_table_add (h->live_clients, c);

  common_headers (r->msg);
  SoupMessageHeaders *rh = soup_server_message_get_response_headers (r->msg);
  /* Chunked for HTTP/1.1 (lighttpd's mod_proxy); an HTTP/1.0 peer gets the stream until close. */
  soup_message_headers_set_encoding (rh, soup_server_message_get_http_version (r->msg) ==
                                             SOUP_HTTP_1_0 ? SOUP_ENCODING_EOF
                                                           : SOUP_ENCODING_CHUNKED);
  soup_message_headers_set_content_type (rh, "video/mp4", NULL);
  /* Sent bytes are dropped at once: the body never grows with the stream. */
  soup_message_body_set_accumulate (soup_server_message_get_response_body (r->msg), FALSE);
  soup_server_message_set_status (r->msg, 200, NULL);
  soup_server_message_pause (r->msg);
}

/* One authorization of one request; @out is filled (zeroed when there is no usable cookie). */
static gboolean
authorize (NvrHttp *h, const guint8 *token_hash, gint64 now_us, gint64 camera_id,
           NvrObjectKind kind, gint64 object_id, NvrAccess *out, GError **error)
{
  memset (out, 0, sizeof *out);
  if (token_hash == NULL)
    return TRUE;
  return nvr_catalog_authorize (h->catalog, token_hash, now_us,
                                h->config->web_session_idle_s * G_USEC_PER_SEC,
                                h->config->web_session_max_s * G_USEC_PER_SEC, camera_id, kind,
                                object_id, out, error);
}

typedef struct {
  GHashTable *denied;       /* "camera:device" strings */
} RecheckData;

static gboolean
live_still_allowed (gint64 camera_id, gint64 device_id, gpointer data)
{
  RecheckData *rd = data;
  g_autofree char *key = g_strdup_printf ("%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT, camera_id,
                                          device_id);
  return !g_hash_table_contains (rd->denied, key);
}

/* Re-authorizes every live client with its own session; a (camera, device) pair any of whose
 * clients is no longer allowed is ended through the hub. */
static void
live_recheck (NvrHttp *h)
{
  if (g_hash_table_size (h->live_clients) == 0)
    return;
  RecheckData rd = { g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL) };
  gint64 now_us = g_get_real_time ();
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, h->live_clients);
  while (g_hash_table_iter_next (&it, &key, NULL)) {
    LiveClient *c = key;
    if (c->id == 0)
      continue;
    g_auto (NvrAccess) access = { 0 };
    g_autoptr (GError) error = NULL;
    if (!authorize (h, c->token_hash, now_us, c->camera_id, NVR_OBJECT_NONE, 0, &access,
                    &error)) {
      g_warning ("Failed to re-authorize a live client: %s", error->message);
      continue;   /* a database hiccup ends no stream; the next pass decides */
    }
    if (nvr_auth_decide (NVR_POLICY_CAMERA, NVR_OBJECT_NONE, &access) != 0 ||
        access.device_id != c->device_id)
      g_hash_table_add (rd.denied, g_strdup_printf ("%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT,
                                                    c->camera_id, c->device_id));
  }
  if (g_hash_table_size (rd.denied) > 0)
    nvr_live_hub_recheck (h->live, live_still_allowed, &rd);
  g_hash_table_unref (rd.denied);
}

/* ---- export (docs/design/playback.md "Export route") ---- */

static const char *header_once (SoupMessageHeaders *hdrs, const char *name);

/* The one place an export's fragments come from: the catalog's fragment index, collected on
 * the main loop into the source (the catalog is the main loop's); on the planning thread only
 * the init is read from the file. Files without index rows (recorded before schema v8, or whose
 * index could not be stored) and the file still being recorded (its index lags the disk by the
 * store batch) are walked box by box instead. */
typedef struct {
  char *path;                            /* absolute, under the real storage root */
  gint64 wall_start_us;
  gint64 init_bytes;                     /* from the index; 0 without one */
  GArray *fragments;                     /* NvrExportFragment from the index, or NULL */
} ExportSource;

static void
export_source_free (ExportSource *s)
{
  g_free (s->path);
  g_clear_pointer (&s->fragments, g_array_unref);
  g_free (s);
}

/* Main loop: the index rows of @segment_id into @src (nothing on a failure: the walk decides). */
static void
export_source_index (NvrHttp *h, gint64 camera_id, gint64 segment_id, ExportSource *src)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) rows = NULL;
  gint64 init_bytes = 0;
  if (!nvr_catalog_segment_fragments (h->catalog, camera_id, segment_id, &init_bytes, &rows,
                                      &error)) {
    g_warning ("Failed to read the fragment index of segment %" G_GINT64_FORMAT ": %s",
               segment_id, error->message);
    return;
  }
  if (rows == NULL || rows->len == 0 || init_bytes <= 0)
    return;
  src->init_bytes = init_bytes;
  src->fragments = g_array_sized_new (FALSE, FALSE, sizeof (NvrExportFragment), rows->len);
  for (guint i = 0; i < rows->len; i++) {
    const NvrFragment *r = &g_array_index (rows, NvrFragment, i);
    NvrExportFragment f = { r->offset, r->size, r->start_us, r->duration_us, r->keyframe };
    g_array_append_val (src->fragments, f);
  }
}

static gboolean
export_source_fragments (const ExportSource *src, NvrExportFile *out, GError **error)
{
  if (src->fragments != NULL)
    return nvr_export_file_from_index (src->path, src->wall_start_us, src->init_bytes,
                                       (const NvrExportFragment *) (void *) src->fragments->data,
                                       src->fragments->len, out, error);
  return nvr_export_walk_file (src->path, src->wall_start_us, out, error);
}

typedef struct {
  NvrHttp *http;                         /* NULL once the server is gone */
  SoupServerMessage *msg;                /* a reference while the export lives */
  gboolean sig;                          /* export.sig: the signature, not the bytes */
  gint64 camera_id, device_id;
  guint8 token_hash[NVR_AUTH_HASH_BYTES];
  char *camera;
  gint64 from_us, to_us;
  GPtrArray *sources;                    /* ExportSource, for the planning thread */
  NvrExportPlan *plan;
  NvrExportReader *reader;               /* used by one thread at a time: busy says which */
  gboolean busy;                         /* a thread job (plan or read) is running */
  gboolean gone;                         /* the exchange is over: free when not busy */
  gboolean eof;
  guint64 seek_to;                       /* a Range's first byte: the first read seeks there */
  guint64 left;                          /* bytes still to send (the whole body or the Range) */
  gsize queued;                          /* appended, not yet written */
  gulong wrote_handler, finished_handler;
} ExportClient;

static void
export_client_free (ExportClient *c)
{
  if (c->msg != NULL) {
    g_signal_handler_disconnect (c->msg, c->wrote_handler);
    g_signal_handler_disconnect (c->msg, c->finished_handler);
    g_object_unref (c->msg);
  }
  g_free (c->camera);
  g_clear_pointer (&c->sources, g_ptr_array_unref);
  g_clear_pointer (&c->reader, nvr_export_reader_free);
  g_clear_pointer (&c->plan, nvr_export_plan_free);
  g_free (c);
}

/* The exchange is over for us; the client is freed now or when its thread job returns. */
static void
export_client_end (ExportClient *c)
{
  if (c->http != NULL)
    g_hash_table_remove (c->http->exports, c);
  c->http = NULL;
  c->gone = TRUE;
  if (!c->busy)
    export_client_free (c);
}

/* Ends a download in progress so that the client sees it fail: the connection is taken from
 * libsoup and closed before Content-Length bytes were sent (never a short file that looks
 * complete; lighttpd passes the cut on). */
static void
export_abort (ExportClient *c, const char *why)
{
  g_message ("Export of camera %" G_GINT64_FORMAT " for device %" G_GINT64_FORMAT
             " aborted after %" G_GUINT64_FORMAT " bytes: %s", c->camera_id, c->device_id,
             c->reader ? nvr_export_reader_position (c->reader) : 0, why);
  SoupServerMessage *msg = g_steal_pointer (&c->msg);
  g_signal_handler_disconnect (msg, c->wrote_handler);
  g_signal_handler_disconnect (msg, c->finished_handler);
  GIOStream *stream = soup_server_message_steal_connection (msg);
  if (stream != NULL) {
    g_io_stream_close (stream, NULL, NULL);
    g_object_unref (stream);
  }
  g_object_unref (msg);
  export_client_end (c);
}

static void export_read_next (ExportClient *c);

static void
export_read_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
  ExportClient *c = data;
  GBytes *chunk = NULL;
  GError *error = NULL;
  if (c->seek_to > 0 && !nvr_export_reader_seek (c->reader, c->seek_to, &error)) {
    g_task_return_error (task, error);
    return;
  }
  c->seek_to = 0;
  gsize want = (gsize) MIN ((guint64) EXPORT_CHUNK, c->left);
  guint8 *buf = g_malloc (MAX (want, 1));
  gssize n = want ? nvr_export_reader_read (c->reader, buf, want, &error) : 0;
  if (n < 0) {
    g_free (buf);
    g_task_return_error (task, error);
    return;
  }
  chunk = g_bytes_new_take (buf, (gsize) n);
  g_task_return_pointer (task, chunk, (GDestroyNotify) g_bytes_unref);
}

static void
on_export_read (GObject *source, GAsyncResult *res, gpointer data)
{
  ExportClient *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) chunk = g_task_propagate_pointer (G_TASK (res), &error);
  c->busy = FALSE;
  if (c->gone) {
    export_client_free (c);
    return;
  }
  if (chunk == NULL) {
    g_warning ("Failed to export camera %" G_GINT64_FORMAT ": %s", c->camera_id,
               error->message);
    export_abort (c, error->message);
    return;
  }
  SoupMessageBody *body = soup_server_message_get_response_body (c->msg);
  if (g_bytes_get_size (chunk) == 0) {
    c->eof = TRUE;
    soup_message_body_complete (body);
  } else {
    soup_message_body_append_bytes (body, chunk);
    c->queued += g_bytes_get_size (chunk);
    c->left -= MIN (c->left, (guint64) g_bytes_get_size (chunk));
  }
  soup_server_message_unpause (c->msg);
  export_read_next (c);
}

/* At most EXPORT_QUEUE_MAX bytes wait in libsoup, plus one chunk being read. */
static void
export_read_next (ExportClient *c)
{
  if (c->busy || c->eof || c->gone || c->queued >= EXPORT_QUEUE_MAX)
    return;
  if (c->left == 0 && c->seek_to == 0) {   /* all of it is queued */
    c->eof = TRUE;
    soup_message_body_complete (soup_server_message_get_response_body (c->msg));
    soup_server_message_unpause (c->msg);
    return;
  }
  c->busy = TRUE;
  g_autoptr (GTask) task = g_task_new (NULL, NULL, on_export_read, c);
  g_task_set_task_data (task, c, NULL);
  g_task_run_in_thread (task, export_read_thread);
}

static void
on_export_wrote (SoupServerMessage *msg, guint size, gpointer data)
{
  ExportClient *c = data;
  c->queued -= MIN (c->queued, (gsize) size);
  export_read_next (c);
}

static void
on_export_finished (SoupServerMessage *msg, gpointer data)
{
  ExportClient *c = data;
  if (c->reader != NULL && (c->left > 0 || c->queued > 0))
    g_message ("Export of camera %" G_GINT64_FORMAT " for device %" G_GINT64_FORMAT
               " ended by the client after %" G_GUINT64_FORMAT " bytes", c->camera_id,
               c->device_id, nvr_export_reader_position (c->reader));
  g_signal_handler_disconnect (msg, c->wrote_handler);
  g_signal_handler_disconnect (msg, c->finished_handler);
  g_clear_object (&c->msg);   /* the connection still holds it until after this signal */
  export_client_end (c);
}

/* Plans (and for a signature, hashes the whole output) off the main loop. */
static void
export_plan_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
  ExportClient *c = data;
  GArray *files = g_array_new (FALSE, TRUE, sizeof (NvrExportFile));
  GError *error = NULL;
  for (guint i = 0; i < c->sources->len; i++) {
    NvrExportFile f;
    if (!export_source_fragments (c->sources->pdata[i], &f, &error)) {
      for (guint k = 0; k < files->len; k++)
        nvr_export_file_clear (&g_array_index (files, NvrExportFile, k));
      g_array_unref (files);
      g_task_return_error (task, error);
      return;
    }
    g_array_append_val (files, f);
  }
  NvrExportPlan *plan = nvr_export_plan_new (files, c->from_us, c->to_us, &error);
  if (plan == NULL) {
    g_task_return_error (task, error);
    return;
  }
  if (c->sig) {
    /* The signature is over exactly the bytes a download of the same plan sends: the same
     * reader walks them here (one full read of the range). */
    guint8 *sha = g_malloc (32);
    if (!nvr_export_plan_sha256 (plan, sha, &error)) {
      g_free (sha);
      nvr_export_plan_free (plan);
      g_task_return_error (task, error);
      return;
    }
    g_object_set_data_full (G_OBJECT (task), "sha256", sha, g_free);
  }
  g_task_return_pointer (task, plan, (GDestroyNotify) nvr_export_plan_free);
}

/* "front-20261202T064404Z-20261202T064604Z" */
static char *
export_name (const ExportClient *c)
{
  g_autoptr (GDateTime) a = g_date_time_new_from_unix_utc (c->from_us / G_USEC_PER_SEC);
  g_autoptr (GDateTime) b = g_date_time_new_from_unix_utc (c->to_us / G_USEC_PER_SEC);
  g_autofree char *sa = g_date_time_format (a, "%Y%m%dT%H%M%SZ");
  g_autofree char *sb = g_date_time_format (b, "%Y%m%dT%H%M%SZ");
  return g_strdup_printf ("%s-%s-%s", c->camera, sa, sb);
}

static void
export_refuse (ExportClient *c, const GError *error)
{
  guint status = 500;
  const char *reason = "internal error";
  if (error->domain == NVR_EXPORT_ERROR) {
    switch (error->code) {
    case NVR_EXPORT_ERROR_EMPTY:
      status = 404;
      reason = "nothing recorded in this range";
      break;
    case NVR_EXPORT_ERROR_NOT_FRAGMENTED:
      status = 409;
      reason = "this range is recorded in finalised (not fragmented) segments, which cannot "
               "be exported yet";
      break;
    case NVR_EXPORT_ERROR_FORMAT_CHANGED:
    case NVR_EXPORT_ERROR_SOURCE_GONE:
      status = 409;
      reason = error->message;   /* a time, or "deleted by retention": no path is shown */
      break;
    default:
      break;
    }
  }
  if (status == 500 || error->code == NVR_EXPORT_ERROR_SOURCE_GONE)
    g_warning ("Failed to export camera %" G_GINT64_FORMAT ": %s", c->camera_id,
               error->message);
  if (error->domain == NVR_EXPORT_ERROR && error->code == NVR_EXPORT_ERROR_SOURCE_GONE)
    reason = "a recording in this range was deleted meanwhile (retention): try again";
  respond_error (c->msg, status, reason);
}

static void
on_export_planned (GObject *source, GAsyncResult *res, gpointer data)
{
  ExportClient *c = data;
  g_autoptr (GError) error = NULL;
  NvrExportPlan *plan = g_task_propagate_pointer (G_TASK (res), &error);
  c->busy = FALSE;
  c->plan = plan;
  if (c->gone) {
    export_client_free (c);
    return;
  }
  g_clear_pointer (&c->sources, g_ptr_array_unref);
  if (plan == NULL) {
    export_refuse (c, error);
    c->eof = TRUE;
    soup_server_message_unpause (c->msg);
    return;
  }
  SoupMessageHeaders *rh = soup_server_message_get_response_headers (c->msg);
  g_autofree char *name = export_name (c);
  common_headers (c->msg);
  if (c->sig) {
    NvrManifest m = { .bytes = nvr_export_plan_length (plan), .start_us = c->from_us,
                      .end_us = c->to_us };
    memcpy (m.sha256, g_object_get_data (G_OBJECT (res), "sha256"), sizeof m.sha256);
    g_strlcpy (m.camera, c->camera, sizeof m.camera);
    g_autofree char *text = nvr_signer_sign (c->http->signer, &m);
    if (text == NULL) {
      respond_error (c->msg, 500, "internal error");
    } else {
      g_autofree char *cd = g_strdup_printf ("attachment; filename=\"%s.mp4.sig\"", name);
      soup_message_headers_replace (rh, "Content-Disposition", cd);
      soup_server_message_set_status (c->msg, 200, NULL);
      soup_server_message_set_response (c->msg, "text/plain; charset=us-ascii",
                                        SOUP_MEMORY_COPY, text, strlen (text));
    }
    c->eof = TRUE;
    soup_server_message_unpause (c->msg);
    return;
  }
  g_autofree char *cd = g_strdup_printf ("attachment; filename=\"%s.mp4\"", name);
  soup_message_headers_replace (rh, "Content-Disposition", cd);
  /* Resumable: one byte range, answered if If-Range (when sent) names this very plan. */
  guint64 total = nvr_export_plan_length (plan);
  g_autofree char *tag = nvr_export_plan_etag (plan);
  g_autofree char *etag = g_strdup_printf ("\"%s\"", tag);
  soup_message_headers_replace (rh, "ETag", etag);
  soup_message_headers_replace (rh, "Accept-Ranges", "bytes");
  SoupMessageHeaders *req = soup_server_message_get_request_headers (c->msg);
  const char *if_range = header_once (req, "If-Range");
  guint status = 200;
  c->left = total;
  if (soup_message_headers_get_one (req, "Range") != NULL &&
      (if_range == NULL || strcmp (if_range, etag) == 0)) {
    SoupRange *ranges = NULL;
    int n = 0;
    gboolean parsed = soup_message_headers_get_ranges (req, (goffset) total, &ranges, &n);
    /* libsoup's parser does not check that a range starts inside the body. */
    if (!parsed || n < 1 || total == 0 || (guint64) ranges[0].start >= total ||
        ranges[0].end < ranges[0].start) {
      if (parsed)
        soup_message_headers_free_ranges (req, ranges);
      g_autofree char *cr = g_strdup_printf ("bytes */%" G_GUINT64_FORMAT, total);
      respond_error (c->msg, 416, "range not satisfiable");
      soup_message_headers_replace (rh, "Content-Range", cr);
      c->eof = TRUE;
      soup_server_message_unpause (c->msg);
      return;
    }
    if (n == 1) {   /* several ranges: the whole file, as RFC 9110 allows */
      ranges[0].end = MIN (ranges[0].end, (goffset) total - 1);
      status = 206;
      c->seek_to = (guint64) ranges[0].start;
      c->left = (guint64) (ranges[0].end - ranges[0].start + 1);
      soup_message_headers_set_content_range (rh, ranges[0].start, ranges[0].end,
                                              (goffset) total);
    }
    soup_message_headers_free_ranges (req, ranges);
  }
  soup_message_headers_set_content_type (rh, "video/mp4", NULL);
  soup_message_headers_set_content_length (rh, (goffset) c->left);
  soup_message_body_set_accumulate (soup_server_message_get_response_body (c->msg), FALSE);
  soup_server_message_set_status (c->msg, status, NULL);
  c->reader = nvr_export_reader_new (plan);
  g_message ("Export of camera %" G_GINT64_FORMAT " for device %" G_GINT64_FORMAT ": %s, %"
             G_GUINT64_FORMAT " bytes", c->camera_id, c->device_id, name,
             nvr_export_plan_length (plan));
  export_read_next (c);   /* the first chunk unpauses the message */
}

static void
route_export (Request *r, gboolean sig)
{
  NvrHttp *h = r->h;
  const NvrAccess *a = r->access;
  gint64 from_us, to_us;
  g_autoptr (GError) error = NULL;
  if (sig && h->signer == NULL) {
    respond_error (r->msg, 503, "no signing key");
    return;
  }
  if (!range_of (r, NVR_EXPORT_MAX_RANGE_US, &from_us, &to_us))
    return;
  guint mine = 0;
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, h->exports);
  while (g_hash_table_iter_next (&it, &key, NULL))
    mine += ((ExportClient *) key)->device_id == a->device_id;
  if (mine >= EXPORTS_PER_DEVICE || g_hash_table_size (h->exports) >= EXPORTS_TOTAL) {
    respond_error (r->msg, 503, mine >= EXPORTS_PER_DEVICE
                                    ? "this device has as many exports running as it may"
                                    : "as many exports are running as the box allows");
    soup_message_headers_replace (soup_server_message_get_response_headers (r->msg),
                                  "Retry-After", LIVE_RETRY_AFTER_S);
    return;
  }
  g_autoptr (GPtrArray) segs = nvr_catalog_segments_between (h->catalog, a->camera_id, from_us,
                                                             to_us, LIST_LIMIT, &error);
  if (segs == NULL) {
    g_warning ("Failed to list segments for an export: %s", error->message);
    respond_error (r->msg, 500, "internal error");
    return;
  }
  ExportClient *c = g_new0 (ExportClient, 1);
  c->http = h;
  c->msg = g_object_ref (r->msg);
  c->sig = sig;
  c->camera_id = a->camera_id;
  c->device_id = a->device_id;
  memcpy (c->token_hash, r->token_hash, sizeof c->token_hash);
  c->camera = g_strdup (a->camera_name);
  c->from_us = from_us;
  c->to_us = to_us;
  c->sources = g_ptr_array_new_with_free_func ((GDestroyNotify) export_source_free);
  for (guint i = 0; i < segs->len; i++) {
    const NvrSegmentRow *s = segs->pdata[i];
    if (a->camera_dir == NULL || !nvr_paths_is_within (a->camera_dir, s->path)) {
      g_warning ("Failed to export segment %" G_GINT64_FORMAT ": its path is outside camera %"
                 G_GINT64_FORMAT "'s directory", s->id, a->camera_id);
      continue;
    }
    ExportSource *src = g_new0 (ExportSource, 1);
    src->path = g_build_filename (h->real_root, s->path, NULL);
    src->wall_start_us = s->start_us;
    /* The file being recorded holds up to a second or two more than its index (fragments are
     * stored in batches): walk it, so an export up to now has everything on disk. */
    if (!s->recording)
      export_source_index (h, a->camera_id, s->id, src);
    g_ptr_array_add (c->sources, src);
  }
  c->wrote_handler = g_signal_connect (r->msg, "wrote-body-data", G_CALLBACK (on_export_wrote),
                                       c);
  c->finished_handler = g_signal_connect (r->msg, "finished", G_CALLBACK (on_export_finished),
                                          c);
  g_hash_table_add (h->exports, c);
  soup_server_message_pause (r->msg);
  c->busy = TRUE;
  g_autoptr (GTask) task = g_task_new (NULL, NULL, on_export_planned, c);
  g_task_set_task_data (task, c, NULL);
  g_task_run_in_thread (task, export_plan_thread);
}

/* Re-authorizes every export in progress with its own session; one no longer allowed is cut. */
static void
export_recheck (NvrHttp *h, gint64 now_us)
{
  if (g_hash_table_size (h->exports) == 0)
    return;
  g_autoptr (GPtrArray) cut = g_ptr_array_new ();
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, h->exports);
  while (g_hash_table_iter_next (&it, &key, NULL)) {
    ExportClient *c = key;
    g_auto (NvrAccess) access = { 0 };
    g_autoptr (GError) error = NULL;
    if (!authorize (h, c->token_hash, now_us, c->camera_id, NVR_OBJECT_NONE, 0, &access,
                    &error)) {
      g_warning ("Failed to re-authorize an export: %s", error->message);
      continue;
    }
    if (nvr_auth_decide (NVR_POLICY_CAMERA, NVR_OBJECT_NONE, &access) != 0 ||
        access.device_id != c->device_id)
      g_ptr_array_add (cut, c);
  }
  for (guint i = 0; i < cut->len; i++) {
    ExportClient *c = cut->pdata[i];
    if (c->msg != NULL)
      export_abort (c, "the device may no longer see the camera");
  }
}

static gboolean
on_recheck_timer (gpointer data)
{
  NvrHttp *h = data;
  live_recheck (h);
  export_recheck (h, g_get_real_time ());
  /* Expired sessions never authorize anything (the query checks both limits); this only
   * keeps the table small. */
  if (++h->ticks % 60 == 0) {
    g_autoptr (GError) error = NULL;
    if (!nvr_catalog_sessions_expire (h->catalog, g_get_real_time (),
                                      h->config->web_session_idle_s * G_USEC_PER_SEC,
                                      h->config->web_session_max_s * G_USEC_PER_SEC, &error))
      g_warning ("Failed to delete expired sessions: %s", error->message);
  }
  return G_SOURCE_CONTINUE;
}

void
nvr_http_set_prober (NvrHttp *http, NvrProber *prober)
{
  http->prober = prober;
}

void
nvr_http_set_signer (NvrHttp *http, const NvrSigner *signer)
{
  http->signer = signer;
}

void
nvr_http_set_camadmin (NvrHttp *http, NvrCamAdmin *camadmin)
{
  http->camadmin = camadmin;
}

void
nvr_http_set_health (NvrHttp *http, NvrHealth *health)
{
  http->health = health;
}

void
nvr_http_device_changed (NvrHttp *http, gint64 device_id)
{
  if (http != NULL) {
    live_recheck (http);
    export_recheck (http, g_get_real_time ());
  }
}

/* ---- the one handler ---- */

/* A refused connection whose peer may still be sending: what arrives is read and dropped
 * (at most LINGER_MAX_BYTES, for at most LINGER_MAX_MS) before the close, so that the peer can
 * finish sending and read the answer instead of meeting a closed socket. */
#define LINGER_MAX_BYTES (1024 * 1024)
#define LINGER_MAX_MS 2000

typedef struct {
  NvrHttp *http;                         /* NULL once the server is freed */
  GIOStream *stream;
  GCancellable *cancel;
  guint timeout_id;
  gsize dropped;
  char scratch[4096];
} Linger;

static void
on_linger_read (GObject *src, GAsyncResult *res, gpointer data)
{
  Linger *l = data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (src), res, NULL);
  if (n > 0 && (l->dropped += (gsize) n) < LINGER_MAX_BYTES &&
      !g_cancellable_is_cancelled (l->cancel)) {
    g_input_stream_read_async (G_INPUT_STREAM (src), l->scratch, sizeof l->scratch,
                               G_PRIORITY_DEFAULT, l->cancel, on_linger_read, l);
    return;
  }
  /* End of input, an error, the byte cap or the time limit (cancelled): close now. */
  if (l->timeout_id)
    g_source_remove (l->timeout_id);
  if (l->http != NULL)
    g_hash_table_remove (l->http->lingering, l);
  g_io_stream_close (l->stream, NULL, NULL);
  g_object_unref (l->stream);
  g_object_unref (l->cancel);
  g_free (l);
}

static gboolean
on_linger_timeout (gpointer data)
{
  Linger *l = data;
  l->timeout_id = 0;
  g_cancellable_cancel (l->cancel);
  return G_SOURCE_REMOVE;
}

/* Answers 413 at once, without reading a body the peer announced as too large: libsoup itself
 * would read (and drop) all of it before answering. The connection is taken from libsoup; the
 * answer (a few hundred bytes, the first on this connection, so the socket buffer is empty) is
 * written without blocking; then the connection lingers (above) and closes. */
static void
refuse_too_large (NvrHttp *h, SoupServerMessage *msg)
{
  static const char body[] = "{\"error\":\"request body too large\"}";
  g_autofree char *text = g_strdup_printf ("HTTP/1.1 413 Request Entity Too Large\r\n"
                                           "Connection: close\r\n"
                                           "Cache-Control: no-store\r\n"
                                           "X-Content-Type-Options: nosniff\r\n"
                                           "Content-Type: application/json\r\n"
                                           "Content-Length: %zu\r\n\r\n%s",
                                           sizeof body - 1, body);
  GIOStream *stream = soup_server_message_steal_connection (msg);
  if (stream == NULL)
    return;
  GOutputStream *out = g_io_stream_get_output_stream (stream);
  if (G_IS_POLLABLE_OUTPUT_STREAM (out))
    g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (out), text,
                                                strlen (text), NULL, NULL);
  Linger *l = g_new0 (Linger, 1);
  l->http = h;
  l->stream = stream;
  l->cancel = g_cancellable_new ();
  l->timeout_id = g_timeout_add (LINGER_MAX_MS, on_linger_timeout, l);
  g_hash_table_add (h->lingering, l);
  g_input_stream_read_async (g_io_stream_get_input_stream (stream), l->scratch,
                             sizeof l->scratch, G_PRIORITY_DEFAULT, l->cancel, on_linger_read,
                             l);
}

/* A chunked body is counted as it arrives and refused as soon as it is over the maximum. */
static void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer data)
{
  if (soup_server_message_get_request_body (msg)->length > NVR_HTTP_BODY_MAX) {
    g_signal_handlers_disconnect_by_func (msg, on_got_chunk, data);
    refuse_too_large (data, msg);
  }
}

/* After the headers, before the body: a declared body over the maximum is refused at once. */
static void
early_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
               gpointer data)
{
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  /* Said out loud: libsoup closes after each answer on connections it did not accept itself. */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection",
                                "close");
  if (soup_message_headers_get_encoding (req) == SOUP_ENCODING_CONTENT_LENGTH &&
      soup_message_headers_get_content_length (req) > NVR_HTTP_BODY_MAX) {
    refuse_too_large (data, msg);
    return;
  }
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), data);
}

/* The value of a header that must appear once: NULL if absent or repeated (libsoup does not
 * say which copy get_one() returns). */
static const char *
header_once (SoupMessageHeaders *hdrs, const char *name)
{
  SoupMessageHeadersIter it;
  const char *n, *v, *found = NULL;
  guint count = 0;
  soup_message_headers_iter_init (&it, hdrs);
  while (soup_message_headers_iter_next (&it, &n, &v))
    if (g_ascii_strcasecmp (n, name) == 0 && count++ == 0)
      found = v;
  return count == 1 ? found : NULL;
}

/* Every Cookie header joined with "; " (HTTP/2 may split one into several). */
static char *
cookie_header (SoupMessageHeaders *hdrs)
{
  SoupMessageHeadersIter it;
  const char *n, *v;
  GString *all = NULL;
  soup_message_headers_iter_init (&it, hdrs);
  while (soup_message_headers_iter_next (&it, &n, &v)) {
    if (g_ascii_strcasecmp (n, "Cookie") != 0)
      continue;
    if (all == NULL)
      all = g_string_new (v);
    else
      g_string_append_printf (all, "; %s", v);
  }
  return all ? g_string_free (all, FALSE) : NULL;
}

static void
handler (SoupServer *server, SoupServerMessage *msg, const char *unused_path, GHashTable *query,
         gpointer data)
{
  NvrHttp *h = data;
  const char *method = soup_server_message_get_method (msg);
  GUri *uri = soup_server_message_get_uri (msg);
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  g_autoptr (GError) error = NULL;

  NvrRouteMatch m;
  guint status = nvr_httproute_match (method, g_uri_get_path (uri), &m);
  if (status != 0) {
    /* "no such route", not "not found": a page tells a Hearth without a route (an older one)
     * from a missing object (docs/design/auth.md "Status codes"). */
    respond_error (msg, status, status == 404 ? "no such route" : status_reason (status));
    return;
  }
  const NvrRoute *route = m.route;
  const char *reason = NULL;
  /* [web] origin may list several (or auto-derive them): the check is still an exact match,
   * against the listed origin equal to this request's, or the primary when none is. */
  const char *origin = nvr_config_origin_find (h->config, header_once (req, "Origin"));
  status = nvr_httproute_check_mutation (method, header_once (req, "Content-Type"),
                                         header_once (req, "Origin"),
                                         header_once (req, "Sec-Fetch-Site"),
                                         origin ? origin : h->config->web_origin, &reason);
  if (status != 0) {
    respond_error (msg, status, reason);
    return;
  }
  g_autofree char *client =
      nvr_httproute_client (soup_message_headers_get_list (req, "X-Forwarded-For"));
  Request r = { .h = h, .msg = msg, .m = &m, .client = client, .origin = origin,
                .now_us = g_get_real_time () };
  g_auto (NvrAccess) access = { 0 };
  r.access = &access;

  /* The session cookie, if any, as the hash it is stored under. */
  g_autofree char *cookies = cookie_header (req);
  g_autofree char *token = nvr_httproute_cookie (cookies, NVR_AUTH_COOKIE_NAME);
  r.have_token = token != NULL && nvr_pairing_token_hash (token, r.token_hash);

  if (route->policy != NVR_POLICY_PUBLIC) {
    NvrObjectKind kind = route->kind;
    if (!authorize (h, r.have_token ? r.token_hash : NULL, r.now_us, m.camera_id, kind,
                    m.object_id, &access, &error)) {
      g_warning ("Failed to authorize %s %s: %s", method, route->pattern, error->message);
      respond_error (msg, 500, "internal error");
      return;
    }
    status = nvr_auth_decide (route->policy, kind, &access);
    if (status == 0 && route->policy == NVR_POLICY_CAMERA && access.camera_id != m.camera_id) {
      g_warning ("Failed to authorize %s %s: the catalog answered for camera %" G_GINT64_FORMAT
                 ", not %" G_GINT64_FORMAT, method, route->pattern, access.camera_id,
                 m.camera_id);
      status = 500;
    }
    if (status != 0) {
      respond_error (msg, status, status_reason (status));
      return;
    }
  }

  /* Parameters and the body, once the requester is known to be allowed to send them. */
  if (route->query == NVR_QUERY_NONE && g_uri_get_query (uri) != NULL) {
    respond_error (msg, 400, "this route takes no query");
    return;
  }
  g_auto (NvrBody) body = { 0 };
  {
    SoupMessageBody *rb = soup_server_message_get_request_body (msg);
    g_autoptr (GBytes) bytes = soup_message_body_flatten (rb);
    g_autofree char *body_reason = NULL;
    gsize len = 0;
    const char *bdata = g_bytes_get_data (bytes, &len);
    status = nvr_httproute_parse_body (route->body, bdata, len, &body, &body_reason);
    if (status != 0) {
      respond_error (msg, status, body_reason);
      return;
    }
  }
  r.body = &body;

  if (route->policy == NVR_POLICY_CAMERA)
    set_camera_header (msg, access.camera_id);
  if (h->camadmin == NULL && route->id >= NVR_ROUTE_SETTINGS_CAMERAS &&
      route->id <= NVR_ROUTE_SETTINGS_CAMERA_MOTION) {
    respond_error (msg, 503, "camera administration is not available");
    return;
  }

  gboolean ok = TRUE;
  switch (route->id) {
  case NVR_ROUTE_PAIR_BEGIN: route_pair_begin (&r); break;
  case NVR_ROUTE_PAIR_FINISH: route_pair_finish (&r); break;
  case NVR_ROUTE_LOGIN_BEGIN: route_login_begin (&r); break;
  case NVR_ROUTE_LOGIN_FINISH: route_login_finish (&r); break;
  case NVR_ROUTE_LOGOUT: ok = route_logout (&r, &error); break;
  case NVR_ROUTE_ME: ok = route_me (&r, &error); break;
  case NVR_ROUTE_BOX: route_box (&r); break;
  case NVR_ROUTE_CAMERAS: ok = route_cameras (&r, 0, &error); break;
  case NVR_ROUTE_CAMERA: ok = route_cameras (&r, access.camera_id, &error); break;
  case NVR_ROUTE_TIMELINE: ok = route_timeline (&r, &error); break;
  case NVR_ROUTE_SEGMENTS: ok = route_segments (&r, &error); break;
  case NVR_ROUTE_SEGMENT_MEDIA: route_object_file (&r, "video/mp4"); break;
  case NVR_ROUTE_SNAPSHOT: route_snapshot (&r); break;
  case NVR_ROUTE_EVENTS: ok = route_events (&r, &error); break;
  case NVR_ROUTE_EVENT_THUMBNAIL: route_object_file (&r, "image/jpeg"); break;
  case NVR_ROUTE_LIVE: route_live (&r); break;
  case NVR_ROUTE_EXPORT_MP4: route_export (&r, FALSE); break;
  case NVR_ROUTE_EXPORT_SIG: route_export (&r, TRUE); break;
  case NVR_ROUTE_DEVICES: ok = route_devices (&r, &error); break;
  case NVR_ROUTE_DEVICE_REVOKE: ok = route_device_revoke (&r, &error); break;
  case NVR_ROUTE_DEVICE_CAMERAS: ok = route_device_cameras (&r, &error); break;
  case NVR_ROUTE_INVITES: route_invites (&r); break;
  case NVR_ROUTE_PLAYLIST: ok = route_playlist (&r, &error); break;
  case NVR_ROUTE_SETTINGS_CAMERAS: route_settings_cameras (&r); break;
  case NVR_ROUTE_SETTINGS_CAMERA_ADD: route_settings_camera_add (&r); break;
  case NVR_ROUTE_SETTINGS_CAMERA_EDIT: route_settings_camera_edit (&r); break;
  case NVR_ROUTE_SETTINGS_CAMERA_DELETE: route_settings_camera_delete (&r); break;
  case NVR_ROUTE_SETTINGS_CAMERA_MOTION: route_settings_camera_motion (&r); break;
  case NVR_ROUTE_AUDIT: ok = route_audit (&r, &error); break;
  case NVR_ROUTE_HEALTH: ok = route_health (&r, &error); break;
  case NVR_ROUTE_CAMERA_TEST: route_probe (&r, NVR_PROBE_TEST); break;
  case NVR_ROUTE_ONVIF_PROFILES: route_probe (&r, NVR_PROBE_ONVIF_PROFILES); break;
  case NVR_ROUTE_ONVIF_SCAN: route_probe (&r, NVR_PROBE_ONVIF_SCAN); break;
  case NVR_ROUTE_COUNT: default: g_assert_not_reached ();
  }
  if (!ok) {
    g_warning ("Failed to answer %s %s: %s", method, route->pattern,
               error ? error->message : "unknown error");
    soup_message_headers_remove (soup_server_message_get_response_headers (msg), "X-Sendfile");
    respond_error (msg, 500, "internal error");
  }
}

/* ---- the server ---- */

static void
on_connection_gone (gpointer data, GObject *gone)
{
  NvrHttp *h = data;
  g_hash_table_remove (h->connections, gone);
}

/* Connections are accepted here rather than by soup_server_listen_socket(): libsoup then sees
 * an IPv4 local address, so a request without a Host header gets a plain 400 instead of
 * GLib criticals from its inet-address calls on a unix socket address; and the number of open
 * connections has a maximum. (libsoup keeps no idle connection alive this way, which costs
 * nothing behind lighttpd: mod_proxy opens one connection per request.) */
static gboolean
on_incoming (GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
  NvrHttp *h = data;
  if (g_hash_table_size (h->connections) >= MAX_CONNECTIONS) {
    if (!h->refused_logged)
      g_warning ("Failed to accept a web API connection: %d already open", MAX_CONNECTIONS);
    h->refused_logged = TRUE;
    g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
    return TRUE;
  }
  h->refused_logged = FALSE;
  g_autoptr (GError) error = NULL;
  if (!soup_server_accept_iostream (h->server, G_IO_STREAM (conn), h->fake_addr, h->fake_addr,
                                    &error)) {
    g_warning ("Failed to accept a web API connection: %s", error->message);
    return TRUE;
  }
  g_hash_table_add (h->connections, conn);
  g_object_weak_ref (G_OBJECT (conn), on_connection_gone, h);
  return TRUE;
}

/* TRUE if something answers on @path (a second daemon with another storage root). */
static gboolean
socket_alive (const char *path)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (path);
  g_autoptr (GSocketConnection) conn =
      g_socket_client_connect (client, G_SOCKET_CONNECTABLE (addr), NULL, NULL);
  return conn != NULL;
}

static GSocket *
listen_unix (const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0755) != 0) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "Failed to create '%s': %s", dir,
                 g_strerror (e));
    return NULL;
  }
  struct stat st;
  if (lstat (path, &st) == 0) {
    if (!S_ISSOCK (st.st_mode)) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                   "Failed to listen on '%s': it exists and is not a socket", path);
      return NULL;
    }
    if (socket_alive (path)) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                   "Failed to listen on '%s': another daemon answers there", path);
      return NULL;
    }
    if (g_unlink (path) != 0) {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                   "Failed to remove the stale socket '%s': %s", path, g_strerror (e));
      return NULL;
    }
  }
  g_autoptr (GSocket) sock = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_DEFAULT, error);
  if (sock == NULL)
    return NULL;
  g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (path);
  if (!g_socket_bind (sock, addr, FALSE, error)) {
    g_prefix_error (error, "Failed to listen on '%s': ", path);
    return NULL;
  }
  if (g_chmod (path, 0660) != 0) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "Failed to chmod '%s': %s", path,
                 g_strerror (e));
    return NULL;
  }
  g_socket_set_listen_backlog (sock, 64);
  if (!g_socket_listen (sock, error)) {
    g_prefix_error (error, "Failed to listen on '%s': ", path);
    return NULL;
  }
  return g_steal_pointer (&sock);
}

NvrHttp *
nvr_http_new (const NvrConfig *config, NvrCatalog *catalog, NvrSupervisor *sup,
              NvrLiveHub *live, NvrPairing *pairing, GError **error)
{
  g_return_val_if_fail (config->web_origin != NULL && live != NULL && pairing != NULL, NULL);
  g_autofree char *real_root = realpath (config->storage_root, NULL);
  if (real_root == NULL) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "Failed to resolve '%s': %s",
                 config->storage_root, g_strerror (e));
    return NULL;
  }
  g_autoptr (GSocket) sock = listen_unix (config->web_socket, error);
  if (sock == NULL)
    return NULL;

  NvrHttp *h = g_new0 (NvrHttp, 1);
  h->config = config;
  h->catalog = catalog;
  h->sup = sup;
  h->live = live;
  h->pairing = pairing;
  nvr_live_hub_set_limits (live, (NvrLiveLimits) {
                                   .per_device_camera = config->web_live_per_device_camera,
                                   .per_device = config->web_live_per_device,
                                   .total = MAX_CONNECTIONS - SHORT_RESERVE,
                                 });
  h->real_root = g_steal_pointer (&real_root);
  h->socket_path = g_strdup (config->web_socket);
  h->live_clients = g_hash_table_new (g_direct_hash, g_direct_equal);
  h->connections = g_hash_table_new (g_direct_hash, g_direct_equal);
  h->lingering = g_hash_table_new (g_direct_hash, g_direct_equal);
  h->exports = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  h->fake_addr = g_inet_socket_address_new (lo, 0);
  /* raw-paths: the path is matched still percent-encoded (GLib has only resolved dot segments
   * and unreserved escapes like %31, which are the same URI), so "%2f" never matches. */
  h->server = soup_server_new ("raw-paths", TRUE, "server-header", NULL, NULL);
  soup_server_add_early_handler (h->server, NULL, early_handler, h, NULL);
  soup_server_add_handler (h->server, NULL, handler, h, NULL);
  h->service = g_socket_service_new ();
  if (!g_socket_listener_add_socket (G_SOCKET_LISTENER (h->service), sock, NULL, error)) {
    nvr_http_free (h);
    return NULL;
  }
  g_signal_connect (h->service, "incoming", G_CALLBACK (on_incoming), h);
  g_socket_service_start (h->service);
  h->recheck_source = g_timeout_add (LIVE_RECHECK_MS, on_recheck_timer, h);
  g_autofree char *origins = config->web_origins ? g_strjoinv (" ", config->web_origins)
                                                 : g_strdup (config->web_origin);
  g_message ("Web API on '%s' for origin %s", h->socket_path, origins);
  return h;
}

void
nvr_http_free (NvrHttp *http)
{
  if (http == NULL)
    return;
  if (http->recheck_source)
    g_source_remove (http->recheck_source);
  /* Live clients first: off the hub, then their exchanges end with the server. */
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, http->live_clients);
  while (g_hash_table_iter_next (&it, &key, NULL)) {
    LiveClient *c = key;
    if (c->id != 0)
      nvr_live_hub_detach (http->live, c->id);
    c->id = 0;
    g_hash_table_iter_remove (&it);
    live_client_free (c);
  }
  /* Exports: detached from their messages; one with a thread job running frees itself. */
  g_hash_table_iter_init (&it, http->exports);
  while (g_hash_table_iter_next (&it, &key, NULL)) {
    ExportClient *c = key;
    if (c->msg != NULL) {
      g_signal_handler_disconnect (c->msg, c->wrote_handler);
      g_signal_handler_disconnect (c->msg, c->finished_handler);
      g_clear_object (&c->msg);
    }
    c->http = NULL;
    c->gone = TRUE;
    g_hash_table_iter_remove (&it);
    if (!c->busy)
      export_client_free (c);
  }
  g_hash_table_unref (http->exports);
  if (http->service != NULL) {
    g_socket_service_stop (http->service);
    g_socket_listener_close (G_SOCKET_LISTENER (http->service));
    g_signal_handlers_disconnect_by_data (http->service, http);
    g_object_unref (http->service);
  }
  g_hash_table_iter_init (&it, http->connections);
  while (g_hash_table_iter_next (&it, &key, NULL))
    g_object_weak_unref (key, on_connection_gone, http);
  g_hash_table_remove_all (http->connections);
  if (http->server != NULL) {
    soup_server_disconnect (http->server);
    g_object_unref (http->server);
  }
  if (http->socket_path != NULL)
    g_unlink (http->socket_path);
  g_hash_table_unref (http->live_clients);
  /* Refused connections end by themselves (cancelled now; they no longer point here). */
  g_hash_table_iter_init (&it, http->lingering);
  while (g_hash_table_iter_next (&it, &key, NULL)) {
    Linger *l = key;
    l->http = NULL;
    if (l->timeout_id)
      g_source_remove (l->timeout_id);
    l->timeout_id = 0;
    g_cancellable_cancel (l->cancel);
  }
  g_hash_table_unref (http->lingering);
  g_hash_table_unref (http->connections);
  g_clear_object (&http->fake_addr);
  g_free (http->socket_path);
  g_free (http->real_root);
  g_free (http);
}
