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

// The daemon's reason for a path it has no route for (a 404 for a missing object, e.g. a camera
// removed meanwhile, gives another reason).
export const NO_ROUTE = 'no such route';

// A route this daemon does not offer (an older daemon): 404 {"error": "no such route"}, or 405
// for a path it knows with another method.
export function missingRoute(err) {
  return err instanceof ApiError && (err.status === 405 || (err.status === 404 && err.reason === NO_ROUTE));
}

// After a change that succeeded, the list is reloaded by @reload; a failing reload must not read
// as a failed change. Says the outcome in @node and resolves with whether the reload worked.
export async function reloadAfterSave(node, okMessage, reload) {
  try {
    await reload();
  } catch (e) {
    say(node, `${okMessage.replace(/\.$/, '')}, but the list could not be reloaded: ${describeError(e)} (reload the page to see it).`, 'error');
    return false;
  }
  say(node, okMessage, 'ok');
  return true;
}

// Says @message in the element @node ('info', 'ok' or 'error'), like status() for one part.
export function say(node, message, kind = 'info') {
  node.textContent = message;
  node.dataset.kind = kind;
  node.hidden = message === '';
}
