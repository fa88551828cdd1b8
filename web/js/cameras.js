// cameras — the admin's camera settings: list (GET settings/cameras), add (POST), edit (PUT,
// only what changed), remove (DELETE, after a confirmation); "Test" connects once through the
// box (POST settings/cameras/test, up to ~15 s) and shows codec, size, rate, audio and a still;
// "Find cameras" lists ONVIF devices on the LAN (POST settings/onvif/scan) and a device's
// streams (POST settings/onvif/profiles) to fill the URLs; "Motion areas" draws masks and zones
// over the camera's current still and saves them (PUT settings/cameras/{id}/motion). Passwords
// are write-only: the page never receives one, and an empty field keeps the stored one.
// Admins only (admin.js); everything from the daemon or a camera is set as text.

import { api, describeError } from './api.js';
import { missingRoute, reloadAfterSave, requireAdmin, say } from './admin.js';
import { cameraBody, describeOnvifFailure, describeTest, displayUrl, formatCoord, hitTest, motionBody, nearPoint, normalisePoint, parsePolygon,
         imageBlob, pickProfiles, polygonToString, roundPolygon, shapesFromCamera, splitCredentials, takeCredentials, testBody,
         MAX_POINTS, ZONE_NAME_RE } from './admin_core.js';
import { el } from './ui.js';

const NOT_YET = 'This Hearth does not offer camera settings yet (its daemon is older than these pages).';
const SVG = 'http://www.w3.org/2000/svg';
const CLOSE_RADIUS_PX = 14;

let cameras = [];
let editing = null;          // the camera being edited, or null when adding

const $ = (id) => document.getElementById(id);

// ---- list ----

function cameraItem(c) {
  const state = el('p', { class: 'form-state', role: 'status', hidden: true });
  const facts = [c.recording ? 'recording' : 'not recording', c.detection ? 'motion detection on' : null,
                 c.audio ? 'audio' : 'no audio', c.password_set ? 'password set' : null,
                 c.retention_days ? `keeps ${c.retention_days} days` : null].filter(Boolean).join(' · ');
  const edit = el('button', { type: 'button', class: 'small', 'data-action': 'edit' }, 'Edit');
  const motion = el('button', { type: 'button', class: 'small', 'data-action': 'motion' }, 'Motion areas');
  const remove = el('button', { type: 'button', class: 'small danger', 'data-action': 'remove' }, 'Remove');
  const buttons = el('div', { class: 'buttons' }, edit, motion, remove);
  const li = el('li', { dataset: { cameraId: String(c.id) } },
    el('div', { class: 'row-head' }, el('span', { class: 'title' }, c.name)),
    el('p', { class: 'muted' }, facts),
    el('p', { class: 'url' }, displayUrl(c.main_url)),
    c.sub_url ? el('p', { class: 'url muted' }, displayUrl(c.sub_url)) : null,
    buttons, state);
  edit.addEventListener('click', () => openEditor(c));
  motion.addEventListener('click', () => openMotion(c));
  remove.addEventListener('click', () => {
    buttons.hidden = true;
    const yes = el('button', { type: 'button', class: 'danger', 'data-action': 'confirm-remove' }, `Remove ${c.name}`);
    const no = el('button', { type: 'button', class: 'small' }, 'Cancel');
    const box = el('div', { class: 'confirm', role: 'alertdialog', 'aria-label': `Remove ${c.name}?` },
      el('p', {}, `Remove ${c.name}? Hearth stops recording it. Its recordings stay until retention deletes them.`),
      el('div', { class: 'buttons' }, yes, no));
    no.addEventListener('click', () => { box.remove(); buttons.hidden = false; remove.focus(); });
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      say(state, 'Removing…');
      try {
        await api(`settings/cameras/${c.id}`, { method: 'DELETE', body: {} });
      } catch (e) {
        yes.disabled = false;
        say(state, describeError(e), 'error');
        return;
      }
      say(state, '');
      await reloadAfterSave($('status'), `${c.name} is removed.`, refresh);
    });
    li.insertBefore(box, state);
    no.focus();
  });
  return li;
}

async function refresh() {
  ({ cameras } = await api('settings/cameras'));
  $('camera-list').replaceChildren(...cameras.map(cameraItem));
  if (cameras.length === 0) $('camera-list').append(el('li', { class: 'muted' }, 'No cameras yet.'));
}

// ---- add / edit ----

