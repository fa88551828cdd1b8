/* export — one MP4 of a time range of a camera's fragmented segments, without re-encoding
 * (docs/design/playback.md "Export"). Three parts:
 *  - the planner (pure: no I/O, no clock): per source file its init segment bytes and fragment
 *    index, and the requested [from, to) → the output layout: a new ftyp+moov in memory, then
 *    per chosen fragment a file range whose moofs are patched (sequence numbers, tfdt of each
 *    track) on the way out. Video only, or video + one AAC audio track (both exported, each
 *    with its edit). The total length is known before a byte is sent.
 *  - the reader: walks a plan in bounded chunks (at most the caller's buffer at a time), one
 *    source file open at a time; a source that vanished or shrank is an error, never a short file.
 *  - the fallback fragment source: a top-level box walk of one file (for files without index
 *    rows), and nvr_export_source_file, the ONE place fragments come from.
 * Threads: a plan is immutable and may be shared; a reader belongs to one thread at a time. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NVR_EXPORT_MAX_RANGE_US ((gint64) 2 * 3600 * G_USEC_PER_SEC)   /* one export: 2 h */
#define NVR_EXPORT_MAX_INIT (256u * 1024u)      /* ftyp + moov of one file */
#define NVR_EXPORT_MAX_MOOF (1024u * 1024u)     /* one moof box */
#define NVR_EXPORT_MAX_FRAGMENTS 100000u        /* in one plan */
/* moof+mdat pairs in one indexed fragment (audio-only ones folded into the next video one) */
#define NVR_EXPORT_MAX_MOOFS_PER_FRAGMENT 16u
/* audio-only pairs after a file's last fragment sent with it (mp4mux writes one) */
#define NVR_EXPORT_MAX_TAIL_MOOFS 4u
/* Samples of one AAC frame: how far a file's audio is moved, at most, to continue the previous
 * file's without a hole or an overlap (NvrExportFile.audio_end_us) */
#define NVR_EXPORT_AAC_FRAME 1024

#define NVR_EXPORT_ERROR (nvr_export_error_quark ())
GQuark nvr_export_error_quark (void);
typedef enum {
  NVR_EXPORT_ERROR_EMPTY,            /* nothing playable recorded in the range */
  NVR_EXPORT_ERROR_NOT_FRAGMENTED,   /* a source is a finalised (moov-at-end) MP4 */
  NVR_EXPORT_ERROR_FORMAT_CHANGED,   /* a source's codec/resolution/avcC, or whether it has
                                      * audio, differs from the first */
  NVR_EXPORT_ERROR_MALFORMED,        /* a source's boxes contradict themselves */
  NVR_EXPORT_ERROR_UNSUPPORTED,      /* tracks other than one video (+ one AAC), or similar */
  NVR_EXPORT_ERROR_SOURCE_GONE,      /* a source vanished or shrank while being read */
  NVR_EXPORT_ERROR_IO,
} NvrExportError;

/* One fragment of a source file; the same fields as the catalog's NvrFragment. With audio it
 * may start with moof+mdat pairs holding audio only, folded into it (mp4probe's indexer). */
typedef struct {
  gint64 offset;        /* byte offset of the moof in the file */
  gint64 size;          /* moof + mdat bytes */
  gint64 start_us;      /* decode time of the first sample, from the file's first sample */
  gint64 duration_us;
  gboolean keyframe;    /* first sample is a sync sample */
} NvrExportFragment;

/* One source file, in recording order. */
typedef struct {
  char *path;           /* absolute; only the reader opens it */
  gint64 wall_start_us; /* wall clock of the file's first sample */
  GBytes *init;         /* its ftyp + moov, exactly */
  GArray *fragments;    /* NvrExportFragment, by offset */
  /* Bytes of the audio-only moof+mdat pairs right after the last fragment (mp4mux writes the
   * file's last audio there, after its last video fragment; no index row holds it): sent with
   * the last fragment, so an export has no audio hole at a file boundary. 0 if none. */
  gint64 tail_size;
  /* Where the file's audio ends (its last fragment and tail), µs from the audio track's 0; -1
   * unknown. mp4mux starts both tracks of each file at 0 and the recorder cuts the audio on an
   * AAC frame boundary near the video's cut, so a file's audio ends up to a frame after or
   * before its video and the next file's audio, placed at its video's start, would overlap it
   * or leave a hole: the plan moves the next file's audio by that much instead, within one
   * frame (NvrExportPiece.audio_delay). */
  gint64 audio_end_us;
} NvrExportFile;

void nvr_export_file_clear (NvrExportFile *f);

/* One output piece: bytes from memory (the init) or a fragment copied from a source. */
typedef struct {
  guint file;           /* index into the plan's files; G_MAXUINT for the in-memory init */
  gint64 src_offset;    /* moof offset in that file */
  gint64 size;          /* bytes of this piece */
  guint32 sequence;     /* new mfhd sequence_number of its first moof, from 1 (with audio:
                         * steps of NVR_EXPORT_MAX_MOOFS_PER_FRAGMENT, one per moof in it) */
  guint64 tfdt;         /* new baseMediaDecodeTime of its video traf, video timescale */
  gint64 wall_start_us; /* wall time of its first sample (for errors and tests) */
  gint64 audio_delay;   /* audio ticks added to its audio decode times besides the video's
                         * shift (may be negative): the previous files' audio overhang, so the
                         * audio runs on across files (0 in the first file) */
} NvrExportPiece;

