/* motion — the motion detector's pure core: GRAY8 frames in (5-10 fps, caller's timestamps),
 * per-frame motion, event start/end and zones out. No I/O, no clock, no GStreamer; one NvrMotion
 * per camera, used from one thread at a time. Algorithm, parameters and limits:
 * docs/design/motion.md. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NVR_MOTION_ERROR (nvr_motion_error_quark ())
GQuark nvr_motion_error_quark (void);
typedef enum {
  NVR_MOTION_ERROR_SETTING,   /* a settings field is out of range; the message names it */
  NVR_MOTION_ERROR_FRAME,     /* a frame's geometry or timestamp is unusable; it was ignored */
} NvrMotionError;

#define NVR_MOTION_MAX_MASKS 16
#define NVR_MOTION_MAX_ZONES 16          /* zones_now is a 32-bit set */
#define NVR_MOTION_MAX_POINTS 32         /* per polygon */
#define NVR_MOTION_NAME_MAX 32           /* bytes, including the NUL */
#define NVR_MOTION_MIN_SIDE 16           /* frame width and height, pixels */
#define NVR_MOTION_MAX_SIDE 8192

/* A point in normalised frame coordinates: (0,0) top left, (1,1) bottom right. */
typedef struct {
  double x, y;
} NvrMotionPoint;

/* A simple polygon (even-odd rule), 3..NVR_MOTION_MAX_POINTS points, closed implicitly. */
typedef struct {
  char name[NVR_MOTION_NAME_MAX];   /* zones: 1..31 of [A-Za-z0-9_-], unique; masks: may be "" */
  guint n_points;
  NvrMotionPoint points[NVR_MOTION_MAX_POINTS];
} NvrMotionPolygon;

/* Per-camera settings. A plain value: copy it freely; nvr_motion_new() keeps its own copy.
 * Ranges are checked by nvr_motion_settings_validate(); defaults come from
 * nvr_motion_settings_init(). */
typedef struct {
  double threshold;          /* 4..128 (20): a cell changed if it differs from the background by
                              * more than this many luma levels, after contrast normalisation */
  double min_area;           /* 0.0001..0.5 (0.003): smallest connected change that counts as
                              * motion, as a fraction of the whole frame */
  guint start_frames;        /* 1..50 (2): consecutive motion frames that start an event; the
                              * last of them must show change still going on (not a step that
                              * stopped: a glitch, a keyframe's jump), see motion.md */
  gint64 end_after_ms;       /* 500..3600000 (10000): an event ends this long after its last
                              * motion frame */
  gint64 background_ms;      /* 1000..3600000 (10000): time constant of the background model */
  double global_fraction;    /* 0.2..1 (0.5): a frame whose changed fraction exceeds this is a
                              * global change (IR switch, light): re-baseline, never motion.
                              * 1 disables the check */
  double max_contrast_gain;  /* 1..8 (4): largest amplification of a low-contrast (night) scene */
  guint n_masks;             /* 0..NVR_MOTION_MAX_MASKS; masked cells are ignored entirely */
  NvrMotionPolygon masks[NVR_MOTION_MAX_MASKS];
  guint n_zones;             /* 0..NVR_MOTION_MAX_ZONES; index = the bit in zones_now */
  NvrMotionPolygon zones[NVR_MOTION_MAX_ZONES];
} NvrMotionSettings;

/* Fills @settings with the defaults above and no masks or zones. */
void nvr_motion_settings_init (NvrMotionSettings *settings);
/* FALSE with NVR_MOTION_ERROR_SETTING naming the first bad field, e.g. "zones[1].points[2].x". */
gboolean nvr_motion_settings_validate (const NvrMotionSettings *settings, GError **error);

/* What one frame did. Geometry is normalised like NvrMotionPoint. */
typedef struct {
  gboolean motion;        /* this frame has a connected change of at least min_area outside the
                           * masks that is still moving (raw, before hysteresis); a change that
                           * stopped changing is absorbed into the background instead */
  gboolean active;        /* an event is in progress after this frame */
  gboolean started;       /* the event started on this frame (start_frames-th motion frame) */
  gboolean ended;         /* the event ended on this frame (end_after_ms without motion) */
  gboolean rebaselined;   /* a warm-up started on this frame (first frame, a new frame size, a
                           * gap of more than 5 s, nvr_motion_new_stream(), a global change, or a
                           * global change inside a warm-up) */
  gboolean warming_up;    /* this frame was learnt in a warm-up (10 frames after any of the
                           * above; the background is then their per-cell median); nothing is
                           * counted as motion during it */
  gint64 event_start_us;  /* active or ended: timestamp of the first frame of the motion run that
                           * started the event (not the frame that confirmed it) */
  gint64 event_end_us;    /* ended: timestamp of the event's last motion frame */
  double score;           /* largest connected change / min_area (>= 1 iff motion), else 0 */
  double area;            /* fraction of the frame covered by changes of at least min_area */
  double box_x, box_y, box_w, box_h;   /* their bounding box; all 0 without motion */
  guint32 zones_now;      /* bit i: zones[i] is entered by this frame's motion */
  guint n_zones_entered;  /* zones entered since the first frame of the current run or event */
  guint8 zones_entered[NVR_MOTION_MAX_ZONES];   /* their indices, in order of first entry */
  double peak_area;       /* active or ended: largest area / score of the event so far */
  double peak_score;
} NvrMotionResult;

typedef struct _NvrMotion NvrMotion;

/* A detector with a copy of @settings; NULL with NVR_MOTION_ERROR_SETTING if they are invalid. */
NvrMotion *nvr_motion_new (const NvrMotionSettings *settings, GError **error);
void nvr_motion_free (NvrMotion *motion);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrMotion, nvr_motion_free)

/* Feeds one GRAY8 frame (@stride bytes per row) taken at @timestamp_us, which must increase
 * from frame to frame. On FALSE (NVR_MOTION_ERROR_FRAME: bad geometry or a timestamp that did not
 * increase) the frame is ignored and the detector is unchanged. The first frame, a change of
 * frame size, a gap of more than 5 s and a global change start a warm-up (see warming_up); an
 * event in progress then ends by its timer. */
gboolean nvr_motion_process (NvrMotion *motion, const guint8 *pixels, guint width, guint height,
                             guint stride, gint64 timestamp_us, NvrMotionResult *result,
                             GError **error);

/* The next frame comes from a new stream (a reconnect, a new decoder): it starts a warm-up as
 * after a gap, whatever the time since the last frame. An event in progress ends by its timer. */
void nvr_motion_new_stream (NvrMotion *motion);

/* No frame arrived (stream stalled or dropped): lets an event in progress end by its timer at
 * @now_us. @result is filled as for a frame without motion (a motion run is broken). A time
 * before the last frame counts as the last frame's time. */
void nvr_motion_advance (NvrMotion *motion, gint64 now_us, NvrMotionResult *result);

/* Name of zone @index, or NULL if there is no such zone. */
const char *nvr_motion_zone_name (const NvrMotion *motion, guint index);

/* Size of the working grid for the last frame (0 before the first): frames are box-averaged
 * down to at most 160 cells per side. */
void nvr_motion_grid_size (const NvrMotion *motion, guint *grid_width, guint *grid_height);

G_END_DECLS