function formValues() {
  return { name: $('f-name').value, main_url: $('f-main').value, sub_url: $('f-sub').value,
           user: $('f-user').value, password: $('f-password').value,
           clear_password: $('f-clear-password').checked, transport: $('f-transport').value,
           audio: $('f-audio').checked, retention_days: $('f-retention').value };
}

// Empties the camera form and the ONVIF finder (a typed password does not outlive the form).
function resetEditor() {
  $('camera-form').reset();
  for (const id of ['onvif-address', 'onvif-user', 'onvif-password']) $(id).value = '';
  $('profile-list').replaceChildren();
  $('scan-list').replaceChildren();
  say($('finder-state'), '');
  say($('credentials-note'), '');
  say($('form-state'), '');
  $('test-result').replaceChildren();
  $('test-result').hidden = true;
}

function closeEditor() {
  resetEditor();
  $('editor').hidden = true;
  editing = null;
}

// Credentials written into the URL fields move to User and Password before anything is shown
// or sent (the daemon refuses a URL with credentials). @why says where they came from.
function moveCredentials(why) {
  let t;
  try {
    t = takeCredentials(formValues());
  } catch (e) {
    say($('form-state'), e.message, 'error');
    return false;
  }
  $('f-main').value = t.main_url;
  $('f-sub').value = t.sub_url;
  $('f-user').value = t.user;
  $('f-password').value = t.password;
  if (t.moved) say($('credentials-note'), `${why} The user name and password written in it were moved into User and Password.`);
  return true;
}

function openEditor(c) {
  editing = c;
  $('motion').hidden = true;
  $('editor').hidden = false;
  $('editor-title').textContent = c ? `Edit ${c.name}` : 'Add a camera';
  resetEditor();
  $('f-name').value = c ? c.name : '';
  // The daemon should never send credentials inside a URL; if it does, none is shown in it.
  const main = splitCredentials(c ? c.main_url : '');
  const sub = splitCredentials(c && c.sub_url ? c.sub_url : '');
  $('f-main').value = main.url;
  $('f-sub').value = sub.url;
  $('f-user').value = c && c.user ? c.user : (main.user || sub.user || '');
  $('f-password').value = main.password || sub.password || '';   // otherwise never pre-filled
  if (main.user || main.password || sub.user || sub.password)
    say($('credentials-note'), 'The stored stream URL held a user name or password: they are in User and Password now; Save to store them apart.', 'error');
  $('f-transport').value = c ? c.transport : 'auto';
  $('f-audio').checked = c ? c.audio : true;
  $('f-retention').value = c && c.retention_days ? String(c.retention_days) : '';
  const set = !!(c && c.password_set);
  $('password-note').hidden = !set;
  $('password-note').textContent = set ? 'A password is set. Type a new one to replace it; leave empty to keep it.' : '';
  $('f-password').placeholder = set ? 'password set' : '';
  $('clear-password-label').hidden = !set;
  $('f-name').focus();
}

async function save(ev) {
  ev.preventDefault();
  const state = $('form-state');
  let body;
  try {
    body = cameraBody(formValues(), editing);
  } catch (e) {
    say(state, e.message, 'error');
    return;
  }
  if (editing && Object.keys(body).length === 0) {
    say(state, 'Nothing changed.');
    return;
  }
  $('save').disabled = true;
  say(state, 'Saving…');
  const name = body.name || editing.name;
  try {
    if (editing) await api(`settings/cameras/${editing.id}`, { method: 'PUT', body });
    else await api('settings/cameras', { method: 'POST', body });
  } catch (e) {
    say(state, e.status === 409 ? 'A camera with that name exists already.' : describeError(e), 'error');
    return;
  } finally {
    $('save').disabled = false;
  }
  closeEditor();
  await reloadAfterSave($('status'), `Saved ${name}.`, refresh);
  $('add-camera').focus();
}

let stillUrl = null;      // blob: URL of the last test's still

