/* Unit tests of nvr/export.c: the fragment walker on real mp4mux files (fragmented, and a
 * finalised one it must refuse), the planner as a table over synthetic fragment lists with a
 * real init segment, and end to end: an export of a range across two real files is written by
 * the reader, decoded frame by frame with GStreamer, and its duration compared with to - from;
 * a source deleted mid-read fails the read instead of ending it short. */
#include "export.h"
#include "mp4probe.h"

#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <string.h>

#define FPS 10
#define SEC G_USEC_PER_SEC
#define T0 G_GINT64_CONSTANT (1795867800000000)   /* wall start of file A */

typedef struct {
  char *dir;
  char *a, *b, *sparse, *wide, *plain;   /* see setup */
  char *av_a, *av_b;                      /* with an AAC track */
} Clips;

static Clips clips;

/* @seconds of 160x120 (or @w x @h) video at FPS, an IDR every @gop frames, 1 s fragments. */
static void
encode (const char *path, int seconds, int gop, int w, int h, gboolean fragmented)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *desc = g_strdup_printf (
      "videotestsrc num-buffers=%d pattern=ball ! video/x-raw,width=%d,height=%d,framerate=%d/1 "
      "! x264enc key-int-max=%d bframes=0 speed-preset=ultrafast tune=zerolatency "
      "! h264parse ! mp4mux fragment-duration=1000 %s ! filesink location=\"%s\"",
      seconds * FPS, w, h, FPS, gop,
      fragmented ? "" : "fragment-mode=first-moov-then-finalise", path);
  g_autoptr (GstElement) p = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  gst_element_set_state (p, GST_STATE_PLAYING);
  g_autoptr (GstBus) bus = gst_element_get_bus (p);
  g_autoptr (GstMessage) m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
                                                         GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (m);
  g_assert_cmpint (GST_MESSAGE_TYPE (m), ==, GST_MESSAGE_EOS);
  gst_element_set_state (p, GST_STATE_NULL);
}

/* @seconds of video as encode() makes it plus a 16 kHz mono AAC track of the same length
 * (voaacenc, as the recorder's G.711 branch), muxed as the recorder's mp4mux does: per fragment
 * an audio-only moof then the video one, and a last audio-only moof after the last video one. */
static void
encode_av (const char *path, int seconds)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *desc = g_strdup_printf (
      "videotestsrc num-buffers=%d pattern=ball ! video/x-raw,width=160,height=120,framerate=%d/1 "
      "! x264enc key-int-max=%d bframes=0 speed-preset=ultrafast tune=zerolatency "
      "! h264parse ! mp4mux name=mux fragment-duration=1000 ! filesink location=\"%s\" "
      "audiotestsrc num-buffers=%d samplesperbuffer=1024 ! audio/x-raw,rate=16000,channels=1 "
      "! voaacenc ! aacparse ! mux.",
      seconds * FPS, FPS, FPS, path, (seconds * 16000 + 1023) / 1024);
  g_autoptr (GstElement) p = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  gst_element_set_state (p, GST_STATE_PLAYING);
  g_autoptr (GstBus) bus = gst_element_get_bus (p);
  g_autoptr (GstMessage) m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
                                                         GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (m);
  g_assert_cmpint (GST_MESSAGE_TYPE (m), ==, GST_MESSAGE_EOS);
  gst_element_set_state (p, GST_STATE_NULL);
}

static NvrExportFile
walk (const char *path, gint64 wall)
{
  NvrExportFile f;
  g_autoptr (GError) error = NULL;
  g_assert_true (nvr_export_walk_file (path, wall, &f, &error));
  g_assert_no_error (error);
  return f;
}

static void
test_walk (void)
{
  NvrExportFile f = walk (clips.a, T0);
  g_assert_cmpuint (f.fragments->len, ==, 6);
  for (guint i = 0; i < f.fragments->len; i++) {
    const NvrExportFragment *fr = &g_array_index (f.fragments, NvrExportFragment, i);
    g_assert_cmpint (fr->start_us, ==, (gint64) i * SEC);
    g_assert_cmpint (fr->duration_us, ==, SEC);
    g_assert_true (fr->keyframe);
    g_assert_cmpint (fr->size, >, 0);
  }
  nvr_export_file_clear (&f);

  /* IDR every 2 s, fragments every 1 s: every other fragment starts with a keyframe. */
  f = walk (clips.sparse, T0);
  g_assert_cmpuint (f.fragments->len, ==, 6);
  for (guint i = 0; i < f.fragments->len; i++)
    g_assert_cmpint (g_array_index (f.fragments, NvrExportFragment, i).keyframe, ==, i % 2 == 0);
  nvr_export_file_clear (&f);

  /* A finalised MP4 (what the recorder writes before fragments land) is refused clearly. */
  g_autoptr (GError) error = NULL;
  g_assert_false (nvr_export_walk_file (clips.plain, T0, &f, &error));
  g_assert_error (error, NVR_EXPORT_ERROR, NVR_EXPORT_ERROR_NOT_FRAGMENTED);
  g_clear_error (&error);

  /* A file cut in the middle of its last fragment (still being written) keeps the whole ones. */
  g_autofree char *data = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (clips.a, &data, &len, NULL));
  f = walk (clips.a, T0);
  gint64 cut = g_array_index (f.fragments, NvrExportFragment, 4).offset + 100;
  nvr_export_file_clear (&f);
  g_autofree char *cutp = g_build_filename (clips.dir, "cut.mp4", NULL);
  g_assert_true (g_file_set_contents (cutp, data, cut, NULL));
  f = walk (cutp, T0);
  g_assert_cmpuint (f.fragments->len, ==, 4);
  nvr_export_file_clear (&f);
  g_unlink (cutp);
}

/* ---- the planner table ---- */

typedef struct {
  gint64 wall;                /* file start, s after T0 */
  guint n;                    /* fragments of 1 s */
  guint key_every;            /* keyframe every Nth fragment */
  int init;                   /* 0: file A's init, 1: another resolution, 2: A's with another
                               * btrt (bitrate statistics), 3: video + AAC (av_a's init), 4: 3
                               * with its audio sample entry not AAC, 5: 3 with other esds
                               * bitrates */
} FileSpec;

typedef struct {
  const char *name;
  FileSpec files[3];
  double from_s, to_s;        /* after T0 */
  int error;                  /* -1 = success */
  guint pieces;
  double media_start_s;       /* wall of the first picked fragment, after T0 */
  double edit_start_s;        /* edit media_time, seconds */
  double duration_s;          /* edit duration */
} PlanCase;

