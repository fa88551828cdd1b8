/* audio — one camera's audio loop: a sine tone (its frequency depends on the camera's code, so
 * content is checkable) encoded once to AAC (avenc_aac, 16 kHz mono, 1024-sample frames) or
 * G.711 (mulawenc/alawenc, 8 kHz mono, 20 ms frames) and cached on disk like the video clips.
 * Loading/encoding runs on the main thread at start-up only; a loaded FcAudio is immutable and
 * refcounted, so the RTSP streaming threads read it without locks. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* Bump when the tone, the encoder settings or the file layout change. */
#define FC_AUDIO_FORMAT_VERSION 1

typedef enum {
  FC_AUDIO_NONE,
  FC_AUDIO_AAC,    /* RTP MPEG4-GENERIC (RFC 3640, AAC-hbr), like most IP cameras' AAC */
  FC_AUDIO_PCMU,   /* RTP PCMU, payload type 0 */
  FC_AUDIO_PCMA,   /* RTP PCMA, payload type 8 */
} FcAudioCodec;

typedef struct {
  FcAudioCodec codec;
  int tone_hz;         /* 100..4000 */
  int clip_seconds;    /* 1..600: about how long the loop is (AAC rounds to whole frames) */
} FcAudioParams;

typedef struct {
  gsize offset;        /* into FcAudio.data */
  gsize size;
} FcAudioFrame;

typedef struct {
  FcAudioParams params;
  int rate;            /* samples per second */
  int frame_samples;   /* samples per frame: 1024 (AAC) or 160 (G.711) */
  GBytes *codec_data;  /* AAC AudioSpecificConfig; NULL for G.711 */
  GBytes *data;        /* every frame, back to back */
  FcAudioFrame *frames;
  int n_frames;
} FcAudio;

#define FC_AUDIO_MAX_FRAME_BYTES (64u << 10)
#define FC_AUDIO_MAX_FILE_BYTES ((gsize) 64 << 20)

/* The tone of the camera with ID code @code: 400 + 100 * (code mod 16) Hz. */
int fc_audio_tone_hz (guint code);

/* "aac", "pcmu", "pcma", "none"; FALSE for anything else. */
gboolean fc_audio_codec_parse (const char *text, FcAudioCodec *out);
const char *fc_audio_codec_name (FcAudioCodec codec);

/* e.g. "a1-aac-440hz-10s.aud" */
char *fc_audio_cache_name (const FcAudioParams *params);

/* Loads the loop from @cache_dir, or encodes and stores it there (atomically). A cache file that
 * fails validation is re-encoded. *@encoded says which happened. */
FcAudio *fc_audio_load_or_encode (const FcAudioParams *params, const char *cache_dir,
                                  gboolean *encoded, GError **error);

/* Caps of the frames as an appsrc in front of the payloader takes them. */
GstCaps *fc_audio_caps (const FcAudio *audio);

FcAudio *fc_audio_ref (FcAudio *audio);
void fc_audio_unref (FcAudio *audio);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FcAudio, fc_audio_unref)

G_END_DECLS
