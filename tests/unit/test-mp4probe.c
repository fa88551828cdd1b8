/* Unit tests for mp4probe: table-driven on synthetic box buffers built here (whole, cut, lying
 * sizes, too deep), every prefix of a valid file, and real files from mp4mux in the recorder's
 * mode — closed normally, left open as after a SIGKILL, and cut mid-file — checked against what
 * qtdemux can actually read back. No media is committed: everything is generated at test time. */
#include <string.h>
#include <gst/gst.h>
#include <glib/gstdio.h>

#include "mp4probe.h"

/* ---- a tiny ISO-BMFF writer ---- */

static void
put32 (GByteArray *a, guint32 v)
{
  guint8 b[4] = { v >> 24, v >> 16, v >> 8, v };
  g_byte_array_append (a, b, 4);
}

static void
put64 (GByteArray *a, guint64 v)
{
  put32 (a, v >> 32);
  put32 (a, (guint32) v);
}

static void
put4cc (GByteArray *a, const char *t)
{
  g_byte_array_append (a, (const guint8 *) t, 4);
}

/* Appends a box of @type around @body (which is consumed). */
static void
box (GByteArray *out, const char *type, GByteArray *body)
{
  put32 (out, 8 + (body ? body->len : 0));
  put4cc (out, type);
  if (body) {
    g_byte_array_append (out, body->data, body->len);
    g_byte_array_unref (body);
  }
}

static GByteArray *
cat (GByteArray *first, ...)
{
  va_list ap;
  va_start (ap, first);
  GByteArray *out = first;
  for (GByteArray *b = va_arg (ap, GByteArray *); b != NULL; b = va_arg (ap, GByteArray *)) {
    g_byte_array_append (out, b->data, b->len);
    g_byte_array_unref (b);
  }
  va_end (ap);
  return out;
}

static GByteArray *
boxed (const char *type, GByteArray *body)
{
  GByteArray *out = g_byte_array_new ();
  box (out, type, body);
  return out;
}

static GByteArray *
full_header (guint8 version, guint32 flags)
{
  GByteArray *a = g_byte_array_new ();
  put32 (a, ((guint32) version << 24) | flags);
  return a;
}

typedef struct {
  const char *handler;      /* "vide" or "soun" */
  const char *entry;        /* "avc1", "hvc1", "mp4a" */
  guint32 timescale;
  guint32 stts_count, stts_delta;
  gboolean mvex;
  guint32 trex_duration;
} MoovSpec;

static GByteArray *
make_moov (const MoovSpec *m)
{
  GByteArray *tkhd = full_header (0, 7);
  put32 (tkhd, 0); put32 (tkhd, 0); put32 (tkhd, 1); put32 (tkhd, 0); put32 (tkhd, 0);
  GByteArray *mdhd = full_header (0, 0);
  put32 (mdhd, 0); put32 (mdhd, 0); put32 (mdhd, m->timescale); put32 (mdhd, 0); put32 (mdhd, 0);
  GByteArray *hdlr = full_header (0, 0);
  put32 (hdlr, 0); put4cc (hdlr, m->handler); put32 (hdlr, 0); put32 (hdlr, 0); put32 (hdlr, 0);
  GByteArray *stsd = full_header (0, 0);
  put32 (stsd, 1);
  GByteArray *entry = g_byte_array_new ();
  for (int i = 0; i < 8; i++)
    put32 (entry, 0);
  box (stsd, m->entry, entry);
  GByteArray *stts = full_header (0, 0);
  put32 (stts, m->stts_count ? 1 : 0);
  if (m->stts_count) {
    put32 (stts, m->stts_count);
    put32 (stts, m->stts_delta);
  }
  GByteArray *stbl = cat (boxed ("stsd", stsd), boxed ("stts", stts), NULL);
  GByteArray *minf = boxed ("stbl", stbl);
  GByteArray *mdia = cat (boxed ("mdhd", mdhd), boxed ("hdlr", hdlr), boxed ("minf", minf), NULL);
  GByteArray *trak = cat (boxed ("tkhd", tkhd), boxed ("mdia", mdia), NULL);
  GByteArray *mvhd = full_header (0, 0);
  for (int i = 0; i < 24; i++)
    put32 (mvhd, 0);
  GByteArray *moov = cat (boxed ("mvhd", mvhd), boxed ("trak", trak), NULL);
  if (m->mvex) {
    GByteArray *trex = full_header (0, 0);
    put32 (trex, 1); put32 (trex, 1); put32 (trex, m->trex_duration); put32 (trex, 0);
    put32 (trex, 0);
    moov = cat (moov, boxed ("mvex", boxed ("trex", trex)), NULL);
  }
  return boxed ("moov", moov);
}

