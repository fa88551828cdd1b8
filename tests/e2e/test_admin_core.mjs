// test_admin_core — table tests of web/js/admin_core.js (the admin pages' pure part) under node's
// test runner: the motion polygons' text (the same as `nvr cameras motion`, parsed back the way
// nvr/events.c does), hit testing, pointer normalisation, the last-admin rule, and the request
// bodies the forms send (write-only passwords, partial PUTs).

const assert = (await import('node:assert/strict')).default;
const { test } = await import('node:test');
const core = await import('../../web/js/admin_core.js');

test('coordinates: at most 4 decimals, no exponent, clamped to 0..1', () => {
  for (const [v, want] of [[0, '0'], [1, '1'], [0.5, '0.5'], [0.12, '0.12'], [1 / 3, '0.3333'],
                           [2 / 3, '0.6667'], [0.00001, '0'], [0.00005, '0.0001'], [1e-7, '0'],
                           [-0.2, '0'], [1.7, '1'], [0.99999, '1']])
    assert.equal(core.formatCoord(v), want, `formatCoord(${v})`);
  assert.throws(() => core.formatCoord(NaN), RangeError);
});

test('a pointer is normalised to the picture box, clamped at its edges', () => {
  const rect = { left: 10, top: 20, width: 400, height: 225 };
  assert.deepEqual(core.normalisePoint(10, 20, rect), { x: 0, y: 0 });
  assert.deepEqual(core.normalisePoint(410, 245, rect), { x: 1, y: 1 });
  assert.deepEqual(core.normalisePoint(210, 132.5, rect), { x: 0.5, y: 0.5 });
  assert.deepEqual(core.normalisePoint(110, 95, rect), { x: 0.25, y: 0.3333 });
  assert.deepEqual(core.normalisePoint(-50, 1000, rect), { x: 0, y: 1 });
  assert.throws(() => core.normalisePoint(1, 1, { left: 0, top: 0, width: 0, height: 10 }));
});

test('polygon text round-trips and matches the CLI form', () => {
  const pts = [{ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 1, y: 0.12 }, { x: 0, y: 0.12 }];
  assert.equal(core.polygonToString(pts), '0,0 1,0 1,0.12 0,0.12');
  assert.deepEqual(core.parsePolygon('0,0 1,0 1,0.12 0,0.12'), pts);
  assert.deepEqual(core.parsePolygon('  0,0\t1,0   0.5,.5 '), [{ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 0.5, y: 0.5 }]);
  const zone = { name: 'left', points: [{ x: 0, y: 0.12 }, { x: 0.5, y: 0.12 }, { x: 0.5, y: 1 }, { x: 0, y: 1 }] };
  assert.equal(core.zoneToString(zone), 'left=0,0.12 0.5,0.12 0.5,1 0,1');
  assert.deepEqual(core.parseZone('left=0,0.12 0.5,0.12 0.5,1 0,1'), zone);
});

// The same cases as tests/unit/test-polygon-cases.c replays through nvr/events.c.
const cases = JSON.parse((await import('node:fs')).readFileSync(new URL('./polygon_cases.json', import.meta.url), 'utf8'));
const caseText = (c) => c.text.repeat(c.repeat ?? 1) + (c.suffix ?? '');

test('polygon text: what nvr/events.c accepts is read alike (polygon_cases.json)', () => {
  assert.ok(cases.accept.length > 10);
  for (const c of cases.accept) {
    const text = caseText(c);
    const got = core.parsePolygon(text);
    if (c.n_points !== undefined) {
      assert.equal(got.length, c.n_points, JSON.stringify(text.slice(0, 40)));
      continue;
    }
    assert.equal(got.length, c.points.length, JSON.stringify(text));
    got.forEach((p, i) => {
      // == so that -0 reads as 0, as in C.
      assert.ok(p.x == c.points[i][0] && p.y == c.points[i][1], `${JSON.stringify(text)}: point ${i} is ${p.x},${p.y}`); // eslint-disable-line eqeqeq
    });
  }
});

