// api — the one way pages talk to the daemon (/api/v1/, docs/design/auth.md). JSON bodies go
// out with Content-Type application/json (the browser adds Origin and Sec-Fetch-Site); a 401
// makes one login with this browser's stored key (login/begin, sign, login/finish) and one
// retry. Never logs URLs, bodies or keys.

import { b64urlEncode, loginMessage } from './proto.js';
import { currentKey, rememberDevice, sign } from './keys.js';

const BASE = '/api/v1/';

// A refused or failed request: @status is the HTTP status (0 = no answer), @reason the
// daemon's {"error"} text or a short description.
export class ApiError extends Error {
  constructor(status, reason) {
    super(reason);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
  }
}

// One request, no login retry. @body (an object) is sent as JSON.
async function request(path, { method = 'GET', body, signal } = {}) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', redirect: 'error', signal };
  if (body !== undefined) {
    init.headers = { 'Content-Type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(BASE + path, init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'Hearth did not answer (network error)');
  }
}

// The {"error"} of a failed response (bounded), or its status text.
export async function errorReason(res) {
  try {
    const text = await res.text();
    if (text.length <= 4096) {
      const j = JSON.parse(text);
      if (j && typeof j.error === 'string') return j.error;
    }
  } catch {
    // not JSON: fall through
  }
  return res.statusText || `HTTP ${res.status}`;
}

async function jsonOrThrow(res) {
  if (!res.ok) throw new ApiError(res.status, await errorReason(res));
  return res.json();
}

let loginInFlight = null;

async function loginOnce() {
  const key = await currentKey();
  if (!key) throw new ApiError(401, 'not-paired');
  const publicKey = key.publicKey;
  const begin = await jsonOrThrow(await request('login/begin', { method: 'POST', body: { public_key: publicKey } }));
  if (typeof begin.nonce !== 'string') throw new ApiError(500, 'login/begin sent no nonce');
  const signature = b64urlEncode(await sign(key, loginMessage(location.origin, begin.nonce, publicKey)));
  const fin = await jsonOrThrow(await request('login/finish', {
    method: 'POST', body: { public_key: publicKey, nonce: begin.nonce, signature },
  }));
  if (fin.device) await rememberDevice(publicKey, fin.device).catch(() => {});
  return fin.device;
}

// Logs in with the stored key (concurrent callers share one attempt). Throws ApiError: 401
// with reason "not-paired" when this browser has no key, 401 when the key was refused
// (revoked or unknown), 429 when rate-limited.
export function login() {
  if (!loginInFlight) loginInFlight = loginOnce().finally(() => { loginInFlight = null; });
  return loginInFlight;
}

// A request whose Response the caller reads (the live stream): on 401, login and one retry.
export async function apiFetch(path, options = {}) {
  const res = await request(path, options);
  if (res.status !== 401) return res;
  if (res.body) await res.body.cancel().catch(() => {});
  await login();
  return request(path, options);
}

// A JSON request: resolves with the parsed body, throws ApiError on any non-2xx answer.
export async function api(path, options = {}) {
  return jsonOrThrow(await apiFetch(path, options));
}

// Public routes (pairing): no session, no login retry.
export async function apiPublic(path, body) {
  return jsonOrThrow(await request(path, { method: 'POST', body }));
}

// A short sentence for the user about @err from api()/login().
export function describeError(err) {
  if (!(err instanceof ApiError)) return 'Something went wrong in this page.';
  if (err.status === 401 && err.reason === 'not-paired')
    return 'This browser is not paired with Hearth. On the appliance, run "nvr pair" and open the address it prints.';
  if (err.status === 401)
    return 'Hearth refused this browser: it was revoked, or its pairing is no longer known. Pair it again with a new code.';
  if (err.status === 403) return `Refused: ${err.reason}`;
  if (err.status === 404) return 'Not found, or not shared with this browser.';
  if (err.status === 429) return 'Too many attempts: wait a minute and try again.';
  if (err.status === 0) return err.reason;
  if (err.status >= 502 && err.status <= 504)
    return `Hearth is not answering right now: its service may be stopped or restarting (${err.status}).`;
  return `Hearth answered ${err.status}: ${err.reason}`;
}
