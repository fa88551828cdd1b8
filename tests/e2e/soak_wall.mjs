// soak_wall — the tablet on the wall: index.html with every camera live, left alone for
// E2E_SOAK_MINUTES while cameras drop and come back (10-40 s each, one at a time or all at
// once) and the daemon restarts (at a third and two thirds of the run). Nobody presses
// Reconnect. Every 5 s each tile is sampled; after each cause ends, every tile must be playing
// again within RECOVER_LIMIT_MS, and at the end every tile is live and advancing. Prints the
// recovery times (p50/p95/max), the number of connections per tile and the page's JS heap.
// Run by run_e2e.py --soak (suite 'long': tests/run.sh --long).

import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { E2EFailure, check, fail, launch, sleep, watchPage } from './lib.mjs';

const env = (name) => {
  const v = process.env[name];
  if (!v) fail(new E2EFailure(`${name} is not set (run this through run_e2e.py --soak)`));
  return v;
};
const ORIGIN = env('E2E_ORIGIN');
const PAIR_URL = env('E2E_PAIR_URL');
const ARTIFACTS = env('E2E_ARTIFACTS');
const CAMERAS = Number(env('E2E_CAMERAS'));
const MINUTES = Number(env('E2E_SOAK_MINUTES'));
const RECOVER_LIMIT_MS = 90000;   // backoff cap 30 s + the worker's reconnect + the first GOP
const SAMPLE_MS = 5000;

fs.mkdirSync(ARTIFACTS, { recursive: true });
const art = (name) => path.join(ARTIFACTS, name);
const log = (...a) => console.log(...a);
const lines = [];
readline.createInterface({ input: process.stdin }).on('line', (l) => lines.push(l));
async function ask(command) {
  console.log(command);
  const deadline = Date.now() + 60000;
  while (lines.length === 0) {
    if (Date.now() > deadline) throw new E2EFailure(`no answer from run_e2e.py to ${command}`);
    await sleep(100);
  }
  const reply = lines.shift();
  check(reply.startsWith('DONE'), `the driver answered "${reply}" to ${command}`);
}

const tiles = (page) => page.$$eval('figure.camera video', (vs) => vs.map((v) => ({
  id: v.closest('figure').dataset.cameraId, state: v.dataset.liveState, t: v.currentTime,
  connects: Number(v.dataset.liveConnects || 0), lastDataMs: Number(v.dataset.liveLastDataMs || 0),
})));

// Waits until every tile plays with data in the last 2 s; returns the ms it took.
async function allLive(page, since, what) {
  await page.waitForFunction((n) => {
    const vs = [...document.querySelectorAll('figure.camera video')];
    return vs.length === n && vs.every((v) => v.dataset.liveState === 'playing' &&
      Date.now() - Number(v.dataset.liveLastDataMs || 0) < 2000);
  }, CAMERAS, { timeout: RECOVER_LIMIT_MS, polling: 250 }).catch(() => {});
  const ts = await tiles(page);
  const down = ts.filter((x) => x.state !== 'playing');
  check(down.length === 0, `${what}: tiles ${down.map((x) => x.id)} not live ${RECOVER_LIMIT_MS / 1000} s later: ${JSON.stringify(down)}`);
  return Date.now() - since;
}

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

const browser = await launch();
const problems = [];
let failure = null;
let page = null;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  // A wall tablet sees the daemon go away: failed requests while it restarts are expected.
  watchPage(page, problems, (text) => /status of (50[234])|ERR_|net::/.test(text));
  await page.goto(PAIR_URL);
  await page.waitForSelector('#paired', { timeout: 30000 });
  await page.goto(`${ORIGIN}/index.html`);
  await allLive(page, Date.now(), 'start');
  log(`wall: ${CAMERAS} tiles live; soaking for ${MINUTES} min`);

  const end = Date.now() + MINUTES * 60000;
  const restarts = [end - MINUTES * 60000 * 2 / 3, end - MINUTES * 60000 / 3];
  const recoveries = [];
  let cycle = 0;
  let heap0 = null;
  while (Date.now() < end - 30000) {
    cycle++;
    let what;
    if (restarts.length && Date.now() >= restarts[0]) {
      restarts.shift();
      what = 'daemon restart';
      await ask('E2E-RESTART');
    } else {
      const all = cycle % 4 === 0;
      const cam = all ? 'all' : String(1 + (cycle % CAMERAS));
      const downS = 10 + ((cycle * 7) % 31);
      what = `camera ${cam} down ${downS} s`;
      await ask(`E2E-DROP ${cam}`);
      for (let t = 0; t < downS * 1000; t += SAMPLE_MS) await sleep(SAMPLE_MS);
      await ask(`E2E-RESTORE ${cam}`);
    }
    const ms = await allLive(page, Date.now(), what);
    recoveries.push(ms);
    log(`cycle ${cycle}: ${what}: all live again ${(ms / 1000).toFixed(1)} s after`);
    const heap = await page.evaluate(() => (performance.memory ? performance.memory.usedJSHeapSize : null));
    if (heap0 === null) heap0 = heap;
    // Quiet time between causes, sampled.
    for (let i = 0; i < 6 && Date.now() < end - 30000; i++) {
      await sleep(SAMPLE_MS);
      const ts = await tiles(page);
      check(ts.every((x) => x.state === 'playing'), `a tile stopped while nothing was wrong: ${JSON.stringify(ts)}`);
    }
  }
  const a = await tiles(page);
  await sleep(3000);
  const b = await tiles(page);
  check(b.every((x, i) => x.state === 'playing' && x.t > a[i].t), `at the end not every tile advances: ${JSON.stringify(b)}`);
  const heap = await page.evaluate(() => (performance.memory ? performance.memory.usedJSHeapSize : null));
  log(`wall: ${recoveries.length} causes; recovery p50 ${(pct(recoveries, 0.5) / 1000).toFixed(1)} s, ` +
      `p95 ${(pct(recoveries, 0.95) / 1000).toFixed(1)} s, max ${(Math.max(...recoveries) / 1000).toFixed(1)} s; ` +
      `connections per tile ${b.map((x) => x.connects).join(', ')}; JS heap ${heap0} -> ${heap} bytes`);
  await page.screenshot({ path: art('wall-end.png'), fullPage: true });
} catch (e) {
  failure = e;
} finally {
  if (page) await page.screenshot({ path: art('last.png'), fullPage: true }).catch(() => {});
  await browser.close();
}

if (problems.length) log(`page problems:\n  ${problems.join('\n  ')}`);
if (failure) fail(failure);
check(problems.length === 0, 'the page reported problems');
log('soak_wall: OK');
process.exit(0);   // stdin (the driver's answers) would keep node running
