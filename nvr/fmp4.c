/* fmp4 — fragmented MP4 splitter and the two parsers a live view needs (see fmp4.h).
 * Pure; one owner per splitter. Invariants: no box is trusted before its size was checked
 * against its container; a unit is buffered only while it stays under its maximum; nesting is
 * walked by explicit path, never recursively on input. */
#define G_LOG_DOMAIN "nvr-fmp4"

#include "fmp4.h"
#include "isobmff.h"

#include <string.h>

G_DEFINE_QUARK (nvr-fmp4-error-quark, nvr_fmp4_error)

/* trun/tfhd/trex sample_flags: sample_is_non_sync_sample */
#define SAMPLE_NON_SYNC 0x00010000u

/* One box inside [data, data+len) at *off: its type and body. Advances *off past it. */
typedef struct {
  guint32 type;
  const guint8 *body;
  gsize body_len;
} Box;

static gboolean
box_next (const guint8 *data, gsize len, gsize *off, Box *box, GError **error)
{
  gsize left = len - *off;
  const guint8 *p = data + *off;
  if (left < 8) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "truncated box header");
    return FALSE;
  }
  guint64 size = rd32 (p);
  gsize header = 8;
  if (size == 1) {
    if (left < 16) {
      g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "truncated box header");
      return FALSE;
    }
    size = rd64 (p + 8);
    header = 16;
  } else if (size == 0) {
    size = left;   /* to the end of its container */
  }
  if (size < header || size > left) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED,
                 "box size %" G_GUINT64_FORMAT " outside its container", size);
    return FALSE;
  }
  box->type = rd32 (p + 4);
  box->body = p + header;
  box->body_len = (gsize) size - header;
  *off += (gsize) size;
  return TRUE;
}

/* Finds the first child of type @type in a container body. */
static gboolean
child (const guint8 *data, gsize len, guint32 type, Box *out, GError **error)
{
  gsize off = 0;
  while (off < len) {
    if (!box_next (data, len, &off, out, error))
      return FALSE;
    if (out->type == type)
      return TRUE;
  }
  g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "missing '%c%c%c%c' box",
               (char) (type >> 24), (char) (type >> 16), (char) (type >> 8), (char) type);
  return FALSE;
}

/* Follows @path (0-terminated fourccs) down from a container body. */
static gboolean
descend (const guint8 *data, gsize len, const guint32 *path, Box *out, GError **error)
{
  Box b = { 0, data, len };
  for (; *path != 0; path++)
    if (!child (b.body, b.body_len, *path, &b, error))
      return FALSE;
  *out = b;
  return TRUE;
}

typedef enum { TRAK_OTHER, TRAK_VIDEO, TRAK_AUDIO } TrakKind;

gboolean
nvr_fmp4_aac_object_type (const guint8 *asc, gsize len, guint *aot, GError **error)
{
  /* AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1): audioObjectType is 5 bits; 31 is an escape,
   * then the type is 32 + the next 6 bits. */
  if (len < 1) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "empty AudioSpecificConfig");
    return FALSE;
  }
  guint t = asc[0] >> 3;
  if (t == 31) {
    if (len < 2) {
      g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED,
                   "AudioSpecificConfig cut inside its escaped object type");
      return FALSE;
    }
    t = 32 + (((guint) (asc[0] & 0x07) << 3) | (asc[1] >> 5));
  }
  if (t == 0) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "audio object type 0 (null)");
    return FALSE;
  }
  *aot = t;
  return TRUE;
}

gboolean
nvr_fmp4_aac_codec (guint aot, char *codec, gsize codec_len)
{
  /* The AAC family of ISO/IEC 14496-3 Table 1.1 (Main, LC, SSR, LTP, SBR, Scalable, ER AAC LC,
   * ER AAC LTP, ER AAC scalable, ER BSAC, ER AAC LD, PS, ER AAC ELD, USAC): what an mp4a
   * sample entry with objectTypeIndication 0x40 may carry for a browser's AAC decoder. */
  static const guint8 aac[] = { 1, 2, 3, 4, 5, 6, 17, 19, 20, 22, 23, 29, 39, 42 };
  for (guint i = 0; i < G_N_ELEMENTS (aac); i++)
    if (aac[i] == aot) {
      g_snprintf (codec, codec_len, "mp4a.40.%u", aot);
      return TRUE;
    }
  return FALSE;
}

