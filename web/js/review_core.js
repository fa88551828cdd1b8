// review_core — the pure part of the review pages (no DOM, no fetch): the day window in the
// browser's time zone, time <-> position on the timeline bar, which recording plays at a wall
// time, and the events list (merge, filter, page). Times are wall-clock microseconds (numbers;
// doubles hold every µs of the next 285 years exactly). Unit-tested in node
// (tests/e2e/test_review_core.mjs).

export const HOUR_US = 3600e6;
export const DAY_US = 24 * HOUR_US;
// Boundaries closer than this are continuous footage (the daemon's timeline uses 1 s too).
export const CONTINUOUS_US = 1e6;

// [start, end) of the local day holding @us; a day is 23 or 25 hours at a DST change.
export function dayWindow(us) {
  const d = new Date(us / 1000);
  const start = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const end = new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1);
  return { from: start.getTime() * 1000, to: end.getTime() * 1000 };
}

// "2026-12-02" of the local day holding @us (the value of an <input type=date>).
export function dayKey(us) {
  const d = new Date(us / 1000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

// The local midnight of "YYYY-MM-DD" in µs, or null.
export function parseDayKey(key) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(key));
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (d.getFullYear() !== Number(m[1]) || d.getMonth() !== Number(m[2]) - 1 ||
      d.getDate() !== Number(m[3]))
    return null;
  return d.getTime() * 1000;
}

// A window of @length around @center, kept inside [bounds.from, bounds.to).
export function zoomWindow(center, length, bounds) {
  const len = Math.min(length, bounds.to - bounds.from);
  let from = center - len / 2;
  from = Math.max(bounds.from, Math.min(from, bounds.to - len));
  return { from, to: from + len };
}

// Fraction 0..1 of @us along @win (clamped).
export function fractionOf(us, win) {
  const f = (us - win.from) / (win.to - win.from);
  return Math.max(0, Math.min(1, f));
}

// The wall time at fraction @f (clamped) of @win, rounded to the ms.
export function timeAt(f, win) {
  const c = Math.max(0, Math.min(1, f));
  return Math.round((win.from + c * (win.to - win.from)) / 1000) * 1000;
}

// [{left, width}] in % of the bar for intervals [{start_us, end_us}] clipped to @win; an
// interval still open (end_us null) runs to @now. Widths are at least @minPct so a short event
// stays visible.
export function placeIntervals(items, win, now, minPct = 0) {
  const out = [];
  for (const it of items) {
    const s = Number(it.start_us);
    const e = it.end_us === null || it.end_us === undefined ? now : Number(it.end_us);
    if (!(e > s && e > win.from && s < win.to)) continue;
    const left = fractionOf(s, win) * 100;
    const right = fractionOf(e, win) * 100;
    out.push({ item: it, left, width: Math.max(minPct, right - left) });
  }
  return out;
}

// Hour ticks inside @win: [{us, label}] at every @stepHours local hour.
export function hourTicks(win, stepHours) {
  const ticks = [];
  const d = new Date(win.from / 1000);
  d.setMinutes(0, 0, 0);
  if (d.getTime() * 1000 < win.from) d.setHours(d.getHours() + 1);
  for (let guard = 0; guard < 60 && d.getTime() * 1000 < win.to; guard++) {
    if (d.getHours() % stepHours === 0)
      ticks.push({ us: d.getTime() * 1000, label: `${String(d.getHours()).padStart(2, '0')}:00` });
    d.setHours(d.getHours() + 1);
  }
  return ticks;
}

// Segments (the API's rows) in start order with numeric times; a row still recording ends at
// @now. Rows without a decimal id are dropped.
export function normaliseSegments(rows, now) {
  return rows
    .filter((r) => /^[1-9][0-9]{0,17}$/.test(String(r.id)))
    .map((r) => ({
      id: String(r.id),
      start: Number(r.start_us),
      end: r.recording || r.end_us === null || r.end_us === undefined
        ? Math.max(Number(r.start_us), now) : Number(r.end_us),
      recording: Boolean(r.recording),
    }))
    .sort((a, b) => a.start - b.start);
}

