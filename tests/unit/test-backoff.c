/* Unit tests for backoff: the ceiling doubles to the cap, and delays cover [0, ceiling]. */
#include "backoff.h"

static void
test_ceiling (void)
{
  NvrBackoffPolicy p = { 500, 30000 };
  gint64 expect[] = { 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000 };
  for (guint i = 0; i < G_N_ELEMENTS (expect); i++)
    g_assert_cmpint (nvr_backoff_ceiling_ms (&p, i), ==, expect[i]);
  g_assert_cmpint (nvr_backoff_ceiling_ms (&p, 1000), ==, 30000);
  g_assert_cmpint (nvr_backoff_ceiling_ms (&p, G_MAXUINT), ==, 30000);
}

static void
test_bounds (void)
{
  NvrBackoffPolicy p = { 500, 30000 };
  g_assert_cmpint (nvr_backoff_delay_ms (&p, 0, 0), ==, 0);
  g_assert_cmpint (nvr_backoff_delay_ms (&p, 0, G_MAXUINT32), ==, 500);
  g_assert_cmpint (nvr_backoff_delay_ms (&p, 10, G_MAXUINT32), ==, 30000);
  g_assert_cmpint (nvr_backoff_delay_ms (&p, 1, 0x80000000u), ==, 500);
}

/* Full jitter: 10,000 draws at a fixed attempt spread evenly over [0, ceiling]. */
static void
test_spread (void)
{
  NvrBackoffPolicy p = { 1000, 1000 };
  g_autoptr (GRand) rand = g_rand_new_with_seed (42);
  guint buckets[10] = { 0 };
  for (int i = 0; i < 10000; i++) {
    gint64 d = nvr_backoff_delay_ms (&p, 3, g_rand_int (rand));
    g_assert_cmpint (d, >=, 0);
    g_assert_cmpint (d, <=, 1000);
    buckets[MIN (d / 100, 9)]++;
  }
  for (int b = 0; b < 10; b++) {
    g_assert_cmpuint (buckets[b], >, 850);
    g_assert_cmpuint (buckets[b], <, 1150);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/backoff/ceiling", test_ceiling);
  g_test_add_func ("/backoff/bounds", test_bounds);
  g_test_add_func ("/backoff/spread", test_spread);
  return g_test_run ();
}
