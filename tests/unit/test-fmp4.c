/* Unit tests of nvr/fmp4.c: the init and fragment parsers on synthetic boxes (table-driven,
 * good and broken), the splitter fed in every chunking, oversized and early fragments, and a
 * real mp4mux live stream (fragment-duration 500 ms) whose key fragments must match its GOPs. */
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <string.h>

#include "fmp4.h"

/* ---- building boxes ---- */

static void
put32 (GByteArray *a, guint32 v)
{
  guint8 b[4] = { v >> 24, v >> 16, v >> 8, v };
  g_byte_array_append (a, b, 4);
}

/* Appends a box of @type around @body (NULL = empty). */
static void
box (GByteArray *out, const char *type, GByteArray *body)
{
  put32 (out, 8 + (body ? body->len : 0));
  g_byte_array_append (out, (const guint8 *) type, 4);
  if (body != NULL)
    g_byte_array_append (out, body->data, body->len);
}

static GByteArray *
bytes (const guint8 *data, gsize len)
{
  GByteArray *a = g_byte_array_new ();
  g_byte_array_append (a, data, (guint) len);
  return a;
}

static GByteArray *
wrap (const char *type, GByteArray *body)   /* takes @body */
{
  GByteArray *a = g_byte_array_new ();
  box (a, type, body);
  g_byte_array_unref (body);
  return a;
}

static GByteArray *
cat (GByteArray *a, GByteArray *b)   /* takes both */
{
  g_byte_array_append (a, b->data, b->len);
  g_byte_array_unref (b);
  return a;
}

typedef struct {
  const char *entry;      /* sample entry type */
  const char *handler;
  gboolean mvex;
  gboolean trex;
  guint32 trex_flags;
  gsize avcc_len;
} InitSpec;

static GByteArray *
make_init (const InitSpec *sp)
{
  GByteArray *ftyp = g_byte_array_new ();
  g_byte_array_append (ftyp, (const guint8 *) "iso6\0\0\0\0iso6mp41", 16);
  GByteArray *tkhd = g_byte_array_new ();
  put32 (tkhd, 0);       /* version 0, flags */
  put32 (tkhd, 0);       /* creation */
  put32 (tkhd, 0);       /* modification */
  put32 (tkhd, 1);       /* track_ID */
  for (int i = 0; i < 17; i++)
    put32 (tkhd, 0);
  GByteArray *hdlr = g_byte_array_new ();
  put32 (hdlr, 0);
  put32 (hdlr, 0);
  g_byte_array_append (hdlr, (const guint8 *) sp->handler, 4);
  for (int i = 0; i < 3; i++)
    put32 (hdlr, 0);
  g_byte_array_append (hdlr, (const guint8 *) "", 1);
  static const guint8 avcc_data[] = { 1, 0x64, 0x00, 0x1f, 0xff, 0xe0, 0x00 };
  GByteArray *entry = g_byte_array_new ();
  g_byte_array_set_size (entry, 78);
  memset (entry->data, 0, 78);
  g_autoptr (GByteArray) avcc = bytes (avcc_data, sp->avcc_len);
  box (entry, "avcC", avcc);
  GByteArray *stsd_body = g_byte_array_new ();
  put32 (stsd_body, 0);
  put32 (stsd_body, 1);
  GByteArray *e = wrap (sp->entry, entry);
  g_byte_array_append (stsd_body, e->data, e->len);
  g_byte_array_unref (e);
  GByteArray *stbl = wrap ("stbl", wrap ("stsd", stsd_body));
  GByteArray *mdia = cat (wrap ("hdlr", hdlr), wrap ("minf", stbl));
  GByteArray *trak = cat (wrap ("tkhd", tkhd), wrap ("mdia", mdia));
  GByteArray *moov = wrap ("trak", trak);
  if (sp->mvex) {
    GByteArray *mvex = g_byte_array_new ();
    if (sp->trex) {
      GByteArray *trex = g_byte_array_new ();
      put32 (trex, 0);
      put32 (trex, 1);
      put32 (trex, 1);
      put32 (trex, 0);
      put32 (trex, 0);
      put32 (trex, sp->trex_flags);
      mvex = cat (mvex, wrap ("trex", trex));
    }
    moov = cat (moov, wrap ("mvex", mvex));
  }
  return cat (wrap ("ftyp", ftyp), wrap ("moov", moov));
}

