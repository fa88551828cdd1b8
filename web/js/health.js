// health — storage and health of the box for an admin: GET health (version, uptime, disk, the
// retention limits in force, each camera's state, footage kept and rate, reconnects today, last
// error, the MQTT bridge) and the audit trail (GET audit?before_id=&limit=, newest first, "Older
// changes" pages back). Admins only (admin.js); everything from the daemon is set as text.

import { api, describeError } from './api.js';
import { missingRoute, requireAdmin, say } from './admin.js';
import { AUDIT_PAGE, auditDetails, auditPath, diskUsed, formatSize, formatUptime } from './admin_core.js';
import { el, formatTime } from './ui.js';

const NOT_YET = 'This Hearth does not offer this yet (its daemon is older than these pages).';

function fact(dl, term, ...value) {
  dl.append(el('dt', {}, term), el('dd', {}, ...value));
}

// The retention object's members, whatever they are, as "key: value" text.
function retentionText(ret) {
  if (!ret || typeof ret !== 'object') return 'unknown';
  return Object.entries(ret).map(([k, v]) => {
    const shown = v === null ? 'none'
      : /bytes$/.test(k) ? formatSize(v)
      : typeof v === 'object' ? JSON.stringify(v) : String(v);
    return `${k.replace(/_/g, ' ')}: ${shown}`;
  }).join(' · ');
}

function cameraItem(c) {
  const problems = c.last_error ? el('p', { class: 'form-state', dataset: { kind: 'error' } }, `Last error: ${c.last_error}`) : null;
  const days = c.days_kept === null || c.days_kept === undefined ? '?' : Number(c.days_kept).toFixed(1);
  return el('li', { dataset: { cameraId: String(c.id) } },
    el('div', { class: 'row-head' }, el('span', { class: 'title' }, c.name),
       el('span', { class: c.state === 'recording' || c.state === 'online' ? 'badge' : 'badge off' }, c.state || '?')),
    el('p', {}, `${formatSize(c.bytes)} kept · ${days} days of footage · ${formatSize(c.bytes_per_day)} a day`),
    el('p', { class: 'muted' }, `Reconnects today: ${c.reconnects_today ?? '?'}`),
    problems);
}

async function loadHealth() {
  const state = document.getElementById('health-state');
  const dl = document.getElementById('box');
  say(state, 'Loading…');
  let h;
  try {
    h = await api('health');
  } catch (e) {
    say(state, missingRoute(e) ? NOT_YET : describeError(e), 'error');
    return;
  }
  say(state, '');
  dl.replaceChildren();
  fact(dl, 'Version', String(h.version ?? '?'));
  fact(dl, 'Running for', formatUptime(h.uptime_s));
  const used = diskUsed(h.disk);
  if (h.disk) {
    fact(dl, 'Disk', `${h.disk.path ?? ''}`);
    fact(dl, 'Free', `${formatSize(h.disk.free_bytes)} of ${formatSize(h.disk.total_bytes)}`,
         used === null ? null : el('br'),
         used === null ? null : el('meter', { min: '0', max: '1', low: '0.8', high: '0.9', optimum: '0',
                                              value: used.toFixed(3), 'aria-label': 'disk used',
                                              title: `${Math.round(used * 100)} % used` }));
  }
  fact(dl, 'Retention', retentionText(h.retention));
  if (h.mqtt) fact(dl, 'MQTT', `${h.mqtt.state ?? '?'}, ${h.mqtt.outbox_backlog ?? 0} message(s) waiting`);
  const cams = Array.isArray(h.cameras) ? h.cameras : [];
  document.getElementById('health-cameras').replaceChildren(...cams.map(cameraItem));
}

let before = null;

async function loadAudit(more) {
  const state = document.getElementById('audit-state');
  const list = document.getElementById('audit');
  const older = document.getElementById('audit-older');
  older.disabled = true;
  say(state, 'Loading…');
  let r;
  try {
    r = await api(auditPath(more ? before : null, AUDIT_PAGE));
  } catch (e) {
    say(state, missingRoute(e) ? NOT_YET : describeError(e), 'error');
    older.disabled = false;
    return;
  }
  const entries = Array.isArray(r.entries) ? r.entries : [];
  if (!more) list.replaceChildren();
  say(state, !more && entries.length === 0 ? 'No changes recorded yet.' : '');
  for (const e of entries) {
    const details = auditDetails(e.details);
    list.append(el('li', { dataset: { auditId: String(e.id) } },
      el('div', { class: 'row-head' }, el('span', { class: 'title' }, `${e.action}${e.target ? ` ${e.target}` : ''}`),
         el('span', { class: 'muted' }, `by ${e.actor} · ${formatTime(e.time_us)}`)),
      details ? el('p', { class: 'details' }, details) : null));
  }
  before = r.next_before_id ?? null;
  older.hidden = before === null;
  older.disabled = false;
}

async function main() {
  if (!(await requireAdmin())) return;
  document.getElementById('health-refresh').addEventListener('click', loadHealth);
  document.getElementById('audit-older').addEventListener('click', () => loadAudit(true));
  await Promise.all([loadHealth(), loadAudit(false)]);
}

main();
