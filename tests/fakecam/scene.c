/* scene — synthetic frames for fakecam (see scene.h). Pure; any thread. Invariants: the ID bands
 * (top nvr_idcode_band_rows (height) rows) are drawn only by idcode; the background is static
 * so the scene kind's box or brightness step is the only change outside the bands. The CROSSING
 * kind draws exactly what fakecam always drew (its clips are cached under unchanged names). */
#include "scene.h"

#include "idcode.h"

#include <math.h>
#include <string.h>

void
fc_scene_init (FcScene *scene, guint16 code, int fps, int clip_seconds)
{
  double len_s = clip_seconds;

  memset (scene, 0, sizeof *scene);
  scene->code = code;
  scene->fps = fps;
  scene->clip_frames = clip_seconds * fps;
  scene->crossing.start_s = len_s * (0.2 + 0.1 * ((code + 3) % 4));   /* code 1 -> 20 % */
  scene->crossing.end_s = scene->crossing.start_s + len_s * 0.3;
  scene->crossing.w = 0.2;
  scene->crossing.h = 0.4;
  scene->crossing.y = 0.35;
  scene->crossing.x_start = -scene->crossing.w;
  scene->crossing.x_end = 1.0;
}

static const char *const kind_names[FC_SCENE_N_KINDS] = {
  "crossing", "static", "brightness", "masked", "slow", "porch", "glitch", "irswitch", "pumping",
  "slowstop", "footage", "pumpingqp",
};

const char *
fc_scene_kind_name (FcSceneKind kind)
{
  return kind >= 0 && kind < FC_SCENE_N_KINDS ? kind_names[kind] : "unknown";
}

gboolean
fc_scene_kind_parse (const char *name, FcSceneKind *kind)
{
  for (int k = 0; k < FC_SCENE_N_KINDS; k++)
    if (name != NULL && strcmp (name, kind_names[k]) == 0) {
      *kind = (FcSceneKind) k;
      return TRUE;
    }
  return FALSE;
}

void
fc_scene_init_kind (FcScene *scene, FcSceneKind kind, guint16 code, int fps, int clip_seconds)
{
  double len_s = clip_seconds;

  fc_scene_init (scene, code, fps, clip_seconds);
  scene->kind = kind;
  if (kind == FC_SCENE_CROSSING)
    return;
  FcCrossing *c = &scene->crossing;
  memset (c, 0, sizeof *c);
  switch (kind) {
  case FC_SCENE_BRIGHTNESS:
    scene->step_start_s = len_s * 0.3;
    scene->step_end_s = len_s * 0.6;
    scene->step_luma = 40;
    break;
  case FC_SCENE_MASKED:
    /* A box of 2x min_area travelling inside the mask rectangle, at least 0.05 of the frame
     * from its edges (encoder ringing must stay inside the mask too). */
    scene->solid_box = TRUE;
    c->start_s = len_s * 0.3;
    c->end_s = len_s * 0.6;
    c->w = 0.06;
    c->h = 0.1;
    c->y = 0.55;
    c->x_start = 0.6;
    c->x_end = 0.74;
    scene->mask = (FcRect) { .x = 0.55, .y = 0.5, .w = 0.3, .h = 0.2 };
    break;
  case FC_SCENE_SLOW:
    /* 1.1 x 0.003 of the frame, square in pixels at 16:9 (0.0434 x 0.0771 = 0.00335), moving
     * 0.15 of the width over the event (a 30 s loop at 640x360 15 fps: 0.7 px per frame). */
    scene->solid_box = TRUE;
    c->start_s = len_s * 0.3;
    c->end_s = len_s * 0.6;
    c->w = 0.0434;
    c->h = 0.0771;
    c->y = 0.5;
    c->x_start = 0.3;
    c->x_end = 0.45;
    break;
  case FC_SCENE_GLITCH:
    scene->glitch_frame = (int) (0.3 * scene->clip_frames);
    scene->flash_frame = (int) (0.6 * scene->clip_frames);
    scene->glitch = (FcRect) { .x = 0.3, .y = 0.35, .w = 0.35, .h = 0.4 };
    break;
  case FC_SCENE_IRSWITCH:
    scene->colour_start_s = len_s * 0.3;
    scene->colour_end_s = len_s * 0.6;
    break;
  case FC_SCENE_PUMPINGQP:
    scene->patch = (FcRect) { .x = 0.5, .y = 0.4, .w = 0.3, .h = 0.4 };   /* 40x min_area */
    break;
  case FC_SCENE_SLOWSTOP:
    /* 0.08 x 0.14 = 0.0112 of the frame (3.7x min_area), moving 0.15 of the width over 20 % of
     * the loop (a 30 s loop at 320x180: 8 px per second, under 1 px per frame at 10 fps), then
     * standing for 20 % and leaving to the right in 5 %. */
    scene->solid_box = TRUE;
    c->start_s = len_s * 0.3;
    c->stop_s = len_s * 0.5;
    c->leave_s = len_s * 0.7;
    c->end_s = len_s * 0.75;
    c->x_out = 1.0;
    c->w = 0.08;
    c->h = 0.14;
    c->y = 0.5;
    c->x_start = 0.2;
    c->x_end = 0.35;
    break;
  default:
    break;   /* STATIC, PORCH, PUMPING, PUMPINGQP, FOOTAGE: no box (start_s == end_s == 0 is never drawn) */
  }
}