typedef struct {
  guint32 tfhd_flags;
  guint32 tfhd_default;
  guint32 trun_flags;
  guint32 first_flags;     /* trun first-sample-flags, when trun_flags & 4 */
  guint32 sample_flags;    /* sample 0's flags, when trun_flags & 0x400 */
  guint32 count;
  gsize mdat_len;
} FragSpec;

static GByteArray *
make_fragment (const FragSpec *sp)
{
  GByteArray *mfhd = g_byte_array_new ();
  put32 (mfhd, 0);
  put32 (mfhd, 1);
  GByteArray *tfhd = g_byte_array_new ();
  put32 (tfhd, sp->tfhd_flags);
  put32 (tfhd, 1);
  if (sp->tfhd_flags & 0x08)
    put32 (tfhd, 3000);
  if (sp->tfhd_flags & 0x20)
    put32 (tfhd, sp->tfhd_default);
  GByteArray *trun = g_byte_array_new ();
  put32 (trun, sp->trun_flags);
  put32 (trun, sp->count);
  if (sp->trun_flags & 0x01)
    put32 (trun, 0);
  if (sp->trun_flags & 0x04)
    put32 (trun, sp->first_flags);
  for (guint32 i = 0; i < sp->count; i++) {
    if (sp->trun_flags & 0x100)
      put32 (trun, 3000);
    if (sp->trun_flags & 0x200)
      put32 (trun, 10);
    if (sp->trun_flags & 0x400)
      put32 (trun, i == 0 ? sp->sample_flags : 0x00010000);
  }
  GByteArray *traf = cat (wrap ("tfhd", tfhd), wrap ("trun", trun));
  GByteArray *moof = cat (wrap ("mfhd", mfhd), wrap ("traf", traf));
  GByteArray *mdat = g_byte_array_new ();
  g_byte_array_set_size (mdat, (guint) sp->mdat_len);
  if (sp->mdat_len > 0)
    memset (mdat->data, 0x5a, sp->mdat_len);
  return cat (wrap ("moof", moof), wrap ("mdat", mdat));
}

static const InitSpec good_init = { "avc1", "vide", TRUE, TRUE, 0x00010000, 7 };

/* ---- parsers ---- */

static void
test_init_table (void)
{
  static const struct {
    InitSpec spec;
    gboolean ok;
    int code;
    const char *codec;
  } cases[] = {
    { { "avc1", "vide", TRUE, TRUE, 0x10000, 7 }, TRUE, 0, "avc1.64001f" },
    { { "avc3", "vide", TRUE, FALSE, 0, 4 }, TRUE, 0, "avc3.64001f" },
    { { "hvc1", "vide", TRUE, TRUE, 0, 7 }, FALSE, NVR_FMP4_ERROR_UNSUPPORTED, NULL },
    { { "avc1", "vide", FALSE, FALSE, 0, 7 }, FALSE, NVR_FMP4_ERROR_MALFORMED, NULL },  /* no mvex */
    { { "avc1", "soun", TRUE, TRUE, 0, 7 }, FALSE, NVR_FMP4_ERROR_UNSUPPORTED, NULL }, /* not AAC */
    { { "mp4a", "soun", TRUE, TRUE, 0, 7 }, FALSE, NVR_FMP4_ERROR_MALFORMED, NULL },   /* no video */
    { { "avc1", "vide", TRUE, TRUE, 0, 3 }, FALSE, NVR_FMP4_ERROR_MALFORMED, NULL },   /* short avcC */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GByteArray) a = make_init (&cases[i].spec);
    NvrFmp4Init init;
    g_autoptr (GError) error = NULL;
    gboolean ok = nvr_fmp4_parse_init (a->data, a->len, &init, &error);
    g_assert_cmpint (ok, ==, cases[i].ok);
    if (ok) {
      g_assert_cmpstr (init.codec, ==, cases[i].codec);
      g_assert_cmpuint (init.track_id, ==, 1);
      g_assert_cmpint (init.has_trex, ==, cases[i].spec.trex);
    } else {
      g_assert_error (error, NVR_FMP4_ERROR, cases[i].code);
    }
  }
}

