/* daemon — application context and admin command handlers. Main loop only.
 * Start-up order matters: lock the storage root, bind the admin socket (replacing a stale one),
 * open the catalog, recover what a crash left, then start workers, then answer admin commands
 * (those that arrived meanwhile waited in the socket's backlog) and tell systemd it is ready.
 * Shutdown runs it backwards. */
#define G_LOG_DOMAIN "nvr-daemon"

#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin.h"
#include "audit.h"
#include "camadmin.h"
#include "catalog.h"
#include "config.h"
#include "events.h"
#include "health.h"
#include "hostinfo.h"
#include "http.h"
#include "live.h"
#include "mqtt.h"
#include "pairing.h"
#include "paths.h"
#include "prober.h"
#include "reaper.h"
#include "recover.h"
#include "signing.h"
#include "supervisor.h"
#include "timeline.h"

typedef struct {
  NvrConfig *config;
  NvrCatalog *catalog;
  NvrSupervisor *supervisor;
  NvrMqtt *mqtt;                /* NULL when [mqtt] host is unset */
  NvrPairing *pairing;          /* invites (`nvr pair`), pairing and login */
  NvrLiveHub *live;             /* live view fan-out; NULL when [web] origin is unset */
  NvrHttp *http;                /* the web API; NULL when [web] origin is unset */
  NvrReaper *reaper;
  NvrSigner *signer;            /* the box's export-signing key (docs/design/playback.md) */
  NvrCamAdmin *camadmin;        /* camera changes and the audit trail (docs/design/admin.md) */
  NvrHealth *health;            /* GET health and `nvr status` (docs/design/admin.md) */
  NvrAdmin *admin;
  NvrProber *prober;            /* camera tests and ONVIF in probe processes (nvr/probe.c) */
  GMainLoop *loop;
  int lock_fd;
  gint64 started_us;
  gint64 stop_mono_us;          /* when the first SIGTERM/SIGINT arrived; 0 before */
  int exit_status;              /* of a stop the daemon decided itself (storage gone): 1 */
} NvrDaemon;

/* From the signal to `<prefix>/available offline`: the outbox and the motion OFF of events the
 * stop ends get this long to be acknowledged (docs/design/mqtt.md "Stopping"). */
#define STOP_MQTT_DRAIN_US (1500 * 1000)

static gboolean invalid (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, msg);
  return FALSE;
}

static const char *
member_str (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

static JsonNode *
camera_json (const NvrCameraRow *r)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_int_value (b, r->id);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, r->name);
  json_builder_set_member_name (b, "main_url");
  json_builder_add_string_value (b, r->main_url);
  json_builder_set_member_name (b, "sub_url");
  if (r->sub_url)
    json_builder_add_string_value (b, r->sub_url);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "user");
  json_builder_add_string_value (b, r->username ? r->username : "");
  json_builder_set_member_name (b, "has_password");
  json_builder_add_boolean_value (b, r->password && *r->password);
  json_builder_set_member_name (b, "transport");
  json_builder_add_string_value (b, r->transport);
  json_builder_set_member_name (b, "created_us");
  json_builder_add_int_value (b, r->created_us);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* The admin socket acts as "admin socket" in the audit trail. */
static const NvrActor cli_actor = { 0, NULL };

/* Settings from the CLI's arguments (strings borrowed from @args): each member present is
 * given; "" for sub_url, user or password means none. */
static gboolean
settings_from_args (JsonObject *args, NvrCameraSettings *s, GError **error)
{
  static const struct { const char *member; guint bit; gsize offset; } strings[] = {
    { "name", NVR_CAMSET_NAME, G_STRUCT_OFFSET (NvrCameraSettings, name) },
    { "main_url", NVR_CAMSET_MAIN_URL, G_STRUCT_OFFSET (NvrCameraSettings, main_url) },
    { "sub_url", NVR_CAMSET_SUB_URL, G_STRUCT_OFFSET (NvrCameraSettings, sub_url) },
    { "user", NVR_CAMSET_USER, G_STRUCT_OFFSET (NvrCameraSettings, user) },
    { "password", NVR_CAMSET_PASSWORD, G_STRUCT_OFFSET (NvrCameraSettings, password) },
    { "transport", NVR_CAMSET_TRANSPORT, G_STRUCT_OFFSET (NvrCameraSettings, transport) },
  };
  memset (s, 0, sizeof *s);
  for (guint i = 0; i < G_N_ELEMENTS (strings); i++) {
    if (!json_object_has_member (args, strings[i].member))
      continue;
    const char *v = member_str (args, strings[i].member);
    if (v == NULL)
      return invalid (error, "'%s' must be a string", strings[i].member);
    *(const char **) G_STRUCT_MEMBER_P (s, strings[i].offset) = v;
    s->given |= strings[i].bit;
  }
  JsonNode *audio = json_object_get_member (args, "audio");
  if (audio != NULL) {
    if (json_node_get_value_type (audio) != G_TYPE_BOOLEAN)
      return invalid (error, "'audio' must be true or false");
    s->audio = json_node_get_boolean (audio);
    s->given |= NVR_CAMSET_AUDIO;
  }
  JsonNode *days = json_object_get_member (args, "retention_days");
  if (days != NULL) {
    if (!JSON_NODE_HOLDS_NULL (days) && json_node_get_value_type (days) != G_TYPE_INT64)
      return invalid (error, "'retention_days' must be a whole number of days or null");
    s->retention_days = JSON_NODE_HOLDS_NULL (days) ? 0 : json_node_get_int (days);
    s->given |= NVR_CAMSET_RETENTION;
  }
  return TRUE;
}

