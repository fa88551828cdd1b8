// devices — the admin's list of paired devices (GET devices): name, cameras, admin, last seen,
// revoked; change a device's cameras (PUT devices/{id}/cameras), revoke one after a confirmation
// (POST devices/{id}/revoke: its sessions end, its live views stop within 1 s), and pair a new
// device (POST invites: the code, its URL and, when the daemon sends one, a QR code of the URL).
// The last admin is offered no revoke (the daemon is the one that must refuse it). Admins only
// (admin.js); every name is set as text.

import { api, describeError } from './api.js';
import { missingRoute, reloadAfterSave, requireAdmin, say } from './admin.js';
import { cameraNames, imageBlob, inviteBody, isLastAdmin, pairLink } from './admin_core.js';
import { el, formatTime } from './ui.js';

let me = null;
let cameras = [];      // [{id, name}]: every camera (settings/cameras) or, on an older daemon, mine
let devices = [];

// Every camera of the box, for the checkboxes: settings/cameras lists them all; without that
// route (an older daemon) the admin's own cameras are all the page can name.
async function loadCameras() {
  try {
    const r = await api('settings/cameras');
    return { list: r.cameras.map((c) => ({ id: c.id, name: c.name })), all: true };
  } catch (e) {
    if (!missingRoute(e)) throw e;
    const r = await api('cameras');
    return { list: r.cameras.map((c) => ({ id: c.id, name: c.name })), all: false };
  }
}

function cameraBoxes(name, checked) {
  return cameras.map((c) => el('label', { class: 'choice' },
    el('input', { type: 'checkbox', name, value: String(c.id), checked: checked.includes(Number(c.id)) || undefined }),
    ` ${c.name}`));
}

const checkedIds = (root, name) =>
  [...root.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => Number(i.value));

function deviceRow(d) {
  const revoked = d.revoked_us !== null;
  const last = isLastAdmin(d, devices);
  const state = el('p', { class: 'form-state', role: 'status', hidden: true });
  const names = cameraNames(d.cameras, cameras);
  const facts = [
    revoked ? `revoked ${formatTime(d.revoked_us)}` : null,
    d.last_seen_us ? `last seen ${formatTime(d.last_seen_us)}` : 'never seen',
  ].filter(Boolean).join(' · ');
  const li = el('li', { class: revoked ? 'device revoked' : 'device', dataset: { deviceId: String(d.id) } },
    el('div', { class: 'row-head' },
       el('span', { class: 'title' }, d.name),
       me && d.id === me.id ? el('span', { class: 'badge' }, 'this browser') : null,
       d.admin ? el('span', { class: 'badge' }, 'admin') : null,
       revoked ? el('span', { class: 'badge bad' }, 'revoked') : null),
    el('p', { class: 'muted' }, facts),
    el('p', { class: 'device-cameras' }, names.length ? `Cameras: ${names.join(', ')}` : 'Cameras: none'));
  if (revoked) return li;

  const buttons = el('div', { class: 'buttons' });
  const edit = el('button', { type: 'button', class: 'small', 'data-action': 'cameras' }, 'Change cameras');
  buttons.append(edit);
  if (last) {
    li.append(el('p', { class: 'note last-admin' },
      'The last admin: it cannot be revoked or made a plain device. Pair another admin first.'));
  } else {
    const revoke = el('button', { type: 'button', class: 'small danger', 'data-action': 'revoke' }, 'Revoke');
    revoke.addEventListener('click', () => confirmRevoke(li, d, buttons, state));
    buttons.append(revoke);
  }
  edit.addEventListener('click', () => editCameras(li, d, buttons, state));
  li.append(buttons, state);
  return li;
}

function editCameras(li, d, buttons, state) {
  buttons.hidden = true;
  const name = `cams-${d.id}`;
  const form = el('form', { class: 'admin-form inline-form' },
    el('fieldset', { class: 'choose' }, el('legend', {}, `Cameras ${d.name} may see`),
       ...cameraBoxes(name, d.cameras.map(Number))));
  const save = el('button', { type: 'submit' }, 'Save cameras');
  const cancel = el('button', { type: 'button', class: 'small' }, 'Cancel');
  form.append(el('div', { class: 'buttons' }, save, cancel));
  cancel.addEventListener('click', () => { form.remove(); buttons.hidden = false; buttons.querySelector('button').focus(); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const ids = checkedIds(form, name);
    // Cameras the page cannot name (an older daemon shows only the admin's own) are kept.
    const known = new Set(cameras.map((c) => Number(c.id)));
    const kept = d.cameras.map(Number).filter((id) => !known.has(id));
    save.disabled = true;
    say(state, 'Saving…');
    try {
      await api(`devices/${d.id}/cameras`, { method: 'PUT', body: { cameras: [...kept, ...ids] } });
    } catch (e) {
      save.disabled = false;
      say(state, describeError(e), 'error');
      return;
    }
    say(state, '');
    await reloadAfterSave(topStatus(), `Saved: ${d.name} now sees ${ids.length ? cameraNames(ids, cameras).join(', ') : 'no camera'}.`, refresh);
  });
  li.insertBefore(form, state);
  form.querySelector('input')?.focus();
}

