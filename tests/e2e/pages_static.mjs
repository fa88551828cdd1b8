// pages_static — loads every page of web/ through the lighttpd front (or a local stand-in with
// its CSP) with no daemon behind /api/ (503, as lighttpd answers when the daemon is down): no
// script error, no CSP violation, each page says what went wrong; and keys.js runs in Chromium
// for real (non-extractable Ed25519 key in IndexedDB, signature verifies).
// Usage: node pages_static.mjs  (env: E2E_BASE_URL, E2E_NODE_DIR, E2E_ARTIFACTS, CHROMIUM)

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { check, fail, launch, watchPage } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const webRoot = path.resolve(here, '..', '..', 'web');
const artifacts = process.env.E2E_ARTIFACTS || path.join(os.tmpdir(), 'hearth-e2e-pages');
fs.mkdirSync(artifacts, { recursive: true });

// Without E2E_BASE_URL (run_e2e.py --static sets it to the real lighttpd), a local server
// stands in for the front with the CSP and MIME types of packaging/lighttpd.conf.in.
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
                '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml',
                '.webmanifest': 'application/manifest+json' };

function frontCsp() {
  const conf = fs.readFileSync(path.resolve(here, '..', '..', 'packaging', 'lighttpd.conf.in'), 'utf8');
  const m = conf.match(/"Content-Security-Policy" => "(default-src 'self';[^"]*)"/);
  check(m, 'no page CSP found in packaging/lighttpd.conf.in');
  return m[1];
}

function localFront() {
  const csp = frontCsp();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith('/api/')) {
      res.writeHead(503, { 'Content-Type': 'text/html' });
      res.end('<h1>503 Service Unavailable</h1>');
      return;
    }
    const rel = path.normalize(decodeURIComponent(url.pathname)).replace(/^\/+/, '') || 'index.html';
    const file = path.join(webRoot, rel);
    if (!file.startsWith(webRoot + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream',
                         'Content-Security-Policy': csp, 'X-Content-Type-Options': 'nosniff' });
    res.end(fs.readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

let server = null;
let base = process.env.E2E_BASE_URL;
if (!base) {
  server = await localFront();
  base = `http://127.0.0.1:${server.address().port}`;
}

const browser = await launch();
const problems = [];
let failed = null;
try {
  const context = await browser.newContext({ viewport: { width: 420, height: 800 }, ignoreHTTPSErrors: true });
  // The only expected errors: the 503s from /api/ (Chromium logs failed loads as errors).
  const allowed = (text) => /status of 50[23]/.test(text);

  async function open(pathAndQuery, waitFor) {
    const page = await context.newPage();
    watchPage(page, problems, allowed);
    await page.goto(base + pathAndQuery);
    await page.waitForFunction(waitFor, null, { timeout: 10000 });
    return page;
  }
  const statusText = (page) => page.locator('#status').innerText();

  // index: no daemon -> an error, and the pairing hint.
  let page = await open('/index.html', () => document.querySelector('#status[data-kind="error"]'));
  check(await page.locator('#pair-hint').isVisible(), 'index: no pairing hint after an API error');
  console.log(`index.html: "${await statusText(page)}"`);
  await page.screenshot({ path: path.join(artifacts, 'static-index.png'), fullPage: true });

  // pair with a good-looking code: key made, pair/begin fails (503), fragment removed, no key left.
  page = await open('/pair.html#code=abcd-efgh-jkmn',
                    () => document.querySelector('#status[data-kind="error"]'));
  check(new URL(page.url()).hash === '', 'pair: the code stayed in the address bar');
  check(await page.inputValue('#code') === 'ABCD-EFGH-JKMN', 'pair: code not shown normalised');
  const msg = await statusText(page);
  check(/50[23]/.test(msg), `pair: unexpected message "${msg}"`);
  console.log(`pair.html#code=…: "${msg}"`);
  await page.screenshot({ path: path.join(artifacts, 'static-pair.png'), fullPage: true });
  const left = await page.evaluate(async () => (await import('/js/keys.js')).currentKey());
  check(left === null, 'pair: a failed pairing left a key in IndexedDB');

  // pair with a malformed code: refused in the page, nothing sent.
  page = await open('/pair.html#code=not-a-code', () => document.querySelector('#status[data-kind="error"]'));
  check(/not a pairing code/.test(await statusText(page)), 'pair: malformed code not refused');

  // camera page without an API.
  page = await open('/camera.html?id=1', () => document.querySelector('#status[data-kind="error"]'));
  console.log(`camera.html: "${await statusText(page)}"`);

  // events page without an API.
  page = await open('/events.html', () => document.querySelector('#status[data-kind="error"]'));
  console.log(`events.html: "${await statusText(page)}"`);
  await page.screenshot({ path: path.join(artifacts, 'static-events.png'), fullPage: true });

  // the admin pages without an API: an error, and no admin control shown.
  for (const name of ['devices', 'cameras', 'health']) {
    page = await open(`/${name}.html`, () => document.querySelector('#status[data-kind="error"]'));
    check(await page.locator('#admin').isHidden(), `${name}: admin controls shown without an answer`);
    console.log(`${name}.html: "${await statusText(page)}"`);
  }

  // keys.js for real: non-extractable Ed25519 in IndexedDB, signatures verify, replace/forget.
  const r = await page.evaluate(async () => {
    const keys = await import('/js/keys.js');
    const proto = await import('/js/proto.js');
    const out = {};
    const a = await keys.generateKey();
    const pkA = proto.b64urlEncode(a.raw);
    await keys.savePending(pkA, a.keyPair);
    const stored = await keys.currentKey();
    out.pending = stored.state === 'pending' && stored.publicKey === pkA;
    out.extractable = stored.privateKey.extractable;
    try {
      await crypto.subtle.exportKey('pkcs8', stored.privateKey);
      out.exported = true;
    } catch {
      out.exported = false;
    }
    const message = proto.loginMessage(location.origin, 'bm9uY2U', pkA);
    const sig = await keys.sign(stored, message);
    out.sigLen = sig.length;
    out.verifies = await crypto.subtle.verify('Ed25519', stored.verifyKey, sig, new TextEncoder().encode(message));
    await keys.markPaired(pkA, { id: 7, name: 'static' });
    const b = await keys.generateKey();
    const pkB = proto.b64urlEncode(b.raw);
    await keys.savePending(pkB, b.keyPair);
    out.pairedWins = (await keys.currentKey()).publicKey === pkA;
    await keys.markPaired(pkB, { id: 8, name: 'static2' });
    const now = await keys.currentKey();
    out.replaced = now.publicKey === pkB && now.state === 'paired' && now.device.id === 8;
    await keys.forget(pkB);
    out.empty = (await keys.currentKey()) === null;
    return out;
  });
  check(r.pending, 'keys: pending key not stored');
  check(r.extractable === false && r.exported === false, 'keys: private key is extractable');
  check(r.sigLen === 64 && r.verifies, 'keys: signature does not verify');
  check(r.pairedWins, 'keys: a pending key displaced the paired one');
  check(r.replaced, 'keys: a finished pairing did not replace the old key');
  check(r.empty, 'keys: forget left the key');
  console.log('keys.js: non-extractable Ed25519 key stored, signed, verified, replaced, forgotten');

  check(problems.length === 0, `problems in the pages:\n  ${problems.join('\n  ')}`);
  await context.close();
} catch (e) {
  failed = e;
} finally {
  await browser.close();
  if (server) server.close();
}
if (failed) {
  if (problems.length) console.log(`problems seen:\n  ${problems.join('\n  ')}`);
  fail(failed);
}
console.log('PASS');
