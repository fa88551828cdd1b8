/* health — the health report's figures (pure) and its builder (reads the catalog, the
 * supervisor's snapshot, statvfs). Main loop only; one GROUP BY and one statvfs per report. */
#define G_LOG_DOMAIN "nvr-health"

#include "health.h"

#include <sys/statvfs.h>

#define DAY_US ((gint64) 86400 * G_USEC_PER_SEC)
#define HOUR_US ((gint64) 3600 * G_USEC_PER_SEC)

void
nvr_health_rate (gint64 bytes, gint64 oldest_start_us, gint64 now_us, double *days_kept,
                 gint64 *bytes_per_day)
{
  *days_kept = 0;
  *bytes_per_day = -1;
  if (bytes <= 0 || oldest_start_us <= 0 || now_us <= oldest_start_us)
    return;
  gint64 span_us = now_us - oldest_start_us;
  *days_kept = (double) span_us / (double) DAY_US;
  if (span_us >= HOUR_US)
    *bytes_per_day = (gint64) ((double) bytes / *days_kept);
}

double
nvr_health_days_at_rate (gint64 footage_bytes, gint64 usable_free_bytes, gint64 bytes_per_day,
                         guint max_age_days)
{
  if (bytes_per_day <= 0)
    return -1;
  double days = (double) (MAX (footage_bytes, 0) + MAX (usable_free_bytes, 0)) /
                (double) bytes_per_day;
  if (max_age_days > 0 && days > max_age_days)
    days = max_age_days;
  return days;
}

struct _NvrHealth {
  const NvrConfig *config;
  NvrCatalog *catalog;
  NvrSupervisor *sup;
  NvrMqtt *mqtt;
  gint64 started_us;
  GHashTable *baseline;     /* camera id (gint64*) -> reconnects at the start of the day */
  guint midnight_source;
};

static gint64
next_local_midnight_us (gint64 now_us)
{
  g_autoptr (GDateTime) now = g_date_time_new_from_unix_local (now_us / G_USEC_PER_SEC);
  g_autoptr (GDateTime) today = g_date_time_new_local (g_date_time_get_year (now),
                                                       g_date_time_get_month (now),
                                                       g_date_time_get_day_of_month (now), 0, 0, 0);
  g_autoptr (GDateTime) next = g_date_time_add_days (today, 1);
  return g_date_time_to_unix (next) * G_USEC_PER_SEC;
}

/* Takes the current reconnect counts as the day's baseline. */
static void
rebaseline (NvrHealth *h)
{
  g_hash_table_remove_all (h->baseline);
  g_autoptr (GPtrArray) st = nvr_supervisor_status (h->sup);
  for (guint i = 0; i < st->len; i++) {
    const NvrCameraStatus *s = st->pdata[i];
    gint64 *key = g_new (gint64, 1);
    *key = s->camera_id;
    g_hash_table_insert (h->baseline, key, GUINT_TO_POINTER (s->reconnects));
  }
}

static gboolean on_midnight (gpointer data);

static void
schedule_midnight (NvrHealth *h)
{
  gint64 now_us = g_get_real_time ();
  gint64 wait_s = (next_local_midnight_us (now_us) - now_us) / G_USEC_PER_SEC + 1;
  h->midnight_source = g_timeout_add_seconds ((guint) CLAMP (wait_s, 1, 86400 + 3600),
                                              on_midnight, h);
}

static gboolean
on_midnight (gpointer data)
{
  NvrHealth *h = data;
  rebaseline (h);
  schedule_midnight (h);
  return G_SOURCE_REMOVE;
}

NvrHealth *
nvr_health_new (const NvrConfig *config, NvrCatalog *catalog, NvrSupervisor *sup, NvrMqtt *mqtt,
                gint64 started_us)
{
  NvrHealth *h = g_new0 (NvrHealth, 1);
  h->config = config;
  h->catalog = catalog;
  h->sup = sup;
  h->mqtt = mqtt;
  h->started_us = started_us;
  /* Empty at start: counts since the daemon started (a camera's counters start at 0 then). */
  h->baseline = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  schedule_midnight (h);
  return h;
}

void
nvr_health_free (NvrHealth *h)
{
  if (h == NULL)
    return;
  if (h->midnight_source)
    g_source_remove (h->midnight_source);
  g_hash_table_unref (h->baseline);
  g_free (h);
}

static void
add_int (JsonBuilder *b, const char *name, gint64 v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, v);
}

