/* export — planner (pure), reader (blocking file reads, off the main loop) and the fallback
 * fragment walker. Box layout facts relied on (ISO/IEC 14496-12, and what mp4mux writes):
 * a fragment is a moof immediately followed by its mdat; trun data offsets are relative to the
 * moof (tfhd default-base-is-moof, or no base-data-offset in the first traf), so copying
 * moof+mdat contiguously keeps them right, and a tfhd base_data_offset, when present, is moved
 * by the same amount as the moof. Patching never changes a box's size. With audio (video + one
 * AAC track) a fragment is one or more moof+mdat pairs (audio-only ones folded into the next
 * video one); every traf's tfdt is moved, audio by the video's shift in its own timescale. */
#define G_LOG_DOMAIN "nvr-export"

#include "export.h"
#include "isobmff.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK (nvr-export-error-quark, nvr_export_error)

#define CHUNK (256 * 1024)

/* ---- box helpers (pure) ---- */

typedef struct {
  const guint8 *data;   /* start of the box (its size field) */
  gsize size;           /* whole box */
  gsize hdr;            /* 8 or 16 */
  guint32 type;
} Box;

static gboolean
fail (GError **error, NvrExportError code, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static gboolean
fail (GError **error, NvrExportError code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, NVR_EXPORT_ERROR, code, msg);
  return FALSE;
}

/* The box at @off of a container of @len bytes; FALSE if it does not fit. */
static gboolean
box_at (const guint8 *data, gsize len, gsize off, Box *b)
{
  if (off > len || len - off < 8)
    return FALSE;
  guint64 size = rd32 (data + off);
  gsize hdr = 8;
  if (size == 1) {
    if (len - off < 16)
      return FALSE;
    size = rd64 (data + off + 8);
    hdr = 16;
  }
  if (size < hdr || size > len - off)
    return FALSE;
  b->data = data + off;
  b->size = (gsize) size;
  b->hdr = hdr;
  b->type = rd32 (data + off + 4);
  return TRUE;
}

/* The first child of type @type in @parent (after @skip bytes of its payload), or FALSE. */
static gboolean
child (const Box *parent, gsize skip, guint32 type, Box *out)
{
  gsize off = parent->hdr + skip;
  Box b;
  while (off < parent->size) {
    if (!box_at (parent->data, parent->size, off, &b))
      return FALSE;
    if (b.type == type) {
      *out = b;
      return TRUE;
    }
    off += b.size;
  }
  return FALSE;
}

/* ---- init segment ---- */

typedef struct {
  guint32 id, ts;
  Box stsd;
  gboolean has_trex;
  guint32 trex_duration, trex_flags;
  guint64 edit_media_time;   /* the source's own edit (composition offset), else 0 */
} Track;

typedef struct {
  Box ftyp, moov;
  guint32 movie_ts;
  Track video;
  gboolean has_audio;
  Track audio;               /* valid if has_audio: AAC (mp4a) */
} Init;

/* Full-box version byte, requiring at least @need bytes of the box. */
static gboolean
version_of (const Box *b, gsize need, int *version)
{
  if (b->size < b->hdr + 4 || b->size < need)
    return FALSE;
  *version = b->data[b->hdr];
  return *version == 0 || *version == 1;
}

/* One trak: its id, timescale, sample description, handler and first sample entry type. */
static gboolean
parse_trak (const Box *trak, Track *t, guint32 *handler, guint32 *entry, GError **error)
{
  Box tkhd, mdia, mdhd, hdlr, minf, stbl, edts, elst;
  int v;
  memset (t, 0, sizeof *t);
  if (!child (trak, 0, FOURCC ('t', 'k', 'h', 'd'), &tkhd) || !version_of (&tkhd, 48, &v))
    return fail (error, NVR_EXPORT_ERROR_MALFORMED, "no valid tkhd");
  t->id = rd32 (tkhd.data + tkhd.hdr + (v ? 20 : 12));
  if (!child (trak, 0, FOURCC ('m', 'd', 'i', 'a'), &mdia) ||
      !child (&mdia, 0, FOURCC ('m', 'd', 'h', 'd'), &mdhd) || !version_of (&mdhd, 32, &v) ||
      !child (&mdia, 0, FOURCC ('h', 'd', 'l', 'r'), &hdlr) || hdlr.size < hdlr.hdr + 12 ||
      !child (&mdia, 0, FOURCC ('m', 'i', 'n', 'f'), &minf) ||
      !child (&minf, 0, FOURCC ('s', 't', 'b', 'l'), &stbl) ||
      !child (&stbl, 0, FOURCC ('s', 't', 's', 'd'), &t->stsd) ||
      t->stsd.size < t->stsd.hdr + 16)
    return fail (error, NVR_EXPORT_ERROR_MALFORMED, "no mdhd, hdlr or stsd in a track");
  t->ts = rd32 (mdhd.data + mdhd.hdr + (v ? 20 : 12));
  *handler = rd32 (hdlr.data + hdlr.hdr + 8);
  *entry = rd32 (t->stsd.data + t->stsd.hdr + 12);   /* after version/flags, entry_count, size */
  if (child (trak, 0, FOURCC ('e', 'd', 't', 's'), &edts) &&
      child (&edts, 0, FOURCC ('e', 'l', 's', 't'), &elst) && version_of (&elst, 16, &v) &&
      rd32 (elst.data + elst.hdr + 4) >= 1 && elst.size >= elst.hdr + 8 + (v ? 20u : 12u)) {
    const guint8 *e = elst.data + elst.hdr + 8;
    gint64 mt = v ? (gint64) rd64 (e + 8) : (gint32) rd32 (e + 4);
    if (mt > 0)
      t->edit_media_time = (guint64) mt;
  }
  return TRUE;
}

static void
find_trex (const Box *mvex, Track *t)
{
  gsize off = mvex->hdr;
  Box b;
  while (off < mvex->size && box_at (mvex->data, mvex->size, off, &b)) {
    if (b.type == FOURCC ('t', 'r', 'e', 'x') && b.size >= b.hdr + 24 &&
        rd32 (b.data + b.hdr + 4) == t->id) {
      t->has_trex = TRUE;
      t->trex_duration = rd32 (b.data + b.hdr + 12);
      t->trex_flags = rd32 (b.data + b.hdr + 20);
      return;
    }
    off += b.size;
  }
}

/* The layouts an export can rewrite: one video track (avc1/hvc1 or any visual entry), plus at
 * most one audio track whose sample entry is AAC ('mp4a'), as the recorder writes them. */
static gboolean
parse_init (const guint8 *data, gsize len, Init *in, GError **error)
{
  memset (in, 0, sizeof *in);
  if (!box_at (data, len, 0, &in->ftyp) || in->ftyp.type != FOURCC ('f', 't', 'y', 'p') ||
      !box_at (data, len, in->ftyp.size, &in->moov) || in->moov.type != FOURCC ('m', 'o', 'o', 'v') ||
      in->ftyp.size + in->moov.size != len)
    return fail (error, NVR_EXPORT_ERROR_MALFORMED, "the init segment is not ftyp + moov");
  Box mvhd, mvex;
  int v;
  if (!child (&in->moov, 0, FOURCC ('m', 'v', 'e', 'x'), &mvex))
    return fail (error, NVR_EXPORT_ERROR_NOT_FRAGMENTED,
                 "the file is a finalised MP4 (no mvex): only fragmented segments can be "
                 "exported");
  if (!child (&in->moov, 0, FOURCC ('m', 'v', 'h', 'd'), &mvhd) || !version_of (&mvhd, 40, &v))
    return fail (error, NVR_EXPORT_ERROR_MALFORMED, "no valid mvhd");
  in->movie_ts = rd32 (mvhd.data + mvhd.hdr + (v ? 20 : 12));
  gsize off = in->moov.hdr;
  guint traks = 0, videos = 0, audios = 0, others = 0;
  Box b;
  while (off < in->moov.size && box_at (in->moov.data, in->moov.size, off, &b)) {
    off += b.size;
    if (b.type != FOURCC ('t', 'r', 'a', 'k'))
      continue;
    traks++;
    Track t;
    guint32 handler, entry;
    if (!parse_trak (&b, &t, &handler, &entry, error))
      return FALSE;
    if (handler == FOURCC ('v', 'i', 'd', 'e') && videos++ == 0)
      in->video = t;
    else if (handler == FOURCC ('s', 'o', 'u', 'n') && entry == FOURCC ('m', 'p', '4', 'a') &&
             audios++ == 0)
      in->audio = t;
    else
      others++;
  }
  if (off != in->moov.size)
    return fail (error, NVR_EXPORT_ERROR_MALFORMED, "a moov child overruns the moov");
  if (videos != 1 || audios > 1 || others > 0)
    return fail (error, NVR_EXPORT_ERROR_UNSUPPORTED, "%u tracks (%u video, %u AAC audio, %u "
                 "other): only one video track and at most one AAC audio track can be exported",
                 traks, videos, audios, others);
  in->has_audio = audios == 1;
  if (in->has_audio && in->audio.id == in->video.id)
    return fail (error, NVR_EXPORT_ERROR_MALFORMED, "two tracks with one id");
  if (in->movie_ts == 0 || in->video.ts == 0 || in->video.ts > 1000000 ||
      (in->has_audio && (in->audio.ts == 0 || in->audio.ts > 1000000)))
    return fail (error, NVR_EXPORT_ERROR_UNSUPPORTED, "timescale %u/%u/%u", in->movie_ts,
                 in->video.ts, in->audio.ts);
  find_trex (&mvex, &in->video);
  if (in->has_audio)
    find_trex (&mvex, &in->audio);
  return TRUE;
}