/* Every cut, every corrupted length byte of a good init: never a crash, never a read outside. */
static void
test_init_broken (void)
{
  g_autoptr (GByteArray) a = make_init (&good_init);
  NvrFmp4Init init;
  for (guint cut = 0; cut < a->len; cut++)
    g_assert_false (nvr_fmp4_parse_init (a->data, cut, &init, NULL));
  /* trailing garbage box */
  g_autoptr (GByteArray) b = make_init (&good_init);
  box (b, "free", NULL);
  g_assert_false (nvr_fmp4_parse_init (b->data, b->len, &init, NULL));
  /* every byte of every box header flipped to 0xff */
  for (guint i = 0; i < a->len; i++) {
    g_autoptr (GByteArray) c = bytes (a->data, a->len);
    c->data[i] ^= 0xff;
    nvr_fmp4_parse_init (c->data, c->len, &init, NULL);   /* must not crash (ASan) */
  }
}

static void
test_fragment_table (void)
{
  NvrFmp4Init init = { .codec = "avc1.64001f", .track_id = 1, .has_trex = TRUE,
                       .trex_sample_flags = 0x00010000 };
  NvrFmp4Init init_key = { .codec = "avc1.64001f", .track_id = 1, .has_trex = TRUE,
                           .trex_sample_flags = 0 };
  static const struct {
    FragSpec spec;
    gboolean key_with_nonsync_trex;
    gboolean key_with_sync_trex;
  } cases[] = {
    /* first-sample-flags says sync */
    { { 0, 0, 0x205, 0x02000000, 0, 3, 10 }, TRUE, TRUE },
    /* first-sample-flags says non-sync */
    { { 0, 0, 0x205, 0x01010000, 0, 3, 10 }, FALSE, FALSE },
    /* per-sample flags, sample 0 sync */
    { { 0, 0, 0x701, 0, 0x02000000, 3, 10 }, TRUE, TRUE },
    /* per-sample flags, sample 0 non-sync */
    { { 0, 0, 0x701, 0, 0x00010000, 3, 10 }, FALSE, FALSE },
    /* tfhd default flags sync */
    { { 0x28, 0, 0x201, 0, 0, 2, 10 }, TRUE, TRUE },
    /* tfhd default flags non-sync */
    { { 0x28, 0x00010000, 0x201, 0, 0, 2, 10 }, FALSE, FALSE },
    /* nothing in the fragment: trex decides */
    { { 0, 0, 0x201, 0, 0, 2, 10 }, FALSE, TRUE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GByteArray) f = make_fragment (&cases[i].spec);
    gboolean key = TRUE;
    g_assert_true (nvr_fmp4_parse_fragment (f->data, f->len, &init, &key, NULL));
    g_assert_cmpint (key, ==, cases[i].key_with_nonsync_trex);
    g_assert_true (nvr_fmp4_parse_fragment (f->data, f->len, &init_key, &key, NULL));
    g_assert_cmpint (key, ==, cases[i].key_with_sync_trex);
    g_assert_true (nvr_fmp4_parse_fragment (f->data, f->len, NULL, &key, NULL));
    if (cases[i].key_with_nonsync_trex != cases[i].key_with_sync_trex)
      g_assert_false (key);   /* unknown is not key */
    for (guint cut = 0; cut < f->len; cut++)
      g_assert_false (nvr_fmp4_parse_fragment (f->data, cut, &init, &key, NULL));
  }
  /* zero samples, mdat first, an extra box */
  FragSpec empty = { 0, 0, 0x205, 0, 0, 0, 4 };
  g_autoptr (GByteArray) e = make_fragment (&empty);
  gboolean key;
  g_assert_false (nvr_fmp4_parse_fragment (e->data, e->len, &init, &key, NULL));
  g_autoptr (GByteArray) m = g_byte_array_new ();
  box (m, "mdat", NULL);
  g_assert_false (nvr_fmp4_parse_fragment (m->data, m->len, &init, &key, NULL));
  FragSpec ok = { 0, 0, 0x205, 0, 0, 1, 4 };
  g_autoptr (GByteArray) x = make_fragment (&ok);
  box (x, "free", NULL);
  g_assert_false (nvr_fmp4_parse_fragment (x->data, x->len, &init, &key, NULL));
}

/* A traf of @track whose first sample has @flags (trun first-sample-flags). */
static GByteArray *
make_traf (guint32 track, guint32 flags)
{
  GByteArray *tfhd = g_byte_array_new ();
  put32 (tfhd, 0);
  put32 (tfhd, track);
  GByteArray *trun = g_byte_array_new ();
  put32 (trun, 0x205);
  put32 (trun, 1);
  put32 (trun, 0);
  put32 (trun, flags);
  put32 (trun, 10);
  return wrap ("traf", cat (wrap ("tfhd", tfhd), wrap ("trun", trun)));
}