static JsonNode *
cmd_cameras_add (NvrDaemon *d, JsonObject *args, GError **error)
{
  NvrCameraSettings s;
  if (!settings_from_args (args, &s, error))
    return NULL;
  if (!(s.given & NVR_CAMSET_MAIN_URL)) {
    invalid (error, "%s", "a main URL is required (--main-url)");
    return NULL;
  }
  g_autoptr (NvrCameraRow) row = nvr_camadmin_add (d->camadmin, &s, &cli_actor,
                                                   g_get_real_time (), error);
  return row ? camera_json (row) : NULL;
}

static JsonNode *
cmd_cameras_list (NvrDaemon *d, GError **error)
{
  g_autoptr (GPtrArray) cams = nvr_catalog_camera_list (d->catalog, error);
  if (cams == NULL)
    return NULL;
  JsonArray *arr = json_array_new ();
  for (guint i = 0; i < cams->len; i++)
    json_array_add_element (arr, camera_json (cams->pdata[i]));
  JsonNode *n = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (n, arr);
  return n;
}

/* The id of the active camera named @name; FALSE with @error if there is none. */
static gboolean
camera_id (NvrDaemon *d, const char *name, gint64 *out_id, GError **error)
{
  g_autoptr (GPtrArray) cams = nvr_catalog_camera_list (d->catalog, error);
  if (cams == NULL)
    return FALSE;
  for (guint i = 0; i < cams->len; i++)
    if (g_strcmp0 (((NvrCameraRow *) cams->pdata[i])->name, name) == 0) {
      *out_id = ((NvrCameraRow *) cams->pdata[i])->id;
      return TRUE;
    }
  return invalid (error, "no camera named '%s'", name ? name : "");
}

static JsonNode *
cmd_cameras_remove (NvrDaemon *d, JsonObject *args, GError **error)
{
  g_autoptr (NvrCameraRow) row = nvr_camadmin_get_by_name (d->camadmin, member_str (args, "name"),
                                                           error);
  if (row == NULL ||
      !nvr_camadmin_remove (d->camadmin, row->id, &cli_actor, g_get_real_time (), error))
    return NULL;
  return json_node_new (JSON_NODE_NULL);
}

/* `nvr cameras reset-identity NAME`: the household accepts a replaced camera; the next contact
 * pins whatever answers (docs/design/identity.md). */
static JsonNode *
cmd_cameras_reset_identity (NvrDaemon *d, JsonObject *args, GError **error)
{
  const char *name = member_str (args, "name");
  gint64 id = 0;
  if (!nvr_catalog_identity_reset (d->catalog, name ? name : "", &id, error))
    return NULL;
  g_message ("Camera '%s': identity reset by an administrator", name);
  nvr_supervisor_reset_identity (d->supervisor, id);
  return json_node_new (JSON_NODE_NULL);
}

/* A JSON array of strings as a GPtrArray (borrowed strings; a non-string is NULL, which
 * nvr_camadmin_motion refuses); NULL when @member is absent. */
static GPtrArray *
texts_from_args (JsonObject *args, const char *member)
{
  JsonNode *n = json_object_get_member (args, member);
  if (n == NULL)
    return NULL;
  GPtrArray *out = g_ptr_array_new ();
  if (!JSON_NODE_HOLDS_ARRAY (n)) {
    g_ptr_array_add (out, NULL);
    return out;
  }
  JsonArray *arr = json_node_get_array (n);
  for (guint i = 0; i < json_array_get_length (arr); i++) {
    JsonNode *e = json_array_get_element (arr, i);
    g_ptr_array_add (out, json_node_get_value_type (e) == G_TYPE_STRING
                              ? (gpointer) json_node_get_string (e) : NULL);
  }
  return out;
}

/* `nvr cameras motion NAME [--mask P]... [--zone Z=P]... [--clear]`: the camera's motion masks
 * and zones (docs/design/motion.md "Wiring"), by the same code path as the web API's PUT
 * settings/cameras/{id}/motion. Given masks replace the masks, given zones the zones; --clear
 * empties both first; nothing given shows them. */
static JsonNode *
cmd_cameras_motion (NvrDaemon *d, JsonObject *args, GError **error)
{
  const char *name = member_str (args, "name");
  g_autoptr (NvrCameraRow) row = nvr_camadmin_get_by_name (d->camadmin, name, error);
  if (row == NULL)
    return NULL;
  gboolean clear = json_object_get_boolean_member_with_default (args, "clear", FALSE);
  g_autoptr (GPtrArray) masks = texts_from_args (args, "masks");
  g_autoptr (GPtrArray) zones = texts_from_args (args, "zones");
  g_autofree char *mj = NULL, *zj = NULL;
  if (!nvr_camadmin_motion (d->camadmin, row->id, masks, zones, clear, &cli_actor,
                            g_get_real_time (), &mj, &zj, NULL, NULL, error))
    return NULL;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, row->name);
  json_builder_set_member_name (b, "masks");
  json_builder_add_string_value (b, mj);
  json_builder_set_member_name (b, "zones");
  json_builder_add_string_value (b, zj);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* `nvr cameras recording NAME on|off`: the household's switch that needs no MQTT (with
 * [mqtt] commands off it is the only one). Stored in the catalog: a paused camera stays paused,
 * visibly, across restarts (docs/design/mqtt.md "Commands"). */
static JsonNode *
cmd_cameras_recording (NvrDaemon *d, JsonObject *args, GError **error)
{
  const char *name = member_str (args, "name");
  JsonNode *on_node = json_object_get_member (args, "on");
  gint64 id = 0;
  if (on_node == NULL || json_node_get_value_type (on_node) != G_TYPE_BOOLEAN) {
    invalid (error, "%s", "\"on\" must be true or false");
    return NULL;
  }
  gboolean on = json_node_get_boolean (on_node);
  if (!camera_id (d, name, &id, error) ||
      !nvr_supervisor_set_recording (d->supervisor, id, on, NVR_PAUSE_CLI, error))
    return NULL;
  g_autoptr (GPtrArray) st = nvr_supervisor_status (d->supervisor);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name);
  json_builder_set_member_name (b, "recording");
  json_builder_add_boolean_value (b, on);
  for (guint i = 0; i < st->len; i++) {
    const NvrCameraStatus *s = st->pdata[i];
    if (s->camera_id != id)
      continue;
    json_builder_set_member_name (b, "paused_by");
    json_builder_add_string_value (b, s->paused_by);
    json_builder_set_member_name (b, "paused_us");
    json_builder_add_int_value (b, s->paused_us);
  }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* `nvr cameras detection NAME on|off` (issue 13): stored, passed to the worker, audited. */
