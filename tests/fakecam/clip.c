/* clip — encode a scene loop once, cache its access units on disk, load them back (clip.h).
 * Main thread at start-up; the encoder's appsink callback runs on its streaming thread and is
 * the only writer of the Encoding state until EOS is popped from the bus.
 *
 * Cache file layout (little-endian), all of it validated on load:
 *   "HFCCLIP1" | u32 FC_CLIP_FORMAT_VERSION | u32 frames | u32 width | u32 height | u32 fps
 *   then per frame: u32 flags (bit 0 = keyframe) | u32 size (<= FC_CLIP_MAX_AU_BYTES) | bytes */
#define G_LOG_DOMAIN "fakecam-clip"

#include "clip.h"

#include "scene.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>
#include <errno.h>
#include <math.h>
#include <glib/gstdio.h>
#include <string.h>

#define MAGIC "HFCCLIP1"
#define HEADER_BYTES (8 + 5 * 4)

static const char *
codec_name (FcCodec codec)
{
  return codec == FC_CODEC_H265 ? "h265" : "h264";
}

char *
fc_clip_cache_name (const FcClipParams *p)
{
  /* Noise-free crossing clips keep the names they always had. */
  g_autofree char *noise = p->noise > 0 ? g_strdup_printf ("-n%d", p->noise) : g_strdup ("");
  g_autofree char *scene = p->scene == FC_SCENE_FOOTAGE
      ? g_strdup_printf ("-footage-%.16s", p->footage_sha256 ? p->footage_sha256 : "none")
      : p->scene != FC_SCENE_CROSSING
      ? g_strdup_printf ("-%s", fc_scene_kind_name (p->scene)) : g_strdup ("");
  return g_strdup_printf ("v%d-%s-%dx%d-%dfps-g%d-%dkbps-%ds%s%s-code%u.au", FC_CLIP_FORMAT_VERSION,
                          codec_name (p->codec), p->width, p->height, p->fps, p->gop,
                          p->bitrate_kbps, p->clip_seconds, noise, scene, (guint) p->code);
}

static void
clip_clear (FcClip *clip)
{
  g_clear_pointer (&clip->data, g_bytes_unref);
  g_clear_pointer (&clip->aus, g_free);
}

FcClip *
fc_clip_ref (FcClip *clip)
{
  return g_atomic_rc_box_acquire (clip);
}

void
fc_clip_unref (FcClip *clip)
{
  if (clip != NULL)
    g_atomic_rc_box_release_full (clip, (GDestroyNotify) clip_clear);
}

GstCaps *
fc_clip_caps (const FcClip *clip)
{
  return gst_caps_new_simple (clip->params.codec == FC_CODEC_H265 ? "video/x-h265" : "video/x-h264",
                              "stream-format", G_TYPE_STRING, "byte-stream",
                              "alignment", G_TYPE_STRING, "au",
                              "width", G_TYPE_INT, clip->params.width,
                              "height", G_TYPE_INT, clip->params.height,
                              "framerate", GST_TYPE_FRACTION, clip->params.fps, 1,
                              NULL);
}

/* ---- cache file ---------------------------------------------------------------------- */

static guint32
read_u32 (const guint8 *p)
{
  guint32 v;
  memcpy (&v, p, 4);
  return GUINT32_FROM_LE (v);
}

static void
append_u32 (GByteArray *out, guint32 v)
{
  v = GUINT32_TO_LE (v);
  g_byte_array_append (out, (const guint8 *) &v, 4);
}