// What plays at wall time @t: {segment, offset_us} inside a segment, or the next segment after
// a gap ({segment, offset_us: 0, skipped: {from, to}}), or null past the last recording.
export function locate(segments, t) {
  for (const s of segments) {
    if (t < s.start) return { segment: s, offset_us: 0, skipped: { from: t, to: s.start } };
    if (t < s.end) return { segment: s, offset_us: t - s.start, skipped: null };
  }
  return null;
}

// The segment that plays after @current, and the gap before it (null when continuous).
export function following(segments, current) {
  const i = segments.findIndex((s) => s.id === current.id);
  if (i < 0 || i + 1 >= segments.length) return null;
  const next = segments[i + 1];
  const gap = next.start - current.end > CONTINUOUS_US ? { from: current.end, to: next.start } : null;
  return { segment: next, gap };
}

// Events of several cameras ({camera: {id, name}, events: [...]}) as one list, newest first,
// each with camera id and name.
export function mergeEvents(perCamera) {
  const out = [];
  for (const { camera, events } of perCamera) {
    for (const e of events || []) {
      if (!/^[1-9][0-9]{0,17}$/.test(String(e.id))) continue;
      out.push({
        id: String(e.id),
        camera_id: String(camera.id),
        camera: camera.name,
        start_us: Number(e.start_us),
        end_us: e.end_us === null || e.end_us === undefined ? null : Number(e.end_us),
        zones: Array.isArray(e.zones) ? e.zones.map(String) : [],
        has_thumbnail: Boolean(e.has_thumbnail),
      });
    }
  }
  // Newest first; ties by camera then id, so the order is stable between refreshes.
  out.sort((a, b) => b.start_us - a.start_us || a.camera_id.localeCompare(b.camera_id) ||
                     Number(b.id) - Number(a.id));
  return out;
}

// The events matching @filter ({camera: id or '', zone: name or ''}).
export function filterEvents(events, filter) {
  return events.filter((e) => (!filter.camera || e.camera_id === String(filter.camera)) &&
                              (!filter.zone || e.zones.includes(filter.zone)));
}

// Every zone name among @events, sorted.
export function zonesOf(events) {
  return [...new Set(events.flatMap((e) => e.zones))].sort();
}

// Page @page (0-based) of @size items: {items, page, pages}; @page is clamped.
export function pageOf(items, page, size) {
  const pages = Math.max(1, Math.ceil(items.length / size));
  const p = Math.max(0, Math.min(page, pages - 1));
  return { items: items.slice(p * size, (p + 1) * size), page: p, pages };
}

// Where a review opened from an event starts: a few seconds before it.
export const EVENT_PREROLL_US = 5e6;

// "cam1-2026-12-02T14-03-07" for file names (local time, no characters a file system refuses).
export function frameFileName(camera, us) {
  const d = new Date(us / 1000);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  const safe = String(camera).replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 32) || 'camera';
  return `${safe}-${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T` +
         `${p(d.getHours())}-${p(d.getMinutes())}-${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

// Longest clip the daemon exports (NVR_EXPORT_MAX_RANGE_US).
export const EXPORT_MAX_US = 2 * HOUR_US;

// "HH:MM:SS" of @us in local time (the value of an <input type=time step=1>).
export function timeKey(us) {
  const d = new Date(us / 1000);
  const p = (n) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// The wall time of "HH:MM[:SS]" on the local day starting at @dayFrom, or null.
export function parseTimeKey(dayFrom, key) {
  const m = /^(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(String(key));
  if (!m) return null;
  const [h, min, s] = [Number(m[1]), Number(m[2]), Number(m[3] || 0)];
  if (h > 23 || min > 59 || s > 59) return null;
  const d = new Date(dayFrom / 1000);
  d.setHours(h, min, s, 0);
  return d.getTime() * 1000;
}

// The export range for the form, or {error}: @from < @to, at most EXPORT_MAX_US.
export function exportRange(from, to) {
  if (from === null || to === null) return { error: 'Give a start and an end time.' };
  if (to <= from) return { error: 'The end must come after the start.' };
  if (to - from > EXPORT_MAX_US) return { error: 'A clip is at most 2 hours long.' };
  return { from: Math.floor(from), to: Math.ceil(to) };
}
