/* fmp4 — splits a fragmented MP4 byte stream (mp4mux with fragment-duration > 0) into its init
 * segment (ftyp + moov) and its fragments (moof + mdat), and reads what a live player needs from
 * them: the MSE codec string from avcC (and ",mp4a.40.N" for an AAC track, N its audio object
 * type from the esds), and whether a fragment's video starts with a sync sample.
 * Pure: no I/O, no clock; any thread, one owner per splitter. Every box is size-checked against
 * its container and every unit against a maximum before it is kept (docs/design/auth.md
 * "Live view"). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Largest init segment accepted (an H.264 one is about 1 KiB). */
#define NVR_FMP4_MAX_INIT (256u * 1024u)
/* Longest MSE codec string ("avc1.64001f" + slack). */
#define NVR_FMP4_CODEC_MAX 32

#define NVR_FMP4_ERROR (nvr_fmp4_error_quark ())
GQuark nvr_fmp4_error_quark (void);
typedef enum {
  NVR_FMP4_ERROR_MALFORMED,
  NVR_FMP4_ERROR_UNSUPPORTED,
  NVR_FMP4_ERROR_TOO_LARGE,
} NvrFmp4Error;

/* What the init segment says. */
typedef struct {
  char codec[NVR_FMP4_CODEC_MAX];   /* "avc1.PPCCLL" (or avc3.) from the avcC box, then
                                     * ",mp4a.40.N" when there is an AAC track: N = the audio
                                     * object type of its AudioSpecificConfig (2 AAC-LC,
                                     * 5 HE-AAC, 29 HE-AAC v2, ...), 2 when that is unreadable
                                     * or not an AAC type (see audio_codec_fallback) */
  guint32 track_id;                 /* of the video track */
  gboolean has_audio;               /* a second track, AAC ('mp4a' sample entry) */
  guint32 audio_track_id;
  const char *audio_codec_fallback; /* NULL, or why ",mp4a.40.2" is a fallback (static
                                     * string, for the caller to log) */
  gboolean has_trex;
  guint32 trex_sample_flags;        /* trex default_sample_flags of that track */
} NvrFmp4Init;

/* Checks that @data is exactly one ftyp box then one moov box of a fragmented file (mvex) with an
 * H.264 video track and at most one other track, which must be AAC audio, and fills @out. H.265
 * (hvc1/hev1), a non-AAC audio track, a second video or audio track fail with
 * NVR_FMP4_ERROR_UNSUPPORTED; more than 2 tracks with NVR_FMP4_ERROR_MALFORMED. */
gboolean nvr_fmp4_parse_init (const guint8 *data, gsize len, NvrFmp4Init *out, GError **error);

/* Checks that @data is exactly one moof box then one mdat box (styp/sidx before them are
 * allowed), with at most 2 trafs, and says whether the video traf's first sample is a sync sample
 * (trun first-sample-flags, else the first sample's flags, else tfhd default flags, else @init's
 * trex defaults; unknown = FALSE). The video traf is the one with @init's video track_ID; with
 * @init NULL or video-only, the first traf. A fragment with audio only is not key. */
gboolean nvr_fmp4_parse_fragment (const guint8 *data, gsize len, const NvrFmp4Init *init,
                                  gboolean *key, GError **error);

/* The audio object type of an AudioSpecificConfig (ISO/IEC 14496-3: 5 bits, 31 = escape to
 * 32 + 6 more bits). MALFORMED when @len is 0, the escape is cut off, or the type is 0. */
gboolean nvr_fmp4_aac_object_type (const guint8 *asc, gsize len, guint *aot, GError **error);
/* "mp4a.40.<aot>" into @codec for an AAC-family object type; FALSE (codec untouched) for any
 * other type. */
gboolean nvr_fmp4_aac_codec (guint aot, char *codec, gsize codec_len);

typedef enum {
  NVR_FMP4_NONE,       /* nothing complete yet */
  NVR_FMP4_INIT,       /* ftyp + moov */
  NVR_FMP4_FRAGMENT,   /* moof + mdat */
  NVR_FMP4_DROPPED,    /* a fragment over the maximum was discarded; *dropped says how big */
} NvrFmp4Kind;

typedef struct _NvrFmp4Splitter NvrFmp4Splitter;

/* Fragments larger than @max_fragment bytes are discarded without being buffered. */
NvrFmp4Splitter *nvr_fmp4_splitter_new (gsize max_fragment);
void nvr_fmp4_splitter_free (NvrFmp4Splitter *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrFmp4Splitter, nvr_fmp4_splitter_free)

/* Appends bytes. Fails, and stays failed, on a stream that is not a fragmented MP4 (a box size
 * under its header, a box "to the end of the file", an init segment over the maximum, an init
 * segment that does not parse). Call pop until it returns NONE after every feed. */
gboolean nvr_fmp4_splitter_feed (NvrFmp4Splitter *s, const guint8 *data, gsize len,
                                 GError **error);
/* The next complete unit. INIT and FRAGMENT set *unit (owned by the caller); FRAGMENT sets *key;
 * DROPPED sets *dropped. Fragments before the first init segment are DROPPED. */
NvrFmp4Kind nvr_fmp4_splitter_pop (NvrFmp4Splitter *s, GBytes **unit, gboolean *key,
                                   guint64 *dropped);
/* The latest init segment's codec string, or NULL before the first one. */
const char *nvr_fmp4_splitter_codec (NvrFmp4Splitter *s);

G_END_DECLS
