// test_review_core — table tests of web/js/review_core.js (the review pages' pure part) under
// node's test runner. Runs in Europe/Berlin so the day windows meet a DST change.

process.env.TZ = 'Europe/Berlin';

const assert = (await import('node:assert/strict')).default;
const { test } = await import('node:test');
const core = await import('../../web/js/review_core.js');
const { DAY_US, HOUR_US, dayKey, dayWindow, filterEvents, following, fractionOf, frameFileName,
        hourTicks, locate, mergeEvents, normaliseSegments, pageOf, parseDayKey, placeIntervals,
        timeAt, zonesOf, zoomWindow } = core;

const at = (s) => new Date(s).getTime() * 1000;   // local time string -> µs

test('a day is local midnight to midnight, 23 or 25 hours at DST changes', () => {
  const d = dayWindow(at('2026-12-02T14:03:07'));
  assert.equal(d.from, at('2026-12-02T00:00:00'));
  assert.equal(d.to - d.from, DAY_US);
  assert.equal(dayKey(d.from), '2026-12-02');
  const spring = dayWindow(at('2026-03-29T12:00:00'));
  assert.equal(spring.to - spring.from, 23 * HOUR_US);
  const autumn = dayWindow(at('2026-10-25T12:00:00'));
  assert.equal(autumn.to - autumn.from, 25 * HOUR_US);
  // The last µs of a day is still that day; midnight is the next.
  assert.equal(dayWindow(d.to - 1).from, d.from);
  assert.equal(dayWindow(d.to).from, d.to);
});

test('day keys parse back and refuse what is not a date', () => {
  assert.equal(parseDayKey('2026-12-02'), at('2026-12-02T00:00:00'));
  for (const bad of ['2026-02-30', '2026-13-01', '26-12-02', '2026-12-2', '', 'today', null])
    assert.equal(parseDayKey(bad), null, String(bad));
});

test('positions and times on the bar are inverse and clamped', () => {
  const win = { from: 1000e6, to: 1000e6 + HOUR_US };
  assert.equal(fractionOf(win.from, win), 0);
  assert.equal(fractionOf(win.to, win), 1);
  assert.equal(fractionOf(win.from - 5, win), 0);
  assert.equal(fractionOf(win.to + 5, win), 1);
  assert.equal(timeAt(0.5, win), win.from + HOUR_US / 2);
  assert.equal(timeAt(-1, win), win.from);
  assert.equal(timeAt(2, win), win.to);
  for (const f of [0, 0.1, 0.333, 0.9])
    assert.ok(Math.abs(fractionOf(timeAt(f, win), win) - f) < 1e-6);
});

test('zoom windows stay inside the day', () => {
  const day = { from: 0, to: DAY_US };
  assert.deepEqual(zoomWindow(12 * HOUR_US, HOUR_US, day), { from: 11.5 * HOUR_US, to: 12.5 * HOUR_US });
  assert.deepEqual(zoomWindow(10e6, HOUR_US, day), { from: 0, to: HOUR_US });
  assert.deepEqual(zoomWindow(DAY_US - 1, HOUR_US, day), { from: DAY_US - HOUR_US, to: DAY_US });
  assert.deepEqual(zoomWindow(5, 2 * DAY_US, day), day);
});

test('intervals are clipped to the window; open ones run to now; short ones get a minimum width', () => {
  const win = { from: 0, to: 100e6 };
  const items = [
    { start_us: -50e6, end_us: 10e6 },     // starts before the window
    { start_us: 40e6, end_us: 41e6 },      // 1 % wide
    { start_us: 90e6, end_us: null },      // still going: ends at now
    { start_us: 200e6, end_us: 300e6 },    // outside
    { start_us: 50e6, end_us: 50e6 },      // empty
  ];
  const placed = placeIntervals(items, win, 95e6, 2);
  assert.deepEqual(placed.map((p) => [p.left, p.width]), [[0, 10], [40, 2], [90, 5]]);
});

test('hour ticks fall on local hours inside the window', () => {
  const d = dayWindow(at('2026-12-02T12:00:00'));
  const ticks = hourTicks(d, 3);
  assert.deepEqual(ticks.map((t) => t.label),
                   ['00:00', '03:00', '06:00', '09:00', '12:00', '15:00', '18:00', '21:00']);
  assert.equal(ticks[0].us, d.from);
  const spring = hourTicks(dayWindow(at('2026-03-29T12:00:00')), 1);
  assert.equal(spring.length, 23);
  assert.ok(!spring.some((t) => t.label === '02:00'));
});

const rows = [
  { id: 3, start_us: 120e6, end_us: 180e6, recording: false },
  { id: 1, start_us: 0, end_us: 60e6, recording: false },
  { id: 2, start_us: 60e6 + 0.5e6, end_us: 120e6, recording: false },  // continuous (0.5 s)
  { id: 4, start_us: 300e6, end_us: null, recording: true },           // after a gap, open
  { id: 'x', start_us: 5, end_us: 6 },                                  // not an id: dropped
];

