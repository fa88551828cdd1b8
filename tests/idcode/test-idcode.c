/* test-idcode — the ID code survives what a recording does to it (scaling, JPEG q=75) and a
 * damaged code is rejected, never misread. Single-threaded GLib test; the JPEG case runs a
 * real GStreamer jpegenc/jpegdec pipeline. */
#include "idcode.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>

typedef struct {
  int width, height, stride;
  guint8 *luma;
} Plane;

static void
plane_free (Plane *p)
{
  if (p == NULL)
    return;
  g_free (p->luma);
  g_free (p);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Plane, plane_free)

/* A busy background: a gradient plus deterministic noise, so reads do not rely on a flat frame. */
static Plane *
plane_new (int width, int height, guint32 seed)
{
  Plane *p = g_new0 (Plane, 1);
  p->width = width;
  p->height = height;
  p->stride = width + 16;   /* stride != width on purpose */
  p->luma = g_malloc ((gsize) p->stride * (gsize) height);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < p->stride; x++) {
      seed = seed * 1664525u + 1013904223u;
      p->luma[(gsize) y * p->stride + x] = (guint8) (40 + (x * 120) / p->stride + (seed >> 28));
    }
  return p;
}

/* Bilinear resample (pixel centres aligned), the cheapest scaler a camera or a client uses. */
static Plane *
plane_scale (const Plane *src, int width, int height)
{
  Plane *dst = plane_new (width, height, 1);
  for (int y = 0; y < height; y++) {
    double sy = (y + 0.5) * src->height / height - 0.5;
    int y0 = CLAMP ((int) sy, 0, src->height - 1), y1 = MIN (y0 + 1, src->height - 1);
    double fy = CLAMP (sy - y0, 0.0, 1.0);
    for (int x = 0; x < width; x++) {
      double sx = (x + 0.5) * src->width / width - 0.5;
      int x0 = CLAMP ((int) sx, 0, src->width - 1), x1 = MIN (x0 + 1, src->width - 1);
      double fx = CLAMP (sx - x0, 0.0, 1.0);
      const guint8 *r0 = src->luma + (gsize) y0 * src->stride;
      const guint8 *r1 = src->luma + (gsize) y1 * src->stride;
      double v = (r0[x0] * (1 - fx) + r0[x1] * fx) * (1 - fy) + (r1[x0] * (1 - fx) + r1[x1] * fx) * fy;
      dst->luma[(gsize) y * dst->stride + x] = (guint8) CLAMP (v + 0.5, 0, 255);
    }
  }
  return dst;
}

/* Paints cell @k of @band with luma @value (the geometry of idcode.h, restated independently). */
static void
paint_cell (Plane *p, int band, int k, guint8 value)
{
  int x0 = k * p->width / NVR_IDCODE_CELLS, x1 = (k + 1) * p->width / NVR_IDCODE_CELLS;
  int y0 = band * p->height / NVR_IDCODE_ROW_DIVISOR;
  int y1 = (band + 1) * p->height / NVR_IDCODE_ROW_DIVISOR;
  for (int y = y0; y < y1; y++)
    memset (p->luma + (gsize) y * p->stride + x0, value, (gsize) (x1 - x0));
}

static guint8
cell_value (const Plane *p, int band, int k)
{
  int x = (2 * k + 1) * p->width / (2 * NVR_IDCODE_CELLS);
  int y = (2 * band + 1) * p->height / (2 * NVR_IDCODE_ROW_DIVISOR);
  return p->luma[(gsize) y * p->stride + x];
}

static void
flip_cell (Plane *p, int band, int k)
{
  paint_cell (p, band, k, cell_value (p, band, k) > 128 ? NVR_IDCODE_BLACK : NVR_IDCODE_WHITE);
}

static const guint16 codes[] = { 0, 1, 2, 32, 0x00FF, 0xA5A5, 0x5A5A, 0xFFFE, 0xFFFF };
static const guint32 counters[] = { 0, 1, 149, 0x7FFFF, 0xFFFFF, 123456 };

