/* Unit tests for the health report's figures (nvr/health.c): days of footage kept and bytes per
 * day per camera, and days of footage the storage holds at the current rate. */
#include "health.h"

#define HOUR_US ((gint64) 3600 * G_USEC_PER_SEC)
#define DAY_US (24 * HOUR_US)
#define NOW (1000 * DAY_US)

static void
test_rate (void)
{
  static const struct {
    gint64 bytes, oldest_us;
    double days;
    gint64 per_day;
  } cases[] = {
    { 0, 0, 0, -1 },                          /* no footage */
    { 1000, 0, 0, -1 },                       /* no oldest segment */
    { 1000, NOW + 1, 0, -1 },                 /* clock went back: nothing claimed */
    { 1000, NOW - HOUR_US / 2, 1.0 / 48, -1 },/* under an hour: no rate yet */
    { 24000, NOW - HOUR_US, 1.0 / 24, 576000 },
    { 7000, NOW - 7 * DAY_US, 7, 1000 },
    { 3000000000000, NOW - 30 * DAY_US, 30, 100000000000 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    double days;
    gint64 per_day;
    nvr_health_rate (cases[i].bytes, cases[i].oldest_us, NOW, &days, &per_day);
    if (ABS (days - cases[i].days) > 1e-9 || per_day != cases[i].per_day)
      g_error ("case %u: days %f per day %" G_GINT64_FORMAT ", want %f %" G_GINT64_FORMAT, i,
               days, per_day, cases[i].days, cases[i].per_day);
  }
}

static void
test_days_at_rate (void)
{
  static const struct {
    gint64 footage, usable, per_day;
    guint max_age;
    double want;
  } cases[] = {
    { 1000, 1000, 0, 0, -1 },        /* no rate */
    { 1000, 1000, -1, 0, -1 },
    { 1000, 9000, 1000, 0, 10 },     /* footage + usable free */
    { 1000, -500, 1000, 0, 1 },      /* over the mark: what is there */
    { 1000, 9000, 1000, 7, 7 },      /* the age limit binds */
    { 1000, 9000, 1000, 30, 10 },    /* the age limit is looser */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    double got = nvr_health_days_at_rate (cases[i].footage, cases[i].usable, cases[i].per_day,
                                          cases[i].max_age);
    if (ABS (got - cases[i].want) > 1e-9)
      g_error ("case %u: %f, want %f", i, got, cases[i].want);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/health/rate", test_rate);
  g_test_add_func ("/health/days-at-rate", test_days_at_rate);
  return g_test_run ();
}
