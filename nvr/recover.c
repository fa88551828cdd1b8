/* recover — crash recovery of segments (storage.md §Recovery). Main loop only; the blocking
 * variants run at start-up before any worker exists. Order of every removal: file first, then
 * row, so a crash in between leaves a row whose file is gone, which the next start settles. */
#define G_LOG_DOMAIN "nvr-recover"

#include "recover.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "events.h"
#include "paths.h"
#include "reaper.h"

/* The probe's line with a fragment index: ~50 bytes a fragment; 2 h at 0.5 s is ~0.8 MB. */
#define PROBE_MAX_OUTPUT (4u * 1024u * 1024u)
#define PROBE_MAX_FRAGMENTS 100000

void
nvr_probe_info_clear (NvrProbeInfo *info)
{
  g_clear_pointer (&info->fragments, g_array_unref);
}

/* The probe's "index" array: [[offset,size,start_us,duration_us,key],...], each checked. */
static gboolean
parse_index (JsonObject *o, NvrProbeInfo *info, const char *abs_path, GError **error)
{
  JsonNode *n = json_object_get_member (o, "index");
  if (n == NULL)
    return TRUE;   /* an older probe: no index */
  if (!JSON_NODE_HOLDS_ARRAY (n))
    goto bad;
  JsonArray *arr = json_node_get_array (n);
  guint len = json_array_get_length (arr);
  if (len > PROBE_MAX_FRAGMENTS)
    goto bad;
  info->init_bytes = json_object_get_int_member_with_default (o, "init_bytes", 0);
  g_autoptr (GArray) frags = g_array_sized_new (FALSE, FALSE, sizeof (NvrFragment), len);
  gint64 next = info->init_bytes, t = 0;
  for (guint i = 0; i < len; i++) {
    JsonNode *e = json_array_get_element (arr, i);
    if (!JSON_NODE_HOLDS_ARRAY (e) || json_array_get_length (json_node_get_array (e)) != 5)
      goto bad;
    JsonArray *a = json_node_get_array (e);
    NvrFragment f = {
      .offset = json_array_get_int_element (a, 0),
      .size = json_array_get_int_element (a, 1),
      .start_us = json_array_get_int_element (a, 2),
      .duration_us = json_array_get_int_element (a, 3),
      .keyframe = json_array_get_int_element (a, 4) != 0,
    };
    if (f.offset < next || f.size <= 0 || f.offset + f.size > info->bytes || f.start_us < t ||
        f.duration_us <= 0)
      goto bad;
    next = f.offset + f.size;
    t = f.start_us + f.duration_us;
    g_array_append_val (frags, f);
  }
  if (len > 0 && info->init_bytes <= 0)
    goto bad;
  info->fragments = g_steal_pointer (&frags);
  return TRUE;

bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Probe of '%s' printed a bad index",
               abs_path);
  return FALSE;
}

static GSubprocess *
spawn_probe (const char *abs_path, GError **error)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", error);
  if (self == NULL)
    return NULL;
  return g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                           error, self, "camera-worker", "--probe", abs_path, NULL);
}

/* Parses the probe's one JSON line. Exit status 1 = no playable video. */
static gboolean
parse_probe (GSubprocess *proc, const char *out, const char *abs_path, NvrProbeInfo *info,
             GError **error)
{
  memset (info, 0, sizeof *info);
  if (!g_subprocess_get_if_exited (proc)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Probe of '%s' was killed", abs_path);
    return FALSE;
  }
  if (g_subprocess_get_exit_status (proc) == 1)
    return TRUE;   /* nothing playable */
  if (g_subprocess_get_exit_status (proc) != 0 || out == NULL || strlen (out) > PROBE_MAX_OUTPUT) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Probe of '%s' failed (status %d)",
                 abs_path, g_subprocess_get_exit_status (proc));
    return FALSE;
  }
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, out, -1, error))
    return FALSE;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Probe of '%s' printed no object",
                 abs_path);
    return FALSE;
  }
  JsonObject *o = json_node_get_object (root);
  info->complete = json_object_get_boolean_member_with_default (o, "complete", FALSE);
  info->duration_us = json_object_get_int_member_with_default (o, "duration_us", 0);
  info->bytes = json_object_get_int_member_with_default (o, "bytes", 0);
  info->playable = info->duration_us > 0;
  return parse_index (o, info, abs_path, error);
}