static void
assert_reads (const Plane *p, guint16 code, guint32 counter)
{
  guint16 got_code = 0;
  guint32 got_counter = 0;
  g_assert_true (nvr_idcode_read (p->luma, p->width, p->height, p->stride, &got_code, &got_counter));
  g_assert_cmpuint (got_code, ==, code);
  g_assert_cmpuint (got_counter, ==, counter & NVR_IDCODE_COUNTER_MASK);
}

static void
assert_unreadable (const Plane *p)
{
  guint16 got_code = 0x1234;
  g_assert_false (nvr_idcode_read (p->luma, p->width, p->height, p->stride, &got_code, NULL));
  g_assert_cmpuint (got_code, ==, 0x1234);   /* outputs untouched on failure */
}

static void
test_roundtrip (void)
{
  static const int sizes[][2] = { { 1920, 1080 }, { 640, 360 }, { 320, 180 }, { 640, 480 },
                                  { NVR_IDCODE_MIN_WIDTH, NVR_IDCODE_MIN_HEIGHT } };
  for (gsize s = 0; s < G_N_ELEMENTS (sizes); s++)
    for (gsize c = 0; c < G_N_ELEMENTS (codes); c++)
      for (gsize n = 0; n < G_N_ELEMENTS (counters); n++) {
        g_autoptr (Plane) p = plane_new (sizes[s][0], sizes[s][1], (guint32) (c * 31 + n));
        nvr_idcode_draw (p->luma, p->width, p->height, p->stride, codes[c], counters[n]);
        assert_reads (p, codes[c], counters[n]);
      }
}

static void
test_counter_wraps (void)
{
  g_autoptr (Plane) p = plane_new (320, 180, 7);
  nvr_idcode_draw (p->luma, p->width, p->height, p->stride, 9, NVR_IDCODE_COUNTER_MASK + 5);
  assert_reads (p, 9, 4);
}

static void
test_band_rows (void)
{
  g_assert_cmpint (nvr_idcode_band_rows (180), ==, 18);
  g_assert_cmpint (nvr_idcode_band_rows (1080), ==, 108);
  /* draw touches nothing below the bands */
  g_autoptr (Plane) p = plane_new (640, 360, 3);
  g_autoptr (Plane) q = plane_new (640, 360, 3);
  nvr_idcode_draw (p->luma, p->width, p->height, p->stride, 77, 1);
  gsize off = (gsize) nvr_idcode_band_rows (360) * p->stride;
  g_assert_cmpmem (p->luma + off, (gsize) p->stride * 360 - off, q->luma + off, (gsize) q->stride * 360 - off);
}

static void
test_downscale (void)
{
  static const int from[][2] = { { 1280, 720 }, { 1920, 1080 }, { 640, 360 } };
  for (gsize s = 0; s < G_N_ELEMENTS (from); s++)
    for (gsize c = 0; c < G_N_ELEMENTS (codes); c++) {
      g_autoptr (Plane) big = plane_new (from[s][0], from[s][1], (guint32) c);
      nvr_idcode_draw (big->luma, big->width, big->height, big->stride, codes[c], 4242 + c);
      g_autoptr (Plane) small = plane_scale (big, 320, 180);
      assert_reads (small, codes[c], 4242 + c);
    }
}

static void
test_bad_geometry (void)
{
  g_autoptr (Plane) p = plane_new (320, 180, 1);
  guint16 code = 0;
  nvr_idcode_draw (p->luma, p->width, p->height, p->stride, 5, 5);
  g_assert_false (nvr_idcode_read (p->luma, NVR_IDCODE_MIN_WIDTH - 1, p->height, p->stride, &code, NULL));
  g_assert_false (nvr_idcode_read (p->luma, p->width, NVR_IDCODE_MIN_HEIGHT - 1, p->stride, &code, NULL));
  g_assert_false (nvr_idcode_read (p->luma, p->width, p->height, p->width - 1, &code, NULL));
}