async function runTest() {
  const state = $('form-state');
  const out = $('test-result');
  let body;
  try {
    body = testBody(formValues());
  } catch (e) {
    say(state, e.message, 'error');
    return;
  }
  const note = editing && editing.password_set && !body.password
    ? ' (without the stored password: the page never has it; type it to test with it)' : '';
  const t0 = performance.now();
  const tick = () => say(state, `Testing… ${Math.round((performance.now() - t0) / 1000)} s (up to ~15 s)${note}`);
  tick();
  const timer = setInterval(tick, 1000);
  $('test').disabled = true;
  out.hidden = true;
  try {
    const r = await api('settings/cameras/test', { method: 'POST', body });
    const d = describeTest(r);
    say(state, d.ok ? 'The camera answered.' : 'The test failed.', d.ok ? 'ok' : 'error');
    const blob = d.still ? imageBlob(d.still, 'image/jpeg') : null;
    if (stillUrl) URL.revokeObjectURL(stillUrl);
    stillUrl = blob ? URL.createObjectURL(blob) : null;
    out.replaceChildren(...d.lines.map((l) => el('p', {}, l)),
                        stillUrl ? el('img', { src: stillUrl, alt: 'A frame from the camera' }) : null);
    out.hidden = false;
  } catch (e) {
    say(state, missingRoute(e) ? NOT_YET : describeError(e), 'error');
  } finally {
    clearInterval(timer);
    $('test').disabled = false;
  }
}

// ---- find cameras (ONVIF) ----

async function scan() {
  const state = $('finder-state');
  say(state, 'Asking the network for ONVIF cameras…');
  $('scan').disabled = true;
  try {
    const r = await api('settings/onvif/scan', { method: 'POST', body: {} });
    if (r.ok === false) { say(state, describeOnvifFailure(r), 'error'); return; }
    const devices = Array.isArray(r.devices) ? r.devices : [];
    say(state, devices.length ? `${devices.length} found.` : 'No ONVIF camera answered.');
    $('scan-list').replaceChildren(...devices.map((d) => {
      const use = el('button', { type: 'button', class: 'small' }, 'Use');
      use.addEventListener('click', () => { $('onvif-address').value = d.address; $('onvif-user').focus(); });
      return el('li', {}, el('span', { class: 'title' }, d.address), ' ',
                el('span', { class: 'muted' }, Array.isArray(d.scopes) ? d.scopes.join(' ') : ''), ' ', use);
    }));
  } catch (e) {
    say(state, missingRoute(e) ? NOT_YET : describeError(e), 'error');
  } finally {
    $('scan').disabled = false;
  }
}

async function profiles() {
  const state = $('finder-state');
  const box = $('profile-list');
  const body = { address: $('onvif-address').value.trim(), user: $('onvif-user').value,
                 password: $('onvif-password').value };
  if (body.address === '') { say(state, 'Type the camera\'s address first.', 'error'); return; }
  // The ONVIF password is used for this one request and not kept in its field.
  $('onvif-password').value = '';
  say(state, 'Asking the camera for its streams…');
  $('profiles').disabled = true;
  try {
    const r = await api('settings/onvif/profiles', { method: 'POST', body });
    if (r.ok === false) { say(state, describeOnvifFailure(r), 'error'); box.replaceChildren(); return; }
    const list = Array.isArray(r.profiles) ? r.profiles : [];
    if (list.length === 0) { say(state, 'The camera listed no stream.'); box.replaceChildren(); return; }
    say(state, 'Choose the main stream (recorded) and the sub stream (for motion).');
    const pick = pickProfiles(list);
    const rows = list.map((p, i) => el('li', {},
      el('span', { class: 'title' }, `${p.name || p.token}: ${p.encoding || '?'} ${p.width}×${p.height}${p.fps ? ` ${p.fps} fps` : ''}`),
      el('p', { class: 'url muted' }, p.rtsp_url ? displayUrl(p.rtsp_url) : '(no RTSP URL)'),
      el('label', { class: 'inline' }, el('input', { type: 'radio', name: 'onvif-main', value: String(i),
        checked: p === pick.main || undefined, disabled: !p.rtsp_url || undefined }), ' main'),
      el('label', { class: 'inline' }, el('input', { type: 'radio', name: 'onvif-sub', value: String(i),
        checked: p === pick.sub || undefined, disabled: !p.rtsp_url || undefined }), ' sub')));
    const none = el('label', { class: 'inline' }, el('input', { type: 'radio', name: 'onvif-sub', value: '',
      checked: pick.sub === null || undefined }), ' no sub stream');
    const use = el('button', { type: 'button' }, 'Use these streams');
    use.addEventListener('click', () => {
      const m = box.querySelector('input[name="onvif-main"]:checked');
      const s = box.querySelector('input[name="onvif-sub"]:checked');
      if (!m) { say(state, 'Choose a main stream.', 'error'); return; }
      $('f-main').value = list[Number(m.value)].rtsp_url;
      $('f-sub').value = s && s.value !== '' ? list[Number(s.value)].rtsp_url : '';
      say($('credentials-note'), '');
      if (!moveCredentials('The camera\'s stream URL held credentials.')) return;
      if ($('f-user').value === '') $('f-user').value = body.user;
      const notes = [];
      if ($('credentials-note').textContent) notes.push($('credentials-note').textContent);
      if ($('f-password').value === '' && body.password !== '') {
        $('f-password').value = body.password;
        notes.push('The ONVIF password was copied into Password: clear or change it if the streams need another.');
      }
      say($('credentials-note'), notes.join(' '));
      say(state, 'Filled in below: test, then save.', 'ok');
      $('f-name').focus();
    });
    box.replaceChildren(el('ul', { class: 'admin-list' }, ...rows), none, use);
  } catch (e) {
    say(state, missingRoute(e) ? NOT_YET : describeError(e), 'error');
  } finally {
    $('profiles').disabled = false;
  }
}