/* One MPEG-4 descriptor header (ISO/IEC 14496-1 8.3.3): tag, then a size of 1-4 bytes of 7 bits
 * each. Advances *off to its body; *body_len is checked against what is left. */
static gboolean
descriptor (const guint8 *p, gsize len, gsize *off, guint8 *tag, gsize *body_len)
{
  if (*off >= len)
    return FALSE;
  *tag = p[(*off)++];
  gsize size = 0;
  for (guint i = 0;; i++) {
    if (i == 4 || *off >= len)
      return FALSE;
    guint8 b = p[(*off)++];
    size = (size << 7) | (b & 0x7f);
    if (!(b & 0x80))
      break;
  }
  if (size > len - *off)
    return FALSE;
  *body_len = size;
  return TRUE;
}

/* The AudioSpecificConfig in an esds body (FullBox header, ES_Descriptor, its
 * DecoderConfigDescriptor with objectTypeIndication 0x40 = MPEG-4 audio, its
 * DecoderSpecificInfo). NULL with *why set when any of it is missing or different. */
static const guint8 *
esds_asc (const guint8 *p, gsize len, gsize *asc_len, const char **why)
{
  gsize off = 4, blen;
  guint8 tag;
  *why = "no ES_Descriptor";
  if (len < 4 || !descriptor (p, len, &off, &tag, &blen) || tag != 0x03 || blen < 3)
    return NULL;
  gsize end = off + blen;
  guint8 flags = p[off + 2];
  off += 3;
  if (flags & 0x80)
    off += 2;                              /* dependsOn_ES_ID */
  if ((flags & 0x40) && off < end)
    off += 1 + (gsize) p[off];             /* URL */
  if (flags & 0x20)
    off += 2;                              /* OCR_ES_Id */
  *why = "no DecoderConfigDescriptor";
  if (off > end || !descriptor (p, end, &off, &tag, &blen) || tag != 0x04 || blen < 13)
    return NULL;
  *why = "objectTypeIndication is not MPEG-4 audio (0x40)";
  if (p[off] != 0x40)
    return NULL;
  gsize dend = off + blen;
  off += 13;
  *why = "no DecoderSpecificInfo (AudioSpecificConfig)";
  if (!descriptor (p, dend, &off, &tag, &blen) || tag != 0x05)
    return NULL;
  *asc_len = blen;
  return p + off;
}

/* The MSE codec string of an mp4a sample entry's body: "mp4a.40.<audio object type>" from its
 * esds; an entry whose config cannot be read, or names no AAC type, gets the fallback
 * "mp4a.40.2" (what the recorder's templates produce) and *@fallback says why. */
static void
audio_codec (const Box *entry, char *codec, gsize codec_len, const char **fallback)
{
  *fallback = NULL;
  /* AudioSampleEntry: reserved (6), data_reference_index (2), version (2) ...: 28 bytes for
   * version 0; QuickTime sound description version 1 adds 16, version 2 adds 36. */
  guint16 version = (guint16) (entry->body[8] << 8 | entry->body[9]);
  gsize skip = 28 + (version == 1 ? 16 : version == 2 ? 36 : 0);
  Box esds;
  const guint8 *asc = NULL;
  gsize asc_len = 0;
  guint aot = 0;
  const char *why = "no esds box";
  g_autoptr (GError) error = NULL;
  if (entry->body_len >= skip &&
      child (entry->body + skip, entry->body_len - skip, FOURCC ('e', 's', 'd', 's'), &esds,
             NULL) &&
      (asc = esds_asc (esds.body, esds.body_len, &asc_len, &why)) != NULL) {
    if (!nvr_fmp4_aac_object_type (asc, asc_len, &aot, &error))
      why = "unreadable AudioSpecificConfig";
    else if (nvr_fmp4_aac_codec (aot, codec, codec_len))
      return;
    else
      why = "AudioSpecificConfig names no AAC object type";
  }
  g_strlcpy (codec, "mp4a.40.2", codec_len);
  *fallback = why;
}

/* One trak: its handler, track_ID and first sample entry. A video track must be H.264 (codec
 * string from avcC into @codec), an audio track AAC ('mp4a'); other handlers are TRAK_OTHER. */