gboolean
nvr_recover_probe (const char *abs_path, NvrProbeInfo *out, GError **error)
{
  if (!g_file_test (abs_path, G_FILE_TEST_EXISTS)) {
    memset (out, 0, sizeof *out);
    return TRUE;
  }
  g_autoptr (GSubprocess) proc = spawn_probe (abs_path, error);
  if (proc == NULL)
    return FALSE;
  g_autofree char *stdout_buf = NULL;
  if (!g_subprocess_communicate_utf8 (proc, NULL, NULL, &stdout_buf, NULL, error))
    return FALSE;
  return parse_probe (proc, stdout_buf, abs_path, out, error);
}

typedef struct {
  GSubprocess *proc;
  char *abs_path;
} ProbeTask;

static void
probe_task_free (ProbeTask *t)
{
  g_clear_object (&t->proc);
  g_free (t->abs_path);
  g_free (t);
}

static void
probe_done (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GTask) task = data;
  ProbeTask *t = g_task_get_task_data (task);
  g_autofree char *out = NULL;
  GError *error = NULL;
  if (!g_subprocess_communicate_utf8_finish (t->proc, res, &out, NULL, &error)) {
    g_task_return_error (task, error);
    return;
  }
  NvrProbeInfo *info = g_new0 (NvrProbeInfo, 1);
  if (!parse_probe (t->proc, out, t->abs_path, info, &error)) {
    nvr_probe_info_clear (info);
    g_free (info);
    g_task_return_error (task, error);
    return;
  }
  g_task_return_pointer (task, info, g_free);
}

void
nvr_recover_probe_async (const char *abs_path, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  if (!g_file_test (abs_path, G_FILE_TEST_EXISTS)) {
    g_task_return_pointer (task, g_new0 (NvrProbeInfo, 1), g_free);
    g_object_unref (task);
    return;
  }
  GError *error = NULL;
  ProbeTask *t = g_new0 (ProbeTask, 1);
  t->abs_path = g_strdup (abs_path);
  g_task_set_task_data (task, t, (GDestroyNotify) probe_task_free);
  t->proc = spawn_probe (abs_path, &error);
  if (t->proc == NULL) {
    g_task_return_error (task, error);
    g_object_unref (task);
    return;
  }
  g_subprocess_communicate_utf8_async (t->proc, NULL, cancellable, probe_done, task);
}

gboolean
nvr_recover_probe_finish (GAsyncResult *result, NvrProbeInfo *out, GError **error)
{
  g_autofree NvrProbeInfo *info = g_task_propagate_pointer (G_TASK (result), error);
  if (info == NULL)
    return FALSE;
  *out = *info;
  return TRUE;
}

static gboolean
remove_file (const char *abs_path, GError **error)
{
  if (g_unlink (abs_path) != 0 && errno != ENOENT) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "Failed to remove '%s': %s",
                 abs_path, g_strerror (e));
    return FALSE;
  }
  return TRUE;
}

/* Completes the row of @path and replaces its fragment index with the probe's, in one
 * transaction: a crash in between leaves the row 'recording', to be settled again. */
static gboolean
close_indexed (NvrCatalog *catalog, gint64 camera_id, const char *path, gint64 start_us,
               const NvrProbeInfo *info, GError **error)
{
  if (!nvr_catalog_begin (catalog, error))
    return FALSE;
  gint64 id = 0;
  gboolean ok = nvr_catalog_segment_close (catalog, camera_id, path, start_us,
                                           start_us + info->duration_us, info->duration_us,
                                           info->bytes, error) &&
                nvr_catalog_segment_id (catalog, camera_id, path, &id, error);
  if (ok && info->fragments != NULL && info->fragments->len > 0)
    ok = nvr_catalog_segment_set_index (catalog, id, info->init_bytes,
                                        (const NvrFragment *) (void *) info->fragments->data,
                                        info->fragments->len, error);
  if (!ok) {
    nvr_catalog_commit (catalog, NULL);   /* what did succeed is consistent on its own */
    return FALSE;
  }
  return nvr_catalog_commit (catalog, error);
}

