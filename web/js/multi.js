// multi — up to four of this device's cameras played together at the same wall time: one
// timeline (every chosen camera's recordings and motion on one bar), one clock, one speed.
// The first chosen camera with footage at the time leads; the others follow its wall clock
// and are put back in step when they drift more than SYNC_TOLERANCE_US (checked every
// SYNC_EVERY_MS), or show "no recording" where they have none. `?ids=1,2&t=µs` chooses the
// cameras and a time.

import { api, describeError } from './api.js';
import { loadCameraDay, wireDayNav } from './daydata.js';
import { decimalId } from './proto.js';
import { dayKey, dayWindow, locate } from './review_core.js';
import { HlsPlayer, HlsPreview, loadHls } from './hlsplay.js';
import { PreviewSource, ReviewPlayer } from './review.js';
import { DayTimeline } from './timeline.js';
import { el, status } from './ui.js';

const MAX_CAMERAS = 4;
const SYNC_EVERY_MS = 1000;
const SYNC_TOLERANCE_US = 300e3;

let cameras = [];          // allowed: [{id, name}]
let tiles = [];            // chosen: [{camera, player, segments, state, node}]
let timeline = null;
let preview = null;
let day = null;
let rate = 1;
let syncTimer = 0;
let started = false;
let Hls = null;            // hls.js when this browser can use it (hlsplay.js), else whole files

function tileFor(camera) {
  const videos = [el('video', { class: 'review', muted: true, playsinline: true, preload: 'auto' }),
                  el('video', { class: 'review', muted: true, playsinline: true, preload: 'auto', hidden: true })];
  for (const v of videos) v.muted = true;
  const state = el('span', { class: 'muted tile-state' }, '');
  const box = el('div', { class: 'player' }, ...videos);
  const node = el('li', { dataset: { cameraId: camera.id } },
                  el('figure', { class: 'camera' }, box,
                     el('figcaption', {}, el('a', { class: 'title', href: `camera.html?id=${camera.id}` }, camera.name),
                        state)));
  const tile = { camera, segments: [], state, node, box };
  const Player = Hls ? HlsPlayer.bind(null, Hls) : ReviewPlayer;
  tile.player = new Player(videos, camera.id, camera.name, {
    onTime: (t) => {
      box.dataset.wallUs = String(Math.round(t));
      if (tile === leader()) onLeaderTime(t);
    },
    onState: (text) => { state.textContent = text; },
    onSegment: (seg) => { box.dataset.segmentId = seg.id; },
  });
  return tile;
}

// The tile whose wall clock the others follow: the first with footage at its current time.
function leader() {
  return tiles.find((t) => t.player.current && !t.player.video.ended) || tiles[0];
}

function onLeaderTime(t) {
  timeline.setPlayhead(t);
  const clock = document.getElementById('clock');
  clock.textContent = new Date(t / 1000).toLocaleTimeString();
  clock.dataset.wallUs = String(Math.round(t));
}

async function loadDay() {
  try {
    const days = await Promise.all(tiles.map((t) => loadCameraDay(t.camera, day)));
    const spans = [];
    const events = [];
    days.forEach((d, i) => {
      tiles[i].segments = d.segments;
      tiles[i].player.setSegments(d.segments);
      spans.push(...d.spans);
      events.push(...d.events);
    });
    if (tiles.length) preview.setSegments(tiles[0].segments);
    timeline.setData(spans, events);
    document.getElementById('grid').dataset.loaded = String(days.reduce((n, d) => n + d.segments.length, 0));
  } catch (e) {
    status(describeError(e), 'error');
  }
}

async function playAll(t) {
  if (t < day.from || t >= day.to) await setDay(t);
  try {
    await api('me');   // the <video>s cannot log in by themselves
  } catch (e) {
    status(describeError(e), 'error');
    return;
  }
  started = true;
  document.getElementById('controls').hidden = false;
  document.getElementById('play-pause').textContent = 'Pause';
  timeline.setPlayhead(t);
  await Promise.all(tiles.map((tile) => {
    if (!locate(tile.segments, t)) {
      tile.player.stop();
      tile.state.textContent = 'No recording at this time.';
      return null;
    }
    tile.player.setRate(rate);
    return tile.player.playAt(t);
  }));
  clearInterval(syncTimer);
  syncTimer = setInterval(sync, SYNC_EVERY_MS);
}

