/* events — the pure pieces of motion events that the daemon and the worker share: per-camera
 * masks and zones as the catalog's JSON text and as the CLI's "x,y x,y ..." syntax, and the
 * MQTT `<prefix>/events` payload. No I/O, no clock; any thread. docs/design/motion.md "Wiring". */
#pragma once

#include <glib.h>

#include "motion.h"

G_BEGIN_DECLS

/* Parses "x,y x,y x,y ..." (3..NVR_MOTION_MAX_POINTS points, 0..1) into @out (name kept). */
gboolean nvr_events_polygon_parse (const char *text, NvrMotionPolygon *out, GError **error);

/* The catalog's text: a JSON array of {"name": s, "points": [[x, y], ...]}. "" or NULL = none.
 * Fills masks (@zones FALSE) or zones of @settings; does not validate ranges (callers run
 * nvr_motion_settings_validate). */
gboolean nvr_events_polygons_from_json (const char *json, gboolean zones,
                                        NvrMotionSettings *settings, GError **error);
char *nvr_events_polygons_to_json (const NvrMotionPolygon *polys, guint n);
/* The CLI's text of one polygon, "x,y x,y ..." (6 significant digits), or "NAME=x,y ..." for a
 * zone (@zone TRUE): what nvr_events_polygon_parse (after the "NAME=") reads back. */
char *nvr_events_polygon_to_text (const NvrMotionPolygon *polygon, gboolean zone);

/* One event as announced on MQTT; times in microseconds (end 0 while active). */
typedef struct {
  gint64 id;
  const char *camera;
  gint64 start_us, end_us;
  const char *const *zones;   /* NULL-terminated, in entry order */
  double score, area;
  gboolean has_thumbnail;
} NvrEventInfo;

/* {"type":@type,"before":{..}|null,"after":{..}} per DESIGN §5: id, camera, start_time,
 * end_time (seconds, float; null while active), zones, score, area, has_thumbnail. Never image
 * bytes, never a URL. @before may be NULL. */
char *nvr_events_payload (const char *type, const NvrEventInfo *before, const NvrEventInfo *after);

G_END_DECLS
