/* Unit tests for timeline folding: continuous segments are one span, gaps are exact, the
 * output tiles the asked range, and the catalog query returns what overlaps the range. */
#include <glib/gstdio.h>

#include "catalog.h"
#include "timeline.h"

#define S ((gint64) G_USEC_PER_SEC)

static void
assert_spans (GArray *got, const NvrTimelineSpan *expect, guint n)
{
  g_assert_cmpuint (got->len, ==, n);
  for (guint i = 0; i < n; i++) {
    NvrTimelineSpan *g = &g_array_index (got, NvrTimelineSpan, i);
    g_assert_cmpint (g->start_us, ==, expect[i].start_us);
    g_assert_cmpint (g->end_us, ==, expect[i].end_us);
    g_assert_cmpint (g->recorded, ==, expect[i].recorded);
  }
}

static void
test_fold (void)
{
  const NvrTimelineSegment segs[] = {
    { 1, 10 * S, 20 * S, 0 },
    { 2, 20 * S + S / 10, 30 * S, 0 },   /* 0.1 s boundary: continuous */
    { 3, 40 * S, 50 * S, 0 },            /* 10 s gap before */
    { 4, 45 * S, 55 * S, 0 },            /* overlaps the previous one */
  };
  g_autoptr (GArray) a = nvr_timeline_spans (segs, 4, 0, 60 * S, S / 2);
  const NvrTimelineSpan expect[] = {
    { 0, 10 * S, FALSE }, { 10 * S, 30 * S, TRUE }, { 30 * S, 40 * S, FALSE },
    { 40 * S, 55 * S, TRUE }, { 55 * S, 60 * S, FALSE },
  };
  assert_spans (a, expect, G_N_ELEMENTS (expect));

  /* A window inside one segment is one recorded span; clipping at both ends. */
  g_autoptr (GArray) b = nvr_timeline_spans (segs, 4, 12 * S, 15 * S, S / 2);
  const NvrTimelineSpan inside[] = { { 12 * S, 15 * S, TRUE } };
  assert_spans (b, inside, 1);

  g_autoptr (GArray) c = nvr_timeline_spans (NULL, 0, 0, 5 * S, S / 2);
  const NvrTimelineSpan empty[] = { { 0, 5 * S, FALSE } };
  assert_spans (c, empty, 1);
}

static void
test_catalog_query (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("hearth-timeline-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "catalog.db", NULL);
  NvrCatalog *cat = nvr_catalog_open (path, &error);
  g_assert_no_error (error);
  NvrCameraRow row = { .name = "porch", .main_url = "rtsp://127.0.0.1/x" };
  NvrCameraRow row2 = { .name = "yard", .main_url = "rtsp://127.0.0.1/y" };
  gint64 cam = 0, cam2 = 0;
  g_assert_true (nvr_catalog_camera_add (cat, &row, 1, &cam, &error));
  g_assert_true (nvr_catalog_camera_add (cat, &row2, 1, &cam2, &error));
  for (int i = 0; i < 10; i++) {
    g_autofree char *p = g_strdup_printf ("recordings/1-porch/d/%d.mp4", i);
    g_autofree char *q = g_strdup_printf ("recordings/2-yard/d/%d.mp4", i);
    g_assert_true (nvr_catalog_segment_close (cat, cam, p, i * 60 * S, (i + 1) * 60 * S, 60 * S,
                                              100, &error));
    g_assert_true (nvr_catalog_segment_close (cat, cam2, q, i * 60 * S, (i + 1) * 60 * S,
                                              60 * S, 100, &error));
  }
  /* [90 s, 200 s) overlaps segments 1, 2 and 3 of this camera only. */
  g_autoptr (GArray) segs = nvr_catalog_timeline (cat, cam, 90 * S, 200 * S, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (segs->len, ==, 3);
  g_assert_cmpint (g_array_index (segs, NvrTimelineSegment, 0).start_us, ==, 60 * S);
  g_assert_cmpint (g_array_index (segs, NvrTimelineSegment, 2).start_us, ==, 180 * S);
  g_autoptr (GArray) none = nvr_catalog_timeline (cat, cam, 2000 * S, 3000 * S, &error);
  g_assert_cmpuint (none->len, ==, 0);
  nvr_catalog_close (cat);
  g_autofree char *wal = g_strconcat (path, "-wal", NULL);
  g_autofree char *shm = g_strconcat (path, "-shm", NULL);
  g_unlink (wal);
  g_unlink (shm);
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/timeline/fold", test_fold);
  g_test_add_func ("/timeline/catalog-query", test_catalog_query);
  return g_test_run ();
}
