// admin_core — the pure part of the admin pages (devices.html, cameras.html, health.html): motion
// polygon geometry and its text form, request bodies built from the forms, and the rules the pages
// show (the last admin, write-only passwords). No DOM, no fetch, no clock: unit-tested under node
// (tests/e2e/test_admin_core.mjs). Limits mirror the daemon's (nvr/motion.h, nvr/events.c,
// nvr/pairing.c); the daemon checks them again, these only let the page say so first.

export const MAX_POINTS = 32;         // NVR_MOTION_MAX_POINTS: per polygon
export const MIN_POINTS = 3;
export const MAX_MASKS = 16;          // NVR_MOTION_MAX_MASKS
export const MAX_ZONES = 16;          // NVR_MOTION_MAX_ZONES
export const ZONE_NAME_RE = /^[A-Za-z0-9_-]{1,31}$/;   // NVR_MOTION_NAME_MAX - 1 bytes
export const DEVICE_NAME_MAX = 64;    // INVITE_NAME_MAX (characters of printable UTF-8)
export const TTL_MAX_S = 24 * 3600;   // NVR_AUTH_INVITE_TTL_MAX_S
export const COORD_DECIMALS = 4;      // 1/10000 of the frame: under a pixel up to 4K width

// ---- geometry: normalised 0..1 frame coordinates, x to the right, y down ----

const clamp01 = (v) => Math.min(1, Math.max(0, v));

// A coordinate as the daemon's parser takes it (g_ascii_strtod, 0..1): at most COORD_DECIMALS
// decimals, no exponent, trailing zeros dropped ("0.5", "1", "0").
export function formatCoord(v) {
  if (!Number.isFinite(v)) throw new RangeError(`not a coordinate: ${v}`);
  const s = clamp01(v).toFixed(COORD_DECIMALS);
  return s.replace(/\.?0+$/, '') || '0';
}

// Where a pointer at (@clientX, @clientY) falls in the picture @rect ({left, top, width,
// height}: the element's box on screen), as a normalised point rounded as formatCoord does.
// Outside the picture is clamped to its edge, so a drag past the border stays on it.
export function normalisePoint(clientX, clientY, rect) {
  if (!(rect.width > 0 && rect.height > 0)) throw new RangeError('the picture has no size');
  const round = (v) => Number(clamp01(v).toFixed(COORD_DECIMALS));
  return { x: round((clientX - rect.left) / rect.width), y: round((clientY - rect.top) / rect.height) };
}

// [{x, y}, ...] -> "x,y x,y ..." (the text of `nvr cameras motion --mask`).
export function polygonToString(points) {
  return points.map((p) => `${formatCoord(p.x)},${formatCoord(p.y)}`).join(' ');
}

// "x,y x,y ..." -> [{x, y}, ...]; throws Error with the daemon's kind of reason.
export function parsePolygon(text) {
  if (typeof text !== 'string' || text.length > 8192) throw new Error('polygon text is too long');
  const points = [];
  for (const word of text.split(/[ \t]+/)) {
    if (word === '') continue;
    const xy = word.split(',');
    const num = /^(?:\d+(?:\.\d*)?|\.\d+)$/;
    if (xy.length !== 2 || !num.test(xy[0]) || !num.test(xy[1]))
      throw new Error(`point '${word}' is not x,y with both in 0..1`);
    const x = Number(xy[0]);
    const y = Number(xy[1]);
    if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) throw new Error(`point '${word}' is not x,y with both in 0..1`);
    if (points.length === MAX_POINTS) throw new Error(`a polygon has at most ${MAX_POINTS} points`);
    points.push({ x, y });
  }
  if (points.length < MIN_POINTS) throw new Error('a polygon needs at least 3 points "x,y x,y x,y"');
  return points;
}