static JsonNode *
cmd_cameras_detection (NvrDaemon *d, JsonObject *args, GError **error)
{
  JsonNode *on_node = json_object_get_member (args, "on");
  if (on_node == NULL || json_node_get_value_type (on_node) != G_TYPE_BOOLEAN) {
    invalid (error, "%s", "\"on\" must be true or false");
    return NULL;
  }
  g_autoptr (NvrCameraRow) row = nvr_camadmin_get_by_name (d->camadmin, member_str (args, "name"),
                                                           error);
  if (row == NULL ||
      !nvr_camadmin_set_detection (d->camadmin, row->id, json_node_get_boolean (on_node),
                                   &cli_actor, g_get_real_time (), error))
    return NULL;
  return json_node_new (JSON_NODE_NULL);
}

static gint64
local_midnight_us (gint64 now_us)
{
  g_autoptr (GDateTime) now = g_date_time_new_from_unix_local (now_us / G_USEC_PER_SEC);
  g_autoptr (GDateTime) midnight =
      g_date_time_new_local (g_date_time_get_year (now), g_date_time_get_month (now),
                             g_date_time_get_day_of_month (now), 0, 0, 0);
  return g_date_time_to_unix (midnight) * G_USEC_PER_SEC;
}

/* `nvr box`: the export-signing key's public half and fingerprint (never the secret). */
static JsonNode *
cmd_box (NvrDaemon *d)
{
  const guint8 *pk = nvr_signer_public_key (d->signer);
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
  return json_builder_get_root (b);
}

static JsonNode *
cmd_status (NvrDaemon *d, GError **error)
{
  gint64 now_us = g_get_real_time ();
  gint64 midnight_us = local_midnight_us (now_us);
  g_autoptr (GPtrArray) st = nvr_supervisor_status (d->supervisor);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "daemon");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "pid");
  json_builder_add_int_value (b, getpid ());
  json_builder_set_member_name (b, "started_us");
  json_builder_add_int_value (b, d->started_us);
  json_builder_set_member_name (b, "storage_root");
  json_builder_add_string_value (b, d->config->storage_root);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "cameras");
  json_builder_begin_array (b);
  for (guint i = 0; i < st->len; i++) {
    const NvrCameraStatus *s = st->pdata[i];
    gint64 today = 0;
    if (!nvr_catalog_camera_bytes_since (d->catalog, s->camera_id, midnight_us, &today, error))
      return NULL;
    g_autoptr (GError) lerr = NULL;
    g_autoptr (NvrSegmentRow) last = nvr_catalog_segment_last (d->catalog, s->camera_id, &lerr);
    if (lerr != NULL) {
      g_propagate_error (error, g_steal_pointer (&lerr));
      return NULL;
    }
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "id");
    json_builder_add_int_value (b, s->camera_id);
    json_builder_set_member_name (b, "name");
    json_builder_add_string_value (b, s->name);
    json_builder_set_member_name (b, "state");
    json_builder_add_string_value (b, s->state);
    json_builder_set_member_name (b, "reason");
    json_builder_add_string_value (b, s->reason);
    json_builder_set_member_name (b, "since_us");
    json_builder_add_int_value (b, s->since_us);
    json_builder_set_member_name (b, "paused_by");     /* "mqtt", "cli" or "" */
    json_builder_add_string_value (b, s->paused_by);
    json_builder_set_member_name (b, "paused_us");     /* 0 unless paused */
    json_builder_add_int_value (b, s->paused_us);
    gboolean rec_on = TRUE, detect_on = TRUE;
    nvr_supervisor_get_switches (d->supervisor, s->camera_id, &rec_on, &detect_on);
    json_builder_set_member_name (b, "detection");      /* issue 13: kept in the catalog */
    json_builder_add_boolean_value (b, detect_on);
    json_builder_set_member_name (b, "retry_in_ms");
    json_builder_add_int_value (b, s->retry_in_ms);
    json_builder_set_member_name (b, "reconnects");
    json_builder_add_int_value (b, s->reconnects);
    json_builder_set_member_name (b, "worker_restarts");
    json_builder_add_int_value (b, s->worker_restarts);
    json_builder_set_member_name (b, "worker_pid");
    json_builder_add_int_value (b, s->worker_pid);
    json_builder_set_member_name (b, "identity");
    json_builder_add_string_value (b, s->identity);
    json_builder_set_member_name (b, "codec");
    json_builder_add_string_value (b, s->codec);
    json_builder_set_member_name (b, "width");
    json_builder_add_int_value (b, s->width);
    json_builder_set_member_name (b, "height");
    json_builder_add_int_value (b, s->height);
    json_builder_set_member_name (b, "bytes_today");
    json_builder_add_int_value (b, today);
    json_builder_set_member_name (b, "last_segment");
    if (last == NULL) {
      json_builder_add_null_value (b);
    } else {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "id");
      json_builder_add_int_value (b, last->id);
      json_builder_set_member_name (b, "path");
      json_builder_add_string_value (b, last->path);
      json_builder_set_member_name (b, "state");
      json_builder_add_string_value (b, last->recording ? "recording" : "complete");
      json_builder_set_member_name (b, "start_us");
      json_builder_add_int_value (b, last->start_us);
      json_builder_set_member_name (b, "end_us");
      json_builder_add_int_value (b, last->end_us);
      json_builder_set_member_name (b, "duration_us");
      json_builder_add_int_value (b, last->duration_us);
      json_builder_set_member_name (b, "bytes");
      json_builder_add_int_value (b, last->bytes);
      json_builder_end_object (b);
    }
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  /* The same report as the web API's GET health, from the same builder. */
  json_builder_set_member_name (b, "health");
  JsonNode *health = nvr_health_json (d->health, now_us, error);
  if (health == NULL)
    return NULL;
  json_builder_add_value (b, health);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* Longest range one timeline request may ask for: bounds the reply. */