/* ---- moof ---- */

#define MAX_TRAFS 2

typedef struct {
  guint32 track_id;
  gsize tfdt_off;          /* offsets into the moof of the fields patched */
  int tfdt_version;
  gsize bdo_off;           /* tfhd base_data_offset, 0 = absent */
  guint64 tfdt;
  guint64 duration;        /* track timescale (with @init: its trex defaults) */
  guint32 samples;
  gboolean key;            /* first sample is a sync sample */
} Traf;

typedef struct {
  gsize mfhd_seq_off;
  guint n_traf;
  Traf traf[MAX_TRAFS];
} Moof;

static gboolean
parse_traf (const guint8 *data, const Box *traf, const Init *init, Traf *tr, GError **error)
{
  Box tfhd, tfdt, b;
  memset (tr, 0, sizeof *tr);
  if (!child (traf, 0, FOURCC ('t', 'f', 'h', 'd'), &tfhd) || tfhd.size < tfhd.hdr + 8 ||
      !child (traf, 0, FOURCC ('t', 'f', 'd', 't'), &tfdt) ||
      !version_of (&tfdt, 16, &tr->tfdt_version) ||
      (tr->tfdt_version == 1 && tfdt.size < tfdt.hdr + 12))
    return fail (error, NVR_EXPORT_ERROR_MALFORMED, "a traf without tfhd or tfdt");
  tr->tfdt_off = (gsize) (tfdt.data - data) + tfdt.hdr + 4;
  tr->tfdt = tr->tfdt_version ? rd64 (tfdt.data + tfdt.hdr + 4) : rd32 (tfdt.data + tfdt.hdr + 4);

  const guint8 *t = tfhd.data + tfhd.hdr;
  guint32 tf = rd32 (t) & 0xffffff;
  gsize p = 8;
  gsize need = 8 + ((tf & 0x1) ? 8 : 0) + ((tf & 0x2) ? 4 : 0) + ((tf & 0x8) ? 4 : 0) +
               ((tf & 0x10) ? 4 : 0) + ((tf & 0x20) ? 4 : 0);
  if (tfhd.size < tfhd.hdr + need)
    return fail (error, NVR_EXPORT_ERROR_MALFORMED, "a short tfhd");
  tr->track_id = rd32 (t + 4);
  const Track *track = NULL;
  if (init != NULL) {
    if (tr->track_id == init->video.id)
      track = &init->video;
    else if (init->has_audio && tr->track_id == init->audio.id)
      track = &init->audio;
    else
      return fail (error, NVR_EXPORT_ERROR_MALFORMED, "a fragment of another track");
  }
  if (tf & 0x1) {
    tr->bdo_off = (gsize) (tfhd.data - data) + tfhd.hdr + p;
    p += 8;
  }
  if (tf & 0x2)
    p += 4;
  guint32 def_dur = track && track->has_trex ? track->trex_duration : 0;
  guint32 def_flags = track && track->has_trex ? track->trex_flags : 0x10000;
  if (tf & 0x8) {
    def_dur = rd32 (t + p);
    p += 4;
  }
  if (tf & 0x10)
    p += 4;
  if (tf & 0x20)
    def_flags = rd32 (t + p);

  gboolean first = TRUE;
  gsize off = traf->hdr;
  while (off < traf->size) {
    if (!box_at (traf->data, traf->size, off, &b))
      return fail (error, NVR_EXPORT_ERROR_MALFORMED, "a traf child overruns the traf");
    off += b.size;
    if (b.type != FOURCC ('t', 'r', 'u', 'n'))
      continue;
    if (b.size < b.hdr + 8)
      return fail (error, NVR_EXPORT_ERROR_MALFORMED, "a short trun");
    const guint8 *r = b.data + b.hdr;
    guint32 fl = rd32 (r) & 0xffffff, count = rd32 (r + 4);
    gsize q = 8 + ((fl & 0x1) ? 4 : 0);
    guint32 first_flags = def_flags;
    gboolean have_first = FALSE;
    if (fl & 0x4) {
      if (b.size < b.hdr + q + 4)
        return fail (error, NVR_EXPORT_ERROR_MALFORMED, "a short trun");
      first_flags = rd32 (r + q);
      have_first = TRUE;
      q += 4;
    }
    gsize per = ((fl & 0x100) ? 4 : 0) + ((fl & 0x200) ? 4 : 0) + ((fl & 0x400) ? 4 : 0) +
                ((fl & 0x800) ? 4 : 0);
    if (b.size < b.hdr + q || (per > 0 && count > (b.size - b.hdr - q) / per))
      return fail (error, NVR_EXPORT_ERROR_MALFORMED, "a trun longer than its box");
    for (guint32 i = 0; i < count; i++) {
      const guint8 *s = r + q + (gsize) i * per;
      gsize k = 0;
      guint32 dur = def_dur, flags = (i == 0 && have_first) ? first_flags : def_flags;
      if (fl & 0x100) {
        dur = rd32 (s + k);
        k += 4;
      }
      if (fl & 0x200)
        k += 4;
      if ((fl & 0x400) && !(i == 0 && have_first))
        flags = rd32 (s + k);
      tr->duration += dur;
      if (first && i == 0)
        tr->key = !(flags & 0x10000);
    }
    tr->samples += count;
    if (count > 0)
      first = FALSE;
  }
  return TRUE;
}

/* Every traf of a moof (at most MAX_TRAFS); with @init, each must belong to one of its tracks. */
static gboolean
parse_moof (const guint8 *data, gsize len, const Init *init, Moof *m, GError **error)
{
  memset (m, 0, sizeof *m);
  Box moof, mfhd, b;
  if (!box_at (data, len, 0, &moof) || moof.type != FOURCC ('m', 'o', 'o', 'f') ||
      moof.size != len || !child (&moof, 0, FOURCC ('m', 'f', 'h', 'd'), &mfhd) ||
      mfhd.size < mfhd.hdr + 8)
    return fail (error, NVR_EXPORT_ERROR_MALFORMED, "a moof without mfhd");
  m->mfhd_seq_off = (gsize) (mfhd.data - data) + mfhd.hdr + 4;
  gsize off = moof.hdr;
  while (off < moof.size) {
    if (!box_at (moof.data, moof.size, off, &b))
      return fail (error, NVR_EXPORT_ERROR_MALFORMED, "a moof child overruns the moof");
    off += b.size;
    if (b.type != FOURCC ('t', 'r', 'a', 'f'))
      continue;
    if (m->n_traf == MAX_TRAFS)
      return fail (error, NVR_EXPORT_ERROR_UNSUPPORTED, "a moof with more than %d trafs",
                   MAX_TRAFS);
    if (!parse_traf (data, &b, init, &m->traf[m->n_traf], error))
      return FALSE;
    for (guint i = 0; i < m->n_traf; i++)
      if (m->traf[i].track_id == m->traf[m->n_traf].track_id)
        return fail (error, NVR_EXPORT_ERROR_MALFORMED, "two trafs of one track in a moof");
    m->n_traf++;
  }
  if (m->n_traf == 0)
    return fail (error, NVR_EXPORT_ERROR_MALFORMED, "a moof without traf");
  return TRUE;
}

/* The traf of track @id in @m, or NULL. */
static const Traf *
traf_of (const Moof *m, guint32 id)
{
  for (guint i = 0; i < m->n_traf; i++)
    if (m->traf[i].track_id == id)
      return &m->traf[i];
  return NULL;
}

/* a * num / den rounded to the nearest (halves away from minus infinity); FALSE on overflow. */
static gboolean
scale_round (gint64 a, guint32 num, guint32 den, gint64 *out)
{
  if (a > ((gint64) 1 << 42) || a < -((gint64) 1 << 42) || den == 0 || num > 1000000)
    return FALSE;
  gint64 x = a * (gint64) num * 2 + (gint64) den;
  gint64 d = 2 * (gint64) den;
  *out = x >= 0 ? x / d : -((-x + d - 1) / d);   /* floor division */
  return TRUE;
}

