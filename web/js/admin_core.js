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
export const DEVICE_NAME_MAX = 64;    // INVITE_NAME_MAX: BYTES of printable UTF-8 (strlen)
export const TTL_MAX_S = 24 * 3600;   // NVR_AUTH_INVITE_TTL_MAX_S
export const COORD_DECIMALS = 4;      // 1/10000 of the frame: under a pixel up to 4K width

// ---- geometry: normalised 0..1 frame coordinates, x to the right, y down ----

const clamp01 = (v) => Math.min(1, Math.max(0, v));

// A coordinate as the page writes it: at most COORD_DECIMALS decimals, no exponent, trailing
// zeros dropped ("0.5", "1", "0"). The daemon reads more (see parseCoord); this is the one form
// the page sends.
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

// @points rounded as polygonToString writes them. Throws Error when rounding would make two
// different points one (a shape thinner than 1/10000 of the frame): the page refuses to change
// a shape's corners behind the user's back. Points that were equal already stay as they are.
export function roundPolygon(points) {
  const key = (p) => `${formatCoord(p.x)},${formatCoord(p.y)}`;
  const seen = new Map();
  const out = [];
  points.forEach((p, i) => {
    const k = key(p);
    const j = seen.get(k);
    if (j !== undefined && (points[j].x !== p.x || points[j].y !== p.y))
      throw new Error(`points ${j + 1} and ${i + 1} are both ${k} once rounded to ${COORD_DECIMALS} decimals: move them apart`);
    if (j === undefined) seen.set(k, i);
    out.push({ x: Number(formatCoord(p.x)), y: Number(formatCoord(p.y)) });
  });
  return out;
}

// [{x, y}, ...] -> "x,y x,y ..." (the text of `nvr cameras motion --mask`), rounded as
// roundPolygon does (and refused as it refuses).
export function polygonToString(points) {
  return roundPolygon(points).map((p) => `${formatCoord(p.x)},${formatCoord(p.y)}`).join(' ');
}

const MAX_TEXT = 8192;                        // nvr/events.c MAX_TEXT: bytes of UTF-8
const C_SPACE = '[ \\t\\n\\v\\f\\r]*';  // isspace() in the C locale: strtod skips it first
const DEC_RE = new RegExp(`^${C_SPACE}([+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?)$`);
const HEX_RE = new RegExp(`^${C_SPACE}([+-]?)0[xX]([0-9a-fA-F]*)(?:\\.([0-9a-fA-F]*))?(?:[pP]([+-]?\\d+))?$`);

// A C99 hexadecimal float's value, rounded to the nearest double (ties to even) as glibc's
// strtod does; only values up to about 1 are ever kept, so the subnormal range is not exact.
function hexValue(neg, intDigits, fracDigits, exp) {
  let m = BigInt(`0x0${intDigits}${fracDigits}`);
  if (m === 0n) return neg ? -0 : 0;
  let e2 = Number(exp || '0') - 4 * fracDigits.length;
  const bits = m.toString(2).length;
  if (bits + e2 > 1100) return neg ? -Infinity : Infinity;   // also an exponent past 1e308
  if (bits + e2 < -1100) return neg ? -0 : 0;
  if (bits > 53) {
    const drop = BigInt(bits - 53);
    const rest = m & ((1n << drop) - 1n);
    const half = 1n << (drop - 1n);
    m >>= drop;
    if (rest > half || (rest === half && (m & 1n) === 1n)) m += 1n;
    e2 += bits - 53;
  }
  let v = Number(m);
  // 2 ** e2 may itself under/overflow: scale in two steps.
  const a = Math.trunc(e2 / 2);
  v = v * 2 ** a * 2 ** (e2 - a);
  return neg ? -v : v;
}

// One coordinate as nvr/events.c parse_coord reads it: g_ascii_strtod (the C locale's strtod:
// leading white space, a sign, decimal with an optional exponent, or C99 hexadecimal such as
// 0x0.8p0) must take the whole text, and the value must be within 0..1 (so "-0" and "1e-1" are
// read; "nan", "inf", "1.5" and trailing white space are not). Returns the number or null.
export function parseCoord(s) {
  let m = DEC_RE.exec(s);
  let v;
  if (m) {
    v = Number(m[1]);
  } else if ((m = HEX_RE.exec(s)) && (m[2] !== '' || (m[3] || '') !== '')) {
    v = hexValue(m[1] === '-', m[2], m[3] || '', m[4]);
  } else {
    return null;
  }
  return v >= 0 && v <= 1 ? v : null;
}

