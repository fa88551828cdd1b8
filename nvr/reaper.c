/* reaper — the retention executor. Main loop, plus one GTask thread per unlink batch (never more
 * than one at a time). Order per pass: plan -> rows to garbage (one transaction) -> unlink files
 * (thread) -> forget garbage rows. A crash after the transaction leaves garbage rows that the
 * next start unlinks; no row ever names a deleted file. */
#define G_LOG_DOMAIN "nvr-reaper"

#include "reaper.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "retention.h"

struct _NvrReaper {
  const NvrConfig *config;
  NvrCatalog *catalog;
  guint timer;
  guint kick_source;
  gboolean busy;           /* an unlink batch is running */
  gboolean again;          /* run another pass as soon as the batch is done */
  gboolean warned_full;
  gboolean freeing;        /* set when freed while busy: the batch callback frees */
  gint64 last_free;        /* free bytes expected after the previous pass; -1 = none yet */
  gint64 growth[4];        /* bytes written between recent passes, newest first */
};

/* Keeps the largest recent growth between passes as the reserve for the next interval. */
static gint64
update_reserve (NvrReaper *r, gint64 free_now)
{
  if (r->last_free >= 0) {
    memmove (r->growth + 1, r->growth, sizeof r->growth - sizeof r->growth[0]);
    r->growth[0] = MAX (r->last_free - free_now, 0);
  }
  gint64 reserve = 0;
  for (guint i = 0; i < G_N_ELEMENTS (r->growth); i++)
    reserve = MAX (reserve, r->growth[i]);
  return reserve * 2;
}

static void run_pass (NvrReaper *r);

/* Unlinks @paths under @root and removes day directories left empty. Any thread. */
static void
unlink_paths (const char *root, GPtrArray *paths, guint *removed, guint *missing)
{
  for (guint i = 0; i < paths->len; i++) {
    g_autofree char *abs = g_build_filename (root, paths->pdata[i], NULL);
    if (g_unlink (abs) == 0) {
      (*removed)++;
    } else if (errno == ENOENT) {
      (*missing)++;
    } else {
      g_warning ("Failed to remove '%s': %s", abs, g_strerror (errno));
      continue;
    }
    g_autofree char *dir = g_path_get_dirname (abs);
    g_rmdir (dir);   /* fails harmlessly unless the day directory is now empty */
  }
}

gboolean
nvr_reaper_collect_garbage_sync (NvrCatalog *catalog, const char *storage_root, GError **error)
{
  for (;;) {
    g_autoptr (GPtrArray) paths = nvr_catalog_garbage_list (catalog, 1024, error);
    if (paths == NULL)
      return FALSE;
    if (paths->len == 0)
      return TRUE;
    guint removed = 0, missing = 0;
    unlink_paths (storage_root, paths, &removed, &missing);
    g_message ("Finished %u deletion(s) interrupted by a crash (%u file(s) already gone)",
               paths->len, missing);
    if (!nvr_catalog_garbage_done (catalog, paths, error))
      return FALSE;
  }
}

typedef struct {
  NvrReaper *reaper;
  char *root;
  GPtrArray *paths;
  guint removed, missing;
} Batch;

static void
batch_free (Batch *b)
{
  g_free (b->root);
  g_ptr_array_unref (b->paths);
  g_free (b);
}

static void
batch_thread (GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
  Batch *b = data;
  unlink_paths (b->root, b->paths, &b->removed, &b->missing);
  g_task_return_boolean (task, TRUE);
}

static void
batch_done (GObject *src, GAsyncResult *res, gpointer data)
{
  Batch *b = g_task_get_task_data (G_TASK (res));
  NvrReaper *r = b->reaper;
  r->busy = FALSE;
  if (r->freeing)
    return;
  g_autoptr (GError) error = NULL;
  if (!nvr_catalog_garbage_done (r->catalog, b->paths, &error))
    g_warning ("Failed to forget deleted segments (they are retried at the next start): %s",
               error->message);
  if (r->again) {
    r->again = FALSE;
    run_pass (r);
  }
}

static gboolean
filesystem_figures (const char *root, gint64 *total, gint64 *free_bytes)
{
  struct statvfs st;
  if (statvfs (root, &st) != 0) {
    g_warning ("Failed to read free space of '%s': %s", root, g_strerror (errno));
    return FALSE;
  }
  *total = (gint64) st.f_blocks * (gint64) st.f_frsize;
  *free_bytes = (gint64) st.f_bavail * (gint64) st.f_frsize;
  return TRUE;
}

