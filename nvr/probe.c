/* probe — `nvr camera-probe` (probe.h): one request from the daemon, one typed result, exit.
 * This file: the process, answering, and the camera test; ONVIF is probe-onvif.c.
 * Main thread owns everything; GStreamer's streaming threads only copy a still or caps into the
 * Probe under its lock and wake the main loop. The sandbox (nvr/sandbox.c) is entered after the
 * request is read and before the first byte to or from the camera. No credential is ever logged:
 * URLs are rebuilt without userinfo, passwords reach rtspsrc and libsoup as properties only. */
#define G_LOG_DOMAIN "nvr-probe"

#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvr-pipelines.h"
#include "probe-int.h"
#include "sandbox.h"
#include "wire.h"

#define PROBE_FD 3


/* ---- answering ---- */

void
nvr_probe_answer (Probe *p, GVariantBuilder *b)
{
  if (p->answered) {
    g_variant_builder_clear (b);
    return;
  }
  p->answered = TRUE;
  g_autoptr (GError) error = NULL;
  if (!nvr_wire_channel_send (p->ch, "result", g_variant_builder_end (b), &error))
    g_warning ("Failed to send the result: %s", error->message);
  nvr_wire_channel_flush (p->ch, 2000);
  g_main_loop_quit (p->loop);
}

/* A detail as the daemon accepts it (prober.c): valid UTF-8, no control characters, at most
 * DETAIL_MAX bytes. Library messages (GStreamer's, libsoup's) are passed through this. */
#define DETAIL_MAX 500
static char *
clean_detail (const char *text)
{
  char *s = g_utf8_make_valid (text ? text : "", -1);
  for (char *c = s; *c; c++)
    if ((guchar) *c < 0x20 || *c == 0x7f)
      *c = ' ';
  if (strlen (s) > DETAIL_MAX) {
    char *end = g_utf8_find_prev_char (s, s + DETAIL_MAX + 1);
    *(end ? end : s) = '\0';
  }
  return s;
}

void
nvr_probe_fail (Probe *p, const char *reason, const char *raw_detail)
{
  g_autofree char *detail = clean_detail (raw_detail);
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "ok", g_variant_new_boolean (FALSE));
  g_variant_builder_add (&b, "{sv}", "reason", g_variant_new_string (reason));
  g_variant_builder_add (&b, "{sv}", "detail", g_variant_new_string (detail));
  g_message ("Probe failed: %s (%s)", reason, detail);
  nvr_probe_answer (p, &b);
}

/* ---- test an RTSP URL ---- */

static char *
lower_dup (const char *s)
{
  return s ? g_ascii_strdown (s, -1) : g_strdup ("");
}

static gboolean select_stream_locked (Probe *p, const char *media, const char *enc,
                                      const GstStructure *s);
static gboolean check_streams (gpointer data);

/* rtspsrc::select-stream, once per stream of the SDP before SETUP: keep the first H.264/H.265
 * video stream; note the first audio stream's codec and set nothing else up. */
static gboolean
on_select_stream (GstElement *src, guint num, GstCaps *caps, gpointer data)
{
  Probe *p = data;
  GstStructure *s = gst_caps_get_structure (caps, 0);
  const char *media = gst_structure_get_string (s, "media");
  const char *enc = gst_structure_get_string (s, "encoding-name");
  g_mutex_lock (&p->lock);
  gboolean selected = select_stream_locked (p, media, enc, s);
  if (!p->saw_streams)
    g_timeout_add (1000, check_streams, p);
  p->saw_streams = TRUE;
  g_mutex_unlock (&p->lock);
  return selected;
}

static gboolean
select_stream_locked (Probe *p, const char *media, const char *enc, const GstStructure *s)
{
  if (g_strcmp0 (media, "video") == 0) {
    if (p->video_codec == NULL && enc != NULL &&
        (g_ascii_strcasecmp (enc, "H264") == 0 || g_ascii_strcasecmp (enc, "H265") == 0)) {
      p->video_codec = lower_dup (enc);
      return TRUE;
    }
    if (p->other_video == NULL)
      p->other_video = g_strndup (enc ? enc : "unknown", 32);
    return FALSE;
  }
  if (g_strcmp0 (media, "audio") == 0 && p->audio_codec == NULL) {
    if (enc != NULL && g_ascii_strcasecmp (enc, "MPEG4-GENERIC") == 0)
      p->audio_codec = g_strdup ("aac");
    else if (enc != NULL && g_ascii_strcasecmp (enc, "MP4A-LATM") == 0)
      p->audio_codec = g_strdup ("aac-latm");
    else
      p->audio_codec = g_strcanon (g_ascii_strdown (enc ? enc : "unknown", -1),
                                   "abcdefghijklmnopqrstuvwxyz0123456789-", '-');
    if (strlen (p->audio_codec) > 32)
      p->audio_codec[32] = '\0';
    gst_structure_get_int (s, "clock-rate", &p->audio_rate);
    const char *params = gst_structure_get_string (s, "encoding-params");
    p->audio_channels = params ? (gint) g_ascii_strtoll (params, NULL, 10) : 1;
    if (p->audio_channels < 1 || p->audio_channels > 8)
      p->audio_channels = 1;
  }
  return FALSE;
}