#define TIMELINE_MAX_RANGE_US ((gint64) 31 * 86400 * G_USEC_PER_SEC)

static JsonNode *
cmd_timeline (NvrDaemon *d, JsonObject *args, GError **error)
{
  const char *name = member_str (args, "camera");
  gint64 from_us = json_object_get_int_member_with_default (args, "from_us", 0);
  gint64 to_us = json_object_get_int_member_with_default (args, "to_us", 0);
  if (to_us <= from_us || to_us - from_us > TIMELINE_MAX_RANGE_US) {
    invalid (error, "%s", "the range must be non-empty and at most 31 days");
    return NULL;
  }
  gint64 id = 0;
  if (!camera_id (d, name, &id, error))
    return NULL;
  g_autoptr (GArray) segs = nvr_catalog_timeline (d->catalog, id, from_us, to_us, error);
  if (segs == NULL)
    return NULL;
  g_autoptr (GArray) spans = nvr_timeline_spans ((NvrTimelineSegment *) segs->data, segs->len,
                                                 from_us, to_us, G_USEC_PER_SEC);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "camera");
  json_builder_add_string_value (b, name);
  json_builder_set_member_name (b, "spans");
  json_builder_begin_array (b);
  for (guint i = 0; i < spans->len; i++) {
    NvrTimelineSpan *sp = &g_array_index (spans, NvrTimelineSpan, i);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "start_us");
    json_builder_add_int_value (b, sp->start_us);
    json_builder_set_member_name (b, "end_us");
    json_builder_add_int_value (b, sp->end_us);
    json_builder_set_member_name (b, "recorded");
    json_builder_add_boolean_value (b, sp->recorded);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "segments");
  json_builder_add_int_value (b, segs->len);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* ---- devices and pairing (docs/design/auth.md) ---- */

#define PAIR_CAMERAS_MAX 256

/* Resolves a JSON array of active camera names to ids; an unknown name is an error. */
static GArray *
camera_ids_from_names (NvrDaemon *d, JsonObject *args, const char *member, GError **error)
{
  JsonNode *n = json_object_get_member (args, member);
  if (n == NULL || !JSON_NODE_HOLDS_ARRAY (n)) {
    invalid (error, "'%s' must be a list of camera names", member);
    return NULL;
  }
  JsonArray *arr = json_node_get_array (n);
  if (json_array_get_length (arr) > PAIR_CAMERAS_MAX) {
    invalid (error, "at most %d cameras", PAIR_CAMERAS_MAX);
    return NULL;
  }
  g_autoptr (GPtrArray) cams = nvr_catalog_camera_list (d->catalog, error);
  if (cams == NULL)
    return NULL;
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (guint i = 0; i < json_array_get_length (arr); i++) {
    JsonNode *e = json_array_get_element (arr, i);
    const char *name = json_node_get_value_type (e) == G_TYPE_STRING ? json_node_get_string (e)
                                                                     : NULL;
    gint64 id = 0;
    for (guint j = 0; name != NULL && j < cams->len && id == 0; j++)
      if (g_strcmp0 (((NvrCameraRow *) cams->pdata[j])->name, name) == 0)
        id = ((NvrCameraRow *) cams->pdata[j])->id;
    if (id == 0) {
      invalid (error, "no camera named '%s'", name ? name : "");
      return NULL;
    }
    g_array_append_val (ids, id);
  }
  return g_steal_pointer (&ids);
}

/* A device was revoked or its ACL changed: its live streams are re-authorized now. */
static void
device_changed (NvrDaemon *d, gint64 device_id)
{
  nvr_http_device_changed (d->http, device_id);
}

