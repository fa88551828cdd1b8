/* camadmin — camera administration shared by the admin socket and the web API, and the audit
 * trail (docs/design/admin.md). Main loop only. Every change and its audit entry are one catalog
 * transaction; the supervisor hears of the change only once it is committed.
 * Invariant: no message built here names a password or a URL's user information. */
#define G_LOG_DOMAIN "nvr-camadmin"

#include "camadmin.h"

#include <gio/gio.h>
#include <string.h>

#include "audit.h"
#include "events.h"
#include "motion.h"
#include "paths.h"

G_DEFINE_QUARK (nvr-camadmin-error-quark, nvr_camadmin_error)

#define CREDENTIAL_MAX 256
#define URL_MAX 1024
#define RETENTION_DAYS_MAX 3650

struct _NvrCamAdmin {
  const NvrConfig *config;
  NvrCatalog *catalog;
  NvrSupervisor *sup;
  NvrMqtt *mqtt;          /* NULL without a broker */
};

guint
nvr_camadmin_http_status (const GError *error)
{
  if (error == NULL || error->domain != NVR_CAMADMIN_ERROR)
    return 500;
  switch ((NvrCamAdminError) error->code) {
  case NVR_CAMADMIN_ERROR_INVALID: return 400;
  case NVR_CAMADMIN_ERROR_EXISTS: return 409;
  case NVR_CAMADMIN_ERROR_NOT_FOUND: return 404;
  case NVR_CAMADMIN_ERROR_FAILED: default: return 500;
  }
}

static gboolean invalid (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, NVR_CAMADMIN_ERROR, NVR_CAMADMIN_ERROR_INVALID, msg);
  return FALSE;
}

/* A catalog error as this module's (its message carries no secret: the catalog names cameras
 * by name or id only). */
static gboolean
from_catalog (GError **error, GError *cerr)
{
  NvrCamAdminError code = NVR_CAMADMIN_ERROR_FAILED;
  if (g_error_matches (cerr, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_EXISTS))
    code = NVR_CAMADMIN_ERROR_EXISTS;
  else if (g_error_matches (cerr, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND))
    code = NVR_CAMADMIN_ERROR_NOT_FOUND;
  else if (g_error_matches (cerr, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID))
    code = NVR_CAMADMIN_ERROR_INVALID;
  g_set_error_literal (error, NVR_CAMADMIN_ERROR, code, cerr->message);
  g_error_free (cerr);
  return FALSE;
}

NvrCamAdmin *
nvr_camadmin_new (const NvrConfig *config, NvrCatalog *catalog, NvrSupervisor *sup)
{
  NvrCamAdmin *ca = g_new0 (NvrCamAdmin, 1);
  ca->config = config;
  ca->catalog = catalog;
  ca->sup = sup;
  return ca;
}

void
nvr_camadmin_free (NvrCamAdmin *ca)
{
  g_free (ca);
}

void
nvr_camadmin_set_mqtt (NvrCamAdmin *ca, NvrMqtt *mqtt)
{
  ca->mqtt = mqtt;
}

static NvrCameraRow *
row_copy (const NvrCameraRow *r)
{
  NvrCameraRow *c = g_new0 (NvrCameraRow, 1);
  *c = *r;
  c->name = g_strdup (r->name);
  c->main_url = g_strdup (r->main_url);
  c->sub_url = g_strdup (r->sub_url);
  c->username = g_strdup (r->username ? r->username : "");
  c->password = g_strdup (r->password ? r->password : "");
  c->transport = g_strdup (r->transport ? r->transport : "default");
  c->dir_name = g_strdup (r->dir_name);
  return c;
}