static void
test_blank_and_noise (void)
{
  g_autoptr (Plane) p = plane_new (320, 180, 99);
  assert_unreadable (p);
  memset (p->luma, NVR_IDCODE_WHITE, (gsize) p->stride * p->height);
  assert_unreadable (p);
  memset (p->luma, NVR_IDCODE_BLACK, (gsize) p->stride * p->height);
  assert_unreadable (p);
  /* Random cell patterns (any sync): a rejection is fine; a read must be self-consistent. */
  guint32 seed = 12345;
  guint accepted = 0;
  for (int trial = 0; trial < 20000; trial++) {
    for (int band = 0; band < NVR_IDCODE_BANDS; band++)
      for (int k = 0; k < NVR_IDCODE_CELLS; k++) {
        seed = seed * 1664525u + 1013904223u;
        paint_cell (p, band, k, (seed >> 31) ? NVR_IDCODE_WHITE : NVR_IDCODE_BLACK);
      }
    guint16 code;
    guint32 counter;
    if (nvr_idcode_read (p->luma, p->width, p->height, p->stride, &code, &counter)) {
      g_autoptr (Plane) q = plane_new (320, 180, 99);
      nvr_idcode_draw (q->luma, q->width, q->height, q->stride, code, counter);
      for (int band = 0; band < NVR_IDCODE_BANDS; band++)
        for (int k = 0; k < NVR_IDCODE_CELLS; k++)
          g_assert_cmpuint (cell_value (p, band, k) > 128, ==, cell_value (q, band, k) > 128);
      accepted++;
    }
  }
  /* 2^-8 sync * 2^-16 * 2^-8 sync * 2^-12 per random frame: expect none. */
  g_assert_cmpuint (accepted, ==, 0);
}

/* Every 1-, 2- and 3-cell flip of the code band, and every 1- and 2-cell flip of the counter
 * band, is rejected: a damaged frame never yields a different code. */
static void
test_flips_rejected (void)
{
  g_autoptr (Plane) clean = plane_new (320, 180, 5);
  nvr_idcode_draw (clean->luma, clean->width, clean->height, clean->stride, 0x1234, 777);
  g_autoptr (Plane) p = plane_new (320, 180, 5);
  gsize bytes = (gsize) p->stride * p->height;

  for (int band = 0; band < NVR_IDCODE_BANDS; band++) {
    gboolean triples = band == 0;
    for (int a = 0; a < NVR_IDCODE_CELLS; a++)
      for (int b = a; b < NVR_IDCODE_CELLS; b++)
        for (int c = b; c < (triples ? NVR_IDCODE_CELLS : b + 1); c++) {
          if (b == a && c != b)
            continue;   /* {a} alone is covered by a == b == c */
          memcpy (p->luma, clean->luma, bytes);
          flip_cell (p, band, a);
          if (b != a)
            flip_cell (p, band, b);
          if (c != b)
            flip_cell (p, band, c);
          assert_unreadable (p);
        }
  }
}

static void
test_ambiguous_cell (void)
{
  g_autoptr (Plane) p = plane_new (640, 360, 5);
  nvr_idcode_draw (p->luma, p->width, p->height, p->stride, 42, 42);
  assert_reads (p, 42, 42);
  paint_cell (p, 0, 10, (NVR_IDCODE_BLACK + NVR_IDCODE_WHITE) / 2);
  assert_unreadable (p);
  /* a washed-out frame (contrast squeezed to 1/8) is refused rather than guessed */
  g_autoptr (Plane) q = plane_new (640, 360, 5);
  nvr_idcode_draw (q->luma, q->width, q->height, q->stride, 42, 42);
  for (gsize i = 0; i < (gsize) q->stride * q->height; i++)
    q->luma[i] = (guint8) (120 + q->luma[i] / 8);
  assert_unreadable (q);
}

static void
test_crc_vector (void)
{
  /* CRC-16/CCITT-FALSE check value */
  g_assert_cmphex (nvr_idcode_crc16 ((const guint8 *) "123456789", 9), ==, 0x29B1);
}

