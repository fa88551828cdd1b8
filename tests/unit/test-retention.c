/* Unit tests for the retention planner: each rule alone, their order, event protection, the
 * space rules taking event footage last, windows running out, and no segment named twice. */
#include "retention.h"

#define MIN_US ((gint64) 60 * G_USEC_PER_SEC)
#define DAY_US (24 * 60 * MIN_US)
#define NOW (1000 * DAY_US)

/* n one-minute segments of @bytes each, the last ending at @last_end_us. */
static NvrRetentionSegment *
minutes (guint n, gint64 first_id, gint64 last_end_us, gint64 bytes)
{
  NvrRetentionSegment *s = g_new0 (NvrRetentionSegment, n);
  for (guint i = 0; i < n; i++) {
    s[i].id = first_id + i;
    s[i].end_us = last_end_us - (gint64) (n - 1 - i) * MIN_US;
    s[i].start_us = s[i].end_us - MIN_US;
    s[i].bytes = bytes;
  }
  return s;
}

static gint64
total (const NvrRetentionSegment *s, guint n)
{
  gint64 t = 0;
  for (guint i = 0; i < n; i++)
    t += s[i].bytes;
  return t;
}

static GArray *
ids (NvrRetentionPlan *p)
{
  GArray *a = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (guint i = 0; i < p->victims->len; i++)
    g_array_append_val (a, g_array_index (p->victims, NvrRetentionVictim, i).segment_id);
  return a;
}