static gboolean
trak_info (const Box *trak, TrakKind *kind, guint32 *track_id, char *codec, gsize codec_len,
           const char **fallback, GError **error)
{
  static const guint32 hdlr_path[] = { FOURCC ('m', 'd', 'i', 'a'), FOURCC ('h', 'd', 'l', 'r'),
                                       0 };
  static const guint32 stsd_path[] = { FOURCC ('m', 'd', 'i', 'a'), FOURCC ('m', 'i', 'n', 'f'),
                                       FOURCC ('s', 't', 'b', 'l'), FOURCC ('s', 't', 's', 'd'),
                                       0 };
  Box hdlr, stsd, tkhd;
  *kind = TRAK_OTHER;
  if (!descend (trak->body, trak->body_len, hdlr_path, &hdlr, error))
    return FALSE;
  /* hdlr: version/flags (4), pre_defined (4), handler_type (4) */
  if (hdlr.body_len < 12) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "short hdlr");
    return FALSE;
  }
  guint32 handler = rd32 (hdlr.body + 8);
  if (handler != FOURCC ('v', 'i', 'd', 'e') && handler != FOURCC ('s', 'o', 'u', 'n'))
    return TRUE;
  if (!child (trak->body, trak->body_len, FOURCC ('t', 'k', 'h', 'd'), &tkhd, error) ||
      !descend (trak->body, trak->body_len, stsd_path, &stsd, error))
    return FALSE;
  /* tkhd: version 0 → track_ID at 12, version 1 → at 20 */
  gsize id_at = tkhd.body_len >= 1 && tkhd.body[0] == 1 ? 20 : 12;
  /* stsd: version/flags (4), entry_count (4), then sample entries */
  if (tkhd.body_len < id_at + 4 || stsd.body_len < 8 || rd32 (stsd.body + 4) < 1) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "short tkhd or empty stsd");
    return FALSE;
  }
  *track_id = rd32 (tkhd.body + id_at);
  gsize off = 8;
  Box entry;
  if (!box_next (stsd.body, stsd.body_len, &off, &entry, error))
    return FALSE;
  if (handler == FOURCC ('s', 'o', 'u', 'n')) {
    if (entry.type != FOURCC ('m', 'p', '4', 'a')) {
      g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_UNSUPPORTED,
                   "audio track is '%c%c%c%c', not AAC", (char) (entry.type >> 24),
                   (char) (entry.type >> 16), (char) (entry.type >> 8), (char) entry.type);
      return FALSE;
    }
    /* AudioSampleEntry: 28 bytes of fields, then esds: its AudioSpecificConfig names the
     * object type (2 = AAC-LC, 5 = HE-AAC, 29 = HE-AAC v2, ...). */
    if (entry.body_len < 28) {
      g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "short mp4a");
      return FALSE;
    }
    audio_codec (&entry, codec, codec_len, fallback);
    *kind = TRAK_AUDIO;
    return TRUE;
  }
  const char *prefix = NULL;
  if (entry.type == FOURCC ('a', 'v', 'c', '1'))
    prefix = "avc1";
  else if (entry.type == FOURCC ('a', 'v', 'c', '3'))
    prefix = "avc3";
  if (prefix == NULL) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_UNSUPPORTED,
                 "video track is '%c%c%c%c', not H.264", (char) (entry.type >> 24),
                 (char) (entry.type >> 16), (char) (entry.type >> 8), (char) entry.type);
    return FALSE;
  }
  /* VisualSampleEntry: 78 bytes of fields, then child boxes (avcC, pasp, ...) */
  Box avcc;
  if (entry.body_len < 78 ||
      !child (entry.body + 78, entry.body_len - 78, FOURCC ('a', 'v', 'c', 'C'), &avcc, error))
    return FALSE;
  /* avcC: configurationVersion, AVCProfileIndication, profile_compatibility, AVCLevelIndication */
  if (avcc.body_len < 4 || avcc.body[0] != 1) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "bad avcC");
    return FALSE;
  }
  g_snprintf (codec, codec_len, "%s.%02x%02x%02x", prefix, avcc.body[1], avcc.body[2],
              avcc.body[3]);
  *kind = TRAK_VIDEO;
  return TRUE;
}