function confirmRevoke(li, d, buttons, state) {
  buttons.hidden = true;
  const self = me && d.id === me.id;
  const yes = el('button', { type: 'button', class: 'danger', 'data-action': 'confirm-revoke' }, `Revoke ${d.name}`);
  const no = el('button', { type: 'button', class: 'small' }, 'Cancel');
  const box = el('div', { class: 'confirm', role: 'alertdialog', 'aria-label': `Revoke ${d.name}?` },
    el('p', {}, self
      ? `Revoke this browser (${d.name})? It stops at once and must be paired again with a new code.`
      : `Revoke ${d.name}? Its live views stop at once and it must be paired again with a new code.`),
    el('div', { class: 'buttons' }, yes, no));
  no.addEventListener('click', () => { box.remove(); buttons.hidden = false; buttons.querySelector('[data-action="revoke"]').focus(); });
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    say(state, 'Revoking…');
    try {
      await api(`devices/${d.id}/revoke`, { method: 'POST', body: {} });
    } catch (e) {
      yes.disabled = false;
      say(state, describeError(e), 'error');
      return;
    }
    say(state, '');
    await reloadAfterSave(topStatus(), `${d.name} is revoked.`, refresh);
  });
  li.insertBefore(box, state);
  no.focus();
}

const topStatus = () => document.getElementById('status');

async function refresh() {
  const list = document.getElementById('devices');
  ({ devices } = await api('devices'));
  devices.sort((a, b) => (a.revoked_us !== null) - (b.revoked_us !== null) || a.id - b.id);
  list.replaceChildren(...devices.map(deviceRow));
}

// The QR code as an <img>: the daemon's SVG (text, or a data URL) shown through a blob: URL, so
// no markup of it enters the page (an <img> runs no script of an SVG). The previous one's URL
// is released when a new invite replaces it.
let qrUrl = null;
function qrImage(qr) {
  const blob = imageBlob(qr, 'image/svg+xml');
  if (qrUrl) { URL.revokeObjectURL(qrUrl); qrUrl = null; }
  if (!blob) return null;
  qrUrl = URL.createObjectURL(blob);
  return el('img', { src: qrUrl, alt: 'QR code of the pairing address', class: 'qr', width: '240', height: '240' });
}

// The invite's URL is made a link only when it is this page's own pair.html with a #code= (the
// daemon builds it from its configured public origin, which may differ from the address this
// browser uses): otherwise the code alone is shown, with no link and no QR code.
function showInvite(r, name) {
  const box = document.getElementById('invite-result');
  const link = pairLink(r.url, window.location.origin);
  const qr = link ? qrImage(r.qr_svg) : null;
  box.replaceChildren(...[
    el('h3', {}, `Pairing code for ${name}`),
    el('p', { class: 'code', id: 'invite-code' }, r.code),
    link ? el('p', {}, 'On the new device open ', el('a', { href: link, id: 'invite-url', rel: 'noreferrer' }, link),
              qr ? ', or scan:' : '.')
      : el('p', {}, `On the new device open ${window.location.origin}/pair.html and type the code.`),
    qr,
    el('p', { class: 'muted' }, `Works once, until ${formatTime(r.expires_us)}.`)].filter(Boolean));
  box.hidden = false;
  box.scrollIntoView({ block: 'nearest' });
}

async function main() {
  me = await requireAdmin();
  if (!me) return;
  try {
    const got = await loadCameras();
    cameras = got.list;
    const fs = document.getElementById('invite-cameras');
    fs.append(...cameraBoxes('invite-camera', []));
    if (!got.all) fs.append(el('p', { class: 'muted note' }, 'Only the cameras this device sees are listed.'));
    await refresh();
  } catch (e) {
    document.getElementById('status').textContent = describeError(e);
    document.getElementById('status').dataset.kind = 'error';
    document.getElementById('status').hidden = false;
    return;
  }
  const form = document.getElementById('invite');
  const state = document.getElementById('invite-state');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let body;
    try {
      body = inviteBody({ name: document.getElementById('invite-name').value,
                          cameraIds: checkedIds(form, 'invite-camera'),
                          admin: document.getElementById('invite-admin').checked,
                          ttlMinutes: document.getElementById('invite-ttl').value });
    } catch (e) {
      say(state, e.message, 'error');
      return;
    }
    const button = document.getElementById('invite-button');
    button.disabled = true;
    say(state, 'Making a code…');
    try {
      const r = await api('invites', { method: 'POST', body });
      say(state, '');
      showInvite(r, body.name);
      form.reset();
    } catch (e) {
      say(state, describeError(e), 'error');
    } finally {
      button.disabled = false;
    }
  });
}

main();