static const PlanCase plan_cases[] = {
  { "inside one fragment", { { 0, 6, 1, FALSE }, { 0, 0, 0, FALSE }, { 0, 0, 0, FALSE } }, 2.3, 2.6, -1, 1, 2, 0.3, 0.3 },
  { "whole file", { { 0, 6, 1, FALSE }, { 0, 0, 0, FALSE }, { 0, 0, 0, FALSE } }, 0, 6, -1, 6, 0, 0, 6 },
  { "before and after the recording", { { 10, 6, 1, FALSE }, { 0, 0, 0, FALSE }, { 0, 0, 0, FALSE } }, 0, 100, -1, 6, 10, 0, 6 },
  { "key walk-back", { { 0, 6, 2, FALSE }, { 0, 0, 0, FALSE }, { 0, 0, 0, FALSE } }, 3.5, 4.5, -1, 3, 2, 1.5, 1 },
  { "across two files", { { 0, 6, 1, FALSE }, { 6, 6, 1, FALSE }, { 0, 0, 0, FALSE } }, 4.5, 7.5, -1, 4, 4, 0.5, 3 },
  /* A gap between files is closed up: 1.5 s before it plus 1.5 s after it. */
  { "across a gap", { { 0, 6, 1, FALSE }, { 20, 6, 1, FALSE }, { 0, 0, 0, FALSE } }, 4.5, 21.5, -1, 4, 4, 0.5, 3 },
  { "in a gap only", { { 0, 6, 1, FALSE }, { 20, 6, 1, FALSE }, { 0, 0, 0, FALSE } }, 8, 15, NVR_EXPORT_ERROR_EMPTY, 0, 0, 0, 0 },
  { "empty range", { { 0, 6, 1, FALSE }, { 0, 0, 0, FALSE }, { 0, 0, 0, FALSE } }, 3, 3, NVR_EXPORT_ERROR_EMPTY, 0, 0, 0, 0 },
  { "format changes", { { 0, 6, 1, FALSE }, { 6, 6, 1, TRUE }, { 0, 0, 0, FALSE } }, 1, 8, NVR_EXPORT_ERROR_FORMAT_CHANGED, 0, 0, 0, 0 },
  /* Only the bitrate statistics differ: the same format. */
  { "btrt differs", { { 0, 6, 1, FALSE }, { 6, 6, 1, 2 }, { 0, 0, 0, FALSE } }, 4.5, 7.5, -1, 4, 4, 0.5, 3 },
  /* The second file is outside the range: its format does not matter. */
  { "format change outside", { { 0, 6, 1, FALSE }, { 6, 6, 1, TRUE }, { 0, 0, 0, FALSE } }, 1, 5, -1, 4, 1, 0, 4 },
  /* With audio: the same pieces and video edit; sequence numbers leave room for the moofs of a
   * piece; the audio edit starts at the same time. */
  /* ...and the fragment after the one `to` falls in, when its file has one (its audio-only
   * moof may hold audio from before `to`). */
  { "audio, inside one fragment", { { 0, 6, 1, 3 }, { 0, 0, 0, FALSE }, { 0, 0, 0, FALSE } }, 2.3, 2.6, -1, 2, 2, 0.3, 0.3 },
  { "audio, across two files", { { 0, 6, 1, 3 }, { 6, 6, 1, 3 }, { 0, 0, 0, FALSE } }, 4.5, 7.5, -1, 5, 4, 0.5, 3 },
  { "audio, across a gap", { { 0, 6, 1, 3 }, { 20, 6, 1, 3 }, { 0, 0, 0, FALSE } }, 4.5, 21.5, -1, 5, 4, 0.5, 3 },
  { "audio, key walk-back", { { 0, 6, 2, 3 }, { 0, 0, 0, FALSE }, { 0, 0, 0, FALSE } }, 3.5, 4.5, -1, 4, 2, 1.5, 1 },
  { "audio, to in the last fragment", { { 0, 6, 1, 3 }, { 0, 0, 0, FALSE }, { 0, 0, 0, FALSE } }, 3.5, 5.5, -1, 3, 3, 0.5, 2 },
  /* Only the AAC bitrate statistics differ: the same format. */
  { "audio, esds bitrates differ", { { 0, 6, 1, 3 }, { 6, 6, 1, 5 }, { 0, 0, 0, FALSE } }, 4.5, 7.5, -1, 5, 4, 0.5, 3 },
  /* A file with audio next to one without: refused, naming the time. */
  { "audio stops", { { 0, 6, 1, 3 }, { 6, 6, 1, 0 }, { 0, 0, 0, FALSE } }, 4.5, 7.5, NVR_EXPORT_ERROR_FORMAT_CHANGED, 0, 0, 0, 0 },
  { "audio starts", { { 0, 6, 1, 0 }, { 6, 6, 1, 3 }, { 0, 0, 0, FALSE } }, 4.5, 7.5, NVR_EXPORT_ERROR_FORMAT_CHANGED, 0, 0, 0, 0 },
  { "audio stops outside", { { 0, 6, 1, 3 }, { 6, 6, 1, 0 }, { 0, 0, 0, FALSE } }, 1, 5, -1, 4, 1, 0, 4 },
  { "audio not AAC", { { 0, 6, 1, 4 }, { 0, 0, 0, FALSE }, { 0, 0, 0, FALSE } }, 1, 5, NVR_EXPORT_ERROR_UNSUPPORTED, 0, 0, 0, 0 },
};

static GBytes *init_normal, *init_wide, *init_btrt, *init_av, *init_av_ulaw, *init_av_esds;

static GBytes *
init_of (const char *path)
{
  NvrExportFile f = walk (path, 0);
  GBytes *b = g_bytes_ref (f.init);
  nvr_export_file_clear (&f);
  return b;
}

