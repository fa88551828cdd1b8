/* scene — what a fake camera shows: a static textured background, the ID code bands on top,
 * and one scripted "crossing" (a textured box moving left to right) per clip loop. Pure: no I/O,
 * no clock; any thread. Geometry is in fractions of the frame so main and sub streams of one
 * camera show the same scene; the schedule here is the ground truth written to --truth. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  double start_s, end_s;   /* within the loop; the box is drawn for start_s <= t < end_s */
  double stop_s, leave_s;  /* stop_s 0: the box moves until end_s; else it moves until stop_s,
                            * stands still at x_end until leave_s and then moves on to x_out,
                            * reached at end_s (SLOWSTOP) */
  double x_start, x_end;   /* the box's left edge (fraction of width) at start_s and at end_s
                            * (at stop_s if stop_s > 0) */
  double x_out;            /* SLOWSTOP: the left edge at end_s (1: out of the picture) */
  double y, w, h;          /* fixed top, width and height (fractions of the frame) */
} FcCrossing;

/* What a camera shows besides the static background and the ID bands (fakecam --scene). */
typedef enum {
  FC_SCENE_CROSSING,       /* default: a 0.2x0.4 textured box crosses the frame (positive) */
  FC_SCENE_STATIC,         /* nothing moves (with --noise: the sensor-noise negative) */
  FC_SCENE_BRIGHTNESS,     /* nothing moves; everything below the ID bands is +step_luma
                            * brighter for step_start_s <= t < step_end_s (a light) */
  FC_SCENE_MASKED,         /* a small solid box moving only inside @mask (negative once masked) */
  FC_SCENE_SLOW,           /* a solid box of 1.1x the detector's default min_area (0.003),
                            * moving slowly (positive) */
  FC_SCENE_PORCH,          /* nothing moves; the background is a flat wall with a dark door and
                            * a bright window instead of the gradient: most of the picture is
                            * one luma, as on a real still camera (the start-up ghost negative) */
  FC_SCENE_GLITCH,         /* nothing moves, but one frame at 30 % of the loop has a block of
                            * garbage (a corrupted frame) and one frame at 60 % is flashed
                            * (+90 luma everywhere below the bands); both return to the picture
                            * at the next frame (negative) */
  FC_SCENE_IRSWITCH,       /* nothing moves; the camera is in IR mode (grey, a non-linear luma
                            * remap) except over [30 %, 60 %) of the loop, where it is in colour
                            * (normal luma, tinted chroma): two global changes (negative) */
  FC_SCENE_PUMPING,        /* nothing moves; a finer texture than STATIC, meant for --noise with a
                            * low bitrate and a short GOP, so that every keyframe visibly jumps
                            * (compression pumping, negative) */
  FC_SCENE_SLOWSTOP,       /* a solid box (3.7x min_area) moves in slowly over [30 %, 50 %),
                            * stands still over [50 %, 70 %) and leaves, out of the picture by
                            * 75 % (the ghost of an object that stops and leaves; positive:
                            * motion while it moves in and while it leaves) */
  FC_SCENE_FOOTAGE,        /* a real recording (fakecam --footage): the picture below the ID
                            * bands comes from the decoded file, not from here; draw_i420 only
                            * draws the bands over it. Its truth is hand-labelled, not drawn:
                            * fakecam copies it from --footage-labels */
  FC_SCENE_PUMPINGQP,      /* nothing moves; STATIC's background with PUMPING's fine texture in
                            * one patch (@patch: 12 % of the frame, a bush or a brick wall),
                            * encoded at constant QP with IDRs far worse than P-frames
                            * (FC_PUMPINGQP_QP_I vs _P): every keyframe smears the patch and
                            * the next P-frame sharpens it, a local jump far harsher than
                            * PUMPING's (negative) */
  FC_SCENE_N_KINDS
} FcSceneKind;

typedef struct {
  double x, y, w, h;       /* fractions of the frame */
} FcRect;

/* PUMPINGQP's encoder: x264 constant QP for P-frames, and ipratio 2^((P-I)/6) so IDRs get
 * QP_I (x264's I/P QP relation: qp_I = qp_P - 6 log2 ipratio): a keyframe that collapses. */
#define FC_PUMPINGQP_QP_P 26
#define FC_PUMPINGQP_QP_I 46

typedef struct {
  guint16 code;
  FcSceneKind kind;
  int fps;                 /* integer frames per second, 1..120 */
  int clip_frames;         /* frames in one loop = clip seconds * fps */
  FcCrossing crossing;     /* the moving box: CROSSING, MASKED and SLOW only */
  gboolean solid_box;      /* box drawn in solid luma 235 (MASKED, SLOW) instead of a checker */
  double step_start_s, step_end_s;   /* BRIGHTNESS only */
  int step_luma;                     /* BRIGHTNESS only */
  FcRect mask;             /* MASKED only: the box stays inside it, with a margin */
  int noise;               /* +-noise luma levels of per-pixel temporal noise below the ID
                            * bands (0 = none); deterministic in (x, y, frame) */
  int glitch_frame, flash_frame;   /* GLITCH only: the garbage frame and the flashed frame */
  FcRect glitch;                   /* GLITCH only: where the garbage is */
  double colour_start_s, colour_end_s;   /* IRSWITCH only: colour mode, IR outside */
  FcRect patch;                          /* PUMPINGQP only: where the fine texture is */
} FcScene;

/* The intervals (loop seconds) in which a detector, given the scene's masks, should report
 * motion: written to --truth as each event's "motion". Empty for the negatives; CROSSING and
 * SLOW: [start_s, end_s); SLOWSTOP: [start_s, stop_s) and [leave_s, end_s). Returns the
 * number of intervals (at most 2). */
int fc_scene_motion_intervals (const FcScene *scene, double starts[2], double ends[2]);

/* The scene for camera @code: the crossing starts at 20/30/40/50 % of the loop depending on
 * @code (so neighbouring cameras move at different times) and lasts 30 % of the loop. */
void fc_scene_init (FcScene *scene, guint16 code, int fps, int clip_seconds);

/* The scene of @kind. CROSSING is exactly fc_scene_init(); the other kinds' schedules do not
 * depend on @code: their change happens over [30 %, 60 %) of the loop. */
void fc_scene_init_kind (FcScene *scene, FcSceneKind kind, guint16 code, int fps,
                         int clip_seconds);

/* "crossing", "static", ... ; parse returns FALSE for an unknown name. */
const char *fc_scene_kind_name (FcSceneKind kind);
gboolean fc_scene_kind_parse (const char *name, FcSceneKind *kind);

/* TRUE and the box in pixels if the box is visible in frame @frame (0 <= frame < clip_frames)
 * of a @width x @height picture; the box may extend past the frame edges. */
gboolean fc_scene_box_at (const FcScene *scene, int frame, int width, int height,
                          int *x, int *y, int *w, int *h);

/* Draws frame @frame (0-based within the loop; also the burned-in counter) as I420. Planes
 * are @width x @height luma and (width/2) x (height/2) chroma; width and height even.
 * FOOTAGE: the planes already hold the footage frame; only the ID bands (neutral chroma
 * under them) are drawn over its top rows, the rest is left as it is. */
void fc_scene_draw_i420 (const FcScene *scene, int frame, int width, int height,
                         guint8 *y_plane, int y_stride,
                         guint8 *u_plane, int u_stride,
                         guint8 *v_plane, int v_stride);

G_END_DECLS