/* Parses a cache file into a clip; NULL with @error if anything is out of place. */
static FcClip *
clip_parse (const FcClipParams *p, GBytes *file, GError **error)
{
  gsize len;
  const guint8 *d = g_bytes_get_data (file, &len);
  int frames = p->clip_seconds * p->fps;

  if (len < HEADER_BYTES || memcmp (d, MAGIC, 8) != 0 ||
      read_u32 (d + 8) != FC_CLIP_FORMAT_VERSION || read_u32 (d + 12) != (guint32) frames ||
      read_u32 (d + 16) != (guint32) p->width || read_u32 (d + 20) != (guint32) p->height ||
      read_u32 (d + 24) != (guint32) p->fps) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "header does not match the parameters");
    return NULL;
  }
  FcClip *clip = g_atomic_rc_box_new0 (FcClip);
  clip->params = *p;
  clip->n_aus = frames;
  clip->aus = g_new0 (FcAu, frames);
  gsize pos = HEADER_BYTES;
  for (int i = 0; i < frames; i++) {
    if (len - pos < 8) {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "truncated at frame %d", i);
      fc_clip_unref (clip);
      return NULL;
    }
    guint32 flags = read_u32 (d + pos), size = read_u32 (d + pos + 4);
    pos += 8;
    if (size == 0 || size > FC_CLIP_MAX_AU_BYTES || size > len - pos) {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "bad size %u at frame %d", size, i);
      fc_clip_unref (clip);
      return NULL;
    }
    clip->aus[i] = (FcAu) { .offset = pos, .size = size, .key = (flags & 1) != 0 };
    pos += size;
  }
  if (pos != len || !clip->aus[0].key) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "trailing bytes or no leading keyframe");
    fc_clip_unref (clip);
    return NULL;
  }
  clip->data = g_bytes_ref (file);
  return clip;
}

static FcClip *
clip_load (const FcClipParams *p, const char *path, GError **error)
{
  GStatBuf st;
  if (g_stat (path, &st) != 0) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "not cached");
    return NULL;
  }
  if ((guint64) st.st_size > FC_CLIP_MAX_FILE_BYTES) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "cache file too large");
    return NULL;
  }
  g_autofree char *contents = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &contents, &len, error))
    return NULL;
  g_autoptr (GBytes) file = g_bytes_new_take (g_steal_pointer (&contents), len);
  return clip_parse (p, file, error);
}

/* ---- encoding ------------------------------------------------------------------------ */

typedef struct {
  GByteArray *out;         /* the cache file being built: header, then frames */
  int frames;              /* access units received */
  int keyframes_wrong;     /* AUs whose key flag disagrees with i % gop == 0 */
  int gop;
  gboolean too_big;
} Encoding;

/* appsink streaming thread: append one access unit. */
static GstFlowReturn
on_new_sample (GstAppSink *sink, gpointer user_data)
{
  Encoding *enc = user_data;
  g_autoptr (GstSample) sample = gst_app_sink_pull_sample (sink);
  GstBuffer *buf = gst_sample_get_buffer (sample);
  gsize size = gst_buffer_get_size (buf);
  gboolean key = !GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);

  if (size == 0 || size > FC_CLIP_MAX_AU_BYTES || enc->out->len > FC_CLIP_MAX_FILE_BYTES / 2) {
    enc->too_big = TRUE;
    return GST_FLOW_ERROR;
  }
  if (key != (enc->frames % enc->gop == 0))
    enc->keyframes_wrong++;
  append_u32 (enc->out, key ? 1 : 0);
  append_u32 (enc->out, (guint32) size);
  guint len = enc->out->len;
  g_byte_array_set_size (enc->out, len + (guint) size);
  gst_buffer_extract (buf, 0, enc->out->data + len, size);
  enc->frames++;
  return GST_FLOW_OK;
}

static GstElement *
make (GstElement *bin, const char *factory, const char *name, GError **error)
{
  GstElement *e = gst_element_factory_make (factory, name);
  if (e == NULL) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                 "GStreamer element '%s' is missing", factory);
    return NULL;
  }
  gst_bin_add (GST_BIN (bin), e);
  return e;
}

/* ---- footage: the picture of FC_SCENE_FOOTAGE, decoded from a video file ----------------- */

/* A decoder pulled frame by frame: filesrc ! decodebin ! videoconvert ! videoscale !
 * videorate ! I420 at the clip's size and fps ! appsink. The appsink holds at most 4 frames, so
 * decoding runs no further ahead than the encoder (a 768x576 frame is 648 KiB). */
typedef struct {
  GstElement *pipeline;
  GstElement *sink;
  const char *path;        /* borrowed from the params, for messages */
} Footage;

static void
footage_close (Footage *f)
{
  if (f->pipeline != NULL) {
    gst_element_set_state (f->pipeline, GST_STATE_NULL);
    gst_clear_object (&f->sink);
    gst_clear_object (&f->pipeline);
  }
}

