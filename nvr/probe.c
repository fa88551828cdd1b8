/* probe — `nvr camera-probe` (probe.h): one request from the daemon, one typed result, exit.
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
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvr-pipelines.h"
#include "onvif.h"
#include "sandbox.h"
#include "wire.h"

#define PROBE_FD 3

typedef struct {
  GMainLoop *loop;
  NvrWireChannel *ch;
  gboolean requested;        /* the one request was read; later messages are ignored */
  gboolean answered;
  guint deadline;

  /* test: the stream choice (video_codec .. audio_channels, saw_streams) is written under @lock by
   * rtspsrc's thread in select-stream, all at once, and read by the main loop after it */
  GstElement *pipeline;
  GstElement *src;
  char *video_codec;        /* "h264"/"h265" selected, else NULL */
  char *other_video;        /* encoding-name of a video stream we cannot use */
  char *audio_codec;
  gint audio_rate, audio_channels;
  gboolean decoder_linked;
  gboolean saw_streams;     /* select-stream ran: the camera's SDP was read */
  GMutex lock;              /* also the fields below: streaming threads write, main reads */
  gint width, height, fps_n, fps_d;
  GBytes *still;
  gint still_width, still_height;
} Probe;

/* ---- answering ---- */

static void
answer (Probe *p, GVariantBuilder *b)
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

