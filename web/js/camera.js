// camera — one camera: its live view and its recordings of the last 24 hours
// (GET /api/v1/cameras/{id}/segments), any of which plays in a <video> from .../media (served by
// lighttpd with X-Sendfile after the daemon authorized this device for this camera and segment).

import { api, describeError } from './api.js';
import { LivePlayer } from './live.js';
import { decimalId } from './proto.js';
import { attachPlayer, el, formatBytes, formatDuration, formatTime, liveFigure, pausedNotice,
         status } from './ui.js';

const DAY_US = 24 * 3600 * 1e6;
let live = null;

async function playSegment(camId, seg, row) {
  const video = document.getElementById('playback');
  const label = document.getElementById('playback-label');
  // The <video> cannot log in by itself: make sure the session is valid first (api() logs in
  // again with this browser's key on a 401).
  try {
    await api(`cameras/${camId}`);
  } catch (e) {
    status(describeError(e), 'error');
    return;
  }
  for (const r of document.querySelectorAll('#segments li')) r.removeAttribute('aria-current');
  row.setAttribute('aria-current', 'true');
  label.textContent = `Recording from ${formatTime(seg.start_us)} (${formatDuration(seg.duration_us)})`;
  video.hidden = false;
  video.dataset.segmentId = String(seg.id);
  video.src = `/api/v1/cameras/${camId}/segments/${decimalId(seg.id)}/media`;
  video.play().catch(() => { /* autoplay refused: the controls are there */ });
}

function renderSegments(camId, segments) {
  const list = document.getElementById('segments');
  list.replaceChildren();
  const sorted = segments.filter((s) => decimalId(s.id) !== null)
                         .sort((a, b) => Number(b.start_us) - Number(a.start_us));
  if (sorted.length === 0) {
    list.append(el('li', { class: 'muted' }, 'No recordings in the last 24 hours.'));
    return;
  }
  for (const seg of sorted) {
    const row = el('li', { dataset: { segmentId: String(seg.id) } });
    const play = el('button', { type: 'button', class: 'play' }, 'Play');
    play.addEventListener('click', () => playSegment(camId, seg, row));
    row.append(play, ' ', formatTime(seg.start_us), ' ',
               el('span', { class: 'muted' },
                  `${formatDuration(seg.duration_us)} · ${formatBytes(seg.bytes)}${seg.recording ? ' · recording now' : ''}`));
    list.append(row);
  }
}

async function loadSegments(camId) {
  const now = Date.now() * 1000;
  const from = Math.floor(now - DAY_US);
  const to = Math.ceil(now + 60e6);
  try {
    const { segments } = await api(`cameras/${camId}/segments?from_us=${from}&to_us=${to}`);
    renderSegments(camId, Array.isArray(segments) ? segments : []);
  } catch (e) {
    status(describeError(e), 'error');
  }
}

async function main() {
  const camId = decimalId(new URLSearchParams(location.search).get('id') || '');
  if (camId === null) {
    status('No camera chosen.', 'error');
    return;
  }
  let cam;
  try {
    const r = await api(`cameras/${camId}`);
    cam = r.camera || r;
  } catch (e) {
    status(describeError(e), 'error');
    return;
  }
  document.title = `Hearth — ${cam.name}`;
  document.getElementById('name').textContent = cam.name;
  const notice = pausedNotice(cam);
  if (notice) document.getElementById('name').after(notice);
  // The paused notice is under the heading already, not again in the live caption.
  const parts = liveFigure({ id: cam.id, name: cam.name }, 'Live');
  document.getElementById('live').append(parts.figure);
  live = attachPlayer(LivePlayer, parts, camId);
  document.getElementById('refresh').addEventListener('click', () => loadSegments(camId));
  document.getElementById('recordings').hidden = false;
  await loadSegments(camId);
}

window.addEventListener('pagehide', () => { if (live) live.stop(); });
main();