JsonNode *
nvr_health_json (NvrHealth *h, gint64 now_us, GError **error)
{
  const NvrConfig *cfg = h->config;
  g_autoptr (GArray) usage = nvr_catalog_camera_usage (h->catalog, error);
  if (usage == NULL)
    return NULL;
  gint64 backlog = 0;
  if (!nvr_catalog_outbox_count (h->catalog, &backlog, error))
    return NULL;
  g_autoptr (GPtrArray) cams = nvr_catalog_camera_list (h->catalog, error);
  if (cams == NULL)
    return NULL;
  g_autoptr (GPtrArray) st = nvr_supervisor_status (h->sup);
  struct statvfs vfs;
  gboolean have_fs = statvfs (cfg->storage_root, &vfs) == 0;
  gint64 total = have_fs ? (gint64) vfs.f_blocks * (gint64) vfs.f_frsize : -1;
  gint64 free_bytes = have_fs ? (gint64) vfs.f_bavail * (gint64) vfs.f_frsize : -1;

  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "version");
  json_builder_add_string_value (b, NVR_VERSION);
  add_int (b, "uptime_s", (now_us - h->started_us) / G_USEC_PER_SEC);
  json_builder_set_member_name (b, "disk");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "path");
  json_builder_add_string_value (b, cfg->storage_root);
  add_int (b, "total_bytes", total);
  add_int (b, "free_bytes", free_bytes);
  json_builder_end_object (b);

  gint64 footage = 0, rate_sum = 0;
  json_builder_set_member_name (b, "cameras");
  json_builder_begin_array (b);
  for (guint i = 0; i < st->len; i++) {
    const NvrCameraStatus *s = st->pdata[i];
    const NvrCameraUsage *u = NULL;
    for (guint k = 0; k < usage->len && u == NULL; k++)
      if (g_array_index (usage, NvrCameraUsage, k).camera_id == s->camera_id)
        u = &g_array_index (usage, NvrCameraUsage, k);
    const NvrCameraRow *row = NULL;
    for (guint k = 0; k < cams->len && row == NULL; k++)
      if (((NvrCameraRow *) cams->pdata[k])->id == s->camera_id)
        row = cams->pdata[k];
    double days_kept;
    gint64 per_day;
    nvr_health_rate (u ? u->bytes : 0, u ? u->oldest_start_us : 0, now_us, &days_kept, &per_day);
    footage += u ? u->bytes : 0;
    rate_sum += per_day > 0 ? per_day : 0;
    gpointer base = NULL;
    guint since = g_hash_table_lookup_extended (h->baseline, &s->camera_id, NULL, &base)
                      ? GPOINTER_TO_UINT (base) : 0;
    json_builder_begin_object (b);
    add_int (b, "id", s->camera_id);
    json_builder_set_member_name (b, "name");
    json_builder_add_string_value (b, s->name);
    json_builder_set_member_name (b, "state");
    json_builder_add_string_value (b, s->state);
    add_int (b, "bytes", u ? u->bytes : 0);
    json_builder_set_member_name (b, "days_kept");
    json_builder_add_double_value (b, days_kept);
    json_builder_set_member_name (b, "bytes_per_day");
    if (per_day >= 0)
      json_builder_add_int_value (b, per_day);
    else
      json_builder_add_null_value (b);
    add_int (b, "reconnects_today", s->reconnects >= since ? s->reconnects - since
                                                          : s->reconnects);
    /* The reason of a state that is an error (offline, identity-mismatch, stopped), else null:
     * the supervisor keeps the reason of the current state only. */
    gboolean failing = g_strcmp0 (s->state, "offline") == 0 ||
                       g_strcmp0 (s->state, "identity-mismatch") == 0 ||
                       g_strcmp0 (s->state, "stopped") == 0;
    json_builder_set_member_name (b, "last_error");
    if (failing && s->reason != NULL && *s->reason)
      json_builder_add_string_value (b, s->reason);
    else
      json_builder_add_null_value (b);
    json_builder_set_member_name (b, "retention_days");
    if (row != NULL && row->retain_days > 0)
      json_builder_add_int_value (b, row->retain_days);
    else
      json_builder_add_null_value (b);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);

  json_builder_set_member_name (b, "retention");
  json_builder_begin_object (b);
  add_int (b, "max_age_days", cfg->max_age_days);
  add_int (b, "max_bytes", cfg->max_bytes);
  add_int (b, "min_free_bytes", cfg->min_free_bytes);
  add_int (b, "high_water_percent", cfg->high_water_percent);
  add_int (b, "event_days", cfg->event_days);
  /* Free space retention lets recording use: above min_free and under the high-water mark. */
  gint64 usable = -1;
  if (have_fs) {
    usable = free_bytes - cfg->min_free_bytes;
    if (cfg->high_water_percent > 0)
      usable = MIN (usable, total * cfg->high_water_percent / 100 - (total - free_bytes));
  }
  if (cfg->max_bytes > 0)
    usable = MIN (usable, cfg->max_bytes - footage);
  double days = nvr_health_days_at_rate (footage, usable, rate_sum, cfg->max_age_days);
  json_builder_set_member_name (b, "days_at_current_rate");
  if (days >= 0)
    json_builder_add_double_value (b, days);
  else
    json_builder_add_null_value (b);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "mqtt");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "state");
  json_builder_add_string_value (b, h->mqtt == NULL ? "off"
                                    : nvr_mqtt_connected (h->mqtt) ? "connected"
                                                                   : "disconnected");
  add_int (b, "outbox_backlog", backlog);
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