static void
fail (Probe *p, const char *reason, const char *raw_detail)
{
  g_autofree char *detail = clean_detail (raw_detail);
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "ok", g_variant_new_boolean (FALSE));
  g_variant_builder_add (&b, "{sv}", "reason", g_variant_new_string (reason));
  g_variant_builder_add (&b, "{sv}", "detail", g_variant_new_string (detail));
  g_message ("Probe failed: %s (%s)", reason, detail);
  answer (p, &b);
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
    fail (p, "unsupported-codec", d);
  } else {
    fail (p, "no-video", "the camera's stream has no video track");
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
    fail (p, "no-video", "the camera's picture made a still larger than 512 KiB");
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
  answer (p, &b);
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
      fail (p, "unauthorized", "the camera refused the user name or password (401)");
    else if (err->domain == GST_RESOURCE_ERROR &&
             (err->code == GST_RESOURCE_ERROR_NOT_FOUND || strstr (d, "404") != NULL))
      fail (p, "bad-url", "the camera has no stream at this path (404)");
    else if (err->domain == GST_RESOURCE_ERROR &&
             (err->code == GST_RESOURCE_ERROR_OPEN_READ ||
              err->code == GST_RESOURCE_ERROR_OPEN_READ_WRITE ||
              err->code == GST_RESOURCE_ERROR_OPEN_WRITE || strstr (d, "connect") != NULL))
      fail (p, "unreachable", "could not connect to the camera (refused or unreachable)");
    else if (err->domain == GST_STREAM_ERROR)
      fail (p, "unsupported-codec", "the camera's video could not be decoded");
    else {
      g_autofree char *text = g_strdup_printf ("the connection failed: %s", err->message);
      fail (p, "unreachable", text);
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
      fail (p, "no-video", "the camera ended the stream before a picture was decoded");
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
  fail (p, "timeout", "the camera gave no picture within " G_STRINGIFY (NVR_PROBE_TEST_TIMEOUT_S)
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
    fail (p, "bad-url", why);
    return;
  }
  g_autoptr (GError) error = NULL;
  if (!nvr_sandbox_enter_probe (port, &error)) {
    fail (p, "unreachable", "the probe could not sandbox itself");
    g_warning ("Failed to sandbox the probe: %s", error->message);
    return;
  }
  const char *transport = nvr_wire_get_str (f, "transport", "auto");
  p->pipeline = gst_pipeline_new ("probe");
  p->src = gst_element_factory_make ("rtspsrc", "src");
  if (p->src == NULL) {
    fail (p, "unsupported-codec", "GStreamer's rtspsrc is missing");
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
    fail (p, "unreachable", "the connection could not start");
}

/* ---- ONVIF ---- */

typedef struct {
  const char *user;
  const char *password;
} Creds;

static void
random_nonce (guint8 nonce[NVR_ONVIF_NONCE_LEN])
{
  for (guint i = 0; i < NVR_ONVIF_NONCE_LEN; i += 4) {
    guint32 r = g_random_int ();
    memcpy (nonce + i, &r, 4);
  }
}

static gboolean
on_http_auth (SoupMessage *msg, SoupAuth *auth, gboolean retrying, gpointer data)
{
  const Creds *c = data;
  if (retrying || c->user == NULL || *c->user == '\0')
    return FALSE;
  soup_auth_authenticate (auth, c->user, c->password);
  return TRUE;
}

/* POSTs one SOAP request and returns the answer (at most NVR_ONVIF_MAX_XML bytes), or NULL with
 * *reason and *detail (static or owned by @detail_out) set. */
static GBytes *
soap_call (SoupSession *session, const char *url, NvrOnvifCall call, const char *token,
           const Creds *c, const char **reason, char **detail)
{
  guint8 nonce[NVR_ONVIF_NONCE_LEN];
  random_nonce (nonce);
  g_autofree char *body = nvr_onvif_request (call, token, c->user, c->password, nonce,
                                             g_get_real_time () / G_USEC_PER_SEC);
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
  if (msg == NULL) {
    *reason = "bad-address";
    *detail = g_strdup ("the device URL is not valid");
    return NULL;
  }
  gsize body_len = strlen (body);
  g_autoptr (GBytes) req = g_bytes_new_take (g_steal_pointer (&body), body_len);
  soup_message_set_request_body_from_bytes (msg, "application/soap+xml; charset=utf-8", req);
  g_signal_connect (msg, "authenticate", G_CALLBACK (on_http_auth), (gpointer) c);
  g_autoptr (GError) error = NULL;
  g_autoptr (GInputStream) in = soup_session_send (session, msg, NULL, &error);
  if (in == NULL) {
    *reason = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ? "timeout" : "unreachable";
    *detail = g_strdup_printf ("could not reach the camera: %s", error->message);
    return NULL;
  }
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  guint8 chunk[8192];
  for (;;) {
    gssize n = g_input_stream_read (in, chunk, sizeof chunk, NULL, &error);
    if (n < 0) {
      *reason = "unreachable";
      *detail = g_strdup_printf ("the camera's answer broke off: %s", error->message);
      return NULL;
    }
    if (n == 0)
      break;
    if (buf->len + n > NVR_ONVIF_MAX_XML) {
      *reason = "malformed";
      *detail = g_strdup ("the camera's answer is larger than 256 KiB");
      return NULL;
    }
    g_byte_array_append (buf, chunk, n);
  }
  guint status = soup_message_get_status (msg);
  if (status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN) {
    *reason = "unauthorized";
    *detail = g_strdup_printf ("the camera refused the user name or password (HTTP %u)", status);
    return NULL;
  }
  /* A SOAP fault comes with 400 or 500: the parser reads it. Other statuses are errors. */
  if (status != 200 && status != 400 && status != 500) {
    *reason = "unreachable";
    *detail = g_strdup_printf ("the camera answered HTTP %u", status);
    return NULL;
  }
  return g_byte_array_free_to_bytes (g_steal_pointer (&buf));
}

static const char *
onvif_reason (const GError *error)
{
  if (g_error_matches (error, NVR_ONVIF_ERROR, NVR_ONVIF_ERROR_UNAUTHORIZED))
    return "unauthorized";
  if (g_error_matches (error, NVR_ONVIF_ERROR, NVR_ONVIF_ERROR_FAULT))
    return "fault";
  return "malformed";
}

static void
run_onvif_profiles (Probe *p, GVariant *f)
{
  guint16 port = 0;
  g_autoptr (GError) error = NULL;
  g_autofree char *url = nvr_onvif_device_url (nvr_wire_get_str (f, "address", ""), &port, &error);
  if (url == NULL) {
    fail (p, "bad-address", error->message);
    return;
  }
  if (!nvr_sandbox_enter_probe (port, &error)) {
    g_warning ("Failed to sandbox the probe: %s", error->message);
    fail (p, "unreachable", "the probe could not sandbox itself");
    return;
  }
  Creds c = { nvr_wire_get_str (f, "user", ""), nvr_wire_get_str (f, "password", "") };
  g_autoptr (SoupSession) session = soup_session_new_with_options (
    "timeout", NVR_PROBE_ONVIF_TIMEOUT_S, "idle-timeout", NVR_PROBE_ONVIF_TIMEOUT_S,
    "proxy-resolver", NULL, "user-agent", "hearth-onvif", NULL);
  const char *reason = NULL;
  g_autofree char *detail = NULL;
  g_message ("Listing ONVIF profiles of %s", url);

  /* Device information is optional: some cameras refuse it to users who may stream. */
  g_auto (NvrOnvifDevice) dev = { 0 };
  gboolean have_dev = FALSE;
  g_autoptr (GBytes) xml = soap_call (session, url, NVR_ONVIF_GET_DEVICE_INFORMATION, NULL, &c,
                                      &reason, &detail);
  if (xml == NULL) {
    fail (p, reason, detail);
    return;
  }
  gsize len;
  const char *data = g_bytes_get_data (xml, &len);
  if (nvr_onvif_parse_device_information (data, len, &dev, &error)) {
    have_dev = TRUE;
  } else if (!g_error_matches (error, NVR_ONVIF_ERROR, NVR_ONVIF_ERROR_FAULT)) {
    g_autofree char *d = g_strdup_printf ("GetDeviceInformation: %s", error->message);
    fail (p, onvif_reason (error), d);
    return;
  }
  g_clear_error (&error);

  /* The Media service: GetCapabilities names it; its path is used on the address given. */
  g_autofree char *media_url = NULL;
  g_clear_pointer (&xml, g_bytes_unref);
  xml = soap_call (session, url, NVR_ONVIF_GET_CAPABILITIES, NULL, &c, &reason, &detail);
  if (xml != NULL) {
    data = g_bytes_get_data (xml, &len);
    g_autofree char *xaddr = nvr_onvif_parse_media_xaddr (data, len, &error);
    if (xaddr != NULL)
      media_url = nvr_onvif_same_host_url (url, xaddr);
    else if (g_error_matches (error, NVR_ONVIF_ERROR, NVR_ONVIF_ERROR_UNAUTHORIZED)) {
      fail (p, "unauthorized", error->message);
      return;
    }
    g_clear_error (&error);
  }
  g_clear_pointer (&detail, g_free);
  if (media_url == NULL)
    media_url = g_strdup (url);

  g_clear_pointer (&xml, g_bytes_unref);
  xml = soap_call (session, media_url, NVR_ONVIF_GET_PROFILES, NULL, &c, &reason, &detail);
  if (xml == NULL) {
    fail (p, reason, detail);
    return;
  }
  data = g_bytes_get_data (xml, &len);
  g_autoptr (GPtrArray) profiles = nvr_onvif_parse_profiles (data, len, &error);
  if (profiles == NULL) {
    g_autofree char *d = g_strdup_printf ("GetProfiles: %s", error->message);
    fail (p, onvif_reason (error), d);
    return;
  }
  for (guint i = 0; i < profiles->len; i++) {
    NvrOnvifProfile *prof = profiles->pdata[i];
    g_clear_pointer (&xml, g_bytes_unref);
    xml = soap_call (session, media_url, NVR_ONVIF_GET_STREAM_URI, prof->token, &c, &reason,
                     &detail);
    if (xml == NULL) {
      fail (p, reason, detail);
      return;
    }
    data = g_bytes_get_data (xml, &len);
    prof->rtsp_url = nvr_onvif_parse_stream_uri (data, len, &error);
    if (prof->rtsp_url == NULL) {
      g_autofree char *d = g_strdup_printf ("GetStreamUri: %s", error->message);
      fail (p, onvif_reason (error), d);
      return;
    }
  }
  GVariantBuilder b, pb;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "ok", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&b, "{sv}", "have_device", g_variant_new_boolean (have_dev));
  g_variant_builder_add (&b, "{sv}", "manufacturer",
                         g_variant_new_string (have_dev ? dev.manufacturer : ""));
  g_variant_builder_add (&b, "{sv}", "model", g_variant_new_string (have_dev ? dev.model : ""));
  g_variant_builder_add (&b, "{sv}", "firmware",
                         g_variant_new_string (have_dev ? dev.firmware : ""));
  g_variant_builder_init (&pb, G_VARIANT_TYPE ("a(sssiiis)"));
  for (guint i = 0; i < profiles->len; i++) {
    NvrOnvifProfile *prof = profiles->pdata[i];
    g_variant_builder_add (&pb, "(sssiiis)", prof->token, prof->name,
                           prof->encoding, prof->width, prof->height, prof->fps, prof->rtsp_url);
  }
  g_variant_builder_add (&b, "{sv}", "profiles", g_variant_builder_end (&pb));
  g_message ("Listed %u ONVIF profile(s)", profiles->len);
  answer (p, &b);
}

static void
run_onvif_scan (Probe *p, GVariant *f)
{
  g_autoptr (GError) error = NULL;
  if (!nvr_sandbox_enter_probe (0, &error)) {
    g_warning ("Failed to sandbox the probe: %s", error->message);
    fail (p, "unreachable", "the probe could not sandbox itself");
    return;
  }
  g_autoptr (GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                           G_SOCKET_PROTOCOL_UDP, &error);
  if (sock == NULL) {
    fail (p, "unreachable", error->message);
    return;
  }
  g_socket_set_multicast_ttl (sock, 1);   /* the LAN only, never routed further */
  g_autoptr (GInetAddress) any = g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) local = g_inet_socket_address_new (any, 0);
  if (!g_socket_bind (sock, local, FALSE, &error)) {
    fail (p, "unreachable", error->message);
    return;
  }
  g_autofree char *uuid = g_uuid_string_random ();
  g_autofree char *message_id = g_strconcat ("urn:uuid:", uuid, NULL);
  g_autofree char *probe = nvr_onvif_probe_message (message_id);
  g_autoptr (GSocketAddress) dest =
    g_inet_socket_address_new_from_string (NVR_PROBE_DISCOVERY_ADDRESS, NVR_PROBE_DISCOVERY_PORT);
  /* UDP may be lost: the probe goes out twice, as WS-Discovery suggests. */
  for (int i = 0; i < 2; i++)
    if (g_socket_send_to (sock, dest, probe, strlen (probe), NULL, &error) < 0) {
      g_autofree char *d = g_strdup_printf ("could not send the discovery probe: %s",
                                            error->message);
      fail (p, "unreachable", d);
      return;
    }
  g_autoptr (GPtrArray) devices = g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_onvif_found_free);
  g_autoptr (GPtrArray) hosts = g_ptr_array_new_with_free_func (g_free);   /* per device */
  gint64 end_us = g_get_monotonic_time () + NVR_PROBE_SCAN_WAIT_MS * 1000;
  g_autofree char *buf = g_malloc (NVR_ONVIF_MAX_XML);
  guint bad = 0;
  for (;;) {
    gint64 left_us = end_us - g_get_monotonic_time ();
    if (left_us <= 0 || devices->len >= NVR_PROBE_SCAN_MAX_DEVICES)
      break;
    g_socket_set_timeout (sock, (guint) MAX (1, (left_us + 999999) / 1000000));
    GPollFD pfd = { g_socket_get_fd (sock), G_IO_IN, 0 };
    if (g_poll (&pfd, 1, (gint) ((left_us + 999) / 1000)) <= 0)
      continue;
    g_autoptr (GSocketAddress) from = NULL;
    gssize n = g_socket_receive_from (sock, &from, buf, NVR_ONVIF_MAX_XML, NULL, NULL);
    if (n <= 0)
      continue;
    g_autofree char *sender = G_IS_INET_SOCKET_ADDRESS (from)
      ? g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (from)))
      : NULL;
    g_autoptr (GError) perr = NULL;
    g_autoptr (GPtrArray) found = nvr_onvif_parse_probe_matches (buf, n, message_id, &perr);
    if (found == NULL) {
      bad++;
      continue;
    }
    for (guint i = 0; i < found->len; i++) {
      NvrOnvifFound *fd = found->pdata[i];
      gboolean dup = FALSE;
      for (guint j = 0; !dup && j < devices->len; j++)
        dup = strcmp (((NvrOnvifFound *) devices->pdata[j])->address, fd->address) == 0;
      if (dup || devices->len >= NVR_PROBE_SCAN_MAX_DEVICES)
        continue;
      char *host = nvr_onvif_found_host (fd, sender);
      if (host == NULL)
        continue;
      g_ptr_array_add (hosts, host);
      g_ptr_array_add (devices, g_steal_pointer (&found->pdata[i]));
    }
  }
  GVariantBuilder b, db;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "ok", g_variant_new_boolean (TRUE));
  g_variant_builder_init (&db, G_VARIANT_TYPE ("a(ssasas)"));
  for (guint i = 0; i < devices->len; i++) {
    NvrOnvifFound *fd = devices->pdata[i];
    g_variant_builder_add (&db, "(ss^as^as)", (const char *) hosts->pdata[i], fd->address,
                           fd->xaddrs, fd->scopes);
  }
  g_variant_builder_add (&b, "{sv}", "devices", g_variant_builder_end (&db));
  g_message ("Discovery found %u device(s); %u datagram(s) not understood", devices->len, bad);
  answer (p, &b);
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
    run_onvif_profiles (p, fields);
  else if (strcmp (what, "onvif-scan") == 0)
    run_onvif_scan (p, fields);
  else
    fail (p, "bad-request", "unknown probe request");
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