// ---- motion areas ----

// bad: stored shapes the page cannot read ("text: reason"); they block Save until the admin
// ticks #motion-drop-bad (the daemon would otherwise lose them silently).
const mo = { camera: null, shapes: [], bad: [], draft: null, selected: -1, svg: null };

function svgEl(tag, attrs) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  return n;
}

// The SVG uses a 0..1000 view box stretched over the picture (preserveAspectRatio none): the
// stored normalised points times 1000.
const pts = (points) => points.map((p) => `${p.x * 1000},${p.y * 1000}`).join(' ');

// A shape's points as the page writes them; a stored shape whose points rounding would merge
// is shown point by point (Save then says which points to move apart).
function pointsText(points) {
  try {
    return polygonToString(points);
  } catch {
    return points.map((p) => `${formatCoord(p.x)},${formatCoord(p.y)}`).join(' ');
  }
}

function drawMotion() {
  const svg = mo.svg;
  svg.replaceChildren();
  mo.shapes.forEach((s, i) => {
    const cls = `shape-${s.kind}${i === mo.selected ? ' shape-selected' : ''}`;
    svg.append(svgEl('polygon', { points: pts(s.points), class: cls }));
  });
  if (mo.draft) {
    svg.append(svgEl('polyline', { points: pts(mo.draft.points), class: 'shape-draft' }));
    for (const p of mo.draft.points)
      svg.append(svgEl('ellipse', { cx: p.x * 1000, cy: p.y * 1000, rx: 8, ry: 14, class: 'shape-point' }));
  }
  $('close-shape').disabled = !mo.draft || mo.draft.points.length < 3;
  $('undo-point').disabled = !mo.draft;
  listShapes();
}

const shapeLabel = (i) => {
  const s = mo.shapes[i];
  return s.kind === 'zone' ? `Zone ${s.name}` : `Mask ${mo.shapes.slice(0, i + 1).filter((x) => x.kind === 'mask').length}`;
};

// The list is rebuilt on every change; the control that had the focus gets it back (by shape
// index and role: after a Delete, the next shape's Delete, else "New mask").
function listShapes() {
  const had = document.activeElement && $('shapes').contains(document.activeElement)
    ? document.activeElement.dataset.focusKey : null;
  const items = mo.shapes.map((s, i) => {
    const label = shapeLabel(i);
    const select = el('button', { type: 'button', class: 'small', 'aria-pressed': String(i === mo.selected),
                                  dataset: { focusKey: `${i}:select` } }, label);
    const del = el('button', { type: 'button', class: 'small danger', dataset: { focusKey: `${i}:delete` },
                               'aria-label': `Delete ${label}` }, 'Delete');
    select.addEventListener('click', () => { mo.selected = i === mo.selected ? -1 : i; drawMotion(); });
    del.addEventListener('click', () => {
      mo.shapes.splice(i, 1);
      mo.selected = -1;
      say($('motion-state'), `${label} deleted. Save to apply.`);
      drawMotion();
    });
    // Keyboard and exact editing: the points as text, the same form as `nvr cameras motion`,
    // rewritten as stored (4 decimals) after each change.
    const text = el('input', { class: 'text', value: pointsText(s.points), dataset: { focusKey: `${i}:points` },
                               'aria-label': `${label} points (x,y x,y …, 0 to 1)` });
    text.addEventListener('change', () => {
      try {
        s.points = roundPolygon(parsePolygon(text.value));
        say($('motion-state'), `${label} changed. Save to apply.`);
        drawMotion();
      } catch (e) {
        say($('motion-state'), `${label}: ${e.message}`, 'error');
      }
    });
    return el('li', { dataset: { kind: s.kind } }, el('div', { class: 'buttons' }, select, del), text);
  });
  if (mo.draft)
    items.push(el('li', { class: 'muted' }, `Drawing a new ${mo.draft.kind}${mo.draft.name ? ` (${mo.draft.name})` : ''}: ${mo.draft.points.length} point(s)`));
  $('shapes').replaceChildren(...items);
  if (had) {
    const [i, role] = had.split(':');
    const again = $('shapes').querySelector(`[data-focus-key="${i}:${role}"]`) ||
                  $('shapes').querySelector(`[data-focus-key="${Number(i) - 1}:${role}"]`) || $('new-mask');
    again.focus();
  }
}

