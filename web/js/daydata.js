// daydata — one camera's day as the review pages need it: recorded spans (.../timeline), the
// files (.../segments, asked in quarters: the route answers at most 1000 rows) and the motion
// events (.../events). Every answer comes through the daemon's authorization for this device.

import { api } from './api.js';
import { DAY_US, mergeEvents, normaliseSegments, parseDayKey } from './review_core.js';

const SEGMENT_QUERY_US = 6 * 3600e6;

async function daySegments(camId, win) {
  const parts = [];
  for (let from = win.from; from < win.to; from += SEGMENT_QUERY_US) {
    const to = Math.min(win.to, from + SEGMENT_QUERY_US);
    parts.push(api(`cameras/${camId}/segments?from_us=${Math.floor(from)}&to_us=${Math.ceil(to)}`));
  }
  const seen = new Map();
  for (const r of await Promise.all(parts))
    for (const s of Array.isArray(r.segments) ? r.segments : []) seen.set(String(s.id), s);
  return [...seen.values()];
}

// {spans, segments (normalised), rows (the API's segment rows), events (merged form)} of
// @camera ({id, name}) for @day ({from, to}).
export async function loadCameraDay(camera, day) {
  const now = Date.now() * 1000;
  const camId = camera.id;
  const [tl, rows, evs] = await Promise.all([
    api(`cameras/${camId}/timeline?from_us=${Math.floor(day.from)}&to_us=${Math.ceil(Math.min(day.to, now + 60e6))}`),
    daySegments(camId, day),
    api(`cameras/${camId}/events?from_us=${Math.floor(day.from)}&to_us=${Math.ceil(day.to)}`),
  ]);
  const segments = normaliseSegments(rows, now);
  // The timeline's spans end at the last closed file; the one being recorded counts too.
  const spans = [...(tl.spans || []),
                 ...segments.filter((s) => s.recording).map((s) => ({ start_us: s.start, end_us: null }))];
  return { spans, segments, rows, events: mergeEvents([{ camera, events: evs.events }]) };
}

// The page's day picker (#day, #day-prev, #day-next): @getDay() is the shown {from, to},
// @setDay(us) shows the day holding us.
export function wireDayNav(getDay, setDay) {
  const input = document.getElementById('day');
  input.addEventListener('change', () => {
    const us = parseDayKey(input.value);
    if (us !== null) setDay(us);
  });
  document.getElementById('day-prev').addEventListener('click', () => setDay(getDay().from - DAY_US / 2));
  document.getElementById('day-next').addEventListener('click', () => setDay(getDay().to + DAY_US / 2));
}
