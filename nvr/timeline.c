/* timeline — spans and gaps from ordered segments. Pure; any thread. Output spans are
 * non-overlapping, ordered, alternate recorded/gap, and exactly tile [from, to). */
#include "timeline.h"

static void
push (GArray *out, gint64 start, gint64 end, gboolean recorded)
{
  if (end <= start)
    return;
  if (out->len > 0) {
    NvrTimelineSpan *last = &g_array_index (out, NvrTimelineSpan, out->len - 1);
    if (last->recorded == recorded && last->end_us >= start) {
      last->end_us = MAX (last->end_us, end);
      return;
    }
  }
  NvrTimelineSpan s = { start, end, recorded };
  g_array_append_val (out, s);
}

GArray *
nvr_timeline_spans (const NvrTimelineSegment *segments, guint n, gint64 from_us, gint64 to_us,
                    gint64 tolerance_us)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (NvrTimelineSpan));
  gint64 cursor = from_us;      /* everything before this is already in the output */
  for (guint i = 0; i < n && cursor < to_us; i++) {
    gint64 s = MAX (segments[i].start_us, from_us);
    gint64 e = MIN (segments[i].end_us, to_us);
    if (e <= cursor)
      continue;
    if (s > cursor + tolerance_us)
      push (out, cursor, s, FALSE);
    else
      s = cursor;
    push (out, s, e, TRUE);
    cursor = e;
  }
  if (cursor < to_us)
    push (out, cursor, to_us, FALSE);
  return out;
}