static NvrCameraRow *
find (NvrCamAdmin *ca, gint64 camera_id, const char *name, GError **error)
{
  GError *cerr = NULL;
  g_autoptr (GPtrArray) cams = nvr_catalog_camera_list (ca->catalog, &cerr);
  if (cams == NULL) {
    from_catalog (error, cerr);
    return NULL;
  }
  for (guint i = 0; i < cams->len; i++) {
    NvrCameraRow *r = cams->pdata[i];
    if ((name == NULL && r->id == camera_id) || (name != NULL && g_strcmp0 (r->name, name) == 0))
      return g_ptr_array_steal_index (cams, i);
  }
  if (name != NULL)
    g_set_error (error, NVR_CAMADMIN_ERROR, NVR_CAMADMIN_ERROR_NOT_FOUND,
                 "no camera named '%s'", name);
  else
    g_set_error (error, NVR_CAMADMIN_ERROR, NVR_CAMADMIN_ERROR_NOT_FOUND,
                 "no camera with id %" G_GINT64_FORMAT, camera_id);
  return NULL;
}

NvrCameraRow *
nvr_camadmin_get (NvrCamAdmin *ca, gint64 camera_id, GError **error)
{
  return find (ca, camera_id, NULL, error);
}

NvrCameraRow *
nvr_camadmin_get_by_name (NvrCamAdmin *ca, const char *name, GError **error)
{
  return find (ca, 0, name ? name : "", error);
}

/* Camera URLs: rtsp(s)://host[:port]/path, credentials never inside (they would then be in
 * every answer and log that shows the URL). The URL itself is never quoted back. */