static void test_video_missing (Probe *p);

/* Main loop, 1 s after the SDP's first stream was offered (rtspsrc offers them all at once, in
 * its own thread): with no usable video stream rtspsrc sets nothing up and waits, so say why. */
static gboolean
check_streams (gpointer data)
{
  Probe *p = data;
  g_mutex_lock (&p->lock);
  gboolean none = p->video_codec == NULL;
  g_mutex_unlock (&p->lock);
  if (none)
    test_video_missing (p);
  return G_SOURCE_REMOVE;
}

/* The still must be a whole picture: a decoder joining mid-GOP conceals the frames it lacks
 * references for (libav's default), so it is told to drop them; the first frame out is then
 * the first keyframe's. */
static void
on_deep_element_added (GstBin *bin, GstBin *sub_bin, GstElement *element, gpointer data)
{
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (element), "output-corrupt") != NULL)
    g_object_set (element, "output-corrupt", FALSE, NULL);
}

/* Streaming thread: the decoder's output caps (size and frame rate of the stream). */
static GstPadProbeReturn
on_raw_caps (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Probe *p = data;
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
  if (GST_EVENT_TYPE (ev) == GST_EVENT_CAPS) {
    GstCaps *caps;
    gst_event_parse_caps (ev, &caps);
    GstStructure *s = gst_caps_get_structure (caps, 0);
    g_mutex_lock (&p->lock);
    gst_structure_get_int (s, "width", &p->width);
    gst_structure_get_int (s, "height", &p->height);
    gst_structure_get_fraction (s, "framerate", &p->fps_n, &p->fps_d);
    g_mutex_unlock (&p->lock);
  }
  return GST_PAD_PROBE_OK;
}

static gboolean test_finish (gpointer data);

/* Streaming thread: the first JPEG. */
static GstFlowReturn
on_still (GstAppSink *sink, gpointer data)
{
  Probe *p = data;
  g_autoptr (GstSample) sample = gst_app_sink_pull_sample (sink);
  if (sample == NULL)
    return GST_FLOW_EOS;
  GstBuffer *buf = gst_sample_get_buffer (sample);
  GstStructure *s = gst_caps_get_structure (gst_sample_get_caps (sample), 0);
  g_mutex_lock (&p->lock);
  gboolean first = p->still == NULL;
  if (first && buf != NULL) {
    GstMapInfo map;
    if (gst_buffer_map (buf, &map, GST_MAP_READ)) {
      p->still = g_bytes_new (map.data, map.size);
      gst_buffer_unmap (buf, &map);
    }
    gst_structure_get_int (s, "width", &p->still_width);
    gst_structure_get_int (s, "height", &p->still_height);
  }
  g_mutex_unlock (&p->lock);
  if (first)
    g_idle_add (test_finish, p);
  return GST_FLOW_EOS;
}

/* The still branch, from the template pipelines/probe-still.gst (decodebin ! videoconvert !
 * videoscale ! capsfilter ! jpegenc ! appsink), its values set by property here. */