test('polygon text: what nvr/events.c refuses is refused with its reason (polygon_cases.json)', () => {
  assert.ok(cases.refuse.length > 10);
  for (const c of cases.refuse) {
    const text = caseText(c);
    assert.throws(() => core.parsePolygon(text), (e) => e.message.includes(c.reason), JSON.stringify(text.slice(0, 40)));
  }
  assert.throws(() => core.parsePolygon('0,0 1,0 0,1\u00000,0'), /NUL/);
});

test('zones: NAME=polygon, the name 1..31 of A-Z a-z 0-9 _ -', () => {
  for (const [text, re] of [['0,0 1,0 1,1', /NAME=/], ['=0,0 1,0 1,1', /zone name/],
                            ['a b=0,0 1,0 1,1', /zone name/], [`${'z'.repeat(32)}=0,0 1,0 1,1`, /zone name/],
                            ['dör=0,0 1,0 1,1', /zone name/], ['door=0,0 1,0', /at least 3/]])
    assert.throws(() => core.parseZone(text), re, text);
  assert.equal(core.parseZone(`${'z'.repeat(31)}=0,0 1,0 1,1`).name.length, 31);
  // Only the first '=' ends the name.
  assert.throws(() => core.parseZone('a=b=0,0 1,0 1,1'), /not x,y/);
  assert.deepEqual(core.parseZone('door=1e-1,0 1,0 0,1').points[0], { x: 0.1, y: 0 });
});

test('rounding: written with 4 decimals, never merging two points', () => {
  assert.equal(core.polygonToString([{ x: 1e-7, y: 0.5 }, { x: 1, y: 0 }, { x: 0, y: 1 }]), '0,0.5 1,0 0,1');
  assert.deepEqual(core.roundPolygon([{ x: 1 / 3, y: 0 }, { x: 1, y: 0 }, { x: 0, y: 1 }]),
                   [{ x: 0.3333, y: 0 }, { x: 1, y: 0 }, { x: 0, y: 1 }]);
  const thin = [{ x: 0.5, y: 0.5 }, { x: 0.50001, y: 0.5 }, { x: 0, y: 1 }];
  assert.throws(() => core.roundPolygon(thin), /points 1 and 2 .*0\.5,0\.5/);
  assert.throws(() => core.polygonToString(thin), /points 1 and 2/);
  assert.throws(() => core.motionBody([{ kind: 'zone', name: 'door', points: thin }]), /zone door: points 1 and 2/);
  // Points the user made equal stay (the daemon takes them).
  assert.equal(core.polygonToString([{ x: 0, y: 0 }, { x: 0, y: 0 }, { x: 1, y: 1 }, { x: 0, y: 1 }]), '0,0 0,0 1,1 0,1');
  // A stored shape in any form the daemon reads is shown and saved back in the page's form.
  const read = core.shapesFromCamera({ masks: ['1e-1,-0 0x1,0 +.5,1'], zones: [] });
  assert.deepEqual(read.bad, []);
  assert.deepEqual(core.motionBody(read.shapes).masks, ['0.1,0 1,0 0.5,1']);
});

test('hit testing: even-odd inside, the topmost shape wins, concave shapes', () => {
  const square = [{ x: 0.1, y: 0.1 }, { x: 0.5, y: 0.1 }, { x: 0.5, y: 0.5 }, { x: 0.1, y: 0.5 }];
  const small = [{ x: 0.2, y: 0.2 }, { x: 0.3, y: 0.2 }, { x: 0.3, y: 0.3 }, { x: 0.2, y: 0.3 }];
  // A "U": the notch (0.4..0.6, 0..0.6) is outside.
  const u = [{ x: 0.3, y: 0 }, { x: 0.4, y: 0 }, { x: 0.4, y: 0.6 }, { x: 0.6, y: 0.6 }, { x: 0.6, y: 0 },
             { x: 0.7, y: 0 }, { x: 0.7, y: 0.8 }, { x: 0.3, y: 0.8 }];
  for (const [pt, poly, want] of [[{ x: 0.3, y: 0.3 }, square, true], [{ x: 0.05, y: 0.3 }, square, false],
                                  [{ x: 0.3, y: 0.7 }, square, false], [{ x: 0.35, y: 0.3 }, u, true],
                                  [{ x: 0.5, y: 0.3 }, u, false], [{ x: 0.5, y: 0.7 }, u, true],
                                  [{ x: 0.8, y: 0.7 }, u, false]])
    assert.equal(core.pointInPolygon(pt, poly), want, JSON.stringify(pt));
  const shapes = [{ points: square }, { points: small }];
  assert.equal(core.hitTest({ x: 0.25, y: 0.25 }, shapes), 1);
  assert.equal(core.hitTest({ x: 0.45, y: 0.45 }, shapes), 0);
  assert.equal(core.hitTest({ x: 0.9, y: 0.9 }, shapes), -1);
  assert.equal(core.hitTest({ x: 0.5, y: 0.5 }, []), -1);
});