/* Encodes @p as a JPEG at @quality with jpegenc and decodes it back with jpegdec. */
static Plane *
jpeg_roundtrip (const Plane *p, int quality)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GstElement) pipeline = gst_parse_launch (
      "appsrc name=src ! jpegenc name=enc ! jpegdec ! videoconvert ! "
      "video/x-raw,format=GRAY8 ! appsink name=sink sync=false", &error);
  g_assert_no_error (error);
  g_autoptr (GstElement) src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  g_autoptr (GstElement) enc = gst_bin_get_by_name (GST_BIN (pipeline), "enc");
  g_autoptr (GstElement) sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_object_set (enc, "quality", quality, NULL);

  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_GRAY8, (guint) p->width, (guint) p->height);
  g_autoptr (GstCaps) caps = gst_video_info_to_caps (&info);
  gst_caps_set_simple (caps, "framerate", GST_TYPE_FRACTION, 1, 1, NULL);
  g_object_set (src, "caps", caps, "format", GST_FORMAT_TIME, NULL);

  GstBuffer *buf = gst_buffer_new_allocate (NULL, info.size, NULL);
  GstVideoFrame frame;
  g_assert_true (gst_video_frame_map (&frame, &info, buf, GST_MAP_WRITE));
  for (int y = 0; y < p->height; y++)
    memcpy ((guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0) + (gsize) y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0),
            p->luma + (gsize) y * p->stride, (gsize) p->width);
  gst_video_frame_unmap (&frame);
  GST_BUFFER_PTS (buf) = 0;
  GST_BUFFER_DURATION (buf) = GST_SECOND;

  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  g_assert_cmpint (gst_app_src_push_buffer (GST_APP_SRC (src), buf), ==, GST_FLOW_OK);
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  g_autoptr (GstSample) sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 10 * GST_SECOND);
  g_assert_nonnull (sample);

  GstVideoInfo out_info;
  g_assert_true (gst_video_info_from_caps (&out_info, gst_sample_get_caps (sample)));
  g_assert_true (gst_video_frame_map (&frame, &out_info, gst_sample_get_buffer (sample), GST_MAP_READ));
  Plane *out = plane_new (p->width, p->height, 0);
  for (int y = 0; y < p->height; y++)
    memcpy (out->luma + (gsize) y * out->stride,
            (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0) + (gsize) y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0),
            (gsize) p->width);
  gst_video_frame_unmap (&frame);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  return out;
}

static void
test_jpeg (void)
{
  for (gsize c = 0; c < G_N_ELEMENTS (codes); c++) {
    /* sub-stream sized frame straight to JPEG */
    g_autoptr (Plane) sub = plane_new (320, 180, (guint32) c);
    nvr_idcode_draw (sub->luma, sub->width, sub->height, sub->stride, codes[c], 100 + c);
    g_autoptr (Plane) j1 = jpeg_roundtrip (sub, 75);
    assert_reads (j1, codes[c], 100 + c);

    /* 720p main stream, downscaled to the sub-stream size, then JPEG (a snapshot of it) */
    g_autoptr (Plane) big = plane_new (1280, 720, (guint32) c);
    nvr_idcode_draw (big->luma, big->width, big->height, big->stride, codes[c], 0xABCDE);
    g_autoptr (Plane) small = plane_scale (big, 320, 180);
    g_autoptr (Plane) j2 = jpeg_roundtrip (small, 75);
    assert_reads (j2, codes[c], 0xABCDE);
  }
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/idcode/crc-vector", test_crc_vector);
  g_test_add_func ("/idcode/roundtrip", test_roundtrip);
  g_test_add_func ("/idcode/counter-wraps", test_counter_wraps);
  g_test_add_func ("/idcode/band-rows", test_band_rows);
  g_test_add_func ("/idcode/downscale", test_downscale);
  g_test_add_func ("/idcode/bad-geometry", test_bad_geometry);
  g_test_add_func ("/idcode/blank-and-noise", test_blank_and_noise);
  g_test_add_func ("/idcode/flips-rejected", test_flips_rejected);
  g_test_add_func ("/idcode/ambiguous-cell", test_ambiguous_cell);
  g_test_add_func ("/idcode/jpeg-q75", test_jpeg);
  return g_test_run ();
}