static gboolean
check_url (const char *what, const char *url, GError **error)
{
  if (strlen (url) > URL_MAX)
    return invalid (error, "%s is longer than %d characters", what, URL_MAX);
  g_autoptr (GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || (g_strcmp0 (g_uri_get_scheme (uri), "rtsp") != 0 &&
                      g_strcmp0 (g_uri_get_scheme (uri), "rtsps") != 0) ||
      g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0')
    return invalid (error, "%s must look like rtsp://host[:port]/path", what);
  if (g_uri_get_userinfo (uri) != NULL)
    return invalid (error, "%s must not contain credentials: put the user and password in "
                    "their own fields", what);
  return TRUE;
}

/* Applies the members @s gives to @row. */
static void
apply (NvrCameraRow *row, const NvrCameraSettings *s)
{
  if (s->given & NVR_CAMSET_NAME) {
    g_free (row->name);
    row->name = g_strdup (s->name);
  }
  if (s->given & NVR_CAMSET_MAIN_URL) {
    g_free (row->main_url);
    row->main_url = g_strdup (s->main_url);
  }
  if (s->given & NVR_CAMSET_SUB_URL) {
    g_free (row->sub_url);
    row->sub_url = s->sub_url && *s->sub_url ? g_strdup (s->sub_url) : NULL;
  }
  if (s->given & NVR_CAMSET_USER) {
    g_free (row->username);
    row->username = g_strdup (s->user ? s->user : "");
  }
  if (s->given & NVR_CAMSET_PASSWORD) {
    g_free (row->password);
    row->password = g_strdup (s->password ? s->password : "");
  }
  if (s->given & NVR_CAMSET_TRANSPORT) {
    g_free (row->transport);
    row->transport = g_strdup (s->transport ? s->transport : "default");
  }
  if (s->given & NVR_CAMSET_AUDIO)
    row->audio_off = !s->audio;
  if (s->given & NVR_CAMSET_RETENTION)
    row->retain_days = s->retention_days;
}

/* The rules of `nvr cameras add`, for a camera's whole settings. */
static gboolean
validate (const NvrCameraRow *row, GError **error)
{
  if (!nvr_paths_camera_name_valid (row->name))
    return invalid (error, "camera name '%s' must be 1-32 characters of a-z, 0-9, '_' and '-'",
                    row->name ? row->name : "");
  if (row->main_url == NULL || *row->main_url == '\0')
    return invalid (error, "a main URL is required");
  if (!check_url ("the main URL", row->main_url, error) ||
      (row->sub_url != NULL && !check_url ("the sub-stream URL", row->sub_url, error)))
    return FALSE;
  NvrTransport t;
  if (strcmp (row->transport, "default") != 0 && !nvr_transport_from_string (row->transport, &t))
    return invalid (error, "transport must be one of auto, tcp, udp");
  if (*row->password && !*row->username)
    return invalid (error, "a password needs a user name");
  if (strlen (row->username) > CREDENTIAL_MAX || strlen (row->password) > CREDENTIAL_MAX)
    return invalid (error, "user name and password are limited to %d bytes", CREDENTIAL_MAX);
  if (row->retain_days < 0 || row->retain_days > RETENTION_DAYS_MAX)
    return invalid (error, "retention days must be 1 to %d, or none", RETENTION_DAYS_MAX);
  return TRUE;
}

static gboolean
audit_add (NvrCamAdmin *ca, const NvrActor *actor, const char *action, gint64 camera_id,
           gint64 device_id, const char *target, const char *details, gint64 now_us,
           GError **cerr)
{
  g_autofree char *who = nvr_audit_actor (actor->device_id, actor->device_name);
  NvrAuditRow row = {
    .time_us = now_us,
    .actor_device_id = actor->device_id,
    .actor = who,
    .action = (char *) action,
    .target = (char *) target,
    .camera_id = camera_id,
    .device_id = device_id,
    .details = (char *) (details ? details : "{}"),
  };
  return nvr_catalog_audit_add (ca->catalog, &row, NULL, cerr);
}

gboolean
nvr_camadmin_audit (NvrCamAdmin *ca, const NvrActor *actor, const char *action,
                    gint64 camera_id, gint64 device_id, const char *target, const char *details,
                    gint64 now_us, GError **error)
{
  GError *cerr = NULL;
  if (audit_add (ca, actor, action, camera_id, device_id, target, details, now_us, &cerr))
    return TRUE;
  g_warning ("Failed to record '%s' in the audit trail: %s", action, cerr->message);
  return from_catalog (error, cerr);
}

/* Ends a transaction begun with nvr_catalog_begin: commits if @ok, else rolls back and turns
 * @cerr into @error. */
static gboolean
finish (NvrCamAdmin *ca, gboolean ok, GError *cerr, GError **error)
{
  if (ok && nvr_catalog_commit (ca->catalog, &cerr))
    return TRUE;
  if (ok)
    return from_catalog (error, cerr);   /* commit failed: it rolled back */
  nvr_catalog_rollback (ca->catalog);
  return from_catalog (error, cerr);
}

NvrCameraRow *
nvr_camadmin_add (NvrCamAdmin *ca, const NvrCameraSettings *settings, const NvrActor *actor,
                  gint64 now_us, GError **error)
{
  g_autoptr (NvrCameraRow) row = g_new0 (NvrCameraRow, 1);
  row->username = g_strdup ("");
  row->password = g_strdup ("");
  row->transport = g_strdup ("default");
  apply (row, settings);
  if (!validate (row, error))
    return NULL;
  GError *cerr = NULL;
  if (!nvr_catalog_begin (ca->catalog, &cerr)) {
    from_catalog (error, cerr);
    return NULL;
  }
  gboolean ok = nvr_catalog_camera_add (ca->catalog, row, now_us, &row->id, &cerr) &&
                (actor->device_id <= 0 ||
                 nvr_catalog_device_grant_camera (ca->catalog, actor->device_id, row->id, &cerr));
  if (ok) {
    g_autofree char *target = nvr_audit_camera_target (row->id, row->name);
    g_autofree char *details = nvr_audit_camera_details (NULL, row);
    ok = audit_add (ca, actor, "camera.add", row->id, 0, target, details, now_us, &cerr);
  }
  if (!finish (ca, ok, cerr, error))
    return NULL;
  g_autofree char *who = nvr_audit_actor (actor->device_id, actor->device_name);
  g_message ("Camera '%s' added (id %" G_GINT64_FORMAT ") by %s", row->name, row->id, who);
  NvrCameraRow *now = nvr_camadmin_get (ca, row->id, error);
  if (now != NULL)
    nvr_supervisor_add (ca->sup, now);
  return now;
}

NvrCameraRow *
nvr_camadmin_edit (NvrCamAdmin *ca, gint64 camera_id, const NvrCameraSettings *settings,
                   const NvrActor *actor, gint64 now_us, gboolean *restarted, GError **error)
{
  if (restarted != NULL)
    *restarted = FALSE;
  g_autoptr (NvrCameraRow) before = nvr_camadmin_get (ca, camera_id, error);
  if (before == NULL)
    return NULL;
  g_autoptr (NvrCameraRow) after = row_copy (before);
  apply (after, settings);
  if (!validate (after, error))
    return NULL;
  g_autofree char *details = nvr_audit_camera_details (before, after);
  if (strcmp (details, "{}") == 0)
    return g_steal_pointer (&after);   /* nothing changed: nothing stored, nothing restarted */
  GError *cerr = NULL;
  if (!nvr_catalog_begin (ca->catalog, &cerr)) {
    from_catalog (error, cerr);
    return NULL;
  }
  g_autofree char *target = nvr_audit_camera_target (camera_id, after->name);
  gboolean ok = nvr_catalog_camera_update (ca->catalog, after, &cerr) &&
                audit_add (ca, actor, "camera.edit", camera_id, 0, target, details, now_us,
                           &cerr);
  if (!finish (ca, ok, cerr, error))
    return NULL;
  /* The log names what changed; the values (a user name among them) are in the audit. */
  g_autofree char *who = nvr_audit_actor (actor->device_id, actor->device_name);
  g_autoptr (JsonParser) parser = json_parser_new ();
  GString *what = g_string_new (NULL);
  if (json_parser_load_from_data (parser, details, -1, NULL)) {
    g_autoptr (GList) members = json_object_get_members (
        json_node_get_object (json_parser_get_root (parser)));
    for (GList *l = members; l != NULL; l = l->next)
      g_string_append_printf (what, "%s%s", what->len ? ", " : "", (const char *) l->data);
  }
  g_message ("Camera %" G_GINT64_FORMAT " '%s' changed by %s: %s", camera_id, after->name, who,
             what->str);
  g_string_free (what, TRUE);
  NvrCameraRow *now = nvr_camadmin_get (ca, camera_id, error);
  if (now == NULL)
    return NULL;
  gboolean r = nvr_supervisor_update (ca->sup, now);
  if (restarted != NULL)
    *restarted = r;
  if (ca->mqtt != NULL && g_strcmp0 (before->name, now->name) != 0)
    nvr_mqtt_camera_removed (ca->mqtt, camera_id, before->name);   /* its old topics */
  return now;
}

gboolean
nvr_camadmin_remove (NvrCamAdmin *ca, gint64 camera_id, const NvrActor *actor, gint64 now_us,
                     GError **error)
{
  g_autoptr (NvrCameraRow) row = nvr_camadmin_get (ca, camera_id, error);
  if (row == NULL)
    return FALSE;
  GError *cerr = NULL;
  if (!nvr_catalog_begin (ca->catalog, &cerr))
    return from_catalog (error, cerr);
  g_autofree char *target = nvr_audit_camera_target (camera_id, row->name);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, row->name);
  json_builder_set_member_name (b, "recordings");
  json_builder_add_string_value (b, "kept until retention deletes them");
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *details = json_to_string (root, FALSE);
  gboolean ok = nvr_catalog_camera_remove (ca->catalog, row->name, now_us, &cerr) &&
                audit_add (ca, actor, "camera.remove", camera_id, 0, target, details, now_us,
                           &cerr);
  if (!finish (ca, ok, cerr, error))
    return FALSE;
  g_autofree char *who = nvr_audit_actor (actor->device_id, actor->device_name);
  g_message ("Camera '%s' removed by %s; its recordings stay until retention deletes them",
             row->name, who);
  nvr_supervisor_remove (ca->sup, camera_id);
  if (ca->mqtt != NULL)
    nvr_mqtt_camera_removed (ca->mqtt, camera_id, row->name);
  return TRUE;
}

