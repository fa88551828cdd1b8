/* timeline — a camera's recorded spans and the gaps between them over a time range. Pure: the
 * catalog supplies the segments (nvr_catalog_timeline), this folds them into spans and gaps. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  gint64 id;
  gint64 start_us;
  gint64 end_us;
  gint64 bytes;
} NvrTimelineSegment;

typedef struct {
  gint64 start_us;
  gint64 end_us;
  gboolean recorded;    /* a span covered by segments, else a gap */
} NvrTimelineSpan;

/* Folds @segments (ordered by start) into alternating recorded spans and gaps covering
 * [@from_us, @to_us). Two segments closer than @tolerance_us count as continuous (a segment
 * boundary is not a gap). Returns an array of NvrTimelineSpan. */
GArray *nvr_timeline_spans (const NvrTimelineSegment *segments, guint n, gint64 from_us,
                            gint64 to_us, gint64 tolerance_us);

G_END_DECLS