function finishDraft() {
  if (!mo.draft || mo.draft.points.length < 3) return;
  mo.shapes.push(mo.draft);
  mo.selected = mo.shapes.length - 1;
  mo.draft = null;
  say($('motion-state'), 'Shape closed. Save to apply it.');
  drawMotion();
}

function tap(ev) {
  const rect = mo.svg.getBoundingClientRect();
  const p = normalisePoint(ev.clientX, ev.clientY, rect);
  if (mo.draft) {
    const first = mo.draft.points[0];
    if (mo.draft.points.length >= 3 && nearPoint(p, first, rect.width, rect.height, CLOSE_RADIUS_PX)) {
      finishDraft();
      return;
    }
    if (mo.draft.points.length >= MAX_POINTS) {
      say($('motion-state'), `A shape has at most ${MAX_POINTS} points: close it.`, 'error');
      return;
    }
    mo.draft.points.push(p);
  } else {
    mo.selected = hitTest(p, mo.shapes);
  }
  drawMotion();
}

// "New mask" / "New zone": with text in #new-points (keyboard, or exact values) the shape is made
// from it at once; otherwise taps on the picture place its corners.
function startShape(kind) {
  if (mo.draft && mo.draft.points.length >= 3) finishDraft();
  if (mo.draft && mo.draft.points.length > 0) {
    say($('motion-state'), 'The shape being drawn has fewer than 3 corners: add more, or "Undo point" to drop it.', 'error');
    return;
  }
  let name = '';
  if (kind === 'zone') {
    name = $('zone-name').value.trim();
    if (!ZONE_NAME_RE.test(name)) {
      say($('motion-state'), 'Give the zone a name first: 1 to 31 letters, digits, _ or -.', 'error');
      $('zone-name').focus();
      return;
    }
    if (mo.shapes.some((s) => s.kind === 'zone' && s.name === name)) {
      say($('motion-state'), `There is a zone ${name} already.`, 'error');
      return;
    }
  }
  const typed = $('new-points').value.trim();
  if (typed !== '') {
    let points;
    try {
      points = roundPolygon(parsePolygon(typed));
    } catch (e) {
      say($('motion-state'), `New ${kind}: ${e.message}`, 'error');
      $('new-points').focus();
      return;
    }
    mo.draft = null;
    mo.shapes.push({ kind, name, points });
    mo.selected = mo.shapes.length - 1;
    $('new-points').value = '';
    say($('motion-state'), `${shapeLabel(mo.selected)} added. Save to apply it.`);
    drawMotion();
    $('shapes').querySelector(`[data-focus-key="${mo.selected}:points"]`)?.focus();
    return;
  }
  mo.draft = { kind, name, points: [] };
  mo.selected = -1;
  say($('motion-state'), `Tap the picture to place the ${kind}'s corners (or type them in "Points of a new shape").`);
  drawMotion();
}

