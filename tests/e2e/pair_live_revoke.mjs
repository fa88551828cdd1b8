// pair_live_revoke — the browser end to end (issue 5, DESIGN §6), in Debian's chromium through
// lighttpd over TLS against the real daemon: pair with a code from `nvr pair`, see cam1 live
// (frames advance, and the pixels carry cam1's ID code), find no trace of cam2 (not listed; its
// routes answer 403/404 with zero media bytes), play a recorded segment, then — revoked by the
// driver with `nvr devices revoke e2e` — the live view stops within 1 s and the next request is
// refused. Run by run_e2e.py, which sets the E2E_* environment and answers "E2E-REVOKE".

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { E2EFailure, check, fail, launch, sleep, watchPage } from './lib.mjs';

const env = (name) => {
  const v = process.env[name];
  if (!v) fail(new E2EFailure(`${name} is not set (run this through run_e2e.py)`));
  return v;
};
const ORIGIN = env('E2E_ORIGIN');
const PAIR_URL = env('E2E_PAIR_URL');
const EXPIRED_URL = env('E2E_EXPIRED_URL');
const ARTIFACTS = env('E2E_ARTIFACTS');
const IDREAD = env('E2E_IDREAD');
const CAM1 = env('E2E_CAM1_ID');
const CAM1_CODE = Number(env('E2E_CAM1_CODE'));
const CAM1_SEG = env('E2E_CAM1_SEGMENT');
const CAM2 = env('E2E_CAM2_ID');
const CAM2_SEG = env('E2E_CAM2_SEGMENT');
const FPS = Number(env('E2E_FPS'));
const CLIP_FRAMES = Number(env('E2E_CLIP_FRAMES'));   // fakecam's counter wraps at this
const REVOKE_LIMIT_MS = 1000;
const RECOVER_LIMIT_MS = 90000;   // backoff cap 30 s + the worker's own reconnect + the first GOP

fs.mkdirSync(ARTIFACTS, { recursive: true });
const art = (name) => path.join(ARTIFACTS, name);
const log = (...a) => console.log(...a);

// ---- the driver's answers on stdin ----
const lines = [];
let lineWaiter = null;
readline.createInterface({ input: process.stdin }).on('line', (l) => {
  lines.push(l);
  if (lineWaiter) lineWaiter();
});
async function nextLine(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (lines.length === 0) {
    if (Date.now() > deadline) throw new E2EFailure('no answer from run_e2e.py');
    await new Promise((r) => { lineWaiter = r; setTimeout(r, 100); });
  }
  return lines.shift();
}

// ---- page helpers ----

// A JPEG of @selector's current video frame at its decoded size; returns idread's summary.
async function grabFrame(page, selector, name) {
  const dataUrl = await page.evaluate((sel) => {
    const v = document.querySelector(sel);
    const c = document.createElement('canvas');
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    c.getContext('2d').drawImage(v, 0, 0);
    return c.toDataURL('image/jpeg', 0.92);
  }, selector);
  const file = art(name);
  fs.writeFileSync(file, Buffer.from(dataUrl.split(',')[1], 'base64'));
  const out = execFileSync(IDREAD, ['--json', file], { encoding: 'utf8', timeout: 60000 });
  const r = JSON.parse(out);
  const codes = Object.keys(r.codes).map(Number);
  log(`${name}: ID codes ${JSON.stringify(r.codes)}, frame counter ${r.counter_first}`);
  return { codes, counter: r.counter_first };
}

// Fetches @url from inside the page (its cookie, its origin) and describes the answer; reads at
// most 1 MiB of the body.
function probe(page, url, init = {}) {
  return page.evaluate(async ({ url, init }) => {
    const res = await fetch(url, { credentials: 'same-origin', cache: 'no-store', ...init });
    const reader = res.body.getReader();
    const parts = [];
    let n = 0;
    while (n < 1024 * 1024) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      n += value.byteLength;
    }
    reader.cancel().catch(() => {});
    const bytes = new Uint8Array(n);
    let at = 0;
    for (const p of parts) { bytes.set(p, at); at += p.byteLength; }
    const latin = Array.from(bytes.subarray(0, 65536), (b) => String.fromCharCode(b)).join('');
    return {
      status: res.status,
      type: res.headers.get('content-type') || '',
      camera: res.headers.get('x-hearth-camera'),
      length: n,
      media: /ftyp|moof|mdat/.test(latin) || latin.includes('\xff\xd8\xff'),
      text: n <= 4096 ? new TextDecoder().decode(bytes) : '',
    };
  }, { url, init });
}

