// camera — one camera: its live view and a day of review: the timeline bar (recorded spans from
// .../timeline, motion from .../events), a player that plays by wall time across files
// (review.js), the day's events and its files. `?id=N` chooses the camera, `&t=µs` starts playing
// at that wall time (the events page links here). Every request goes through the daemon's
// authorization for this device and camera.

import { api, describeError } from './api.js';
import { LivePlayer } from './live.js';
import { decimalId } from './proto.js';
import { loadCameraDay, wireDayNav } from './daydata.js';
import { EVENT_PREROLL_US, dayKey, dayWindow, exportRange, parseTimeKey,
         timeKey } from './review_core.js';
import { HlsPlayer, HlsPreview, loadHls } from './hlsplay.js';
import { PreviewSource, ReviewPlayer } from './review.js';
import { DayTimeline } from './timeline.js';
import { attachPlayer, el, eventRow, formatBytes, formatDuration, formatTime, liveFigure,
         pausedNotice, status } from './ui.js';

const REFRESH_MS = 30000;

let live = null;
let player = null;
let preview = null;
let timeline = null;
let camera = null;
let day = null;
let refreshTimer = 0;

function setPlayerState(text, kind) {
  const node = document.getElementById('player-state');
  node.textContent = text;
  node.dataset.kind = kind;
}

function renderFiles(segments) {
  const list = document.getElementById('segments');
  list.replaceChildren();
  if (segments.length === 0) {
    list.append(el('li', { class: 'muted' }, 'No recordings on this day.'));
    return;
  }
  for (const seg of [...segments].sort((a, b) => Number(b.start_us) - Number(a.start_us))) {
    if (decimalId(seg.id) === null) continue;
    const row = el('li', { dataset: { segmentId: String(seg.id) } });
    const play = el('button', { type: 'button', class: 'play' }, 'Play');
    play.addEventListener('click', () => playFrom(Number(seg.start_us)));
    row.append(play, ' ', formatTime(seg.start_us), ' ',
               el('span', { class: 'muted' },
                  `${seg.recording ? 'recording now' : formatDuration(seg.duration_us)} · ${formatBytes(seg.bytes)}`));
    list.append(row);
  }
}

function renderDayEvents(events) {
  const list = document.getElementById('day-events');
  list.replaceChildren();
  if (events.length === 0) {
    list.append(el('li', { class: 'muted' }, 'No motion on this day.'));
    return;
  }
  for (const ev of events) {
    const row = eventRow(ev, `camera.html?id=${camera.id}&t=${ev.start_us - EVENT_PREROLL_US}`, false);
    row.querySelector('a').addEventListener('click', (e) => {
      e.preventDefault();
      // The clip form takes the event too, with a few seconds either side.
      setExportRange(ev.start_us - EVENT_PREROLL_US, (ev.end_us ?? Date.now() * 1000) + EVENT_PREROLL_US);
      playFrom(ev.start_us - EVENT_PREROLL_US);
    });
    list.append(row);
  }
}

async function loadDay() {
  try {
    const d = await loadCameraDay(camera, day);
    timeline.setData(d.spans, d.events);
    player.setSegments(d.segments);
    preview.setSegments(d.segments);
    renderFiles(d.rows);
    renderDayEvents(d.events);
    document.getElementById('review').dataset.loaded = String(d.segments.length);
  } catch (e) {
    status(describeError(e), 'error');
  }
}

function setDay(us) {
  day = dayWindow(us);
  document.getElementById('day').value = dayKey(day.from);
  const today = dayWindow(Date.now() * 1000);
  document.getElementById('day-next').disabled = day.from >= today.from;
  timeline.setDay(day);
  clearInterval(refreshTimer);
  if (day.from === today.from) refreshTimer = setInterval(loadDay, REFRESH_MS);
  return loadDay();
}

async function playFrom(t) {
  if (t < day.from || t >= day.to) await setDay(t);
  // The <video> cannot log in by itself: make sure the session is valid first (api() logs in
  // again with this browser's key on a 401).
  try {
    await api(`cameras/${camera.id}`);
  } catch (e) {
    status(describeError(e), 'error');
    return;
  }
  document.getElementById('player-idle').hidden = true;
  document.getElementById('controls').hidden = false;
  timeline.setPlayhead(t);
  if (await player.playAt(t)) document.getElementById('play-pause').textContent = 'Pause';
}

function wireControls() {
  const pp = document.getElementById('play-pause');
  pp.addEventListener('click', () => {
    const v = player.video;
    if (v.paused) { v.play().catch(() => {}); pp.textContent = 'Pause'; }
    else { v.pause(); pp.textContent = 'Play'; }
  });
  document.getElementById('speed').addEventListener('change', (e) => player.setRate(Number(e.target.value)));
  document.getElementById('frame-back').addEventListener('click', async () => { await player.step(-1); pp.textContent = 'Play'; });
  document.getElementById('frame-fwd').addEventListener('click', async () => { await player.step(1); pp.textContent = 'Play'; });
  document.getElementById('save-frame').addEventListener('click', async () => {
    try {
      const name = await player.saveFrame();
      setPlayerState(`Saved ${name}`, 'ok');
    } catch (e) {
      setPlayerState(`Could not save the frame: ${e.message}`, 'error');
    }
  });
  wireDayNav(() => day, setDay);
  document.getElementById('refresh').addEventListener('click', () => loadDay());
}

