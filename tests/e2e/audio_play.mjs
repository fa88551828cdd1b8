// audio_play — a recording of a camera that sends AAC plays with its sound in Chromium (run by
// run_e2e.py --audio): pair a device allowed cam1, open its camera page, click the middle of the
// first recorded span; once playing, the video element is muted (nothing is heard until the
// user unmutes) and Chromium reports decoded audio (webkitAudioDecodedByteCount grows), as well
// as video frames. docs/design/storage.md "Audio".

import { E2EFailure, check, fail, launch, sleep, watchPage } from './lib.mjs';

const env = (name) => {
  const v = process.env[name];
  if (!v) fail(new E2EFailure(`${name} is not set (run this through run_e2e.py --audio)`));
  return v;
};
const ORIGIN = env('E2E_ORIGIN');
const PAIR_URL = env('E2E_PAIR_URL');
const CAM1 = env('E2E_CAM1_ID');
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