function checkRefused(r, what, statuses = [403, 404]) {
  check(statuses.includes(r.status), `${what}: status ${r.status}, expected ${statuses.join('/')}`);
  check(!r.media && !/^(video|image)\//.test(r.type), `${what}: media bytes in a refusal (${r.type}, ${r.length} B)`);
  check(r.length <= 4096, `${what}: a ${r.length}-byte refusal`);
  let body = null;
  try { body = JSON.parse(r.text); } catch { /* checked below */ }
  check(body && typeof body.error === 'string', `${what}: refusal is not {"error"}: ${r.text.slice(0, 200)}`);
}

const liveState = (page, sel = 'figure.camera video') => page.evaluate((s) => {
  const v = document.querySelector(s);
  return v && { state: v.dataset.liveState, t: v.currentTime, bytes: Number(v.dataset.liveBytes || 0),
                connects: Number(v.dataset.liveConnects || 0),
                endedMs: Number(v.dataset.liveEndedMs || 0), lastDataMs: Number(v.dataset.liveLastDataMs || 0),
                caption: v.parentElement.querySelector('.live-state').textContent };
}, sel);

// ---- the run ----

const browser = await launch();
let page = null;
const problems = [];
let expectRefusals = false;   // 401/403/404/429 console lines are expected in the refusal phases
const allowed = (text) => expectRefusals && /status of (401|403|404|429)/.test(text);
let failure = null;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1100, height: 900 } });
  page = await context.newPage();
  watchPage(page, problems, allowed);

  // 1. pair
  check(PAIR_URL.startsWith(`${ORIGIN}/pair.html#code=`), 'pairing URL not on the origin');
  const t0 = Date.now();
  await page.goto(PAIR_URL);
  await page.waitForFunction(() => document.querySelector('#paired') ||
                                   document.querySelector('#status[data-kind="error"]'), null, { timeout: 30000 });
  await page.screenshot({ path: art('1-paired.png'), fullPage: true });
  const pairedText = await page.locator('#result').innerText().catch(() => '');
  check(await page.locator('#paired').count() === 1,
        `pairing failed: ${await page.locator('#status').innerText()}`);
  log(`paired in ${Date.now() - t0} ms: ${pairedText.replace(/\s+/g, ' ').trim()}`);
  check(!page.url().includes('code='), 'the pairing code stayed in the address bar');
  const key = await page.evaluate(async () => {
    const k = await (await import('/js/keys.js')).currentKey();
    return k && { state: k.state, extractable: k.privateKey.extractable, type: k.privateKey.algorithm.name,
                  device: k.device };
  });
  check(key && key.state === 'paired' && key.extractable === false && key.type === 'Ed25519',
        `stored key: ${JSON.stringify(key)}`);
  const cookies = await context.cookies(ORIGIN);
  const session = cookies.find((c) => c.name === '__Host-hearth');
  check(session, 'no __Host-hearth cookie after pairing');
  check(session.httpOnly && session.secure && session.sameSite === 'Strict' && session.path === '/',
        `cookie attributes: ${JSON.stringify({ ...session, value: undefined })}`);
  check(!(await page.evaluate(() => document.cookie)).includes('hearth'), 'session cookie readable by script');

  // 1b. what another browser is told for a used, a wrong and an expired code (and no key kept)
  expectRefusals = true;
  const other = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 420, height: 800 } });
  const code = PAIR_URL.split('#code=')[1];
  const last = code.slice(-1).toUpperCase() === '7' ? '8' : '7';
  const wrongCode = `${code.slice(0, -1)}${last}`;
  const wrong = `${ORIGIN}/pair.html#code=${wrongCode}`;
  for (const [name, url, want] of [['used', PAIR_URL, /already used/], ['wrong', wrong, /code is wrong/],
                                   ['expired', EXPIRED_URL, /expired/]]) {
    const p = await other.newPage();
    watchPage(p, problems, allowed);
    await p.goto(url);
    await p.waitForSelector('#status[data-kind="error"]', { timeout: 15000 });
    const said = await p.locator('#status').innerText();
    check(want.test(said), `pairing with a ${name} code says "${said}"`);
    check(await p.locator('#paired').count() === 0, `a ${name} code paired`);
    check(await p.evaluate(async () => (await import('/js/keys.js')).currentKey()) === null,
          `a key was kept after a ${name} code`);
    await p.screenshot({ path: art(`1-pair-${name}.png`), fullPage: true });
    log(`${name} code: "${said}"`);
    await p.close();
  }
  await other.close();
  expectRefusals = false;

  // 2. my cameras: only cam1, live, frames advancing, cam1's pixels
  await page.goto(`${ORIGIN}/index.html`);
  await page.waitForSelector('figure.camera', { timeout: 15000 });
  const listed = await page.$$eval('figure.camera', (fs) => fs.map((f) => f.dataset.cameraId));
  check(JSON.stringify(listed) === JSON.stringify([CAM1]), `cameras listed: ${listed} (want only ${CAM1})`);
  const bodyText = await page.locator('body').innerText();
  check(/cam1/.test(bodyText) && !/cam2|cam3/.test(bodyText), 'the page names a camera it may not see');
  await page.waitForFunction(() => document.querySelector('figure.camera video').dataset.liveState === 'playing',
                             null, { timeout: 30000 });
  const a = await liveState(page);
  await sleep(2500);
  const b = await liveState(page);
  log(`live: currentTime ${a.t.toFixed(2)} -> ${b.t.toFixed(2)} s over 2.5 s, ${b.bytes} bytes received`);
  check(b.t - a.t > 1.0, `live view does not advance (${a.t} -> ${b.t})`);
  check(!(await page.locator('figure.camera button.reconnect').isVisible()), '"Reconnect" offered while live');
  check(b.bytes > a.bytes, 'no live bytes arrived');
  const g1 = await grabFrame(page, 'figure.camera video', 'live-frame-1.jpg');
  const grabGapMs = Date.now();
  await sleep(1000);
  const g2 = await grabFrame(page, 'figure.camera video', 'live-frame-2.jpg');
  const gapS = (Date.now() - grabGapMs) / 1000;
  check(JSON.stringify(g1.codes) === JSON.stringify([CAM1_CODE]) &&
        JSON.stringify(g2.codes) === JSON.stringify([CAM1_CODE]),
        `live frames show ID codes ${g1.codes} / ${g2.codes}, want ${CAM1_CODE}`);
  // The counter is the frame's index in fakecam's loop: it advances modulo CLIP_FRAMES, by
  // about FPS per second while the view is live.
  const advanced = (g2.counter - g1.counter + CLIP_FRAMES) % CLIP_FRAMES;
  check(gapS < CLIP_FRAMES / FPS / 2, `grabs ${gapS} s apart: too far to tell`);
  check(advanced >= 0.3 * FPS * gapS, `frame counter ${g1.counter} -> ${g2.counter}: ${advanced} frames in ${gapS.toFixed(2)} s`);
  await page.screenshot({ path: art('2-live.png'), fullPage: true });

  // 2b. a browser with ManagedMediaSource but no MediaSource (Safari on iPhone, iOS 17.1+),
  // emulated: Chromium's MediaSource renamed before the page's scripts run.
  {
    const mms = await page.context().newPage();
    watchPage(mms, problems, allowed);
    await mms.addInitScript(() => {
      window.ManagedMediaSource = window.MediaSource;
      delete window.MediaSource;
    });
    await mms.goto(`${ORIGIN}/index.html`);
    await mms.waitForFunction(() => document.querySelector('figure.camera video')?.dataset.liveState === 'playing',
                              null, { timeout: 30000 }).catch(() => {});
    const m1 = await liveState(mms);
    const kind = await mms.evaluate(() => [typeof window.MediaSource,
                                          document.querySelector('figure.camera video').dataset.liveMse]);
    await sleep(2000);
    const m2 = await liveState(mms);
    check(kind[0] === 'undefined' && kind[1] === 'managed', `ManagedMediaSource emulation: ${kind}`);
    check(m2.state === 'playing' && m2.t - m1.t > 1.0, `live with ManagedMediaSource only: ${JSON.stringify(m2)}`);
    log(`ManagedMediaSource only: live, currentTime ${m1.t.toFixed(2)} -> ${m2.t.toFixed(2)} s in 2 s`);
    await mms.close();
  }

  // 3. no trace of cam2
  expectRefusals = true;
  const list = JSON.parse((await probe(page, '/api/v1/cameras')).text);
  check(list.cameras.length === 1 && String(list.cameras[0].id) === CAM1,
        `GET cameras lists ${JSON.stringify(list.cameras.map((c) => c.name))}`);
  const ok = await probe(page, `/api/v1/cameras/${CAM1}/segments/${CAM1_SEG}/media`);
  check((ok.status === 200 || ok.status === 206) && ok.media && ok.type.startsWith('video/mp4'),
        `control: cam1's own segment answered ${ok.status} ${ok.type} (${ok.length} B)`);
  const day = 24 * 3600e6;
  const now = Date.now() * 1000;
  const forbidden = [
    `/api/v1/cameras/${CAM2}`,
    `/api/v1/cameras/${CAM2}/live`,
    `/api/v1/cameras/${CAM2}/snapshot.jpg`,
    `/api/v1/cameras/${CAM2}/segments?from_us=${now - day}&to_us=${now}`,
    `/api/v1/cameras/${CAM2}/timeline?from_us=${now - day}&to_us=${now}`,
    `/api/v1/cameras/${CAM2}/events?from_us=${now - day}&to_us=${now}`,
    `/api/v1/cameras/${CAM2}/segments/${CAM2_SEG}/media`,
    `/api/v1/cameras/${CAM1}/segments/${CAM2_SEG}/media`,   // cam2's segment under cam1's id
  ];
  for (const url of forbidden) {
    const r = await probe(page, url);
    checkRefused(r, `GET ${url.replace(/\?.*/, '')}`);
  }
  log(`cam2: not listed; ${forbidden.length} direct requests refused with 403/404 and no media bytes`);

  // 4. recordings: play one of cam1's
  expectRefusals = false;
  await page.goto(`${ORIGIN}/camera.html?id=${CAM1}`);
  await page.click('#files summary');   // the day's files, under the timeline
  await page.waitForSelector('#segments li[data-segment-id]', { timeout: 15000 });
  const rows = await page.$$eval('#segments li[data-segment-id]',
                                 (ls) => ls.map((l) => ({ id: l.dataset.segmentId, text: l.textContent })));
  const done = rows.filter((r) => !/recording now/.test(r.text));
  check(done.length > 0, `no finished recording listed (${rows.length} rows)`);
  log(`recordings: ${rows.length} listed, playing segment ${done[0].id}`);
  await page.click(`#segments li[data-segment-id="${done[0].id}"] button.play`);
  const playing = '#player video.review:not([hidden])';
  await page.waitForFunction((sel) => {
    const v = document.querySelector(sel);
    // The player names the playing segment at its next tick, after the frame is shown.
    return v && v.currentTime > 0.5 && v.videoWidth > 0 && document.getElementById('player').dataset.segmentId;
  }, playing, { timeout: 20000 });
  const pb = await page.evaluate((sel) => {
    const v = document.querySelector(sel);
    return { t: v.currentTime, duration: v.duration, w: v.videoWidth, h: v.videoHeight, error: v.error && v.error.code,
             segment: document.getElementById('player').dataset.segmentId };
  }, playing);
  log(`playback: segment ${pb.segment}, currentTime ${pb.t.toFixed(2)} s of ${pb.duration.toFixed(2)} s, ${pb.w}x${pb.h}`);
  check(pb.error === null, `playback error ${pb.error}`);
  check(pb.segment === done[0].id, `the player plays segment ${pb.segment}, not ${done[0].id}`);
  const g3 = await grabFrame(page, playing, 'playback-frame.jpg');
  check(JSON.stringify(g3.codes) === JSON.stringify([CAM1_CODE]), `recording shows ID codes ${g3.codes}`);
  await page.screenshot({ path: art('3-playback.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });   // a phone
  await page.screenshot({ path: art('3-playback-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1100, height: 900 });

  // 4b. the live view comes back by itself, without a click: after the camera drops for 8 s,
  // after a daemon restart, and after the browser was offline for 5 s.
  await page.goto(`${ORIGIN}/index.html`);
  await page.waitForFunction(() => document.querySelector('figure.camera video')?.dataset.liveState === 'playing',
                             null, { timeout: 30000 });
  const ask = async (command) => {
    console.log(command);
    const reply = await nextLine(60000);
    check(reply.startsWith('DONE'), `the driver answered "${reply}" to ${command}`);
  };
  // Playing again on a connection newer than @connects (or any, with @connects -1), with
  // bytes arriving and the picture advancing.
  const recovered = async (what, since, connects) => {
    const before = await liveState(page);
    await page.waitForFunction((c) => {
      const v = document.querySelector('figure.camera video');
      return v.dataset.liveState === 'playing' && Number(v.dataset.liveConnects) > c &&
             Date.now() - Number(v.dataset.liveLastDataMs || 0) < 2000;
    }, connects, { timeout: RECOVER_LIMIT_MS, polling: 100 }).catch(() => {});
    const back = await liveState(page);
    check(back.state === 'playing', `${what}: the live view did not come back within ` +
          `${RECOVER_LIMIT_MS / 1000} s (${JSON.stringify(back)})`);
    await sleep(2000);
    const later = await liveState(page);
    check(later.t > back.t && later.bytes > back.bytes, `${what}: live view back but not advancing`);
    check(!(await page.locator('figure.camera button.reconnect').isVisible()),
          `${what}: "Reconnect" still offered while live`);
    log(`${what}: live again ${((Date.now() - since) / 1000).toFixed(1)} s after the cause ended ` +
        `(connections so far: ${later.connects}; page said "${before.caption}" meanwhile)`);
    return later;
  };
  const connects0 = (await liveState(page)).connects;
  await ask('E2E-DROP');
  await page.waitForFunction(() => document.querySelector('figure.camera video').dataset.liveState !== 'playing',
                             null, { timeout: 30000, polling: 100 }).catch(() => {});
  const down = await liveState(page);
  check(down.state === 'retrying', `camera down: the live view says "${down.state}" / "${down.caption}"`);
  await page.screenshot({ path: art('4b-retrying.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: art('4b-retrying-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1100, height: 900 });
  await sleep(8000);
  await ask('E2E-RESTORE');
  await recovered('camera drop', Date.now(), connects0);
  const connects1 = (await liveState(page)).connects;
  await ask('E2E-RESTART');
  await recovered('daemon restart', Date.now(), connects1);
  // Offline: whether Chromium's emulation cuts the running stream is its business; the tile
  // must be live again once the browser is back online.
  const connects2 = (await liveState(page)).connects;
  await page.context().setOffline(true);
  await sleep(5000);
  await page.context().setOffline(false);
  await recovered('browser offline for 5 s', Date.now(), -1);
  const after4b = await liveState(page);
  log(`browser offline: ${after4b.connects - connects2} reconnection(s)`);
  const g4 = await grabFrame(page, 'figure.camera video', 'live-frame-recovered.jpg');
  check(JSON.stringify(g4.codes) === JSON.stringify([CAM1_CODE]), `recovered live view shows ID codes ${g4.codes}`);

  // 4c. the installable app: the manifest, and a service worker whose cache holds the static
  // pages and nothing from /api/ (no cache holds a frame), after live view and playback.
  const app = await page.evaluate(async () => {
    const reg = await Promise.race([navigator.serviceWorker.ready,
                                    new Promise((r) => setTimeout(() => r(null), 15000))]);
    if (!reg) return { registered: false };
    const cached = [];
    for (const name of await caches.keys()) {
      const c = await caches.open(name);
      for (const r of await c.keys()) cached.push(new URL(r.url).pathname);
    }
    const m = await fetch('/manifest.webmanifest');
    return { scope: new URL(reg.scope).pathname, active: !!reg.active, cached,
             controlled: !!navigator.serviceWorker.controller,
             manifestType: m.headers.get('Content-Type'), manifest: await m.json() };
  });
  check(app.active && app.scope === '/', `service worker: ${JSON.stringify(app)}`);
  check(app.controlled, 'the page is not controlled by the service worker');
  check(app.cached.includes('/index.html') && app.cached.includes('/js/live.js'),
        `the service worker cached no pages: ${app.cached}`);
  check(app.cached.every((p) => !p.startsWith('/api/')), `an API answer in the cache: ${app.cached}`);
  check(/^application\/manifest\+json/.test(app.manifestType) && app.manifest.start_url === '/index.html',
        `manifest: ${app.manifestType} ${JSON.stringify(app.manifest)}`);
  log(`app: service worker active on ${app.scope}, ${app.cached.length} cached paths, none under /api/`);

  // 5. revoke while watching live
  await page.goto(`${ORIGIN}/index.html`);
  await page.waitForFunction(() => document.querySelector('figure.camera video')?.dataset.liveState === 'playing',
                             null, { timeout: 30000 });
  await sleep(1500);
  const before = await liveState(page);
  check(before.state === 'playing' && before.bytes > 0, `live view not running before the revoke: ${JSON.stringify(before)}`);
  expectRefusals = true;
  console.log('E2E-REVOKE');
  const answer = await nextLine(60000);
  const m = answer.match(/^REVOKED ([0-9.]+) ([0-9.]+)$/);
  check(m, `unexpected answer from the driver: ${answer}`);
  const revokeStart = Number(m[1]);
  const revokeEnd = Number(m[2]);
  await page.waitForFunction(() => Number(document.querySelector('figure.camera video').dataset.liveEndedMs || 0) > 0,
                             null, { timeout: 10000, polling: 20 }).catch(() => {});
  const after = await liveState(page);
  check(after.endedMs > 0, `the live view did not stop within 10 s of the revoke (${JSON.stringify(after)})`);
  const silence = after.endedMs - revokeStart;
  log(`revoke-to-silence: ${silence.toFixed(0)} ms from \`nvr devices revoke\` starting ` +
      `(${(after.endedMs - revokeEnd).toFixed(0)} ms after it returned); last live bytes ` +
      `${(after.lastDataMs - revokeStart).toFixed(0)} ms after the start; page says "${after.caption}"`);
  await sleep(1500);
  const later = await liveState(page);
  check(later.bytes === after.bytes, `live bytes kept arriving after the stream ended (${after.bytes} -> ${later.bytes})`);
  // The player tries again once, is refused (the login with the revoked key fails) and stops
  // for good, saying why.
  await page.waitForFunction(() => document.querySelector('figure.camera video').dataset.liveState === 'error',
                             null, { timeout: 15000, polling: 50 }).catch(() => {});
  const final = await liveState(page);
  check(final.state === 'error' && /refused|revoked/i.test(final.caption),
        `live view after the revoke: "${final.state}" / "${final.caption}"`);
  check(final.bytes === 0 || final.lastDataMs === after.lastDataMs,
        `live bytes arrived after the revoke (${JSON.stringify(final)})`);
  check(await page.locator('figure.camera button.reconnect').isVisible(), '"Reconnect" not offered after the refusal');
  await page.screenshot({ path: art('4-revoked-live.png'), fullPage: true });
  check(silence <= REVOKE_LIMIT_MS, `live view stopped ${silence.toFixed(0)} ms after the revoke (limit ${REVOKE_LIMIT_MS} ms)`);

  // The next requests are refused: the session is gone and the key can no longer log in.
  const next = await probe(page, '/api/v1/cameras');
  check(next.status === 401, `GET cameras after the revoke answered ${next.status}`);
  const media = await probe(page, `/api/v1/cameras/${CAM1}/segments/${CAM1_SEG}/media`);
  checkRefused(media, 'cam1 segment after the revoke', [401]);
  const relogin = await page.evaluate(async () => {
    const { api } = await import('/js/api.js');
    try {
      await api('cameras');
      return 'allowed';
    } catch (e) {
      return `${e.name} ${e.status}`;
    }
  });
  check(relogin === 'ApiError 401', `login with the revoked key: ${relogin}`);
  await page.goto(`${ORIGIN}/index.html`);
  await page.waitForSelector('#status[data-kind="error"]', { timeout: 15000 });
  const refusal = await page.locator('#status').innerText();
  check(/refused|revoked/i.test(refusal), `index after the revoke says "${refusal}"`);
  check(await page.locator('figure.camera').count() === 0, 'cameras still shown after the revoke');
  await page.screenshot({ path: art('5-refused.png'), fullPage: true });
  log(`after the revoke: requests answered 401, the page says "${refusal}"`);

  // Last (it spends the daemon's pairing/login allowance): wrong codes until the rate limit
  // answers, which the pair page must name.
  let limited = null;
  for (let i = 0; i < 15 && limited === null; i++) {
    await page.goto(`${ORIGIN}/pair.html?try=${i}#code=${wrongCode}`);   // a new load each time
    await page.waitForSelector('#status[data-kind="error"]', { timeout: 15000 });
    const said = await page.locator('#status').innerText();
    if (/Too many/.test(said)) limited = { tries: i + 1, said };
    else check(/code is wrong/.test(said), `wrong code #${i + 1} says "${said}"`);
  }
  check(limited, 'no rate limit after 15 wrong codes');
  await page.screenshot({ path: art('6-pair-rate-limited.png'), fullPage: true });
  log(`rate limit: after ${limited.tries} more wrong codes the page says "${limited.said}"`);

  check(problems.length === 0, `problems in the pages:\n  ${problems.join('\n  ')}`);
  await context.close();
} catch (e) {
  failure = e;
  if (page) await page.screenshot({ path: art('failure.png'), fullPage: true }).catch(() => {});
} finally {
  await browser.close();
}
if (failure) {
  if (problems.length) log(`problems seen:\n  ${problems.join('\n  ')}`);
  fail(failure);
}
log('PASS');
process.exit(0);