/* Parses the texts into the masks (@zones FALSE) or zones of @ms, replacing them. */
static gboolean
parse_polygons (GPtrArray *texts, gboolean zones, NvrMotionSettings *ms, GError **error)
{
  guint max = zones ? NVR_MOTION_MAX_ZONES : NVR_MOTION_MAX_MASKS;
  if (texts->len > max)
    return invalid (error, "at most %u %s", max, zones ? "zones" : "masks");
  NvrMotionPolygon *polys = zones ? ms->zones : ms->masks;
  for (guint i = 0; i < texts->len; i++) {
    const char *text = texts->pdata[i];
    memset (&polys[i], 0, sizeof polys[i]);
    if (text == NULL)
      return invalid (error, "%s %u is not a string", zones ? "zone" : "mask", i + 1);
    if (zones) {
      const char *eq = strchr (text, '=');
      if (eq == NULL || eq == text || (gsize) (eq - text) >= NVR_MOTION_NAME_MAX)
        return invalid (error, "zone %u must be NAME=\"x,y x,y x,y ...\" with a 1-31 character "
                        "name", i + 1);
      memcpy (polys[i].name, text, (gsize) (eq - text));
      text = eq + 1;
    }
    g_autoptr (GError) perr = NULL;
    if (!nvr_events_polygon_parse (text, &polys[i], &perr))
      return invalid (error, "%s %u: %s", zones ? "zone" : "mask", i + 1, perr->message);
  }
  if (zones)
    ms->n_zones = texts->len;
  else
    ms->n_masks = texts->len;
  return TRUE;
}