gboolean
nvr_recover_settle_segment (NvrCatalog *catalog, const char *storage_root,
                            const NvrSegmentRow *row, const NvrProbeInfo *info, GError **error)
{
  g_autofree char *abs_path = g_build_filename (storage_root, row->path, NULL);
  if (!info->playable) {
    g_message ("Segment %" G_GINT64_FORMAT " '%s' holds no playable video: removing it",
               row->id, row->path);
    if (!remove_file (abs_path, error))
      return FALSE;
    return nvr_catalog_segment_delete (catalog, row->id, error);
  }
  g_message ("Segment %" G_GINT64_FORMAT " '%s' recovered: %.3f s, %" G_GINT64_FORMAT " bytes, "
             "%u fragments indexed", row->id, row->path, info->duration_us / 1e6, info->bytes,
             info->fragments ? info->fragments->len : 0);
  return close_indexed (catalog, row->camera_id, row->path, row->start_us, info, error);
}

/* Start time of an orphan file, from its name "<day>/<HHMMSS>-<seq>.mp4". */
static gboolean
orphan_start_us (const char *day, const char *file, gint64 *out)
{
  int y, mo, d, h, mi, s;
  if (sscanf (day, "%4d-%2d-%2d", &y, &mo, &d) != 3 || sscanf (file, "%2d%2d%2d-", &h, &mi, &s) != 3)
    return FALSE;
  g_autoptr (GDateTime) t = g_date_time_new_utc (y, mo, d, h, mi, s);
  if (t == NULL)
    return FALSE;
  *out = g_date_time_to_unix (t) * G_USEC_PER_SEC;
  return TRUE;
}

static gint
compare_desc (gconstpointer a, gconstpointer b)
{
  return -g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/* Lists the entries of @dir sorted newest first (names sort by time). */
static GPtrArray *
list_sorted (const char *dir)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  if (d == NULL)
    return g_steal_pointer (&out);
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (out, g_strdup (name));
  g_ptr_array_sort (out, compare_desc);
  return g_steal_pointer (&out);
}

/* Files only appear in the day directory current when a segment opened, so a crash can only
 * leave row-less files in the newest two day directories of a camera. */
static gboolean
adopt_orphans (NvrCatalog *catalog, const char *storage_root, const NvrCameraRow *cam,
               GError **error)
{
  g_autofree char *cam_dir = nvr_paths_camera_dir (cam->id,
                                                   cam->dir_name ? cam->dir_name : cam->name);
  g_autofree char *abs_cam_dir = g_build_filename (storage_root, cam_dir, NULL);
  g_autoptr (GPtrArray) days = list_sorted (abs_cam_dir);
  for (guint i = 0, n = 0; i < days->len && n < 2; i++) {
    const char *day = days->pdata[i];
    if (!g_ascii_isdigit (day[0]))
      continue;   /* not a day directory: "events" holds motion thumbnails */
    n++;
    g_autofree char *abs_day = g_build_filename (abs_cam_dir, day, NULL);
    g_autoptr (GPtrArray) files = list_sorted (abs_day);
    for (guint j = 0; j < files->len; j++) {
      const char *file = files->pdata[j];
      if (!g_str_has_suffix (file, ".mp4"))
        continue;
      g_autofree char *rel = g_build_filename (cam_dir, day, file, NULL);
      gboolean exists = FALSE;
      if (!nvr_catalog_segment_exists (catalog, rel, &exists, error))
        return FALSE;
      if (exists)
        continue;
      g_autofree char *abs_path = g_build_filename (storage_root, rel, NULL);
      g_auto (NvrProbeInfo) info = { 0 };
      gint64 start_us;
      if (!nvr_recover_probe (abs_path, &info, error))
        return FALSE;
      if (!info.playable || !orphan_start_us (day, file, &start_us)) {
        g_message ("File '%s' has no catalog row and no playable video: removing it", rel);
        if (!remove_file (abs_path, error))
          return FALSE;
        continue;
      }
      g_message ("File '%s' had no catalog row: adopted (%.3f s)", rel, info.duration_us / 1e6);
      if (!close_indexed (catalog, cam->id, rel, start_us, &info, error))
        return FALSE;
    }
  }
  return TRUE;
}