typedef struct _NvrExportPlan NvrExportPlan;

/* Plans [@from_us, @to_us) over @files (taken over by the plan on success and on failure:
 * the array and its elements are freed with it). Fails with NVR_EXPORT_ERROR_EMPTY when no
 * fragment overlaps, FORMAT_CHANGED (the message gives the time) when a later file's sample
 * description or timescale differs from the first used file's, MALFORMED/UNSUPPORTED/
 * NOT_FRAGMENTED for init segments it cannot rewrite. The output starts with the fragment that
 * holds the keyframe at or before @from_us (the next one if the file has none before); gaps
 * between files are closed up (decode times continue); the edit list starts playback at
 * @from_us and ends it at @to_us or the end of the recording, whichever comes first. */
NvrExportPlan *nvr_export_plan_new (GArray *files, gint64 from_us, gint64 to_us,
                                    GError **error);
void nvr_export_plan_free (NvrExportPlan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrExportPlan, nvr_export_plan_free)

guint64 nvr_export_plan_length (const NvrExportPlan *plan);
/* The new ftyp + moov (the first bytes of the output). */
GBytes *nvr_export_plan_init (const NvrExportPlan *plan);
/* Pieces after the init, in output order. */
const NvrExportPiece *nvr_export_plan_pieces (const NvrExportPlan *plan, guint *n);
/* The edit: where playback starts in the media (track timescale) and how long it lasts
 * (µs). */
void nvr_export_plan_edit (const NvrExportPlan *plan, guint64 *media_time, guint32 *timescale,
                           gint64 *duration_us);
/* Wall time of the first byte of media in the output (the keyframe before from). */
gint64 nvr_export_plan_media_start_us (const NvrExportPlan *plan);

/* Where the audio track's edit starts (its timescale), as planned: the reader adds the audio
 * offset it finds in the first fragment (audio that leads the first video sample); FALSE for
 * an export without audio. */
gboolean nvr_export_plan_audio_edit (const NvrExportPlan *plan, guint64 *media_time,
                                     guint32 *timescale);

/* How one piece's decode times move: every traf of track @video_id by @video ticks, of
 * @audio_id (0 = none) by @audio ticks of the audio timescale. */
typedef struct {
  guint32 video_id;
  gint64 video;
  guint32 audio_id;
  gint64 audio;
} NvrExportShift;

/* Patches one moof (pure): @moof is the whole moof box, rewritten in place: mfhd sequence
 * number, each traf's tfdt moved by @shift, a tfhd base_data_offset moved from @src_offset to
 * @out_offset (trun data offsets are relative to the moof or to that base, so they stay). */
gboolean nvr_export_patch_moof (guint8 *moof, gsize len, guint32 sequence,
                                const NvrExportShift *shift, gint64 src_offset,
                                guint64 out_offset, GError **error);

/* ---- I/O ---- */

typedef struct _NvrExportReader NvrExportReader;

NvrExportReader *nvr_export_reader_new (NvrExportPlan *plan);   /* takes a plan reference */
void nvr_export_reader_free (NvrExportReader *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrExportReader, nvr_export_reader_free)
/* Fills @buf with up to @max next bytes; returns how many (0 = the whole output was read) or
 * -1 with @error. Blocking file reads: call it off the main loop. */
gssize nvr_export_reader_read (NvrExportReader *r, guint8 *buf, gsize max, GError **error);
guint64 nvr_export_reader_position (const NvrExportReader *r);

/* Moves the reader to output byte @offset (<= the plan's length): the next read starts there
 * (a Range request). Reads the moof of the piece it lands in. */
gboolean nvr_export_reader_seek (NvrExportReader *r, guint64 offset, GError **error);

/* A strong validator of the output (pure): 32 hex digits of SHA-256 over the init bytes and
 * every piece's file path, offset, size, sequence number and tfdt. Equal plans give equal
 * bytes as long as the fragments they name are unchanged (they are never rewritten). */
char *nvr_export_plan_etag (const NvrExportPlan *plan);

/* SHA-256 of the whole output of @plan, read the way a download reads it (bounded chunks). */
gboolean nvr_export_plan_sha256 (NvrExportPlan *plan, guint8 out[32], GError **error);

NvrExportPlan *nvr_export_plan_ref (NvrExportPlan *plan);

/* Fills @f from the file at @path (absolute) by walking its top-level boxes: init = ftyp+moov,
 * one fragment per moof immediately followed by its mdat; a last fragment cut short (still
 * being written) is left out; the audio-only pairs after the last one are its tail_size.
 * NOT_FRAGMENTED for a plain MP4. */
gboolean nvr_export_walk_file (const char *path, gint64 wall_start_us, NvrExportFile *f,
                               GError **error);

/* @f from the catalog's fragment index (docs/design/playback.md "Fragment index"): reads only
 * the first @init_bytes of @path, checks they are ftyp + moov of a file this export can
 * rewrite, and copies the @n fragments (which must be in file order without overlap). The moof
 * bytes themselves are read, and checked, by the reader when they are sent. Also reads the box
 * headers and moofs after the last fragment (the tail: whole audio-only moof+mdat pairs, at
 * most NVR_EXPORT_MAX_TAIL_MOOFS; anything else ends it). */
gboolean nvr_export_file_from_index (const char *path, gint64 wall_start_us, gint64 init_bytes,
                                     const NvrExportFragment *frags, guint n, NvrExportFile *f,
                                     GError **error);

G_END_DECLS
