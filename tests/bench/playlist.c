/* bench/playlist — the playlist route's work (nvr_catalog_playlist + nvr_playlist_build) on a
 * realistic catalog: CAMERAS x DAYS of 60 s segments, each with 60 fragment rows of 1 s (the
 * recorder's fragment length), written through the daemon's own statements. Prints latency
 * percentiles of 1-hour playlists at random places and of the 1-hour playlist at the live edge.
 * Run on demand: `meson test -C BUILD --benchmark playlist` or `bench-playlist [DAYS [DIR]]`.
 * Goal (issue 9): p95 <= 20 ms for one hour. */
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>

#include "catalog.h"
#include "playlist.h"

#define CAMERAS 16
#define SEG_S 60
#define FRAG_S 1
#define QUERIES 500

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static void
run_queries (NvrCatalog *cat, gint64 t0, gint64 span_us, gboolean at_end, GRand *rand)
{
  double ms[QUERIES], sql_ms[QUERIES];
  guint64 bytes = 0, entries = 0;
  gint64 window_us = (gint64) 3600 * G_USEC_PER_SEC;
  for (int q = 0; q < QUERIES; q++) {
    gint64 cam = g_rand_int_range (rand, 1, CAMERAS + 1);
    gint64 from = at_end ? t0 + span_us - window_us + 30 * G_USEC_PER_SEC
                         : t0 + (gint64) (g_rand_double (rand) * (double) (span_us - window_us));
    gint64 start = g_get_monotonic_time ();
    g_autoptr (GError) error = NULL;
    g_autoptr (GArray) files = NULL, frags = NULL;
    g_assert_true (nvr_catalog_playlist (cat, cam, from, from + window_us, &files, &frags,
                                         &error));
    sql_ms[q] = (g_get_monotonic_time () - start) / 1000.0;
    gboolean live;
    g_autofree char *text = nvr_playlist_build ((NvrPlaylistFile *) (void *) files->data,
                                                files->len, (NvrFragment *) (void *) frags->data,
                                                frags->len, from, from + window_us, &live);
    ms[q] = (g_get_monotonic_time () - start) / 1000.0;
    bytes += strlen (text);
    entries += frags->len;
  }
  qsort (ms, QUERIES, sizeof ms[0], cmp_double);
  qsort (sql_ms, QUERIES, sizeof sql_ms[0], cmp_double);
  printf ("1-hour playlist%s: %d queries, %.0f fragments and %.0f bytes each, p50 %.2f ms, "
          "p95 %.2f ms, max %.2f ms (goal p95 <= 20 ms); of which the catalog query p50 %.2f ms, "
          "p95 %.2f ms\n", at_end ? " at the live edge" : "", QUERIES,
          (double) entries / QUERIES, (double) bytes / QUERIES, ms[QUERIES / 2],
          ms[QUERIES * 95 / 100], ms[QUERIES - 1], sql_ms[QUERIES / 2],
          sql_ms[QUERIES * 95 / 100]);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int days = argc > 1 ? atoi (argv[1]) : 7;
  g_autofree char *dir = argc > 2 ? g_strdup (argv[2])
                                   : g_dir_make_tmp ("hearth-bench-playlist-XXXXXX", &error);
  g_assert_no_error (error);
  g_assert_cmpint (days, >=, 1);
  g_autofree char *path = g_build_filename (dir, "catalog.db", NULL);
  g_unlink (path);
  NvrCatalog *cat = nvr_catalog_open (path, &error);
  g_assert_no_error (error);

  gint64 t0 = G_GINT64_CONSTANT (1795000000) * G_USEC_PER_SEC;
  gint64 per_cam = (gint64) days * 86400 / SEG_S;
  gint64 fill_start = g_get_monotonic_time ();
  for (int c = 1; c <= CAMERAS; c++) {
    g_autofree char *name = g_strdup_printf ("cam%d", c);
    NvrCameraRow row = { .name = name, .main_url = "rtsp://127.0.0.1/x" };
    gint64 id = 0;
    g_assert_true (nvr_catalog_camera_add (cat, &row, 1, &id, &error));
  }
  /* Segments and fragments go in through the daemon's statements, one transaction an hour. */
  NvrFragmentRow rows[SEG_S / FRAG_S];
  for (gint64 i = 0; i < per_cam; i++) {
    if (i % (3600 / SEG_S) == 0) {
      if (i > 0)
        g_assert_true (nvr_catalog_commit (cat, &error));
      if (i % (86400 / SEG_S) == 0)
        fprintf (stderr, "\rfilling: day %" G_GINT64_FORMAT "/%d", i / (86400 / SEG_S) + 1, days);
      g_assert_true (nvr_catalog_begin (cat, &error));
    }
    for (int c = 1; c <= CAMERAS; c++) {
      char p[96];
      g_snprintf (p, sizeof p, "recordings/%d-cam%d/%" G_GINT64_FORMAT ".mp4", c, c, i);
      gint64 s = t0 + i * SEG_S * G_USEC_PER_SEC + c * 1000, id = 0;
      g_assert_true (nvr_catalog_segment_open (cat, c, p, s, &id, &error));
      for (int f = 0; f < SEG_S / FRAG_S; f++)
        rows[f] = (NvrFragmentRow) { id, f, 900, { 900 + f * 500000, 500000,
                                                   (gint64) f * FRAG_S * G_USEC_PER_SEC,
                                                   FRAG_S * G_USEC_PER_SEC, TRUE } };
      g_assert_true (nvr_catalog_fragments_add (cat, rows, SEG_S / FRAG_S, &error));
      /* the newest segment of each camera stays 'recording' (the live edge) */
      if (i + 1 < per_cam)
        g_assert_true (nvr_catalog_segment_close (cat, c, p, s, s + SEG_S * G_USEC_PER_SEC,
                                                  SEG_S * G_USEC_PER_SEC, 30000900, &error));
    }
  }
  g_assert_true (nvr_catalog_commit (cat, &error));
  fprintf (stderr, "\n");
  GStatBuf st;
  g_stat (path, &st);
  printf ("catalog: %d cameras x %d days of %d s segments = %" G_GINT64_FORMAT " segments, %"
          G_GINT64_FORMAT " fragment rows, %.0f MB, filled in %.1f s\n", CAMERAS, days, SEG_S,
          per_cam * CAMERAS, per_cam * CAMERAS * (SEG_S / FRAG_S), st.st_size / 1e6,
          (g_get_monotonic_time () - fill_start) / 1e6);

  g_autoptr (GRand) rand = g_rand_new_with_seed (2026);
  gint64 span_us = per_cam * SEG_S * G_USEC_PER_SEC;
  run_queries (cat, t0, span_us, FALSE, rand);
  run_queries (cat, t0, span_us, TRUE, rand);
  nvr_catalog_close (cat);
  if (argc <= 2) {
    g_autofree char *wal = g_strconcat (path, "-wal", NULL);
    g_autofree char *shm = g_strconcat (path, "-shm", NULL);
    g_unlink (wal);
    g_unlink (shm);
    g_unlink (path);
    g_rmdir (dir);
  }
  return 0;
}