static void
test_plan_table (void)
{
  for (guint c = 0; c < G_N_ELEMENTS (plan_cases); c++) {
    const PlanCase *pc = &plan_cases[c];
    GArray *files = g_array_new (FALSE, TRUE, sizeof (NvrExportFile));
    for (guint i = 0; i < 3 && pc->files[i].n > 0; i++) {
      const FileSpec *fs = &pc->files[i];
      NvrExportFile f = { .path = g_strdup_printf ("/nonexistent/%u.mp4", i),
                          .wall_start_us = T0 + fs->wall * SEC,
                          .init = g_bytes_ref (fs->init == 1 ? init_wide
                                               : fs->init == 2 ? init_btrt
                                               : fs->init == 3 ? init_av
                                               : fs->init == 4 ? init_av_ulaw
                                               : fs->init == 5 ? init_av_esds : init_normal),
                          .fragments = g_array_new (FALSE, FALSE, sizeof (NvrExportFragment)) };
      for (guint k = 0; k < fs->n; k++) {
        NvrExportFragment fr = { .offset = 1000 + k * 5000, .size = 5000, .start_us = k * SEC,
                                 .duration_us = SEC, .keyframe = k % fs->key_every == 0 };
        g_array_append_val (f.fragments, fr);
      }
      g_array_append_val (files, f);
    }
    g_autoptr (GError) error = NULL;
    g_autoptr (NvrExportPlan) plan =
        nvr_export_plan_new (files, T0 + (gint64) (pc->from_s * SEC),
                             T0 + (gint64) (pc->to_s * SEC), &error);
    g_test_message ("case '%s': %s", pc->name, error ? error->message : "planned");
    if (pc->error >= 0) {
      g_assert_null (plan);
      g_assert_error (error, NVR_EXPORT_ERROR, pc->error);
      continue;
    }
    g_assert_no_error (error);
    guint n = 0;
    const NvrExportPiece *pieces = nvr_export_plan_pieces (plan, &n);
    g_assert_cmpuint (n, ==, pc->pieces);
    guint64 media_time;
    guint32 ts;
    gint64 duration_us;
    nvr_export_plan_edit (plan, &media_time, &ts, &duration_us);
    guint64 audio_time;
    guint32 audio_ts;
    gboolean audio = nvr_export_plan_audio_edit (plan, &audio_time, &audio_ts);
    g_assert_cmpint (audio, ==, pc->files[0].init == 3);
    guint32 stride = audio ? NVR_EXPORT_MAX_MOOFS_PER_FRAGMENT : 1;
    g_assert_cmpint (nvr_export_plan_media_start_us (plan), ==,
                     T0 + (gint64) (pc->media_start_s * SEC));
    g_assert_cmpint (llabs ((gint64) media_time * SEC / ts - (gint64) (pc->edit_start_s * SEC)),
                     <=, SEC / ts);
    /* The audio edit starts at the same time (its own timescale, 16 kHz here). */
    if (audio) {
      g_assert_cmpuint (audio_ts, ==, 16000);
      g_assert_cmpint (llabs ((gint64) audio_time * SEC / audio_ts -
                              (gint64) (pc->edit_start_s * SEC)), <=, SEC / audio_ts + SEC / ts);
    }
    g_assert_cmpint (llabs (duration_us - (gint64) (pc->duration_s * SEC)), <=, SEC / ts + 1);
    /* Sequence numbers from 1, decode times continuous (1 s fragments, gaps closed up). */
    guint64 len = g_bytes_get_size (nvr_export_plan_init (plan));
    for (guint i = 0; i < n; i++) {
      g_assert_cmpuint (pieces[i].sequence, ==, i * stride + 1);
      g_assert_cmpuint (pieces[i].tfdt, ==, (guint64) i * ts);
      len += (guint64) pieces[i].size;
    }
    g_assert_cmpuint (nvr_export_plan_length (plan), ==, len);
  }
}

/* ---- end to end ---- */

typedef struct {
  guint frames;
  GstClockTime first_pts, last_pts;
  GstClockTime end;           /* last pts + its duration */
  GstClockTime total;         /* sum of the buffers' durations */
  gboolean backwards;         /* a pts before the previous buffer's end (beyond 1 ms) */
  GstClockTime max_gap;       /* largest hole: a pts after the previous buffer's end */
  /* stream time: the position in the presentation, each track's edit applied (qtdemux sends
   * a new segment per fragment of a fragmented file, so running time restarts; this does not) */
  GstClockTime first_st, end_st;
} Decoded;

static GstFlowReturn
on_sample (GstAppSink *sink, gpointer data)
{
  Decoded *d = data;
  g_autoptr (GstSample) s = gst_app_sink_pull_sample (sink);
  GstBuffer *b = gst_sample_get_buffer (s);
  GstSegment *seg = gst_sample_get_segment (s);
  GstClockTime st = gst_segment_to_stream_time (seg, GST_FORMAT_TIME, GST_BUFFER_PTS (b));
  if (d->frames == 0) {
    d->first_pts = GST_BUFFER_PTS (b);
    d->first_st = st;
  }
  else if (GST_BUFFER_PTS (b) + GST_MSECOND < d->end)
    d->backwards = TRUE;
  else if (GST_BUFFER_PTS (b) > d->end)
    d->max_gap = MAX (d->max_gap, GST_BUFFER_PTS (b) - d->end);
  d->last_pts = GST_BUFFER_PTS (b);
  GstClockTime dur = GST_BUFFER_DURATION_IS_VALID (b) ? GST_BUFFER_DURATION (b) : 0;
  d->end = d->last_pts + dur;
  if (GST_CLOCK_TIME_IS_VALID (st))
    d->end_st = MAX (d->end_st, st + dur);
  d->total += dur;
  d->frames++;
  return GST_FLOW_OK;
}

/* Decodes every frame of @path; *duration is what the demuxer reports. */
static Decoded
decode (const char *path, gint64 *duration_ns)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *desc = g_strdup_printf (
      "filesrc location=\"%s\" ! qtdemux ! h264parse ! avdec_h264 ! videoconvert "
      "! appsink name=sink sync=false emit-signals=false", path);
  g_autoptr (GstElement) p = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  Decoded d = { 0 };
  g_autoptr (GstElement) sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  GstAppSinkCallbacks cb = { .new_sample = on_sample };
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &cb, &d, NULL);
  gst_element_set_state (p, GST_STATE_PAUSED);
  g_assert_cmpint (gst_element_get_state (p, NULL, NULL, 30 * GST_SECOND), !=,
                   GST_STATE_CHANGE_FAILURE);
  *duration_ns = -1;
  gst_element_query_duration (p, GST_FORMAT_TIME, duration_ns);
  gst_element_set_state (p, GST_STATE_PLAYING);
  g_autoptr (GstBus) bus = gst_element_get_bus (p);
  g_autoptr (GstMessage) m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
                                                         GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (m);
  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
    g_autoptr (GError) e = NULL;
    gst_message_parse_error (m, &e, NULL);
    g_error ("decoding '%s' failed: %s", path, e->message);
  }
  gst_element_set_state (p, GST_STATE_NULL);
  return d;
}

static NvrExportPlan *
plan_ab (gint64 from_us, gint64 to_us)
{
  GArray *files = g_array_new (FALSE, TRUE, sizeof (NvrExportFile));
  NvrExportFile a = walk (clips.a, T0), b = walk (clips.b, T0 + 6 * SEC);
  g_array_append_val (files, a);
  g_array_append_val (files, b);
  g_autoptr (GError) error = NULL;
  NvrExportPlan *plan = nvr_export_plan_new (files, from_us, to_us, &error);
  g_assert_no_error (error);
  return plan;
}

static void
write_all (NvrExportPlan *plan, const char *path, gsize chunk)
{
  g_autoptr (NvrExportReader) r = nvr_export_reader_new (plan);
  FILE *out = fopen (path, "wb");
  g_assert_nonnull (out);
  g_autofree guint8 *buf = g_malloc (chunk);
  gssize n;
  g_autoptr (GError) error = NULL;
  while ((n = nvr_export_reader_read (r, buf, chunk, &error)) > 0)
    g_assert_cmpuint (fwrite (buf, 1, (gsize) n, out), ==, (gsize) n);
  g_assert_no_error (error);
  fclose (out);
  g_assert_cmpuint (nvr_export_reader_position (r), ==, nvr_export_plan_length (plan));
}

