/* backoff — exponential backoff with full jitter ("sleep = random(0, min(cap, base * 2^n))").
 * Pure; any thread. Full jitter spreads a storm of reconnecting cameras over the whole window. */
#include "backoff.h"

gint64
nvr_backoff_ceiling_ms (const NvrBackoffPolicy *policy, guint attempt)
{
  gint64 ceiling = MAX (policy->initial_ms, 1);
  for (guint i = 0; i < attempt && ceiling < policy->max_ms; i++)
    ceiling *= 2;
  return MIN (ceiling, MAX (policy->max_ms, 1));
}

gint64
nvr_backoff_delay_ms (const NvrBackoffPolicy *policy, guint attempt, guint32 random)
{
  gint64 ceiling = nvr_backoff_ceiling_ms (policy, attempt);
  /* Scale rather than modulo: no bias toward small delays. */
  return (gint64) (((guint64) random * (guint64) (ceiling + 1)) >> 32);
}