/* moof with the given trafs (taken) + an mdat of 4 bytes. */
static GByteArray *
make_moof (GByteArray **trafs, guint n)
{
  GByteArray *mfhd = g_byte_array_new ();
  put32 (mfhd, 0);
  put32 (mfhd, 1);
  GByteArray *moof = wrap ("mfhd", mfhd);
  for (guint i = 0; i < n; i++)
    moof = cat (moof, trafs[i]);
  GByteArray *mdat = g_byte_array_new ();
  g_byte_array_set_size (mdat, 4);
  memset (mdat->data, 0, 4);
  return cat (wrap ("moof", moof), wrap ("mdat", mdat));
}

/* Video (track 1) + AAC (track 2): the video traf decides, wherever it is; audio alone is not
 * key; a third traf is refused. */
static void
test_fragment_two_tracks (void)
{
  NvrFmp4Init init = { .codec = "avc1.64001f,mp4a.40.2", .track_id = 1, .has_audio = TRUE,
                       .audio_track_id = 2 };
  const guint32 sync = 0x02000000, nonsync = 0x01010000;
  static const struct {
    guint32 first_track, first_flags, second_track, second_flags;
    guint n;
    gboolean ok, key;
  } cases[] = {
    { 1, 0x02000000, 2, 0x02000000, 2, TRUE, TRUE },    /* video sync first */
    { 2, 0x02000000, 1, 0x02000000, 2, TRUE, TRUE },    /* video sync second */
    { 2, 0x02000000, 1, 0x01010000, 2, TRUE, FALSE },   /* audio sync, video not: not key */
    { 1, 0x01010000, 2, 0x02000000, 2, TRUE, FALSE },
    { 2, 0x02000000, 0, 0, 1, TRUE, FALSE },            /* audio only */
    { 1, 0x02000000, 0, 0, 1, TRUE, TRUE },             /* video only */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GByteArray *t[2] = { make_traf (cases[i].first_track, cases[i].first_flags),
                         cases[i].n > 1 ? make_traf (cases[i].second_track,
                                                     cases[i].second_flags) : NULL };
    g_autoptr (GByteArray) f = make_moof (t, cases[i].n);
    gboolean key = !cases[i].key;
    g_assert_cmpint (nvr_fmp4_parse_fragment (f->data, f->len, &init, &key, NULL), ==,
                     cases[i].ok);
    g_assert_cmpint (key, ==, cases[i].key);
    for (guint cut = 0; cut < f->len; cut++)
      g_assert_false (nvr_fmp4_parse_fragment (f->data, cut, &init, &key, NULL));
  }
  GByteArray *three[3] = { make_traf (1, sync), make_traf (2, nonsync), make_traf (2, nonsync) };
  g_autoptr (GByteArray) f3 = make_moof (three, 3);
  gboolean key;
  g_autoptr (GError) error = NULL;
  g_assert_false (nvr_fmp4_parse_fragment (f3->data, f3->len, &init, &key, &error));
  g_assert_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED);
}

/* ---- splitter ---- */

typedef struct {
  guint inits, fragments, keys, dropped;
  guint64 dropped_bytes;
  GByteArray *all;   /* concatenation of every init and fragment */
  char codec[NVR_FMP4_CODEC_MAX];
} Seen;

static void
drain (NvrFmp4Splitter *s, Seen *seen)
{
  for (;;) {
    g_autoptr (GBytes) unit = NULL;
    gboolean key = FALSE;
    guint64 dropped = 0;
    NvrFmp4Kind k = nvr_fmp4_splitter_pop (s, &unit, &key, &dropped);
    if (k == NVR_FMP4_NONE)
      return;
    if (k == NVR_FMP4_DROPPED) {
      seen->dropped++;
      seen->dropped_bytes += dropped;
      continue;
    }
    gsize n;
    const guint8 *d = g_bytes_get_data (unit, &n);
    g_byte_array_append (seen->all, d, (guint) n);
    if (k == NVR_FMP4_INIT) {
      seen->inits++;
      g_strlcpy (seen->codec, nvr_fmp4_splitter_codec (s), sizeof seen->codec);
    } else {
      seen->fragments++;
      seen->keys += key;
    }
  }
}