static void
test_end_to_end (void)
{
  /* 2.5 s into A to 1.5 s into B: starts at A's keyframe at 2 s, ends in B's 2nd fragment. */
  gint64 from = T0 + 2500000, to = T0 + 7500000;
  g_autoptr (NvrExportPlan) plan = plan_ab (from, to);
  g_autofree char *out = g_build_filename (clips.dir, "export.mp4", NULL);
  write_all (plan, out, 4096 + 17);   /* an odd chunk: pieces split anywhere */
  GStatBuf st;
  g_assert_cmpint (g_stat (out, &st), ==, 0);
  g_assert_cmpint ((guint64) st.st_size, ==, nvr_export_plan_length (plan));

  /* The walker reads the output back as a fragmented file of 4+2 fragments... */
  NvrExportFile back = walk (out, 0);
  g_assert_cmpuint (back.fragments->len, ==, 6);
  for (guint i = 0; i < back.fragments->len; i++)
    g_assert_cmpint (g_array_index (back.fragments, NvrExportFragment, i).start_us, ==,
                     (gint64) i * SEC);
  nvr_export_file_clear (&back);

  /* ...and a player decodes every frame of it, and plays to - from. */
  gint64 duration_ns = -1;
  Decoded d = decode (out, &duration_ns);
  g_test_message ("decoded %u frames, pts %" GST_TIME_FORMAT " .. %" GST_TIME_FORMAT
                  ", duration %" GST_TIME_FORMAT, d.frames, GST_TIME_ARGS (d.first_pts),
                  GST_TIME_ARGS (d.last_pts), GST_TIME_ARGS (duration_ns));
  /* The file holds 6 fragments of 10 frames from the keyframe at 2 s. The edit makes the
   * first frame shown the one at `from` (media time 0.5 s: the 5 frames before it are decoded
   * but not shown), the duration is to - from, and every frame of [from, to) decodes. The
   * frames after `to` in the last fragment stay in the file (the edit ends before them; qtdemux
   * still outputs some of them). */
  g_assert_cmpuint (d.first_pts, ==, 500 * GST_MSECOND);
  g_assert_cmpuint (d.frames, >=, (guint) ((to - from) * FPS / SEC));
  g_assert_cmpuint (d.frames, <=, 60 - 5);
  g_assert_cmpint (llabs (duration_ns / 1000 - (to - from)), <=, SEC / FPS);

  /* The hash walk reads exactly these bytes. */
  guint8 sha[32], want[32];
  g_autoptr (GError) error = NULL;
  g_assert_true (nvr_export_plan_sha256 (plan, sha, &error));
  g_autofree char *data = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (out, &data, &len, NULL));
  g_autoptr (GChecksum) ck = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (ck, (const guchar *) data, len);
  gsize wl = sizeof want;
  g_checksum_get_digest (ck, want, &wl);
  g_assert_cmpmem (sha, 32, want, 32);
  g_unlink (out);
}

/* Reading from any offset gives the same bytes as the whole output from there (Range). */
static void
test_seek (void)
{
  g_autoptr (NvrExportPlan) plan = plan_ab (T0 + 2500000, T0 + 7500000);
  g_autoptr (NvrExportPlan) again = plan_ab (T0 + 2500000, T0 + 7500000);
  g_autoptr (NvrExportPlan) other = plan_ab (T0 + 2500000, T0 + 8500000);
  g_autofree char *e1 = nvr_export_plan_etag (plan);
  g_autofree char *e2 = nvr_export_plan_etag (again);
  g_autofree char *e3 = nvr_export_plan_etag (other);
  g_assert_cmpuint (strlen (e1), ==, 32);
  g_assert_cmpstr (e1, ==, e2);
  g_assert_cmpstr (e1, !=, e3);

  guint64 len = nvr_export_plan_length (plan);
  g_autofree guint8 *all = g_malloc (len);
  g_autoptr (NvrExportReader) r = nvr_export_reader_new (plan);
  guint64 got = 0;
  gssize n;
  while ((n = nvr_export_reader_read (r, all + got, 7000, NULL)) > 0)
    got += (guint64) n;
  g_assert_cmpuint (got, ==, len);
  guint n_pieces;
  const NvrExportPiece *pieces = nvr_export_plan_pieces (plan, &n_pieces);
  g_autoptr (GBytes) init = nvr_export_plan_init (plan);
  guint64 p1 = g_bytes_get_size (init) + (guint64) pieces[0].size;
  /* start, inside the init, at a moof, inside a moof, inside an mdat, the last byte, the end */
  guint64 offsets[] = { 0, 10, p1, p1 + 5, p1 + 300, len - 1, len };
  for (guint i = 0; i < G_N_ELEMENTS (offsets); i++) {
    g_autoptr (NvrExportReader) s = nvr_export_reader_new (plan);
    g_autoptr (GError) error = NULL;
    g_assert_true (nvr_export_reader_seek (s, offsets[i], &error));
    g_assert_no_error (error);
    g_autofree guint8 *rest = g_malloc (len - offsets[i] + 1);
    guint64 k = 0;
    while ((n = nvr_export_reader_read (s, rest + k, 4096, &error)) > 0)
      k += (guint64) n;
    g_assert_no_error (error);
    g_assert_cmpuint (k, ==, len - offsets[i]);
    g_assert_cmpmem (rest, k, all + offsets[i], k);
  }
  g_autoptr (NvrExportReader) beyond = nvr_export_reader_new (plan);
  g_assert_false (nvr_export_reader_seek (beyond, len + 1, NULL));
}

static void
test_source_gone (void)
{
  g_autofree char *copy = g_build_filename (clips.dir, "b-copy.mp4", NULL);
  g_autofree char *data = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (clips.b, &data, &len, NULL));
  g_assert_true (g_file_set_contents (copy, data, len, NULL));
  GArray *files = g_array_new (FALSE, TRUE, sizeof (NvrExportFile));
  NvrExportFile a = walk (clips.a, T0), b = walk (copy, T0 + 6 * SEC);
  g_array_append_val (files, a);
  g_array_append_val (files, b);
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrExportPlan) plan = nvr_export_plan_new (files, T0, T0 + 12 * SEC, &error);
  g_assert_no_error (error);
  g_autoptr (NvrExportReader) r = nvr_export_reader_new (plan);
  guint8 buf[4096];
  g_assert_cmpint (nvr_export_reader_read (r, buf, sizeof buf, &error), ==, sizeof buf);
  guint n_pieces;
  const NvrExportPiece *pieces = nvr_export_plan_pieces (plan, &n_pieces);
  g_assert_cmpuint (n_pieces, ==, 12);
  g_assert_cmpuint (pieces[0].file, ==, 0);
  g_assert_cmpint (pieces[0].size, >, (gint64) sizeof buf);   /* still in the first file */
  /* Retention removes the second file while the first is being sent. */
  g_assert_cmpint (g_unlink (copy), ==, 0);
  gssize n;
  while ((n = nvr_export_reader_read (r, buf, sizeof buf, &error)) > 0)
    ;
  g_assert_cmpint (n, ==, -1);
  g_assert_error (error, NVR_EXPORT_ERROR, NVR_EXPORT_ERROR_SOURCE_GONE);
  g_assert_cmpuint (nvr_export_reader_position (r), <, nvr_export_plan_length (plan));
}

