// events — motion events of every camera this device may see, newest first: thumbnail, camera,
// time, duration, zones; filtered by day, camera and zone; 20 to a page. While open it asks
// again every few seconds (only while the page is visible), so new events appear by themselves.
// Opening one plays its camera from a few seconds before it (camera.html?id=..&t=..). The list
// of a camera comes from .../cameras/{id}/events, which the daemon answers only for cameras in
// this device's list.

import { api, describeError } from './api.js';
import { EVENT_PREROLL_US, dayKey, dayWindow, filterEvents, mergeEvents, pageOf, parseDayKey,
         zonesOf } from './review_core.js';
import { el, eventRow, status } from './ui.js';

const PAGE_SIZE = 20;
const POLL_MS = 5000;

let cameras = [];
let all = [];
let page = 0;
let day = dayWindow(Date.now() * 1000);
let timer = 0;
let loading = false;

function option(value, text, selected) {
  return el('option', { value, selected: selected || undefined }, text);
}

function render() {
  const camSel = document.getElementById('camera');
  const zoneSel = document.getElementById('zone');
  const filter = { camera: camSel.value, zone: zoneSel.value };
  const zones = zonesOf(all);
  zoneSel.replaceChildren(option('', 'All zones', filter.zone === ''),
                          ...zones.map((z) => option(z, z, z === filter.zone)));
  const shown = filterEvents(all, filter);
  const p = pageOf(shown, page, PAGE_SIZE);
  page = p.page;
  const list = document.getElementById('events');
  list.replaceChildren(...p.items.map((ev) =>
    eventRow(ev, `camera.html?id=${ev.camera_id}&t=${ev.start_us - EVENT_PREROLL_US}`, true)));
  if (shown.length === 0) list.append(el('li', { class: 'muted' }, 'No motion events on this day.'));
  document.getElementById('summary').textContent =
    `${shown.length} event${shown.length === 1 ? '' : 's'}${shown.length !== all.length ? ` of ${all.length}` : ''}`;
  document.getElementById('page').textContent = `page ${p.page + 1} of ${p.pages}`;
  document.getElementById('newer').disabled = p.page === 0;
  document.getElementById('older').disabled = p.page >= p.pages - 1;
  list.dataset.count = String(shown.length);
}

async function load() {
  if (loading) return;
  loading = true;
  try {
    const per = await Promise.all(cameras.map(async (camera) => {
      const r = await api(`cameras/${camera.id}/events?from_us=${Math.floor(day.from)}&to_us=${Math.ceil(day.to)}`);
      return { camera, events: r.events };
    }));
    all = mergeEvents(per);
    status('');
    render();
  } catch (e) {
    status(describeError(e), 'error');
  } finally {
    loading = false;
  }
}

function schedule() {
  clearInterval(timer);
  const today = dayWindow(Date.now() * 1000);
  if (day.from === today.from && document.visibilityState === 'visible')
    timer = setInterval(load, POLL_MS);
}

async function main() {
  status('Loading events…');
  try {
    ({ cameras } = await api('cameras'));
  } catch (e) {
    status(describeError(e), 'error');
    return;
  }
  if (!Array.isArray(cameras) || cameras.length === 0) {
    status('No cameras are shared with this browser.');
    return;
  }
  cameras = cameras.map((c) => ({ id: String(c.id), name: c.name }));
  const camSel = document.getElementById('camera');
  for (const c of cameras) camSel.append(option(c.id, c.name, false));
  const dayInput = document.getElementById('day');
  dayInput.value = dayKey(day.from);
  dayInput.addEventListener('change', () => {
    const us = parseDayKey(dayInput.value);
    if (us === null) return;
    day = dayWindow(us);
    page = 0;
    schedule();
    load();
  });
  camSel.addEventListener('change', () => { page = 0; render(); });
  document.getElementById('zone').addEventListener('change', () => { page = 0; render(); });
  document.getElementById('newer').addEventListener('click', () => { page--; render(); });
  document.getElementById('older').addEventListener('click', () => { page++; render(); });
  document.addEventListener('visibilitychange', () => { schedule(); if (document.visibilityState === 'visible') load(); });
  schedule();
  await load();
}

window.addEventListener('pagehide', () => clearInterval(timer));
main();
