/* idread — reads fakecam's camera ID code from every (or every Nth) decoded frame of a JPEG, an
 * MP4 (also a fragmented MP4 cut off by SIGKILL) or an fMP4 byte stream on stdin, and prints a
 * summary: the end-to-end check that the right camera's pixels reached the right place.
 * Threads: main thread waits on the bus; the appsink callback (streaming thread) alone writes
 * the Tally until EOS/ERROR is popped. Output format: docs/design/fakecam.md. */
#define G_LOG_DOMAIN "idread"

#include "idcode.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  int every;
  gboolean list;               /* print one line per examined frame to stderr */
  guint64 frames;              /* decoded */
  guint64 examined;            /* frames we tried to read (every Nth) */
  guint64 read;                /* examined frames with a valid code */
  GHashTable *codes;           /* code (uint) -> count (uint), at most 65536 entries */
  gboolean have_counter;
  guint32 counter_first, counter_last;
  GstClockTime pts_first, pts_last;
} Tally;

static GstFlowReturn
on_new_sample (GstAppSink *sink, gpointer user_data)
{
  Tally *t = user_data;
  g_autoptr (GstSample) sample = gst_app_sink_pull_sample (sink);
  if (sample == NULL)
    return GST_FLOW_EOS;
  GstBuffer *buf = gst_sample_get_buffer (sample);
  GstClockTime pts = GST_BUFFER_PTS (buf);

  if (GST_CLOCK_TIME_IS_VALID (pts)) {
    if (!GST_CLOCK_TIME_IS_VALID (t->pts_first))
      t->pts_first = pts;
    t->pts_last = pts;
  }
  if (t->frames++ % (guint64) t->every != 0)
    return GST_FLOW_OK;
  t->examined++;

  GstVideoInfo info;
  GstVideoFrame frame;
  if (!gst_video_info_from_caps (&info, gst_sample_get_caps (sample)) ||
      !gst_video_frame_map (&frame, &info, buf, GST_MAP_READ))
    return GST_FLOW_OK;   /* counted as unreadable */
  guint16 code;
  guint32 counter;
  /* Plane 0 is the luma plane of every format the caps filter admits. */
  if (nvr_idcode_read (GST_VIDEO_FRAME_PLANE_DATA (&frame, 0), GST_VIDEO_FRAME_WIDTH (&frame),
                       GST_VIDEO_FRAME_HEIGHT (&frame), GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0),
                       &code, &counter)) {
    t->read++;
    gpointer key = GUINT_TO_POINTER ((guint) code);
    g_hash_table_insert (t->codes, key,
                         GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (t->codes, key)) + 1));
    if (t->list)
      g_printerr ("frame %" G_GUINT64_FORMAT " pts %.3f code %u counter %u\n", t->frames - 1,
                  GST_CLOCK_TIME_IS_VALID (pts) ? (double) pts / GST_SECOND : -1.0, code, counter);
    if (!t->have_counter)
      t->counter_first = counter;
    t->have_counter = TRUE;
    t->counter_last = counter;
  }
  else if (t->list)
    g_printerr ("frame %" G_GUINT64_FORMAT " pts %.3f unreadable\n", t->frames - 1,
                GST_CLOCK_TIME_IS_VALID (pts) ? (double) pts / GST_SECOND : -1.0);
  gst_video_frame_unmap (&frame);
  return GST_FLOW_OK;
}

static void
on_pad_added (GstElement *decodebin, GstPad *pad, gpointer user_data)
{
  GstElement *convert = user_data;
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);
  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  if (s == NULL || !g_str_has_prefix (gst_structure_get_name (s), "video/"))
    return;
  g_autoptr (GstPad) sinkpad = gst_element_get_static_pad (convert, "sink");
  if (!gst_pad_is_linked (sinkpad) && gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK)
    g_warning ("Failed to link the decoded video pad");
}

static int
compare_uint (gconstpointer a, gconstpointer b)
{
  guint x = GPOINTER_TO_UINT (a), y = GPOINTER_TO_UINT (b);
  return x < y ? -1 : x > y;
}