static gboolean
footage_open (Footage *f, const FcClipParams *p, GError **error)
{
  /* Fixed text: the path and the caps are set as properties below, never spliced in. */
  g_autoptr (GError) parse_error = NULL;
  GstElement *launched = gst_parse_launch ("filesrc name=src ! decodebin ! videoconvert ! "
                                  "videoscale name=scale add-borders=false ! videorate ! "
                                  "capsfilter name=caps ! appsink name=sink sync=false "
                                  "max-buffers=4 drop=false", &parse_error);
  f->pipeline = launched ? gst_object_ref_sink (launched) : NULL;
  if (f->pipeline == NULL || parse_error != NULL) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                 "cannot build the footage decoder: %s",
                 parse_error ? parse_error->message : "unknown error");
    footage_close (f);
    return FALSE;
  }
  g_autoptr (GstElement) src = gst_bin_get_by_name (GST_BIN (f->pipeline), "src");
  g_autoptr (GstElement) caps = gst_bin_get_by_name (GST_BIN (f->pipeline), "caps");
  f->sink = gst_bin_get_by_name (GST_BIN (f->pipeline), "sink");
  f->path = p->footage_path;
  g_object_set (src, "location", p->footage_path, NULL);
  g_autoptr (GstCaps) want = gst_caps_new_simple ("video/x-raw",
      "format", G_TYPE_STRING, "I420", "width", G_TYPE_INT, p->width,
      "height", G_TYPE_INT, p->height, "framerate", GST_TYPE_FRACTION, p->fps, 1, NULL);
  g_object_set (caps, "caps", want, NULL);
  if (gst_element_set_state (f->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_STATE_CHANGE,
                 "cannot start decoding '%s'", p->footage_path);
    footage_close (f);
    return FALSE;
  }
  return TRUE;
}

/* Copies the next decoded frame into @dst (mapped I420 of the clip's size). FALSE with @error
 * at the end of the video, on a decoding error (a file that is not a video: at once), or when
 * no frame comes for 120 s. */
static gboolean
footage_next (Footage *f, int index, GstVideoFrame *dst, GError **error)
{
  g_autoptr (GstBus) bus = gst_element_get_bus (f->pipeline);
  g_autoptr (GstSample) sample = NULL;
  g_autoptr (GstMessage) msg = NULL;
  for (int waited_s = 0; waited_s < 120 && sample == NULL && msg == NULL; waited_s++) {
    sample = gst_app_sink_try_pull_sample (GST_APP_SINK (f->sink), GST_SECOND);
    if (sample == NULL && gst_app_sink_is_eos (GST_APP_SINK (f->sink)))
      break;
    if (sample == NULL)
      msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  }
  if (sample == NULL) {
    g_autoptr (GError) gst_error = NULL;
    if (msg != NULL)
      gst_message_parse_error (msg, &gst_error, NULL);
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_DECODE,
                 "footage '%s' has no frame %d: %s", f->path, index,
                 gst_error ? gst_error->message
                 : gst_app_sink_is_eos (GST_APP_SINK (f->sink)) ? "the video is shorter than the clip"
                 : "no frame decoded for 120 s");
    return FALSE;
  }
  GstVideoInfo info;
  GstVideoFrame src;
  if (!gst_video_info_from_caps (&info, gst_sample_get_caps (sample)) ||
      !gst_video_frame_map (&src, &info, gst_sample_get_buffer (sample), GST_MAP_READ)) {
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT,
                 "footage frame %d cannot be mapped", index);
    return FALSE;
  }
  gboolean ok = gst_video_frame_copy (dst, &src);
  gst_video_frame_unmap (&src);
  if (!ok)
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT,
                 "footage frame %d has another format or size", index);
  return ok;
}