/* The catalog's fragment index in place of the walk (what the export route uses for finished
 * files): the same file description, the same output bytes, and every way an index can
 * disagree with its file refused clearly. */
static NvrExportFile
from_index (const NvrExportFile *walked, gint64 init_bytes, const NvrExportFragment *frags,
            guint n, GError **error)
{
  NvrExportFile f;
  if (!nvr_export_file_from_index (walked->path, walked->wall_start_us, init_bytes, frags, n,
                                   &f, error))
    memset (&f, 0, sizeof f);
  return f;
}

static void
test_from_index (void)
{
  NvrExportFile wa = walk (clips.a, T0), wb = walk (clips.b, T0 + 6 * SEC);
  const NvrExportFragment *fa = (const NvrExportFragment *) (void *) wa.fragments->data;
  guint na = wa.fragments->len;
  gint64 init_a = (gint64) g_bytes_get_size (wa.init);
  g_autoptr (GError) error = NULL;

  /* The same description as the walk: init bytes and fragments. */
  NvrExportFile ia = from_index (&wa, init_a, fa, na, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (ia.init, wa.init));
  g_assert_cmpuint (ia.fragments->len, ==, na);
  g_assert_cmpmem (ia.fragments->data, na * sizeof (NvrExportFragment), fa,
                   na * sizeof (NvrExportFragment));
  NvrExportFile ib = from_index (&wb, (gint64) g_bytes_get_size (wb.init),
                                 (const NvrExportFragment *) (void *) wb.fragments->data,
                                 wb.fragments->len, &error);
  g_assert_no_error (error);

  /* The same export, byte for byte, as from the walked files. */
  gint64 from = T0 + 2500000, to = T0 + 7500000;
  GArray *files = g_array_new (FALSE, TRUE, sizeof (NvrExportFile));
  g_array_append_val (files, ia);
  g_array_append_val (files, ib);
  g_autoptr (NvrExportPlan) indexed = nvr_export_plan_new (files, from, to, &error);
  g_assert_no_error (error);
  g_autoptr (NvrExportPlan) walked = plan_ab (from, to);
  guint8 sha_i[32], sha_w[32];
  g_assert_true (nvr_export_plan_sha256 (indexed, sha_i, &error));
  g_assert_true (nvr_export_plan_sha256 (walked, sha_w, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (sha_i, 32, sha_w, 32);
  g_assert_cmpuint (nvr_export_plan_length (indexed), ==, nvr_export_plan_length (walked));

  /* Indexes that disagree with the file: refused before a byte is planned. */
  NvrExportFragment bad[16];
  g_assert_cmpuint (na, <=, G_N_ELEMENTS (bad));
  struct { const char *what; gint64 init; int edit; int code; } cases[] = {
    { "init one byte short", init_a - 1, 0, NVR_EXPORT_ERROR_MALFORMED },
    { "init one byte long", init_a + 1, 0, NVR_EXPORT_ERROR_MALFORMED },
    { "no init", 0, 0, NVR_EXPORT_ERROR_MALFORMED },
    { "fragments overlap", init_a, 1, NVR_EXPORT_ERROR_MALFORMED },
    { "a fragment inside the init", init_a, 2, NVR_EXPORT_ERROR_MALFORMED },
    { "no fragments", init_a, 3, NVR_EXPORT_ERROR_MALFORMED },
  };
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    memcpy (bad, fa, na * sizeof *bad);
    guint n = na;
    if (cases[c].edit == 1)
      bad[2].offset = bad[1].offset + bad[1].size - 1;
    else if (cases[c].edit == 2)
      bad[0].offset = init_a - 8;
    else if (cases[c].edit == 3)
      n = 0;
    NvrExportFile f = from_index (&wa, cases[c].init, bad, n, &error);
    g_test_message ("%s: %s", cases[c].what, error ? error->message : "accepted");
    g_assert_error (error, NVR_EXPORT_ERROR, cases[c].code);
    g_assert_null (f.path);
    g_clear_error (&error);
  }

  /* A file gone since it was indexed. */
  g_autofree char *gone = g_build_filename (clips.dir, "gone.mp4", NULL);
  NvrExportFile wgone = { .path = gone, .wall_start_us = T0 };
  NvrExportFile f = from_index (&wgone, init_a, fa, na, &error);
  g_assert_error (error, NVR_EXPORT_ERROR, NVR_EXPORT_ERROR_SOURCE_GONE);
  g_assert_null (f.path);
  g_clear_error (&error);

  /* An index whose offsets point into a mdat passes the plan's checks only as far as sizes go;
   * the reader checks each moof when it gets there and fails the read (never sends the
   * wrong bytes as a fragment). */
  memcpy (bad, fa, na * sizeof *bad);
  bad[na - 1].offset += 16;
  bad[na - 1].size -= 16;
  NvrExportFile shifted = from_index (&wa, init_a, bad, na, &error);
  g_assert_no_error (error);
  GArray *one = g_array_new (FALSE, TRUE, sizeof (NvrExportFile));
  g_array_append_val (one, shifted);
  g_autoptr (NvrExportPlan) plan = nvr_export_plan_new (one, T0, T0 + 6 * SEC, &error);
  if (plan != NULL) {
    g_autoptr (NvrExportReader) r = nvr_export_reader_new (plan);
    guint8 buf[4096];
    gssize n;
    while ((n = nvr_export_reader_read (r, buf, sizeof buf, &error)) > 0)
      ;
    g_assert_cmpint (n, ==, -1);
    g_assert_cmpuint (nvr_export_reader_position (r), <, nvr_export_plan_length (plan));
  }
  g_test_message ("shifted moof: %s", error ? error->message : "no error");
  g_assert_error (error, NVR_EXPORT_ERROR, NVR_EXPORT_ERROR_MALFORMED);

  nvr_export_file_clear (&wa);
  nvr_export_file_clear (&wb);
}

/* ---- with audio ---- */

/* The walker folds each audio-only moof+mdat into the next video fragment, like the recorder's
 * indexer (mp4probe), and leaves out the last one (no video after it). */
static void
test_audio_walk (void)
{
  NvrExportFile f = walk (clips.av_a, T0);
  g_assert_cmpuint (f.fragments->len, ==, 6);
  const NvrExportFragment *fr = (const NvrExportFragment *) (void *) f.fragments->data;
  g_assert_cmpint (fr[0].offset, ==, (gint64) g_bytes_get_size (f.init));
  for (guint i = 0; i < f.fragments->len; i++) {
    g_assert_cmpint (fr[i].start_us, ==, (gint64) i * SEC);
    g_assert_cmpint (fr[i].duration_us, ==, SEC);
    g_assert_true (fr[i].keyframe);
    if (i > 0)
      g_assert_cmpint (fr[i].offset, ==, fr[i - 1].offset + fr[i - 1].size);
  }
  GStatBuf st;
  g_assert_cmpint (g_stat (clips.av_a, &st), ==, 0);
  g_assert_cmpint (fr[5].offset + fr[5].size, <, (gint64) st.st_size);
  /* The file's last audio-only moof+mdat (after the last video fragment) is its tail, sent with
   * the last fragment; only the mfra (mp4mux's random-access index) follows it. */
  g_assert_cmpint (f.tail_size, >, 0);
  {
    g_autofree char *bytes = NULL;
    gsize blen;
    g_assert_true (g_file_get_contents (clips.av_a, &bytes, &blen, NULL));
    gsize t = (gsize) (fr[5].offset + fr[5].size), e = t + (gsize) f.tail_size;
    g_assert_cmpmem (bytes + t + 4, 4, "moof", 4);
    g_assert_cmpuint (e + 8, <=, blen);
    g_assert_cmpmem (bytes + e + 4, 4, "mfra", 4);
  }

  /* The same fragments as the recorder's indexer finds in the file. */
  g_autofree char *data = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (clips.av_a, &data, &len, NULL));
  g_autoptr (NvrMp4Indexer) ix = nvr_mp4probe_indexer_new ();
  g_autoptr (GError) error = NULL;
  g_assert_true (nvr_mp4probe_indexer_feed (ix, (const guint8 *) data, len, &error));
  g_assert_no_error (error);
  g_assert_cmpint (nvr_mp4probe_indexer_init_bytes (ix), ==, (gint64) g_bytes_get_size (f.init));
  NvrMp4Fragment m;
  guint n = 0;
  while (nvr_mp4probe_indexer_pop (ix, &m)) {
    g_assert_cmpuint (n, <, f.fragments->len);
    g_assert_cmpint (m.offset, ==, fr[n].offset);
    g_assert_cmpint (m.size, ==, fr[n].size);
    g_assert_cmpint (m.start_us, ==, fr[n].start_us);
    g_assert_cmpint (m.keyframe, ==, fr[n].keyframe);
    n++;
  }
  g_assert_cmpuint (n, ==, f.fragments->len);
  nvr_export_file_clear (&f);
}

