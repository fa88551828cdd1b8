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

G_END_DECLS
