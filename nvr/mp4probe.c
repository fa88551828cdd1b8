/* mp4probe — ISO-BMFF walker that measures the playable video in a recording. Pure over a buffer
 * (nvr_mp4probe_buffer); nvr_mp4probe_file only maps the file. Any thread.
 * Invariants: every read is preceded by a bounds check against the enclosing box; nesting is
 * limited to NVR_MP4PROBE_MAX_DEPTH; sums use checked 64-bit arithmetic. A fragment counts only
 * when its moof is whole and all the sample bytes its truns reference lie inside the buffer, so
 * a file cut off mid-fragment reports exactly what a player can still play. */
#define G_LOG_DOMAIN "nvr-mp4probe"

#include "mp4probe.h"
#include "isobmff.h"

#include <string.h>

G_DEFINE_QUARK (nvr-mp4probe-error-quark, nvr_mp4probe_error)

typedef struct {
  guint32 track_id;
  gboolean is_video;
  guint32 timescale;
  guint64 stts_ticks;      /* sum of the moov sample table's durations */
  guint64 stts_samples;
  char codec[8];
  /* trex defaults (from moov/mvex) */
  guint32 trex_duration;
  guint32 trex_size;
  guint32 trex_flags;
} Track;

typedef struct {
  const guint8 *file;      /* whole buffer, for data-offset checks */
  gsize file_len;
  guint64 file_base;       /* file offset of file[0] (the indexer walks one moof at a time) */
  guint64 data_limit;      /* sample data past this offset is missing */
  Track tracks[NVR_MP4PROBE_MAX_TRACKS];
  guint n_tracks;
  Track *cur;              /* trak being parsed, or NULL */
  gboolean have_moov;
  gboolean have_mvex;
  /* moof being parsed */
  gsize moof_offset;
  guint32 traf_track_id;
  guint32 traf_flags;
  guint64 traf_base;
  guint32 traf_def_duration, traf_def_size, traf_def_flags;
  gboolean traf_def_flags_known;
  guint64 traf_tfdt;       /* tfdt of this traf; valid if traf_has_tfdt */
  gboolean traf_has_tfdt;
  gboolean frag_ok;        /* all of this moof's data is present */
  guint64 frag_ticks;      /* video ticks in this moof */
  guint32 frag_video_id;   /* track the ticks belong to */
  guint64 frag_data_end;   /* end of the last sample byte its truns reference */
  gboolean frag_first_seen;   /* the video track's first sample was seen */
  gboolean frag_key;       /* ... and it is a sync sample */
  guint64 frag_tfdt;       /* decode time of the video track's first sample */
  gboolean frag_has_tfdt;
} Probe;

typedef struct {
  guint32 type;
  gsize offset;            /* of the header, from the start of the file */
  const guint8 *body;
  gsize body_len;
  gboolean truncated;      /* the declared size runs past the container */
} Box;

static gboolean
malformed (GError **error, const char *what, guint32 type)
{
  g_set_error (error, NVR_MP4PROBE_ERROR, NVR_MP4PROBE_ERROR_MALFORMED, "%s in box '%c%c%c%c'",
               what, (char) (type >> 24), (char) (type >> 16), (char) (type >> 8), (char) type);
  return FALSE;
}

/* Reads the box header at @p (with @left bytes until the end of the container). Returns FALSE
 * when fewer than 8 bytes are left (end of container); sets @bad on a size smaller than its own
 * header. A size past the container is clipped and marked truncated. */
static gboolean
box_read (const Probe *pr, const guint8 *p, gsize left, Box *box, gboolean *bad)
{
  *bad = FALSE;
  if (left < 8)
    return FALSE;
  guint64 size = rd32 (p);
  gsize hdr = 8;
  box->type = rd32 (p + 4);
  box->offset = (gsize) (pr->file_base + (guint64) (p - pr->file));
  if (size == 1) {
    if (left < 16) {
      box->body = p + left;
      box->body_len = 0;
      box->truncated = TRUE;
      return TRUE;
    }
    size = rd64 (p + 8);
    hdr = 16;
  } else if (size == 0) {
    size = left;   /* "extends to the end of the container" */
  }
  if (size < hdr) {
    *bad = TRUE;
    return TRUE;
  }
  box->body = p + hdr;
  box->truncated = size > left;
  box->body_len = (gsize) (box->truncated ? left - hdr : size - hdr);
  return TRUE;
}