gboolean
nvr_export_patch_moof (guint8 *moof, gsize len, guint32 sequence, const NvrExportShift *shift,
                       gint64 src_offset, guint64 out_offset, GError **error)
{
  Moof m;
  if (!parse_moof (moof, len, NULL, &m, error))
    return FALSE;
  wr32 (moof + m.mfhd_seq_off, sequence);
  for (guint i = 0; i < m.n_traf; i++) {
    const Traf *tr = &m.traf[i];
    gint64 by;
    if (tr->track_id == shift->video_id)
      by = shift->video;
    else if (shift->audio_id != 0 && tr->track_id == shift->audio_id)
      by = shift->audio;
    else
      return fail (error, NVR_EXPORT_ERROR_MALFORMED, "a fragment of another track (%u)",
                   tr->track_id);
    if ((by < 0 && tr->tfdt < (guint64) -by) ||
        (by > 0 && tr->tfdt > G_MAXUINT64 - (guint64) by))
      return fail (error, NVR_EXPORT_ERROR_UNSUPPORTED, "track %u: a decode time before the "
                   "export's start", tr->track_id);
    guint64 tfdt = tr->tfdt + (guint64) by;
    if (tr->tfdt_version == 1)
      wr64 (moof + tr->tfdt_off, tfdt);
    else if (tfdt > G_MAXUINT32)
      return fail (error, NVR_EXPORT_ERROR_UNSUPPORTED, "decode time beyond a 32-bit tfdt");
    else
      wr32 (moof + tr->tfdt_off, (guint32) tfdt);
    if (tr->bdo_off != 0) {
      guint64 bdo = rd64 (moof + tr->bdo_off);
      if (bdo < (guint64) src_offset)
        return fail (error, NVR_EXPORT_ERROR_MALFORMED, "base_data_offset before its moof");
      wr64 (moof + tr->bdo_off, bdo - (guint64) src_offset + out_offset);
    }
  }
  return TRUE;
}

/* ---- the new init segment ---- */

static gsize
open_box (GByteArray *out, const char *type)
{
  gsize at = out->len;
  guint8 h[8] = { 0 };
  memcpy (h + 4, type, 4);
  g_byte_array_append (out, h, 8);
  return at;
}

static void
close_box (GByteArray *out, gsize at)
{
  wr32 (out->data + at, (guint32) (out->len - at));
}

/* Appends an edts with one edit; returns the offset in @out of its media_time field (64 bits
 * with @v1: the audio edit is moved by the reader, in place). */
static gsize
append_elst (GByteArray *out, guint64 seg_dur_movie, guint64 media_time, gboolean v1)
{
  v1 = v1 || seg_dur_movie > G_MAXUINT32 || media_time > G_MAXINT32;
  gsize edts = open_box (out, "edts");
  gsize elst = open_box (out, "elst");
  guint8 e[28];
  gsize n = 0;
  wr32 (e, v1 ? 0x01000000 : 0);
  wr32 (e + 4, 1);
  n = 8;
  if (v1) {
    wr64 (e + n, seg_dur_movie);
    wr64 (e + n + 8, media_time);
    n += 16;
  } else {
    wr32 (e + n, (guint32) seg_dur_movie);
    wr32 (e + n + 4, (guint32) media_time);
    n += 8;
  }
  wr32 (e + n, 0x00010000);   /* media_rate 1.0 */
  n += 4;
  g_byte_array_append (out, e, (guint) n);
  close_box (out, elst);
  close_box (out, edts);
  return elst + 8 + 8 + (v1 ? 8 : 4);
}

/* Copies @b, setting its duration field (v0 32-bit at @off0, v1 64-bit at @off1). */
static gboolean
copy_with_duration (GByteArray *out, const Box *b, gsize off0, gsize off1, guint64 duration)
{
  int v;
  if (!version_of (b, 0, &v) || b->size < b->hdr + (v == 1 ? off1 + 8 : off0 + 4))
    return FALSE;
  gsize at = out->len;
  g_byte_array_append (out, b->data, (guint) b->size);
  if (v == 1)
    wr64 (out->data + at + b->hdr + off1, duration);
  else
    wr32 (out->data + at + b->hdr + off0, (guint32) MIN (duration, G_MAXUINT32));
  return TRUE;
}

/* The new moov: @in's, with durations set, and per track one edit starting at its media time
 * (@video_mt, and @audio_mt for the audio track) lasting @seg_dur_movie. */
static GBytes *
build_init (const Init *in, guint64 seg_dur_movie, guint64 mehd_movie, guint64 video_mt,
            guint64 audio_mt, gsize *audio_mt_off, GError **error)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_byte_array_append (out, in->ftyp.data, (guint) in->ftyp.size);
  gsize moov = open_box (out, "moov");
  gsize off = in->moov.hdr;
  Box b, c;
  while (off < in->moov.size && box_at (in->moov.data, in->moov.size, off, &b)) {
    off += b.size;
    if (b.type == FOURCC ('m', 'v', 'h', 'd')) {
      if (!copy_with_duration (out, &b, 16, 24, seg_dur_movie))
        goto bad;
    } else if (b.type == FOURCC ('t', 'r', 'a', 'k')) {
      gsize trak = open_box (out, "trak");
      gsize o = b.hdr;
      while (o < b.size && box_at (b.data, b.size, o, &c)) {
        o += c.size;
        if (c.type == FOURCC ('t', 'k', 'h', 'd')) {
          int v;
          if (!version_of (&c, 48, &v))
            goto bad;
          guint32 id = rd32 (c.data + c.hdr + (v ? 20 : 12));
          if (!copy_with_duration (out, &c, 20, 28, seg_dur_movie))
            goto bad;
          if (id == in->video.id)
            append_elst (out, seg_dur_movie, video_mt, FALSE);
          else
            *audio_mt_off = append_elst (out, seg_dur_movie, audio_mt, TRUE);
        } else if (c.type != FOURCC ('e', 'd', 't', 's')) {
          g_byte_array_append (out, c.data, (guint) c.size);
        }
      }
      close_box (out, trak);
    } else if (b.type == FOURCC ('m', 'v', 'e', 'x')) {
      gsize mvex = open_box (out, "mvex");
      gsize o = b.hdr;
      while (o < b.size && box_at (b.data, b.size, o, &c)) {
        o += c.size;
        if (c.type == FOURCC ('m', 'e', 'h', 'd')) {
          if (!copy_with_duration (out, &c, 4, 4, mehd_movie))
            goto bad;
        } else {
          g_byte_array_append (out, c.data, (guint) c.size);
        }
      }
      close_box (out, mvex);
    } else {
      g_byte_array_append (out, b.data, (guint) b.size);
    }
  }
  close_box (out, moov);
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
bad:
  fail (error, NVR_EXPORT_ERROR_MALFORMED, "a short mvhd, tkhd or mehd");
  return NULL;
}

/* ---- the planner ---- */

struct _NvrExportPlan {
  gint ref;
  GArray *files;            /* NvrExportFile */
  GBytes *init;
  GArray *pieces;           /* NvrExportPiece */
  guint64 length;
  guint64 media_time;       /* edit start, track timescale (includes the source's own edit) */
  guint32 timescale;
  gboolean has_audio;
  guint64 audio_media_time; /* the audio edit's start, audio timescale, before the reader's
                             * audio offset (see start_piece) */
  gsize audio_mt_off;       /* where in init its 64-bit field is */
  guint32 audio_timescale;
  guint32 video_id, audio_id;
  gint64 duration_us;
  gint64 media_start_us;
};

void
nvr_export_file_clear (NvrExportFile *f)
{
  g_clear_pointer (&f->path, g_free);
  g_clear_pointer (&f->init, g_bytes_unref);
  g_clear_pointer (&f->fragments, g_array_unref);
}

static gint64
ticks (gint64 us, guint32 ts)
{
  return (us * (gint64) ts + G_USEC_PER_SEC / 2) / G_USEC_PER_SEC;
}

static char *
iso (gint64 us)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (us / G_USEC_PER_SEC);
  return t ? g_date_time_format (t, "%Y-%m-%dT%H:%M:%SZ") : g_strdup ("?");
}

/* Length of an MPEG-4 descriptor (1-4 bytes, 7 bits each) at @p of @len; 0 if malformed. */
static gsize
descr_len (const guint8 *p, gsize len, guint32 *out)
{
  guint32 v = 0;
  for (gsize i = 0; i < 4 && i < len; i++) {
    v = (v << 7) | (p[i] & 0x7f);
    if (!(p[i] & 0x80)) {
      *out = v;
      return i + 1;
    }
  }
  return 0;
}

/* Zeroes the bitrate statistics of an esds (DecoderConfigDescriptor bufferSizeDB, maxBitrate,
 * avgBitrate): mp4mux writes each file's own there, as it does in a video entry's btrt. */