static void
run_pass (NvrReaper *r)
{
  if (r->busy) {
    r->again = TRUE;
    return;
  }
  const NvrConfig *cfg = r->config;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) windows = nvr_catalog_retention_windows (r->catalog, NVR_REAPER_WINDOW,
      (gint64) cfg->event_days * 24 * 3600 * G_USEC_PER_SEC, &error);
  if (windows == NULL) {
    g_warning ("Retention skipped: %s", error->message);
    return;
  }
  NvrRetentionGlobal global = {
    .max_bytes = cfg->max_bytes,
    .min_free_bytes = cfg->min_free_bytes,
    .high_water_percent = cfg->high_water_percent,
  };
  if (filesystem_figures (cfg->storage_root, &global.fs_total_bytes, &global.fs_free_bytes))
    global.reserve_bytes = update_reserve (r, global.fs_free_bytes);
  else
    global.fs_total_bytes = 0;

  g_autofree NvrRetentionCamera *cams = g_new0 (NvrRetentionCamera, MAX (windows->len, 1));
  for (guint i = 0; i < windows->len; i++) {
    NvrRetentionWindow *w = windows->pdata[i];
    cams[i] = (NvrRetentionCamera) {
      .camera_id = w->camera_id,
      .max_age_us = nvr_retention_max_age_us (w->retain_days, cfg->max_age_days),
      .max_bytes = w->retain_bytes,
      .total_bytes = w->total_bytes,
      .oldest = (const NvrRetentionSegment *) w->oldest->data,
      .n_oldest = w->oldest->len,
    };
  }
  g_autoptr (NvrRetentionPlan) plan =
      nvr_retention_plan (cams, windows->len, &global, g_get_real_time ());

  if (plan->bytes_short > 0 && !r->warned_full) {
    g_warning ("Storage '%s' is short of %" G_GINT64_FORMAT " bytes and nothing more can be "
               "deleted: recording may fail until space is freed", cfg->storage_root,
               plan->bytes_short);
    r->warned_full = TRUE;
  } else if (plan->bytes_short == 0) {
    r->warned_full = FALSE;
  }
  r->last_free = global.fs_free_bytes + plan->bytes_freed;
  if (plan->victims->len == 0)
    return;

  g_autoptr (GArray) ids = g_array_sized_new (FALSE, FALSE, sizeof (gint64), plan->victims->len);
  guint counts[4] = { 0 };
  guint events = 0;
  for (guint i = 0; i < plan->victims->len; i++) {
    NvrRetentionVictim *v = &g_array_index (plan->victims, NvrRetentionVictim, i);
    g_array_append_val (ids, v->segment_id);
    counts[v->reason]++;
    events += v->was_protected;
  }
  GPtrArray *paths = nvr_catalog_segments_to_garbage (r->catalog, (gint64 *) ids->data, ids->len,
                                                      &error);
  if (paths == NULL) {
    g_warning ("Retention could not delete segments: %s", error->message);
    return;
  }
  g_message ("Retention: deleting %u segment(s), %.1f MiB (age %u, camera size %u, total size %u, "
             "disk space %u)%s", paths->len, plan->bytes_freed / 1048576.0,
             counts[NVR_RETENTION_AGE], counts[NVR_RETENTION_CAMERA_BYTES],
             counts[NVR_RETENTION_TOTAL_BYTES], counts[NVR_RETENTION_SPACE],
             events ? "; event footage given up for space" : "");

  Batch *b = g_new0 (Batch, 1);
  b->reaper = r;
  b->root = g_strdup (cfg->storage_root);
  b->paths = paths;
  r->busy = TRUE;
  r->again = plan->window_exhausted;
  g_autoptr (GTask) task = g_task_new (NULL, NULL, batch_done, NULL);
  g_task_set_task_data (task, b, (GDestroyNotify) batch_free);
  g_task_run_in_thread (task, batch_thread);
}

static gboolean
on_timer (gpointer data)
{
  run_pass (data);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_kick (gpointer data)
{
  NvrReaper *r = data;
  r->kick_source = 0;
  run_pass (r);
  return G_SOURCE_REMOVE;
}

NvrReaper *
nvr_reaper_new (const NvrConfig *config, NvrCatalog *catalog)
{
  NvrReaper *r = g_new0 (NvrReaper, 1);
  r->config = config;
  r->catalog = catalog;
  r->last_free = -1;
  r->timer = g_timeout_add_seconds (config->interval_seconds, on_timer, r);
  r->kick_source = g_idle_add (on_kick, r);   /* a first pass right after start-up */
  return r;
}

void
nvr_reaper_free (NvrReaper *reaper)
{
  if (reaper == NULL)
    return;
  g_source_remove (reaper->timer);
  if (reaper->kick_source)
    g_source_remove (reaper->kick_source);
  /* Let a running batch finish so its files are not left half-forgotten. */
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  reaper->again = FALSE;
  while (reaper->busy && g_get_monotonic_time () < deadline)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (5000);
  if (reaper->busy) {
    /* The batch callback still references us; leak the struct rather than crash. */
    reaper->freeing = TRUE;
    return;
  }
  g_free (reaper);
}