int
fc_scene_motion_intervals (const FcScene *scene, double starts[2], double ends[2])
{
  const FcCrossing *c = &scene->crossing;
  switch (scene->kind) {
  case FC_SCENE_CROSSING:
  case FC_SCENE_SLOW:
    starts[0] = c->start_s;
    ends[0] = c->end_s;
    return 1;
  case FC_SCENE_SLOWSTOP:
    starts[0] = c->start_s;
    ends[0] = c->stop_s;
    starts[1] = c->leave_s;
    ends[1] = c->end_s;
    return 2;
  default:
    return 0;
  }
}

gboolean
fc_scene_box_at (const FcScene *scene, int frame, int width, int height,
                 int *x, int *y, int *w, int *h)
{
  const FcCrossing *c = &scene->crossing;
  double t = (double) frame / scene->fps;

  if (t < c->start_s || t >= c->end_s || c->w <= 0)
    return FALSE;
  double left;
  if (c->stop_s <= 0)
    left = c->x_start + (t - c->start_s) / (c->end_s - c->start_s) * (c->x_end - c->x_start);
  else if (t < c->stop_s)
    left = c->x_start + (t - c->start_s) / (c->stop_s - c->start_s) * (c->x_end - c->x_start);
  else if (t < c->leave_s)
    left = c->x_end;
  else
    left = c->x_end + (t - c->leave_s) / (c->end_s - c->leave_s) * (c->x_out - c->x_end);
  *x = (int) lround (left * width);
  *y = (int) lround (c->y * height);
  *w = (int) lround (c->w * width);
  *h = (int) lround (c->h * height);
  return TRUE;
}

/* Static background luma: a soft gradient plus large low-contrast tiles, enough texture for a
 * motion detector's contrast normalisation without costing the encoder many bits. */
static guint8
background_luma (int x, int y, int width, int height)
{
  int tile = ((x * 12 / width) + (y * 7 / height)) & 1;
  return (guint8) (60 + 60 * x / width + 30 * y / height + (tile ? 14 : 0));
}

/* PORCH background: a flat wall (luma 100) with a dark door and a bright window, each well
 * over the detector's min_area and far from the wall's luma. A background model that started
 * from a uniform grey frame (a decoder's output before its first IDR) sees both as change. */
static guint8
porch_luma (int x, int y, int width, int height)
{
  double fx = (double) x / width, fy = (double) y / height;
  if (fx >= 0.15 && fx < 0.30 && fy >= 0.35 && fy < 0.95)
    return 30;    /* door */
  if (fx >= 0.60 && fx < 0.85 && fy >= 0.30 && fy < 0.55)
    return 220;   /* window */
  return 100;
}

/* PUMPING background: the gradient with a fine checker (6-pixel squares, +-24) and a finer
 * diagonal ripple: detail the encoder must spend bits on, which a low bitrate smears between
 * keyframes and each keyframe restores (the jump a detector must not take for motion). */
static guint8
pumping_luma (int x, int y, int width, int height)
{
  int v = background_luma (x, y, width, height) + ((((x / 6) + (y / 6)) & 1) ? 24 : -24);
  v += (((x + y) / 3) % 3 - 1) * 10;
  return (guint8) CLAMP (v, 0, 255);
}

/* A cheap integer hash of (x, y, frame). */
static guint32
hash3 (guint32 x, guint32 y, guint32 frame)
{
  guint32 h = x * 73856093u ^ y * 19349663u ^ frame * 83492791u;
  h ^= h >> 13;
  h *= 0x5bd1e995u;
  h ^= h >> 15;
  return h;
}