static void
blank_esds_bitrates (guint8 *p, gsize len)
{
  if (len < 4)
    return;
  gsize o = 4;   /* version/flags */
  guint32 l;
  gsize n;
  if (o >= len || p[o] != 0x03 || (n = descr_len (p + o + 1, len - o - 1, &l)) == 0)
    return;
  o += 1 + n;
  if (len - o < 3)
    return;
  guint8 fl = p[o + 2];
  o += 3;
  if (fl & 0x80)
    o += 2;
  if ((fl & 0x40) && o < len)
    o += 1 + p[o];
  if (fl & 0x20)
    o += 2;
  if (o >= len || p[o] != 0x04 || (n = descr_len (p + o + 1, len - o - 1, &l)) == 0)
    return;
  o += 1 + n;
  if (len - o < 13)
    return;
  memset (p + o + 2, 0, 11);
}

/* Whether two sample descriptions are the same: the stsd bytes (codec, resolution, avcC with
 * SPS/PPS, colour, aspect; AAC config, channels, rate) must be equal, except the payload of
 * 'btrt' boxes in sample entries and the bitrate fields of an 'esds', which mp4mux fills with
 * each file's own bitrate statistics. @skip: bytes from a sample entry's header to its child
 * boxes (78 for a visual entry, 28 for an audio one). */
static gboolean
same_stsd (const Box *sa, const Box *sb, gsize skip)
{
  if (sa->size != sb->size)
    return FALSE;
  g_autofree guint8 *x = g_memdup2 (sa->data, sa->size);
  g_autofree guint8 *y = g_memdup2 (sb->data, sb->size);
  guint8 *both[2] = { x, y };
  for (guint k = 0; k < 2; k++) {
    /* stsd: header, version/flags, entry_count, then sample entries. */
    gsize off = sa->hdr + 8;
    Box e, c;
    while (off < sa->size && box_at (both[k], sa->size, off, &e)) {
      gsize co = e.hdr + skip;
      while (co < e.size && box_at (e.data, e.size, co, &c)) {
        if (c.type == FOURCC ('b', 't', 'r', 't'))
          memset ((guint8 *) c.data + c.hdr, 0, c.size - c.hdr);
        else if (c.type == FOURCC ('e', 's', 'd', 's'))
          blank_esds_bitrates ((guint8 *) c.data + c.hdr, c.size - c.hdr);
        co += c.size;
      }
      off += e.size;
    }
  }
  return memcmp (x, y, sa->size) == 0;
}

/* Whether a later file's init describes its tracks as @first does (same layout, timescales and
 * sample descriptions). */
static gboolean
same_sample_entries (const Init *a, const Init *b)
{
  if (a->video.ts != b->video.ts || !same_stsd (&a->video.stsd, &b->video.stsd, 78))
    return FALSE;
  if (a->has_audio != b->has_audio)
    return FALSE;
  return !a->has_audio || (a->audio.ts == b->audio.ts &&
                           same_stsd (&a->audio.stsd, &b->audio.stsd, 28));
}

/* First and last fragment of @f to use for [from, to): FALSE if none. @first_file: the
 * export's first file (extends back to the keyframe before @from). */
static gboolean
pick_range (const NvrExportFile *f, gint64 from_us, gint64 to_us, guint *first, guint *last)
{
  const NvrExportFragment *fr = (const NvrExportFragment *) (void *) f->fragments->data;
  guint n = f->fragments->len, a = G_MAXUINT, z = 0;
  for (guint i = 0; i < n; i++) {
    gint64 s = f->wall_start_us + fr[i].start_us, e = s + fr[i].duration_us;
    if (e > from_us && s < to_us) {
      if (a == G_MAXUINT)
        a = i;
      z = i;
    }
  }
  if (a == G_MAXUINT)
    return FALSE;
  guint k = a;
  while (k > 0 && !fr[k].keyframe)
    k--;
  if (!fr[k].keyframe) {
    for (k = a; k <= z && !fr[k].keyframe; k++)
      ;
    if (k > z)
      return FALSE;   /* no keyframe to start from in this file's part of the range */
  }
  *first = k;
  *last = z;
  return TRUE;
}

static void
plan_unref_files (GArray *files)
{
  if (files == NULL)
    return;
  for (guint i = 0; i < files->len; i++)
    nvr_export_file_clear (&g_array_index (files, NvrExportFile, i));
  g_array_unref (files);
}

