/* retention — which segments to delete, and why. Pure: no I/O, no clock (callers pass now_us
 * and the filesystem's figures). The executor (nvr/reaper.c) gathers the inputs and carries the
 * plan out in a crash-safe order. Policy and its table of cases: docs/design/retention.md.
 *
 * Order of rules: per-camera age, per-camera bytes, then the global limits (total bytes, free
 * space, high-water mark) oldest-first across all cameras. Segments protected by an event are
 * skipped by every rule but the space rules, which take them last: recording must go on. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  gint64 id;
  gint64 start_us;
  gint64 end_us;
  gint64 bytes;
  gint64 keep_until_us;   /* 0 = not protected; else protected while now_us < keep_until_us */
} NvrRetentionSegment;

typedef struct {
  gint64 camera_id;
  gint64 max_age_us;      /* 0 = no age limit */
  gint64 max_bytes;       /* 0 = no size limit */
  gint64 total_bytes;     /* of all the camera's complete segments */
  /* The camera's oldest complete segments, oldest first (a bounded window, not all of them). */
  const NvrRetentionSegment *oldest;
  guint n_oldest;
} NvrRetentionCamera;

typedef struct {
  gint64 max_bytes;         /* 0 = no global size limit */
  gint64 min_free_bytes;    /* keep at least this much free on the filesystem */
  guint high_water_percent; /* keep filesystem usage at or under this; 0 = no mark */
  gint64 fs_total_bytes;    /* 0 = unknown: space rules off */
  gint64 fs_free_bytes;
  gint64 reserve_bytes;     /* expected writes before the next pass: the space rules act as if
                             * this much were already used, so usage stays under the mark */
} NvrRetentionGlobal;

typedef enum {
  NVR_RETENTION_AGE,
  NVR_RETENTION_CAMERA_BYTES,
  NVR_RETENTION_TOTAL_BYTES,
  NVR_RETENTION_SPACE,
} NvrRetentionReason;

typedef struct {
  gint64 segment_id;
  gint64 camera_id;
  gint64 bytes;
  NvrRetentionReason reason;
  gboolean was_protected;   /* an event's footage given up for space */
} NvrRetentionVictim;

typedef struct {
  GArray *victims;          /* NvrRetentionVictim, in deletion order (oldest first per rule) */
  gint64 bytes_freed;
  gint64 bytes_short;       /* space still needed after deleting every candidate */
  gboolean window_exhausted;/* a rule ran out of candidates: run again with a fresh window */
} NvrRetentionPlan;

void nvr_retention_plan_free (NvrRetentionPlan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrRetentionPlan, nvr_retention_plan_free)

NvrRetentionPlan *nvr_retention_plan (const NvrRetentionCamera *cameras, guint n_cameras,
                                      const NvrRetentionGlobal *global, gint64 now_us);

const char *nvr_retention_reason_to_string (NvrRetentionReason reason);

/* A camera's age limit for NvrRetentionCamera.max_age_us: its own retention days
 * (@camera_days > 0, the catalog's cameras.retain_days set by `retention_days` in the admin
 * API) replace the global [retention] max_age_days (@global_days), shorter or longer; 0 from
 * both = no age limit. Days beyond 3650 are clamped to 3650. */
gint64 nvr_retention_max_age_us (gint64 camera_days, gint64 global_days);

G_END_DECLS