/* `nvr pair`: an invite; the code is shown once, to the administrator who asked. */
static JsonNode *
cmd_pair (NvrDaemon *d, JsonObject *args, GError **error)
{
  const char *name = member_str (args, "name");
  if (name == NULL) {
    invalid (error, "pair needs a device name");
    return NULL;
  }
  g_autoptr (GArray) ids = camera_ids_from_names (d, args, "cameras", error);
  if (ids == NULL)
    return NULL;
  gboolean admin = json_object_get_boolean_member_with_default (args, "admin", FALSE);
  JsonNode *ttl = json_object_get_member (args, "ttl_s");
  if (ttl != NULL && json_node_get_value_type (ttl) != G_TYPE_INT64) {
    invalid (error, "ttl_s must be a whole number of seconds");
    return NULL;
  }
  gint64 ttl_s = ttl ? json_node_get_int (ttl) : 0;
  g_autofree char *url = NULL;
  gint64 expires_us = 0;
  g_autofree char *code = nvr_pairing_invite_create (d->pairing, name, (gint64 *) ids->data,
                                                     ids->len, admin, ttl_s, g_get_real_time (),
                                                     &url, &expires_us, error);
  if (code == NULL)
    return NULL;
  nvr_camadmin_audit_invite (d->camadmin, &cli_actor, name, (gint64 *) (void *) ids->data,
                             ids->len, admin, expires_us, g_get_real_time ());
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
  json_builder_set_member_name (b, "fingerprint");
  g_autoptr (GError) fp_error = NULL;
  g_autofree char *fp = d->config->web_certificate
                            ? nvr_pairing_fingerprint (d->config->web_certificate, &fp_error)
                            : NULL;
  if (fp)
    json_builder_add_string_value (b, fp);
  else
    json_builder_add_null_value (b);
  if (fp_error != NULL) {
    g_warning ("Failed to read the certificate '%s': %s", d->config->web_certificate,
               fp_error->message);
    json_builder_set_member_name (b, "fingerprint_error");
    json_builder_add_string_value (b, fp_error->message);
  }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static JsonNode *
device_json (const NvrDeviceRow *dev, GPtrArray *cams)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_int_value (b, dev->id);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, dev->name);
  json_builder_set_member_name (b, "admin");
  json_builder_add_boolean_value (b, dev->is_admin);
  json_builder_set_member_name (b, "created_us");
  json_builder_add_int_value (b, dev->created_us);
  const char *times[] = { "revoked_us", "last_seen_us" };
  gint64 values[] = { dev->revoked_us, dev->last_seen_us };
  for (guint i = 0; i < G_N_ELEMENTS (times); i++) {
    json_builder_set_member_name (b, times[i]);
    if (values[i])
      json_builder_add_int_value (b, values[i]);
    else
      json_builder_add_null_value (b);
  }
  json_builder_set_member_name (b, "cameras");
  json_builder_begin_array (b);
  for (guint i = 0; i < dev->camera_ids->len; i++) {
    gint64 id = g_array_index (dev->camera_ids, gint64, i);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "id");
    json_builder_add_int_value (b, id);
    json_builder_set_member_name (b, "name");
    const char *cam_name = NULL;
    for (guint j = 0; j < cams->len && cam_name == NULL; j++)
      if (((NvrCameraRow *) cams->pdata[j])->id == id)
        cam_name = ((NvrCameraRow *) cams->pdata[j])->name;
    json_builder_add_string_value (b, cam_name ? cam_name : "");
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static JsonNode *
cmd_devices_list (NvrDaemon *d, GError **error)
{
  g_autoptr (GPtrArray) devs = nvr_catalog_device_list (d->catalog, error);
  g_autoptr (GPtrArray) cams = devs ? nvr_catalog_camera_list (d->catalog, error) : NULL;
  if (cams == NULL)
    return NULL;
  JsonArray *arr = json_array_new ();
  for (guint i = 0; i < devs->len; i++)
    json_array_add_element (arr, device_json (devs->pdata[i], cams));
  JsonNode *n = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (n, arr);
  return n;
}

/* "device": an id (number or decimal string) or a name. A name must pick one device: an
 * unrevoked one if any has it, else the only revoked one. */
static NvrDeviceRow *
device_from_args (NvrDaemon *d, JsonObject *args, GError **error)
{
  JsonNode *n = json_object_get_member (args, "device");
  const char *text = member_str (args, "device");
  gboolean digits = text != NULL && *text != '\0' && strspn (text, "0123456789") == strlen (text);
  if ((n != NULL && json_node_get_value_type (n) == G_TYPE_INT64) || digits) {
    gint64 id = digits ? g_ascii_strtoll (text, NULL, 10) : json_node_get_int (n);
    NvrDeviceRow *dev = id > 0 ? nvr_catalog_device_get (d->catalog, id, NULL) : NULL;
    if (dev == NULL)
      invalid (error, "no device with id %" G_GINT64_FORMAT, id);
    return dev;
  }
  if (text == NULL || *text == '\0') {
    invalid (error, "name a device by id or name");
    return NULL;
  }
  g_autoptr (GPtrArray) devs = nvr_catalog_device_list (d->catalog, error);
  if (devs == NULL)
    return NULL;
  int active = -1, revoked = -1;
  guint n_active = 0, n_revoked = 0;
  for (guint i = 0; i < devs->len; i++) {
    NvrDeviceRow *dev = devs->pdata[i];
    if (g_strcmp0 (dev->name, text) != 0)
      continue;
    if (dev->revoked_us == 0) {
      active = (int) i;
      n_active++;
    } else {
      revoked = (int) i;
      n_revoked++;
    }
  }
  if (n_active > 1 || (n_active == 0 && n_revoked > 1)) {
    invalid (error, "several devices are named '%s': use the id (nvr devices list)", text);
    return NULL;
  }
  int pick = active >= 0 ? active : revoked;
  if (pick < 0) {
    invalid (error, "no device named '%s'", text);
    return NULL;
  }
  return g_ptr_array_steal_index (devs, (guint) pick);
}

/* `nvr audit [--limit N] [--json]`: the audit trail, newest first. */
static JsonNode *
cmd_audit (NvrDaemon *d, JsonObject *args, GError **error)
{
  JsonNode *ln = json_object_get_member (args, "limit");
  JsonNode *bn = json_object_get_member (args, "before_id");
  if ((ln != NULL && json_node_get_value_type (ln) != G_TYPE_INT64) ||
      (bn != NULL && json_node_get_value_type (bn) != G_TYPE_INT64)) {
    invalid (error, "%s", "limit and before_id must be whole numbers");
    return NULL;
  }
  gint64 limit = ln ? json_node_get_int (ln) : NVR_AUDIT_LIMIT_DEFAULT;
  gint64 before_id = bn ? json_node_get_int (bn) : 0;
  if (limit < 1 || limit > NVR_AUDIT_LIMIT_MAX) {
    invalid (error, "the limit must be 1 to %d", NVR_AUDIT_LIMIT_MAX);
    return NULL;
  }
  g_autoptr (GPtrArray) rows = nvr_catalog_audit_list (d->catalog, before_id, (guint) limit,
                                                       error);
  return rows ? nvr_audit_list_json (rows, (guint) limit) : NULL;
}