static GstElement *
still_branch (Probe *p, GError **error)
{
  g_autoptr (GBytes) bytes = g_resource_lookup_data (nvr_pipelines_get_resource (),
                                                     "/org/hearth/pipelines/probe-still.gst",
                                                     G_RESOURCE_LOOKUP_FLAGS_NONE, error);
  if (bytes == NULL)
    return NULL;
  gsize size;
  const char *data = g_bytes_get_data (bytes, &size);
  g_autofree char *desc = g_strstrip (g_strndup (data, size));
  /* Not ghosting unlinked pads: videoconvert's sink is unlinked until decodebin makes its pad
   * (parse links it then), and must not become the branch's input. */
  g_autoptr (GstElement) bin = gst_parse_bin_from_description (desc, FALSE, error);
  if (bin == NULL)
    return NULL;
  g_autoptr (GstElement) dec = gst_bin_get_by_name (GST_BIN (bin), "dec");
  g_autoptr (GstElement) convert = gst_bin_get_by_name (GST_BIN (bin), "convert");
  g_autoptr (GstElement) filter = gst_bin_get_by_name (GST_BIN (bin), "filter");
  g_autoptr (GstElement) sink = gst_bin_get_by_name (GST_BIN (bin), "still");
  if (dec == NULL || convert == NULL || filter == NULL || sink == NULL) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_FAILED,
                 "probe-still.gst lacks an element it must name");
    return NULL;
  }
  /* At most 640 px wide, square pixels; videoscale keeps the picture's aspect ratio. */
  g_autoptr (GstCaps) caps = gst_caps_new_simple ("video/x-raw", "width", GST_TYPE_INT_RANGE, 16,
                                                  NVR_PROBE_STILL_MAX_WIDTH, "pixel-aspect-ratio",
                                                  GST_TYPE_FRACTION, 1, 1, NULL);
  g_object_set (filter, "caps", caps, NULL);
  GstAppSinkCallbacks cb = { .new_sample = on_still };
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &cb, p, NULL);
  g_autoptr (GstPad) conv_sink = gst_element_get_static_pad (convert, "sink");
  gst_pad_add_probe (conv_sink, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_raw_caps, p, NULL);
  g_signal_connect (dec, "deep-element-added", G_CALLBACK (on_deep_element_added), NULL);
  g_autoptr (GstPad) dec_sink = gst_element_get_static_pad (dec, "sink");
  gst_element_add_pad (bin, gst_ghost_pad_new ("sink", dec_sink));
  return g_steal_pointer (&bin);
}

static void
on_rtsp_pad (GstElement *src, GstPad *pad, gpointer data)
{
  Probe *p = data;
  if (p->decoder_linked)
    return;
  p->decoder_linked = TRUE;
  g_autoptr (GError) error = NULL;
  GstElement *branch = still_branch (p, &error);
  if (branch == NULL) {
    g_warning ("Failed to make the still branch: %s", error->message);
    return;
  }
  gst_bin_add (GST_BIN (p->pipeline), branch);
  gst_element_sync_state_with_parent (branch);
  g_autoptr (GstPad) sink = gst_element_get_static_pad (branch, "sink");
  if (sink == NULL || gst_pad_link (pad, sink) != GST_PAD_LINK_OK)
    g_warning ("Failed to link the camera's video to the decoder");
}

static void
test_video_missing (Probe *p)
{
  if (p->other_video != NULL) {
    g_autofree char *d = g_strdup_printf ("the camera's video is %s; Hearth records H.264 or "
                                          "H.265 only", p->other_video);
    nvr_probe_fail (p, "unsupported-codec", d);
  } else {
    nvr_probe_fail (p, "no-video", "the camera's stream has no video track");
  }
}

static gboolean
test_finish (gpointer data)
{
  Probe *p = data;
  if (p->answered)
    return G_SOURCE_REMOVE;
  g_mutex_lock (&p->lock);
  g_autoptr (GBytes) still = g_steal_pointer (&p->still);
  gint w = p->width, h = p->height, fn = p->fps_n, fd = p->fps_d;
  gint sw = p->still_width, sh = p->still_height;
  g_mutex_unlock (&p->lock);
  if (still == NULL)
    return G_SOURCE_REMOVE;
  if (g_bytes_get_size (still) > NVR_PROBE_STILL_MAX) {
    nvr_probe_fail (p, "no-video", "the camera's picture made a still larger than 512 KiB");
    return G_SOURCE_REMOVE;
  }
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "ok", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&b, "{sv}", "video_codec", g_variant_new_string (p->video_codec));
  g_variant_builder_add (&b, "{sv}", "width", g_variant_new_int32 (w));
  g_variant_builder_add (&b, "{sv}", "height", g_variant_new_int32 (h));
  g_variant_builder_add (&b, "{sv}", "fps_n", g_variant_new_int32 (fn));
  g_variant_builder_add (&b, "{sv}", "fps_d", g_variant_new_int32 (fd));
  g_variant_builder_add (&b, "{sv}", "audio_codec",
                         g_variant_new_string (p->audio_codec ? p->audio_codec : ""));
  g_variant_builder_add (&b, "{sv}", "audio_rate", g_variant_new_int32 (p->audio_rate));
  g_variant_builder_add (&b, "{sv}", "audio_channels", g_variant_new_int32 (p->audio_channels));
  g_variant_builder_add (&b, "{sv}", "still",
                         g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, still, TRUE));
  g_variant_builder_add (&b, "{sv}", "still_width", g_variant_new_int32 (sw));
  g_variant_builder_add (&b, "{sv}", "still_height", g_variant_new_int32 (sh));
  g_message ("Probe done: %s %dx%d, still %dx%d (%" G_GSIZE_FORMAT " bytes)", p->video_codec,
             w, h, sw, sh, g_bytes_get_size (still));
  nvr_probe_answer (p, &b);
  return G_SOURCE_REMOVE;
}