static gboolean walk (Probe *pr, const guint8 *p, gsize len, guint depth, GError **error);

static gboolean
ticks_add (guint64 *acc, guint64 a, guint64 b)
{
  guint64 m;
  if (!g_uint64_checked_mul (&m, a, b))
    return FALSE;
  return g_uint64_checked_add (acc, *acc, m);
}

static gboolean
parse_mdhd (Probe *pr, const Box *b, GError **error)
{
  if (pr->cur == NULL || b->body_len < 4)
    return malformed (error, "Misplaced or short header", b->type);
  guint8 version = b->body[0];
  gsize need = version == 1 ? 4 + 16 + 4 : 4 + 8 + 4;
  if (b->body_len < need)
    return malformed (error, "Short header", b->type);
  pr->cur->timescale = rd32 (b->body + (version == 1 ? 20 : 12));
  if (pr->cur->timescale == 0)
    return malformed (error, "Zero timescale", b->type);
  return TRUE;
}

static gboolean
parse_hdlr (Probe *pr, const Box *b, GError **error)
{
  if (pr->cur == NULL || b->body_len < 12)
    return malformed (error, "Misplaced or short handler", b->type);
  pr->cur->is_video = rd32 (b->body + 8) == FOURCC ('v', 'i', 'd', 'e');
  return TRUE;
}

static gboolean
parse_tkhd (Probe *pr, const Box *b, GError **error)
{
  if (pr->cur == NULL || b->body_len < 4)
    return malformed (error, "Misplaced or short header", b->type);
  gsize off = b->body[0] == 1 ? 4 + 16 : 4 + 8;
  if (b->body_len < off + 4)
    return malformed (error, "Short header", b->type);
  pr->cur->track_id = rd32 (b->body + off);
  return TRUE;
}

static gboolean
parse_stsd (Probe *pr, const Box *b, GError **error)
{
  if (pr->cur == NULL || b->body_len < 8)
    return malformed (error, "Misplaced or short sample description", b->type);
  if (rd32 (b->body + 4) == 0 || b->body_len < 16)
    return TRUE;
  guint32 entry = rd32 (b->body + 12);
  const char *codec = "";
  if (entry == FOURCC ('a', 'v', 'c', '1') || entry == FOURCC ('a', 'v', 'c', '3'))
    codec = "h264";
  else if (entry == FOURCC ('h', 'v', 'c', '1') || entry == FOURCC ('h', 'e', 'v', '1'))
    codec = "h265";
  g_strlcpy (pr->cur->codec, codec, sizeof pr->cur->codec);
  return TRUE;
}

static gboolean
parse_stts (Probe *pr, const Box *b, GError **error)
{
  if (pr->cur == NULL || b->body_len < 8)
    return malformed (error, "Misplaced or short time-to-sample table", b->type);
  guint32 n = rd32 (b->body + 4);
  if (n > (b->body_len - 8) / 8)
    return malformed (error, "Entry count exceeds the box", b->type);
  guint64 ticks = 0, samples = 0;
  for (guint32 i = 0; i < n; i++) {
    const guint8 *e = b->body + 8 + (gsize) i * 8;
    if (!ticks_add (&ticks, rd32 (e), rd32 (e + 4)) ||
        !g_uint64_checked_add (&samples, samples, rd32 (e)))
      return malformed (error, "Duration overflows", b->type);
  }
  pr->cur->stts_ticks = ticks;
  pr->cur->stts_samples = samples;
  return TRUE;
}

static Track *
track_by_id (Probe *pr, guint32 id)
{
  for (guint i = 0; i < pr->n_tracks; i++)
    if (pr->tracks[i].track_id == id)
      return &pr->tracks[i];
  return NULL;
}

static gboolean
parse_trex (Probe *pr, const Box *b, GError **error)
{
  if (b->body_len < 24)
    return malformed (error, "Short track defaults", b->type);
  Track *t = track_by_id (pr, rd32 (b->body + 4));
  if (t != NULL) {
    t->trex_duration = rd32 (b->body + 12);
    t->trex_size = rd32 (b->body + 16);
    t->trex_flags = rd32 (b->body + 20);
  }
  return TRUE;
}