// A zone: {name, points} <-> "NAME=x,y x,y ...".
export function zoneToString(zone) {
  if (!ZONE_NAME_RE.test(zone.name))
    throw new Error(`zone name '${zone.name}' must be 1..31 characters of A-Z a-z 0-9 _ -`);
  return `${zone.name}=${polygonToString(zone.points)}`;
}

export function parseZone(text) {
  const at = typeof text === 'string' ? text.indexOf('=') : -1;
  if (at < 0) throw new Error('a zone is NAME=x,y x,y x,y');
  const name = text.slice(0, at);
  if (!ZONE_NAME_RE.test(name)) throw new Error(`zone name '${name}' must be 1..31 characters of A-Z a-z 0-9 _ -`);
  return { name, points: parsePolygon(text.slice(at + 1)) };
}

// Even-odd rule, as the daemon's polygon_contains (a point exactly on an edge may go either way).
export function pointInPolygon(pt, points) {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const a = points[i];
    const b = points[j];
    if ((a.y > pt.y) !== (b.y > pt.y) && pt.x < ((b.x - a.x) * (pt.y - a.y)) / (b.y - a.y) + a.x)
      inside = !inside;
  }
  return inside;
}

// The shape a tap at @pt selects among @shapes ([{points}], drawn in order, so the last is on
// top): its index, or -1.
export function hitTest(pt, shapes) {
  for (let i = shapes.length - 1; i >= 0; i--)
    if (pointInPolygon(pt, shapes[i].points)) return i;
  return -1;
}

// Whether @a and @b are within @radiusPx of each other on a picture @width x @height pixels on
// screen (normalised coordinates are not square): a tap near the first point closes a polygon.
export function nearPoint(a, b, width, height, radiusPx) {
  const dx = (a.x - b.x) * width;
  const dy = (a.y - b.y) * height;
  return dx * dx + dy * dy <= radiusPx * radiusPx;
}

// The body of PUT settings/cameras/{id}/motion from the editor's shapes ([{kind: 'mask'|'zone',
// name, points}]). Throws Error naming the first problem (too many, too few points, a zone
// without a name or named twice).
export function motionBody(shapes) {
  const masks = [];
  const zones = [];
  const names = new Set();
  for (const s of shapes) {
    if (s.points.length < MIN_POINTS) throw new Error(`a ${s.kind} needs at least ${MIN_POINTS} points`);
    if (s.points.length > MAX_POINTS) throw new Error(`a ${s.kind} has at most ${MAX_POINTS} points`);
    if (s.kind === 'zone') {
      if (names.has(s.name)) throw new Error(`two zones are named '${s.name}'`);
      names.add(s.name);
      zones.push(zoneToString(s));
    } else {
      masks.push(polygonToString(s.points));
    }
  }
  if (masks.length > MAX_MASKS) throw new Error(`at most ${MAX_MASKS} masks`);
  if (zones.length > MAX_ZONES) throw new Error(`at most ${MAX_ZONES} zones`);
  return { masks, zones };
}

// The editor's shapes from a camera's settings JSON ({masks: [...], zones: [...]}); text the
// page cannot read is reported in @bad instead of being dropped silently.
export function shapesFromCamera(camera) {
  const shapes = [];
  const bad = [];
  for (const m of camera.masks || []) {
    try { shapes.push({ kind: 'mask', name: '', points: parsePolygon(m) }); } catch (e) { bad.push(`${m}: ${e.message}`); }
  }
  for (const z of camera.zones || []) {
    try { shapes.push({ kind: 'zone', ...parseZone(z) }); } catch (e) { bad.push(`${z}: ${e.message}`); }
  }
  return { shapes, bad };
}

// ---- devices ----

// Admin devices that are not revoked.
export function activeAdmins(devices) {
  return devices.filter((d) => d.admin && d.revoked_us === null);
}

// Whether @device is the one admin left: the page offers no revoke for it (and the daemon must
// refuse it too).
export function isLastAdmin(device, devices) {
  const admins = activeAdmins(devices);
  return admins.length === 1 && admins[0].id === device.id;
}