NvrExportPlan *
nvr_export_plan_new (GArray *files, gint64 from_us, gint64 to_us, GError **error)
{
  g_autoptr (NvrExportPlan) p = g_new0 (NvrExportPlan, 1);
  p->ref = 1;
  p->files = files;
  p->pieces = g_array_new (FALSE, FALSE, sizeof (NvrExportPiece));
  if (from_us >= to_us) {
    fail (error, NVR_EXPORT_ERROR_EMPTY, "the range is empty");
    return NULL;
  }
  Init first_init = { 0 };
  gboolean have_init = FALSE;
  gint64 base = 0;            /* output decode time of the current file's first pick, ticks */
  guint32 stride = 1;         /* sequence numbers per piece: one per moof it may hold */
  gint64 end_ticks = -1;      /* where `to` falls in the output, once known */
  gint64 delay_us = 0;        /* audio delay of the current file (see NvrExportFile) */
  gint64 next_delay_us = 0;   /* ... of the next one: the previous delay plus this overhang */
  for (guint fi = 0; fi < files->len; fi++) {
    const NvrExportFile *f = &g_array_index (files, NvrExportFile, fi);
    guint a, z;
    if (f->fragments == NULL || f->init == NULL || !pick_range (f, from_us, to_us, &a, &z))
      continue;
    const NvrExportFragment *fr = (const NvrExportFragment *) (void *) f->fragments->data;
    gsize ilen;
    const guint8 *idata = g_bytes_get_data (f->init, &ilen);
    Init in;
    g_autoptr (GError) ierr = NULL;
    if (!parse_init (idata, ilen, &in, &ierr)) {
      g_set_error (error, NVR_EXPORT_ERROR, ierr->code, "'%s': %s", f->path, ierr->message);
      return NULL;
    }
    if (!have_init) {
      first_init = in;
      have_init = TRUE;
      p->media_start_us = f->wall_start_us + fr[a].start_us;
      if (in.has_audio)
        stride = NVR_EXPORT_MAX_MOOFS_PER_FRAGMENT;
    } else if (in.has_audio != first_init.has_audio) {
      /* Refused rather than exported as video only: dropping the audio of the files that have
       * it would mean rebuilding their moofs and mdats, and silently losing part of the audio
       * would pass for a complete export. */
      g_autofree char *at = iso (f->wall_start_us + fr[a].start_us);
      fail (error, NVR_EXPORT_ERROR_FORMAT_CHANGED,
            "the recording's audio %s at %s: export up to that time, then from it",
            in.has_audio ? "starts" : "stops", at);
      return NULL;
    } else if (!same_sample_entries (&in, &first_init)) {
      g_autofree char *at = iso (f->wall_start_us + fr[a].start_us);
      fail (error, NVR_EXPORT_ERROR_FORMAT_CHANGED,
            "the camera's stream format (codec, resolution or parameters) changes at %s: "
            "export up to that time, then from it", at);
      return NULL;
    }
    guint32 ts = first_init.video.ts;
    gint64 t0 = ticks (fr[a].start_us, ts);
    /* The file's last audio (after its last fragment) goes with that fragment: without it the
     * audio has a hole at every file boundary (docs/design/playback.md "Audio in exports"). */
    guint n_frags = f->fragments->len;
    gint64 tail = in.has_audio && f->tail_size > 0 ? f->tail_size : 0;
    /* Its audio continues the previous file's: the same stream, cut on an AAC frame boundary
     * near the video's cut, each file's audio then starting at 0 with its video (mp4mux), so
     * a file's audio ends up to a frame after or before its video and the next file's audio,
     * placed at its video's start, would overlap it or leave a hole. Moved by that difference
     * (summed over the files, so every file keeps the first one's A/V relation) when it is
     * within one AAC frame; more is not frame jitter (audio that started late in a file, audio
     * lost): then the file keeps its own A/V relation. */
    delay_us = 0;
    if (p->pieces->len > 0 && in.has_audio) {
      gint64 frame_us = (gint64) NVR_EXPORT_AAC_FRAME * G_USEC_PER_SEC / in.audio.ts;
      if (ABS (next_delay_us) <= frame_us)
        delay_us = next_delay_us;
    }
    gint64 audio_delay = 0;
    if (in.has_audio && !scale_round (delay_us, in.audio.ts, G_USEC_PER_SEC, &audio_delay)) {
      fail (error, NVR_EXPORT_ERROR_UNSUPPORTED, "an audio delay out of range");
      return NULL;
    }
    next_delay_us = delay_us;
    if (in.has_audio && f->audio_end_us >= 0)
      next_delay_us += f->audio_end_us - (fr[n_frags - 1].start_us + fr[n_frags - 1].duration_us);
    for (guint i = a; i <= z; i++) {
      if (p->pieces->len >= NVR_EXPORT_MAX_FRAGMENTS || fr[i].size <= 0 || fr[i].offset < 0) {
        fail (error, NVR_EXPORT_ERROR_UNSUPPORTED, "too many or empty fragments");
        return NULL;
      }
      NvrExportPiece pc = { .file = fi, .src_offset = fr[i].offset,
                            .size = fr[i].size + (i + 1 == n_frags ? tail : 0),
                            .sequence = p->pieces->len * stride + 1,
                            .tfdt = (guint64) (base + ticks (fr[i].start_us, ts) - t0),
                            .wall_start_us = f->wall_start_us + fr[i].start_us,
                            .audio_delay = audio_delay };
      g_array_append_val (p->pieces, pc);
      gint64 s = pc.wall_start_us, e = s + fr[i].duration_us;
      if (end_ticks < 0 && to_us >= s && to_us < e)
        end_ticks = (gint64) pc.tfdt + ticks (to_us - s, ts);
    }
    base += ticks (fr[z].start_us + fr[z].duration_us, ts) - t0;
    /* With audio, `to` inside fragment z: the audio up to `to` may lie in the next fragment's
     * audio-only moof (mp4mux's audio fragments run ahead of the video ones), so that one is
     * sent too when the file has it (after the edit's end: not played). */
    if (first_init.has_audio && end_ticks >= 0 && z + 1 < f->fragments->len &&
        p->pieces->len < NVR_EXPORT_MAX_FRAGMENTS && fr[z + 1].size > 0 &&
        fr[z + 1].offset >= 0) {
      NvrExportPiece pc = { .file = fi, .src_offset = fr[z + 1].offset,
                            .size = fr[z + 1].size + (z + 2 == n_frags ? tail : 0),
                            .sequence = p->pieces->len * stride + 1,
                            .tfdt = (guint64) (base + ticks (fr[z + 1].start_us, ts) -
                                               ticks (fr[z].start_us + fr[z].duration_us, ts)),
                            .wall_start_us = f->wall_start_us + fr[z + 1].start_us,
                            .audio_delay = audio_delay };
      g_array_append_val (p->pieces, pc);
      break;   /* `to` is inside z: no later file is used */
    }
  }
  if (!have_init || p->pieces->len == 0) {
    fail (error, NVR_EXPORT_ERROR_EMPTY, "nothing playable was recorded in the range");
    return NULL;
  }
  guint32 ts = first_init.video.ts;
  if (end_ticks < 0)
    end_ticks = base;
  gint64 start_ticks = from_us > p->media_start_us ? ticks (from_us - p->media_start_us, ts) : 0;
  if (end_ticks <= start_ticks) {
    fail (error, NVR_EXPORT_ERROR_EMPTY, "nothing playable was recorded in the range");
    return NULL;
  }
  p->timescale = ts;
  p->media_time = (guint64) start_ticks + first_init.video.edit_media_time;
  p->video_id = first_init.video.id;
  p->has_audio = first_init.has_audio;
  guint64 audio_mt = 0;
  if (p->has_audio) {
    /* The audio edit starts at the same wall time: the reader moves audio decode times by the
     * video's shift (in seconds), so the audio media time at `from` is the video's, converted,
     * apart from each track's own source edit. */
    gint64 a;
    if (!scale_round (start_ticks, first_init.audio.ts, ts, &a) || a < 0) {
      fail (error, NVR_EXPORT_ERROR_UNSUPPORTED, "an audio edit out of range");
      return NULL;
    }
    audio_mt = (guint64) a + first_init.audio.edit_media_time;
    p->audio_media_time = audio_mt;
    p->audio_timescale = first_init.audio.ts;
    p->audio_id = first_init.audio.id;
  }
  gint64 dur_ticks = end_ticks - start_ticks;
  p->duration_us = dur_ticks * G_USEC_PER_SEC / ts;
  guint64 seg_dur_movie = (guint64) ((dur_ticks * (gint64) first_init.movie_ts + ts / 2) / ts);
  /* mehd too says how long the presentation is: what the edit plays, not the media behind it
   * (GStreamer and browsers report this as the file's duration). */
  p->init = build_init (&first_init, seg_dur_movie, seg_dur_movie, p->media_time, audio_mt,
                        &p->audio_mt_off, error);
  if (p->init == NULL)
    return NULL;
  p->length = g_bytes_get_size (p->init);
  for (guint i = 0; i < p->pieces->len; i++)
    p->length += (guint64) g_array_index (p->pieces, NvrExportPiece, i).size;
  return g_steal_pointer (&p);
}

NvrExportPlan *
nvr_export_plan_ref (NvrExportPlan *plan)
{
  g_atomic_int_inc (&plan->ref);
  return plan;
}

void
nvr_export_plan_free (NvrExportPlan *p)
{
  if (p == NULL || !g_atomic_int_dec_and_test (&p->ref))
    return;
  plan_unref_files (p->files);
  g_clear_pointer (&p->init, g_bytes_unref);
  g_clear_pointer (&p->pieces, g_array_unref);
  g_free (p);
}

guint64
nvr_export_plan_length (const NvrExportPlan *p)
{
  return p->length;
}

GBytes *
nvr_export_plan_init (const NvrExportPlan *p)
{
  return g_bytes_ref (p->init);
}

const NvrExportPiece *
nvr_export_plan_pieces (const NvrExportPlan *p, guint *n)
{
  *n = p->pieces->len;
  return (const NvrExportPiece *) (void *) p->pieces->data;
}

void
nvr_export_plan_edit (const NvrExportPlan *p, guint64 *media_time, guint32 *timescale,
                      gint64 *duration_us)
{
  *media_time = p->media_time;
  *timescale = p->timescale;
  *duration_us = p->duration_us;
}

gboolean
nvr_export_plan_audio_edit (const NvrExportPlan *p, guint64 *media_time, guint32 *timescale)
{
  *media_time = p->audio_media_time;
  *timescale = p->audio_timescale;
  return p->has_audio;
}

gint64
nvr_export_plan_media_start_us (const NvrExportPlan *p)
{
  return p->media_start_us;
}

/* ---- the reader ---- */

typedef struct {
  guint64 at;               /* offset of the moof in its piece */
  gsize len;
  gsize buf;                /* offset of its patched bytes in the reader's moof buffer */
} Sub;

struct _NvrExportReader {
  NvrExportPlan *plan;
  guint piece;              /* 0 = init, i + 1 = pieces[i] */
  guint64 piece_pos;
  guint64 pos;
  int fd;
  guint fd_file;
  guint8 *moof;             /* the patched moofs of the current piece, back to back */
  gsize moof_len;
  Sub sub[NVR_EXPORT_MAX_MOOFS_PER_FRAGMENT];   /* where each lies in the piece */
  guint n_sub;
  gboolean audio_d_known;
  gint64 audio_d;           /* audio offset, audio ticks (see audio_offset) */
  guint8 audio_mt[8];       /* the audio edit's media_time as sent */
};

NvrExportReader *
nvr_export_reader_new (NvrExportPlan *plan)
{
  NvrExportReader *r = g_new0 (NvrExportReader, 1);
  r->plan = nvr_export_plan_ref (plan);
  r->fd = -1;
  return r;
}

void
nvr_export_reader_free (NvrExportReader *r)
{
  if (r == NULL)
    return;
  if (r->fd >= 0)
    close (r->fd);
  g_free (r->moof);
  nvr_export_plan_free (r->plan);
  g_free (r);
}

guint64
nvr_export_reader_position (const NvrExportReader *r)
{
  return r->pos;
}

static gboolean
gone (GError **error, const char *path, const char *what)
{
  return fail (error, NVR_EXPORT_ERROR_SOURCE_GONE,
               "'%s' %s during the export (deleted by retention?): the export is incomplete",
               path, what);
}

