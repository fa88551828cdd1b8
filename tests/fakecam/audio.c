/* audio — encode a camera's tone loop once, cache its frames on disk, load them back (audio.h).
 * Main thread at start-up; the encoder runs as a pipeline whose appsink is pulled here.
 *
 * Cache file layout (little-endian), all of it validated on load:
 *   "HFCAUDI1" | u32 FC_AUDIO_FORMAT_VERSION | u32 codec | u32 rate | u32 frame_samples
 *   | u32 tone_hz | u32 codec_data bytes (<= 64) | codec_data | u32 frames
 *   then per frame: u32 size (1..FC_AUDIO_MAX_FRAME_BYTES) | bytes */
#define G_LOG_DOMAIN "fakecam-audio"

#include "audio.h"

#include <gst/app/gstappsink.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#define MAGIC "HFCAUDI1"
#define MAX_CODEC_DATA 64
#define AAC_RATE 16000
#define AAC_FRAME 1024
#define G711_RATE 8000
#define G711_FRAME 160

static const char *const codec_names[] = { "none", "aac", "pcmu", "pcma" };

int
fc_audio_tone_hz (guint code)
{
  return 400 + 100 * (int) (code % 16);
}

gboolean
fc_audio_codec_parse (const char *text, FcAudioCodec *out)
{
  for (gsize i = 0; i < G_N_ELEMENTS (codec_names); i++)
    if (text != NULL && strcmp (text, codec_names[i]) == 0) {
      *out = (FcAudioCodec) i;
      return TRUE;
    }
  return FALSE;
}

const char *
fc_audio_codec_name (FcAudioCodec codec)
{
  return (guint) codec < G_N_ELEMENTS (codec_names) ? codec_names[codec] : "?";
}

char *
fc_audio_cache_name (const FcAudioParams *p)
{
  return g_strdup_printf ("a%d-%s-%dhz-%ds.aud", FC_AUDIO_FORMAT_VERSION,
                          fc_audio_codec_name (p->codec), p->tone_hz, p->clip_seconds);
}

static void
audio_clear (FcAudio *a)
{
  g_clear_pointer (&a->codec_data, g_bytes_unref);
  g_clear_pointer (&a->data, g_bytes_unref);
  g_clear_pointer (&a->frames, g_free);
}

FcAudio *
fc_audio_ref (FcAudio *audio)
{
  return g_atomic_rc_box_acquire (audio);
}

void
fc_audio_unref (FcAudio *audio)
{
  if (audio != NULL)
    g_atomic_rc_box_release_full (audio, (GDestroyNotify) audio_clear);
}

GstCaps *
fc_audio_caps (const FcAudio *a)
{
  if (a->params.codec == FC_AUDIO_AAC) {
    g_autoptr (GstBuffer) cd = gst_buffer_new_wrapped_bytes (a->codec_data);
    return gst_caps_new_simple ("audio/mpeg", "mpegversion", G_TYPE_INT, 4,
                                "stream-format", G_TYPE_STRING, "raw",
                                "rate", G_TYPE_INT, a->rate, "channels", G_TYPE_INT, 1,
                                "codec_data", GST_TYPE_BUFFER, cd, NULL);
  }
  return gst_caps_new_simple (a->params.codec == FC_AUDIO_PCMU ? "audio/x-mulaw" : "audio/x-alaw",
                              "rate", G_TYPE_INT, a->rate, "channels", G_TYPE_INT, 1, NULL);
}