static gboolean
parse_tfhd (Probe *pr, const Box *b, GError **error)
{
  if (b->body_len < 8)
    return malformed (error, "Short fragment header", b->type);
  guint32 flags = rd32 (b->body) & 0xffffff;
  gsize off = 8;
  gsize need = 8 + (flags & 0x1 ? 8 : 0) + (flags & 0x2 ? 4 : 0) + (flags & 0x8 ? 4 : 0) +
               (flags & 0x10 ? 4 : 0) + (flags & 0x20 ? 4 : 0);
  if (b->body_len < need)
    return malformed (error, "Short fragment header", b->type);
  pr->traf_track_id = rd32 (b->body + 4);
  pr->traf_flags = flags;
  pr->traf_base = pr->moof_offset;
  Track *t = track_by_id (pr, pr->traf_track_id);
  pr->traf_def_duration = t ? t->trex_duration : 0;
  pr->traf_def_size = t ? t->trex_size : 0;
  pr->traf_def_flags = t ? t->trex_flags : 0;
  pr->traf_def_flags_known = t != NULL;
  if (flags & 0x1) {
    pr->traf_base = rd64 (b->body + off);
    off += 8;
  }
  if (flags & 0x2)
    off += 4;
  if (flags & 0x8) {
    pr->traf_def_duration = rd32 (b->body + off);
    off += 4;
  }
  if (flags & 0x10) {
    pr->traf_def_size = rd32 (b->body + off);
    off += 4;
  }
  if (flags & 0x20) {
    pr->traf_def_flags = rd32 (b->body + off);
    pr->traf_def_flags_known = TRUE;
  }
  return TRUE;
}

static gboolean
parse_tfdt (Probe *pr, const Box *b, GError **error)
{
  if (b->body_len < 8 || (b->body[0] == 1 && b->body_len < 12))
    return malformed (error, "Short decode time", b->type);
  pr->traf_tfdt = b->body[0] == 1 ? rd64 (b->body + 4) : rd32 (b->body + 4);
  pr->traf_has_tfdt = TRUE;
  return TRUE;
}

static gboolean
parse_trun (Probe *pr, const Box *b, GError **error)
{
  if (b->body_len < 8)
    return malformed (error, "Short track run", b->type);
  guint32 flags = rd32 (b->body) & 0xffffff;
  guint32 count = rd32 (b->body + 4);
  gsize off = 8;
  gint64 data_offset = 0;
  if (flags & 0x1) {
    if (b->body_len < off + 4)
      return malformed (error, "Short track run", b->type);
    data_offset = (gint32) rd32 (b->body + off);
    off += 4;
  }
  gboolean first_known = FALSE;
  guint32 first_flags = 0;
  if (flags & 0x4) {
    if (b->body_len < off + 4)
      return malformed (error, "Short track run", b->type);
    first_flags = rd32 (b->body + off);
    first_known = TRUE;
    off += 4;
  }
  gsize per = (flags & 0x100 ? 4 : 0) + (flags & 0x200 ? 4 : 0) + (flags & 0x400 ? 4 : 0) +
              (flags & 0x800 ? 4 : 0);
  if (b->body_len < off || (per > 0 && count > (b->body_len - off) / per))
    return malformed (error, "Sample count exceeds the box", b->type);

  guint64 ticks = 0, bytes = 0;
  if (per == 0) {
    if (!ticks_add (&ticks, count, pr->traf_def_duration) ||
        !ticks_add (&bytes, count, pr->traf_def_size))
      return malformed (error, "Run overflows", b->type);
  } else {
    for (guint32 i = 0; i < count; i++) {
      const guint8 *s = b->body + off + (gsize) i * per;
      guint32 dur = pr->traf_def_duration, size = pr->traf_def_size;
      if (flags & 0x100) {
        dur = rd32 (s);
        s += 4;
      }
      if (flags & 0x200) {
        size = rd32 (s);
        s += 4;
      }
      if (i == 0 && !first_known && (flags & 0x400)) {
        first_flags = rd32 (s);
        first_known = TRUE;
      }
      if (!g_uint64_checked_add (&ticks, ticks, dur) ||
          !g_uint64_checked_add (&bytes, bytes, size))
        return malformed (error, "Run overflows", b->type);
    }
  }
  /* Where the run's bytes start: base + data_offset; without a data offset, right after the
   * previous run — approximated by the base, which only makes the check stricter. */
  gint64 start = (gint64) pr->traf_base + data_offset;
  guint64 end;
  if (start < 0 || !g_uint64_checked_add (&end, (guint64) start, bytes) || end > pr->data_limit)
    pr->frag_ok = FALSE;
  else if (end > pr->frag_data_end)
    pr->frag_data_end = end;

  if (!first_known && pr->traf_def_flags_known) {
    first_flags = pr->traf_def_flags;
    first_known = TRUE;
  }
  Track *t = track_by_id (pr, pr->traf_track_id);
  if (t != NULL && t->is_video && count > 0 && !pr->frag_first_seen) {
    pr->frag_first_seen = TRUE;
    /* sample_is_non_sync_sample (ISO/IEC 14496-12 8.8.3.1); unknown flags = not a keyframe */
    pr->frag_key = first_known && (first_flags & 0x00010000u) == 0;
    pr->frag_has_tfdt = pr->traf_has_tfdt;
    pr->frag_tfdt = pr->traf_tfdt;
  }
  if (t != NULL && t->is_video) {
    if (!g_uint64_checked_add (&pr->frag_ticks, pr->frag_ticks, ticks))
      return malformed (error, "Run overflows", b->type);
    pr->frag_video_id = t->track_id;
  }
  return TRUE;
}