gboolean
nvr_fmp4_parse_init (const guint8 *data, gsize len, NvrFmp4Init *out, GError **error)
{
  memset (out, 0, sizeof *out);
  gsize off = 0;
  Box ftyp, moov;
  if (len > NVR_FMP4_MAX_INIT) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_TOO_LARGE, "init segment over %u bytes",
                 NVR_FMP4_MAX_INIT);
    return FALSE;
  }
  if (!box_next (data, len, &off, &ftyp, error))
    return FALSE;
  if (ftyp.type != FOURCC ('f', 't', 'y', 'p')) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "init does not start with ftyp");
    return FALSE;
  }
  if (off >= len || !box_next (data, len, &off, &moov, error) ||
      moov.type != FOURCC ('m', 'o', 'o', 'v') || off != len) {
    if (error != NULL && *error == NULL)
      g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED,
                   "init is not exactly ftyp + moov");
    return FALSE;
  }
  Box mvex;
  if (!child (moov.body, moov.body_len, FOURCC ('m', 'v', 'e', 'x'), &mvex, error))
    return FALSE;   /* not fragmented */
  gboolean found = FALSE;
  guint traks = 0;
  char audio_codec_s[NVR_FMP4_CODEC_MAX] = "";
  gsize moff = 0;
  while (moff < moov.body_len) {
    Box b;
    if (!box_next (moov.body, moov.body_len, &moff, &b, error))
      return FALSE;
    if (b.type != FOURCC ('t', 'r', 'a', 'k'))
      continue;
    if (++traks > 2) {
      g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "more than 2 tracks");
      return FALSE;
    }
    TrakKind kind;
    guint32 id = 0;
    char codec[NVR_FMP4_CODEC_MAX];
    const char *fallback = NULL;
    if (!trak_info (&b, &kind, &id, codec, sizeof codec, &fallback, error))
      return FALSE;
    if ((kind == TRAK_VIDEO && found) || (kind == TRAK_AUDIO && out->has_audio)) {
      g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_UNSUPPORTED,
                   "more than one %s track", kind == TRAK_VIDEO ? "video" : "audio");
      return FALSE;
    }
    if (kind == TRAK_VIDEO) {
      found = TRUE;
      out->track_id = id;
      g_strlcpy (out->codec, codec, sizeof out->codec);
    } else if (kind == TRAK_AUDIO) {
      out->has_audio = TRUE;
      out->audio_track_id = id;
      out->audio_codec_fallback = fallback;
      g_strlcpy (audio_codec_s, codec, sizeof audio_codec_s);
    }
  }
  if (!found) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "no video track");
    return FALSE;
  }
  if (out->has_audio) {
    if (out->audio_track_id == out->track_id) {
      g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED,
                   "audio and video tracks share an ID");
      return FALSE;
    }
    g_strlcat (out->codec, ",", sizeof out->codec);
    g_strlcat (out->codec, audio_codec_s, sizeof out->codec);
  }
  /* trex: version/flags, track_ID, default sample description index, duration, size, flags */
  gsize xoff = 0;
  while (xoff < mvex.body_len) {
    Box b;
    if (!box_next (mvex.body, mvex.body_len, &xoff, &b, error))
      return FALSE;
    if (b.type == FOURCC ('t', 'r', 'e', 'x') && b.body_len >= 24 &&
        rd32 (b.body + 4) == out->track_id) {
      out->has_trex = TRUE;
      out->trex_sample_flags = rd32 (b.body + 20);
    }
  }
  return TRUE;
}

