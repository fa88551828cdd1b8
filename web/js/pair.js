// pair — "Pair this browser" (docs/design/auth.md "Messages" 1-3): reads the code from the URL
// fragment (#code=..., then removes it from the address bar and history), makes a
// non-extractable Ed25519 key, keeps it in IndexedDB, and registers its public key with a
// signature over the daemon's nonce. The code and keys are never logged.

import { ApiError, apiPublic } from './api.js';
import { currentKey, forget, generateKey, markPaired, savePending, sign } from './keys.js';
import { b64urlEncode, formatCode, normaliseCode, pairMessage } from './proto.js';
import { el, status } from './ui.js';

const form = document.getElementById('pair-form');
const input = document.getElementById('code');
const button = document.getElementById('pair-button');
const result = document.getElementById('result');

function cameraNames(list) {
  if (!Array.isArray(list)) return '';
  return list.map((c) => (typeof c === 'string' ? c : c && c.name)).filter(Boolean).join(', ');
}

// A sentence for a failed pair/begin or pair/finish.
function pairingError(err) {
  if (!(err instanceof ApiError)) return 'Pairing failed in this page.';
  const reason = String(err.reason || '').toLowerCase();
  if (err.status === 429) return 'Too many pairing attempts on this Hearth: wait a minute, then try again.';
  if (err.status === 0) return 'Hearth did not answer. Check that this is the address "nvr pair" printed.';
  if (err.status >= 502 && err.status <= 504)
    return `Hearth is not answering right now: its service may be stopped or restarting (${err.status}).`;
  if (err.status === 403 || err.status === 400) {
    // The daemon's reasons (nvr/pairing.c); the order matters ("request expired" vs "expired").
    if (reason.includes('request expired') || reason.includes('start again'))
      return 'Pairing took too long or was interrupted. Try again.';
    if (reason.includes('expired')) return 'This pairing code has expired. Ask for a new one (nvr pair).';
    if (reason.includes('already used')) return 'This pairing code was already used. Ask for a new one (nvr pair).';
    if (reason.includes('blocked') || reason.includes('too many'))
      return 'This pairing code was tried wrongly too often and no longer works. Ask for a new one.';
    if (reason.includes('origin') || reason.includes('signature'))
      return 'Open this page at the address "nvr pair" printed: this address is not the one Hearth expects.';
    if (reason.includes('already paired')) return 'This browser key is already paired.';
    return 'The pairing code is wrong. Check it and try again.';
  }
  return `Pairing failed: Hearth answered ${err.status} (${err.reason}).`;
}

async function showCurrent() {
  const node = document.getElementById('current');
  try {
    const key = await currentKey();
    if (key && key.state === 'paired' && key.device) {
      node.textContent = `This browser is paired as "${key.device.name}". Pairing it again replaces that key here.`;
      node.hidden = false;
    }
  } catch {
    // no IndexedDB (private window): pairing will say so
  }
}

async function pair(raw) {
  result.replaceChildren();
  const code = normaliseCode(raw);
  if (code === null) {
    status('That is not a pairing code: it has 12 letters and digits, like ABCD-EFGH-JKMN.', 'error');
    return;
  }
  if (!globalThis.isSecureContext || !globalThis.crypto || !crypto.subtle || !globalThis.indexedDB) {
    status('Open this page over https at the address "nvr pair" printed.', 'error');
    return;
  }
  button.disabled = true;
  input.disabled = true;
  let publicKey = null;
  let saved = false;
  let finished = false;
  try {
    status('Making this browser\'s key…');
    let key;
    try {
      key = await generateKey();
    } catch {
      status('This browser cannot make a device key (it needs Ed25519 in WebCrypto: Chromium 137 or newer, Firefox 129, Safari 17).', 'error');
      return;
    }
    publicKey = b64urlEncode(key.raw);

    status('Checking the code…');
    const begin = await apiPublic('pair/begin', { code });
    if (typeof begin.nonce !== 'string') throw new ApiError(500, 'no nonce');
    status(`Pairing as "${begin.name}"…`);

    const record = await savePending(publicKey, key.keyPair);
    saved = true;
    const signature = b64urlEncode(await sign(record, pairMessage(location.origin, code, begin.nonce, publicKey)));
    const fin = await apiPublic('pair/finish', { code, nonce: begin.nonce, public_key: publicKey, signature });
    finished = true;
    const device = fin.device || { name: begin.name, cameras: begin.cameras, admin: begin.admin };
    await markPaired(publicKey, device);

    status('');
    const names = cameraNames(device.cameras) || cameraNames(begin.cameras);
    result.append(
      el('p', { class: 'ok', id: 'paired' }, `This browser is paired as "${device.name}".`),
      el('p', {}, names ? `It may see: ${names}.` : 'No cameras are shared with it yet.',
         device.admin ? ' It is an administrator.' : ''),
      el('p', {}, el('a', { href: 'index.html', class: 'button' }, 'Go to my cameras')));
    form.hidden = true;
  } catch (e) {
    status(pairingError(e), 'error');
    // A pairing the daemon refused leaves no key behind; a lost answer (status 0) may have
    // paired, so that key stays (the next login will tell).
    if (saved && !finished && !(e instanceof ApiError && e.status === 0))
      await forget(publicKey).catch(() => {});
  } finally {
    button.disabled = false;
    input.disabled = false;
  }
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  pair(input.value);
});

const fragment = new URLSearchParams(location.hash.slice(1));
const fromUrl = fragment.get('code');
if (location.hash) history.replaceState(null, '', location.pathname + location.search);
showCurrent();
if (fromUrl) {
  const code = normaliseCode(fromUrl);
  input.value = code ? formatCode(code) : fromUrl.slice(0, 64);
  pair(fromUrl);
}