static void
assert_ids (NvrRetentionPlan *p, const gint64 *expect, guint n)
{
  g_autoptr (GArray) got = ids (p);
  g_assert_cmpuint (got->len, ==, n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpint (g_array_index (got, gint64, i), ==, expect[i]);
}

/* Per-camera retention days (admin API `retention_days`) replace the global age, both ways. */
static void
test_max_age_table (void)
{
  static const struct { gint64 camera_days, global_days, expect_days; } cases[] = {
    { 0, 0, 0 },          /* neither: no age limit */
    { 0, 30, 30 },        /* the global limit */
    { 7, 30, 7 },         /* shorter override */
    { 90, 30, 90 },       /* longer override */
    { 5, 0, 5 },          /* override with no global limit */
    { -1, 30, 30 },       /* not set */
    { 99999, 0, 3650 },   /* clamped */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpint (nvr_retention_max_age_us (cases[i].camera_days, cases[i].global_days), ==,
                     cases[i].expect_days * DAY_US);
}

/* Two cameras with the same footage: one keeps 2 days (override), the other the global 5. */
static void
test_override_plan (void)
{
  /* 8 daily segments each, the newest ending 10 min from now: ids 1-8 (camera 1), 11-18. */
  NvrRetentionSegment a[8], b[8];
  for (guint i = 0; i < 8; i++) {
    gint64 end = NOW - (gint64) (7 - i) * DAY_US + 10 * MIN_US;   /* off the boundaries */
    a[i] = (NvrRetentionSegment) { 1 + i, end - MIN_US, end, 100, 0 };
    b[i] = (NvrRetentionSegment) { 11 + i, end - MIN_US, end, 100, 0 };
  }
  NvrRetentionCamera cams[2] = {
    { 1, nvr_retention_max_age_us (2, 5), 0, 800, a, 8 },
    { 2, nvr_retention_max_age_us (0, 5), 0, 800, b, 8 },
  };
  NvrRetentionGlobal g = { 0 };
  g_autoptr (NvrRetentionPlan) p = nvr_retention_plan (cams, 2, &g, NOW);
  /* Ended before now - 2 d: camera 1's ids 1..5; before now - 5 d: camera 2's 11, 12. */
  const gint64 expect[] = { 1, 2, 3, 4, 5, 11, 12 };
  assert_ids (p, expect, G_N_ELEMENTS (expect));
}

static void
test_nothing_to_do (void)
{
  g_autofree NvrRetentionSegment *s = minutes (10, 1, NOW, 100);
  NvrRetentionCamera cam = { 1, 30 * DAY_US, 0, total (s, 10), s, 10 };
  NvrRetentionGlobal g = { 0, 0, 90, 1000000, 900000, 0 };
  g_autoptr (NvrRetentionPlan) p = nvr_retention_plan (&cam, 1, &g, NOW);
  g_assert_cmpuint (p->victims->len, ==, 0);
  g_assert_false (p->window_exhausted);
}

static void
test_age (void)
{
  /* 10 segments, the last ending now: limit 5 minutes keeps the newest 5. */
  g_autofree NvrRetentionSegment *s = minutes (10, 1, NOW, 100);
  NvrRetentionCamera cam = { 1, 5 * MIN_US, 0, total (s, 10), s, 10 };
  NvrRetentionGlobal g = { 0 };
  g_autoptr (NvrRetentionPlan) p = nvr_retention_plan (&cam, 1, &g, NOW);
  const gint64 expect[] = { 1, 2, 3, 4, 5 };
  assert_ids (p, expect, 5);
  g_assert_cmpint (g_array_index (p->victims, NvrRetentionVictim, 0).reason, ==,
                   NVR_RETENTION_AGE);
  g_assert_cmpint (p->bytes_freed, ==, 500);
  g_assert_false (p->window_exhausted);
}

static void
test_age_protected (void)
{
  g_autofree NvrRetentionSegment *s = minutes (10, 1, NOW, 100);
  s[1].keep_until_us = NOW + DAY_US;   /* event footage kept longer */
  s[2].keep_until_us = NOW - 1;        /* protection already expired */
  NvrRetentionCamera cam = { 1, 5 * MIN_US, 0, total (s, 10), s, 10 };
  NvrRetentionGlobal g = { 0 };
  g_autoptr (NvrRetentionPlan) p = nvr_retention_plan (&cam, 1, &g, NOW);
  const gint64 expect[] = { 1, 3, 4, 5 };
  assert_ids (p, expect, 4);
}

static void
test_camera_bytes (void)
{
  g_autofree NvrRetentionSegment *s = minutes (10, 1, NOW, 100);
  NvrRetentionCamera cam = { 1, 0, 650, total (s, 10), s, 10 };
  NvrRetentionGlobal g = { 0 };
  g_autoptr (NvrRetentionPlan) p = nvr_retention_plan (&cam, 1, &g, NOW);
  const gint64 expect[] = { 1, 2, 3, 4 };
  assert_ids (p, expect, 4);
  g_assert_cmpint (g_array_index (p->victims, NvrRetentionVictim, 3).reason, ==,
                   NVR_RETENTION_CAMERA_BYTES);
}

/* Global cap: oldest first across cameras, interleaved by start time. */
static void
test_total_bytes_interleaved (void)
{
  g_autofree NvrRetentionSegment *a = minutes (4, 100, NOW, 100);
  g_autofree NvrRetentionSegment *b = minutes (4, 200, NOW - 30 * G_USEC_PER_SEC, 100);
  NvrRetentionCamera cams[] = {
    { 1, 0, 0, total (a, 4), a, 4 },
    { 2, 0, 0, total (b, 4), b, 4 },
  };
  NvrRetentionGlobal g = { .max_bytes = 500 };
  g_autoptr (NvrRetentionPlan) p = nvr_retention_plan (cams, 2, &g, NOW);
  /* b's segments start 30 s before a's: b1 a1 b2 */
  const gint64 expect[] = { 200, 100, 201 };
  assert_ids (p, expect, 3);
  g_assert_cmpint (g_array_index (p->victims, NvrRetentionVictim, 0).reason, ==,
                   NVR_RETENTION_TOTAL_BYTES);
}

static void
test_space (void)
{
  g_autofree NvrRetentionSegment *s = minutes (10, 1, NOW, 1000);
  s[0].keep_until_us = NOW + DAY_US;
  NvrRetentionCamera cam = { 1, 0, 0, total (s, 10), s, 10 };
  /* 100 kB disk, 8 kB free, must keep 10 kB free and stay under 90 %: need 2000 bytes. */
  NvrRetentionGlobal g = { 0, 10000, 90, 100000, 8000, 0 };
  g_autoptr (NvrRetentionPlan) p = nvr_retention_plan (&cam, 1, &g, NOW);
  const gint64 expect[] = { 2, 3 };   /* protected segment 1 is spared while others remain */
  assert_ids (p, expect, 2);
  g_assert_cmpint (p->bytes_short, ==, 0);
  g_assert_cmpint (g_array_index (p->victims, NvrRetentionVictim, 0).reason, ==,
                   NVR_RETENTION_SPACE);
}

static void
test_high_water (void)
{
  g_autofree NvrRetentionSegment *s = minutes (10, 1, NOW, 1000);
  NvrRetentionCamera cam = { 1, 0, 0, total (s, 10), s, 10 };
  /* 100 kB disk, 5 kB free (95 % used), mark 90 %: need 5000 bytes. */
  NvrRetentionGlobal g = { 0, 0, 90, 100000, 5000, 0 };
  g_autoptr (NvrRetentionPlan) p = nvr_retention_plan (&cam, 1, &g, NOW);
  g_assert_cmpuint (p->victims->len, ==, 5);
}

/* The reserve for writes before the next pass counts as used space. */
static void
test_reserve (void)
{
  g_autofree NvrRetentionSegment *s = minutes (10, 1, NOW, 1000);
  NvrRetentionCamera cam = { 1, 0, 0, total (s, 10), s, 10 };
  /* 89 % used, mark 90 %: fine alone, 3000 bytes short with a 4000-byte reserve. */
  NvrRetentionGlobal g = { 0, 0, 90, 100000, 11000, 0 };
  g_autoptr (NvrRetentionPlan) p = nvr_retention_plan (&cam, 1, &g, NOW);
  g_assert_cmpuint (p->victims->len, ==, 0);
  g.reserve_bytes = 4000;
  g_autoptr (NvrRetentionPlan) p2 = nvr_retention_plan (&cam, 1, &g, NOW);
  g_assert_cmpuint (p2->victims->len, ==, 3);
}

/* Space beats event protection once nothing else is left. */
static void
test_space_takes_events_last (void)
{
  g_autofree NvrRetentionSegment *s = minutes (3, 1, NOW, 1000);
  for (int i = 0; i < 3; i++)
    s[i].keep_until_us = NOW + DAY_US;
  s[2].keep_until_us = 0;
  NvrRetentionCamera cam = { 1, 0, 0, total (s, 3), s, 3 };
  NvrRetentionGlobal g = { 0, 3000, 0, 100000, 500, 0 };   /* need 2500 */
  g_autoptr (NvrRetentionPlan) p = nvr_retention_plan (&cam, 1, &g, NOW);
  const gint64 expect[] = { 3, 1, 2 };
  assert_ids (p, expect, 3);
  g_assert_false (g_array_index (p->victims, NvrRetentionVictim, 0).was_protected);
  g_assert_true (g_array_index (p->victims, NvrRetentionVictim, 1).was_protected);
  g_assert_cmpint (p->bytes_short, ==, 0);
}

/* Rules that need more than the window holds say so, and never invent ids. */
static void
test_window_exhausted (void)
{
  g_autofree NvrRetentionSegment *s = minutes (4, 1, NOW - DAY_US, 100);
  NvrRetentionCamera cam = { 1, 0, 0, 10000, s, 4 };   /* total larger than the window */
  NvrRetentionGlobal g = { .max_bytes = 1000 };
  g_autoptr (NvrRetentionPlan) p = nvr_retention_plan (&cam, 1, &g, NOW);
  g_assert_cmpuint (p->victims->len, ==, 4);
  g_assert_true (p->window_exhausted);

  NvrRetentionCamera old = { 1, MIN_US, 0, 10000, s, 4 };   /* whole window too old */
  NvrRetentionGlobal none = { 0 };
  g_autoptr (NvrRetentionPlan) p2 = nvr_retention_plan (&old, 1, &none, NOW);
  g_assert_cmpuint (p2->victims->len, ==, 4);
  g_assert_true (p2->window_exhausted);

  /* Disk full and nothing to delete: short, not crashing. */
  NvrRetentionGlobal full = { 0, 1000, 0, 10000, 0, 0 };
  g_autoptr (NvrRetentionPlan) p3 = nvr_retention_plan (NULL, 0, &full, NOW);
  g_assert_cmpuint (p3->victims->len, ==, 0);
  g_assert_cmpint (p3->bytes_short, ==, 1000);
}

/* All rules at once on random inputs: no duplicates, every victim comes from a window. */
static void
test_random_invariants (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (1234);
  for (int round = 0; round < 500; round++) {
    guint n = g_rand_int_range (rand, 1, 5);
    NvrRetentionCamera cams[5];
    NvrRetentionSegment *segs[5];
    GHashTable *known = g_hash_table_new (g_int64_hash, g_int64_equal);
    for (guint c = 0; c < n; c++) {
      guint k = g_rand_int_range (rand, 0, 30);
      segs[c] = minutes (k, 1000 * (c + 1), NOW - g_rand_int_range (rand, 0, 3) * DAY_US,
                         g_rand_int_range (rand, 1, 500));
      for (guint i = 0; i < k; i++) {
        if (g_rand_boolean (rand) && g_rand_boolean (rand))
          segs[c][i].keep_until_us = NOW + DAY_US;
        g_hash_table_add (known, &segs[c][i].id);
      }
      cams[c] = (NvrRetentionCamera) { c + 1, g_rand_boolean (rand) ? DAY_US : 0,
                                       g_rand_boolean (rand) ? 2000 : 0,
                                       total (segs[c], k) + g_rand_int_range (rand, 0, 500),
                                       segs[c], k };
    }
    NvrRetentionGlobal g = { g_rand_boolean (rand) ? 3000 : 0, g_rand_int_range (rand, 0, 5000),
                             g_rand_int_range (rand, 0, 100), 20000,
                             g_rand_int_range (rand, 0, 20000), g_rand_int_range (rand, 0, 3000) };
    g_autoptr (NvrRetentionPlan) p = nvr_retention_plan (cams, n, &g, NOW);
    GHashTable *seen = g_hash_table_new (g_int64_hash, g_int64_equal);
    gint64 freed = 0;
    for (guint i = 0; i < p->victims->len; i++) {
      NvrRetentionVictim *v = &g_array_index (p->victims, NvrRetentionVictim, i);
      g_assert_true (g_hash_table_contains (known, &v->segment_id));
      g_assert_false (g_hash_table_contains (seen, &v->segment_id));
      g_hash_table_add (seen, &v->segment_id);
      freed += v->bytes;
      /* Event footage only ever goes for space. */
      if (v->was_protected)
        g_assert_cmpint (v->reason, ==, NVR_RETENTION_SPACE);
    }
    g_assert_cmpint (freed, ==, p->bytes_freed);
    g_hash_table_unref (seen);
    g_hash_table_unref (known);
    for (guint c = 0; c < n; c++)
      g_free (segs[c]);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/retention/nothing", test_nothing_to_do);
  g_test_add_func ("/retention/max-age-table", test_max_age_table);
  g_test_add_func ("/retention/override-plan", test_override_plan);
  g_test_add_func ("/retention/age", test_age);
  g_test_add_func ("/retention/age-protected", test_age_protected);
  g_test_add_func ("/retention/camera-bytes", test_camera_bytes);
  g_test_add_func ("/retention/total-bytes-interleaved", test_total_bytes_interleaved);
  g_test_add_func ("/retention/space", test_space);
  g_test_add_func ("/retention/high-water", test_high_water);
  g_test_add_func ("/retention/reserve", test_reserve);
  g_test_add_func ("/retention/space-takes-events-last", test_space_takes_events_last);
  g_test_add_func ("/retention/window-exhausted", test_window_exhausted);
  g_test_add_func ("/retention/random-invariants", test_random_invariants);
  return g_test_run ();
}