static GByteArray *
make_ftyp (void)
{
  GByteArray *b = g_byte_array_new ();
  put4cc (b, "iso6");
  put32 (b, 0);
  return boxed ("ftyp", b);
}

/* One fragment the way mp4mux's first-moov-then-finalise mode writes it: mdat first, then the
 * moof that points back at it through an absolute base data offset. @file is the file so far. */
static void
append_fragment (GByteArray *file, guint32 samples, guint32 duration, guint32 size)
{
  guint64 mdat_at = file->len;
  GByteArray *data = g_byte_array_new ();
  g_byte_array_set_size (data, samples * size);
  memset (data->data, 0xAB, data->len);
  box (file, "mdat", data);

  GByteArray *mfhd = full_header (0, 0);
  put32 (mfhd, 1);
  GByteArray *tfhd = full_header (0, 0x1);
  put32 (tfhd, 1);
  put64 (tfhd, mdat_at);
  GByteArray *trun = full_header (0, 0x301);
  put32 (trun, samples);
  put32 (trun, 8);   /* data offset: past the mdat header */
  for (guint32 i = 0; i < samples; i++) {
    put32 (trun, duration);
    put32 (trun, size);
  }
  GByteArray *traf = cat (boxed ("tfhd", tfhd), boxed ("trun", trun), NULL);
  GByteArray *moof = cat (boxed ("mfhd", mfhd), boxed ("traf", traf), NULL);
  box (file, "moof", moof);
}

/* ftyp, an empty-table moov with mvex, and @n one-second fragments of 25 samples (ms timescale). */
static GByteArray *
make_fragmented (guint n)
{
  MoovSpec m = { "vide", "avc1", 1000, 0, 0, TRUE, 40 };
  GByteArray *f = cat (make_ftyp (), make_moov (&m), NULL);
  for (guint i = 0; i < n; i++)
    append_fragment (f, 25, 40, 100);
  return f;
}

static GByteArray *
make_finalized (void)
{
  MoovSpec m = { "vide", "hvc1", 90000, 250, 3600, FALSE, 0 };
  GByteArray *mdat = g_byte_array_new ();
  g_byte_array_set_size (mdat, 1000);
  return cat (make_ftyp (), boxed ("mdat", mdat), make_moov (&m), NULL);
}

/* ---- synthetic cases ---- */

typedef struct {
  const char *name;
  GByteArray *(*build) (void);
  gboolean ok;
  int error_code;
  gboolean complete;
  gint64 duration_us;
  guint fragments;
  const char *codec;
} Case;

static GByteArray *b_frag3 (void) { return make_fragmented (3); }
static GByteArray *b_final (void) { return make_finalized (); }
static GByteArray *b_empty (void) { return g_byte_array_new (); }

static GByteArray *
b_cut_in_last_moof (void)
{
  GByteArray *f = make_fragmented (3);
  g_byte_array_set_size (f, f->len - 10);
  return f;
}

static GByteArray *
b_cut_in_last_mdat (void)
{
  GByteArray *f = make_fragmented (2);
  append_fragment (f, 25, 40, 100);
  /* keep the third mdat's header and half its data, drop its moof */
  GByteArray *two = make_fragmented (2);
  g_byte_array_set_size (f, two->len + 8 + 1250);
  g_byte_array_unref (two);
  return f;
}

static GByteArray *
b_moof_points_past_end (void)
{
  /* The second moof is whole but its base data offset points at the end of the file: its
   * samples are not there, so it is not a playable fragment. */
  GByteArray *f = make_fragmented (2);
  guint8 *p = NULL;
  for (guint8 *q = f->data; (q = memmem (q, f->data + f->len - q, "tfhd", 4)) != NULL; q += 4)
    p = q;
  g_assert_nonnull (p);
  guint64 base = f->len;
  for (int i = 0; i < 8; i++)
    p[4 + 8 + i] = (guint8) (base >> (56 - 8 * i));
  return f;
}

