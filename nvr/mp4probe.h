/* mp4probe — how much playable video an MP4 recording holds, from its ISO-BMFF boxes alone.
 * The daemon runs it (via `nvr camera-worker --probe FILE`, in a child process) to recover
 * segments a crash left open. The walker is pure: it reads only the buffer it is given, checks
 * every length against what is left of its container, and descends at most NVR_MP4PROBE_MAX_DEPTH
 * boxes. Any thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Deepest box nesting accepted (moov/trak/mdia/minf/stbl/stsd is 6). */
#define NVR_MP4PROBE_MAX_DEPTH 8
/* Most tracks looked at in one moov. */
#define NVR_MP4PROBE_MAX_TRACKS 16

#define NVR_MP4PROBE_ERROR (nvr_mp4probe_error_quark ())
GQuark nvr_mp4probe_error_quark (void);
typedef enum {
  NVR_MP4PROBE_ERROR_NO_VIDEO,    /* parses, but holds no playable video (e.g. crash before moov) */
  NVR_MP4PROBE_ERROR_MALFORMED,   /* a box contradicts itself or its container */
  NVR_MP4PROBE_ERROR_IO,
} NvrMp4ProbeError;

typedef struct {
  /* TRUE for a finalized (non-fragmented) MP4 with every top-level box whole: a clean close. */
  gboolean complete;
  /* Duration of the video track's samples that are actually in the file: the moov's sample table
   * plus every whole fragment (moof whose sample data lies inside the file). */
  gint64 duration_us;
  guint64 bytes;
  /* Whole media fragments of a fragmented file; the run described by the first moov counts as
   * one. 0 for a finalized file. */
  guint fragments;
  /* "h264", "h265" or "" for any other video sample entry. */
  char codec[8];
} NvrMp4Info;

gboolean nvr_mp4probe_buffer (const guint8 *data, gsize len, NvrMp4Info *info, GError **error);
/* Maps @path read-only and probes it. Run in a throwaway process if the file may still be
 * truncated by someone else (a shrinking mapping raises SIGBUS). */
gboolean nvr_mp4probe_file (const char *path, NvrMp4Info *info, GError **error);
/* {"complete":bool,"duration_us":N,"bytes":N,"fragments":N,"codec":"h264|h265|"} */
char *nvr_mp4probe_to_json (const NvrMp4Info *info);

/* ---- fragment index (docs/design/playback.md "Fragment index") ---- */

/* Largest moov or moof the indexer keeps (both are a few hundred bytes to a few KiB). */
#define NVR_MP4PROBE_MAX_HEADER (1024u * 1024u)

/* One moof + mdat pair of a fragmented file, as the playlist and export see it. */
typedef struct {
  gint64 offset;        /* file offset of the moof */
  gint64 size;          /* moof + mdat bytes */
  gint64 start_us;      /* decode time of its first video sample, from the file's first sample */
  gint64 duration_us;   /* of its video samples */
  gboolean keyframe;    /* its first video sample is a sync sample */
} NvrMp4Fragment;

/* Reads a file's bytes in order, from offset 0, keeping only moov and moof boxes (each at most
 * NVR_MP4PROBE_MAX_HEADER), and yields every fragment once its mdat has ended: a moof directly
 * followed by an mdat that holds every sample byte the moof's runs reference. A box cut off by
 * the end of the input is just not yet finished. Pure; one owner; any thread. */
typedef struct _NvrMp4Indexer NvrMp4Indexer;
NvrMp4Indexer *nvr_mp4probe_indexer_new (void);
void nvr_mp4probe_indexer_free (NvrMp4Indexer *ix);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrMp4Indexer, nvr_mp4probe_indexer_free)
/* Fails, and stays failed, on a box size under its header or over 2^64, a box "to the end of
 * the file", a moov/moof over the maximum or that does not parse, a moof before the moov. */
gboolean nvr_mp4probe_indexer_feed (NvrMp4Indexer *ix, const guint8 *data, gsize len,
                                    GError **error);
/* The next finished fragment, in file order; FALSE when none is waiting. */
gboolean nvr_mp4probe_indexer_pop (NvrMp4Indexer *ix, NvrMp4Fragment *out);
/* Bytes of ftyp + moov (the end of the moov), or 0 before the moov has ended. */
gint64 nvr_mp4probe_indexer_init_bytes (NvrMp4Indexer *ix);
/* Bytes fed so far. */
guint64 nvr_mp4probe_indexer_position (NvrMp4Indexer *ix);

/* The whole index of a buffer (a file, maybe cut off): *out is a new GArray of NvrMp4Fragment,
 * empty for a file with no whole fragment (e.g. a finalized MP4 of an older version). */
gboolean nvr_mp4probe_index_buffer (const guint8 *data, gsize len, gint64 *init_bytes,
                                    GArray **out, GError **error);
/* The probe's line with the index: nvr_mp4probe_to_json's object plus "init_bytes":N and
 * "index":[[offset,size,start_us,duration_us,0|1],...] (@frags may be NULL: no index). */
char *nvr_mp4probe_to_json_indexed (const NvrMp4Info *info, gint64 init_bytes,
                                    const GArray *frags);

G_END_DECLS
