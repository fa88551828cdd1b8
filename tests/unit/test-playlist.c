/* Unit tests for the HLS playlist builder: table-driven windows over a fixed index (two files
 * back to back, a gap, a file without an index, a file still recording), each checked against
 * the exact text expected, plus RFC 8216 rules checked on every answer (target duration,
 * byte ranges, relative URIs). */
#include <string.h>

#include "playlist.h"

#define S ((gint64) G_USEC_PER_SEC)
/* 2026-12-02T07:00:00Z */
#define T0 ((gint64) 1796194800 * S)

/* File 11: 3 fragments of 1 s at T0; file 12: 2 fragments of 1 s right after it (T0+3 s), the
 * second not a keyframe; file 13: recorded before v8 (no index) at T0+10 s; file 14: recording,
 * at T0+20 s, 2 fragments so far, the first 1.5 s long. */
static const NvrFragment frags[] = {
  { 900, 1000, 0, S, TRUE }, { 1900, 1000, S, S, TRUE }, { 2900, 1000, 2 * S, S, TRUE },
  { 800, 500, 0, S, TRUE }, { 1300, 400, S, S, FALSE },
  { 700, 3000, 0, 3 * S / 2, TRUE }, { 3700, 2000, 3 * S / 2, S, TRUE },
};
static const NvrPlaylistFile files[] = {
  { 11, T0, T0 + 3 * S, FALSE, 900, 0, 3 },
  { 12, T0 + 3 * S, T0 + 5 * S, FALSE, 800, 3, 2 },
  { 13, T0 + 10 * S, T0 + 20 * S, FALSE, 0, 5, 0 },
  { 14, T0 + 20 * S, 0, TRUE, 700, 5, 2 },
};

typedef struct {
  const char *name;
  gint64 from_us, to_us;
  gboolean live;
  const char *expect;
} Case;

#define EMPTY "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n" \
              "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-ENDLIST\n"

static const Case cases[] = {
  { "inside one file, trimmed to the window", T0 + S + S / 2, T0 + 2 * S + 1, FALSE,
    "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
    "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    "#EXT-X-MAP:URI=\"segments/11/media\",BYTERANGE=\"900@0\"\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-02T07:00:01.000Z\n"
    "#EXTINF:1.000000,\n#EXT-X-BYTERANGE:1000@1900\nsegments/11/media\n"
    "#EXTINF:1.000000,\n#EXT-X-BYTERANGE:1000@2900\nsegments/11/media\n"
    "#EXT-X-ENDLIST\n" },
  { "across a file boundary: discontinuity, new map, new date", T0 + 2 * S, T0 + 5 * S, FALSE,
    "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
    "#EXT-X-PLAYLIST-TYPE:VOD\n"
    "#EXT-X-MAP:URI=\"segments/11/media\",BYTERANGE=\"900@0\"\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-02T07:00:02.000Z\n"
    "#EXTINF:1.000000,\n#EXT-X-BYTERANGE:1000@2900\nsegments/11/media\n"
    "#EXT-X-DISCONTINUITY\n"
    "#EXT-X-MAP:URI=\"segments/12/media\",BYTERANGE=\"800@0\"\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-02T07:00:03.000Z\n"
    "#EXTINF:1.000000,\n#EXT-X-BYTERANGE:500@800\nsegments/12/media\n"
    "#EXTINF:1.000000,\n#EXT-X-BYTERANGE:400@1300\nsegments/12/media\n"
    "#EXT-X-ENDLIST\n" },
  { "a gap and a file without an index: discontinuity + the date after the gap",
    T0 + 4 * S, T0 + 23 * S, TRUE,
    "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
    "#EXT-X-PLAYLIST-TYPE:EVENT\n"
    "#EXT-X-MAP:URI=\"segments/12/media\",BYTERANGE=\"800@0\"\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-02T07:00:04.000Z\n"
    "#EXTINF:1.000000,\n#EXT-X-BYTERANGE:400@1300\nsegments/12/media\n"
    "#EXT-X-DISCONTINUITY\n"
    "#EXT-X-MAP:URI=\"segments/14/media\",BYTERANGE=\"700@0\"\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-02T07:00:20.000Z\n"
    "#EXTINF:1.500000,\n#EXT-X-BYTERANGE:3000@700\nsegments/14/media\n"
    "#EXTINF:1.000000,\n#EXT-X-BYTERANGE:2000@3700\nsegments/14/media\n" },
  { "the live edge: up to the last stored fragment, no ENDLIST", T0 + 21 * S, T0 + 3600 * S,
    TRUE,
    "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
    "#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    "#EXT-X-MAP:URI=\"segments/14/media\",BYTERANGE=\"700@0\"\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-02T07:00:20.000Z\n"
    "#EXTINF:1.500000,\n#EXT-X-BYTERANGE:3000@700\nsegments/14/media\n"
    "#EXTINF:1.000000,\n#EXT-X-BYTERANGE:2000@3700\nsegments/14/media\n" },
  { "the recording file but a window that ends before its last fragment: final, VOD",
    T0 + 20 * S, T0 + 21 * S, FALSE,
    "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
    "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    "#EXT-X-MAP:URI=\"segments/14/media\",BYTERANGE=\"700@0\"\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-02T07:00:20.000Z\n"
    "#EXTINF:1.500000,\n#EXT-X-BYTERANGE:3000@700\nsegments/14/media\n"
    "#EXT-X-ENDLIST\n" },
  { "only the file without an index: nothing to play", T0 + 11 * S, T0 + 19 * S, FALSE, EMPTY },
  { "before everything", T0 - 100 * S, T0, FALSE, EMPTY },
  { "a window ending exactly where a fragment starts leaves it out", T0 + 5 * S, T0 + 20 * S,
    FALSE, EMPTY },
};