// The clip form: [from, to) of the shown day, downloaded from .../export.mp4 (the daemon
// streams it; the browser saves it under the name the daemon gives) with its detached
// signature beside it (.../export.sig, the same query).
function exportUrls(range) {
  const q = `from_us=${range.from}&to_us=${range.to}`;
  return { mp4: `/api/v1/cameras/${camera.id}/export.mp4?${q}`,
           sig: `/api/v1/cameras/${camera.id}/export.sig?${q}` };
}

function setExportRange(from, to) {
  document.getElementById('export-from').value = timeKey(from);
  document.getElementById('export-to').value = timeKey(to);
}

function wireExport() {
  const form = document.getElementById('export');
  const state = document.getElementById('export-state');
  const sig = document.getElementById('export-sig');
  form.hidden = false;
  document.getElementById('export-here').addEventListener('click', () => {
    const t = player.wallTime() ?? Date.now() * 1000;
    setExportRange(t - 60e6, t + 60e6);
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const range = exportRange(parseTimeKey(day.from, document.getElementById('export-from').value),
                              parseTimeKey(day.from, document.getElementById('export-to').value));
    if (range.error) {
      state.textContent = range.error;
      state.dataset.kind = 'error';
      return;
    }
    try {
      await api(`cameras/${camera.id}`);   // a valid session before the browser's own download
    } catch (err) {
      state.textContent = describeError(err);
      state.dataset.kind = 'error';
      return;
    }
    const urls = exportUrls(range);
    const a = el('a', { href: urls.mp4, download: '' });
    document.body.append(a);
    a.click();
    a.remove();
    sig.href = urls.sig;
    sig.setAttribute('download', '');
    sig.hidden = false;
    state.textContent = `Downloading ${formatDuration(range.to - range.from)} from ${formatTime(range.from)}; the signature is beside it.`;
    state.dataset.kind = 'ok';
  });
  api('box').then((box) => {
    document.getElementById('box-fingerprint').textContent = box.fingerprint;
  }).catch(() => {
    document.getElementById('box-fingerprint').textContent = '(unknown)';
  });
}

async function main() {
  const params = new URLSearchParams(location.search);
  const camId = decimalId(params.get('id') || '');
  if (camId === null) {
    status('No camera chosen.', 'error');
    return;
  }
  try {
    const r = await api(`cameras/${camId}`);
    camera = r.camera || r;
  } catch (e) {
    status(describeError(e), 'error');
    return;
  }
  camera = { ...camera, id: camId };
  document.title = `Hearth — ${camera.name}`;
  document.getElementById('name').textContent = camera.name;
  const notice = pausedNotice(camera);
  if (notice) document.getElementById('name').after(notice);
  // The paused notice is under the heading already, not again in the live caption.
  const parts = liveFigure({ id: camera.id, name: camera.name }, 'Live');
  document.getElementById('live').append(parts.figure);
  live = attachPlayer(LivePlayer, parts, camId);

  const clock = document.getElementById('clock');
  const videos = [...document.querySelectorAll('#player video.review')];
  // hls.js over the daemon's playlist where this browser can run it, else whole files.
  const Hls = await loadHls();
  const Player = Hls ? HlsPlayer.bind(null, Hls) : ReviewPlayer;
  player = new Player(videos, camId, camera.name, {
    onTime: (t) => {
      timeline.setPlayhead(t);
      clock.textContent = new Date(t / 1000).toLocaleTimeString();
      clock.dataset.wallUs = String(Math.round(t));
    },
    onState: setPlayerState,
    onSegment: (seg) => {
      for (const r of document.querySelectorAll('#segments li'))
        r.toggleAttribute('aria-current', r.dataset.segmentId === seg.id);
      document.getElementById('player').dataset.segmentId = seg.id;
      document.getElementById('player').dataset.player = player.kind;   // 'hls' or 'files'
    },
  });
  preview = Hls ? new HlsPreview(Hls, camId) : new PreviewSource(document.getElementById('preview'), camId);
  timeline = new DayTimeline({
    label: `Recordings of ${camera.name}`,
    onSeek: (t) => playFrom(t),
    onPreview: (t) => preview.frameAt(t),
    onPreviewCancel: () => { if (preview.cancel) preview.cancel(); },
  });
  document.getElementById('timeline').append(timeline.node);
  wireControls();
  wireExport();
  document.getElementById('review').hidden = false;

  const t = Number(params.get('t'));
  const start = Number.isFinite(t) && t > 0 ? t : Date.now() * 1000;
  await setDay(start);
  if (Number.isFinite(t) && t > 0) await playFrom(t);
}

window.addEventListener('pagehide', () => {
  if (live) live.stop();
  if (player) player.stop();
  clearInterval(refreshTimer);
});
window.addEventListener('resize', () => { if (timeline) timeline.render(); });
main();