static GByteArray *
b_no_moov (void)
{
  GByteArray *data = g_byte_array_new ();
  g_byte_array_set_size (data, 5000);
  return cat (make_ftyp (), boxed ("mdat", data), NULL);
}

static GByteArray *
b_audio_only (void)
{
  MoovSpec m = { "soun", "mp4a", 48000, 100, 1024, FALSE, 0 };
  return cat (make_ftyp (), make_moov (&m), NULL);
}

static GByteArray *
b_size_zero_last (void)
{
  /* size 0 = "to the end of the file", legal for the last box */
  GByteArray *f = make_fragmented (1);
  put32 (f, 0);
  put4cc (f, "mdat");
  g_byte_array_set_size (f, f->len + 300);
  return f;
}

static GByteArray *
b_size_below_header (void)
{
  GByteArray *f = make_ftyp ();
  put32 (f, 4);
  put4cc (f, "free");
  return f;
}

static GByteArray *
b_child_oversized (void)
{
  /* an stts inside moov claiming more than moov holds */
  MoovSpec m = { "vide", "avc1", 1000, 10, 40, FALSE, 0 };
  GByteArray *f = cat (make_ftyp (), make_moov (&m), NULL);
  guint8 *p = memmem (f->data, f->len, "stts", 4);
  g_assert_nonnull (p);
  p[-4] = 0x7f;
  return f;
}

static GByteArray *
b_stts_count_lies (void)
{
  MoovSpec m = { "vide", "avc1", 1000, 10, 40, FALSE, 0 };
  GByteArray *f = cat (make_ftyp (), make_moov (&m), NULL);
  guint8 *p = memmem (f->data, f->len, "stts", 4);
  p[8] = 0x10;   /* entry_count 0x10000001 */
  return f;
}

static GByteArray *
b_trun_count_lies (void)
{
  GByteArray *f = make_fragmented (1);
  guint8 *p = memmem (f->data, f->len, "trun", 4);
  p[8] = 0x7f;   /* sample_count 0x7f000019 with 8 bytes per sample */
  return f;
}

static GByteArray *
b_too_deep (void)
{
  GByteArray *inner = g_byte_array_new ();
  for (int i = 0; i < NVR_MP4PROBE_MAX_DEPTH + 2; i++)
    inner = boxed ("minf", inner);
  return cat (make_ftyp (), boxed ("moov", inner), NULL);
}

static GByteArray *
b_largesize (void)
{
  /* the moov written with a 64-bit size */
  MoovSpec m = { "vide", "avc1", 1000, 50, 40, FALSE, 0 };
  GByteArray *moov = make_moov (&m);
  GByteArray *f = make_ftyp ();
  put32 (f, 1);
  put4cc (f, "moov");
  put64 (f, moov->len + 8);
  g_byte_array_append (f, moov->data + 8, moov->len - 8);
  g_byte_array_unref (moov);
  return f;
}

static GByteArray *
b_zero_timescale (void)
{
  MoovSpec m = { "vide", "avc1", 0, 10, 40, FALSE, 0 };
  return cat (make_ftyp (), make_moov (&m), NULL);
}

static const Case cases[] = {
  { "fragmented", b_frag3, TRUE, 0, FALSE, 3000000, 3, "h264" },
  { "finalized", b_final, TRUE, 0, TRUE, 10000000, 0, "h265" },
  { "cut in last moof", b_cut_in_last_moof, TRUE, 0, FALSE, 2000000, 2, "h264" },
  { "cut in last mdat", b_cut_in_last_mdat, TRUE, 0, FALSE, 2000000, 2, "h264" },
  { "moof data past end", b_moof_points_past_end, TRUE, 0, FALSE, 1000000, 1, "h264" },
  { "size 0 at end", b_size_zero_last, TRUE, 0, FALSE, 1000000, 1, "h264" },
  { "largesize moov", b_largesize, TRUE, 0, TRUE, 2000000, 0, "h264" },
  { "empty", b_empty, FALSE, NVR_MP4PROBE_ERROR_NO_VIDEO, FALSE, 0, 0, NULL },
  { "no moov", b_no_moov, FALSE, NVR_MP4PROBE_ERROR_NO_VIDEO, FALSE, 0, 0, NULL },
  { "audio only", b_audio_only, FALSE, NVR_MP4PROBE_ERROR_NO_VIDEO, FALSE, 0, 0, NULL },
  { "size below header", b_size_below_header, FALSE, NVR_MP4PROBE_ERROR_MALFORMED, FALSE, 0, 0, NULL },
  { "child oversized", b_child_oversized, FALSE, NVR_MP4PROBE_ERROR_MALFORMED, FALSE, 0, 0, NULL },
  { "stts count lies", b_stts_count_lies, FALSE, NVR_MP4PROBE_ERROR_MALFORMED, FALSE, 0, 0, NULL },
  { "trun count lies", b_trun_count_lies, FALSE, NVR_MP4PROBE_ERROR_MALFORMED, FALSE, 0, 0, NULL },
  { "nested too deep", b_too_deep, FALSE, NVR_MP4PROBE_ERROR_MALFORMED, FALSE, 0, 0, NULL },
  { "zero timescale", b_zero_timescale, FALSE, NVR_MP4PROBE_ERROR_MALFORMED, FALSE, 0, 0, NULL },
};

