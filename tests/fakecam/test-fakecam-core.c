/* test-fakecam-core — fakecam's pure parts (control parser, scene schedule) and its clip cache
 * (encode once, reuse, re-encode a damaged file). Single-threaded GLib test; the cache case
 * encodes a tiny 1 s clip with x264enc into a temporary directory. */
#include "clip.h"
#include "control.h"
#include "footage.h"
#include "idcode.h"
#include "scene.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void
test_command_parse (void)
{
  static const struct {
    const char *line;
    gboolean ok;
    FcCommandKind kind;
    int a, b;
  } cases[] = {
    { "drop 1", TRUE, FC_CMD_DROP, 1, 0 },
    { "drop all", TRUE, FC_CMD_DROP, 0, 0 },
    { "  restore\t4 ", TRUE, FC_CMD_RESTORE, 4, 0 },
    { "swap 2 3", TRUE, FC_CMD_SWAP, 2, 3 },
    { "unswap all", TRUE, FC_CMD_UNSWAP, 0, 0 },
    { "status", TRUE, FC_CMD_STATUS, 0, 0 },
    { "garbage 2 rtp", TRUE, FC_CMD_GARBAGE, 2, FC_GARBAGE_RTP },
    { "garbage all off", TRUE, FC_CMD_GARBAGE, 0, FC_GARBAGE_OFF },
    { "garbage 4 truncate", TRUE, FC_CMD_GARBAGE, 4, FC_GARBAGE_TRUNCATE },
    { "garbage 1 resize", TRUE, FC_CMD_GARBAGE, 1, FC_GARBAGE_RESIZE },
    { "garbage 2 audio-rtp", TRUE, FC_CMD_GARBAGE, 2, FC_GARBAGE_AUDIO_RTP },
    { "garbage all audio-stop", TRUE, FC_CMD_GARBAGE, 0, FC_GARBAGE_AUDIO_STOP },
    { "garbage 1 audio", FALSE, 0, 0, 0 },
    { "garbage 1", FALSE, 0, 0, 0 },
    { "garbage 1 noise", FALSE, 0, 0, 0 },
    { "garbage 5 rtp", FALSE, 0, 0, 0 },
    { "garbage rtp 1", FALSE, 0, 0, 0 },
    { "", FALSE, 0, 0, 0 },
    { "drop", FALSE, 0, 0, 0 },
    { "drop 0", FALSE, 0, 0, 0 },
    { "drop 5", FALSE, 0, 0, 0 },         /* only 4 cameras */
    { "drop -1", FALSE, 0, 0, 0 },
    { "drop 1x", FALSE, 0, 0, 0 },
    { "drop 1 2", FALSE, 0, 0, 0 },
    { "swap 1", FALSE, 0, 0, 0 },
    { "swap 1 1", FALSE, 0, 0, 0 },
    { "swap all 2", FALSE, 0, 0, 0 },
    { "status now", FALSE, 0, 0, 0 },
    { "DROP 1", FALSE, 0, 0, 0 },
    { "reboot", FALSE, 0, 0, 0 },
    { "drop 99999999999999999999", FALSE, 0, 0, 0 },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    FcCommand cmd;
    g_autoptr (GError) error = NULL;
    gboolean ok = fc_command_parse (cases[i].line, 4, &cmd, &error);
    g_test_message ("'%s' -> %d %s", cases[i].line, ok, error ? error->message : "");
    g_assert_cmpint (ok, ==, cases[i].ok);
    if (ok) {
      g_assert_no_error (error);
      g_assert_cmpint (cmd.kind, ==, cases[i].kind);
      g_assert_cmpint (cmd.a, ==, cases[i].a);
      g_assert_cmpint (cmd.b, ==, cases[i].b);
    } else {
      g_assert_nonnull (error);
    }
  }
}