/* The zone names of an event row's JSON array, NULL-terminated (empty on malformed text). */
static char **
zones_strv (const char *json)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (json != NULL && json_parser_load_from_data (parser, json, -1, NULL)) {
    JsonNode *root = json_parser_get_root (parser);
    if (root != NULL && JSON_NODE_HOLDS_ARRAY (root)) {
      JsonArray *arr = json_node_get_array (root);
      for (guint i = 0; i < json_array_get_length (arr); i++) {
        JsonNode *n = json_array_get_element (arr, i);
        if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING)
          g_strv_builder_add (b, json_node_get_string (n));
      }
    }
  }
  return g_strv_builder_end (b);
}

/* Step 3 (storage.md "Events"): events a crash left 'active' end at the last motion the daemon
 * heard of; their workers are gone, so nothing else will end them. Each end is announced like a
 * live one: an "end" message on `<prefix>/events` is queued in the outbox in the same
 * transaction, so a home automation that saw "new" also sees "end" (docs/design/mqtt.md). */
static gboolean
recover_events (NvrCatalog *catalog, const char *mqtt_prefix, GError **error)
{
  g_autoptr (GPtrArray) active = nvr_catalog_events_active (catalog, error);
  if (active == NULL)
    return FALSE;
  if (active->len == 0)
    return TRUE;
  g_autoptr (GPtrArray) cams = nvr_catalog_camera_list (catalog, error);
  if (cams == NULL)
    return FALSE;
  g_autofree char *topic = g_strconcat (mqtt_prefix ? mqtt_prefix : "hearth", "/events", NULL);
  if (!nvr_catalog_begin (catalog, error))
    return FALSE;
  for (guint i = 0; i < active->len; i++) {
    const NvrEventRow *e = active->pdata[i];
    const char *name = NULL;
    for (guint j = 0; j < cams->len && name == NULL; j++)
      if (((NvrCameraRow *) cams->pdata[j])->id == e->camera_id)
        name = ((NvrCameraRow *) cams->pdata[j])->name;
    g_auto (GStrv) zones = zones_strv (e->zones);
    NvrEventInfo before = { .id = e->id, .camera = name ? name : "", .start_us = e->start_us,
                            .end_us = 0, .zones = (const char *const *) zones,
                            .score = e->peak_score, .area = e->peak_area,
                            .has_thumbnail = e->thumbnail != NULL };
    NvrEventInfo after = before;
    after.end_us = e->last_us;
    g_autofree char *payload = nvr_events_payload ("end", &before, &after);
    if (!nvr_catalog_event_end (catalog, e->id, e->last_us, error) ||
        !nvr_catalog_outbox_add (catalog, topic, payload, FALSE, e->last_us, NULL, error)) {
      nvr_catalog_commit (catalog, NULL);
      return FALSE;
    }
  }
  if (!nvr_catalog_commit (catalog, error))
    return FALSE;
  g_message ("Ended %u motion event(s) left active by a crash", active->len);
  return TRUE;
}

gboolean
nvr_recover_at_startup (NvrCatalog *catalog, const char *storage_root, const char *mqtt_prefix,
                        GError **error)
{
  /* Step 0: finish deletions a crash interrupted, so no file of theirs is adopted below. */
  if (!nvr_reaper_collect_garbage_sync (catalog, storage_root, error))
    return FALSE;
  g_autoptr (GPtrArray) open_rows = nvr_catalog_segments_recording (catalog, error);
  if (open_rows == NULL)
    return FALSE;
  for (guint i = 0; i < open_rows->len; i++) {
    const NvrSegmentRow *row = open_rows->pdata[i];
    g_autofree char *abs_path = g_build_filename (storage_root, row->path, NULL);
    g_auto (NvrProbeInfo) info = { 0 };
    if (!nvr_recover_probe (abs_path, &info, error))
      return FALSE;
    if (!nvr_recover_settle_segment (catalog, storage_root, row, &info, error))
      return FALSE;
  }
  g_autoptr (GPtrArray) cams = nvr_catalog_camera_list (catalog, error);
  if (cams == NULL)
    return FALSE;
  for (guint i = 0; i < cams->len; i++)
    if (!adopt_orphans (catalog, storage_root, cams->pdata[i], error))
      return FALSE;
  if (open_rows->len > 0)
    g_message ("Recovered %u segment(s) left open by a crash", open_rows->len);
  return recover_events (catalog, mqtt_prefix, error);
}