static void
codec_geometry (FcAudioCodec codec, int *rate, int *frame_samples)
{
  *rate = codec == FC_AUDIO_AAC ? AAC_RATE : G711_RATE;
  *frame_samples = codec == FC_AUDIO_AAC ? AAC_FRAME : G711_FRAME;
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
put_u32 (GByteArray *out, guint32 v)
{
  v = GUINT32_TO_LE (v);
  g_byte_array_append (out, (const guint8 *) &v, 4);
}

/* Builds the FcAudio from a cache file's bytes; NULL (with the reason) if anything is off. */
static FcAudio *
audio_parse (const FcAudioParams *p, GBytes *file, GError **error)
{
  gsize len = 0;
  const guint8 *d = g_bytes_get_data (file, &len);
  int rate, fs;
  codec_geometry (p->codec, &rate, &fs);
  gsize pos = 8 + 6 * 4;
  if (len < pos + 4 || memcmp (d, MAGIC, 8) != 0 || read_u32 (d + 8) != FC_AUDIO_FORMAT_VERSION ||
      read_u32 (d + 12) != (guint32) p->codec || read_u32 (d + 16) != (guint32) rate ||
      read_u32 (d + 20) != (guint32) fs || read_u32 (d + 24) != (guint32) p->tone_hz) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "bad header");
    return NULL;
  }
  guint32 cd_len = read_u32 (d + 28);
  if (cd_len > MAX_CODEC_DATA || (p->codec == FC_AUDIO_AAC) != (cd_len > 0) || len - pos < cd_len + 4) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "bad codec data");
    return NULL;
  }
  gsize cd_pos = pos;
  pos += cd_len;
  guint32 n = read_u32 (d + pos);
  pos += 4;
  /* Enough frames for clip_seconds, and not absurdly many. */
  guint32 want = (guint32) ((gint64) p->clip_seconds * rate / fs);
  if (n < want || n > want + 16) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%u frames, expected about %u", n, want);
    return NULL;
  }
  FcAudioFrame *frames = g_new0 (FcAudioFrame, n);
  for (guint32 i = 0; i < n; i++) {
    guint32 size = len - pos >= 4 ? read_u32 (d + pos) : 0;
    if (size == 0 || size > FC_AUDIO_MAX_FRAME_BYTES || len - pos - 4 < size) {
      g_free (frames);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "frame %u is cut or too big", i);
      return NULL;
    }
    frames[i].offset = pos + 4;
    frames[i].size = size;
    pos += 4 + size;
  }
  if (pos != len) {
    g_free (frames);
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "trailing bytes");
    return NULL;
  }
  FcAudio *a = g_atomic_rc_box_new0 (FcAudio);
  a->params = *p;
  a->rate = rate;
  a->frame_samples = fs;
  a->codec_data = cd_len > 0 ? g_bytes_new_from_bytes (file, cd_pos, cd_len) : NULL;
  a->data = g_bytes_ref (file);
  a->frames = frames;
  a->n_frames = (int) n;
  return a;
}

/* ---- encoding ------------------------------------------------------------------------ */