static void
test_synthetic (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    const Case *c = &cases[i];
    g_test_message ("case: %s", c->name);
    GByteArray *buf = c->build ();
    /* a private copy of exactly len bytes, so ASan sees any overread */
    guint8 *copy = g_memdup2 (buf->data, buf->len);
    NvrMp4Info info;
    g_autoptr (GError) error = NULL;
    gboolean ok = nvr_mp4probe_buffer (copy, buf->len, &info, &error);
    if (c->ok) {
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_cmpint (info.complete, ==, c->complete);
      g_assert_cmpint (info.duration_us, ==, c->duration_us);
      g_assert_cmpuint (info.fragments, ==, c->fragments);
      g_assert_cmpstr (info.codec, ==, c->codec);
      g_assert_cmpuint (info.bytes, ==, buf->len);
    } else {
      g_assert_false (ok);
      g_assert_error (error, NVR_MP4PROBE_ERROR, c->error_code);
    }
    g_free (copy);
    g_byte_array_unref (buf);
  }
}

/* Every prefix of a valid file probes without reading out of bounds, and the playable duration
 * never shrinks as the file grows. */
static void
test_every_prefix (void)
{
  GByteArray *f = make_fragmented (4);
  gint64 last = 0;
  for (guint len = 0; len <= f->len; len++) {
    guint8 *copy = g_memdup2 (f->data, len);
    NvrMp4Info info;
    g_autoptr (GError) error = NULL;
    if (nvr_mp4probe_buffer (copy, len, &info, &error)) {
      g_assert_cmpint (info.duration_us, >=, last);
      last = info.duration_us;
    } else {
      g_assert_error (error, NVR_MP4PROBE_ERROR, NVR_MP4PROBE_ERROR_NO_VIDEO);
      g_assert_cmpint (last, ==, 0);
    }
    g_free (copy);
  }
  g_assert_cmpint (last, ==, 4000000);
  g_byte_array_unref (f);
}

static void
test_json (void)
{
  NvrMp4Info info = { TRUE, 1500000, 1234, 0, "h264" };
  g_autofree char *json = nvr_mp4probe_to_json (&info);
  g_assert_cmpstr (json, ==,
                   "{\"complete\":true,\"duration_us\":1500000,\"bytes\":1234,\"fragments\":0,"
                   "\"codec\":\"h264\"}");
  g_autoptr (GArray) frags = g_array_new (FALSE, FALSE, sizeof (NvrMp4Fragment));
  NvrMp4Fragment f[2] = { { 900, 100, 0, 500000, TRUE }, { 1000, 50, 500000, 40000, FALSE } };
  g_array_append_vals (frags, f, 2);
  g_autofree char *indexed = nvr_mp4probe_to_json_indexed (&info, 900, frags);
  g_assert_cmpstr (indexed, ==,
                   "{\"complete\":true,\"duration_us\":1500000,\"bytes\":1234,\"fragments\":0,"
                   "\"codec\":\"h264\",\"init_bytes\":900,\"index\":[[900,100,0,500000,1],"
                   "[1000,50,500000,40000,0]]}");
  g_autofree char *none = nvr_mp4probe_to_json_indexed (&info, 0, NULL);
  g_assert_true (g_str_has_suffix (none, ",\"init_bytes\":0,\"index\":[]}"));
}