static GPtrArray *
polygon_texts (const NvrMotionPolygon *polys, guint n, gboolean zones)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (out, nvr_events_polygon_to_text (&polys[i], zones));
  return out;
}

/* The camera's stored masks and zones in @ms. */
static gboolean
load_motion (NvrCamAdmin *ca, gint64 camera_id, NvrMotionSettings *ms, GError **error)
{
  g_autofree char *masks = NULL, *zones = NULL;
  GError *cerr = NULL;
  if (!nvr_catalog_camera_motion_get (ca->catalog, camera_id, &masks, &zones, &cerr))
    return from_catalog (error, cerr);
  if (!nvr_events_polygons_from_json (masks, FALSE, ms, &cerr) ||
      !nvr_events_polygons_from_json (zones, TRUE, ms, &cerr)) {
    g_set_error (error, NVR_CAMADMIN_ERROR, NVR_CAMADMIN_ERROR_FAILED,
                 "the stored masks of camera %" G_GINT64_FORMAT " are unreadable: %s",
                 camera_id, cerr->message);
    g_error_free (cerr);
    return FALSE;
  }
  return TRUE;
}

gboolean
nvr_camadmin_motion (NvrCamAdmin *ca, gint64 camera_id, GPtrArray *masks, GPtrArray *zones,
                     gboolean clear, const NvrActor *actor, gint64 now_us, char **masks_json,
                     char **zones_json, GPtrArray **mask_texts, GPtrArray **zone_texts,
                     GError **error)
{
  g_autoptr (NvrCameraRow) row = nvr_camadmin_get (ca, camera_id, error);
  if (row == NULL)
    return FALSE;
  NvrMotionSettings ms;
  nvr_motion_settings_init (&ms);
  if (!clear && !load_motion (ca, camera_id, &ms, error))
    return FALSE;
  if ((masks != NULL && !parse_polygons (masks, FALSE, &ms, error)) ||
      (zones != NULL && !parse_polygons (zones, TRUE, &ms, error)))
    return FALSE;
  g_autoptr (GError) verr = NULL;
  if (!nvr_motion_settings_validate (&ms, &verr))
    return invalid (error, "%s", verr->message);
  g_autofree char *mj = ms.n_masks ? nvr_events_polygons_to_json (ms.masks, ms.n_masks)
                                   : g_strdup ("");
  g_autofree char *zj = ms.n_zones ? nvr_events_polygons_to_json (ms.zones, ms.n_zones)
                                   : g_strdup ("");
  if (clear || masks != NULL || zones != NULL) {
    GError *cerr = NULL;
    if (!nvr_catalog_begin (ca->catalog, &cerr))
      return from_catalog (error, cerr);
    /* The audit entry says how many masks and which zones: the points are in the catalog. */
    g_autoptr (JsonBuilder) b = json_builder_new ();
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "masks");
    json_builder_add_int_value (b, ms.n_masks);
    json_builder_set_member_name (b, "zones");
    json_builder_begin_array (b);
    for (guint i = 0; i < ms.n_zones; i++)
      json_builder_add_string_value (b, ms.zones[i].name);
    json_builder_end_array (b);
    json_builder_end_object (b);
    g_autoptr (JsonNode) root = json_builder_get_root (b);
    g_autofree char *details = json_to_string (root, FALSE);
    g_autofree char *target = nvr_audit_camera_target (camera_id, row->name);
    gboolean ok = nvr_catalog_camera_motion_set (ca->catalog, row->name, mj, zj, NULL, &cerr) &&
                  audit_add (ca, actor, "camera.motion", camera_id, 0, target, details, now_us,
                             &cerr);
    if (!finish (ca, ok, cerr, error))
      return FALSE;
    g_message ("Camera '%s': motion masks/zones set (%u mask(s), %u zone(s))", row->name,
               ms.n_masks, ms.n_zones);
    nvr_supervisor_motion_settings_changed (ca->sup, camera_id);
  }
  if (masks_json != NULL)
    *masks_json = g_steal_pointer (&mj);
  if (zones_json != NULL)
    *zones_json = g_steal_pointer (&zj);
  if (mask_texts != NULL)
    *mask_texts = polygon_texts (ms.masks, ms.n_masks, FALSE);
  if (zone_texts != NULL)
    *zone_texts = polygon_texts (ms.zones, ms.n_zones, TRUE);
  return TRUE;
}