static NvrExportPlan *
plan_av (gint64 from_us, gint64 to_us)
{
  GArray *files = g_array_new (FALSE, TRUE, sizeof (NvrExportFile));
  NvrExportFile a = walk (clips.av_a, T0), b = walk (clips.av_b, T0 + 6 * SEC);
  g_array_append_val (files, a);
  g_array_append_val (files, b);
  g_autoptr (GError) error = NULL;
  NvrExportPlan *plan = nvr_export_plan_new (files, from_us, to_us, &error);
  g_assert_no_error (error);
  return plan;
}

/* Decodes both streams of @path. */
static void
decode_av (const char *path, Decoded *v, Decoded *a, gint64 *duration_ns)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *desc = g_strdup_printf (
      "filesrc location=\"%s\" ! qtdemux name=d "
      "d.video_0 ! queue ! h264parse ! avdec_h264 ! videoconvert "
      "! appsink name=vsink sync=false emit-signals=false "
      "d.audio_0 ! queue ! aacparse ! avdec_aac ! audioconvert "
      "! appsink name=asink sync=false emit-signals=false", path);
  g_autoptr (GstElement) p = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  memset (v, 0, sizeof *v);
  memset (a, 0, sizeof *a);
  g_autoptr (GstElement) vsink = gst_bin_get_by_name (GST_BIN (p), "vsink");
  g_autoptr (GstElement) asink = gst_bin_get_by_name (GST_BIN (p), "asink");
  GstAppSinkCallbacks cb = { .new_sample = on_sample };
  gst_app_sink_set_callbacks (GST_APP_SINK (vsink), &cb, v, NULL);
  gst_app_sink_set_callbacks (GST_APP_SINK (asink), &cb, a, NULL);
  gst_element_set_state (p, GST_STATE_PAUSED);
  g_assert_cmpint (gst_element_get_state (p, NULL, NULL, 30 * GST_SECOND), !=,
                   GST_STATE_CHANGE_FAILURE);
  *duration_ns = -1;
  gst_element_query_duration (p, GST_FORMAT_TIME, duration_ns);
  gst_element_set_state (p, GST_STATE_PLAYING);
  g_autoptr (GstBus) bus = gst_element_get_bus (p);
  g_autoptr (GstMessage) m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
                                                         GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (m);
  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
    g_autoptr (GError) e = NULL;
    gst_message_parse_error (m, &e, NULL);
    g_error ("decoding '%s' failed: %s", path, e->message);
  }
  gst_element_set_state (p, GST_STATE_NULL);
}