/* ---- real files from mp4mux ---- */

#define FRAMES 150               /* 6 s at 25 fps */
#define FRAME_US 40000
#define FRAGMENT_US 1000000

static GstPadProbeReturn
drop_eos (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) != GST_EVENT_EOS)
    return GST_PAD_PROBE_OK;
  g_atomic_int_set ((gint *) data, 1);
  return GST_PAD_PROBE_DROP;
}

/* Encodes FRAMES frames into @path in the recorder's muxer mode (@mode NULL: mp4mux's default
 * fragment mode, which the recorder uses since v8), or in fragment-mode @mode. With @crash the EOS never
 * reaches the muxer and the pipeline is stopped instead: the file is left as a SIGKILL leaves it
 * (the muxer's open fragment is never written). */
static void
record_file (const char *path, const char *mode, gboolean crash)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GstElement) pipeline = gst_parse_launch (
      "videotestsrc num-buffers=150 ! video/x-raw,width=160,height=120,framerate=25/1 "
      "! x264enc key-int-max=25 speed-preset=ultrafast tune=zerolatency ! h264parse name=parse "
      "! mp4mux name=mux fragment-duration=1000 ! filesink name=sink buffer-mode=unbuffered",
      &error);
  g_assert_no_error (error);
  g_autoptr (GstElement) mux = gst_bin_get_by_name (GST_BIN (pipeline), "mux");
  g_autoptr (GstElement) sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_autoptr (GstElement) parse = gst_bin_get_by_name (GST_BIN (pipeline), "parse");
  if (mode != NULL)
    gst_util_set_object_arg (G_OBJECT (mux), "fragment-mode", mode);
  gst_util_set_object_arg (G_OBJECT (sink), "buffer-mode", "unbuffered");
  g_object_set (sink, "location", path, NULL);
  gint eos_seen = 0;
  if (crash) {
    g_autoptr (GstPad) parse_src = gst_element_get_static_pad (parse, "src");
    gst_pad_add_probe (parse_src, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, drop_eos, &eos_seen, NULL);
  }
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
  if (crash) {
    for (int i = 0; i < 3000 && !g_atomic_int_get (&eos_seen); i++)
      g_usleep (10000);
    g_assert_true (g_atomic_int_get (&eos_seen));
    g_usleep (200000);   /* let the muxer write what it will */
  } else {
    g_autoptr (GstMessage) msg = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
                                                             GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    g_assert_nonnull (msg);
    g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
}

typedef struct {
  gint samples;
} Count;

static GstPadProbeReturn
count_buffers (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  g_atomic_int_inc (&((Count *) data)->samples);
  return GST_PAD_PROBE_OK;
}

static void
on_demux_pad (GstElement *demux, GstPad *pad, gpointer data)
{
  GstElement *sink = data;
  g_autoptr (GstPad) sinkpad = gst_element_get_static_pad (sink, "sink");
  if (!gst_pad_is_linked (sinkpad))
    gst_pad_link (pad, sinkpad);
}

/* How many video samples qtdemux reads back from @path: what a player would get. */
static gint
demuxed_samples (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GstElement) pipeline = gst_parse_launch (
      "filesrc name=src ! qtdemux name=demux  fakesink name=sink sync=false", &error);
  g_assert_no_error (error);
  g_autoptr (GstElement) src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  g_autoptr (GstElement) demux = gst_bin_get_by_name (GST_BIN (pipeline), "demux");
  g_autoptr (GstElement) sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_object_set (src, "location", path, NULL);
  g_signal_connect (demux, "pad-added", G_CALLBACK (on_demux_pad), sink);
  Count count = { 0 };
  g_autoptr (GstPad) sinkpad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (sinkpad, GST_PAD_PROBE_TYPE_BUFFER, count_buffers, &count, NULL);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
  /* a cut file may end in an error after its last whole fragment; both end the count */
  g_autoptr (GstMessage) msg = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
                                                           GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  return g_atomic_int_get (&count.samples);
}

static void
copy_prefix (const char *from, const char *to, gsize len)
{
  g_autofree char *data = NULL;
  gsize size;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_get_contents (from, &data, &size, &error));
  g_assert_cmpuint (len, <=, size);
  g_assert_true (g_file_set_contents (to, data, len, &error));
}

