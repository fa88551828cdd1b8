// bench/playback — the browser half of tests/bench/playback.py (which sets BENCH_*): pairs a
// device through pair.html, times the review routes with fetch() in the page, and times the real
// camera page: click on the day bar -> first frame painted, seek inside the loaded hour -> frame
// painted, hover on the hour bar -> preview frame. Every time is taken in the page, from the
// input event's timeStamp to a requestVideoFrameCallback (or the preview canvas arriving in the
// tip), so node <-> browser round trips are not counted. Prints progress, then one RESULT line.

import { launch } from '../e2e/lib.mjs';

const E = (n) => process.env[n];
const ORIGIN = E('BENCH_ORIGIN');
const CAMS = E('BENCH_CAMERAS').split(',');
const START_US = Number(E('BENCH_START_US'));
const END_US = Number(E('BENCH_END_US'));
const VISITS = Number(E('BENCH_VISITS'));
const SEEKS = Number(E('BENCH_SEEKS'));
const SCRUBS = Number(E('BENCH_SCRUBS'));
const API_REPS = Number(E('BENCH_API_REPS'));
const log = (...a) => console.log(...a);

let seed = 2026;
const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const HOUR = 3600e6;

let net = [];
let lastFrameEpoch = 0;
const out = { timeline: [], playlist: [], first_frame: [], seek: [], scrub: [], scrub_same: [],
              scrub_new: [], seek_buffered: [], seek_unbuffered: [], playlist_fetch: [], players: [], browser: '' };

async function barPoint(page, us) {
  return page.evaluate((t) => {
    const bar = document.querySelector('.tl-bar');
    const r = bar.getBoundingClientRect();
    const f = (t - Number(bar.dataset.from)) / (Number(bar.dataset.to) - Number(bar.dataset.from));
    return { x: r.left + f * r.width, y: r.top + r.height / 2, usPerPx: (Number(bar.dataset.to) - Number(bar.dataset.from)) / r.width };
  }, us);
}

// Arms the page: the next pointerup on the bar, then the first frame presented after it whose
// media time is where the player seeked to (any frame, if @anyFrame: the page had none).
function arm(page, anyFrame) {
  return page.evaluate((any) => {
    const m = { up: null, seeking: null, target: null, frame: null, playing: null };
    window.__m = m;
    document.querySelector('.tl-bar').addEventListener('pointerup', (e) => { m.up = e.timeStamp; },
                                                       { capture: true, once: true });
    for (const v of document.querySelectorAll('#player video.review')) {
      v.addEventListener('seeking', () => {
        if (m.up === null) return;
        m.seeking = performance.now();
        m.target = v.currentTime;
        // Whether the player already held the place asked for (or has to fetch it first).
        m.buffered = false;
        for (let i = 0; i < v.buffered.length; i++)
          if (v.buffered.start(i) <= m.target && m.target < v.buffered.end(i) - 0.1) m.buffered = true;
      });
      v.addEventListener('playing', () => { if (m.up !== null && m.playing === null) m.playing = performance.now(); });
      const cb = (now, meta) => {
        if (m.frame !== null) return;
        if (m.up !== null && (any ? true : m.seeking !== null && Math.abs(meta.mediaTime - m.target) < 0.5)) {
          m.frame = now;
          m.mediaTime = meta.mediaTime;
          return;
        }
        v.requestVideoFrameCallback(cb);
      };
      v.requestVideoFrameCallback(cb);
    }
  }, anyFrame);
}

async function clickAndWait(page, t, anyFrame) {
  await arm(page, anyFrame);
  const p = await barPoint(page, t);
  await page.mouse.click(p.x, p.y);
  await page.waitForFunction(() => window.__m.frame !== null, null, { timeout: 20000 });
  const m = await page.evaluate(() => ({ ...window.__m, origin: performance.timeOrigin }));
  lastFrameEpoch = m.origin + m.frame;
  // The clock the page shows must be where the click asked (within 3 px of the bar).
  await page.waitForFunction(({ t, tol }) => Math.abs(Number(document.getElementById('clock').dataset.wallUs || 0) - t) < tol,
                             { t, tol: 3 * p.usPerPx + 2e6 }, { timeout: 10000 });
  return { ms: m.frame - m.up, buffered: Boolean(m.buffered) };
}