static void
split (const guint8 *data, gsize len, gsize max_fragment, gsize chunk, Seen *seen)
{
  g_autoptr (NvrFmp4Splitter) s = nvr_fmp4_splitter_new (max_fragment);
  memset (seen, 0, sizeof *seen);
  seen->all = g_byte_array_new ();
  for (gsize off = 0; off < len; off += chunk) {
    g_assert_true (nvr_fmp4_splitter_feed (s, data + off, MIN (chunk, len - off), NULL));
    drain (s, seen);
  }
}

static void
test_splitter_chunks (void)
{
  FragSpec key = { 0, 0, 0x205, 0x02000000, 0, 3, 40 };
  FragSpec delta = { 0, 0, 0x205, 0x01010000, 0, 3, 40 };
  g_autoptr (GByteArray) stream = g_byte_array_new ();
  stream = cat (stream, make_fragment (&delta));   /* before the init: dropped */
  stream = cat (stream, make_init (&good_init));
  g_autoptr (GByteArray) expect = make_init (&good_init);
  for (int i = 0; i < 6; i++) {
    GByteArray *f = make_fragment (i % 2 ? &delta : &key);
    g_byte_array_append (expect, f->data, f->len);
    box (stream, "free", NULL);   /* skipped between units */
    stream = cat (stream, f);
  }
  for (gsize chunk = 1; chunk <= stream->len; chunk = chunk < 40 ? chunk + 1 : chunk * 2) {
    Seen seen;
    split (stream->data, stream->len, 4096, chunk, &seen);
    g_assert_cmpuint (seen.inits, ==, 1);
    g_assert_cmpuint (seen.fragments, ==, 6);
    g_assert_cmpuint (seen.keys, ==, 3);
    g_assert_cmpuint (seen.dropped, ==, 1);   /* the fragment before the init */
    g_assert_cmpstr (seen.codec, ==, "avc1.64001f");
    g_assert_cmpmem (seen.all->data, seen.all->len, expect->data, expect->len);
    g_byte_array_unref (seen.all);
  }
}

/* A fragment over the maximum is dropped whole (never buffered); the next one comes through. */
static void
test_splitter_oversized (void)
{
  FragSpec small = { 0, 0, 0x205, 0x02000000, 0, 1, 100 };
  FragSpec big = { 0, 0, 0x205, 0x02000000, 0, 1, 5000 };
  g_autoptr (GByteArray) stream = make_init (&good_init);
  GByteArray *b = make_fragment (&big);
  guint big_len = b->len;
  stream = cat (stream, b);
  stream = cat (stream, make_fragment (&small));
  Seen seen;
  split (stream->data, stream->len, 1000, 7, &seen);
  g_assert_cmpuint (seen.inits, ==, 1);
  g_assert_cmpuint (seen.fragments, ==, 1);
  g_assert_cmpuint (seen.dropped, ==, 1);
  g_assert_cmpuint (seen.dropped_bytes, ==, big_len);
  g_byte_array_unref (seen.all);
}

static void
test_splitter_errors (void)
{
  static const guint8 zero_size[] = { 0, 0, 0, 0, 'm', 'o', 'o', 'f' };
  static const guint8 small_size[] = { 0, 0, 0, 4, 'm', 'o', 'o', 'f' };
  static const guint8 large_small[] = { 0, 0, 0, 1, 'm', 'd', 'a', 't', 0, 0, 0, 0, 0, 0, 0, 8 };
  static const guint8 moov_alone[] = { 0, 0, 0, 8, 'm', 'o', 'o', 'v' };
  static const guint8 huge_ftyp[] = { 0, 0x10, 0, 0, 'f', 't', 'y', 'p' };
  const struct {
    const guint8 *d;
    gsize n;
  } cases[] = { { zero_size, sizeof zero_size }, { small_size, sizeof small_size },
                { large_small, sizeof large_small }, { moov_alone, sizeof moov_alone },
                { huge_ftyp, sizeof huge_ftyp } };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (NvrFmp4Splitter) s = nvr_fmp4_splitter_new (4096);
    g_autoptr (GError) error = NULL;
    g_assert_false (nvr_fmp4_splitter_feed (s, cases[i].d, cases[i].n, &error));
    g_assert_nonnull (error);
    g_assert_false (nvr_fmp4_splitter_feed (s, cases[i].d, 1, NULL));   /* stays failed */
  }
  /* a 64-bit size mdat that is fine */
  g_autoptr (GByteArray) stream = make_init (&good_init);
  FragSpec f = { 0, 0, 0x205, 0x02000000, 0, 1, 0 };
  GByteArray *frag = make_fragment (&f);
  g_byte_array_set_size (frag, frag->len - 8);   /* drop the empty mdat */
  stream = cat (stream, frag);
  static const guint8 large_mdat[] = { 0, 0, 0, 1, 'm', 'd', 'a', 't', 0, 0, 0, 0, 0, 0, 0, 20,
                                       1, 2, 3, 4 };
  g_byte_array_append (stream, large_mdat, sizeof large_mdat);
  Seen seen;
  split (stream->data, stream->len, 4096, 3, &seen);
  g_assert_cmpuint (seen.fragments, ==, 1);
  g_assert_cmpuint (seen.keys, ==, 1);
  g_byte_array_unref (seen.all);
}