void
fc_scene_draw_i420 (const FcScene *scene, int frame, int width, int height,
                    guint8 *y_plane, int y_stride,
                    guint8 *u_plane, int u_stride,
                    guint8 *v_plane, int v_stride)
{
  int band_rows = nvr_idcode_band_rows (height);
  int bx = 0, by = 0, bw = 0, bh = 0;
  gboolean box = fc_scene_box_at (scene, frame, width, height, &bx, &by, &bw, &bh);
  int square = MAX (bw / 5, 2);
  double t = (double) frame / scene->fps;
  int step = scene->kind == FC_SCENE_BRIGHTNESS && t >= scene->step_start_s &&
             t < scene->step_end_s ? scene->step_luma : 0;
  gboolean glitch = scene->kind == FC_SCENE_GLITCH && frame == scene->glitch_frame;
  if (scene->kind == FC_SCENE_GLITCH && frame == scene->flash_frame)
    step = 90;
  gboolean colour = scene->kind == FC_SCENE_IRSWITCH && t >= scene->colour_start_s &&
                    t < scene->colour_end_s;
  gboolean ir = scene->kind == FC_SCENE_IRSWITCH && !colour;
  int gx0 = (int) (scene->glitch.x * width), gx1 = (int) ((scene->glitch.x + scene->glitch.w) * width);
  int gy0 = (int) (scene->glitch.y * height), gy1 = (int) ((scene->glitch.y + scene->glitch.h) * height);
  int px0 = (int) (scene->patch.x * width), px1 = (int) ((scene->patch.x + scene->patch.w) * width);
  int py0 = (int) (scene->patch.y * height), py1 = (int) ((scene->patch.y + scene->patch.h) * height);

  if (scene->kind == FC_SCENE_FOOTAGE) {   /* the picture is the footage's: bands only */
    for (int y = 0; y < (band_rows + 1) / 2 && y < height / 2; y++) {
      memset (u_plane + (gsize) y * (gsize) u_stride, 128, (gsize) width / 2);
      memset (v_plane + (gsize) y * (gsize) v_stride, 128, (gsize) width / 2);
    }
    nvr_idcode_draw (y_plane, width, height, y_stride, scene->code, (guint32) frame);
    return;
  }
  for (int y = band_rows; y < height; y++) {
    guint8 *row = y_plane + (gsize) y * (gsize) y_stride;
    for (int x = 0; x < width; x++)
      row[x] = scene->kind == FC_SCENE_PORCH ? porch_luma (x, y, width, height)
             : scene->kind == FC_SCENE_PUMPING ? pumping_luma (x, y, width, height)
             : scene->kind == FC_SCENE_PUMPINGQP && x >= px0 && x < px1 && y >= py0 && y < py1
               ? pumping_luma (x, y, width, height)
             : background_luma (x, y, width, height);
    if (ir)   /* monochrome IR: a different, non-linear look of the same scene */
      for (int x = 0; x < width; x++)
        row[x] = (guint8) CLAMP (230 - row[x] * row[x] / 250, 0, 255);
    if (step != 0)
      for (int x = 0; x < width; x++)
        row[x] = (guint8) CLAMP (row[x] + step, 0, 255);
    if (glitch && y >= gy0 && y < gy1)   /* 8-pixel blocks of garbage, as a lost slice */
      for (int x = MAX (gx0, 0); x < MIN (gx1, width); x++)
        row[x] = (guint8) (16 + hash3 ((guint32) x / 8, (guint32) y / 8, (guint32) frame) % 220);
    if (scene->noise > 0)
      for (int x = 0; x < width; x++) {
        /* Fresh noise every frame, the same every loop. */
        guint32 h = hash3 ((guint32) x, (guint32) y, (guint32) frame);
        int v = row[x] + (int) (h % (guint32) (2 * scene->noise + 1)) - scene->noise;
        row[x] = (guint8) CLAMP (v, 0, 255);
      }
    if (box && y >= by && y < by + bh) {
      int ty = (y - by) / square;
      for (int x = MAX (bx, 0); x < MIN (bx + bw, width); x++)
        row[x] = scene->solid_box ? 235 : (((x - bx) / square + ty) & 1) ? 220 : 30;
    }
  }
  for (int y = 0; y < height / 2; y++) {
    guint8 *u = u_plane + (gsize) y * (gsize) u_stride, *v = v_plane + (gsize) y * (gsize) v_stride;
    memset (u, 128, (gsize) width / 2);
    memset (v, 128, (gsize) width / 2);
    if (colour && 2 * y >= band_rows)   /* colour mode: a tint that varies over the picture */
      for (int x = 0; x < width / 2; x++) {
        u[x] = (guint8) (96 + 64 * x / (width / 2));
        v[x] = (guint8) (160 - 64 * y / (height / 2));
      }
    if (glitch && 2 * y >= MAX (gy0, band_rows) && 2 * y < gy1)
      for (int x = MAX (gx0 / 2, 0); x < MIN (gx1 / 2, width / 2); x++) {
        u[x] = (guint8) (hash3 ((guint32) x / 4, (guint32) y / 4, (guint32) frame + 1) & 0xff);
        v[x] = (guint8) (hash3 ((guint32) x / 4, (guint32) y / 4, (guint32) frame + 2) & 0xff);
      }
    if (box && 2 * y >= by && 2 * y < by + bh && 2 * y >= band_rows) {
      for (int x = MAX (bx / 2, 0); x < MIN ((bx + bw) / 2, width / 2); x++) {
        u[x] = 90;
        v[x] = 190;
      }
    }
  }
  nvr_idcode_draw (y_plane, width, height, y_stride, scene->code, (guint32) frame);
}