/* Encodes the clip into a cache-file image (header + frames). */
static GBytes *
clip_encode (const FcClipParams *p, GError **error)
{
  gboolean h265 = p->codec == FC_CODEC_H265;
  g_autoptr (GstElement) pipeline = gst_pipeline_new ("fakecam-encode");
  GstElement *src, *enc, *profile, *parse, *filter, *sink;

  if (!(src = make (pipeline, "appsrc", "src", error)) ||
      !(enc = make (pipeline, h265 ? "x265enc" : "x264enc", "enc", error)) ||
      !(profile = make (pipeline, "capsfilter", "profile", error)) ||
      !(parse = make (pipeline, h265 ? "h265parse" : "h264parse", "parse", error)) ||
      !(filter = make (pipeline, "capsfilter", "filter", error)) ||
      !(sink = make (pipeline, "appsink", "sink", error)))
    return NULL;
  if (!gst_element_link_many (src, enc, profile, parse, filter, sink, NULL)) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION, "cannot link the encoder");
    return NULL;
  }

  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_I420, (guint) p->width, (guint) p->height);
  info.fps_n = p->fps;
  info.fps_d = 1;
  g_autoptr (GstCaps) raw_caps = gst_video_info_to_caps (&info);
  g_object_set (src, "caps", raw_caps, "format", GST_FORMAT_TIME, "block", TRUE,
                "max-bytes", (guint64) info.size * 4, NULL);

  gst_util_set_object_arg (G_OBJECT (enc), "speed-preset", "veryfast");
  gst_util_set_object_arg (G_OBJECT (enc), "tune", "zerolatency");
  g_object_set (enc, "bitrate", (guint) p->bitrate_kbps, "key-int-max", (guint) p->gop, NULL);
  if (h265) {
    /* closed GOPs (IDR, not CRA) so a loop restart and a mid-stream join are clean */
    g_autofree char *opts = g_strdup_printf ("bframes=0:scenecut=0:open-gop=0:keyint=%d:"
                                             "min-keyint=%d:repeat-headers=1", p->gop, p->gop);
    g_object_set (enc, "option-string", opts, NULL);
    gst_util_set_object_arg (G_OBJECT (enc), "log-level", "error");
  } else if (p->scene == FC_SCENE_PUMPINGQP) {
    /* Constant QP, IDRs far better than P-frames (ipratio via the option string: the
     * ip-factor property stops at 2, a 6 QP swing). */
    gst_util_set_object_arg (G_OBJECT (enc), "pass", "quant");
    g_object_set (enc, "quantizer", (guint) FC_PUMPINGQP_QP_P, "qp-min", 0u, "qp-max", 51u,
                  "bframes", 0, "byte-stream", TRUE, NULL);
    g_autofree char *opts = g_strdup_printf (
        "scenecut=0:ipratio=%.4f",
        pow (2.0, (FC_PUMPINGQP_QP_P - FC_PUMPINGQP_QP_I) / 6.0));
    g_object_set (enc, "option-string", opts, NULL);
    g_autoptr (GstCaps) main_profile = gst_caps_from_string ("video/x-h264,profile=main");
    g_object_set (profile, "caps", main_profile, NULL);
  } else {
    g_object_set (enc, "bframes", 0, "byte-stream", TRUE, "option-string", "scenecut=0", NULL);
    g_autoptr (GstCaps) main_profile = gst_caps_from_string ("video/x-h264,profile=main");
    g_object_set (profile, "caps", main_profile, NULL);
  }
  g_object_set (parse, "config-interval", -1, NULL);
  g_autoptr (GstCaps) au_caps = gst_caps_new_simple (h265 ? "video/x-h265" : "video/x-h264",
      "stream-format", G_TYPE_STRING, "byte-stream", "alignment", G_TYPE_STRING, "au", NULL);
  g_object_set (filter, "caps", au_caps, NULL);
  g_object_set (sink, "sync", FALSE, NULL);

  int frames = p->clip_seconds * p->fps;
  Encoding state = { .out = g_byte_array_new (), .gop = p->gop };
  g_byte_array_append (state.out, (const guint8 *) MAGIC, 8);
  append_u32 (state.out, FC_CLIP_FORMAT_VERSION);
  append_u32 (state.out, (guint32) frames);
  append_u32 (state.out, (guint32) p->width);
  append_u32 (state.out, (guint32) p->height);
  append_u32 (state.out, (guint32) p->fps);
  GstAppSinkCallbacks callbacks = { .new_sample = on_new_sample };
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks, &state, NULL);

  FcScene scene;
  fc_scene_init_kind (&scene, p->scene, p->code, p->fps, p->clip_seconds);
  scene.noise = p->noise;
  Footage footage = { 0 };
  g_autoptr (GError) footage_error = NULL;
  if (p->scene == FC_SCENE_FOOTAGE && !footage_open (&footage, p, error)) {
    g_byte_array_unref (state.out);
    return NULL;
  }
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  for (int i = 0; i < frames; i++) {
    GstBuffer *buf = gst_buffer_new_allocate (NULL, info.size, NULL);
    GstVideoFrame vf;
    if (!gst_video_frame_map (&vf, &info, buf, GST_MAP_WRITE)) {
      gst_buffer_unref (buf);
      break;
    }
    if (footage.pipeline != NULL && !footage_next (&footage, i, &vf, &footage_error)) {
      gst_video_frame_unmap (&vf);
      gst_buffer_unref (buf);
      break;
    }
    fc_scene_draw_i420 (&scene, i, p->width, p->height,
                        GST_VIDEO_FRAME_PLANE_DATA (&vf, 0), GST_VIDEO_FRAME_PLANE_STRIDE (&vf, 0),
                        GST_VIDEO_FRAME_PLANE_DATA (&vf, 1), GST_VIDEO_FRAME_PLANE_STRIDE (&vf, 1),
                        GST_VIDEO_FRAME_PLANE_DATA (&vf, 2), GST_VIDEO_FRAME_PLANE_STRIDE (&vf, 2));
    gst_video_frame_unmap (&vf);
    GST_BUFFER_PTS (buf) = gst_util_uint64_scale_int (i, GST_SECOND, p->fps);
    GST_BUFFER_DURATION (buf) = gst_util_uint64_scale_int (1, GST_SECOND, p->fps);
    if (gst_app_src_push_buffer (GST_APP_SRC (src), buf) != GST_FLOW_OK)
      break;   /* the error is on the bus */
  }
  footage_close (&footage);
  if (footage_error != NULL) {
    gst_element_set_state (pipeline, GST_STATE_NULL);
    g_byte_array_unref (state.out);
    g_propagate_error (error, g_steal_pointer (&footage_error));
    return NULL;
  }
  gst_app_src_end_of_stream (GST_APP_SRC (src));

  g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr (GstMessage) msg = gst_bus_timed_pop_filtered (bus, 600 * GST_SECOND,
                                                           GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_autoptr (GByteArray) out = state.out;

  if (msg == NULL || GST_MESSAGE_TYPE (msg) != GST_MESSAGE_EOS) {
    g_autoptr (GError) gst_error = NULL;
    if (msg != NULL)
      gst_message_parse_error (msg, &gst_error, NULL);
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_FAILED, "encoder failed: %s",
                 state.too_big ? "access unit too large" :
                 gst_error ? gst_error->message : "timed out");
    return NULL;
  }
  if (state.frames != frames || state.keyframes_wrong != 0) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_FAILED,
                 "encoder produced %d frames of %d, %d with an unexpected keyframe flag",
                 state.frames, frames, state.keyframes_wrong);
    return NULL;
  }
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