/* ---- a real mp4mux live stream ---- */

static GstFlowReturn
collect (GstAppSink *sink, gpointer data)
{
  g_autoptr (GstSample) sample = gst_app_sink_pull_sample (sink);
  GstBuffer *buf = gst_sample_get_buffer (sample);
  GstMapInfo map;
  if (gst_buffer_map (buf, &map, GST_MAP_READ)) {
    g_byte_array_append (data, map.data, (guint) map.size);
    gst_buffer_unmap (buf, &map);
  }
  return GST_FLOW_OK;
}

/* Runs @desc (a launch line ending in `appsink name=sink`) to EOS; returns what the sink got. */
static GByteArray *
mux_bytes (const char *desc)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GstElement) pipeline = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  g_autoptr (GstElement) sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_autoptr (GByteArray) out = g_byte_array_new ();
  GstAppSinkCallbacks cb = { .new_sample = collect };
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &cb, out, NULL);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr (GstMessage) msg = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
                                                           GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  return g_steal_pointer (&out);
}

static void
real_mp4mux (gboolean audio)
{
  /* 6 s at 10 fps, a keyframe every 10 frames (1 s): fragments of 0.5 s; with @audio, 6 s of
   * AAC as a second track (as the worker's live pipeline muxes it). */
  g_autoptr (GError) error = NULL;
  g_autofree char *desc = g_strdup_printf (
      "videotestsrc num-buffers=60 ! video/x-raw,width=320,height=240,framerate=10/1 "
      "! x264enc key-int-max=10 speed-preset=ultrafast tune=zerolatency ! h264parse "
      "! video/x-h264,stream-format=avc,alignment=au,profile=constrained-baseline "
      "! mp4mux name=mux fragment-duration=500 streamable=true ! appsink name=sink sync=false %s",
      audio ? "audiotestsrc num-buffers=47 samplesperbuffer=2048 ! audio/x-raw,rate=16000 "
              "! voaacenc ! aacparse ! mux." : "");
  g_autoptr (GByteArray) out = mux_bytes (desc);

  for (gsize chunk = 13; chunk <= 65536; chunk *= 71) {
    Seen seen;
    split (out->data, out->len, 1 << 20, chunk, &seen);
    g_test_message ("mp4mux: %u bytes, %u fragment(s), %u key, codec %s", out->len,
                    seen.fragments, seen.keys, seen.codec);
    g_assert_cmpuint (seen.inits, ==, 1);
    g_assert_true (g_str_has_prefix (seen.codec, "avc1.42c0"));   /* constrained baseline */
    g_assert_cmpint (g_str_has_suffix (seen.codec, ",mp4a.40.2"), ==, audio);
    /* A fragment boundary at every keyframe: 6 GOPs → 6 key fragments, and 0.5 s fragments
     * in between; mp4mux writes one moof per track, so audio doubles them (never key). */
    g_assert_cmpuint (seen.keys, ==, 6);
    g_assert_cmpuint (seen.fragments, >=, audio ? 22 : 11);
    g_assert_cmpuint (seen.fragments, <=, audio ? 27 : 13);
    g_assert_cmpuint (seen.dropped, ==, 0);
    g_byte_array_unref (seen.all);
  }
}