static gboolean
pread_all (int fd, guint8 *buf, gsize len, gint64 off)
{
  while (len > 0) {
    ssize_t n = pread (fd, buf, len, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return FALSE;
    buf += n;
    len -= (gsize) n;
    off += n;
  }
  return TRUE;
}

/* Opens the piece's file if needed and reads every moof of the piece into r->moof (it is
 * moof+mdat pairs back to back: with audio, audio-only pairs may precede the video one);
 * *@shift: what moves its first video traf to the plan's tfdt, and its audio trafs by the same
 * time in the audio timescale (so A/V keep the relation they had in the source), not counting
 * the reader's audio offset; *@min_audio: the smallest audio decode time after that shift
 * (G_MAXINT64 without audio). */
static gboolean
load_piece (NvrExportReader *r, const NvrExportPiece *pc, NvrExportShift *shift,
            gint64 *min_audio, GError **error)
{
  const NvrExportPlan *plan = r->plan;
  const NvrExportFile *f = &g_array_index (plan->files, NvrExportFile, pc->file);
  if (r->fd < 0 || r->fd_file != pc->file) {
    if (r->fd >= 0)
      close (r->fd);
    r->fd = open (f->path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
      int e = errno;
      if (e == ENOENT)
        return gone (error, f->path, "was deleted");
      return fail (error, NVR_EXPORT_ERROR_IO, "Failed to open '%s': %s", f->path,
                   g_strerror (e));
    }
    r->fd_file = pc->file;
  }
  struct stat st;
  if (fstat (r->fd, &st) != 0 || st.st_size < pc->src_offset + pc->size)
    return gone (error, f->path, "shrank");
  guint max_moofs = plan->has_audio ? NVR_EXPORT_MAX_MOOFS_PER_FRAGMENT : 1;
  r->n_sub = 0;
  r->moof_len = 0;
  gint64 off = 0;
  while (off < pc->size) {
    guint8 h[16];
    if (pc->size - off < 16 || !pread_all (r->fd, h, 8, pc->src_offset + off))
      return fail (error, NVR_EXPORT_ERROR_MALFORMED, "'%s': no moof at offset %"
                   G_GINT64_FORMAT, f->path, pc->src_offset + off);
    guint32 size = rd32 (h);
    if (rd32 (h + 4) != FOURCC ('m', 'o', 'o', 'f') || size < 8 ||
        size > NVR_EXPORT_MAX_MOOF - r->moof_len || (gint64) size > pc->size - off)
      return fail (error, NVR_EXPORT_ERROR_MALFORMED, "'%s': no moof at offset %"
                   G_GINT64_FORMAT, f->path, pc->src_offset + off);
    if (r->n_sub == max_moofs)
      return fail (error, NVR_EXPORT_ERROR_MALFORMED, "'%s': more than %u moofs in the fragment "
                   "at offset %" G_GINT64_FORMAT, f->path, max_moofs, pc->src_offset);
    r->moof = g_realloc (r->moof, r->moof_len + size);
    if (!pread_all (r->fd, r->moof + r->moof_len, size, pc->src_offset + off))
      return gone (error, f->path, "shrank");
    r->sub[r->n_sub].at = (guint64) off;
    r->sub[r->n_sub].len = size;
    r->sub[r->n_sub].buf = r->moof_len;
    r->n_sub++;
    r->moof_len += size;
    off += size;
    /* its mdat */
    guint64 msize = 0;
    if (pc->size - off >= 8 && pread_all (r->fd, h, 8, pc->src_offset + off) &&
        rd32 (h + 4) == FOURCC ('m', 'd', 'a', 't')) {
      msize = rd32 (h);
      if (msize == 1)
        msize = pc->size - off >= 16 && pread_all (r->fd, h + 8, 8, pc->src_offset + off + 8)
                    ? rd64 (h + 8) : 0;
    }
    if (msize < 8 || msize > (guint64) (pc->size - off))
      return fail (error, NVR_EXPORT_ERROR_MALFORMED, "'%s': the moof at offset %" G_GINT64_FORMAT
                   " has no mdat inside the fragment", f->path, pc->src_offset + off - size);
    off += (gint64) msize;
  }
  /* The shift: from the first video traf of the piece to the plan's decode time. */
  gboolean have_video = FALSE;
  guint64 src_v = 0, src_a = G_MAXUINT64;
  for (guint k = 0; k < r->n_sub; k++) {
    Moof m;
    g_autoptr (GError) perr = NULL;
    if (!parse_moof (r->moof + r->sub[k].buf, r->sub[k].len, NULL, &m, &perr))
      return fail (error, perr->code, "'%s': %s", f->path, perr->message);
    const Traf *tr = traf_of (&m, plan->video_id);
    if (tr != NULL && !have_video) {
      src_v = tr->tfdt;
      have_video = TRUE;
    }
    tr = plan->has_audio ? traf_of (&m, plan->audio_id) : NULL;
    if (tr != NULL)
      src_a = MIN (src_a, tr->tfdt);
  }
  if (!have_video)
    return fail (error, NVR_EXPORT_ERROR_MALFORMED, "'%s': no video in the fragment at offset %"
                 G_GINT64_FORMAT, f->path, pc->src_offset);
  *shift = (NvrExportShift) { .video_id = plan->video_id, .audio_id = plan->audio_id };
  if (src_v > G_MAXINT64 || pc->tfdt > G_MAXINT64)
    return fail (error, NVR_EXPORT_ERROR_UNSUPPORTED, "'%s': decode time out of range", f->path);
  shift->video = (gint64) pc->tfdt - (gint64) src_v;
  *min_audio = G_MAXINT64;
  if (plan->has_audio) {
    if (!scale_round (shift->video, plan->audio_timescale, plan->timescale, &shift->audio))
      return fail (error, NVR_EXPORT_ERROR_UNSUPPORTED, "'%s': decode time out of range", f->path);
    shift->audio += pc->audio_delay;
    if (src_a != G_MAXUINT64) {
      if (src_a > ((guint64) 1 << 42))
        return fail (error, NVR_EXPORT_ERROR_UNSUPPORTED, "'%s': decode time out of range",
                     f->path);
      *min_audio = (gint64) src_a + shift->audio;
    }
  }
  return TRUE;
}

/* The audio offset: audio of the first fragment may begin before its first video sample (mp4mux
 * cuts audio fragments on its own frame boundaries); the output's audio decode times are moved
 * on by that much so that none is negative and the first is 0 (qtdemux seeks into a file whose
 * first fragment has a non-zero decode time), and the audio edit by the same amount. A function
 * of the first fragment's bytes, like the rest of the output (the ETag stays valid). */
static gboolean
audio_offset (NvrExportReader *r, GError **error)
{
  if (r->audio_d_known)
    return TRUE;
  r->audio_d = 0;
  if (r->plan->has_audio && r->plan->pieces->len > 0) {
    NvrExportShift shift;
    gint64 min_audio;
    const NvrExportPiece *pc = &g_array_index (r->plan->pieces, NvrExportPiece, 0);
    if (!load_piece (r, pc, &shift, &min_audio, error))
      return FALSE;
    r->n_sub = 0;   /* loaded again, and patched, when it is read */
    if (min_audio < 0)
      r->audio_d = -min_audio;
  }
  wr64 (r->audio_mt, r->plan->audio_media_time + (guint64) r->audio_d);
  r->audio_d_known = TRUE;
  return TRUE;
}

/* Reads, checks and patches every moof of the piece (sequence numbers, decode times, base data
 * offsets for where the piece lands in the output). */
static gboolean
start_piece (NvrExportReader *r, const NvrExportPiece *pc, GError **error)
{
  NvrExportShift shift;
  gint64 min_audio;
  const NvrExportFile *f = &g_array_index (r->plan->files, NvrExportFile, pc->file);
  if (!audio_offset (r, error) || !load_piece (r, pc, &shift, &min_audio, error))
    return FALSE;
  shift.audio += r->audio_d;
  guint64 piece_out = r->pos;
  for (guint k = 0; k < r->n_sub; k++) {
    g_autoptr (GError) perr = NULL;
    if (!nvr_export_patch_moof (r->moof + r->sub[k].buf, r->sub[k].len, pc->sequence + k,
                                &shift, pc->src_offset + (gint64) r->sub[k].at,
                                piece_out + r->sub[k].at, &perr))
      return fail (error, perr->code, "'%s': %s", f->path, perr->message);
  }
  return TRUE;
}

gssize
nvr_export_reader_read (NvrExportReader *r, guint8 *buf, gsize max, GError **error)
{
  gsize done = 0;
  guint n_pieces = r->plan->pieces->len;
  while (done < max && r->piece <= n_pieces) {
    if (r->piece == 0) {
      gsize ilen;
      const guint8 *idata = g_bytes_get_data (r->plan->init, &ilen);
      gsize n = MIN (max - done, ilen - r->piece_pos);
      memcpy (buf + done, idata + r->piece_pos, n);
      if (r->plan->has_audio) {
        if (!audio_offset (r, error))
          return -1;
        gsize at = r->plan->audio_mt_off;
        for (gsize k = 0; k < 8; k++)
          if (at + k >= r->piece_pos && at + k < r->piece_pos + n)
            buf[done + at + k - r->piece_pos] = r->audio_mt[k];
      }
      done += n;
      r->piece_pos += n;
      r->pos += n;
      if (r->piece_pos == ilen) {
        r->piece++;
        r->piece_pos = 0;
      }
      continue;
    }
    const NvrExportPiece *pc = &g_array_index (r->plan->pieces, NvrExportPiece, r->piece - 1);
    if (r->piece_pos == 0 && !start_piece (r, pc, error))
      return -1;
    /* In a patched moof, or in the file bytes up to the next one (or the piece's end). */
    guint64 upto = (guint64) pc->size;
    const Sub *in = NULL;
    for (guint k = 0; k < r->n_sub; k++) {
      const Sub *sb = &r->sub[k];
      if (r->piece_pos >= sb->at && r->piece_pos < sb->at + sb->len) {
        in = sb;
        break;
      }
      if (sb->at > r->piece_pos) {
        upto = sb->at;
        break;
      }
    }
    gsize n;
    if (in != NULL) {
      gsize within = (gsize) (r->piece_pos - in->at);
      n = MIN (max - done, in->len - within);
      memcpy (buf + done, r->moof + in->buf + within, n);
    } else {
      n = (gsize) MIN ((guint64) (max - done), upto - r->piece_pos);
      if (!pread_all (r->fd, buf + done, n, pc->src_offset + (gint64) r->piece_pos)) {
        const NvrExportFile *f = &g_array_index (r->plan->files, NvrExportFile, pc->file);
        gone (error, f->path, "shrank");
        return -1;
      }
    }
    done += n;
    r->piece_pos += n;
    r->pos += n;
    if (r->piece_pos == (guint64) pc->size) {
      r->piece++;
      r->piece_pos = 0;
    }
  }
  return (gssize) done;
}

gboolean
nvr_export_reader_seek (NvrExportReader *r, guint64 offset, GError **error)
{
  guint64 at = g_bytes_get_size (r->plan->init);
  if (offset > r->plan->length)
    return fail (error, NVR_EXPORT_ERROR_IO, "offset beyond the end of the export");
  if (offset < at) {
    r->piece = 0;
    r->piece_pos = offset;
    r->pos = offset;
    return TRUE;
  }
  for (guint i = 0; i < r->plan->pieces->len; i++) {
    const NvrExportPiece *pc = &g_array_index (r->plan->pieces, NvrExportPiece, i);
    if (offset < at + (guint64) pc->size) {
      r->piece = i + 1;
      r->pos = at;          /* the moof is patched for where its piece starts */
      if (!start_piece (r, pc, error))
        return FALSE;
      r->piece_pos = offset - at;
      r->pos = offset;
      return TRUE;
    }
    at += (guint64) pc->size;
  }
  r->piece = r->plan->pieces->len + 1;   /* the very end */
  r->piece_pos = 0;
  r->pos = offset;
  return TRUE;
}

char *
nvr_export_plan_etag (const NvrExportPlan *p)
{
  if (sodium_init () < 0)
    g_error ("Failed to initialise libsodium");
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init (&st);
  gsize ilen;
  const guint8 *idata = g_bytes_get_data (p->init, &ilen);
  crypto_hash_sha256_update (&st, idata, ilen);
  for (guint i = 0; i < p->pieces->len; i++) {
    const NvrExportPiece *pc = &g_array_index (p->pieces, NvrExportPiece, i);
    const char *path = g_array_index (p->files, NvrExportFile, pc->file).path;
    crypto_hash_sha256_update (&st, (const guint8 *) path, strlen (path) + 1);
    guint8 fields[8 * 5];
    wr64 (fields, (guint64) pc->src_offset);
    wr64 (fields + 8, (guint64) pc->size);
    wr64 (fields + 16, pc->sequence);
    wr64 (fields + 24, pc->tfdt);
    wr64 (fields + 32, (guint64) pc->audio_delay);
    crypto_hash_sha256_update (&st, fields, sizeof fields);
  }
  guint8 h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final (&st, h);
  GString *out = g_string_new (NULL);
  for (guint i = 0; i < 16; i++)
    g_string_append_printf (out, "%02x", h[i]);
  return g_string_free (out, FALSE);
}

gboolean
nvr_export_plan_sha256 (NvrExportPlan *plan, guint8 out[32], GError **error)
{
  if (sodium_init () < 0)
    g_error ("Failed to initialise libsodium");
  g_autoptr (NvrExportReader) r = nvr_export_reader_new (plan);
  g_autofree guint8 *buf = g_malloc (CHUNK);
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init (&st);
  for (;;) {
    gssize n = nvr_export_reader_read (r, buf, CHUNK, error);
    if (n < 0)
      return FALSE;
    if (n == 0)
      break;
    crypto_hash_sha256_update (&st, buf, (guint64) n);
  }
  crypto_hash_sha256_final (&st, out);
  return TRUE;
}

/* The end of a file with audio, from its last fragment [@last, @last_end) on: *@tail = bytes of
 * the whole audio-only moof+mdat pairs right after it (at most NVR_EXPORT_MAX_TAIL_MOOFS), before
 * anything else (a moof with video, an mfra, a pair cut short, the end of the file): mp4mux
 * writes the file's last audio there. *@audio_end_us = where the audio of the last fragment and
 * the tail ends, from the audio track's 0 (mp4mux starts both tracks of a file at 0), or -1 if
 * unknown. Reads box headers and each moof (at most NVR_EXPORT_MAX_MOOF), never an mdat. */
static void
scan_end (int fd, const Init *in, gint64 last, gint64 last_end, gint64 end, gint64 *tail,
          gint64 *audio_end_us)
{
  *tail = 0;
  *audio_end_us = -1;
  if (!in->has_audio)
    return;
  guint64 audio_end = 0;
  gboolean have_audio = FALSE;
  g_autofree guint8 *moof = NULL;
  gint64 off = last;
  guint n_tail = 0;
  for (guint n = 0; n < NVR_EXPORT_MAX_MOOFS_PER_FRAGMENT + NVR_EXPORT_MAX_TAIL_MOOFS &&
                    n_tail < NVR_EXPORT_MAX_TAIL_MOOFS && end - off >= 16; n++) {
    guint8 h[16];
    if (!pread_all (fd, h, 8, off) || rd32 (h + 4) != FOURCC ('m', 'o', 'o', 'f'))
      break;
    guint32 size = rd32 (h);
    if (size < 8 || size > NVR_EXPORT_MAX_MOOF || (gint64) size > end - off - 8)
      break;
    moof = g_realloc (moof, size);
    Moof m;
    if (!pread_all (fd, moof, size, off) || !parse_moof (moof, size, in, &m, NULL))
      break;
    const Traf *v = traf_of (&m, in->video.id), *au = traf_of (&m, in->audio.id);
    if (off >= last_end && ((v != NULL && v->samples > 0) || au == NULL))
      break;   /* past the last fragment: only audio-only pairs are its tail */
    gint64 moff = off + size;
    if (!pread_all (fd, h, 8, moff) || rd32 (h + 4) != FOURCC ('m', 'd', 'a', 't'))
      break;
    guint64 msize = rd32 (h);
    if (msize == 1)
      msize = end - moff >= 16 && pread_all (fd, h + 8, 8, moff + 8) ? rd64 (h + 8) : 0;
    if (msize < 8 || msize > (guint64) (end - moff))
      break;
    if (au != NULL && au->tfdt < ((guint64) 1 << 42) && au->duration < ((guint64) 1 << 42)) {
      audio_end = MAX (audio_end, au->tfdt + au->duration);
      have_audio = TRUE;
    }
    if (off < last_end && moff + (gint64) msize > last_end) {
      *tail = 0;   /* a pair across the fragment's end: the index does not match the file */
      *audio_end_us = -1;
      return;
    }
    off = moff + (gint64) msize;
    if (off > last_end) {
      *tail = off - last_end;
      n_tail++;
    }
  }
  if (have_audio && off >= last_end)   /* the last fragment read whole */
    *audio_end_us = (gint64) ((audio_end * G_USEC_PER_SEC + in->audio.ts / 2) / in->audio.ts);
}

/* ---- the fallback fragment source ---- */

gboolean
nvr_export_walk_file (const char *path, gint64 wall_start_us, NvrExportFile *f, GError **error)
{
  memset (f, 0, sizeof *f);
  f->audio_end_us = -1;
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return fail (error, e == ENOENT ? NVR_EXPORT_ERROR_SOURCE_GONE : NVR_EXPORT_ERROR_IO,
                 "Failed to open '%s': %s", path, g_strerror (e));
  }
  struct stat st;
  gboolean ok = FALSE;
  g_autoptr (GByteArray) init = g_byte_array_new ();
  g_autoptr (GArray) frags = g_array_new (FALSE, FALSE, sizeof (NvrExportFragment));
  g_autofree guint8 *moof = NULL;
  Init in;
  gboolean have_init = FALSE, have_first = FALSE, seen_moof = FALSE;
  gint64 pending = -1;        /* offset of audio-only moofs waiting for a video one */
  guint pending_n = 0;
  guint64 first_tfdt = 0;
  if (fstat (fd, &st) != 0) {
    fail (error, NVR_EXPORT_ERROR_IO, "Failed to stat '%s': %s", path, g_strerror (errno));
    goto out;
  }
  gint64 off = 0, end = st.st_size;
  while (end - off >= 8) {
    guint8 h[16];
    if (!pread_all (fd, h, 8, off))
      break;
    guint64 size = rd32 (h);
    guint32 type = rd32 (h + 4);
    if (size == 1) {
      if (end - off < 16 || !pread_all (fd, h + 8, 8, off + 8))
        break;
      size = rd64 (h + 8);
    } else if (size == 0) {
      size = (guint64) (end - off);   /* "to the end of the file": a box still being written */
    }
    if (size < 8 || size > (guint64) (end - off))
      break;   /* cut short: what came before is usable */
    if (type == FOURCC ('f', 't', 'y', 'p') || type == FOURCC ('m', 'o', 'o', 'v')) {
      if (have_init || init->len + size > NVR_EXPORT_MAX_INIT ||
          (type == FOURCC ('m', 'o', 'o', 'v')) != (init->len > 0)) {
        fail (error, NVR_EXPORT_ERROR_MALFORMED, "'%s': unexpected %s box", path,
              type == FOURCC ('f', 't', 'y', 'p') ? "ftyp" : "moov");
        goto out;
      }
      guint at = init->len;
      g_byte_array_set_size (init, at + (guint) size);
      if (!pread_all (fd, init->data + at, size, off)) {
        fail (error, NVR_EXPORT_ERROR_IO, "Failed to read '%s'", path);
        goto out;
      }
      if (type == FOURCC ('m', 'o', 'o', 'v')) {
        if (!parse_init (init->data, init->len, &in, error)) {
          g_prefix_error (error, "'%s': ", path);
          goto out;
        }
        have_init = TRUE;
      }
    } else if (type == FOURCC ('m', 'd', 'a', 't') && !seen_moof) {
      fail (error, NVR_EXPORT_ERROR_NOT_FRAGMENTED, "'%s' is not a fragmented MP4", path);
      goto out;
    } else if (type == FOURCC ('m', 'o', 'o', 'f')) {
      if (!have_init || size > NVR_EXPORT_MAX_MOOF) {
        fail (error, NVR_EXPORT_ERROR_MALFORMED, "'%s': a moof before the moov, or too large",
              path);
        goto out;
      }
      guint8 mh[16];
      gint64 moff = off + (gint64) size;
      if (end - moff < 8 || !pread_all (fd, mh, 8, moff) ||
          rd32 (mh + 4) != FOURCC ('m', 'd', 'a', 't'))
        break;   /* the mdat is not (yet) there */
      guint64 msize = rd32 (mh);
      if (msize == 1) {
        if (end - moff < 16 || !pread_all (fd, mh + 8, 8, moff + 8))
          break;
        msize = rd64 (mh + 8);
      }
      if (msize < 8 || msize > (guint64) (end - moff))
        break;   /* the last fragment, cut short */
      moof = g_realloc (moof, size);
      if (!pread_all (fd, moof, size, off)) {
        fail (error, NVR_EXPORT_ERROR_IO, "Failed to read '%s'", path);
        goto out;
      }
      Moof m;
      if (!parse_moof (moof, size, &in, &m, error)) {
        g_prefix_error (error, "'%s': ", path);
        goto out;
      }
      seen_moof = TRUE;
      const Traf *v = traf_of (&m, in.video.id);
      if (v == NULL || v->samples == 0) {
        /* Audio only: its bytes go with the next video fragment, as in mp4probe's indexer
         * (a trailing one, with no video after it, is the file's tail: see scan_end). */
        if (pending < 0)
          pending = off;
        if (++pending_n >= NVR_EXPORT_MAX_MOOFS_PER_FRAGMENT) {
          fail (error, NVR_EXPORT_ERROR_UNSUPPORTED, "'%s': %u moofs without video in a row",
                path, pending_n);
          goto out;
        }
        size += msize;
        off += (gint64) size;
        continue;
      }
      if (!have_first) {
        first_tfdt = v->tfdt;
        have_first = TRUE;
      }
      if (v->tfdt < first_tfdt) {
        fail (error, NVR_EXPORT_ERROR_MALFORMED, "'%s': decode time goes backwards", path);
        goto out;
      }
      guint32 ts = in.video.ts;
      gint64 start = pending >= 0 ? pending : off;
      NvrExportFragment fr = {
        .offset = start, .size = off + (gint64) (size + msize) - start,
        .start_us = (gint64) (((v->tfdt - first_tfdt) * G_USEC_PER_SEC + ts / 2) / ts),
        .duration_us = (gint64) ((v->duration * G_USEC_PER_SEC + ts / 2) / ts),
        .keyframe = v->key };
      g_array_append_val (frags, fr);
      pending = -1;
      pending_n = 0;
      size += msize;
    }
    off += (gint64) size;
  }
  if (!have_init) {
    fail (error, NVR_EXPORT_ERROR_NOT_FRAGMENTED, "'%s' has no moov at its start: not a "
          "fragmented MP4", path);
    goto out;
  }
  if (frags->len > 0) {
    const NvrExportFragment *last = &g_array_index (frags, NvrExportFragment, frags->len - 1);
    scan_end (fd, &in, last->offset, last->offset + last->size, end, &f->tail_size,
              &f->audio_end_us);
  }
  f->path = g_strdup (path);
  f->wall_start_us = wall_start_us;
  f->init = g_byte_array_free_to_bytes (g_steal_pointer (&init));
  f->fragments = g_steal_pointer (&frags);
  ok = TRUE;
out:
  close (fd);
  return ok;
}