test('a tap closes the polygon near its first point, measured in screen pixels', () => {
  const first = { x: 0.5, y: 0.5 };
  // 390 x 219 px picture: 0.03 of the width is 11.7 px, 0.03 of the height 6.6 px.
  assert.equal(core.nearPoint({ x: 0.53, y: 0.5 }, first, 390, 219, 12), true);
  assert.equal(core.nearPoint({ x: 0.535, y: 0.5 }, first, 390, 219, 12), false);
  assert.equal(core.nearPoint({ x: 0.5, y: 0.55 }, first, 390, 219, 12), true);
  assert.equal(core.nearPoint({ x: 0.5, y: 0.56 }, first, 390, 219, 12), false);
});

test('the motion body: strings in order, limits, zone names', () => {
  const tri = [{ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 0, y: 1 }];
  const body = core.motionBody([{ kind: 'mask', name: '', points: tri },
                                { kind: 'zone', name: 'door', points: tri },
                                { kind: 'mask', name: '', points: [{ x: 0.25, y: 0.5 }, ...tri] }]);
  assert.deepEqual(body, { masks: ['0,0 1,0 0,1', '0.25,0.5 0,0 1,0 0,1'], zones: ['door=0,0 1,0 0,1'] });
  assert.deepEqual(core.motionBody([]), { masks: [], zones: [] });
  assert.throws(() => core.motionBody([{ kind: 'zone', name: 'a', points: tri }, { kind: 'zone', name: 'a', points: tri }]), /two zones/);
  assert.throws(() => core.motionBody([{ kind: 'zone', name: 'front door', points: tri }]), /zone name/);
  assert.throws(() => core.motionBody([{ kind: 'mask', name: '', points: tri.slice(0, 2) }]), /at least 3/);
  assert.throws(() => core.motionBody(Array(17).fill({ kind: 'mask', name: '', points: tri })), /at most 16 masks/);
  const zones = Array.from({ length: 17 }, (_, i) => ({ kind: 'zone', name: `z${i}`, points: tri }));
  assert.throws(() => core.motionBody(zones), /at most 16 zones/);
  // What the page saves is what it reads back.
  const again = core.shapesFromCamera(body);
  assert.deepEqual(again.bad, []);
  assert.deepEqual(core.motionBody(again.shapes), { masks: body.masks, zones: body.zones });
  const partly = core.shapesFromCamera({ masks: ['0,0 1,0'], zones: ['ok=0,0 1,0 1,1'] });
  assert.equal(partly.shapes.length, 1);
  assert.equal(partly.bad.length, 1);
});

test('the last admin: only an unrevoked admin alone counts', () => {
  const d = (id, admin, revoked = null) => ({ id, admin, revoked_us: revoked });
  const one = [d(1, true), d(2, false), d(3, true, 5)];
  assert.equal(core.isLastAdmin(one[0], one), true);
  assert.equal(core.isLastAdmin(one[1], one), false);
  assert.equal(core.isLastAdmin(one[2], one), false);
  const two = [d(1, true), d(2, true)];
  assert.equal(core.isLastAdmin(two[0], two), false);
  assert.equal(core.activeAdmins(two).length, 2);
  assert.deepEqual(core.cameraNames([2, 9], [{ id: 1, name: 'a' }, { id: 2, name: 'b' }]), ['b', 'camera #9']);
});