/* Encodes the tone with a GStreamer pipeline and returns the cache file's bytes. */
static GBytes *
audio_encode (const FcAudioParams *p, GError **error)
{
  int rate, fs;
  codec_geometry (p->codec, &rate, &fs);
  /* Constant templates; every value is set by property. */
  const char *desc = p->codec == FC_AUDIO_AAC
      ? "audiotestsrc name=src wave=sine volume=0.5 ! capsfilter name=caps ! audioconvert ! avenc_aac ! aacparse ! "
        "audio/mpeg,stream-format=raw ! appsink name=sink sync=false"
      : p->codec == FC_AUDIO_PCMU
      ? "audiotestsrc name=src wave=sine volume=0.5 ! capsfilter name=caps ! mulawenc ! appsink name=sink sync=false"
      : "audiotestsrc name=src wave=sine volume=0.5 ! capsfilter name=caps ! alawenc ! appsink name=sink sync=false";
  g_autoptr (GstElement) pipeline = gst_parse_launch (desc, error);
  if (pipeline == NULL)
    return NULL;
  g_autoptr (GstElement) src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  g_autoptr (GstElement) capsf = gst_bin_get_by_name (GST_BIN (pipeline), "caps");
  g_autoptr (GstElement) sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_autoptr (GstCaps) raw = gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING, "S16LE",
                                                 "rate", G_TYPE_INT, rate, "channels", G_TYPE_INT, 1,
                                                 "layout", G_TYPE_STRING, "interleaved", NULL);
  /* Whole frames of input for clip_seconds (G.711 frames divide a second exactly). */
  gint64 samples = (gint64) p->clip_seconds * rate;
  g_object_set (src, "freq", (gdouble) p->tone_hz, "samplesperbuffer", fs,
                "num-buffers", (gint) ((samples + fs - 1) / fs), NULL);
  g_object_set (capsf, "caps", raw, NULL);

  g_autoptr (GByteArray) body = g_byte_array_new ();
  g_autoptr (GBytes) codec_data = NULL;
  guint32 n = 0;
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "audio encoder did not start");
    return NULL;
  }
  for (;;) {
    g_autoptr (GstSample) s = gst_app_sink_pull_sample (GST_APP_SINK (sink));
    if (s == NULL)
      break;
    if (codec_data == NULL && p->codec == FC_AUDIO_AAC) {
      const GstStructure *st = gst_caps_get_structure (gst_sample_get_caps (s), 0);
      const GValue *v = gst_structure_get_value (st, "codec_data");
      GstMapInfo m;
      if (v != NULL && G_VALUE_HOLDS (v, GST_TYPE_BUFFER) &&
          gst_buffer_map (gst_value_get_buffer (v), &m, GST_MAP_READ)) {
        codec_data = g_bytes_new (m.data, MIN (m.size, MAX_CODEC_DATA));
        gst_buffer_unmap (gst_value_get_buffer (v), &m);
      }
    }
    GstBuffer *buf = gst_sample_get_buffer (s);
    GstMapInfo m;
    if (buf == NULL || !gst_buffer_map (buf, &m, GST_MAP_READ))
      continue;
    if (m.size > 0 && m.size <= FC_AUDIO_MAX_FRAME_BYTES) {
      put_u32 (body, (guint32) m.size);
      g_byte_array_append (body, m.data, (guint) m.size);
      n++;
    }
    gst_buffer_unmap (buf, &m);
  }
  g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr (GstMessage) err = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  if (err != NULL) {
    gst_message_parse_error (err, error, NULL);
    return NULL;
  }
  if (p->codec == FC_AUDIO_AAC && codec_data == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "AAC encoder gave no codec_data");
    return NULL;
  }
  GByteArray *out = g_byte_array_new ();
  g_byte_array_append (out, (const guint8 *) MAGIC, 8);
  put_u32 (out, FC_AUDIO_FORMAT_VERSION);
  put_u32 (out, (guint32) p->codec);
  put_u32 (out, (guint32) rate);
  put_u32 (out, (guint32) fs);
  put_u32 (out, (guint32) p->tone_hz);
  gsize cd_len = 0;
  const guint8 *cd = codec_data ? g_bytes_get_data (codec_data, &cd_len) : NULL;
  put_u32 (out, (guint32) cd_len);
  if (cd_len > 0)
    g_byte_array_append (out, cd, (guint) cd_len);
  put_u32 (out, n);
  g_byte_array_append (out, body->data, body->len);
  return g_byte_array_free_to_bytes (out);
}

FcAudio *
fc_audio_load_or_encode (const FcAudioParams *p, const char *cache_dir, gboolean *encoded,
                         GError **error)
{
  *encoded = FALSE;
  if (p->codec == FC_AUDIO_NONE || p->tone_hz < 100 || p->tone_hz > 4000 || p->clip_seconds < 1 ||
      p->clip_seconds > 600) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "bad audio parameters");
    return NULL;
  }
  g_autofree char *name = fc_audio_cache_name (p);
  g_autofree char *path = g_build_filename (cache_dir, name, NULL);
  g_autofree char *contents = NULL;
  gsize len = 0;
  if (g_file_get_contents (path, &contents, &len, NULL) && len <= FC_AUDIO_MAX_FILE_BYTES) {
    g_autoptr (GBytes) file = g_bytes_new_take (g_steal_pointer (&contents), len);
    g_autoptr (GError) why = NULL;
    FcAudio *a = audio_parse (p, file, &why);
    if (a != NULL)
      return a;
    g_printerr ("fakecam: audio cache '%s' is invalid (%s); encoding again\n", path, why->message);
  }
  g_autoptr (GBytes) file = audio_encode (p, error);
  if (file == NULL)
    return NULL;
  FcAudio *a = audio_parse (p, file, error);
  if (a == NULL) {
    g_prefix_error (error, "encoded audio does not validate: ");
    return NULL;
  }
  *encoded = TRUE;
  if (g_mkdir_with_parents (cache_dir, 0755) == 0) {
    gsize flen = 0;
    const guint8 *fd = g_bytes_get_data (file, &flen);
    g_autoptr (GError) werr = NULL;
    if (!g_file_set_contents_full (path, (const char *) fd, (gssize) flen,
                                   G_FILE_SET_CONTENTS_CONSISTENT, 0644, &werr))
      g_printerr ("fakecam: cannot cache audio: %s\n", werr->message);
  }
  return a;
}