static gboolean
is_container (guint32 type)
{
  switch (type) {
  case FOURCC ('m', 'o', 'o', 'v'):
  case FOURCC ('t', 'r', 'a', 'k'):
  case FOURCC ('m', 'd', 'i', 'a'):
  case FOURCC ('m', 'i', 'n', 'f'):
  case FOURCC ('s', 't', 'b', 'l'):
  case FOURCC ('m', 'v', 'e', 'x'):
  case FOURCC ('m', 'o', 'o', 'f'):
  case FOURCC ('t', 'r', 'a', 'f'):
    return TRUE;
  default:
    return FALSE;
  }
}

/* One box inside moov or moof (depth >= 1). */
static gboolean
visit (Probe *pr, const Box *b, guint depth, GError **error)
{
  if (b->truncated)
    return malformed (error, "Size runs past its container", b->type);
  switch (b->type) {
  case FOURCC ('t', 'r', 'a', 'k'): {
    if (pr->cur != NULL)
      return malformed (error, "Nested track", b->type);
    if (pr->n_tracks == NVR_MP4PROBE_MAX_TRACKS)
      return TRUE;   /* ignore the rest */
    pr->cur = &pr->tracks[pr->n_tracks++];
    memset (pr->cur, 0, sizeof *pr->cur);
    gboolean ok = walk (pr, b->body, b->body_len, depth + 1, error);
    pr->cur = NULL;
    return ok;
  }
  case FOURCC ('m', 'v', 'e', 'x'):
    pr->have_mvex = TRUE;
    return walk (pr, b->body, b->body_len, depth + 1, error);
  case FOURCC ('t', 'r', 'a', 'f'):
    pr->traf_track_id = 0;
    pr->traf_base = pr->moof_offset;
    pr->traf_def_duration = pr->traf_def_size = pr->traf_def_flags = 0;
    pr->traf_def_flags_known = FALSE;
    pr->traf_has_tfdt = FALSE;
    return walk (pr, b->body, b->body_len, depth + 1, error);
  case FOURCC ('t', 'k', 'h', 'd'): return parse_tkhd (pr, b, error);
  case FOURCC ('m', 'd', 'h', 'd'): return parse_mdhd (pr, b, error);
  case FOURCC ('h', 'd', 'l', 'r'): return parse_hdlr (pr, b, error);
  case FOURCC ('s', 't', 's', 'd'): return parse_stsd (pr, b, error);
  case FOURCC ('s', 't', 't', 's'): return parse_stts (pr, b, error);
  case FOURCC ('t', 'r', 'e', 'x'): return parse_trex (pr, b, error);
  case FOURCC ('t', 'f', 'h', 'd'): return parse_tfhd (pr, b, error);
  case FOURCC ('t', 'r', 'u', 'n'): return parse_trun (pr, b, error);
  case FOURCC ('t', 'f', 'd', 't'): return parse_tfdt (pr, b, error);
  default:
    if (is_container (b->type))
      return walk (pr, b->body, b->body_len, depth + 1, error);
    return TRUE;
  }
}