test('invite bodies: name, cameras, admin, expiry within 24 h', () => {
  assert.deepEqual(core.inviteBody({ name: ' phone ', cameraIds: ['3', 1], admin: false, ttlMinutes: 10 }),
                   { name: 'phone', cameras: [3, 1], admin: false, ttl_s: 600 });
  assert.deepEqual(core.inviteBody({ name: 'ops', cameraIds: [], admin: true, ttlMinutes: 1440 }),
                   { name: 'ops', cameras: [], admin: true, ttl_s: 86400 });
  assert.throws(() => core.inviteBody({ name: '', cameraIds: [1], admin: false, ttlMinutes: 10 }), /name/);
  assert.throws(() => core.inviteBody({ name: 'x'.repeat(65), cameraIds: [1], admin: false, ttlMinutes: 10 }), /name/);
  // 64 BYTES of UTF-8, as the daemon counts (strlen): 'é' is 2 of them, '€' 3.
  assert.equal(core.inviteBody({ name: 'x'.repeat(64), cameraIds: [1], admin: false, ttlMinutes: 10 }).name.length, 64);
  assert.equal(core.inviteBody({ name: 'é'.repeat(32), cameraIds: [1], admin: false, ttlMinutes: 10 }).name.length, 32);
  assert.throws(() => core.inviteBody({ name: 'é'.repeat(33), cameraIds: [1], admin: false, ttlMinutes: 10 }), /64 bytes/);
  assert.throws(() => core.inviteBody({ name: 'é'.repeat(64), cameraIds: [1], admin: false, ttlMinutes: 10 }), /64 bytes/);
  assert.throws(() => core.inviteBody({ name: `${'x'.repeat(62)}€`, cameraIds: [1], admin: false, ttlMinutes: 10 }), /64 bytes/);
  assert.equal(core.utf8Length('é€😀'), 2 + 3 + 4);
  // Control characters, C0, DEL and C1 (g_unichar_iscntrl); U+00A0 is not one.
  for (const c of ['\u0007', '\u001f', '\u007f', '\u0080', '\u0085', '\u009f'])
    assert.throws(() => core.inviteBody({ name: `a${c}b`, cameraIds: [1], admin: false, ttlMinutes: 10 }), /control/, escape(c));
  assert.equal(core.inviteBody({ name: 'a\u00a0b', cameraIds: [1], admin: false, ttlMinutes: 10 }).name, 'a\u00a0b');
  assert.throws(() => core.inviteBody({ name: 'a\ud800b', cameraIds: [1], admin: false, ttlMinutes: 10 }), /UTF-8/);
  assert.throws(() => core.inviteBody({ name: 'a', cameraIds: [1], admin: false, ttlMinutes: 1441 }), /24 hours/);
  assert.throws(() => core.inviteBody({ name: 'a', cameraIds: [1], admin: false, ttlMinutes: 0 }), /24 hours/);
  assert.throws(() => core.inviteBody({ name: 'a', cameraIds: [], admin: false, ttlMinutes: 10 }), /at least one camera/);
});

test('the invite URL is a link only when it is this origin\'s pair.html#code=', () => {
  const o = 'https://hearth.lan:8443';
  assert.equal(core.pairLink(`${o}/pair.html#code=ABCD-1234`, o), `${o}/pair.html#code=ABCD-1234`);
  for (const url of [`https://evil.example/pair.html#code=ABCD`, `${o}/pair.htm#code=ABCD`, `${o}/pair.html`,
                     `${o}/pair.html#code=`, `${o}/x/../index.html#code=A`, 'javascript:alert(1)//#code=A',
                     `https://u:p@hearth.lan:8443/pair.html#code=A`, 'http://hearth.lan:8443/pair.html#code=A',
                     'not a url', '', null, 42])
    assert.equal(core.pairLink(url, o), null, String(url));
});