static void
test_real_files (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("test-mp4probe-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *closed = g_build_filename (dir, "closed.mp4", NULL);
  g_autofree char *crashed = g_build_filename (dir, "crashed.mp4", NULL);
  g_autofree char *cut = g_build_filename (dir, "cut.mp4", NULL);

  /* Closed normally in the old recorder's mode: a finalized MP4 holding every frame. */
  record_file (closed, "first-moov-then-finalise", FALSE);
  NvrMp4Info info;
  g_assert_true (nvr_mp4probe_file (closed, &info, &error));
  g_assert_no_error (error);
  g_assert_true (info.complete);
  g_assert_cmpstr (info.codec, ==, "h264");
  g_assert_cmpint (info.duration_us, ==, (gint64) FRAMES * FRAME_US);
  g_assert_cmpint (demuxed_samples (closed), ==, FRAMES);

  /* Left open (no EOS reaches the muxer): fragmented, within one fragment of what was fed. */
  record_file (crashed, "first-moov-then-finalise", TRUE);
  g_assert_true (nvr_mp4probe_file (crashed, &info, &error));
  g_assert_no_error (error);
  g_assert_false (info.complete);
  g_assert_cmpuint (info.fragments, >=, 2);
  g_assert_cmpint (info.duration_us, <=, (gint64) FRAMES * FRAME_US);
  g_assert_cmpint (info.duration_us, >=, (gint64) FRAMES * FRAME_US - FRAGMENT_US);
  gint crashed_samples = demuxed_samples (crashed);
  g_assert_cmpint (ABS (info.duration_us - (gint64) crashed_samples * FRAME_US), <=, FRAGMENT_US);

  /* Cut mid-file: only whole fragments count, and a player gets the same within a fragment. */
  GStatBuf st;
  g_assert_cmpint (g_stat (crashed, &st), ==, 0);
  copy_prefix (crashed, cut, (gsize) st.st_size * 3 / 5);
  NvrMp4Info cut_info;
  g_assert_true (nvr_mp4probe_file (cut, &cut_info, &error));
  g_assert_no_error (error);
  g_assert_false (cut_info.complete);
  g_assert_cmpint (cut_info.duration_us, <, info.duration_us);
  g_assert_cmpint (cut_info.duration_us, >, 0);
  gint cut_samples = demuxed_samples (cut);
  g_test_message ("cut: probe %" G_GINT64_FORMAT " us, qtdemux %d samples", cut_info.duration_us,
                  cut_samples);
  g_assert_cmpint (ABS (cut_info.duration_us - (gint64) cut_samples * FRAME_US), <=,
                   FRAGMENT_US);

  /* Cut before the first moov: nothing playable. */
  copy_prefix (crashed, cut, 200);
  g_assert_false (nvr_mp4probe_file (cut, &cut_info, &error));
  g_assert_error (error, NVR_MP4PROBE_ERROR, NVR_MP4PROBE_ERROR_NO_VIDEO);
  g_clear_error (&error);

  g_unlink (closed);
  g_unlink (crashed);
  g_unlink (cut);
  g_rmdir (dir);
}

/* The index of @path, checked for what every index must be: fragments back to back from the
 * end of the init segment, each starting with a moof, times increasing without gaps. */
static GArray *
index_file (const char *path, gint64 *init_bytes)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (path, &data, &len, &error));
  GArray *frags = NULL;
  g_assert_true (nvr_mp4probe_index_buffer ((const guint8 *) data, len, init_bytes, &frags,
                                            &error));
  g_assert_no_error (error);
  gint64 next = *init_bytes, t = 0;
  for (guint i = 0; i < frags->len; i++) {
    const NvrMp4Fragment *f = &g_array_index (frags, NvrMp4Fragment, i);
    g_assert_cmpint (f->offset, ==, next);
    g_assert_cmpint (f->offset + f->size, <=, (gint64) len);
    g_assert_cmpmem (data + f->offset + 4, 4, "moof", 4);
    g_assert_cmpint (f->start_us, ==, t);
    g_assert_cmpint (f->duration_us, >, 0);
    next = f->offset + f->size;
    t = f->start_us + f->duration_us;
  }
  /* The same index, fed one byte at a time and in odd chunks. */
  for (gsize chunk = 1; chunk <= 4099; chunk += 4098) {
    g_autoptr (NvrMp4Indexer) ix = nvr_mp4probe_indexer_new ();
    guint n = 0;
    for (gsize off = 0; off < len; off += chunk) {
      g_assert_true (nvr_mp4probe_indexer_feed (ix, (const guint8 *) data + off,
                                                MIN (chunk, len - off), &error));
      NvrMp4Fragment f;
      while (nvr_mp4probe_indexer_pop (ix, &f)) {
        g_assert_cmpuint (n, <, frags->len);
        g_assert_cmpmem (&f, sizeof f, &g_array_index (frags, NvrMp4Fragment, n), sizeof f);
        n++;
      }
    }
    g_assert_cmpuint (n, ==, frags->len);
    g_assert_cmpint (nvr_mp4probe_indexer_init_bytes (ix), ==, *init_bytes);
  }
  return frags;
}