static gboolean
on_bus (GstBus *bus, GstMessage *msg, gpointer data)
{
  Probe *p = data;
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    g_autoptr (GError) err = NULL;
    g_autofree char *debug = NULL;
    gst_message_parse_error (msg, &err, &debug);
    const char *d = debug ? debug : "";
    if (p->saw_streams && !p->decoder_linked && p->video_codec == NULL)
      test_video_missing (p);
    else if (err->domain == GST_RESOURCE_ERROR &&
             (err->code == GST_RESOURCE_ERROR_NOT_AUTHORIZED || strstr (d, "401") != NULL))
      nvr_probe_fail (p, "unauthorized", "the camera refused the user name or password (401)");
    else if (err->domain == GST_RESOURCE_ERROR &&
             (err->code == GST_RESOURCE_ERROR_NOT_FOUND || strstr (d, "404") != NULL))
      nvr_probe_fail (p, "bad-url", "the camera has no stream at this path (404)");
    else if (err->domain == GST_RESOURCE_ERROR &&
             (err->code == GST_RESOURCE_ERROR_OPEN_READ ||
              err->code == GST_RESOURCE_ERROR_OPEN_READ_WRITE ||
              err->code == GST_RESOURCE_ERROR_OPEN_WRITE || strstr (d, "connect") != NULL))
      nvr_probe_fail (p, "unreachable", "could not connect to the camera (refused or unreachable)");
    else if (err->domain == GST_STREAM_ERROR)
      nvr_probe_fail (p, "unsupported-codec", "the camera's video could not be decoded");
    else {
      g_autofree char *text = g_strdup_printf ("the connection failed: %s", err->message);
      nvr_probe_fail (p, "unreachable", text);
    }
  } else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
    g_mutex_lock (&p->lock);
    gboolean have_still = p->still != NULL;
    g_mutex_unlock (&p->lock);
    if (have_still)   /* the appsink ended the stream after its still: answer with it */
      test_finish (p);
    else if (!p->decoder_linked && p->saw_streams)
      test_video_missing (p);
    else
      nvr_probe_fail (p, "no-video", "the camera ended the stream before a picture was decoded");
  }
  return G_SOURCE_CONTINUE;
}

static void
on_no_more_pads (GstElement *src, gpointer data)
{
  Probe *p = data;
  if (!p->decoder_linked && p->saw_streams)
    g_idle_add_once ((GSourceOnceFunc) test_video_missing, p);
}

/* URL without userinfo, or NULL with the reason set. */
static char *
clean_rtsp_url (const char *url, guint16 *port, const char **why)
{
  g_autoptr (GUri) uri = g_uri_parse (url, G_URI_FLAGS_HAS_PASSWORD | G_URI_FLAGS_ENCODED, NULL);
  const char *scheme = uri ? g_uri_get_scheme (uri) : NULL;
  if (uri == NULL || scheme == NULL || g_uri_get_host (uri) == NULL ||
      *g_uri_get_host (uri) == '\0' ||
      !(g_ascii_strcasecmp (scheme, "rtsp") == 0 || g_ascii_strcasecmp (scheme, "rtsps") == 0)) {
    *why = "the URL is not an rtsp:// URL";
    return NULL;
  }
  if (g_uri_get_user (uri) != NULL) {
    *why = "the URL holds credentials: give them as user and password instead";
    return NULL;
  }
  char *clean = g_uri_join (G_URI_FLAGS_ENCODED, scheme, NULL, g_uri_get_host (uri),
                            g_uri_get_port (uri), g_uri_get_path (uri), g_uri_get_query (uri),
                            NULL);
  if (!nvr_sandbox_url_port (clean, port)) {
    g_free (clean);
    *why = "the URL has no usable port";
    return NULL;
  }
  return clean;
}

static gboolean
on_deadline (gpointer data)
{
  Probe *p = data;
  p->deadline = 0;
  nvr_probe_fail (p, "timeout", "the camera gave no picture within " G_STRINGIFY (NVR_PROBE_TEST_TIMEOUT_S)
        " s");
  return G_SOURCE_REMOVE;
}