const browser = await launch();
try {
  out.browser = browser.version();
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  // Media requests (.../segments/N/media, byte ranges) finished, for the scrub and first-frame
  // evidence: [url path, Range, body bytes, ms].
  const onRequest = (failed) => async (r) => {
    const u = new URL(r.url());
    if (!/\/segments\/\d+\/media|playlist\.m3u8/.test(u.pathname)) return;
    const sizes = await r.sizes().catch(() => null);
    const h = await r.allHeaders().catch(() => ({}));
    const tm = r.timing();
    net.push({ path: u.pathname.replace(/^\/api\/v1\/cameras\//, ''), range: h.range || '',
               type: r.resourceType(), bytes: sizes ? sizes.responseBodySize : -1,
               start: tm.startTime, end: failed ? Date.now() : tm.startTime + tm.responseEnd,
               failed: failed ? (r.failure() || {}).errorText || 'failed' : undefined });
  };
  page.on('requestfinished', onRequest(false));
  page.on('requestfailed', onRequest(true));
  await page.goto(E('BENCH_PAIR_URL'));
  await page.waitForSelector('#paired', { timeout: 30000 });
  log('paired');

  // The routes, timed with fetch() in the page (the session cookie is the page's).
  await page.goto(`${ORIGIN}/camera.html?id=${CAMS[0]}`);
  await page.waitForSelector('.tl-bar', { timeout: 20000 });
  const api = await page.evaluate(async ({ cams, start, end, reps, seed0 }) => {
    let s = seed0;
    const rnd = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
    const res = { timeline: [], playlist: [], baseline: [], detail: {} };
    // Time to the end of the body; the Resource Timing entry says how much of it was waiting
    // for the first byte (the daemon's work + the front) and how big the answer was.
    const time = async (url, key) => {
      const t0 = performance.now();
      const r = await fetch(url, { cache: 'no-store' });
      const body = await r.text();
      if (!r.ok || body.length < 2) throw new Error(`${url}: ${r.status}`);
      const ms = performance.now() - t0;
      if (key) {
        const e = performance.getEntriesByName(new URL(url, location.href).href).pop();
        const d = res.detail[key] || (res.detail[key] = { ttfb: [], transfer: [], bytes: [] });
        if (e) { d.ttfb.push(e.responseStart - e.requestStart); d.transfer.push(e.responseEnd - e.responseStart); }
        d.bytes.push(body.length);
        performance.clearResourceTimings();
      }
      return ms;
    };
    for (let i = 0; i < reps; i++) {
      const cam = cams[Math.floor(rnd() * cams.length)];
      // A local day inside the recorded week.
      const d = new Date((start + 86400e6 + rnd() * (end - start - 2 * 86400e6)) / 1000);
      d.setHours(0, 0, 0, 0);
      const from = d.getTime() * 1000;
      const d2 = new Date(d); d2.setDate(d2.getDate() + 1);
      res.timeline.push(await time(`/api/v1/cameras/${cam}/timeline?from_us=${from}&to_us=${d2.getTime() * 1000}`, 'timeline'));
      const h = Math.floor(start + rnd() * (end - start - 3600e6));
      res.playlist.push(await time(`/api/v1/cameras/${cam}/playlist.m3u8?from_us=${h}&to_us=${h + 3600e6}`, 'playlist'));
      // The smallest authorized answer, for the round trip through the front alone.
      res.baseline.push(await time(`/api/v1/cameras/${cam}`, 'baseline'));
    }
    return res;
  }, { cams: CAMS, start: START_US, end: END_US, reps: API_REPS, seed0: 7 });
  out.timeline = api.timeline;
  out.playlist = api.playlist;
  out.baseline = api.baseline;
  out.api_detail = api.detail;
  log(`api: ${api.timeline.length} timelines, ${api.playlist.length} playlists`);

  for (let visit = 0; visit < VISITS; visit++) {
    const cam = pick(CAMS);
    const t = START_US + 2 * HOUR + rand() * (END_US - START_US - 4 * HOUR);
    await page.goto(`${ORIGIN}/camera.html?id=${cam}`);
    await page.waitForSelector('.tl-bar', { timeout: 20000 });
    // The day of t, through the page's own day picker.
    await page.evaluate(async (us) => {
      const d = new Date(us / 1000);
      const p = (n) => String(n).padStart(2, '0');
      const input = document.getElementById('day');
      input.value = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
      document.getElementById('review').dataset.loaded = '';
      input.dispatchEvent(new Event('change'));
    }, t);
    await page.waitForFunction((us) => {
      const bar = document.querySelector('.tl-bar');
      return Number(document.getElementById('review').dataset.loaded || 0) > 0 &&
        Number(bar.dataset.from) <= us && us < Number(bar.dataset.to);
    }, t, { timeout: 20000 });
    await page.waitForTimeout(300);
    await page.evaluate(() => performance.clearResourceTimings());
    net = [];
    const ff = (await clickAndWait(page, t, true)).ms;
    out.first_frame.push(ff);
    await page.waitForTimeout(100);
    out.first_frame_net = out.first_frame_net || [];
    out.first_frame_net.push(net.filter((r) => r.start <= lastFrameEpoch));
    const pl = await page.evaluate(() => performance.getEntriesByType('resource')
      .filter((e) => e.name.includes('/playlist.m3u8')).map((e) => e.responseEnd - e.startTime));
    if (pl.length) out.playlist_fetch.push(pl[0]);
    out.players.push(await page.evaluate(() => document.getElementById('player').dataset.player || '?'));
    const shown = await page.evaluate(() => Number(document.getElementById('clock').dataset.wallUs));
    const seeks = [];
    for (let i = 0; i < SEEKS; i++) {
      // Inside the window the player loaded (10 min before to 50 min after the click).
      // ... and on the day the bar shows: a time past midnight is not on the bar at all (a
      // click there lands beside it, and no seek ever comes).
      const bar = await page.evaluate(() => {
        const b = document.querySelector('.tl-bar');
        return { from: Number(b.dataset.from), to: Number(b.dataset.to) };
      });
      const target = Math.min(bar.to - 60e6, Math.max(bar.from + 60e6, shown - 8 * 60e6 + rand() * 50 * 60e6));
      await page.waitForTimeout(500);
      const r = await clickAndWait(page, target, false);
      const ms = r.ms;
      out.seek.push(ms);
      (r.buffered ? out.seek_buffered : out.seek_unbuffered).push(ms);
      seeks.push(ms.toFixed(0));
    }
    // Scrub: the hour around what plays, hovered at places 15 s apart.
    await page.click('.tl-zoom:has-text("Hour")');
    await page.waitForTimeout(200);
    const nowShown = await page.evaluate(() => Number(document.getElementById('clock').dataset.wallUs));
    const scrubs = [];
    let lastFile = await page.evaluate(() => document.getElementById('preview').dataset.src || '');
    for (let i = 0; i < SCRUBS; i++) {
      const at = nowShown + (5 + 15 * i) * 1e6 + rand() * 5e6;
      const p = await barPoint(page, at);
      await page.evaluate((want) => {
        const m = { move: null, shown: null };
        window.__s = m;
        const bar = document.querySelector('.tl-bar');
        bar.addEventListener('pointermove', (e) => { if (m.move === null) m.move = e.timeStamp; }, { capture: true });
        const frame = document.querySelector('.tl-tip-frame');
        const obs = new MutationObserver(() => {
          const c = frame.querySelector('canvas.tl-preview');
          if (c && m.move !== null && Math.abs(Number(c.dataset.time) - want) < 60e6 && m.shown === null) {
            m.shown = performance.now();
            m.time = Number(c.dataset.time);
            obs.disconnect();
          }
        });
        obs.observe(frame, { childList: true });
      }, at);
      net = [];
      await page.mouse.move(p.x, p.y);
      await page.waitForFunction(() => window.__s.shown !== null, null, { timeout: 20000 });
      const s = await page.evaluate(() => ({ ms: window.__s.shown - window.__s.move, time: window.__s.time,
                                             shownEpoch: performance.timeOrigin + window.__s.shown,
                                             src: document.getElementById('preview').dataset.src || '' }));
      out.scrub.push(s.ms);
      (s.src === lastFile ? out.scrub_same : out.scrub_new).push(s.ms);
      await page.waitForTimeout(300);
      out.scrub_net = out.scrub_net || [];
      out.scrub_net.push({ ms: s.ms, same: s.src === lastFile, net: net.filter((r) => r.start <= s.shownEpoch) });
      lastFile = s.src;
      scrubs.push(s.ms.toFixed(0));
    }
    await page.mouse.move(5, 5);
    log(`visit ${visit + 1}/${VISITS}: cam ${cam}, first frame ${ff.toFixed(0)} ms, seeks ${seeks.join(' ')} ms, ` +
        `previews ${scrubs.join(' ')} ms`);
  }
} finally {
  await browser.close();
}
console.log(`RESULT ${JSON.stringify(out)}`);
