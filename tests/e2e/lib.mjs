// lib — shared by the e2e scripts: loads playwright-core from the directory run_e2e.py
// installed it into (E2E_NODE_DIR; node_modules is never committed), launches Debian's
// chromium headless, and collects every console error, page error and CSP violation.

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export function playwright() {
  const dir = process.env.E2E_NODE_DIR || here;
  const require = createRequire(path.join(dir, 'package.json'));
  return require('playwright-core');
}

export async function launch() {
  const { chromium } = playwright();
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--autoplay-policy=no-user-gesture-required', '--no-first-run'],
  });
}

// Records problems seen in @page; @allowed(text) may excuse a console error.
export function watchPage(page, problems, allowed = () => false) {
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    const text = m.text();
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`CSP: ${text}`);
    else if (m.type() === 'error' && !allowed(text, m)) problems.push(`console error: ${text}`);
  });
  page.on('requestfailed', (r) => {
    const f = r.failure();
    if (f && !/ERR_ABORTED/.test(f.errorText) && !allowed(f.errorText, r))
      problems.push(`request failed: ${new URL(r.url()).pathname} ${f.errorText}`);
  });
}

// A check that did not hold (thrown by check(), reported without a stack by fail()).
export class E2EFailure extends Error {}

export function fail(what) {
  const text = what instanceof E2EFailure ? what.message : (what && what.stack) || String(what);
  console.log(`FAIL: ${text}`);
  process.exit(1);
}

export function check(cond, message) {
  if (!cond) throw new E2EFailure(message);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