// "x,y x,y ..." -> [{x, y}, ...]: exactly what nvr_events_polygon_parse accepts (words split at
// spaces and tabs, each two coordinates split at one comma, 3 to MAX_POINTS points, at most
// 8192 bytes); throws Error with its reason. The shared cases are tests/e2e/polygon_cases.json.
export function parsePolygon(text) {
  if (typeof text !== 'string' || new TextEncoder().encode(text).length > MAX_TEXT)
    throw new Error('polygon text is too long');
  // The daemon's C string would end at a NUL: the page refuses one rather than guess.
  if (text.includes('\0')) throw new Error('polygon text has a NUL character');
  const points = [];
  for (const word of text.split(/[ \t]/)) {
    if (word === '') continue;
    const xy = word.split(',');
    const x = xy.length === 2 ? parseCoord(xy[0]) : null;
    const y = xy.length === 2 ? parseCoord(xy[1]) : null;
    if (x === null || y === null) throw new Error(`point '${word}' is not x,y with both in 0..1`);
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
  for (const [i, s] of shapes.entries()) {
    const what = s.kind === 'zone' ? `zone ${s.name}` : `mask ${shapes.slice(0, i + 1).filter((x) => x.kind === 'mask').length}`;
    try { roundPolygon(s.points); } catch (e) { throw new Error(`${what}: ${e.message}`); }
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
// The daemon counts a name's UTF-8 bytes (strlen), so 64 is 64 letters of ASCII but 32 of 'é';
// it refuses Unicode control characters (g_unichar_iscntrl: U+0000..U+001F, U+007F..U+009F).
export function utf8Length(text) {
  return new TextEncoder().encode(String(text)).length;
}

export function inviteBody({ name, cameraIds, admin, ttlMinutes }) {
  const n = String(name ?? '').trim();
  if (n === '' || utf8Length(n) > DEVICE_NAME_MAX)
    throw new Error(`a device name is 1 to ${DEVICE_NAME_MAX} bytes of UTF-8 (${DEVICE_NAME_MAX} plain letters, fewer accented ones)`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(n)) throw new Error('a device name has no control characters');
  if (/[\ud800-\udfff]/.test(n.replace(/[\ud800-\udbff][\udc00-\udfff]/g, '')))
    throw new Error('a device name is valid UTF-8 text (it has a lone surrogate)');
  const ttl = Math.round(Number(ttlMinutes) * 60);
  if (!Number.isInteger(ttl) || ttl < 60 || ttl > TTL_MAX_S)
    throw new Error('the code must expire within 1 minute to 24 hours');
  if (!admin && cameraIds.length === 0) throw new Error('choose at least one camera');
  return { name: n, cameras: cameraIds.map(Number), admin: !!admin, ttl_s: ttl };
}

// The invite's @url when it is safe to show as a link: a URL of @origin (this page's), path
// /pair.html, with a #code= fragment; null otherwise (the page then shows the code only).
export function pairLink(url, origin) {
  if (typeof url !== 'string' || url === '') return null;
  let u;
  try { u = new URL(url); } catch { return null; }
  if (u.origin !== origin || u.pathname !== '/pair.html' || !/^#code=./.test(u.hash) || u.username || u.password)
    return null;
  return u.href;
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
export function cameraBody(form, existing = null) {
  const f = takeCredentials(form);
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

// ---- credentials written into a stream URL ----

const HOST_RE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(?::\d*)?$/;

function decode(text) {
  try { return decodeURIComponent(text); } catch { return text; }
}

// Where a URL's user information ends: the LAST '@' after which a host[:port] follows and before
// which either no '/' comes or a ':' comes before the first '/' (a password may hold '/' and
// '@' unencoded: "rtsp://u:pa/ss@cam/x"). Known limit: a path holding '@' right after a port
// ("rtsp://cam:554/a@b") reads as user "cam"; write that '@' as %40.
function userinfoSplit(url) {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(.*)$/is.exec(String(url ?? ''));
  if (!m) return null;
  const rest = m[2];
  for (let k = rest.lastIndexOf('@'); k >= 0; k = k === 0 ? -1 : rest.lastIndexOf('@', k - 1)) {
    const host = rest.slice(k + 1).split(/[/?#]/)[0];
    const info = rest.slice(0, k);
    const slash = info.indexOf('/');
    const colon = info.indexOf(':');
    if (HOST_RE.test(host) && (slash < 0 || (colon >= 0 && colon < slash)))
      return { scheme: m[1], info, after: rest.slice(k + 1) };
  }
  return null;
}

// {url, user, password} of a stream URL: @url without its user information, and the user and
// password written in it (percent-decoded; null when absent). The daemon refuses a URL with
// credentials (400): the page moves them into the User and Password fields first.
export function splitCredentials(url) {
  const u = userinfoSplit(url);
  if (!u) return { url: String(url ?? ''), user: null, password: null };
  const colon = u.info.indexOf(':');
  const user = decode(colon < 0 ? u.info : u.info.slice(0, colon));
  const password = colon < 0 ? null : decode(u.info.slice(colon + 1));
  return { url: u.scheme + u.after, user: user === '' ? null : user, password: password === '' ? null : password };
}

// The form values @f with credentials written into main_url or sub_url moved into user and
// password (@moved: whether there were any). A user or password given twice differently is an
// Error: a camera has one of each.
export function takeCredentials(f) {
  const main = splitCredentials(String(f.main_url ?? '').trim());
  const sub = splitCredentials(String(f.sub_url ?? '').trim());
  const pick = (what, typed, ...inUrls) => {
    const all = [typed, ...inUrls].filter((v) => v !== null && v !== '');
    if (new Set(all).size > 1) throw new Error(`the stream URLs and the ${what} field give different ${what.toLowerCase()}s`);
    return all.length ? all[0] : '';
  };
  const user = pick('User', String(f.user ?? '').trim(), main.user, sub.user);
  const password = pick('Password', String(f.password ?? ''), main.password, sub.password);
  const moved = [main.user, main.password, sub.user, sub.password].some((v) => v !== null);
  return { ...f, main_url: main.url, sub_url: sub.url, user, password, moved };
}

// A stream URL for display: a password written into it (rtsp://user:secret@host/...) is shown
// as "•••" up to the last '@' of the user information (the daemon should never send one; if
// it does, the page does not show it).
export function displayUrl(url) {
  const u = userinfoSplit(url);
  if (!u) return String(url ?? '');
  const colon = u.info.indexOf(':');
  return colon < 0 ? String(url) : `${u.scheme}${u.info.slice(0, colon)}:•••@${u.after}`;
}

// The body of POST settings/cameras/test from the same form values (the password field as typed;
// an edited camera's stored password is not sent back to the page, so testing an edit without
// retyping it tests without one: the page says so).
export function testBody(form) {
  const f = takeCredentials(form);
  const body = { main_url: String(f.main_url ?? '').trim() };
  if (!/^rtsps?:\/\//i.test(body.main_url)) throw new Error('the main stream URL starts with rtsp://');
  const user = String(f.user ?? '').trim();
  if (user !== '') body.user = user;
  if (String(f.password ?? '') !== '') body.password = String(f.password);
  if (f.transport && f.transport !== 'auto') body.transport = f.transport;
  return body;
}

// The reasons the daemon's prober sends (nvr/prober.c test_reasons and onvif_reasons).
const TEST_REASONS = {
  unreachable: 'the camera did not answer',
  unauthorized: 'the camera refused the user name or password',
  'no-video': 'the stream has no video track',
  'unsupported-codec': 'the video codec is not supported',
  timeout: 'the camera took too long to answer',
  'bad-url': 'the address is not an RTSP URL the box can use',
  'bad-address': 'the address is not a host or host:port the box can use',
  malformed: 'the camera answered with something that is not valid ONVIF',
  fault: 'the camera answered with an ONVIF error',
};

// One line for a failed ONVIF answer ({"ok":false,"reason","detail"}).
export function describeOnvifFailure(r) {
  const reason = r && typeof r.reason === 'string' ? r.reason : 'unknown';
  const detail = r && typeof r.detail === 'string' && r.detail !== '' ? `: ${r.detail}` : '';
  return `ONVIF failed: ${TEST_REASONS[reason] || reason}${detail}`;
}

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
  // Only an inline JPEG is shown (through a blob: URL, see imageBlob; nothing else is loaded).
  const still = typeof r.still === 'string' && r.still.startsWith('data:image/jpeg;base64,') ? r.still : null;
  return { ok: true, lines, still };
}

// An image the daemon sends inline (a data: URL, base64 or percent-encoded, or an SVG's text) as
// a Blob of @type for a blob: URL: the CSP's img-src allows 'self' and blob: only. null for
// anything else (another type, a URL to load from elsewhere, bad base64).
export function imageBlob(src, type) {
  if (typeof src !== 'string' || src === '') return null;
  if (type === 'image/svg+xml' && /^\s*(<\?xml|<svg)/.test(src)) return new Blob([src], { type });
  const m = /^data:([a-z0-9.+-]+\/[a-z0-9.+-]+)((?:;[a-z0-9-]+=[^;,]*)*)(;base64)?,(.*)$/is.exec(src);
  if (!m || m[1].toLowerCase() !== type) return null;
  let bytes;
  try {
    if (m[3]) {
      const bin = atob(m[4]);
      bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    } else {
      bytes = new TextEncoder().encode(decodeURIComponent(m[4]));
    }
  } catch {
    return null;
  }
  return new Blob([bytes], { type });
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