function openMotion(c) {
  closeEditor();
  $('motion').hidden = false;
  $('motion-title').textContent = `Motion areas of ${c.name}`;
  const { shapes, bad } = shapesFromCamera(c);
  Object.assign(mo, { camera: c, shapes, bad, draft: null, selected: -1 });
  showBad();
  say($('motion-state'), '');
  $('new-points').value = '';
  // No cache-busting query: the route takes none (400), and /api/ answers are no-store.
  const pic = $('motion-picture-state');
  say(pic, 'Loading the camera\'s picture…');
  const img = el('img', { alt: `Current picture of ${c.name}`, src: `/api/v1/cameras/${encodeURIComponent(c.id)}/snapshot.jpg` });
  img.addEventListener('load', () => say(pic, ''));
  img.addEventListener('error', () => say(pic,
    `No picture of ${c.name}: this device may not see it (add it to this device's cameras on the Devices page), or the camera has sent no frame yet. You can still draw.`, 'error'));
  mo.svg = svgEl('svg', { viewBox: '0 0 1000 1000', preserveAspectRatio: 'none', tabindex: '0',
                          role: 'application', 'aria-label': 'Motion areas over the picture',
                          'aria-describedby': 'motion-keys' });
  mo.svg.addEventListener('pointerup', tap);
  mo.svg.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') finishDraft();
    else if (ev.key === 'Escape') { mo.draft = null; drawMotion(); }
    else if ((ev.key === 'Delete' || ev.key === 'Backspace') && mo.selected >= 0) {
      mo.shapes.splice(mo.selected, 1);
      mo.selected = -1;
      drawMotion();
    } else return;
    ev.preventDefault();
  });
  $('canvas').replaceChildren(img, mo.svg);
  drawMotion();
  $('motion').scrollIntoView({ block: 'start' });
}

// The stored shapes the page cannot read stay listed above Save until the editor is closed.
function showBad() {
  const box = $('motion-bad');
  $('motion-drop-bad').checked = false;
  if (mo.bad.length === 0) { box.hidden = true; return; }
  $('motion-bad-list').replaceChildren(...mo.bad.map((b) => el('li', {}, b)));
  box.hidden = false;
}

async function saveMotion() {
  const state = $('motion-state');
  if (mo.draft) { say(state, 'Close or discard the shape being drawn first.', 'error'); return; }
  if (mo.bad.length > 0 && !$('motion-drop-bad').checked) {
    say(state, `Not saved: ${mo.bad.length} stored shape(s) above cannot be read here and saving would remove them. Tick "Remove them when saving" to save without them, or change them with "nvr cameras motion".`, 'error');
    $('motion-drop-bad').focus();
    return;
  }
  let body;
  try {
    body = motionBody(mo.shapes);
  } catch (e) {
    say(state, e.message, 'error');
    return;
  }
  $('motion-save').disabled = true;
  say(state, 'Saving…');
  try {
    await api(`settings/cameras/${mo.camera.id}/motion`, { method: 'PUT', body });
  } catch (e) {
    // A 404 here may be a camera removed meanwhile as well as an older daemon: say it plainly.
    say(state, describeError(e), 'error');
    return;
  } finally {
    $('motion-save').disabled = false;
  }
  mo.bad = [];
  showBad();
  const saved = `Saved: ${body.masks.length} mask(s), ${body.zones.length} zone(s); in effect within seconds.`;
  if (await reloadAfterSave(state, saved, refresh))
    mo.camera = cameras.find((c) => c.id === mo.camera.id) || mo.camera;
}

async function main() {
  if (!(await requireAdmin())) return;
  try {
    await refresh();
  } catch (e) {
    const s = $('status');
    s.textContent = missingRoute(e) ? NOT_YET : describeError(e);
    s.dataset.kind = 'error';
    s.hidden = false;
    $('add-camera').hidden = true;
    return;
  }
  $('add-camera').addEventListener('click', () => openEditor(null));
  $('camera-form').addEventListener('submit', save);
  $('cancel').addEventListener('click', () => { closeEditor(); $('add-camera').focus(); });
  for (const id of ['f-main', 'f-sub'])
    $(id).addEventListener('change', () => moveCredentials('A stream URL held credentials.'));
  $('test').addEventListener('click', runTest);
  $('scan').addEventListener('click', scan);
  $('profiles').addEventListener('click', profiles);
  $('new-mask').addEventListener('click', () => startShape('mask'));
  $('new-zone').addEventListener('click', () => startShape('zone'));
  $('close-shape').addEventListener('click', finishDraft);
  // The last corner; on a shape with none left, the shape itself.
  $('undo-point').addEventListener('click', () => {
    if (!mo.draft) return;
    if (mo.draft.points.length === 0) mo.draft = null;
    else mo.draft.points.pop();
    drawMotion();
  });
  $('motion-save').addEventListener('click', saveMotion);
  $('motion-cancel').addEventListener('click', () => { $('motion').hidden = true; closeEditor(); $('add-camera').focus(); });
}

main();