// Puts every follower back at the leader's wall time when it drifted, or when it has footage
// there but is not playing it.
function sync() {
  const lead = leader();
  if (!lead || !lead.player.current) return;
  const t = lead.player.wallTime();
  const paused = lead.player.video.paused;
  for (const tile of tiles) {
    if (tile === lead) continue;
    const w = locate(tile.segments, t);
    const has = w && !w.skipped;
    if (!has) {
      if (tile.player.current && !tile.player.video.paused) tile.player.video.pause();
      tile.state.textContent = 'No recording at this time.';
      continue;
    }
    const mine = tile.player.current ? tile.player.wallTime() : null;
    if (mine === null || Math.abs(mine - t) > SYNC_TOLERANCE_US * Math.max(1, rate)) {
      tile.player.playAt(t).then(() => { if (paused) tile.player.video.pause(); });
    } else if (paused !== tile.player.video.paused) {
      if (paused) tile.player.video.pause();
      else tile.player.video.play().catch(() => {});
    }
  }
}

function setDay(us) {
  day = dayWindow(us);
  document.getElementById('day').value = dayKey(day.from);
  document.getElementById('day-next').disabled = day.from >= dayWindow(Date.now() * 1000).from;
  timeline.setDay(day);
  return loadDay();
}

function choose(ids) {
  for (const t of tiles) t.player.stop();
  tiles = cameras.filter((c) => ids.includes(c.id)).slice(0, MAX_CAMERAS).map(tileFor);
  const grid = document.getElementById('grid');
  grid.replaceChildren(...tiles.map((t) => t.node));
  grid.dataset.count = String(tiles.length);
  const first = tiles[0] ? tiles[0].camera.id : '0';
  preview = Hls ? new HlsPreview(Hls, first)
                : new PreviewSource(el('video', { muted: true, playsinline: true, preload: 'metadata' }), first);
  const url = new URL(location.href);
  url.searchParams.set('ids', tiles.map((t) => t.camera.id).join(','));
  history.replaceState(null, '', url);
  for (const box of document.querySelectorAll('#choices input')) {
    box.checked = ids.includes(box.value);
    box.disabled = !box.checked && ids.length >= MAX_CAMERAS;
  }
  return loadDay();
}

function wire() {
  const pp = document.getElementById('play-pause');
  pp.addEventListener('click', () => {
    const lead = leader();
    if (!lead) return;
    if (lead.player.video.paused) {
      for (const t of tiles) if (t.player.current) t.player.video.play().catch(() => {});
      pp.textContent = 'Pause';
    } else {
      for (const t of tiles) t.player.video.pause();
      pp.textContent = 'Play';
    }
  });
  document.getElementById('speed').addEventListener('change', (e) => {
    rate = Number(e.target.value);
    for (const t of tiles) t.player.setRate(rate);
  });
  wireDayNav(() => day, setDay);
}

async function main() {
  try {
    ({ cameras } = await api('cameras'));
  } catch (e) {
    status(describeError(e), 'error');
    return;
  }
  cameras = (Array.isArray(cameras) ? cameras : []).map((c) => ({ id: String(c.id), name: c.name }));
  if (cameras.length === 0) {
    status('No cameras are shared with this browser.');
    return;
  }
  Hls = await loadHls();
  const params = new URLSearchParams(location.search);
  const asked = (params.get('ids') || '').split(',').map(decimalId).filter(Boolean);
  const ids = asked.length ? asked : cameras.slice(0, MAX_CAMERAS).map((c) => c.id);
  const choices = document.getElementById('choices');
  for (const c of cameras) {
    const box = el('input', { type: 'checkbox', value: c.id });
    box.addEventListener('change', () => {
      const now = [...choices.querySelectorAll('input:checked')].map((b) => b.value);
      choose(now).then(() => { if (started && timeline.playhead !== null) playAll(timeline.playhead); });
    });
    choices.append(el('label', { class: 'choice' }, box, ' ', c.name));
  }
  document.getElementById('choose').hidden = false;
  timeline = new DayTimeline({
    label: 'Recordings of the chosen cameras',
    onSeek: (t) => playAll(t),
    onPreview: (t) => preview.frameAt(t),
    onPreviewCancel: () => { if (preview.cancel) preview.cancel(); },
  });
  document.getElementById('timeline').append(timeline.node);
  wire();
  const t = Number(params.get('t'));
  day = dayWindow(Number.isFinite(t) && t > 0 ? t : Date.now() * 1000);
  document.getElementById('day').value = dayKey(day.from);
  timeline.setDay(day);
  await choose(ids);
  if (Number.isFinite(t) && t > 0) await playAll(t);
}

window.addEventListener('pagehide', () => {
  clearInterval(syncTimer);
  for (const t of tiles) t.player.stop();
});
window.addEventListener('resize', () => { if (timeline) timeline.render(); });
main();