gboolean
nvr_export_file_from_index (const char *path, gint64 wall_start_us, gint64 init_bytes,
                            const NvrExportFragment *frags, guint n, NvrExportFile *f,
                            GError **error)
{
  memset (f, 0, sizeof *f);
  f->audio_end_us = -1;
  if (init_bytes < 16 || init_bytes > NVR_EXPORT_MAX_INIT || n == 0)
    return fail (error, NVR_EXPORT_ERROR_MALFORMED, "'%s': no usable index", path);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return fail (error, e == ENOENT ? NVR_EXPORT_ERROR_SOURCE_GONE : NVR_EXPORT_ERROR_IO,
                 "Failed to open '%s': %s", path, g_strerror (e));
  }
  g_autoptr (GByteArray) init = g_byte_array_sized_new ((guint) init_bytes);
  g_byte_array_set_size (init, (guint) init_bytes);
  gboolean read_ok = pread_all (fd, init->data, (gsize) init_bytes, 0);
  if (!read_ok) {
    close (fd);
    return fail (error, NVR_EXPORT_ERROR_SOURCE_GONE, "Failed to read the init of '%s'", path);
  }
  /* The index says where the init ends; the bytes must say ftyp then moov, exactly that long. */
  if (rd32 (init->data + 4) != FOURCC ('f', 't', 'y', 'p') || rd32 (init->data) < 8 ||
      rd32 (init->data) + 8 > (guint64) init_bytes ||
      rd32 (init->data + rd32 (init->data) + 4) != FOURCC ('m', 'o', 'o', 'v') ||
      (guint64) rd32 (init->data) + rd32 (init->data + rd32 (init->data)) != (guint64) init_bytes) {
    close (fd);
    return fail (error, NVR_EXPORT_ERROR_MALFORMED, "'%s': the indexed init is not ftyp + moov",
                 path);
  }
  Init in;
  if (!parse_init (init->data, init->len, &in, error)) {
    close (fd);
    g_prefix_error (error, "'%s': ", path);
    return FALSE;
  }
  GArray *out = g_array_sized_new (FALSE, FALSE, sizeof (NvrExportFragment), n);
  gint64 prev_end = init_bytes;
  for (guint i = 0; i < n; i++) {
    if (frags[i].offset < prev_end || frags[i].size < 16 || frags[i].duration_us < 0) {
      close (fd);
      g_array_unref (out);
      return fail (error, NVR_EXPORT_ERROR_MALFORMED, "'%s': index fragment %u overlaps or is "
                   "too small", path, i);
    }
    prev_end = frags[i].offset + frags[i].size;
    g_array_append_val (out, frags[i]);
  }
  /* The file's last audio, after its last indexed (video) fragment. */
  struct stat st;
  if (in.has_audio && fstat (fd, &st) == 0)
    scan_end (fd, &in, frags[n - 1].offset, prev_end, st.st_size, &f->tail_size,
              &f->audio_end_us);
  close (fd);
  f->path = g_strdup (path);
  f->wall_start_us = wall_start_us;
  f->init = g_byte_array_free_to_bytes (g_steal_pointer (&init));
  f->fragments = out;
  return TRUE;
}