FcClip *
fc_clip_load_or_encode (const FcClipParams *p, const char *cache_dir, gboolean *encoded,
                        GError **error)
{
  g_autofree char *name = fc_clip_cache_name (p);
  g_autofree char *path = g_build_filename (cache_dir, name, NULL);
  g_autoptr (GError) load_error = NULL;

  *encoded = FALSE;
  FcClip *clip = clip_load (p, path, &load_error);
  if (clip != NULL)
    return clip;
  if (!g_error_matches (load_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    g_warning ("Failed to load cached clip '%s', re-encoding: %s", path, load_error->message);

  g_autoptr (GBytes) file = clip_encode (p, error);
  if (file == NULL)
    return NULL;
  *encoded = TRUE;
  if (g_mkdir_with_parents (cache_dir, 0700) != 0)
    g_warning ("Failed to create cache directory '%s': %s", cache_dir, g_strerror (errno));
  g_autoptr (GError) save_error = NULL;
  gsize len;
  const char *data = g_bytes_get_data (file, &len);
  if (!g_file_set_contents_full (path, data, (gssize) len, G_FILE_SET_CONTENTS_CONSISTENT,
                                 0600, &save_error))
    g_warning ("Failed to cache clip '%s': %s", path, save_error->message);   /* serve anyway */
  return clip_parse (p, file, error);
}