test('segments are ordered, open ones end at now, bad ids dropped', () => {
  const segs = normaliseSegments(rows, 330e6);
  assert.deepEqual(segs.map((s) => s.id), ['1', '2', '3', '4']);
  assert.equal(segs[3].end, 330e6);
  assert.equal(segs[3].recording, true);
});

test('locate finds the file and offset, or the next file after a gap', () => {
  const segs = normaliseSegments(rows, 330e6);
  assert.deepEqual(locate(segs, 30e6), { segment: segs[0], offset_us: 30e6, skipped: null });
  assert.deepEqual(locate(segs, 60.2e6), { segment: segs[1], offset_us: 0, skipped: { from: 60.2e6, to: 60.5e6 } });
  assert.deepEqual(locate(segs, 200e6), { segment: segs[3], offset_us: 0, skipped: { from: 200e6, to: 300e6 } });
  assert.deepEqual(locate(segs, 310e6), { segment: segs[3], offset_us: 10e6, skipped: null });
  assert.equal(locate(segs, 330e6), null);
  assert.equal(locate([], 0), null);
});

test('following reports gaps longer than a second only', () => {
  const segs = normaliseSegments(rows, 330e6);
  assert.deepEqual(following(segs, segs[0]), { segment: segs[1], gap: null });
  assert.deepEqual(following(segs, segs[2]), { segment: segs[3], gap: { from: 180e6, to: 300e6 } });
  assert.equal(following(segs, segs[3]), null);
});

test('events of several cameras merge newest first, filter and page', () => {
  const merged = mergeEvents([
    { camera: { id: 1, name: 'door' }, events: [
      { id: 10, start_us: 100, end_us: 200, zones: ['path'], has_thumbnail: true },
      { id: 11, start_us: 300, end_us: null, zones: [], has_thumbnail: false },
      { id: 'bad', start_us: 1 }] },
    { camera: { id: 2, name: 'yard' }, events: [
      { id: 12, start_us: 300, end_us: 400, zones: ['gate', 'path'] },
      { id: 13, start_us: 50, end_us: 60, zones: 'not a list' }] },
  ]);
  assert.deepEqual(merged.map((e) => `${e.camera}:${e.id}`), ['door:11', 'yard:12', 'door:10', 'yard:13']);
  assert.equal(merged[0].end_us, null);
  assert.deepEqual(merged[3].zones, []);
  assert.deepEqual(zonesOf(merged), ['gate', 'path']);
  assert.deepEqual(filterEvents(merged, { camera: '2', zone: '' }).map((e) => e.id), ['12', '13']);
  assert.deepEqual(filterEvents(merged, { camera: '', zone: 'path' }).map((e) => e.id), ['12', '10']);
  assert.deepEqual(filterEvents(merged, { camera: '1', zone: 'gate' }), []);
  const items = Array.from({ length: 45 }, (_, i) => i);
  assert.deepEqual(pageOf(items, 0, 20).items.length, 20);
  assert.deepEqual(pageOf(items, 2, 20), { items: [40, 41, 42, 43, 44], page: 2, pages: 3 });
  assert.equal(pageOf(items, 9, 20).page, 2);
  assert.equal(pageOf(items, -3, 20).page, 0);
  assert.deepEqual(pageOf([], 0, 20), { items: [], page: 0, pages: 1 });
});

test('frame file names carry camera and local time, nothing a file system refuses', () => {
  assert.equal(frameFileName('door', at('2026-12-02T14:03:07.045')), 'door-2026-12-02T14-03-07.045');
  assert.equal(frameFileName('../x y', at('2026-12-02T00:00:00')), '___x_y-2026-12-02T00-00-00.000');
  assert.match(frameFileName('', 0), /^camera-/);
});

test('export ranges come from the form times of the day and are bounded', () => {
  const { exportRange, parseTimeKey, timeKey } = core;
  const day = at('2026-12-02T00:00:00');
  assert.equal(parseTimeKey(day, '14:03:07'), at('2026-12-02T14:03:07'));
  assert.equal(parseTimeKey(day, '14:03'), at('2026-12-02T14:03:00'));
  for (const bad of ['24:00', '12:60', '1:02', 'noon', ''])
    assert.equal(parseTimeKey(day, bad), null, bad);
  assert.equal(timeKey(at('2026-12-02T09:05:03.900')), '09:05:03');
  assert.deepEqual(exportRange(10e6, 70e6), { from: 10e6, to: 70e6 });
  assert.match(exportRange(70e6, 10e6).error, /after the start/);
  assert.match(exportRange(0, 2 * HOUR_US + 1).error, /2 hours/);
  assert.deepEqual(exportRange(0, 2 * HOUR_US), { from: 0, to: 2 * HOUR_US });
  assert.match(exportRange(null, 5).error, /start and an end/);
});
