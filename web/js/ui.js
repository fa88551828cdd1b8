// ui — small DOM helpers shared by the pages. Text always goes in as text (textContent), never
// as HTML, so nothing a camera name or an error holds can become markup.

// el('a', {href: 'x', class: 'y'}, 'text', child, ...) -> element
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

// Sets the page's status line; kind: 'info', 'ok' or 'error'.
export function status(message, kind = 'info') {
  const node = document.getElementById('status');
  if (!node) return;
  node.textContent = message;
  node.dataset.kind = kind;
  node.hidden = message === '';
}

// "Mon 14:03:07" in the browser's locale and time zone (wall clock, for labels only).
export function formatTime(us) {
  const d = new Date(Number(us) / 1000);
  return d.toLocaleString(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function formatDuration(us) {
  const s = Math.round(Number(us) / 1e6);
  if (s < 60) return `${s} s`;
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

export function formatBytes(n) {
  const v = Number(n);
  if (v < 1024 * 1024) return `${Math.max(1, Math.round(v / 1024))} KiB`;
  return `${(v / (1024 * 1024)).toFixed(1)} MiB`;
}

const PAUSED_BY = { mqtt: 'an MQTT command', cli: 'the nvr command line' };

// "Recording paused by an MQTT command at Mon 14:02:05", or null when @camera (the API's camera
// JSON) is recording. Text for textContent only.
export function pausedText(camera) {
  if (camera.state !== 'paused' && !camera.paused_by) return null;
  const who = PAUSED_BY[camera.paused_by] || 'the household';
  const when = camera.paused_us ? ` at ${formatTime(camera.paused_us)}` : '';
  return `Recording paused by ${who}${when}`;
}

// The paused notice of @camera as an element, or null.
export function pausedNotice(camera) {
  const text = pausedText(camera);
  return text ? el('p', { class: 'paused', dataset: { pausedBy: camera.paused_by || '' } }, text)
              : null;
}

// A live view: figure with a muted inline <video> and a caption: @title, @detail, the stream
// state, a "Reconnect" button shown while the stream is not playing, and whether recording is
// paused.
export function liveFigure(camera, title, detail = '') {
  const video = el('video', { muted: true, playsinline: true, autoplay: true, class: 'live',
                               'aria-label': `Live view of ${camera.name}` });
  video.muted = true;  // the attribute alone does not mute a script-made element
  const state = el('span', { class: 'live-state' }, '…');
  const reconnect = el('button', { type: 'button', class: 'reconnect', hidden: true }, 'Reconnect');
  // Shown only while the live stream has audio; the video stays muted until this is clicked.
  const unmute = el('button', { type: 'button', class: 'unmute', hidden: true,
                                'aria-pressed': 'false' }, 'Unmute');
  const figure = el('figure', { class: 'camera', dataset: { cameraId: String(camera.id) } },
                    video,
                    el('figcaption', {}, el('span', { class: 'title' }, title),
                       detail ? el('span', { class: 'muted' }, detail) : null, state, reconnect,
                       unmute, pausedNotice(camera)));
  return { figure, video, state, reconnect, unmute };
}

// Wires a LivePlayer to a liveFigure's caption; returns the player (already started).
export function attachPlayer(PlayerClass, parts, cameraId) {
  const player = new PlayerClass(parts.video, cameraId, (state, message) => {
    parts.state.textContent = message;
    parts.state.dataset.state = state;
    // Offered while it waits to reconnect too: "now" instead of after the backoff.
    parts.reconnect.hidden = !(state === 'retrying' || state === 'ended' || state === 'error');
  }, (hasAudio) => {
    if (parts.unmute) parts.unmute.hidden = !hasAudio;
  });
  parts.reconnect.addEventListener('click', () => { player.start(); });
  if (parts.unmute) {
    parts.unmute.addEventListener('click', () => {   // a user gesture: allowed to play sound
      parts.video.muted = !parts.video.muted;
      parts.unmute.textContent = parts.video.muted ? 'Unmute' : 'Mute';
      parts.unmute.setAttribute('aria-pressed', String(!parts.video.muted));
    });
  }
  player.start();
  return player;
}

// One motion event as a list row: thumbnail (fetched from the daemon, which checks this device
// may see the camera), time, duration, zones and, with @showCamera, the camera's name. The row
// is a link to @href (the camera page, playing from just before the event).
export function eventRow(ev, href, showCamera) {
  const thumb = ev.has_thumbnail
    ? el('img', { src: `/api/v1/cameras/${ev.camera_id}/events/${ev.id}/thumbnail.jpg`,
                  alt: '', loading: 'lazy', width: '160', height: '90', class: 'thumb' })
    : el('span', { class: 'thumb none' }, 'no picture');
  const duration = ev.end_us === null ? 'going on now' : formatDuration(ev.end_us - ev.start_us);
  const zones = ev.zones.length ? ev.zones.join(', ') : null;
  return el('li', { dataset: { eventId: ev.id, cameraId: ev.camera_id } },
            el('a', { href, class: 'event' }, thumb,
               el('span', { class: 'event-text' },
                  showCamera ? el('span', { class: 'title' }, ev.camera) : null,
                  el('span', {}, formatTime(ev.start_us)),
                  el('span', { class: 'muted' }, duration),
                  zones ? el('span', { class: 'muted' }, `zones: ${zones}`) : null)));
}