static void
add_texts (JsonBuilder *b, const char *member, GPtrArray *texts)
{
  json_builder_set_member_name (b, member);
  json_builder_begin_array (b);
  for (guint i = 0; texts != NULL && i < texts->len; i++)
    json_builder_add_string_value (b, texts->pdata[i]);
  json_builder_end_array (b);
}

JsonNode *
nvr_camadmin_camera_json (NvrCamAdmin *ca, const NvrCameraRow *r)
{
  gboolean recording = r->paused_by == NVR_PAUSE_NONE, detect = TRUE;
  nvr_supervisor_get_switches (ca->sup, r->id, &recording, &detect);
  NvrMotionSettings ms;
  nvr_motion_settings_init (&ms);
  g_autoptr (GError) merr = NULL;
  if (!load_motion (ca, r->id, &ms, &merr)) {
    g_warning ("Failed to read the motion masks of camera '%s': %s", r->name, merr->message);
    ms.n_masks = ms.n_zones = 0;
  }
  g_autoptr (GPtrArray) masks = polygon_texts (ms.masks, ms.n_masks, FALSE);
  g_autoptr (GPtrArray) zones = polygon_texts (ms.zones, ms.n_zones, TRUE);
  gboolean transport_default = g_strcmp0 (r->transport, "default") == 0;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_int_value (b, r->id);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, r->name);
  json_builder_set_member_name (b, "main_url");
  json_builder_add_string_value (b, r->main_url);
  json_builder_set_member_name (b, "sub_url");
  if (r->sub_url != NULL && *r->sub_url)
    json_builder_add_string_value (b, r->sub_url);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "user");
  if (r->username != NULL && *r->username)
    json_builder_add_string_value (b, r->username);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "password_set");
  json_builder_add_boolean_value (b, r->password != NULL && *r->password);
  /* "default" is shown as what it means now; transport_default says it follows the config. */
  json_builder_set_member_name (b, "transport");
  json_builder_add_string_value (b, transport_default
                                        ? nvr_transport_to_string (ca->config->transport)
                                        : r->transport);
  json_builder_set_member_name (b, "transport_default");
  json_builder_add_boolean_value (b, transport_default);
  json_builder_set_member_name (b, "audio");
  json_builder_add_boolean_value (b, !r->audio_off);
  json_builder_set_member_name (b, "retention_days");
  if (r->retain_days > 0)
    json_builder_add_int_value (b, r->retain_days);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "recording");
  json_builder_add_boolean_value (b, recording);
  json_builder_set_member_name (b, "detection");
  json_builder_add_boolean_value (b, detect);
  add_texts (b, "masks", masks);
  add_texts (b, "zones", zones);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static char *