static gboolean
walk (Probe *pr, const guint8 *p, gsize len, guint depth, GError **error)
{
  if (depth > NVR_MP4PROBE_MAX_DEPTH) {
    g_set_error (error, NVR_MP4PROBE_ERROR, NVR_MP4PROBE_ERROR_MALFORMED,
                 "Boxes nested deeper than %d", NVR_MP4PROBE_MAX_DEPTH);
    return FALSE;
  }
  gsize off = 0;
  Box b;
  gboolean bad;
  while (box_read (pr, p + off, len - off, &b, &bad)) {
    if (bad)
      return malformed (error, "Size smaller than its header", b.type);
    if (!visit (pr, &b, depth, error))
      return FALSE;
    off = (gsize) (b.body - p) + b.body_len;
  }
  return TRUE;
}

static gint64
ticks_to_us (guint64 ticks, guint32 timescale)
{
  guint64 us = ticks / timescale * G_USEC_PER_SEC + ticks % timescale * G_USEC_PER_SEC / timescale;
  return us > (guint64) G_MAXINT64 ? G_MAXINT64 : (gint64) us;
}

gboolean
nvr_mp4probe_buffer (const guint8 *data, gsize len, NvrMp4Info *info, GError **error)
{
  g_autofree Probe *pr = g_new0 (Probe, 1);
  pr->file = data;
  pr->file_len = len;
  pr->data_limit = len;
  memset (info, 0, sizeof *info);
  info->bytes = len;

  gboolean any_truncated = FALSE;
  guint64 frag_ticks = 0;
  guint fragments = 0;
  Track *video = NULL;

  gsize off = 0;
  Box b;
  gboolean bad;
  while (box_read (pr, data + off, len - off, &b, &bad)) {
    if (bad)
      return malformed (error, "Size smaller than its header", b.type);
    off = (gsize) (b.body - data) + b.body_len;
    if (b.truncated) {
      any_truncated = TRUE;
      continue;   /* a cut-off box is the end of the file; nothing whole follows it */
    }
    if (b.type == FOURCC ('m', 'o', 'o', 'v')) {
      if (pr->have_moov)
        return malformed (error, "Second movie header", b.type);
      pr->have_moov = TRUE;
      if (!walk (pr, b.body, b.body_len, 1, error))
        return FALSE;
      for (guint i = 0; i < pr->n_tracks && video == NULL; i++)
        if (pr->tracks[i].is_video && pr->tracks[i].timescale > 0)
          video = &pr->tracks[i];
    } else if (b.type == FOURCC ('m', 'o', 'o', 'f')) {
      if (!pr->have_moov)
        return malformed (error, "Fragment before the movie header", b.type);
      pr->moof_offset = b.offset;
      pr->frag_ok = TRUE;
      pr->frag_ticks = 0;
      pr->frag_video_id = 0;
      if (!walk (pr, b.body, b.body_len, 1, error))
        return FALSE;
      if (pr->frag_ok && video != NULL && pr->frag_video_id == video->track_id) {
        if (!g_uint64_checked_add (&frag_ticks, frag_ticks, pr->frag_ticks))
          return malformed (error, "Duration overflows", b.type);
        fragments++;
      }
    }
  }

  if (video == NULL) {
    g_set_error (error, NVR_MP4PROBE_ERROR, NVR_MP4PROBE_ERROR_NO_VIDEO,
                 pr->have_moov ? "No video track" : "No movie header (nothing playable)");
    return FALSE;
  }
  guint64 ticks;
  if (!g_uint64_checked_add (&ticks, video->stts_ticks, frag_ticks))
    return malformed (error, "Duration overflows", FOURCC ('m', 'o', 'o', 'v'));
  if (ticks == 0) {
    g_set_error (error, NVR_MP4PROBE_ERROR, NVR_MP4PROBE_ERROR_NO_VIDEO, "No video samples");
    return FALSE;
  }
  info->duration_us = ticks_to_us (ticks, video->timescale);
  info->fragments = pr->have_mvex ? fragments + (video->stts_samples > 0 ? 1 : 0) : 0;
  info->complete = !pr->have_mvex && !any_truncated;
  g_strlcpy (info->codec, video->codec, sizeof info->codec);
  return TRUE;
}

gboolean
nvr_mp4probe_file (const char *path, NvrMp4Info *info, GError **error)
{
  g_autoptr (GMappedFile) map = g_mapped_file_new (path, FALSE, error);
  if (map == NULL)
    return FALSE;
  const guint8 *data = (const guint8 *) g_mapped_file_get_contents (map);
  gsize len = g_mapped_file_get_length (map);
  return nvr_mp4probe_buffer (data, len, info, error);
}