static void
print_summary (const Tally *t, gboolean json)
{
  g_autoptr (GList) keys = g_list_sort (g_hash_table_get_keys (t->codes), compare_uint);
  double duration_s = GST_CLOCK_TIME_IS_VALID (t->pts_first)
                        ? (double) (t->pts_last - t->pts_first) / GST_SECOND : 0.0;
  g_autoptr (GString) out = g_string_new (NULL);
  const char *sep = "";

  if (json)
    g_string_append_printf (out, "{\"frames\":%" G_GUINT64_FORMAT ",\"read\":%" G_GUINT64_FORMAT
                            ",\"unreadable\":%" G_GUINT64_FORMAT ",\"codes\":{",
                            t->frames, t->read, t->examined - t->read);
  else
    g_string_append_printf (out, "frames=%" G_GUINT64_FORMAT " read=%" G_GUINT64_FORMAT
                            " unreadable=%" G_GUINT64_FORMAT " codes=",
                            t->frames, t->read, t->examined - t->read);
  for (GList *l = keys; l != NULL; l = l->next) {
    guint code = GPOINTER_TO_UINT (l->data);
    guint count = GPOINTER_TO_UINT (g_hash_table_lookup (t->codes, l->data));
    g_string_append_printf (out, json ? "%s\"%u\":%u" : "%s%u:%u", sep, code, count);
    sep = ",";
  }
  if (json) {
    g_string_append (out, "},\"counter_first\":");
    if (t->have_counter)
      g_string_append_printf (out, "%u,\"counter_last\":%u", t->counter_first, t->counter_last);
    else
      g_string_append (out, "null,\"counter_last\":null");
    g_string_append_printf (out, ",\"duration_s\":%.3f}", duration_s);
  } else {
    if (t->have_counter)
      g_string_append_printf (out, " counter_first=%u counter_last=%u", t->counter_first, t->counter_last);
    g_string_append_printf (out, " duration_s=%.3f", duration_s);
  }
  puts (out->str);
  fflush (stdout);
}

int
main (int argc, char **argv)
{
  gboolean json = FALSE, list = FALSE;
  int every = 1;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object", NULL },
    { "every", 0, 0, G_OPTION_ARG_INT, &every, "Read the code from every Nth decoded frame (default 1)", "N" },
    { "list", 0, 0, G_OPTION_ARG_NONE, &list, "Also print each examined frame's pts, code and counter to stderr", NULL },
    { NULL },
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (GOptionContext) ctx = g_option_context_new ("FILE|- - read fakecam ID codes from a JPEG, MP4 or fMP4 stream");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  g_log_writer_default_set_use_stderr (TRUE);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2 || every < 1) {
    g_printerr ("idread: %s\nusage: idread [--json] [--every N] FILE|-\n",
                error ? error->message : "expected exactly one FILE (or - for stdin) and N >= 1");
    return 2;
  }
  gst_init (NULL, NULL);

  const char *input = argv[1];
  gboolean from_stdin = strcmp (input, "-") == 0;
  if (!from_stdin && !g_file_test (input, G_FILE_TEST_IS_REGULAR)) {
    g_printerr ("idread: Failed to open '%s': not a regular file\n", input);
    return 2;
  }

  g_autoptr (GstElement) pipeline = gst_pipeline_new ("idread");
  GstElement *src = gst_element_factory_make (from_stdin ? "fdsrc" : "filesrc", "src");
  GstElement *decode = gst_element_factory_make ("decodebin", "decode");
  GstElement *convert = gst_element_factory_make ("videoconvert", "convert");
  GstElement *filter = gst_element_factory_make ("capsfilter", "filter");
  GstElement *sink = gst_element_factory_make ("appsink", "sink");
  if (!src || !decode || !convert || !filter || !sink) {
    g_printerr ("idread: a GStreamer element is missing (core, base and libav plugins needed)\n");
    return 2;
  }
  gst_bin_add_many (GST_BIN (pipeline), src, decode, convert, filter, sink, NULL);
  if (from_stdin)
    g_object_set (src, "fd", 0, NULL);
  else
    g_object_set (src, "location", input, NULL);
  /* Planar formats whose plane 0 is luma: videoconvert passes decoder output through as is. */
  g_autoptr (GstCaps) caps = gst_caps_from_string (
      "video/x-raw,format={I420,YV12,NV12,NV21,Y42B,Y444,GRAY8}");
  g_object_set (filter, "caps", caps, NULL);
  g_object_set (sink, "sync", FALSE, "max-buffers", 4, NULL);
  if (!gst_element_link (src, decode) || !gst_element_link_many (convert, filter, sink, NULL)) {
    g_printerr ("idread: cannot link the pipeline\n");
    return 2;
  }
  g_signal_connect (decode, "pad-added", G_CALLBACK (on_pad_added), convert);

  Tally tally = { .every = every, .list = list, .pts_first = GST_CLOCK_TIME_NONE, .pts_last = GST_CLOCK_TIME_NONE };
  tally.codes = g_hash_table_new (NULL, NULL);
  GstAppSinkCallbacks callbacks = { .new_sample = on_new_sample };
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks, &tally, NULL);

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g_printerr ("idread: Failed to open '%s'\n", input);
    return 2;
  }
  g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr (GstMessage) msg = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE,
                                                           GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    /* A recording cut off mid-write ends in an error after its last whole fragment: report
     * what was decoded; only a stream with no frame at all is a failure. */
    g_autoptr (GError) gst_error = NULL;
    gst_message_parse_error (msg, &gst_error, NULL);
    g_printerr ("idread: stopped after %" G_GUINT64_FORMAT " frame(s): %s\n", tally.frames,
                gst_error->message);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);   /* joins the streaming threads */

  print_summary (&tally, json);
  g_hash_table_unref (tally.codes);
  return tally.frames > 0 ? 0 : 1;
}