static void
test_audio_end_to_end (void)
{
  /* As test_end_to_end: 2.5 s into A to 1.5 s into B, both with audio. */
  gint64 from = T0 + 2500000, to = T0 + 7500000;
  g_autoptr (NvrExportPlan) plan = plan_av (from, to);
  g_autofree char *out = g_build_filename (clips.dir, "export-av.mp4", NULL);
  write_all (plan, out, 4096 + 17);

  /* A fragmented file with both tracks: the walker reads 4+2(+1 after `to`) fragments back. */
  NvrExportFile back = walk (out, 0);
  g_assert_cmpuint (back.fragments->len, ==, 7);
  for (guint i = 0; i < back.fragments->len; i++)
    g_assert_cmpint (g_array_index (back.fragments, NvrExportFragment, i).start_us, ==,
                     (gint64) i * SEC);
  nvr_export_file_clear (&back);

  Decoded v, a;
  gint64 duration_ns = -1;
  decode_av (out, &v, &a, &duration_ns);
  g_test_message ("video: %u frames, pts %" GST_TIME_FORMAT " .. %" GST_TIME_FORMAT ", stream "
                  "time %" GST_TIME_FORMAT " .. %" GST_TIME_FORMAT "; audio: %u buffers, "
                  "stream time %" GST_TIME_FORMAT " .. %" GST_TIME_FORMAT " (%" GST_TIME_FORMAT
                  " of samples); duration %" GST_TIME_FORMAT, v.frames,
                  GST_TIME_ARGS (v.first_pts), GST_TIME_ARGS (v.end),
                  GST_TIME_ARGS (v.first_st), GST_TIME_ARGS (v.end_st), a.frames,
                  GST_TIME_ARGS (a.first_st), GST_TIME_ARGS (a.end_st), GST_TIME_ARGS (a.total),
                  GST_TIME_ARGS (duration_ns));
  /* Video as without audio (plus the fragment after `to`, which qtdemux shows too). */
  g_assert_cmpuint (v.first_pts, ==, 500 * GST_MSECOND);
  g_assert_cmpuint (v.frames, >=, (guint) ((to - from) * FPS / SEC));
  g_assert_cmpuint (v.frames, <=, 70 - 5);
  g_assert_cmpint (llabs (duration_ns / 1000 - (to - from)), <=, SEC / FPS);
  /* Audio starts with the first frame shown (stream time: each track's edit applied) and plays
   * as long as the video up to `to` (clipped there: qtdemux also shows what the file holds after
   * the edit, see test_end_to_end); it never goes back. */
  GstClockTime edit = (GstClockTime) (to - from) * GST_USECOND;
  g_assert_cmpuint (a.frames, >, 0);
  g_assert_false (a.backwards);
  g_assert_false (v.backwards);
  g_assert_cmpuint (v.first_st, ==, 0);
  g_assert_cmpint (ABS ((gint64) a.first_st - (gint64) v.first_st), <=, 100 * GST_MSECOND);
  g_assert_cmpuint (v.end_st, >=, edit);
  g_assert_cmpint (ABS ((gint64) MIN (a.end_st, edit) - (gint64) MIN (v.end_st, edit)), <=,
                   100 * GST_MSECOND);
  /* The samples cover that span without a hole: A's last audio (its audio-only tail, after its
   * last video fragment) is sent with A's last fragment (it was left out before: 0.256 s
   * missing at A's end). */
  g_assert_cmpint ((gint64) a.total, >=, (gint64) (a.end_st - a.first_st) - 50 * GST_MSECOND);
  g_assert_cmpuint (a.max_gap, <=, 50 * GST_MSECOND);

  guint8 sha[32], want[32];
  g_autoptr (GError) error = NULL;
  g_assert_true (nvr_export_plan_sha256 (plan, sha, &error));
  g_autofree char *data = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (out, &data, &len, NULL));
  g_assert_cmpuint (len, ==, nvr_export_plan_length (plan));
  g_autoptr (GChecksum) ck = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (ck, (const guchar *) data, len);
  gsize wl = sizeof want;
  g_checksum_get_digest (ck, want, &wl);
  g_assert_cmpmem (sha, 32, want, 32);
  g_unlink (out);

  /* From A's 5th fragment to late in B's 5th: A's audio there leads its video by 0.16 s and
   * B's by 0.2 s (mp4mux's 0.96 s audio fragments), so the audio offset and its edit must make
   * up for the first, and the audio up to `to` lies partly in the fragment after it. Both
   * tracks play from `from` to `to` (stream time, clipped to the edit) within 100 ms. */
  gint64 from2 = T0 + 4500000, to2 = T0 + 10950000;
  g_autoptr (NvrExportPlan) later = plan_av (from2, to2);
  write_all (later, out, 65536);
  decode_av (out, &v, &a, &duration_ns);
  GstClockTime dur = (GstClockTime) (to2 - from2) * GST_USECOND;
  g_test_message ("from 4.5 s to 10.95 s: video stream time %" GST_TIME_FORMAT " .. %"
                  GST_TIME_FORMAT ", audio %" GST_TIME_FORMAT " .. %" GST_TIME_FORMAT,
                  GST_TIME_ARGS (v.first_st), GST_TIME_ARGS (v.end_st),
                  GST_TIME_ARGS (a.first_st), GST_TIME_ARGS (a.end_st));
  g_assert_false (a.backwards);
  g_assert_cmpuint (v.first_st, ==, 0);
  g_assert_cmpint (ABS ((gint64) a.first_st - (gint64) v.first_st), <=, 100 * GST_MSECOND);
  g_assert_cmpuint (v.end_st, >=, dur);
  g_assert_cmpint (ABS ((gint64) MIN (a.end_st, dur) - (gint64) MIN (v.end_st, dur)), <=,
                   100 * GST_MSECOND);
  /* Sync, beyond where the decoders clip the start: both exports end with B's last fragment,
   * whose audio ends a fixed time before its video in the source; exported from B's start (no
   * audio offset, both edits at 0) that gap is the source's, and the export from 4.5 s must
   * show the same gap, i.e. its audio edit accounts for the offset exactly, less B's audio
   * delay: A's audio runs on past A's video (A's last AAC frame straddles its end: 16 ms here)
   * and B's follows it instead of overlapping it. */
  g_assert_false (a.backwards);
  g_assert_cmpuint (a.max_gap, <=, 50 * GST_MSECOND);
  gint64 lag_later = (gint64) v.end_st - (gint64) a.end_st;
  NvrExportFile fa = walk (clips.av_a, T0);
  gint64 over_a = fa.audio_end_us - 6 * SEC;
  nvr_export_file_clear (&fa);
  g_assert_cmpint (over_a, >=, 0);
  g_assert_cmpint (over_a, <, 64 * 1000);   /* less than one AAC frame (1024 at 16 kHz) */
  g_autoptr (NvrExportPlan) whole_b = plan_av (T0 + 6 * SEC, T0 + 12 * SEC);
  write_all (whole_b, out, 65536);
  decode_av (out, &v, &a, &duration_ns);
  gint64 lag_b = (gint64) v.end_st - (gint64) a.end_st;
  g_test_message ("audio ends %" G_GINT64_FORMAT " ms before the video from 4.5 s, %"
                  G_GINT64_FORMAT " ms in B exported alone, B's audio delayed %" G_GINT64_FORMAT
                  " us after A", lag_later / 1000000, lag_b / 1000000, over_a);
  g_assert_cmpint (ABS (lag_later + over_a * 1000 - lag_b), <=, 2 * GST_MSECOND);
  g_unlink (out);
}

/* Range reads with two moofs per piece: from inside either one, the same bytes. */
static void
test_audio_seek (void)
{
  g_autoptr (NvrExportPlan) plan = plan_av (T0 + 2500000, T0 + 7500000);
  guint64 len = nvr_export_plan_length (plan);
  g_autofree guint8 *all = g_malloc (len);
  g_autoptr (NvrExportReader) r = nvr_export_reader_new (plan);
  guint64 got = 0;
  gssize n;
  while ((n = nvr_export_reader_read (r, all + got, 7000, NULL)) > 0)
    got += (guint64) n;
  g_assert_cmpuint (got, ==, len);
  guint n_pieces;
  const NvrExportPiece *pieces = nvr_export_plan_pieces (plan, &n_pieces);
  g_autoptr (GBytes) init = nvr_export_plan_init (plan);
  guint64 p1 = g_bytes_get_size (init) + (guint64) pieces[0].size;
  /* piece 1: audio moof, its mdat, then the video moof */
  g_assert_cmpmem (all + p1 + 4, 4, "moof", 4);
  guint64 amdat = p1 + ((guint64) all[p1] << 24 | all[p1 + 1] << 16 | all[p1 + 2] << 8 | all[p1 + 3]);
  g_assert_cmpmem (all + amdat + 4, 4, "mdat", 4);
  guint64 vmoof = amdat + ((guint64) all[amdat] << 24 | all[amdat + 1] << 16 |
                           all[amdat + 2] << 8 | all[amdat + 3]);
  g_assert_cmpmem (all + vmoof + 4, 4, "moof", 4);
  guint64 offsets[] = { p1, p1 + 5, amdat + 3, vmoof, vmoof + 20, vmoof + 2000, len - 1 };
  for (guint i = 0; i < G_N_ELEMENTS (offsets); i++) {
    g_autoptr (NvrExportReader) s = nvr_export_reader_new (plan);
    g_autoptr (GError) error = NULL;
    g_assert_true (nvr_export_reader_seek (s, offsets[i], &error));
    g_assert_no_error (error);
    g_autofree guint8 *rest = g_malloc (len - offsets[i] + 1);
    guint64 k = 0;
    while ((n = nvr_export_reader_read (s, rest + k, 4096, &error)) > 0)
      k += (guint64) n;
    g_assert_no_error (error);
    g_assert_cmpuint (k, ==, len - offsets[i]);
    g_assert_cmpmem (rest, k, all + offsets[i], k);
  }
}