static void
test_scene_schedule (void)
{
  FcScene s1, s2;
  int x, y, w, h;
  fc_scene_init (&s1, 1, 15, 10);
  fc_scene_init (&s2, 2, 15, 10);
  g_assert_cmpint (s1.clip_frames, ==, 150);
  g_assert_cmpfloat_with_epsilon (s1.crossing.start_s, 2.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (s1.crossing.end_s, 5.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (s2.crossing.start_s, 3.0, 1e-9);   /* neighbours differ */

  g_assert_false (fc_scene_box_at (&s1, 29, 640, 360, &x, &y, &w, &h));   /* t = 1.93 s */
  g_assert_true (fc_scene_box_at (&s1, 30, 640, 360, &x, &y, &w, &h));    /* t = 2.0 s */
  g_assert_cmpint (x, ==, -128);                                           /* enters from the left */
  g_assert_cmpint (y, ==, 126);
  g_assert_cmpint (w, ==, 128);
  g_assert_cmpint (h, ==, 144);
  g_assert_true (fc_scene_box_at (&s1, 74, 640, 360, &x, &y, &w, &h));
  g_assert_false (fc_scene_box_at (&s1, 75, 640, 360, &x, &y, &w, &h));   /* t = 5.0 s: gone */
  /* the box never reaches into the ID bands */
  g_assert_cmpint (y, >, nvr_idcode_band_rows (360));

  /* every drawn frame carries the code and its own index as the counter */
  guint8 *yp = g_malloc (320 * 180), *up = g_malloc (160 * 90), *vp = g_malloc (160 * 90);
  for (int f = 0; f < s1.clip_frames; f += 7) {
    guint16 code;
    guint32 counter;
    fc_scene_draw_i420 (&s1, f, 320, 180, yp, 320, up, 160, vp, 160);
    g_assert_true (nvr_idcode_read (yp, 320, 180, 320, &code, &counter));
    g_assert_cmpuint (code, ==, 1);
    g_assert_cmpuint (counter, ==, (guint) f);
  }
  g_free (yp);
  g_free (up);
  g_free (vp);
}

/* --scene footage: the labels parser accepts the repository's labels and refuses anything out
 * of place; drawing leaves the footage below the bands alone and makes the code readable. */
static void
test_footage (void)
{
  static const char *const good =
    "{\"format\":1,\"video\":{\"sha256\":\"" "0123456789abcdef0123456789abcdef"
    "0123456789abcdef0123456789abcdef\",\"fps\":10,\"frames\":100},\"regions\":["
    "{\"name\":\"all\",\"rect\":{\"x\":0,\"y\":0.12,\"w\":1,\"h\":0.88},\"motion\":[[0,2.5],[3,10]]},"
    "{\"name\":\"quiet\",\"rect\":{\"x\":0,\"y\":0.7,\"w\":0.2,\"h\":0.3},\"motion\":[]}]}";
  g_autofree FcFootageLabels *l = g_new0 (FcFootageLabels, 1);
  g_autoptr (GError) error = NULL;
  g_assert_true (fc_footage_labels_parse (good, strlen (good), l, &error));
  g_assert_no_error (error);
  g_assert_cmpint (l->fps, ==, 10);
  g_assert_cmpint (l->frames, ==, 100);
  g_assert_cmpint (l->n_regions, ==, 2);
  g_assert_cmpstr (l->regions[0].name, ==, "all");
  g_assert_cmpint (l->regions[0].n_motion, ==, 2);
  g_assert_cmpfloat_with_epsilon (l->regions[0].ends[1], 10, 1e-9);
  g_assert_cmpint (l->regions[1].n_motion, ==, 0);

  /* each replaces one piece of the good text */
  static const struct { const char *from, *to; } bad[] = {
    { "\"format\":1", "\"format\":2" },
    { "0123456789abcdef\",\"fps\"", "0123456789ABCDEF\",\"fps\"" },   /* upper-case hex */
    { "\"fps\":10", "\"fps\":0" },
    { "\"frames\":100", "\"frames\":-1" },
    { "[[0,2.5],[3,10]]", "[[0,2.5],[2,10]]" },        /* overlapping */
    { "[[0,2.5],[3,10]]", "[[3,10],[0,2.5]]" },        /* unsorted */
    { "[[0,2.5],[3,10]]", "[[0,2.5],[3,10.5]]" },      /* past the end (100 frames = 10 s) */
    { "[[0,2.5],[3,10]]", "[[2,2]]" },                 /* empty */
    { "[[0,2.5],[3,10]]", "[[0,\"2\"]]" },             /* not a number */
    { "[[0,2.5],[3,10]]", "[[0,1,2]]" },
    { "\"w\":1,", "\"w\":1.01," },                       /* outside the frame */
    { "\"w\":0.2", "\"w\":0" },
    { "\"name\":\"quiet\"", "\"name\":\"all\"" },        /* duplicate */
    { "\"name\":\"quiet\"", "\"name\":\"Quiet zone\"" },
    { ",\"motion\":[]", "" },
    { "\"regions\":[", "\"regions\":{}, \"x\":[" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GString) t = g_string_new (good);
    g_assert_cmpuint (g_string_replace (t, bad[i].from, bad[i].to, 1), ==, 1);
    g_autoptr (GError) e = NULL;
    g_assert_false (fc_footage_labels_parse (t->str, t->len, l, &e));
    g_assert_error (e, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  }
  g_autoptr (GError) e = NULL;
  g_assert_false (fc_footage_labels_parse ("[", 1, l, &e));

  /* the labels shipped in the repository */
  const char *path = g_getenv ("FAKECAM_FOOTAGE_LABELS");
  if (path != NULL) {
    g_autofree char *text = NULL;
    gsize len = 0;
    g_assert_true (g_file_get_contents (path, &text, &len, NULL));
    g_assert_true (fc_footage_labels_parse (text, len, l, &error));
    g_assert_no_error (error);
    g_assert_cmpint (l->frames, ==, 795);
    g_assert_cmpint (l->n_regions, >=, 2);
  }

  /* drawing: the footage's picture stays below the bands; the bands are readable */
  enum { W = 384, H = 288 };
  guint8 *yp = g_malloc (W * H), *up = g_malloc (W * H / 4), *vp = g_malloc (W * H / 4);
  for (int i = 0; i < W * H; i++)
    yp[i] = (guint8) (i * 7 % 251);
  memset (up, 60, W * H / 4);
  memset (vp, 200, W * H / 4);
  FcScene s;
  fc_scene_init_kind (&s, FC_SCENE_FOOTAGE, 9, 10, 20);
  fc_scene_draw_i420 (&s, 42, W, H, yp, W, up, W / 2, vp, W / 2);
  int band = nvr_idcode_band_rows (H);
  for (int i = band * W; i < W * H; i++)
    g_assert_cmpuint (yp[i], ==, (guint8) (i * 7 % 251));
  g_assert_cmpuint (up[(H / 2 - 1) * (W / 2)], ==, 60);
  g_assert_cmpuint (up[0], ==, 128);
  guint16 code = 0;
  guint32 counter = 0;
  g_assert_true (nvr_idcode_read (yp, W, H, W, &code, &counter));
  g_assert_cmpuint (code, ==, 9);
  g_assert_cmpuint (counter, ==, 42);
  double ms[2], me[2];
  g_assert_cmpint (fc_scene_motion_intervals (&s, ms, me), ==, 0);   /* truth from labels */
  g_free (yp);
  g_free (up);
  g_free (vp);

  FcClipParams p = { .code = 1, .codec = FC_CODEC_H264, .width = 768, .height = 576, .fps = 10,
                     .gop = 10, .bitrate_kbps = 1500, .clip_seconds = 79,
                     .scene = FC_SCENE_FOOTAGE, .footage_sha256 =
                     "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf" };
  g_autofree char *name = fc_clip_cache_name (&p);
  g_assert_cmpstr (name, ==, "v1-h264-768x576-10fps-g10-1500kbps-79s-footage-45cddc9490be6934-code1.au");
}

/* The --scene kinds: what each draws below the ID bands, and the cache names. */
static void
test_scene_kinds (void)
{
  enum { W = 640, H = 360 };
  guint8 *yp = g_malloc (W * H), *up = g_malloc (W * H / 4), *vp = g_malloc (W * H / 4);
  guint8 *ref = g_malloc (W * H);
  int band = nvr_idcode_band_rows (H), x, y, w, h;
  FcScene s;
  FcSceneKind kind;

  for (int k = 0; k < FC_SCENE_N_KINDS; k++) {
    g_assert_true (fc_scene_kind_parse (fc_scene_kind_name (k), &kind));
    g_assert_cmpint (kind, ==, k);
  }
  g_assert_false (fc_scene_kind_parse ("bogus", &kind));

  /* crossing through init_kind is fc_scene_init */
  FcScene a, b;
  fc_scene_init (&a, 3, 15, 10);
  fc_scene_init_kind (&b, FC_SCENE_CROSSING, 3, 15, 10);
  g_assert_cmpmem (&a, sizeof a, &b, sizeof b);

  /* porch: still too, and mostly one luma (the wall) with a dark door and a bright window */
  fc_scene_init_kind (&s, FC_SCENE_PORCH, 1, 15, 10);
  fc_scene_draw_i420 (&s, 0, W, H, ref, W, up, W / 2, vp, W / 2);
  g_assert_cmpuint (ref[(H / 2) * W + W / 2], ==, 100);
  g_assert_cmpuint (ref[(H / 2) * W + W / 5], ==, 30);
  g_assert_cmpuint (ref[(H * 2 / 5) * W + W * 7 / 10], ==, 220);
  for (int f = 1; f < s.clip_frames; f += 5) {
    g_assert_false (fc_scene_box_at (&s, f, W, H, &x, &y, &w, &h));
    fc_scene_draw_i420 (&s, f, W, H, yp, W, up, W / 2, vp, W / 2);
    g_assert_cmpmem (yp + band * W, (H - band) * W, ref + band * W, (H - band) * W);
  }

  /* static: every frame's picture below the bands is the same */
  fc_scene_init_kind (&s, FC_SCENE_STATIC, 1, 15, 10);
  fc_scene_draw_i420 (&s, 0, W, H, ref, W, up, W / 2, vp, W / 2);
  for (int f = 1; f < s.clip_frames; f += 5) {
    g_assert_false (fc_scene_box_at (&s, f, W, H, &x, &y, &w, &h));
    fc_scene_draw_i420 (&s, f, W, H, yp, W, up, W / 2, vp, W / 2);
    g_assert_cmpmem (yp + band * W, (H - band) * W, ref + band * W, (H - band) * W);
  }

  /* brightness: +40 over [3 s, 6 s), everywhere below the bands */
  fc_scene_init_kind (&s, FC_SCENE_BRIGHTNESS, 1, 15, 10);
  g_assert_cmpfloat_with_epsilon (s.step_start_s, 3.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (s.step_end_s, 6.0, 1e-9);
  for (int f = 0; f < s.clip_frames; f += 3) {
    fc_scene_draw_i420 (&s, f, W, H, yp, W, up, W / 2, vp, W / 2);
    int want = f >= 45 && f < 90 ? 40 : 0;
    for (int i = band * W; i < W * H; i += 97)
      g_assert_cmpint (yp[i] - ref[i], ==, want);
  }

  /* masked: the box stays inside the mask rectangle; slow: 1.1x the default min_area */
  fc_scene_init_kind (&s, FC_SCENE_MASKED, 1, 15, 10);
  for (int f = 0; f < s.clip_frames; f++)
    if (fc_scene_box_at (&s, f, W, H, &x, &y, &w, &h)) {
      g_assert_cmpint (x, >=, (int) (s.mask.x * W));
      g_assert_cmpint (y, >=, (int) (s.mask.y * H));
      g_assert_cmpint (x + w, <=, (int) ((s.mask.x + s.mask.w) * W));
      g_assert_cmpint (y + h, <=, (int) ((s.mask.y + s.mask.h) * H));
    }
  fc_scene_init_kind (&s, FC_SCENE_SLOW, 1, 15, 10);
  g_assert_false (fc_scene_box_at (&s, 44, W, H, &x, &y, &w, &h));
  g_assert_true (fc_scene_box_at (&s, 45, W, H, &x, &y, &w, &h));
  g_assert_cmpfloat (s.crossing.w * s.crossing.h, >, 1.05 * 0.003);
  g_assert_cmpfloat (s.crossing.w * s.crossing.h, <, 1.15 * 0.003);

  /* glitch: one garbage frame (inside its block only) at 30 %, one flashed frame (+90 below
   * the bands) at 60 %; every other frame is the still picture */
  fc_scene_init_kind (&s, FC_SCENE_GLITCH, 1, 10, 10);
  g_assert_cmpint (s.glitch_frame, ==, 30);
  g_assert_cmpint (s.flash_frame, ==, 60);
  fc_scene_draw_i420 (&s, 0, W, H, ref, W, up, W / 2, vp, W / 2);
  for (int f = 0; f < s.clip_frames; f++) {
    fc_scene_draw_i420 (&s, f, W, H, yp, W, up, W / 2, vp, W / 2);
    guint differ = 0, outside = 0, below = 0;
    for (int i = band * W; i < W * H; i++) {
      int px = i % W, py = i / W;
      gboolean in = px >= (int) (s.glitch.x * W) && px < (int) ((s.glitch.x + s.glitch.w) * W) &&
                    py >= (int) (s.glitch.y * H) && py < (int) ((s.glitch.y + s.glitch.h) * H);
      below++;
      if (yp[i] != ref[i]) {
        differ++;
        outside += !in;
      }
      if (f == s.flash_frame)
        g_assert_cmpint (yp[i], ==, MIN (ref[i] + 90, 255));
    }
    if (f == s.glitch_frame) {
      g_assert_cmpuint (outside, ==, 0);
      g_assert_cmpuint (differ, >, 0.9 * s.glitch.w * s.glitch.h * W * H);   /* garbage */
    } else if (f != s.flash_frame) {
      g_assert_cmpuint (differ, ==, 0);
    }
  }

  /* irswitch: grey (chroma 128) and a non-linear luma outside [3 s, 6 s), tinted chroma and
   * the normal luma inside; each switch changes most of the picture */
  fc_scene_init_kind (&s, FC_SCENE_IRSWITCH, 1, 10, 10);
  FcScene st;
  fc_scene_init_kind (&st, FC_SCENE_STATIC, 1, 10, 10);
  fc_scene_draw_i420 (&st, 0, W, H, ref, W, up, W / 2, vp, W / 2);
  for (int f = 0; f < s.clip_frames; f += 4) {
    fc_scene_draw_i420 (&s, f, W, H, yp, W, up, W / 2, vp, W / 2);
    gboolean colour = f >= 30 && f < 60;
    guint luma_differs = 0, tinted = 0, n = 0;
    for (int py = band + 1; py < H; py += 3)
      for (int px = 0; px < W; px += 3) {
        n++;
        luma_differs += abs (yp[py * W + px] - ref[py * W + px]) > 20;
        tinted += up[(py / 2) * (W / 2) + px / 2] != 128 || vp[(py / 2) * (W / 2) + px / 2] != 128;
      }
    if (colour) {
      g_assert_cmpuint (luma_differs, ==, 0);
      g_assert_cmpuint (tinted, >, n * 9 / 10);
    } else {
      g_assert_cmpuint (luma_differs, >, n * 6 / 10);   /* a global change, not a local one */
      g_assert_cmpuint (tinted, ==, 0);
    }
  }

  /* pumping: still, and finer than static (more luma steps between neighbours) */
  fc_scene_init_kind (&s, FC_SCENE_PUMPING, 1, 10, 10);
  fc_scene_draw_i420 (&s, 0, W, H, yp, W, up, W / 2, vp, W / 2);
  guint edges_pumping = 0, edges_static = 0;
  for (int i = band * W; i < W * H - 1; i++) {
    edges_pumping += abs (yp[i + 1] - yp[i]) > 8;
    edges_static += abs (ref[i + 1] - ref[i]) > 8;
  }
  g_assert_cmpuint (edges_pumping, >, 10 * edges_static);
  for (int f = 1; f < s.clip_frames; f += 7) {
    fc_scene_draw_i420 (&s, f, W, H, ref, W, up, W / 2, vp, W / 2);
    g_assert_cmpmem (yp + band * W, (H - band) * W, ref + band * W, (H - band) * W);
  }

  /* slowstop: moves in over [9 s, 15 s), stands still over [15 s, 21 s), leaves to the right
   * by 22.5 s; its truth intervals are the two movements */
  fc_scene_init_kind (&s, FC_SCENE_SLOWSTOP, 1, 10, 30);
  int prev_x = G_MININT, still_x = 0;
  for (int f = 0; f < s.clip_frames; f++) {
    double t = f / 10.0;
    gboolean seen = fc_scene_box_at (&s, f, W, H, &x, &y, &w, &h);
    g_assert_cmpint (seen, ==, t >= 9 - 1e-9 && t < 22.5 - 1e-9);
    if (!seen)
      continue;
    if (t < 15 - 1e-9) {
      g_assert_cmpint (x, >=, prev_x);   /* slowly: 1.6 px per frame at 640 wide, 10 fps */
      g_assert_cmpint (x - (prev_x == G_MININT ? x : prev_x), <=, 2);
    } else if (t < 21 - 1e-9) {
      if (still_x == 0)
        still_x = x;
      g_assert_cmpint (x, ==, still_x);
    } else {
      g_assert_cmpint (x, >, t < 21.05 ? prev_x - 1 : prev_x);   /* leaving: 28 px a frame */
    }
    prev_x = x;
  }
  g_assert_cmpint (still_x, ==, (int) lround (0.35 * W));
  g_assert_cmpint (prev_x, >, W - 30);   /* its last frame: nearly out */
  double ms[2], me[2];
  g_assert_cmpint (fc_scene_motion_intervals (&s, ms, me), ==, 2);
  g_assert_cmpfloat_with_epsilon (ms[0], 9, 1e-9);
  g_assert_cmpfloat_with_epsilon (me[0], 15, 1e-9);
  g_assert_cmpfloat_with_epsilon (ms[1], 21, 1e-9);
  g_assert_cmpfloat_with_epsilon (me[1], 22.5, 1e-9);
  fc_scene_init_kind (&s, FC_SCENE_GLITCH, 1, 10, 10);
  g_assert_cmpint (fc_scene_motion_intervals (&s, ms, me), ==, 0);
  fc_scene_init_kind (&s, FC_SCENE_SLOW, 1, 10, 30);
  g_assert_cmpint (fc_scene_motion_intervals (&s, ms, me), ==, 1);

  /* pumpingqp: STATIC's picture except the textured patch, still from frame to frame */
  {
    guint8 *still = g_malloc (W * H), *pq = g_malloc (W * H);
    FcScene sa, q;
    fc_scene_init_kind (&sa, FC_SCENE_STATIC, 1, 15, 10);
    fc_scene_init_kind (&q, FC_SCENE_PUMPINGQP, 1, 15, 10);
    g_assert_cmpfloat (q.patch.w * q.patch.h, >, 30 * 0.003);   /* far over min_area */
    fc_scene_draw_i420 (&sa, 3, W, H, still, W, up, W / 2, vp, W / 2);
    fc_scene_draw_i420 (&q, 3, W, H, pq, W, up, W / 2, vp, W / 2);
    int inside = 0, differ = 0;
    for (y = band; y < H; y++)
      for (x = 0; x < W; x++) {
        gboolean in = x >= (int) (q.patch.x * W) && x < (int) ((q.patch.x + q.patch.w) * W) &&
                      y >= (int) (q.patch.y * H) && y < (int) ((q.patch.y + q.patch.h) * H);
        if (!in)
          g_assert_cmpuint (pq[y * W + x], ==, still[y * W + x]);
        inside += in;
        differ += in && pq[y * W + x] != still[y * W + x];
      }
    g_assert_cmpint (differ, >, inside / 2);
    fc_scene_draw_i420 (&q, 4, W, H, still, W, up, W / 2, vp, W / 2);
    g_assert_cmpmem (still + band * W, (W * (H - band)), pq + band * W, (W * (H - band)));
    g_free (still);
    g_free (pq);
  }

  /* cache names: crossing keeps the old name, other kinds add theirs */
  FcClipParams p = { .code = 1, .codec = FC_CODEC_H264, .width = 640, .height = 360, .fps = 15,
                     .gop = 15, .bitrate_kbps = 800, .clip_seconds = 10 };
  g_autofree char *n1 = fc_clip_cache_name (&p);
  g_assert_cmpstr (n1, ==, "v1-h264-640x360-15fps-g15-800kbps-10s-code1.au");
  p.scene = FC_SCENE_STATIC;
  p.noise = 6;
  g_autofree char *n2 = fc_clip_cache_name (&p);
  g_assert_cmpstr (n2, ==, "v1-h264-640x360-15fps-g15-800kbps-10s-n6-static-code1.au");

  g_free (yp);
  g_free (up);
  g_free (vp);
  g_free (ref);
}

static void
test_clip_cache (void)
{
  g_autofree char *dir = g_dir_make_tmp ("fakecam-cache-XXXXXX", NULL);
  FcClipParams p = { .code = 77, .codec = FC_CODEC_H264, .width = 160, .height = 90, .fps = 10,
                     .gop = 5, .bitrate_kbps = 100, .clip_seconds = 1 };
  g_autoptr (GError) error = NULL;
  gboolean encoded = FALSE;

  g_autoptr (FcClip) first = fc_clip_load_or_encode (&p, dir, &encoded, &error);
  g_assert_no_error (error);
  g_assert_true (encoded);
  g_assert_cmpint (first->n_aus, ==, 10);
  for (int i = 0; i < first->n_aus; i++)
    g_assert_cmpint (first->aus[i].key, ==, i % 5 == 0);   /* fixed GOP, loop starts on an IDR */

  g_autoptr (FcClip) again = fc_clip_load_or_encode (&p, dir, &encoded, &error);
  g_assert_no_error (error);
  g_assert_false (encoded);                                 /* from the cache */
  g_assert_true (g_bytes_equal (first->data, again->data));

  /* another parameter is another file */
  FcClipParams q = p;
  q.gop = 10;
  g_autofree char *name_p = fc_clip_cache_name (&p);
  g_autofree char *name_q = fc_clip_cache_name (&q);
  g_assert_cmpstr (name_p, !=, name_q);

  /* a truncated cache file is detected and re-encoded */
  g_autofree char *path = g_build_filename (dir, name_p, NULL);
  gsize len;
  const char *data = g_bytes_get_data (first->data, &len);
  g_assert_true (g_file_set_contents (path, data, (gssize) (len - 3), NULL));
  g_test_expect_message ("fakecam-clip", G_LOG_LEVEL_WARNING, "Failed to load cached clip*");
  g_autoptr (FcClip) repaired = fc_clip_load_or_encode (&p, dir, &encoded, &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_assert_true (encoded);
  g_assert_cmpint (repaired->n_aus, ==, 10);

  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/fakecam/command-parse", test_command_parse);
  g_test_add_func ("/fakecam/scene-schedule", test_scene_schedule);
  g_test_add_func ("/fakecam/scene-kinds", test_scene_kinds);
  g_test_add_func ("/fakecam/clip-cache", test_clip_cache);
  g_test_add_func ("/fakecam/footage", test_footage);
  return g_test_run ();
}