/* The first sample's flags of the first trun in @traf, by the precedence in fmp4.h. */
static gboolean
traf_first_flags (const Box *traf, const NvrFmp4Init *init, gboolean *known, guint32 *flags,
                  GError **error)
{
  Box tfhd, trun;
  *known = FALSE;
  if (!child (traf->body, traf->body_len, FOURCC ('t', 'f', 'h', 'd'), &tfhd, error) ||
      !child (traf->body, traf->body_len, FOURCC ('t', 'r', 'u', 'n'), &trun, error))
    return FALSE;
  if (tfhd.body_len < 8 || trun.body_len < 8) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "short tfhd or trun");
    return FALSE;
  }
  guint32 tf = rd32 (tfhd.body) & 0xffffff;
  guint32 track = rd32 (tfhd.body + 4);
  gsize at = 8;
  at += (tf & 0x01) ? 8 : 0;   /* base-data-offset */
  at += (tf & 0x02) ? 4 : 0;   /* sample-description-index */
  at += (tf & 0x08) ? 4 : 0;   /* default-sample-duration */
  at += (tf & 0x10) ? 4 : 0;   /* default-sample-size */
  if ((tf & 0x20) && tfhd.body_len < at + 4) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "short tfhd");
    return FALSE;
  }
  guint32 rf = rd32 (trun.body) & 0xffffff;
  guint32 count = rd32 (trun.body + 4);
  gsize r = 8;
  r += (rf & 0x01) ? 4 : 0;   /* data-offset */
  if (count == 0) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "empty trun");
    return FALSE;
  }
  if (rf & 0x04) {   /* first-sample-flags */
    if (trun.body_len < r + 4)
      goto short_trun;
    *flags = rd32 (trun.body + r);
    *known = TRUE;
    return TRUE;
  }
  if (rf & 0x400) {   /* per-sample flags: after the first sample's duration and size */
    gsize f = r + ((rf & 0x100) ? 4 : 0) + ((rf & 0x200) ? 4 : 0);
    if (trun.body_len < f + 4)
      goto short_trun;
    *flags = rd32 (trun.body + f);
    *known = TRUE;
    return TRUE;
  }
  if (tf & 0x20) {
    *flags = rd32 (tfhd.body + at);
    *known = TRUE;
    return TRUE;
  }
  if (init != NULL && init->has_trex && init->track_id == track) {
    *flags = init->trex_sample_flags;
    *known = TRUE;
  }
  return TRUE;

short_trun:
  g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "short trun");
  return FALSE;
}

gboolean
nvr_fmp4_parse_fragment (const guint8 *data, gsize len, const NvrFmp4Init *init,
                         gboolean *key, GError **error)
{
  *key = FALSE;
  gsize off = 0;
  Box b;
  do {
    if (!box_next (data, len, &off, &b, error))
      return FALSE;
  } while ((b.type == FOURCC ('s', 't', 'y', 'p') || b.type == FOURCC ('s', 'i', 'd', 'x')) &&
           off < len);
  if (b.type != FOURCC ('m', 'o', 'o', 'f')) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "fragment without moof");
    return FALSE;
  }
  Box moof = b, mdat;
  if (off >= len || !box_next (data, len, &off, &mdat, error) ||
      mdat.type != FOURCC ('m', 'd', 'a', 't') || off != len) {
    if (error != NULL && *error == NULL)
      g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED,
                   "fragment is not exactly moof + mdat");
    return FALSE;
  }
  /* At most 2 trafs; the video one (by track_ID) decides. */
  Box traf = { 0 }, first = { 0 };
  guint trafs = 0;
  gsize moff = 0;
  while (moff < moof.body_len) {
    Box t;
    if (!box_next (moof.body, moof.body_len, &moff, &t, error))
      return FALSE;
    if (t.type != FOURCC ('t', 'r', 'a', 'f'))
      continue;
    if (++trafs > 2) {
      g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "more than 2 trafs");
      return FALSE;
    }
    Box tfhd;
    if (!child (t.body, t.body_len, FOURCC ('t', 'f', 'h', 'd'), &tfhd, error))
      return FALSE;
    if (tfhd.body_len < 8) {
      g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "short tfhd");
      return FALSE;
    }
    if (trafs == 1)
      first = t;
    if (init != NULL && init->has_audio && rd32 (tfhd.body + 4) == init->track_id)
      traf = t;
  }
  if (trafs == 0) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "missing 'traf' box");
    return FALSE;
  }
  if (init == NULL || !init->has_audio)
    traf = first;
  else if (traf.body == NULL)
    return TRUE;   /* audio only: not key */
  gboolean known = FALSE;
  guint32 flags = 0;
  if (!traf_first_flags (&traf, init, &known, &flags, error))
    return FALSE;
  *key = known && (flags & SAMPLE_NON_SYNC) == 0;
  return TRUE;
}

/* ---- the splitter ---- */

