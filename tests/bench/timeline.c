/* bench/timeline — the catalog's timeline query on a realistic catalog: 16 cameras x 30 days of
 * 60 s segments (691,200 rows). Prints query latency percentiles for 1-hour and 1-day windows.
 * Run on demand: `meson test -C BUILD --benchmark timeline` or the binary directly
 * (`bench-timeline [DIR]`). Goal (issue #3): <= 20 ms per query. */
#include <glib/gstdio.h>
#include <stdio.h>

#include "catalog.h"
#include "timeline.h"

#define CAMERAS 16
#define DAYS 30
#define SEG_S 60
#define QUERIES 500

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static void
run_queries (NvrCatalog *cat, gint64 t0, gint64 window_us, const char *label, GRand *rand)
{
  double ms[QUERIES];
  guint64 segs = 0, spans = 0;
  for (int q = 0; q < QUERIES; q++) {
    gint64 cam = g_rand_int_range (rand, 1, CAMERAS + 1);
    gint64 span_us = (gint64) DAYS * 86400 * G_USEC_PER_SEC - window_us;
    gint64 from = t0 + (gint64) (g_rand_double (rand) * (double) span_us);
    gint64 start = g_get_monotonic_time ();
    g_autoptr (GError) error = NULL;
    g_autoptr (GArray) s = nvr_catalog_timeline (cat, cam, from, from + window_us, &error);
    g_assert_no_error (error);
    g_autoptr (GArray) t = nvr_timeline_spans ((NvrTimelineSegment *) s->data, s->len, from,
                                               from + window_us, G_USEC_PER_SEC);
    ms[q] = (g_get_monotonic_time () - start) / 1000.0;
    segs += s->len;
    spans += t->len;
  }
  qsort (ms, QUERIES, sizeof ms[0], cmp_double);
  printf ("%-8s window: %d queries, %.0f segments/query, p50 %.2f ms, p95 %.2f ms, max %.2f ms "
          "(goal <= 20 ms)\n", label, QUERIES, (double) segs / QUERIES, ms[QUERIES / 2],
          ms[QUERIES * 95 / 100], ms[QUERIES - 1]);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = argc > 1 ? g_strdup (argv[1])
                                   : g_dir_make_tmp ("hearth-bench-timeline-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (dir, "catalog.db", NULL);
  g_unlink (path);
  NvrCatalog *cat = nvr_catalog_open (path, &error);
  g_assert_no_error (error);

  gint64 t0 = G_GINT64_CONSTANT (1795000000) * G_USEC_PER_SEC;
  gint64 per_cam = (gint64) DAYS * 86400 / SEG_S;
  gint64 fill_start = g_get_monotonic_time ();
  for (int c = 1; c <= CAMERAS; c++) {
    g_autofree char *name = g_strdup_printf ("cam%d", c);
    NvrCameraRow row = { .name = name, .main_url = "rtsp://127.0.0.1/x" };
    gint64 id = 0;
    g_assert_true (nvr_catalog_camera_add (cat, &row, 1, &id, &error));
  }
  /* Rows go in through the same statements the daemon uses, one transaction per day. */
  for (gint64 i = 0; i < per_cam; i++) {
    if (i % (86400 / SEG_S) == 0) {
      if (i > 0)
        g_assert_true (nvr_catalog_commit (cat, &error));
      fprintf (stderr, "\rfilling: day %" G_GINT64_FORMAT "/%d", i / (86400 / SEG_S) + 1, DAYS);
      g_assert_true (nvr_catalog_begin (cat, &error));
    }
    for (int c = 1; c <= CAMERAS; c++) {
      char p[96];
      g_snprintf (p, sizeof p, "recordings/%d-cam%d/%" G_GINT64_FORMAT ".mp4", c, c, i);
      gint64 s = t0 + i * SEG_S * G_USEC_PER_SEC + c * 1000;
      g_assert_true (nvr_catalog_segment_close (cat, c, p, s, s + SEG_S * G_USEC_PER_SEC,
                                                SEG_S * G_USEC_PER_SEC, 500000, &error));
    }
  }
  g_assert_true (nvr_catalog_commit (cat, &error));
  fprintf (stderr, "\n");
  printf ("catalog: %d cameras x %d days of %d s segments = %" G_GINT64_FORMAT
          " rows, filled in %.1f s\n", CAMERAS, DAYS, SEG_S, per_cam * CAMERAS,
          (g_get_monotonic_time () - fill_start) / 1e6);

  g_autoptr (GRand) rand = g_rand_new_with_seed (2024);
  run_queries (cat, t0, (gint64) 3600 * G_USEC_PER_SEC, "1-hour", rand);
  run_queries (cat, t0, (gint64) 86400 * G_USEC_PER_SEC, "1-day", rand);
  nvr_catalog_close (cat);
  if (argc <= 1) {
    g_autofree char *wal = g_strconcat (path, "-wal", NULL);
    g_autofree char *shm = g_strconcat (path, "-shm", NULL);
    g_unlink (wal);
    g_unlink (shm);
    g_unlink (path);
    g_rmdir (dir);
  }
  return 0;
}