/* The AudioSpecificConfig's object type, and the codec string made of it. */
static void
test_aac_object_type (void)
{
  static const struct {
    guint8 asc[3];
    gsize len;
    gboolean ok;
    guint aot;
    const char *codec;      /* NULL: not an AAC type (the caller falls back) */
  } cases[] = {
    { { 0x14, 0x08 }, 2, TRUE, 2, "mp4a.40.2" },      /* AAC-LC 16 kHz mono (voaacenc) */
    { { 0x12, 0x10 }, 2, TRUE, 2, "mp4a.40.2" },      /* AAC-LC 44.1 kHz stereo */
    { { 0x2b, 0x92, 0x08 }, 3, TRUE, 5, "mp4a.40.5" },   /* HE-AAC (SBR) */
    { { 0xeb, 0x12, 0x08 }, 3, TRUE, 29, "mp4a.40.29" }, /* HE-AAC v2 (PS) */
    { { 0x08, 0x10 }, 2, TRUE, 1, "mp4a.40.1" },      /* AAC Main */
    { { 0xb8, 0x10 }, 2, TRUE, 23, "mp4a.40.23" },    /* ER AAC LD */
    { { 0x10 }, 1, TRUE, 2, "mp4a.40.2" },            /* one byte is enough for the type */
    { { 0xf9, 0x40 }, 2, TRUE, 42, "mp4a.40.42" },    /* escape 31: 32 + 10 = USAC */
    { { 0xf8, 0x00 }, 2, TRUE, 32, NULL },            /* escape: 32 (Layer-1): not AAC */
    { { 0xff, 0xe0 }, 2, TRUE, 95, NULL },            /* escape, largest: 32 + 63 */
    { { 0x38, 0x08 }, 2, TRUE, 7, NULL },             /* TwinVQ: not AAC */
    { { 0x00, 0x00 }, 0, FALSE, 0, NULL },            /* empty */
    { { 0x04, 0x08 }, 2, FALSE, 0, NULL },            /* type 0 (null) */
    { { 0x00 }, 1, FALSE, 0, NULL },
    { { 0xf8 }, 1, FALSE, 0, NULL },                  /* escape cut off */
    { { 0xff }, 1, FALSE, 0, NULL },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    guint aot = 1234;
    g_autoptr (GError) error = NULL;
    gboolean ok = nvr_fmp4_aac_object_type (cases[i].asc, cases[i].len, &aot, &error);
    g_assert_cmpint (ok, ==, cases[i].ok);
    if (!ok) {
      g_assert_error (error, NVR_FMP4_ERROR, NVR_FMP4_ERROR_MALFORMED);
      g_assert_cmpuint (aot, ==, 1234);
      continue;
    }
    g_assert_cmpuint (aot, ==, cases[i].aot);
    char codec[NVR_FMP4_CODEC_MAX] = "untouched";
    g_assert_cmpint (nvr_fmp4_aac_codec (aot, codec, sizeof codec), ==, cases[i].codec != NULL);
    g_assert_cmpstr (codec, ==, cases[i].codec != NULL ? cases[i].codec : "untouched");
  }
}

/* The first unit of a real mp4mux stream: its init segment. */
static GByteArray *
real_init (gboolean audio)
{
  g_autofree char *desc = g_strdup_printf (
      "videotestsrc num-buffers=10 ! video/x-raw,width=160,height=120,framerate=10/1 "
      "! x264enc key-int-max=10 speed-preset=ultrafast tune=zerolatency ! h264parse "
      "! video/x-h264,stream-format=avc,alignment=au "
      "! mp4mux name=mux fragment-duration=500 streamable=true ! appsink name=sink sync=false %s",
      audio ? "audiotestsrc num-buffers=8 samplesperbuffer=2048 ! audio/x-raw,rate=16000 "
              "! voaacenc ! aacparse ! mux." : "");
  g_autoptr (GByteArray) out = mux_bytes (desc);
  g_autoptr (NvrFmp4Splitter) s = nvr_fmp4_splitter_new (1 << 20);
  g_assert_true (nvr_fmp4_splitter_feed (s, out->data, out->len, NULL));
  GBytes *unit = NULL;
  gboolean key;
  guint64 dropped;
  g_assert_cmpint (nvr_fmp4_splitter_pop (s, &unit, &key, &dropped), ==, NVR_FMP4_INIT);
  gsize len;
  const guint8 *d = g_bytes_get_data (unit, &len);
  GByteArray *init = bytes (d, len);
  g_bytes_unref (unit);
  return init;
}