/* The index path with audio: the fragments the recorder's indexer finds, the same bytes. */
static void
test_audio_from_index (void)
{
  GArray *files = g_array_new (FALSE, TRUE, sizeof (NvrExportFile));
  const char *paths[] = { clips.av_a, clips.av_b };
  for (guint i = 0; i < 2; i++) {
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true (g_file_get_contents (paths[i], &data, &len, NULL));
    g_autoptr (NvrMp4Indexer) ix = nvr_mp4probe_indexer_new ();
    g_assert_true (nvr_mp4probe_indexer_feed (ix, (const guint8 *) data, len, NULL));
    g_autoptr (GArray) frags = g_array_new (FALSE, FALSE, sizeof (NvrExportFragment));
    NvrMp4Fragment m;
    while (nvr_mp4probe_indexer_pop (ix, &m)) {
      NvrExportFragment fr = { m.offset, m.size, m.start_us, m.duration_us, m.keyframe };
      g_array_append_val (frags, fr);
    }
    NvrExportFile f;
    g_autoptr (GError) error = NULL;
    g_assert_true (nvr_export_file_from_index (
        paths[i], T0 + (gint64) i * 6 * SEC, nvr_mp4probe_indexer_init_bytes (ix),
        (const NvrExportFragment *) (void *) frags->data, frags->len, &f, &error));
    g_assert_no_error (error);
    /* The tail after the last indexed fragment is found from the file, as the walker does. */
    NvrExportFile w = walk (paths[i], 0);
    g_assert_cmpint (f.tail_size, >, 0);
    g_assert_cmpint (f.tail_size, ==, w.tail_size);
    nvr_export_file_clear (&w);
    g_array_append_val (files, f);
  }
  gint64 from = T0 + 2500000, to = T0 + 7500000;
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrExportPlan) indexed = nvr_export_plan_new (files, from, to, &error);
  g_assert_no_error (error);
  g_autoptr (NvrExportPlan) walked = plan_av (from, to);
  guint8 sha_i[32], sha_w[32];
  g_assert_true (nvr_export_plan_sha256 (indexed, sha_i, &error));
  g_assert_true (nvr_export_plan_sha256 (walked, sha_w, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (sha_i, 32, sha_w, 32);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_autoptr (GError) error = NULL;
  clips.dir = g_dir_make_tmp ("hearth-export-XXXXXX", &error);
  g_assert_no_error (error);
  clips.a = g_build_filename (clips.dir, "a.mp4", NULL);
  clips.b = g_build_filename (clips.dir, "b.mp4", NULL);
  clips.sparse = g_build_filename (clips.dir, "sparse.mp4", NULL);
  clips.wide = g_build_filename (clips.dir, "wide.mp4", NULL);
  clips.plain = g_build_filename (clips.dir, "plain.mp4", NULL);
  encode (clips.a, 6, FPS, 160, 120, TRUE);
  encode (clips.b, 6, FPS, 160, 120, TRUE);
  encode (clips.sparse, 6, 2 * FPS, 160, 120, TRUE);
  encode (clips.wide, 2, FPS, 192, 108, TRUE);
  encode (clips.plain, 2, FPS, 160, 120, FALSE);
  clips.av_a = g_build_filename (clips.dir, "av-a.mp4", NULL);
  clips.av_b = g_build_filename (clips.dir, "av-b.mp4", NULL);
  encode_av (clips.av_a, 6);
  encode_av (clips.av_b, 6);
  init_av = init_of (clips.av_a);
  {
    /* av_a's init with its audio sample entry renamed (not AAC), and with another avgBitrate
     * in its esds (DecoderConfigDescriptor: objectType 0x40, streamType 0x15, bufferSizeDB,
     * maxBitrate, avgBitrate). */
    gsize len;
    const guint8 *d = g_bytes_get_data (init_av, &len);
    guint8 *ulaw = g_memdup2 (d, len);
    guint8 *e = memmem (ulaw, len, "mp4a", 4);
    g_assert_nonnull (e);
    memcpy (e, "ulaw", 4);
    init_av_ulaw = g_bytes_new_take (ulaw, len);
    guint8 *esds = g_memdup2 (d, len);
    guint8 *es = memmem (esds, len, "esds", 4);
    g_assert_nonnull (es);
    guint8 *dc = memmem (es, len - (gsize) (es - esds), "\x40\x15", 2);
    g_assert_nonnull (dc);
    dc[2 + 3 + 4 + 3] ^= 0x55;
    init_av_esds = g_bytes_new_take (esds, len);
  }
  init_normal = init_of (clips.a);
  init_wide = init_of (clips.wide);
  {
    /* A's init with its btrt's average bitrate changed, as a later file of the recorder has. */
    gsize len;
    const guint8 *d = g_bytes_get_data (init_normal, &len);
    guint8 *copy = g_memdup2 (d, len);
    guint8 *b = memmem (copy, len, "btrt", 4);
    g_assert_nonnull (b);
    b[4 + 8] ^= 0x55;   /* after size/type: bufferSizeDB, maxBitrate, then avgBitrate */
    init_btrt = g_bytes_new_take (copy, len);
  }

  g_test_add_func ("/export/walk", test_walk);
  g_test_add_func ("/export/plan-table", test_plan_table);
  g_test_add_func ("/export/end-to-end", test_end_to_end);
  g_test_add_func ("/export/seek", test_seek);
  g_test_add_func ("/export/source-gone", test_source_gone);
  g_test_add_func ("/export/from-index", test_from_index);
  g_test_add_func ("/export/audio/walk", test_audio_walk);
  g_test_add_func ("/export/audio/end-to-end", test_audio_end_to_end);
  g_test_add_func ("/export/audio/seek", test_audio_seek);
  g_test_add_func ("/export/audio/from-index", test_audio_from_index);
  int rc = g_test_run ();

  g_bytes_unref (init_normal);
  g_bytes_unref (init_wide);
  g_bytes_unref (init_btrt);
  g_bytes_unref (init_av);
  g_bytes_unref (init_av_ulaw);
  g_bytes_unref (init_av_esds);
  const char *all[] = { clips.a, clips.b, clips.sparse, clips.wide, clips.plain, clips.av_a,
                        clips.av_b };
  for (guint i = 0; i < G_N_ELEMENTS (all); i++) {
    g_unlink (all[i]);
    g_free ((char *) all[i]);
  }
  g_rmdir (clips.dir);
  g_free (clips.dir);
  return rc;
}