builder_text (JsonBuilder *b)
{
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static void
add_ids (JsonBuilder *b, const char *member, const gint64 *ids, guint n)
{
  json_builder_set_member_name (b, member);
  json_builder_begin_array (b);
  for (guint i = 0; i < n; i++)
    json_builder_add_int_value (b, ids[i]);
  json_builder_end_array (b);
}

void
nvr_camadmin_audit_invite (NvrCamAdmin *ca, const NvrActor *actor, const char *name,
                           const gint64 *camera_ids, guint n, gboolean admin, gint64 expires_us,
                           gint64 now_us)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name);
  add_ids (b, "cameras", camera_ids, n);
  json_builder_set_member_name (b, "admin");
  json_builder_add_boolean_value (b, admin);
  json_builder_set_member_name (b, "expires_us");
  json_builder_add_int_value (b, expires_us);
  json_builder_end_object (b);
  g_autofree char *details = builder_text (b);
  g_autofree char *target = g_strdup_printf ("invite '%s'", name);
  nvr_camadmin_audit (ca, actor, "invite.create", 0, 0, target, details, now_us, NULL);
}

void
nvr_camadmin_audit_device (NvrCamAdmin *ca, const NvrActor *actor, const char *action,
                           const NvrDeviceRow *dev, const gint64 *to, guint n_to, gint64 now_us)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  const gint64 *from = dev->camera_ids ? (const gint64 *) (void *) dev->camera_ids->data : NULL;
  guint n_from = dev->camera_ids ? dev->camera_ids->len : 0;
  if (strcmp (action, "device.cameras") == 0) {
    json_builder_set_member_name (b, "cameras");
    json_builder_begin_object (b);
    add_ids (b, "from", from, n_from);
    add_ids (b, "to", to, n_to);
    json_builder_end_object (b);
  } else if (strcmp (action, "device.pair") == 0) {
    add_ids (b, "cameras", from, n_from);
    json_builder_set_member_name (b, "admin");
    json_builder_add_boolean_value (b, dev->is_admin);
  }
  json_builder_end_object (b);
  g_autofree char *details = builder_text (b);
  g_autofree char *target = nvr_audit_device_target (dev->id, dev->name);
  nvr_camadmin_audit (ca, actor, action, 0, dev->id, target, details, now_us, NULL);
}

gboolean
nvr_camadmin_set_detection (NvrCamAdmin *ca, gint64 camera_id, gboolean on,
                            const NvrActor *actor, gint64 now_us, GError **error)
{
  g_autoptr (NvrCameraRow) row = nvr_camadmin_get (ca, camera_id, error);
  if (row == NULL)
    return FALSE;
  if (!nvr_supervisor_set_detect (ca->sup, camera_id, on)) {
    g_set_error (error, NVR_CAMADMIN_ERROR, NVR_CAMADMIN_ERROR_FAILED,
                 "could not switch the detection of camera '%s' (see the daemon's log)",
                 row->name);
    return FALSE;
  }
  g_autofree char *target = nvr_audit_camera_target (camera_id, row->name);
  return nvr_camadmin_audit (ca, actor, "camera.detection", camera_id, 0, target,
                             on ? "{\"on\":true}" : "{\"on\":false}", now_us, error);
}