char *
nvr_mp4probe_to_json (const NvrMp4Info *info)
{
  return g_strdup_printf ("{\"complete\":%s,\"duration_us\":%" G_GINT64_FORMAT
                          ",\"bytes\":%" G_GUINT64_FORMAT ",\"fragments\":%u,\"codec\":\"%s\"}",
                          info->complete ? "true" : "false", info->duration_us, info->bytes,
                          info->fragments, info->codec);
}

/* ---- the fragment indexer: top-level boxes of a byte stream, only headers kept ---- */

typedef enum {
  IX_HEADER,     /* reading a top-level box header into hdr[] */
  IX_KEEP,       /* ftyp/moov/moof body: kept in buf (bounded) */
  IX_SKIP,       /* anything else (mdat, free, mfra): counted, not kept */
} IxMode;

struct _NvrMp4Indexer {
  gboolean failed;
  IxMode mode;
  guint8 hdr[16];
  gsize hdr_len;
  guint32 type;
  guint64 box_offset;       /* file offset of the current box's header */
  guint64 box_end;          /* file offset just past the current box */
  guint64 pos;              /* bytes fed so far */
  GByteArray *buf;          /* the kept box, header included */
  Probe *pr;                /* tracks from the moov; reused for each moof */
  Track *video;
  guint64 init_bytes;       /* end of the moov; 0 before it */
  /* the moof waiting for its mdat */
  gboolean have_moof;
  guint64 moof_offset;
  guint64 moof_ticks, moof_tfdt, moof_data_end;
  gboolean moof_key, moof_has_tfdt;
  /* time of the next fragment when a moof has no tfdt, and of the file's first sample */
  guint64 next_ticks;
  gboolean have_first;
  guint64 first_ticks;
  GArray *done;             /* NvrMp4Fragment */
  /* A moof + mdat with no video sample (audio only: mp4mux writes one when audio runs ahead of
   * a fragment's video) is not a fragment of its own: its bytes are carried into the next video
   * fragment that follows it directly, so the index still covers the file back to back. */
  gboolean moof_video;      /* the kept moof has video samples */
  gboolean carry;
  guint64 carry_offset, carry_end;
};

NvrMp4Indexer *
nvr_mp4probe_indexer_new (void)
{
  NvrMp4Indexer *ix = g_new0 (NvrMp4Indexer, 1);
  ix->buf = g_byte_array_new ();
  ix->pr = g_new0 (Probe, 1);
  ix->done = g_array_new (FALSE, FALSE, sizeof (NvrMp4Fragment));
  return ix;
}

void
nvr_mp4probe_indexer_free (NvrMp4Indexer *ix)
{
  if (ix == NULL)
    return;
  g_byte_array_unref (ix->buf);
  g_array_unref (ix->done);
  g_free (ix->pr);
  g_free (ix);
}

static gboolean
ix_fail (NvrMp4Indexer *ix, GError **error, const char *why, guint64 at)
{
  ix->failed = TRUE;
  g_set_error (error, NVR_MP4PROBE_ERROR, NVR_MP4PROBE_ERROR_MALFORMED,
               "%s at byte %" G_GUINT64_FORMAT, why, at);
  return FALSE;
}

