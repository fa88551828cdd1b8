/* retention — the pure retention planner. Any thread; no I/O, no clock.
 * Input windows are oldest-first per camera; the plan never names a segment twice and never a
 * segment outside the windows. Space needs are computed after the bytes freed by earlier rules. */
#include "retention.h"

typedef struct {
  const NvrRetentionCamera *cam;
  gboolean *gone;
  gint64 freed;
} CamState;

void
nvr_retention_plan_free (NvrRetentionPlan *plan)
{
  if (plan == NULL)
    return;
  g_array_unref (plan->victims);
  g_free (plan);
}

const char *
nvr_retention_reason_to_string (NvrRetentionReason reason)
{
  switch (reason) {
  case NVR_RETENTION_AGE: return "age";
  case NVR_RETENTION_CAMERA_BYTES: return "camera size limit";
  case NVR_RETENTION_TOTAL_BYTES: return "total size limit";
  case NVR_RETENTION_SPACE: return "disk space";
  }
  return "?";
}

static gboolean
is_protected (const NvrRetentionSegment *s, gint64 now_us)
{
  return s->keep_until_us != 0 && now_us < s->keep_until_us;
}

static void
take (NvrRetentionPlan *plan, CamState *cs, guint j, NvrRetentionReason reason, gint64 now_us)
{
  const NvrRetentionSegment *s = &cs->cam->oldest[j];
  NvrRetentionVictim v = {
    .segment_id = s->id,
    .camera_id = cs->cam->camera_id,
    .bytes = s->bytes,
    .reason = reason,
    .was_protected = is_protected (s, now_us),
  };
  g_array_append_val (plan->victims, v);
  cs->gone[j] = TRUE;
  cs->freed += s->bytes;
  plan->bytes_freed += s->bytes;
}

/* The oldest candidate across cameras not yet taken, matching @protected_ok; FALSE if none. */
static gboolean
oldest_candidate (CamState *cs, guint n, gboolean protected_ok, gint64 now_us, guint *out_cam,
                  guint *out_j)
{
  gboolean found = FALSE;
  gint64 best = G_MAXINT64;
  for (guint c = 0; c < n; c++) {
    for (guint j = 0; j < cs[c].cam->n_oldest; j++) {
      const NvrRetentionSegment *s = &cs[c].cam->oldest[j];
      if (cs[c].gone[j] || (!protected_ok && is_protected (s, now_us)))
        continue;
      if (s->start_us < best) {
        best = s->start_us;
        *out_cam = c;
        *out_j = j;
        found = TRUE;
      }
      break;   /* windows are oldest first: the first eligible one is this camera's oldest */
    }
  }
  return found;
}

static gboolean
any_window_used_up (CamState *cs, guint n)
{
  for (guint c = 0; c < n; c++) {
    if (cs[c].cam->n_oldest == 0)
      continue;
    gboolean all = TRUE;
    for (guint j = 0; j < cs[c].cam->n_oldest && all; j++)
      all = cs[c].gone[j];
    if (all)
      return TRUE;
  }
  return FALSE;
}

/* Bytes the filesystem still needs freed, given what the plan frees already. */
static gint64
space_needed (const NvrRetentionGlobal *g, gint64 freed)
{
  if (g->fs_total_bytes <= 0)
    return 0;
  gint64 free_after = g->fs_free_bytes + freed - MAX (g->reserve_bytes, 0);
  gint64 need = 0;
  if (g->min_free_bytes > 0)
    need = MAX (need, g->min_free_bytes - free_after);
  if (g->high_water_percent > 0) {
    gint64 limit = g->fs_total_bytes / 100 * g->high_water_percent;
    need = MAX (need, (g->fs_total_bytes - free_after) - limit);
  }
  return MAX (need, 0);
}

NvrRetentionPlan *
nvr_retention_plan (const NvrRetentionCamera *cameras, guint n_cameras,
                    const NvrRetentionGlobal *global, gint64 now_us)
{
  NvrRetentionPlan *plan = g_new0 (NvrRetentionPlan, 1);
  plan->victims = g_array_new (FALSE, FALSE, sizeof (NvrRetentionVictim));
  g_autofree CamState *cs = g_new0 (CamState, MAX (n_cameras, 1));
  gboolean unmet = FALSE;
  gint64 total = 0;

  for (guint c = 0; c < n_cameras; c++) {
    cs[c].cam = &cameras[c];
    cs[c].gone = g_new0 (gboolean, MAX (cameras[c].n_oldest, 1));
    total += cameras[c].total_bytes;
  }

  /* Per camera: age, then size. */
  for (guint c = 0; c < n_cameras; c++) {
    const NvrRetentionCamera *cam = cs[c].cam;
    if (cam->max_age_us > 0) {
      gint64 cutoff = now_us - cam->max_age_us;
      for (guint j = 0; j < cam->n_oldest; j++) {
        const NvrRetentionSegment *s = &cam->oldest[j];
        if (s->start_us >= cutoff)
          break;
        if (s->end_us <= cutoff && !is_protected (s, now_us))
          take (plan, &cs[c], j, NVR_RETENTION_AGE, now_us);
      }
      /* The whole window was too old: there may be more beyond it. */
      if (cam->n_oldest > 0 && cs[c].gone[cam->n_oldest - 1])
        unmet = TRUE;
    }
    if (cam->max_bytes > 0) {
      for (guint j = 0; j < cam->n_oldest && cam->total_bytes - cs[c].freed > cam->max_bytes; j++)
        if (!cs[c].gone[j] && !is_protected (&cam->oldest[j], now_us))
          take (plan, &cs[c], j, NVR_RETENTION_CAMERA_BYTES, now_us);
      if (cam->total_bytes - cs[c].freed > cam->max_bytes)
        unmet = TRUE;
    }
  }

  /* Global size cap: unprotected footage only, oldest first across cameras. */
  if (global->max_bytes > 0) {
    guint c, j;
    while (total - plan->bytes_freed > global->max_bytes &&
           oldest_candidate (cs, n_cameras, FALSE, now_us, &c, &j))
      take (plan, &cs[c], j, NVR_RETENTION_TOTAL_BYTES, now_us);
    if (total - plan->bytes_freed > global->max_bytes)
      unmet = TRUE;
  }

  /* Disk space: unprotected first, then event footage; recording must go on. */
  for (int pass = 0; pass < 2; pass++) {
    guint c, j;
    while (space_needed (global, plan->bytes_freed) > 0 &&
           oldest_candidate (cs, n_cameras, pass == 1, now_us, &c, &j))
      take (plan, &cs[c], j, NVR_RETENTION_SPACE, now_us);
  }
  plan->bytes_short = space_needed (global, plan->bytes_freed);
  if (plan->bytes_short > 0)
    unmet = TRUE;

  plan->window_exhausted = unmet && any_window_used_up (cs, n_cameras);
  for (guint c = 0; c < n_cameras; c++)
    g_free (cs[c].gone);
  return plan;
}

gint64
nvr_retention_max_age_us (gint64 camera_days, gint64 global_days)
{
  gint64 days = camera_days > 0 ? camera_days : MAX (global_days, 0);
  return MIN (days, 3650) * 24 * 3600 * G_USEC_PER_SEC;
}
