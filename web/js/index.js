// index — "My cameras": the cameras this browser's device may see (GET /api/v1/cameras, which
// lists only its ACL), each with a live view and a link to its recordings.

import { api, describeError } from './api.js';
import { LivePlayer } from './live.js';
import { el, status, liveFigure, attachPlayer } from './ui.js';

const players = [];

async function main() {
  const list = document.getElementById('cameras');
  status('Loading your cameras…');
  let cameras;
  try {
    ({ cameras } = await api('cameras'));
  } catch (e) {
    status(describeError(e), 'error');
    document.getElementById('pair-hint').hidden = false;
    return;
  }
  if (!Array.isArray(cameras) || cameras.length === 0) {
    status('No cameras are shared with this browser.');
    return;
  }
  status('');
  // The admin pages are linked for admin devices only (the daemon refuses the others anyway).
  api('me').then(({ device }) => {
    if (device && device.admin === true) document.getElementById('admin-link').hidden = false;
  }).catch(() => {});
  for (const cam of cameras) {
    const title = el('a', { href: `camera.html?id=${encodeURIComponent(cam.id)}` }, cam.name);
    const detail = [cam.state, cam.width && cam.height ? `${cam.width}×${cam.height}` : null]
      .filter(Boolean).join(' · ');
    const parts = liveFigure(cam, title, detail);
    list.append(el('li', {}, parts.figure));
    players.push(attachPlayer(LivePlayer, parts, cam.id));
  }
}

window.addEventListener('pagehide', () => { for (const p of players) p.stop(); });
main();
