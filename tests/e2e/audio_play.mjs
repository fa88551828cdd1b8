// audio_play — a camera that sends AAC is heard only when the user asks, in Chromium (run by
// run_e2e.py --audio). Live: on the wall, cam1's (AAC) live tile plays muted, Chromium decodes
// its audio (webkitAudioDecodedByteCount grows), it has a visible "Unmute" button and cam2's
// (no audio) tile has none; clicking Unmute unmutes it and audio goes on decoding. Recording:
// pair a device allowed cam1 and cam2, open cam1's page, click the middle of the first recorded
// span; once playing, the video element is muted (nothing is heard until the user unmutes) and
// Chromium reports decoded audio, as well as video frames. docs/design/storage.md "Audio",
// docs/design/auth.md "Live view".

import { E2EFailure, check, fail, launch, sleep, watchPage } from './lib.mjs';

const env = (name) => {
  const v = process.env[name];
  if (!v) fail(new E2EFailure(`${name} is not set (run this through run_e2e.py --audio)`));
  return v;
};
const ORIGIN = env('E2E_ORIGIN');
const PAIR_URL = env('E2E_PAIR_URL');
const CAM1 = env('E2E_CAM1_ID');
const CAM2 = env('E2E_CAM2_ID');
const PLAYING = '#player video.review:not([hidden])';
const log = (...a) => console.log(...a);

const browser = await launch();
const problems = [];
let failure = null;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  watchPage(page, problems);
  await page.goto(PAIR_URL);
  await page.waitForSelector('#paired', { timeout: 30000 });

  // Live tiles on the wall.
  await page.goto(`${ORIGIN}/`);
  const tile = (id) => `figure.camera[data-camera-id="${id}"]`;
  const liveNow = (id) => page.evaluate((sel) => {
    const v = document.querySelector(`${sel} video.live`);
    const b = document.querySelector(`${sel} button.unmute`);
    return v && { muted: v.muted, audio: v.webkitAudioDecodedByteCount,
                  video: v.webkitVideoDecodedByteCount, paused: v.paused, ready: v.readyState,
                  hasAudio: v.dataset.liveAudio, button: b ? !b.hidden : null,
                  label: b ? b.textContent : null };
  }, tile(id));
  for (const id of [CAM1, CAM2]) {
    await page.waitForFunction((sel) => {
      const v = document.querySelector(`${sel} video.live`);
      return v && !v.paused && v.readyState >= 3 && v.videoWidth > 0 && v.dataset.liveAudio;
    }, tile(id), { timeout: 30000 });
  }
  const l1 = await liveNow(CAM1);
  await sleep(3000);
  const l2 = await liveNow(CAM1);
  const c2 = await liveNow(CAM2);
  log(`live cam1: muted ${l2.muted}, audio decoded ${l1.audio} -> ${l2.audio} bytes, video ` +
      `${l1.video} -> ${l2.video}, Unmute button shown ${l2.button}; cam2: audio track ` +
      `${c2.hasAudio}, Unmute button shown ${c2.button}`);
  check(l2.hasAudio === '1', 'cam1\'s live stream has no audio track');
  check(l2.muted, 'cam1\'s live view plays with sound before the user unmuted it');
  check(l2.video > l1.video, 'cam1\'s live view decodes no video');
  check(l2.audio > l1.audio, `cam1's live audio is not decoded (${l1.audio} -> ${l2.audio} bytes)`);
  check(l2.button === true && l2.label === 'Unmute', 'cam1\'s tile has no visible Unmute button');
  check(c2.hasAudio === '0' && c2.button === false, 'cam2 (no audio) shows an Unmute button');
  await page.click(`${tile(CAM1)} button.unmute`);   // the user's gesture
  await sleep(2000);
  const l3 = await liveNow(CAM1);
  log(`live cam1 after Unmute: muted ${l3.muted}, audio decoded ${l3.audio} bytes, button ` +
      `"${l3.label}", paused ${l3.paused}`);
  check(!l3.muted && l3.label === 'Mute', 'clicking Unmute did not unmute cam1\'s live view');
  check(!l3.paused && l3.audio > l2.audio, 'cam1\'s live view stopped after unmuting');
  await page.screenshot({ path: `${process.env.E2E_ARTIFACTS}/audio-live.png`, fullPage: true });

  // A recording.
  await page.goto(`${ORIGIN}/camera.html?id=${CAM1}`);
  await page.waitForFunction(() => Number(document.getElementById('review').dataset.loaded || 0) > 0,
                             null, { timeout: 20000 });
  await page.click('.tl-zoom:has-text("Hour")');
  const span = await page.locator('.tl-span').first().boundingBox();
  check(span !== null && span.width > 2, 'no recorded span to click');
  await page.mouse.click(span.x + span.width / 3, span.y + span.height / 2);
  await page.waitForFunction((sel) => {
    const v = document.querySelector(sel);
    return v && !v.paused && v.readyState >= 3 && v.videoWidth > 0;
  }, PLAYING, { timeout: 20000 });
  const first = await page.evaluate((sel) => {
    const v = document.querySelector(sel);
    return { muted: v.muted, audio: v.webkitAudioDecodedByteCount, video: v.webkitVideoDecodedByteCount };
  }, PLAYING);
  await sleep(3000);
  const later = await page.evaluate((sel) => {
    const v = document.querySelector(sel);
    return { muted: v.muted, audio: v.webkitAudioDecodedByteCount, video: v.webkitVideoDecodedByteCount,
             time: v.currentTime, paused: v.paused };
  }, PLAYING);
  log(`playing: muted ${later.muted}, audio decoded ${first.audio} -> ${later.audio} bytes, ` +
      `video decoded ${first.video} -> ${later.video} bytes, at ${later.time.toFixed(2)} s`);
  await page.screenshot({ path: `${process.env.E2E_ARTIFACTS}/audio-playing.png`, fullPage: true });
  check(later.muted, 'the recording plays with sound before the user unmuted it');
  check(later.video > first.video, 'no video decoded while playing');
  check(later.audio > 0 && later.audio > first.audio, `no audio decoded (${first.audio} -> ${later.audio} bytes)`);
} catch (e) {
  failure = e;
} finally {
  await browser.close();
}
if (problems.length) log(`page problems: ${problems.join('; ')}`);
if (failure) fail(failure);
check(problems.length === 0, `page problems: ${problems.join('; ')}`);
log('PASS');