/* The recorder's format since schema v8: fragments stay in the file; the index finds each. */
static void
test_index_real_files (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("test-mp4probe-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *closed = g_build_filename (dir, "closed.mp4", NULL);
  g_autofree char *crashed = g_build_filename (dir, "crashed.mp4", NULL);
  g_autofree char *cut = g_build_filename (dir, "cut.mp4", NULL);
  g_autofree char *legacy = g_build_filename (dir, "legacy.mp4", NULL);

  /* Closed: every frame in 1 s fragments, each starting at a keyframe (GOP = 1 s). */
  record_file (closed, NULL, FALSE);
  NvrMp4Info info;
  g_assert_true (nvr_mp4probe_file (closed, &info, &error));
  g_assert_no_error (error);
  g_assert_cmpint (info.duration_us, ==, (gint64) FRAMES * FRAME_US);
  g_assert_cmpint (demuxed_samples (closed), ==, FRAMES);
  gint64 init_bytes = 0;
  g_autoptr (GArray) full = index_file (closed, &init_bytes);
  g_assert_cmpint (init_bytes, >, 100);
  g_assert_cmpuint (full->len, ==, FRAMES * FRAME_US / FRAGMENT_US);
  gint64 total = 0;
  for (guint i = 0; i < full->len; i++) {
    const NvrMp4Fragment *f = &g_array_index (full, NvrMp4Fragment, i);
    g_assert_true (f->keyframe);
    g_assert_cmpint (f->duration_us, ==, FRAGMENT_US);
    total += f->duration_us;
  }
  g_assert_cmpint (total, ==, info.duration_us);

  /* Left open as after a SIGKILL: the index covers exactly what the probe measures. */
  record_file (crashed, NULL, TRUE);
  g_assert_true (nvr_mp4probe_file (crashed, &info, &error));
  g_assert_no_error (error);
  g_autoptr (GArray) open = index_file (crashed, &init_bytes);
  g_assert_cmpuint (open->len, >=, 2);
  const NvrMp4Fragment *last = &g_array_index (open, NvrMp4Fragment, open->len - 1);
  g_assert_cmpint (last->start_us + last->duration_us, ==, info.duration_us);

  /* Cut mid-fragment: a strict prefix of the whole index, nothing past the cut. */
  GStatBuf st;
  g_assert_cmpint (g_stat (crashed, &st), ==, 0);
  copy_prefix (crashed, cut, (gsize) st.st_size * 3 / 5);
  g_autoptr (GArray) part = index_file (cut, &init_bytes);
  g_assert_cmpuint (part->len, >=, 1);
  g_assert_cmpuint (part->len, <, open->len);
  for (guint i = 0; i < part->len; i++)
    g_assert_cmpmem (&g_array_index (part, NvrMp4Fragment, i), sizeof (NvrMp4Fragment),
                     &g_array_index (open, NvrMp4Fragment, i), sizeof (NvrMp4Fragment));
  last = &g_array_index (part, NvrMp4Fragment, part->len - 1);
  g_assert_cmpint (last->offset + last->size, <=, (gint64) st.st_size * 3 / 5);

  /* A finalized file of the old recorder has no fragments to index. */
  record_file (legacy, "first-moov-then-finalise", FALSE);
  g_autoptr (GArray) none = index_file (legacy, &init_bytes);
  g_assert_cmpuint (none->len, ==, 0);

  g_unlink (closed);
  g_unlink (crashed);
  g_unlink (cut);
  g_unlink (legacy);
  g_rmdir (dir);
}

/* A camera with audio (docs/design/storage.md "Audio"): video and AAC in one fragmented file,
 * the audio starting 0.5 s before the video, so mp4mux writes moofs holding audio only. They are
 * no fragments of their own but their bytes must still be covered: index_file() checks the
 * fragments are back to back from the init segment, so an audio-only moof left out fails it. */
static void
test_index_with_audio (void)
{
  if (gst_element_factory_find ("voaacenc") == NULL) {
    g_test_skip ("voaacenc is missing");
    return;
  }
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("test-mp4probe-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (dir, "av.mp4", NULL);
  g_autoptr (GstElement) pipeline = gst_parse_launch (
      "videotestsrc num-buffers=150 timestamp-offset=500000000 "
      "! video/x-raw,width=160,height=120,framerate=25/1 "
      "! x264enc key-int-max=25 speed-preset=ultrafast tune=zerolatency ! h264parse "
      "! mp4mux name=mux fragment-duration=1000 ! filesink name=sink "
      "audiotestsrc num-buffers=110 samplesperbuffer=1024 ! audio/x-raw,rate=16000,channels=1 "
      "! voaacenc ! aacparse ! mux.", &error);
  g_assert_no_error (error);
  g_autoptr (GstElement) sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_object_set (sink, "location", path, NULL);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr (GstMessage) msg = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
                                                           GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
  gst_element_set_state (pipeline, GST_STATE_NULL);

  gint64 init_bytes = 0;
  g_autoptr (GArray) frags = index_file (path, &init_bytes);
  g_autofree char *data = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  guint moofs = 0;
  for (gsize off = 0; off + 8 <= len;) {
    guint32 size;
    memcpy (&size, data + off, 4);
    size = GUINT32_FROM_BE (size);
    if (size < 8)
      break;
    if (memcmp (data + off + 4, "moof", 4) == 0)
      moofs++;
    off += size;
  }
  /* The file has audio-only moofs (else this test proves nothing), and video fragments: 6 s of
   * 1 s GOPs. */
  g_assert_cmpuint (frags->len, >=, 5);
  g_assert_cmpuint (moofs, >, frags->len);
  NvrMp4Info info;
  g_assert_true (nvr_mp4probe_file (path, &info, &error));
  const NvrMp4Fragment *last = &g_array_index (frags, NvrMp4Fragment, frags->len - 1);
  g_assert_cmpint (last->start_us + last->duration_us, ==, info.duration_us);
  g_unlink (path);
  g_rmdir (dir);
}

/* Streams that must fail the indexer, and stay failed. */
static void
test_index_bad (void)
{
  static const guint8 zero_size[] = { 0, 0, 0, 0, 'm', 'd', 'a', 't' };
  static const guint8 small[] = { 0, 0, 0, 4, 'f', 'r', 'e', 'e' };
  static const guint8 huge_moof[] = { 0, 0x20, 0, 0, 'm', 'o', 'o', 'f' };
  static const guint8 moof_first[] = { 0, 0, 0, 8, 'm', 'o', 'o', 'f' };
  const struct { const guint8 *data; gsize len; } bad[] = {
    { zero_size, sizeof zero_size }, { small, sizeof small }, { huge_moof, sizeof huge_moof },
    { moof_first, sizeof moof_first },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (NvrMp4Indexer) ix = nvr_mp4probe_indexer_new ();
    g_autoptr (GError) error = NULL;
    g_assert_false (nvr_mp4probe_indexer_feed (ix, bad[i].data, bad[i].len, &error));
    g_assert_error (error, NVR_MP4PROBE_ERROR, NVR_MP4PROBE_ERROR_MALFORMED);
    g_clear_error (&error);
    g_assert_false (nvr_mp4probe_indexer_feed (ix, small, 1, &error));
    g_assert_nonnull (error);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);
  g_test_add_func ("/mp4probe/synthetic", test_synthetic);
  g_test_add_func ("/mp4probe/every-prefix", test_every_prefix);
  g_test_add_func ("/mp4probe/json", test_json);
  g_test_add_func ("/mp4probe/real-files", test_real_files);
  g_test_add_func ("/mp4probe/index-real-files", test_index_real_files);
  g_test_add_func ("/mp4probe/index-bad", test_index_bad);
  g_test_add_func ("/mp4probe/index-with-audio", test_index_with_audio);
  return g_test_run ();
}