test('camera bodies: create sends what is set, edit sends what changed, passwords write-only', () => {
  const form = { name: ' porch ', main_url: 'rtsp://10.0.0.5/main', sub_url: '', user: 'admin',
                 password: 'pw', transport: 'tcp', audio: true, retention_days: '' };
  assert.deepEqual(core.cameraBody(form), { name: 'porch', main_url: 'rtsp://10.0.0.5/main', user: 'admin',
                                            transport: 'tcp', audio: true, password: 'pw' });
  const stored = { id: 4, name: 'porch', main_url: 'rtsp://10.0.0.5/main', sub_url: null, user: 'admin',
                   password_set: true, transport: 'tcp', audio: true, retention_days: null };
  // Nothing changed and the password field left empty: nothing to send (the password is kept).
  assert.deepEqual(core.cameraBody({ ...form, password: '' }, stored), {});
  assert.deepEqual(core.cameraBody({ ...form, password: 'new' }, stored), { password: 'new' });
  assert.deepEqual(core.cameraBody({ ...form, password: '', clear_password: true }, stored), { password: null });
  // Clearing a password that is not set sends nothing; typed text wins over "clear".
  assert.deepEqual(core.cameraBody({ ...form, password: '', clear_password: true }, { ...stored, password_set: false }), {});
  assert.deepEqual(core.cameraBody({ ...form, password: 'x', clear_password: true }, stored), { password: 'x' });
  assert.deepEqual(core.cameraBody({ ...form, password: '', name: 'yard', sub_url: 'rtsp://10.0.0.5/sub',
                                     retention_days: '14', audio: false, user: '' }, stored),
                   { name: 'yard', sub_url: 'rtsp://10.0.0.5/sub', retention_days: 14, audio: false, user: null });
  assert.deepEqual(core.cameraBody({ ...form, password: '' }, { ...stored, sub_url: 'rtsp://x/s', retention_days: 3 }),
                   { sub_url: null, retention_days: null });
  for (const [f, re] of [[{ name: '' }, /name/], [{ main_url: 'http://x' }, /rtsp/], [{ sub_url: 'x' }, /sub stream/],
                         [{ transport: 'quic' }, /transport/], [{ retention_days: '0' }, /3650/],
                         [{ retention_days: '1.5' }, /3650/], [{ retention_days: '4000' }, /3650/]])
    assert.throws(() => core.cameraBody({ ...form, ...f }), re, JSON.stringify(f));
});

test('a password inside a stream URL is not shown', () => {
  for (const [url, want] of [['rtsp://10.0.0.5/main', 'rtsp://10.0.0.5/main'],
                             ['rtsp://admin:hunter2@10.0.0.5:554/main', 'rtsp://admin:•••@10.0.0.5:554/main'],
                             ['RTSPS://u:p%40ss@cam/x', 'RTSPS://u:•••@cam/x'],
                             ['rtsp://admin@10.0.0.5/main', 'rtsp://admin@10.0.0.5/main'],
                             ['rtsp://10.0.0.5/a:b@c', 'rtsp://10.0.0.5/a:b@c'], [null, '']])
    assert.equal(core.displayUrl(url), want, String(url));
  // Up to the LAST '@' of the user information; '/' and '@' inside the password.
  for (const [url, want] of [['rtsp://u:p@ss@cam/x', 'rtsp://u:•••@cam/x'],
                             ['rtsp://u:pa/ss@cam:554/x', 'rtsp://u:•••@cam:554/x'],
                             // Ambiguous ('@' in the path too): more is hidden, never less.
                             ['rtsp://u:a@b/c@cam/x@y', 'rtsp://u:•••@y'],
                             ['rtsp://u:p@[fe80::1]:554/x', 'rtsp://u:•••@[fe80::1]:554/x'],
                             ['rtsp://u:s3cret@cam', 'rtsp://u:•••@cam']])
    assert.equal(core.displayUrl(url), want, url);
});

