/* health — what the household sees of the box's health (issue 11 item 5; docs/design/admin.md
 * "Health"): version, uptime, disk, the retention limits in force, per camera state, footage,
 * days kept, rate, reconnects today, last error; MQTT state and outbox backlog. One builder for
 * the web API's GET health and `nvr status`. Main loop only. The figures are pure functions
 * (nvr_health_rate), table-tested. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "catalog.h"
#include "config.h"
#include "mqtt.h"
#include "supervisor.h"

G_BEGIN_DECLS

/* Days of footage a camera holds and its bytes per day, from its complete segments' total and
 * the start of its oldest, at @now_us. *days_kept: (now - oldest) in days (0 without footage);
 * *bytes_per_day: bytes / days_kept, or -1 (unknown) with less than one hour of footage. */
void nvr_health_rate (gint64 bytes, gint64 oldest_start_us, gint64 now_us, double *days_kept,
                      gint64 *bytes_per_day);

/* How many days of footage the storage holds at the current rate: (footage + free bytes above
 * the reserve the retention keeps) / all cameras' bytes per day; bounded by max_age_days when
 * that is set; -1 when no rate is known. @usable_free_bytes may be negative (over the mark). */
double nvr_health_days_at_rate (gint64 footage_bytes, gint64 usable_free_bytes,
                                gint64 bytes_per_day, guint max_age_days);

typedef struct _NvrHealth NvrHealth;

/* All must outlive it; @mqtt may be NULL (no broker configured). @started_us: the daemon's
 * start (wall clock). Keeps a per-camera baseline of reconnects, re-taken at local midnight. */
NvrHealth *nvr_health_new (const NvrConfig *config, NvrCatalog *catalog, NvrSupervisor *sup,
                           NvrMqtt *mqtt, gint64 started_us);
void nvr_health_free (NvrHealth *health);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrHealth, nvr_health_free)

/* {"version","uptime_s","disk":{"path","total_bytes","free_bytes"},"retention":{"max_age_days",
 * "max_bytes","min_free_bytes","high_water_percent","event_days","days_at_current_rate"},
 * "cameras":[{"id","name","state","bytes","days_kept","bytes_per_day","reconnects_today",
 * "last_error","retention_days"}],"mqtt":{"state","outbox_backlog"}}. */
JsonNode *nvr_health_json (NvrHealth *health, gint64 now_us, GError **error);

G_END_DECLS