typedef enum {
  MODE_HEADER,    /* reading a top-level box header into hdr[] */
  MODE_APPEND,    /* box body goes into unit */
  MODE_DISCARD,   /* box body is thrown away */
} Mode;

typedef enum {
  UNIT_NONE,
  UNIT_INIT,       /* ftyp seen, waiting for moov */
  UNIT_FRAGMENT,   /* moof seen (maybe dropping), waiting for mdat */
} UnitState;

typedef struct {
  NvrFmp4Kind kind;
  GBytes *bytes;
  gboolean key;
  guint64 dropped;
} Unit;

struct _NvrFmp4Splitter {
  gsize max_fragment;
  gboolean failed;
  Mode mode;
  guint8 hdr[16];
  gsize hdr_len;
  guint32 box_type;
  guint64 box_left;       /* body bytes of the current box still to come */
  UnitState state;
  gboolean dropping;      /* the fragment in progress is over the maximum */
  guint64 unit_size;      /* bytes of the unit in progress (also when dropping) */
  GByteArray *unit;
  gboolean have_init;
  NvrFmp4Init init;
  GQueue done;            /* Unit* ready to pop */
};

NvrFmp4Splitter *
nvr_fmp4_splitter_new (gsize max_fragment)
{
  NvrFmp4Splitter *s = g_new0 (NvrFmp4Splitter, 1);
  s->max_fragment = max_fragment;
  s->unit = g_byte_array_new ();
  g_queue_init (&s->done);
  return s;
}

static void
unit_free (Unit *u)
{
  if (u->bytes != NULL)
    g_bytes_unref (u->bytes);
  g_free (u);
}

void
nvr_fmp4_splitter_free (NvrFmp4Splitter *s)
{
  if (s == NULL)
    return;
  g_byte_array_unref (s->unit);
  g_queue_clear_full (&s->done, (GDestroyNotify) unit_free);
  g_free (s);
}

static void
unit_reset (NvrFmp4Splitter *s)
{
  g_byte_array_set_size (s->unit, 0);
  s->state = UNIT_NONE;
  s->dropping = FALSE;
  s->unit_size = 0;
}

static void
emit (NvrFmp4Splitter *s, NvrFmp4Kind kind, gboolean key)
{
  Unit *u = g_new0 (Unit, 1);
  u->kind = kind;
  u->key = key;
  if (kind == NVR_FMP4_DROPPED)
    u->dropped = s->unit_size;
  else
    u->bytes = g_bytes_new (s->unit->data, s->unit->len);
  g_queue_push_tail (&s->done, u);
}

static gboolean
fail (NvrFmp4Splitter *s, GError **error, const char *why)
{
  s->failed = TRUE;
  unit_reset (s);
  g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "%s", why);
  return FALSE;
}

/* A whole top-level header is in hdr[]: decide where its body goes. */
static gboolean
box_begin (NvrFmp4Splitter *s, guint64 size, GError **error)
{
  guint64 body = size - s->hdr_len;
  guint32 type = s->box_type;
  s->box_left = body;
  s->mode = MODE_DISCARD;
  if (type == FOURCC ('f', 't', 'y', 'p')) {
    unit_reset (s);
    if (size > NVR_FMP4_MAX_INIT)
      return fail (s, error, "ftyp over the init maximum");
    s->state = UNIT_INIT;
    s->mode = MODE_APPEND;
  } else if (type == FOURCC ('m', 'o', 'o', 'v')) {
    if (s->state != UNIT_INIT)
      return fail (s, error, "moov without ftyp");
    if (s->unit_size + size > NVR_FMP4_MAX_INIT)
      return fail (s, error, "init segment over the maximum");
    s->mode = MODE_APPEND;
  } else if (type == FOURCC ('m', 'o', 'o', 'f')) {
    unit_reset (s);
    s->state = UNIT_FRAGMENT;
    s->dropping = !s->have_init || size > s->max_fragment;
    s->mode = s->dropping ? MODE_DISCARD : MODE_APPEND;
  } else if (type == FOURCC ('m', 'd', 'a', 't') && s->state == UNIT_FRAGMENT) {
    if (!s->dropping && s->unit_size + size > s->max_fragment) {
      s->dropping = TRUE;
      g_byte_array_set_size (s->unit, 0);
    }
    s->mode = s->dropping ? MODE_DISCARD : MODE_APPEND;
  }
  /* anything else (styp, sidx, free, mfra, a stray mdat) is skipped */
  if (s->mode == MODE_APPEND)
    g_byte_array_append (s->unit, s->hdr, (guint) s->hdr_len);
  if (s->state != UNIT_NONE && (type == FOURCC ('m', 'd', 'a', 't') ||
                                type == FOURCC ('m', 'o', 'o', 'f') ||
                                type == FOURCC ('f', 't', 'y', 'p') ||
                                type == FOURCC ('m', 'o', 'o', 'v')))
    s->unit_size += size;
  return TRUE;
}