test('credentials in a stream URL move to the User and Password fields', () => {
  assert.deepEqual(core.splitCredentials('rtsp://admin:p%40ss/w@cam:554/main'),
                   { url: 'rtsp://cam:554/main', user: 'admin', password: 'p@ss/w' });
  assert.deepEqual(core.splitCredentials('rtsp://admin@cam/main'), { url: 'rtsp://cam/main', user: 'admin', password: null });
  assert.deepEqual(core.splitCredentials('rtsp://cam/a@b'), { url: 'rtsp://cam/a@b', user: null, password: null });
  assert.deepEqual(core.splitCredentials(''), { url: '', user: null, password: null });
  const f = { name: 'porch', main_url: 'rtsp://admin:pw@cam/main', sub_url: 'rtsp://admin:pw@cam/sub', user: '',
              password: '', transport: 'auto', audio: true, retention_days: '' };
  const t = core.takeCredentials(f);
  assert.equal(t.moved, true);
  assert.deepEqual([t.main_url, t.sub_url, t.user, t.password], ['rtsp://cam/main', 'rtsp://cam/sub', 'admin', 'pw']);
  assert.equal(core.takeCredentials({ ...f, main_url: 'rtsp://cam/main', sub_url: '' }).moved, false);
  // What is sent never holds them (the daemon refuses such a URL).
  const body = core.cameraBody(f);
  assert.deepEqual(body, { name: 'porch', main_url: 'rtsp://cam/main', sub_url: 'rtsp://cam/sub', user: 'admin',
                           transport: 'auto', audio: true, password: 'pw' });
  assert.ok(!JSON.stringify(core.testBody(f)).includes('@'));
  assert.equal(core.testBody(f).password, 'pw');
  // Given twice differently: refused rather than guessed.
  assert.throws(() => core.cameraBody({ ...f, password: 'other' }), /different passwords/);
  assert.throws(() => core.cameraBody({ ...f, sub_url: 'rtsp://bob:pw@cam/sub' }), /different users/);
  assert.deepEqual(core.cameraBody({ ...f, user: 'admin', password: 'pw' }), body);
});

test('test bodies and answers', () => {
  assert.deepEqual(core.testBody({ main_url: ' rtsp://c/1 ', user: '', password: '', transport: 'auto' }),
                   { main_url: 'rtsp://c/1' });
  assert.deepEqual(core.testBody({ main_url: 'rtsp://c/1', user: 'u', password: 'p', transport: 'udp' }),
                   { main_url: 'rtsp://c/1', user: 'u', password: 'p', transport: 'udp' });
  assert.throws(() => core.testBody({ main_url: 'c/1' }), /rtsp/);
  const ok = core.describeTest({ ok: true, video: { codec: 'h264', width: 1920, height: 1080, fps: 25 },
                                 audio: { codec: 'aac', rate: 16000, channels: 1 }, still: 'data:image/jpeg;base64,AAAA' });
  assert.equal(ok.ok, true);
  assert.deepEqual(ok.lines, ['Video: h264 1920×1080 at 25 fps', 'Audio: aac, 16000 Hz, 1 channel(s)']);
  assert.equal(ok.still, 'data:image/jpeg;base64,AAAA');
  const noAudio = core.describeTest({ ok: true, video: { codec: 'h265', width: 640, height: 360, fps: 29.97 },
                                      audio: null, still: 'javascript:alert(1)' });
  assert.deepEqual(noAudio.lines, ['Video: h265 640×360 at 29.97 fps', 'Audio: none']);
  assert.equal(noAudio.still, null, 'only a JPEG data URL is shown');
  const bad = core.describeTest({ ok: false, reason: 'unauthorized', detail: '401 from 10.0.0.5' });
  assert.deepEqual(bad, { ok: false, lines: ['Test failed: the camera refused the user name or password', '401 from 10.0.0.5'], still: null });
  assert.deepEqual(core.describeTest({ ok: false, reason: 'odd' }).lines, ['Test failed: odd']);
  // The daemon's reasons are hyphenated (nvr/prober.c): each has its sentence.
  for (const reason of ['unreachable', 'unauthorized', 'no-video', 'unsupported-codec', 'timeout', 'bad-url'])
    assert.notEqual(core.describeTest({ ok: false, reason }).lines[0], `Test failed: ${reason}`, reason);
  for (const reason of ['unreachable', 'unauthorized', 'malformed', 'fault', 'timeout', 'bad-address'])
    assert.ok(!core.describeOnvifFailure({ ok: false, reason }).includes(`: ${reason}`), reason);
  assert.equal(core.describeOnvifFailure({ ok: false, reason: 'fault', detail: 'NotAuthorized' }),
               'ONVIF failed: the camera answered with an ONVIF error: NotAuthorized');
  assert.equal(core.describeTest(null).ok, false);
});