/* The live codec string follows the init's AudioSpecificConfig (mp4mux's esds, rewritten in
 * place: voaacenc writes AAC-LC 16 kHz mono, 0x14 0x08, as DecoderSpecificInfo 05 02 14 08);
 * a config that names no AAC type, or does not parse, falls back to mp4a.40.2 and says why. */
static void
test_init_aac_codec (void)
{
  g_autoptr (GByteArray) a = real_init (TRUE);
  static const guint8 dsi[] = { 0x05, 0x02, 0x14, 0x08 };
  gsize at = 0;
  for (at = 0; at + sizeof dsi <= a->len; at++)
    if (memcmp (a->data + at, dsi, sizeof dsi) == 0)
      break;
  g_assert_cmpuint (at + sizeof dsi, <=, a->len);
  static const struct {
    guint8 asc[2];
    const char *audio;
    gboolean fallback;
  } cases[] = {
    { { 0x14, 0x08 }, "mp4a.40.2", FALSE },
    { { 0x2c, 0x08 }, "mp4a.40.5", FALSE },     /* HE-AAC */
    { { 0xec, 0x08 }, "mp4a.40.29", FALSE },    /* HE-AAC v2 */
    { { 0xf9, 0x40 }, "mp4a.40.42", FALSE },    /* escape: USAC */
    { { 0x04, 0x08 }, "mp4a.40.2", TRUE },      /* type 0 */
    { { 0xf8, 0x00 }, "mp4a.40.2", TRUE },      /* escape: 32, not AAC */
    { { 0x38, 0x08 }, "mp4a.40.2", TRUE },      /* TwinVQ */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GByteArray) c = bytes (a->data, a->len);
    memcpy (c->data + at + 2, cases[i].asc, 2);
    NvrFmp4Init init;
    g_autoptr (GError) error = NULL;
    g_assert_true (nvr_fmp4_parse_init (c->data, c->len, &init, &error));
    g_assert_no_error (error);
    g_assert_true (init.has_audio);
    const char *comma = strchr (init.codec, ',');
    g_assert_nonnull (comma);
    g_assert_cmpstr (comma + 1, ==, cases[i].audio);
    g_assert_cmpint (init.audio_codec_fallback != NULL, ==, cases[i].fallback);
  }
  /* A DecoderSpecificInfo of length 0 (config empty), and one that is not tag 5: fallback. */
  for (guint k = 0; k < 2; k++) {
    g_autoptr (GByteArray) c = bytes (a->data, a->len);
    if (k == 0)
      c->data[at + 1] = 0;
    else
      c->data[at] = 0x06;
    NvrFmp4Init init;
    g_assert_true (nvr_fmp4_parse_init (c->data, c->len, &init, NULL));
    g_assert_true (g_str_has_suffix (init.codec, ",mp4a.40.2"));
    g_assert_nonnull (init.audio_codec_fallback);
  }
  /* Video only: no audio, no fallback. */
  g_autoptr (GByteArray) v = real_init (FALSE);
  NvrFmp4Init init;
  g_assert_true (nvr_fmp4_parse_init (v->data, v->len, &init, NULL));
  g_assert_false (init.has_audio);
  g_assert_null (strchr (init.codec, ','));
  g_assert_null (init.audio_codec_fallback);
}

static void
test_real_mp4mux (void)
{
  real_mp4mux (FALSE);
}

static void
test_real_mp4mux_aac (void)
{
  real_mp4mux (TRUE);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/fmp4/init/table", test_init_table);
  g_test_add_func ("/fmp4/init/broken", test_init_broken);
  g_test_add_func ("/fmp4/fragment/table", test_fragment_table);
  g_test_add_func ("/fmp4/fragment/two-tracks", test_fragment_two_tracks);
  g_test_add_func ("/fmp4/splitter/chunks", test_splitter_chunks);
  g_test_add_func ("/fmp4/splitter/oversized", test_splitter_oversized);
  g_test_add_func ("/fmp4/splitter/errors", test_splitter_errors);
  g_test_add_func ("/fmp4/real-mp4mux", test_real_mp4mux);
  g_test_add_func ("/fmp4/real-mp4mux-aac", test_real_mp4mux_aac);
  g_test_add_func ("/fmp4/aac/object-type", test_aac_object_type);
  g_test_add_func ("/fmp4/aac/init-codec", test_init_aac_codec);
  return g_test_run ();
}