/* The current top-level box is complete. */
static gboolean
box_end (NvrFmp4Splitter *s, GError **error)
{
  guint32 type = s->box_type;
  s->mode = MODE_HEADER;
  s->hdr_len = 0;
  if (type == FOURCC ('m', 'o', 'o', 'v') && s->state == UNIT_INIT) {
    g_autoptr (GError) local = NULL;
    if (!nvr_fmp4_parse_init (s->unit->data, s->unit->len, &s->init, &local)) {
      g_autofree char *why = g_strdup_printf ("bad init segment: %s", local->message);
      s->have_init = FALSE;
      return fail (s, error, why);
    }
    s->have_init = TRUE;
    emit (s, NVR_FMP4_INIT, FALSE);
    unit_reset (s);
  } else if (type == FOURCC ('m', 'd', 'a', 't') && s->state == UNIT_FRAGMENT) {
    if (s->dropping) {
      emit (s, NVR_FMP4_DROPPED, FALSE);
    } else {
      gboolean key = FALSE;
      if (!nvr_fmp4_parse_fragment (s->unit->data, s->unit->len, &s->init, &key, NULL))
        key = FALSE;   /* a fragment that does not parse is passed on as non-key */
      emit (s, NVR_FMP4_FRAGMENT, key);
    }
    unit_reset (s);
  }
  return TRUE;
}

gboolean
nvr_fmp4_splitter_feed (NvrFmp4Splitter *s, const guint8 *data, gsize len, GError **error)
{
  if (s->failed) {
    g_set_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED, "stream already failed");
    return FALSE;
  }
  while (len > 0) {
    if (s->mode == MODE_HEADER) {
      gsize want = s->hdr_len < 8 ? 8 : 16;
      gsize n = MIN (len, want - s->hdr_len);
      memcpy (s->hdr + s->hdr_len, data, n);
      s->hdr_len += n;
      data += n;
      len -= n;
      if (s->hdr_len < 8)
        continue;
      guint64 size = rd32 (s->hdr);
      if (size == 1) {
        if (s->hdr_len < 16)
          continue;
        size = rd64 (s->hdr + 8);
      }
      if (size == 0)
        return fail (s, error, "box without a size in a stream");
      if (size < s->hdr_len)
        return fail (s, error, "box size smaller than its header");
      s->box_type = rd32 (s->hdr + 4);
      if (!box_begin (s, size, error))
        return FALSE;
      if (s->box_left == 0 && !box_end (s, error))
        return FALSE;
      continue;
    }
    gsize n = (gsize) MIN ((guint64) len, s->box_left);
    if (s->mode == MODE_APPEND)
      g_byte_array_append (s->unit, data, (guint) n);
    data += n;
    len -= n;
    s->box_left -= n;
    if (s->box_left == 0 && !box_end (s, error))
      return FALSE;
  }
  return TRUE;
}

NvrFmp4Kind
nvr_fmp4_splitter_pop (NvrFmp4Splitter *s, GBytes **unit, gboolean *key, guint64 *dropped)
{
  Unit *u = g_queue_pop_head (&s->done);
  if (u == NULL)
    return NVR_FMP4_NONE;
  NvrFmp4Kind kind = u->kind;
  if (unit != NULL)
    *unit = g_steal_pointer (&u->bytes);
  if (key != NULL)
    *key = u->key;
  if (dropped != NULL)
    *dropped = u->dropped;
  unit_free (u);
  return kind;
}

const char *
nvr_fmp4_splitter_codec (NvrFmp4Splitter *s)
{
  return s->have_init ? s->init.codec : NULL;
}