static void
run_test (Probe *p, GVariant *f)
{
  const char *why = NULL;
  guint16 port = 0;
  g_autofree char *url = clean_rtsp_url (nvr_wire_get_str (f, "main_url", ""), &port, &why);
  if (url == NULL) {
    nvr_probe_fail (p, "bad-url", why);
    return;
  }
  g_autoptr (GError) error = NULL;
  if (!nvr_sandbox_enter_probe (port, &error)) {
    nvr_probe_fail (p, "unreachable", "the probe could not sandbox itself");
    g_warning ("Failed to sandbox the probe: %s", error->message);
    return;
  }
  const char *transport = nvr_wire_get_str (f, "transport", "auto");
  p->pipeline = gst_pipeline_new ("probe");
  p->src = gst_element_factory_make ("rtspsrc", "src");
  if (p->src == NULL) {
    nvr_probe_fail (p, "unsupported-codec", "GStreamer's rtspsrc is missing");
    return;
  }
  const char *user = nvr_wire_get_str (f, "user", "");
  const char *password = nvr_wire_get_str (f, "password", "");
  g_object_set (p->src, "location", url, "latency", 200, NULL);
  if (*user != '\0')
    g_object_set (p->src, "user-id", user, "user-pw", password, NULL);
  gst_util_set_object_arg (G_OBJECT (p->src), "protocols",
                           strcmp (transport, "udp") == 0 ? "udp"
                           : strcmp (transport, "tcp") == 0 ? "tcp" : "tcp+udp");
  g_signal_connect (p->src, "select-stream", G_CALLBACK (on_select_stream), p);
  g_signal_connect (p->src, "pad-added", G_CALLBACK (on_rtsp_pad), p);
  g_signal_connect (p->src, "no-more-pads", G_CALLBACK (on_no_more_pads), p);
  gst_bin_add (GST_BIN (p->pipeline), p->src);
  g_autoptr (GstBus) bus = gst_element_get_bus (p->pipeline);
  gst_bus_add_watch (bus, on_bus, p);
  g_message ("Testing %s (%s)", url, *user ? "with credentials" : "no credentials");
  p->deadline = g_timeout_add_seconds (NVR_PROBE_TEST_TIMEOUT_S, on_deadline, p);
  if (gst_element_set_state (p->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    nvr_probe_fail (p, "unreachable", "the connection could not start");
}

/* ---- process ---- */

static void
on_message (NvrWireChannel *ch, const char *kind, GVariant *fields, gpointer data)
{
  Probe *p = data;
  if (p->requested || strcmp (kind, "request") != 0)
    return;
  p->requested = TRUE;
  const char *what = nvr_wire_get_str (fields, "what", "");
  if (strcmp (what, "test") == 0)
    run_test (p, fields);
  else if (strcmp (what, "onvif-profiles") == 0)
    nvr_probe_onvif_profiles (p, fields);
  else if (strcmp (what, "onvif-scan") == 0)
    nvr_probe_onvif_scan (p, fields);
  else
    nvr_probe_fail (p, "bad-request", "unknown probe request");
}

static void
on_closed (NvrWireChannel *ch, const GError *error, gpointer data)
{
  Probe *p = data;
  p->answered = TRUE;
  g_main_loop_quit (p->loop);
}

int
nvr_probe_main (int argc, char **argv)
{
  if (argc != 1) {
    g_printerr ("camera-probe takes no arguments; it is run by `nvr run` only\n");
    return 2;
  }
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () == 1)
    return 1;
  signal (SIGPIPE, SIG_IGN);
  struct stat st;
  if (fstat (PROBE_FD, &st) != 0 || !S_ISSOCK (st.st_mode)) {
    g_printerr ("camera-probe: fd %d is not the daemon's socket; run by `nvr run` only\n",
                PROBE_FD);
    return 2;
  }
  fcntl (PROBE_FD, F_SETFD, FD_CLOEXEC);
  nvr_sandbox_prepare ();
  gst_init (NULL, NULL);

  Probe p = { 0 };
  g_mutex_init (&p.lock);
  p.loop = g_main_loop_new (NULL, FALSE);
  p.ch = nvr_wire_channel_new (PROBE_FD, on_message, on_closed, &p);
  g_main_loop_run (p.loop);

  if (p.deadline)
    g_source_remove (p.deadline);
  if (p.pipeline != NULL) {
    gst_element_set_state (p.pipeline, GST_STATE_NULL);
    gst_object_unref (p.pipeline);
  }
  nvr_wire_channel_close (p.ch);
  nvr_wire_channel_unref (p.ch);
  g_main_loop_unref (p.loop);
  if (p.still)
    g_bytes_unref (p.still);
  g_free (p.video_codec);
  g_free (p.other_video);
  g_free (p.audio_codec);
  g_mutex_clear (&p.lock);
  return 0;
}