/* The kept box in ix->buf is whole. */
static gboolean
ix_kept (NvrMp4Indexer *ix, GError **error)
{
  Probe *pr = ix->pr;
  gsize hdr = ix->hdr_len;
  if (ix->type == FOURCC ('m', 'o', 'o', 'v')) {
    if (pr->have_moov)
      return ix_fail (ix, error, "Second movie header", ix->box_offset);
    pr->have_moov = TRUE;
    pr->file = ix->buf->data;
    pr->file_len = ix->buf->len;
    pr->file_base = ix->box_offset;
    if (!walk (pr, ix->buf->data + hdr, ix->buf->len - hdr, 1, error)) {
      ix->failed = TRUE;
      return FALSE;
    }
    for (guint i = 0; i < pr->n_tracks && ix->video == NULL; i++)
      if (pr->tracks[i].is_video && pr->tracks[i].timescale > 0)
        ix->video = &pr->tracks[i];
    if (ix->video == NULL) {
      ix->failed = TRUE;
      g_set_error (error, NVR_MP4PROBE_ERROR, NVR_MP4PROBE_ERROR_NO_VIDEO, "No video track");
      return FALSE;
    }
    ix->init_bytes = ix->box_end;
    return TRUE;
  }
  if (ix->type != FOURCC ('m', 'o', 'o', 'f'))
    return TRUE;   /* ftyp */
  if (ix->video == NULL)
    return ix_fail (ix, error, "Fragment before the movie header", ix->box_offset);
  pr->file = ix->buf->data;
  pr->file_len = ix->buf->len;
  pr->file_base = ix->box_offset;
  pr->data_limit = G_MAXUINT64;   /* checked against the mdat when it ends */
  pr->moof_offset = ix->box_offset;
  pr->frag_ok = TRUE;
  pr->frag_ticks = 0;
  pr->frag_video_id = 0;
  pr->frag_data_end = 0;
  pr->frag_first_seen = pr->frag_key = pr->frag_has_tfdt = FALSE;
  if (!walk (pr, ix->buf->data + hdr, ix->buf->len - hdr, 1, error)) {
    ix->failed = TRUE;
    return FALSE;
  }
  ix->moof_video = pr->frag_video_id == ix->video->track_id && pr->frag_ticks > 0;
  ix->have_moof = pr->frag_ok;
  ix->moof_offset = ix->box_offset;
  ix->moof_ticks = pr->frag_ticks;
  ix->moof_key = pr->frag_key;
  ix->moof_has_tfdt = pr->frag_has_tfdt;
  ix->moof_tfdt = pr->frag_tfdt;
  ix->moof_data_end = pr->frag_data_end;
  return TRUE;
}

/* An mdat ended at ix->box_end: with the moof before it, that is a fragment. */
static void
ix_mdat_done (NvrMp4Indexer *ix)
{
  if (!ix->have_moof)
    return;
  ix->have_moof = FALSE;
  if (ix->moof_data_end > ix->box_end) {
    ix->carry = FALSE;
    return;   /* references bytes past its own mdat: not a fragment we can serve alone */
  }
  if (!ix->moof_video) {
    if (!ix->carry || ix->carry_end != ix->moof_offset)
      ix->carry_offset = ix->moof_offset;
    ix->carry = TRUE;
    ix->carry_end = ix->box_end;
    return;
  }
  guint64 offset = ix->carry && ix->carry_end == ix->moof_offset ? ix->carry_offset
                                                                 : ix->moof_offset;
  ix->carry = FALSE;
  guint64 t = ix->moof_has_tfdt ? ix->moof_tfdt : ix->next_ticks;
  if (!ix->have_first) {
    ix->have_first = TRUE;
    ix->first_ticks = t;
  }
  if (t < ix->first_ticks)
    return;   /* decode time going backwards: not indexed */
  guint32 ts = ix->video->timescale;
  NvrMp4Fragment f = {
    .offset = (gint64) offset,
    .size = (gint64) (ix->box_end - offset),
    .start_us = ticks_to_us (t - ix->first_ticks, ts),
    .keyframe = ix->moof_key,
  };
  guint64 end_ticks;
  if (!g_uint64_checked_add (&end_ticks, t - ix->first_ticks, ix->moof_ticks))
    return;
  f.duration_us = ticks_to_us (end_ticks, ts) - f.start_us;
  ix->next_ticks = t + ix->moof_ticks;
  g_array_append_val (ix->done, f);
}