/* RFC 8216 rules every answer keeps, whatever the window. */
static void
check_rules (const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  gint64 target = -1;
  for (guint i = 0; lines[i] != NULL; i++) {
    const char *l = lines[i];
    if (g_str_has_prefix (l, "#EXT-X-TARGETDURATION:"))
      target = g_ascii_strtoll (l + 22, NULL, 10);
    if (g_str_has_prefix (l, "#EXTINF:")) {
      double d = g_ascii_strtod (l + 8, NULL);
      g_assert_cmpint (target, >=, (gint64) (d + 0.5));
      g_assert_true (g_str_has_prefix (lines[i + 1], "#EXT-X-BYTERANGE:"));
      g_assert_true (g_str_has_prefix (lines[i + 2], "segments/"));
    }
    if (*l != '\0' && *l != '#')
      g_assert_true (g_str_has_prefix (l, "segments/") && g_str_has_suffix (l, "/media"));
  }
  g_assert_cmpint (target, >=, 1);
}

static void
test_cases (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    const Case *c = &cases[i];
    g_test_message ("case %u: %s", i, c->name);
    gboolean live = !c->live;
    g_autofree char *got = nvr_playlist_build (files, G_N_ELEMENTS (files), frags,
                                               G_N_ELEMENTS (frags), c->from_us, c->to_us, &live);
    g_assert_cmpstr (got, ==, c->expect);
    g_assert_cmpint (live, ==, c->live);
    check_rules (got);
  }
}

/* Every window over the index gives an answer that keeps the rules, and a file's fragments are
 * listed in order with no holes between the first and last listed. */
static void
test_every_window (void)
{
  for (gint64 from = T0 - S; from < T0 + 24 * S; from += S / 4)
    for (gint64 to = from + 1; to < T0 + 26 * S; to += S / 3) {
      gboolean live;
      g_autofree char *got = nvr_playlist_build (files, G_N_ELEMENTS (files), frags,
                                                 G_N_ELEMENTS (frags), from, to, &live);
      check_rules (got);
    }
}

/* A bad index entry (fragments out of the array) is skipped, never read. */
static void
test_bad_file (void)
{
  const NvrPlaylistFile bad[] = { { 1, T0, T0 + S, FALSE, 900, 5, 10 } };
  gboolean live = TRUE;
  g_autofree char *got = nvr_playlist_build (bad, 1, frags, G_N_ELEMENTS (frags), 0,
                                             T0 + 100 * S, &live);
  g_assert_cmpstr (got, ==, EMPTY);
  g_assert_false (live);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/playlist/cases", test_cases);
  g_test_add_func ("/playlist/every-window", test_every_window);
  g_test_add_func ("/playlist/bad-file", test_bad_file);
  return g_test_run ();
}