static JsonNode *
cmd_devices_revoke (NvrDaemon *d, JsonObject *args, GError **error)
{
  g_autoptr (NvrDeviceRow) dev = device_from_args (d, args, error);
  if (dev == NULL || !nvr_catalog_device_revoke (d->catalog, dev->id, g_get_real_time (), FALSE,
                                                   error))
    return NULL;
  g_message ("Device %" G_GINT64_FORMAT " '%s' revoked by an administrator", dev->id, dev->name);
  device_changed (d, dev->id);
  nvr_camadmin_audit_device (d->camadmin, &cli_actor, "device.revoke", dev, NULL, 0,
                             g_get_real_time ());
  g_autoptr (NvrDeviceRow) now = nvr_catalog_device_get (d->catalog, dev->id, error);
  g_autoptr (GPtrArray) cams = now ? nvr_catalog_camera_list (d->catalog, error) : NULL;
  return cams ? device_json (now, cams) : NULL;
}

static JsonNode *
cmd_devices_cameras (NvrDaemon *d, JsonObject *args, GError **error)
{
  g_autoptr (NvrDeviceRow) dev = device_from_args (d, args, error);
  if (dev == NULL)
    return NULL;
  g_autoptr (GArray) ids = camera_ids_from_names (d, args, "cameras", error);
  if (ids == NULL || !nvr_catalog_device_set_cameras (d->catalog, dev->id, (gint64 *) ids->data,
                                                      ids->len, error))
    return NULL;
  g_message ("Device %" G_GINT64_FORMAT " '%s' may now see %u camera(s)", dev->id, dev->name,
             ids->len);
  device_changed (d, dev->id);
  nvr_camadmin_audit_device (d->camadmin, &cli_actor, "device.cameras", dev,
                             (gint64 *) (void *) ids->data, ids->len, g_get_real_time ());
  g_autoptr (NvrDeviceRow) now = nvr_catalog_device_get (d->catalog, dev->id, error);
  g_autoptr (GPtrArray) cams = now ? nvr_catalog_camera_list (d->catalog, error) : NULL;
  return cams ? device_json (now, cams) : NULL;
}

static JsonNode *
handle_admin (const char *command, JsonObject *args, GError **error, gpointer data)
{
  NvrDaemon *d = data;
  if (strcmp (command, "cameras.add") == 0)
    return cmd_cameras_add (d, args, error);
  if (strcmp (command, "cameras.list") == 0)
    return cmd_cameras_list (d, error);
  if (strcmp (command, "cameras.remove") == 0)
    return cmd_cameras_remove (d, args, error);
  if (strcmp (command, "cameras.reset-identity") == 0)
    return cmd_cameras_reset_identity (d, args, error);
  if (strcmp (command, "cameras.motion") == 0)
    return cmd_cameras_motion (d, args, error);
  if (strcmp (command, "cameras.recording") == 0)
    return cmd_cameras_recording (d, args, error);
  if (strcmp (command, "cameras.detection") == 0)
    return cmd_cameras_detection (d, args, error);
  if (strcmp (command, "status") == 0)
    return cmd_status (d, error);
  if (strcmp (command, "box") == 0)
    return cmd_box (d);
  if (strcmp (command, "timeline") == 0)
    return cmd_timeline (d, args, error);
  if (strcmp (command, "pair") == 0)
    return cmd_pair (d, args, error);
  if (strcmp (command, "devices.list") == 0)
    return cmd_devices_list (d, error);
  if (strcmp (command, "devices.revoke") == 0)
    return cmd_devices_revoke (d, args, error);
  if (strcmp (command, "devices.cameras") == 0)
    return cmd_devices_cameras (d, args, error);
  if (strcmp (command, "audit") == 0)
    return cmd_audit (d, args, error);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "unknown command '%s'", command);
  return NULL;
}

static void
on_probe_done (JsonNode *result, gpointer data)
{
  nvr_admin_reply (data, json_node_copy (result), NULL);
}

/* `nvr cameras test` and `nvr onvif ...`: answered when the probe process is done. */
static gboolean
handle_admin_async (const char *command, JsonObject *args, NvrAdminReply *reply, gpointer data)
{
  NvrDaemon *d = data;
  NvrProbeKind kind;
  const char *target = NULL;
  if (strcmp (command, "cameras.test") == 0) {
    kind = NVR_PROBE_TEST;
    target = json_object_get_string_member_with_default (args, "main_url", "");
  } else if (strcmp (command, "onvif.profiles") == 0) {
    kind = NVR_PROBE_ONVIF_PROFILES;
    target = json_object_get_string_member_with_default (args, "address", "");
  } else if (strcmp (command, "onvif.scan") == 0) {
    kind = NVR_PROBE_ONVIF_SCAN;
  } else {
    return FALSE;
  }
  g_autoptr (GError) error = NULL;
  if (!nvr_prober_start (d->prober, kind, target,
                         json_object_get_string_member_with_default (args, "user", ""),
                         json_object_get_string_member_with_default (args, "password", ""),
                         json_object_get_string_member_with_default (args, "transport", "auto"),
                         on_probe_done, reply, &error))
    nvr_admin_reply (reply, NULL, error);
  return TRUE;
}

