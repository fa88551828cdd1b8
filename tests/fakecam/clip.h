/* clip — one camera stream's loop of pre-encoded access units: encoded once (x264enc/x265enc
 * from scene.c frames) and cached on disk, keyed by every parameter that changes the bytes.
 * Loading/encoding runs on the main thread at start-up only; a loaded FcClip is immutable and
 * refcounted, so the RTSP streaming threads read it without locks. */
#pragma once

#include <gst/gst.h>

#include "scene.h"

G_BEGIN_DECLS

/* Bump when the frame content, ID code, encoder settings or file layout change. */
#define FC_CLIP_FORMAT_VERSION 1

typedef enum {
  FC_CODEC_H264,
  FC_CODEC_H265,
} FcCodec;

typedef struct {
  guint16 code;
  FcCodec codec;
  int width, height;       /* even, within the idcode limits */
  int fps;                 /* integer frames per second */
  int gop;                 /* frames between IDRs; frame 0 of the loop is always an IDR */
  int bitrate_kbps;
  int clip_seconds;
  int noise;               /* scene.h: temporal noise amplitude, 0 = none */
  FcSceneKind scene;       /* scene.h: what moves or changes; 0 = CROSSING */
  const char *footage_path;     /* FOOTAGE only (borrowed): the video decoded for the picture */
  const char *footage_sha256;   /* FOOTAGE only (borrowed): its SHA-256, 64 hex, in the name */
} FcClipParams;

typedef struct {
  gsize offset;            /* into FcClip.data */
  gsize size;
  gboolean key;            /* IDR with SPS/PPS (VPS) in band */
} FcAu;

typedef struct {
  FcClipParams params;
  GBytes *data;            /* every access unit, Annex B byte stream, back to back */
  FcAu *aus;               /* n_aus == params.clip_seconds * params.fps, aus[0].key */
  int n_aus;
} FcClip;

/* Limits on a cache file we are willing to load (and on anything we encode). */
#define FC_CLIP_MAX_AU_BYTES (8u << 20)
#define FC_CLIP_MAX_FILE_BYTES ((gsize) 1 << 30)

/* The cache file name for @params, e.g. "v1-h264-640x360-15fps-g15-800kbps-10s-code1.au";
 * noise adds "-n<N>" and a scene other than crossing "-<kind>" before "-code"; FOOTAGE adds
 * "-footage-<first 16 hex digits of the video's SHA-256>". */
char *fc_clip_cache_name (const FcClipParams *params);

/* Loads the clip from @cache_dir, or encodes it and stores it there (atomically). A cache
 * file that fails validation is re-encoded. *@encoded says which happened. FOOTAGE: the
 * first clip_seconds * fps frames of the video (decoded, scaled to the size, resampled to fps)
 * with the ID bands drawn over their top rows; an error if the video is shorter. */
FcClip *fc_clip_load_or_encode (const FcClipParams *params, const char *cache_dir,
                                gboolean *encoded, GError **error);

/* Caps of the access units: video/x-h26x, stream-format=byte-stream, alignment=au. */
GstCaps *fc_clip_caps (const FcClip *clip);

FcClip *fc_clip_ref (FcClip *clip);
void fc_clip_unref (FcClip *clip);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FcClip, fc_clip_unref)

G_END_DECLS