gboolean
nvr_mp4probe_indexer_feed (NvrMp4Indexer *ix, const guint8 *data, gsize len, GError **error)
{
  if (ix->failed) {
    g_set_error (error, NVR_MP4PROBE_ERROR, NVR_MP4PROBE_ERROR_MALFORMED, "Index already failed");
    return FALSE;
  }
  while (len > 0) {
    if (ix->mode == IX_HEADER) {
      if (ix->hdr_len == 0)
        ix->box_offset = ix->pos;
      gsize want = ix->hdr_len < 8 ? 8 : 16;
      gsize n = MIN (len, want - ix->hdr_len);
      memcpy (ix->hdr + ix->hdr_len, data, n);
      ix->hdr_len += n;
      ix->pos += n;
      data += n;
      len -= n;
      if (ix->hdr_len < 8)
        continue;
      guint64 size = rd32 (ix->hdr);
      if (size == 1) {
        if (ix->hdr_len < 16)
          continue;
        size = rd64 (ix->hdr + 8);
      }
      if (size == 0)
        return ix_fail (ix, error, "Box without a size", ix->box_offset);
      if (size < ix->hdr_len)
        return ix_fail (ix, error, "Box size smaller than its header", ix->box_offset);
      ix->type = rd32 (ix->hdr + 4);
      if (!g_uint64_checked_add (&ix->box_end, ix->box_offset, size))
        return ix_fail (ix, error, "Box size overflows", ix->box_offset);
      gboolean keep = ix->type == FOURCC ('m', 'o', 'o', 'v') ||
                      ix->type == FOURCC ('m', 'o', 'o', 'f');
      if (ix->type != FOURCC ('m', 'd', 'a', 't'))
        ix->have_moof = FALSE;   /* only an mdat right after its moof makes a fragment */
      if (keep && size > NVR_MP4PROBE_MAX_HEADER)
        return ix_fail (ix, error, "Header box over the maximum", ix->box_offset);
      g_byte_array_set_size (ix->buf, 0);
      if (keep)
        g_byte_array_append (ix->buf, ix->hdr, (guint) ix->hdr_len);
      ix->mode = keep ? IX_KEEP : IX_SKIP;
    } else {
      gsize n = (gsize) MIN ((guint64) len, ix->box_end - ix->pos);
      if (ix->mode == IX_KEEP)
        g_byte_array_append (ix->buf, data, (guint) n);
      ix->pos += n;
      data += n;
      len -= n;
    }
    if (ix->mode != IX_HEADER && ix->pos == ix->box_end) {
      gboolean ok = TRUE;
      if (ix->mode == IX_KEEP)
        ok = ix_kept (ix, error);
      else if (ix->type == FOURCC ('m', 'd', 'a', 't'))
        ix_mdat_done (ix);
      ix->mode = IX_HEADER;
      ix->hdr_len = 0;
      if (!ok)
        return FALSE;
    }
  }
  return TRUE;
}

gboolean
nvr_mp4probe_indexer_pop (NvrMp4Indexer *ix, NvrMp4Fragment *out)
{
  if (ix->done->len == 0)
    return FALSE;
  *out = g_array_index (ix->done, NvrMp4Fragment, 0);
  g_array_remove_index (ix->done, 0);
  return TRUE;
}

gint64
nvr_mp4probe_indexer_init_bytes (NvrMp4Indexer *ix)
{
  return (gint64) ix->init_bytes;
}

guint64
nvr_mp4probe_indexer_position (NvrMp4Indexer *ix)
{
  return ix->pos;
}

gboolean
nvr_mp4probe_index_buffer (const guint8 *data, gsize len, gint64 *init_bytes, GArray **out,
                           GError **error)
{
  g_autoptr (NvrMp4Indexer) ix = nvr_mp4probe_indexer_new ();
  g_autoptr (GArray) frags = g_array_new (FALSE, FALSE, sizeof (NvrMp4Fragment));
  /* A box cut off by the end of the file is simply not finished: that is not an error. */
  if (!nvr_mp4probe_indexer_feed (ix, data, len, error))
    return FALSE;
  NvrMp4Fragment f;
  while (nvr_mp4probe_indexer_pop (ix, &f))
    g_array_append_val (frags, f);
  *init_bytes = nvr_mp4probe_indexer_init_bytes (ix);
  *out = g_steal_pointer (&frags);
  return TRUE;
}

char *
nvr_mp4probe_to_json_indexed (const NvrMp4Info *info, gint64 init_bytes, const GArray *frags)
{
  g_autofree char *head = nvr_mp4probe_to_json (info);
  GString *out = g_string_new (NULL);
  g_string_append_len (out, head, (gssize) strlen (head) - 1);   /* without the closing brace */
  g_string_append_printf (out, ",\"init_bytes\":%" G_GINT64_FORMAT ",\"index\":[", init_bytes);
  for (guint i = 0; frags != NULL && i < frags->len; i++) {
    const NvrMp4Fragment *f = &g_array_index (frags, NvrMp4Fragment, i);
    g_string_append_printf (out, "%s[%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT
                            ",%" G_GINT64_FORMAT ",%d]", i ? "," : "", f->offset, f->size,
                            f->start_us, f->duration_us, f->keyframe ? 1 : 0);
  }
  g_string_append (out, "]}");
  return g_string_free (out, FALSE);
}