test('inline images become Blobs of the expected type only', async () => {
  const jpeg = core.imageBlob('data:image/jpeg;base64,/9j/AA==', 'image/jpeg');
  assert.equal(jpeg.type, 'image/jpeg');
  assert.deepEqual([...new Uint8Array(await jpeg.arrayBuffer())], [0xff, 0xd8, 0xff, 0x00]);
  const svg = '<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>';
  assert.equal(await core.imageBlob(svg, 'image/svg+xml').text(), svg);
  assert.equal(await core.imageBlob(`data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`, 'image/svg+xml').text(), svg);
  assert.equal(await core.imageBlob(`data:image/svg+xml;base64,${btoa(svg)}`, 'image/svg+xml').text(), svg);
  for (const [src, type] of [['data:image/png;base64,AAAA', 'image/jpeg'], ['https://x/a.jpg', 'image/jpeg'],
                             ['data:image/jpeg;base64,@@@', 'image/jpeg'], [svg, 'image/jpeg'], ['', 'image/jpeg'],
                             [null, 'image/svg+xml'], ['javascript:alert(1)', 'image/svg+xml']])
    assert.equal(core.imageBlob(src, type), null, String(src));
});

test('ONVIF profiles: main is the largest, sub the smallest other stream', () => {
  const p = (token, w, h, url) => ({ token, width: w, height: h, rtsp_url: url });
  const r = core.pickProfiles([p('a', 640, 360, 'rtsp://c/sub'), p('b', 1920, 1080, 'rtsp://c/main'), p('c', 1280, 720, '')]);
  assert.equal(r.main.token, 'b');
  assert.equal(r.sub.token, 'a');
  assert.deepEqual(core.pickProfiles([]), { main: null, sub: null });
  const one = core.pickProfiles([p('x', 1920, 1080, 'rtsp://c/m'), p('y', 640, 360, 'rtsp://c/m')]);
  assert.equal(one.main.token, 'x');
  assert.equal(one.sub, null, 'the same URL twice is one stream');
});

test('health: sizes, uptime, disk use, audit pages', () => {
  for (const [n, want] of [[0, '0 B'], [1023, '1023 B'], [1536, '1.5 KiB'], [10 * 1024 ** 3, '10 GiB'],
                           [3.5 * 1024 ** 4, '3.5 TiB'], [-1, '?'], ['x', '?']])
    assert.equal(core.formatSize(n), want, String(n));
  assert.equal(core.formatUptime(59), '0 min');
  assert.equal(core.formatUptime(3 * 3600 + 120), '3 h 2 min');
  assert.equal(core.formatUptime(2 * 86400 + 5 * 3600), '2 d 5 h');
  assert.equal(core.diskUsed({ total_bytes: 1000, free_bytes: 250 }), 0.75);
  assert.equal(core.diskUsed({ total_bytes: 0, free_bytes: 0 }), null);
  assert.equal(core.diskUsed({ total_bytes: 10, free_bytes: 20 }), null);
  assert.equal(core.auditPath(null), 'audit?limit=50');
  assert.equal(core.auditPath(120, 20), 'audit?limit=20&before_id=120');
  assert.equal(core.auditDetails(null), '');
  assert.equal(core.auditDetails({ cameras: [1, 2] }), '{"cameras":[1,2]}');
  assert.equal(core.auditDetails({ s: 'x'.repeat(400) }).length, 300);
});
