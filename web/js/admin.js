// admin — what every admin page does first: ask the daemon who this browser is (GET me) and show
// the page's controls only to an admin device. A device that is not an admin sees one sentence
// and no control; the daemon refuses its admin requests anyway (403), so this is a courtesy, not
// the protection.

import { api, describeError, ApiError } from './api.js';
import { status } from './ui.js';

// Resolves with the `me` device ({id, name, admin, cameras}) when it is an admin and the page's
// #admin section is shown; with null otherwise, after saying why in #status.
export async function requireAdmin() {
  status('Checking this browser…');
  let me;
  try {
    ({ device: me } = await api('me'));
  } catch (e) {
    status(describeError(e), 'error');
    return null;
  }
  if (!me || me.admin !== true) {
    status(`This device ("${me ? me.name : '?'}") is not an admin: only devices paired as admins can change Hearth's settings. Pair an admin device with "nvr pair --admin".`, 'error');
    document.body.dataset.admin = 'no';
    return null;
  }
  document.body.dataset.admin = 'yes';
  status('');
  document.getElementById('admin').hidden = false;
  return me;
}

// A route another part of Hearth may not offer yet (an older daemon): 404 or 405 for a route
// that is a settings route, not an object.
export function missingRoute(err) {
  return err instanceof ApiError && (err.status === 405 || (err.status === 404 && /route|not found/i.test(err.reason)));
}

// Says @message in the element @node ('info', 'ok' or 'error'), like status() for one part.
export function say(node, message, kind = 'info') {
  node.textContent = message;
  node.dataset.kind = kind;
  node.hidden = message === '';
}