// "cam1, cam2" for camera ids, by @cameras ([{id, name}]); an id not among them is "camera #N".
export function cameraNames(ids, cameras) {
  const byId = new Map(cameras.map((c) => [Number(c.id), c.name]));
  return ids.map((id) => byId.get(Number(id)) ?? `camera #${id}`);
}

// The body of POST invites from the pair form. @ttlMinutes: 1..1440. Throws Error.
export function inviteBody({ name, cameraIds, admin, ttlMinutes }) {
  const n = String(name ?? '').trim();
  if (n === '' || [...n].length > DEVICE_NAME_MAX)
    throw new Error(`a device name is 1 to ${DEVICE_NAME_MAX} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(n)) throw new Error('a device name has no control characters');
  const ttl = Math.round(Number(ttlMinutes) * 60);
  if (!Number.isInteger(ttl) || ttl < 60 || ttl > TTL_MAX_S)
    throw new Error('the code must expire within 1 minute to 24 hours');
  if (!admin && cameraIds.length === 0) throw new Error('choose at least one camera');
  return { name: n, cameras: cameraIds.map(Number), admin: !!admin, ttl_s: ttl };
}

// ---- cameras ----

const TRANSPORTS = ['auto', 'tcp', 'udp'];

function retentionValue(text) {
  const t = String(text ?? '').trim();
  if (t === '') return null;
  if (!/^\d+$/.test(t) || Number(t) < 1 || Number(t) > 3650)
    throw new Error('keep footage for 1 to 3650 days, or leave empty for the default');
  return Number(t);
}

// The body of POST settings/cameras (@existing null) or of PUT settings/cameras/{id} (only what
// differs from @existing) from the form's values @f: {name, main_url, sub_url, user, password,
// clear_password, transport, audio, retention_days}. Passwords are write-only: an empty field
// keeps the stored one (the key is left out), @f.clear_password sends null, text sends the text.
// Throws Error for a value the page can tell is wrong.
export function cameraBody(f, existing = null) {
  const name = String(f.name ?? '').trim();
  const main = String(f.main_url ?? '').trim();
  if (name === '') throw new Error('a camera needs a name');
  if (!/^rtsps?:\/\//i.test(main)) throw new Error('the main stream URL starts with rtsp://');
  const sub = String(f.sub_url ?? '').trim();
  if (sub !== '' && !/^rtsps?:\/\//i.test(sub)) throw new Error('the sub stream URL starts with rtsp://');
  const transport = f.transport || 'auto';
  if (!TRANSPORTS.includes(transport)) throw new Error(`transport is one of ${TRANSPORTS.join(', ')}`);
  const want = {
    name, main_url: main, sub_url: sub === '' ? null : sub,
    user: String(f.user ?? '').trim() === '' ? null : String(f.user).trim(),
    transport, audio: !!f.audio, retention_days: retentionValue(f.retention_days),
  };
  const body = {};
  for (const [k, v] of Object.entries(want)) {
    if (existing === null) {
      if (v !== null) body[k] = v;
    } else if ((existing[k] ?? null) !== v) {
      body[k] = v;
    }
  }
  const password = String(f.password ?? '');
  if (password !== '') body.password = password;
  else if (f.clear_password && existing !== null && existing.password_set) body.password = null;
  return body;
}

// A stream URL for display: a password written into it (rtsp://user:secret@host/...) is shown
// as "•••" (the daemon should never send one; if it does, the page does not show it).
export function displayUrl(url) {
  return String(url ?? '').replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/i, '$1:•••@');
}

// The body of POST settings/cameras/test from the same form values (the password field as typed;
// an edited camera's stored password is not sent back to the page, so testing an edit without
// retyping it tests without one: the page says so).
export function testBody(f) {
  const body = { main_url: String(f.main_url ?? '').trim() };
  if (!/^rtsps?:\/\//i.test(body.main_url)) throw new Error('the main stream URL starts with rtsp://');
  const user = String(f.user ?? '').trim();
  if (user !== '') body.user = user;
  if (String(f.password ?? '') !== '') body.password = String(f.password);
  if (f.transport && f.transport !== 'auto') body.transport = f.transport;
  return body;
}

const TEST_REASONS = {
  unreachable: 'the camera did not answer',
  unauthorized: 'the camera refused the user name or password',
  no_video: 'the stream has no video track',
  unsupported_codec: 'the video codec is not supported',
  timeout: 'the camera took too long to answer',
};

// Lines of text describing a test answer; @still is the data URL to show, or null.
export function describeTest(r) {
  if (!r || r.ok !== true) {
    const reason = r && typeof r.reason === 'string' ? r.reason : 'unknown';
    const lines = [`Test failed: ${TEST_REASONS[reason] || reason}`];
    if (r && typeof r.detail === 'string' && r.detail !== '') lines.push(r.detail);
    return { ok: false, lines, still: null };
  }
  const v = r.video || {};
  const fps = Number.isFinite(v.fps) ? ` at ${Math.round(v.fps * 100) / 100} fps` : '';
  const lines = [`Video: ${v.codec || '?'} ${v.width || '?'}×${v.height || '?'}${fps}`];
  if (r.audio) lines.push(`Audio: ${r.audio.codec || '?'}, ${r.audio.rate || '?'} Hz, ${r.audio.channels || '?'} channel(s)`);
  else lines.push('Audio: none');
  // Only an inline JPEG is shown (the CSP's img-src data: allows it; nothing else is loaded).
  const still = typeof r.still === 'string' && r.still.startsWith('data:image/jpeg;base64,') ? r.still : null;
  return { ok: true, lines, still };
}

// Suggested main and sub stream among ONVIF @profiles: main = most pixels, sub = fewest pixels
// when it is a different stream (else null). Ties keep the camera's order.
export function pickProfiles(profiles) {
  const usable = profiles.filter((p) => typeof p.rtsp_url === 'string' && p.rtsp_url !== '');
  if (usable.length === 0) return { main: null, sub: null };
  const px = (p) => (Number(p.width) || 0) * (Number(p.height) || 0);
  let main = usable[0];
  let sub = usable[0];
  for (const p of usable) {
    if (px(p) > px(main)) main = p;
    if (px(p) < px(sub)) sub = p;
  }
  return { main, sub: sub.rtsp_url === main.rtsp_url ? null : sub };
}

// ---- health and audit ----

// "1.5 GiB" etc. (binary units), for sizes that can reach terabytes.
export function formatSize(n) {
  const v = Number(n);
  if (!Number.isFinite(v) || v < 0) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let x = v;
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
  return i === 0 ? `${v} B` : `${x.toFixed(x < 10 ? 1 : 0)} ${units[i]}`;
}

// "3 d 4 h" from seconds.
export function formatUptime(s) {
  const v = Math.max(0, Math.floor(Number(s) || 0));
  const d = Math.floor(v / 86400);
  const h = Math.floor((v % 86400) / 3600);
  const m = Math.floor((v % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  return `${m} min`;
}

// Used share of the disk, 0..1 (null when unknown).
export function diskUsed(disk) {
  const total = Number(disk && disk.total_bytes);
  const free = Number(disk && disk.free_bytes);
  if (!(total > 0) || !(free >= 0) || free > total) return null;
  return (total - free) / total;
}

export const AUDIT_PAGE = 50;

// The path of one page of the audit list: the newest when @beforeId is null.
export function auditPath(beforeId, limit = AUDIT_PAGE) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (beforeId !== null && beforeId !== undefined) q.set('before_id', String(beforeId));
  return `audit?${q}`;
}

// The audit entry's details (any JSON) as one line of text.
export function auditDetails(details) {
  if (details === null || details === undefined) return '';
  if (typeof details === 'string') return details;
  const text = JSON.stringify(details);
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
}
