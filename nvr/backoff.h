/* backoff — reconnect delays: exponential with full jitter, capped. Pure: the caller passes the
 * random draw, so tests are deterministic. Used by the worker (camera reconnects) and the
 * supervisor (worker restarts). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  gint64 initial_ms;   /* ceiling of the first retry's delay; > 0 */
  gint64 max_ms;       /* cap on the ceiling; >= initial_ms */
} NvrBackoffPolicy;

/* The ceiling for attempt @attempt (0-based): min(max, initial * 2^attempt). */
gint64 nvr_backoff_ceiling_ms (const NvrBackoffPolicy *policy, guint attempt);

/* Delay before attempt @attempt: uniform in [0, ceiling] given a uniform 32-bit @random. */
gint64 nvr_backoff_delay_ms (const NvrBackoffPolicy *policy, guint attempt, guint32 random);

G_END_DECLS