static gboolean
on_signal (gpointer data)
{
  NvrDaemon *d = data;
  if (d->stop_mono_us == 0)
    d->stop_mono_us = g_get_monotonic_time ();
  g_message ("Shutting down");
  g_main_loop_quit (d->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
lock_storage (NvrDaemon *d, GError **error)
{
  g_autofree char *recordings = g_build_filename (d->config->storage_root, "recordings", NULL);
  if (g_mkdir_with_parents (recordings, 0750) != 0) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "Failed to create '%s': %s",
                 recordings, g_strerror (e));
    return FALSE;
  }
  g_autofree char *lock = g_build_filename (d->config->storage_root, ".lock", NULL);
  d->lock_fd = open (lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (d->lock_fd < 0 || flock (d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                 "Failed to lock '%s': %s (is another daemon using this storage root?)", lock,
                 g_strerror (e));
    return FALSE;
  }
  return TRUE;
}

/* [storage] mount (docs/design/storage.md "A disk of its own"): TRUE when it is unset or
 * listed in this process's mountinfo. Under systemd's PrivateMounts a disk mounted on the host
 * later still shows here (mounts propagate into the unit's namespace). */
static gboolean
storage_mounted (const NvrConfig *c)
{
  if (c->storage_mount == NULL)
    return TRUE;
  g_autofree char *info = NULL;
  if (!g_file_get_contents ("/proc/self/mountinfo", &info, NULL, NULL))
    return FALSE;
  g_autofree char *point = g_strdup (c->storage_mount);
  gsize n = strlen (point);
  while (n > 1 && point[n - 1] == '/')
    point[--n] = '\0';
  return nvr_paths_mountinfo_lists (info, point);
}

static gboolean
on_storage_check (gpointer data)
{
  NvrDaemon *d = data;
  if (storage_mounted (d->config))
    return G_SOURCE_CONTINUE;
  /* Workers would go on writing new segments into the directory under the mount point, on the
   * system disk: stop everything. The next start (systemd restarts the unit) waits for it. */
  g_warning ("Storage '%s' is no longer mounted: stopping, so that nothing is written to the "
             "disk underneath; recording resumes once it is mounted again and the daemon starts",
             d->config->storage_mount);
  d->exit_status = 1;
  if (d->stop_mono_us == 0)
    d->stop_mono_us = g_get_monotonic_time ();
  g_main_loop_quit (d->loop);
  return G_SOURCE_REMOVE;
}

static void notify_systemd (const char *socket_path, const char *state);

typedef struct {
  GMainLoop *loop;
  const NvrConfig *config;
  gboolean signalled;
} StorageWait;

static gboolean
on_storage_wait_tick (gpointer data)
{
  StorageWait *w = data;
  if (storage_mounted (w->config))
    g_main_loop_quit (w->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_storage_wait_signal (gpointer data)
{
  StorageWait *w = data;
  w->signalled = TRUE;
  g_main_loop_quit (w->loop);
  return G_SOURCE_CONTINUE;
}

/* Before anything touches the storage root: with [storage] mount set and not mounted, says so
 * once (log and systemd STATUS) and checks every second until it is, or until SIGTERM/SIGINT
 * (FALSE). Nothing is created meanwhile: the root's directories would land on the disk under
 * the mount point. */
static gboolean
wait_for_storage (const NvrConfig *c, const char *notify_socket)
{
  if (storage_mounted (c))
    return TRUE;
  g_warning ("Storage '%s' is not mounted ([storage] mount): waiting for it; nothing is "
             "recorded until it is (checked every second)", c->storage_mount);
  g_autofree char *state = g_strdup_printf ("READY=1\nSTATUS=Waiting for storage %s to be "
                                            "mounted", c->storage_mount);
  /* Started, in systemd's sense: a start that waits for a disk must not time out and loop. */
  notify_systemd (notify_socket, state);
  StorageWait w = { .loop = g_main_loop_new (NULL, FALSE), .config = c };
  guint tick = g_timeout_add_seconds (1, on_storage_wait_tick, &w);
  guint term = g_unix_signal_add (SIGTERM, on_storage_wait_signal, &w);
  guint intr = g_unix_signal_add (SIGINT, on_storage_wait_signal, &w);
  g_main_loop_run (w.loop);
  g_source_remove (tick);
  g_source_remove (term);
  g_source_remove (intr);
  g_main_loop_unref (w.loop);
  if (w.signalled)
    return FALSE;
  g_message ("Storage '%s' is mounted: starting", c->storage_mount);
  notify_systemd (notify_socket, "STATUS=");
  return TRUE;
}

/* systemd's readiness protocol (hearth.service is Type=notify): one datagram such as "READY=1"
 * to $NOTIFY_SOCKET, a path or, with a leading '@', an abstract name. No-op without one. */
static void
notify_systemd (const char *socket_path, const char *state)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  size_t n = socket_path ? strlen (socket_path) : 0;
  if (n == 0 || n >= sizeof sa.sun_path)
    return;
  memcpy (sa.sun_path, socket_path, n);
  if (sa.sun_path[0] == '@')
    sa.sun_path[0] = '\0';
  int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || sendto (fd, state, strlen (state), MSG_NOSIGNAL, (struct sockaddr *) &sa,
                        (socklen_t) (offsetof (struct sockaddr_un, sun_path) + n)) < 0)
    g_warning ("Failed to tell systemd '%s' at '%s': %s", state, socket_path, g_strerror (errno));
  if (fd >= 0)
    close (fd);
}


/* [web] origin = auto: the origins of the names and addresses the box has now (a later address
 * change needs a restart: docs/design/auth.md "Configuration"). */
static gboolean
derive_origins (NvrConfig *config, GError **error)
{
  g_autofree char *host = NULL;
  g_auto (GStrv) addrs = NULL;
  if (!nvr_hostinfo_read (&host, &addrs, error) ||
      !nvr_config_origins_derive (config, host, (const char *const *) addrs, error))
    return FALSE;
  g_autofree char *list = g_strjoinv (" ", config->web_origins);
  g_message ("[web] origin = auto: %s", list);
  return TRUE;
}

int
nvr_daemon_run (const char *config_path)
{
  /* Taken out of the environment while the process has one thread, so that no worker
   * inherits it (systemd would take a worker's message for the daemon's). */
  g_autofree char *notify_socket = g_strdup (g_getenv ("NOTIFY_SOCKET"));
  g_unsetenv ("NOTIFY_SOCKET");
  g_autoptr (GError) error = NULL;
  g_autofree char *db_path = NULL;
  g_autoptr (GPtrArray) cams = NULL;
  NvrDaemon d = { .lock_fd = -1, .started_us = g_get_real_time () };

  d.config = nvr_config_load (config_path, &error);
  if (d.config == NULL) {
    g_printerr ("nvr: %s\n", error->message);
    return 2;
  }
  if (d.config->web_origin_auto && !derive_origins (d.config, &error)) {
    g_printerr ("nvr: [web] origin = auto: %s\n", error->message);
    return 2;
  }
  signal (SIGPIPE, SIG_IGN);
  int status = 1;
  if (!wait_for_storage (d.config, notify_socket)) {
    status = 0;
    goto out;
  }
  if (!lock_storage (&d, &error))
    goto out;
  /* Bound now, answered once the main loop runs: from here on a client waits for the daemon
   * (through recovery, which can take seconds after a crash) instead of being refused by the
   * socket a killed daemon left behind. Only one daemon gets this far on a storage root. */
  d.admin = nvr_admin_listen (d.config->admin_socket, d.config->admin_group, handle_admin, &d,
                              &error);
  if (d.admin == NULL)
    goto out;
  d.prober = nvr_prober_new ();
  nvr_admin_set_async_handler (d.admin, handle_admin_async);
  db_path = g_build_filename (d.config->storage_root, "catalog.db", NULL);
  d.catalog = nvr_catalog_open (db_path, &error);
  if (d.catalog == NULL || !nvr_recover_at_startup (d.catalog, d.config->storage_root,
                                                    d.config->mqtt_prefix, &error))
    goto out;
  d.pairing = nvr_pairing_new (d.catalog, d.config);
  {
    /* Next to the catalog: the key belongs to this box's state, like the catalog itself. */
    g_autofree char *key_path = g_build_filename (d.config->storage_root, NVR_SIGNING_KEY_FILE,
                                                  NULL);
    gboolean created = FALSE;
    d.signer = nvr_signer_open (key_path, &created, &error);
    if (d.signer == NULL)
      goto out;
    char fp[NVR_SIGNING_FINGERPRINT_LEN + 1];
    nvr_signing_fingerprint (nvr_signer_public_key (d.signer), fp);
    g_message ("Box signing key %s: fingerprint %s", created ? "created" : "loaded", fp);
  }

  d.reaper = nvr_reaper_new (d.config, d.catalog);
  d.supervisor = nvr_supervisor_new (d.config, d.catalog);
  d.camadmin = nvr_camadmin_new (d.config, d.catalog, d.supervisor);
  /* MQTT connects in the background: an unreachable broker delays nothing below. */
  if (d.config->mqtt_host != NULL &&
      (d.mqtt = nvr_mqtt_new (d.config, d.catalog, d.supervisor, &error)) == NULL)
    goto out;
  nvr_camadmin_set_mqtt (d.camadmin, d.mqtt);
  d.health = nvr_health_new (d.config, d.catalog, d.supervisor, d.mqtt, d.started_us);
  cams = nvr_catalog_camera_list (d.catalog, &error);
  if (cams == NULL)
    goto out;
  for (guint i = 0; i < cams->len; i++)
    nvr_supervisor_add (d.supervisor, cams->pdata[i]);
  if (d.config->web_origin != NULL) {
    d.live = nvr_live_hub_new (d.supervisor);
    d.http = nvr_http_new (d.config, d.catalog, d.supervisor, d.live, d.pairing, &error);
    if (d.http == NULL)
      goto out;
    nvr_http_set_signer (d.http, d.signer);
    nvr_http_set_camadmin (d.http, d.camadmin);
    nvr_http_set_health (d.http, d.health);
    nvr_http_set_prober (d.http, d.prober);
  }

  nvr_admin_start (d.admin);

  d.loop = g_main_loop_new (NULL, FALSE);
  guint sig_term = g_unix_signal_add (SIGTERM, on_signal, &d);
  guint sig_int = g_unix_signal_add (SIGINT, on_signal, &d);
  guint storage_check = d.config->storage_mount != NULL
                            ? g_timeout_add_seconds (1, on_storage_check, &d) : 0;
  g_message ("Hearth daemon running: %u camera(s), storage '%s', admin socket '%s'", cams->len,
             d.config->storage_root, d.config->admin_socket);
  notify_systemd (notify_socket, "READY=1");
  g_main_loop_run (d.loop);
  notify_systemd (notify_socket, "STOPPING=1");
  g_source_remove (sig_term);
  g_source_remove (sig_int);
  if (storage_check != 0 && d.exit_status == 0)
    g_source_remove (storage_check);   /* (it removed itself when it stopped the daemon) */
  status = d.exit_status;

out:
  if (error != NULL)
    g_printerr ("nvr: %s\n", error->message);
  g_clear_pointer (&d.admin, nvr_admin_free);
  g_clear_pointer (&d.http, nvr_http_free);
  g_clear_pointer (&d.prober, nvr_prober_free);
  g_clear_pointer (&d.live, nvr_live_hub_free);
  /* The bridge outlives the workers' stop, so that the `end` of each active event and its
   * motion OFF are published before `available offline` (docs/design/mqtt.md "Stopping"). */
  if (d.mqtt != NULL)
    nvr_mqtt_stopping (d.mqtt);
  if (d.supervisor != NULL)
    nvr_supervisor_shutdown (d.supervisor, 3000);
  if (d.mqtt != NULL)
    nvr_mqtt_stop (d.mqtt, (d.stop_mono_us ? d.stop_mono_us : g_get_monotonic_time ()) +
                               STOP_MQTT_DRAIN_US);
  g_clear_pointer (&d.mqtt, nvr_mqtt_free);
  g_clear_pointer (&d.camadmin, nvr_camadmin_free);
  g_clear_pointer (&d.health, nvr_health_free);
  g_clear_pointer (&d.supervisor, nvr_supervisor_free);
  g_clear_pointer (&d.reaper, nvr_reaper_free);
  g_clear_pointer (&d.pairing, nvr_pairing_free);
  g_clear_pointer (&d.signer, nvr_signer_free);
  g_clear_pointer (&d.catalog, nvr_catalog_close);
  g_clear_pointer (&d.loop, g_main_loop_unref);
  g_clear_pointer (&d.config, nvr_config_free);
  if (d.lock_fd >= 0)
    close (d.lock_fd);
  return status;
}
