// test_web_proto — table tests of web/js/proto.js, the browser side of docs/design/auth.md's
// encodings and signed messages, with node's test runner (no browser, no dependency).
// The same rules in C are nvr_auth_code_parse / nvr_auth_*_message (tests/unit).

import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { test } from 'node:test';
import { b64urlDecode, b64urlEncode, decimalId, formatCode, liveMimeType, loginMessage,
         normaliseCode, pairMessage } from '../../web/js/proto.js';

test('base64url without padding matches node and round-trips', () => {
  for (let n = 0; n <= 70; n++) {
    const bytes = new Uint8Array(n).map((_, i) => (i * 151 + n * 7) & 255);
    const text = b64urlEncode(bytes);
    assert.equal(text, Buffer.from(bytes).toString('base64url'));
    assert.doesNotMatch(text, /[=+/]/);
    assert.deepEqual(b64urlDecode(text), bytes);
  }
  assert.equal(b64urlEncode(new Uint8Array(32)).length, 43);   // a public key
  assert.equal(b64urlEncode(new Uint8Array(64)).length, 86);   // a signature
  for (const bad of ['a', 'ab=c', 'a+b/', 'ab cd', 'Zm9v=', null, 7])
    assert.equal(b64urlDecode(bad), null, String(bad));
});

test('invite codes normalise like nvr_auth_code_parse', () => {
  const table = [
    ['ABCD-EFGH-JKMN', 'ABCDEFGHJKMN'],
    ['abcd efgh jkmn', 'ABCDEFGHJKMN'],
    ['abcdefghjkmn', 'ABCDEFGHJKMN'],
    ['OOOO-IIII-LLLL', '000011111111'],
    ['o1l0-i2L3-4567', '011012134567'],
    [' ABCD--EFGH-JKMN ', 'ABCDEFGHJKMN'],
    ['ABCD-EFGH-JKM', null],         // 11 characters
    ['ABCD-EFGH-JKMNP', null],       // 13
    ['ABCD-EFGH-JKMU', null],        // U is not Crockford
    ['ABCD_EFGH_JKMN', null],        // only '-' and ' ' separate
    ['ÀBCD-EFGH-JKMN', null],
    ['', null],
    [`${'-'.repeat(60)}ABCDEFGHJKMN`, null],  // over 64 input characters
    [null, null],
  ];
  for (const [input, want] of table) assert.equal(normaliseCode(input), want, String(input));
  assert.equal(formatCode('ABCDEFGHJKMN'), 'ABCD-EFGH-JKMN');
});

test('signed messages are byte-exact', () => {
  const pk = b64urlEncode(new Uint8Array(32).fill(1));
  assert.equal(pairMessage('https://127.0.0.1:8443', 'ABCDEFGHJKMN', 'bm9uY2U', pk),
               `hearth-pair-v1\nhttps://127.0.0.1:8443\nABCDEFGHJKMN\nbm9uY2U\n${pk}`);
  assert.equal(loginMessage('https://hearth.local', 'bm9uY2U', pk),
               `hearth-login-v1\nhttps://hearth.local\nbm9uY2U\n${pk}`);
  assert.ok(!pairMessage('o', 'c', 'n', 'k').endsWith('\n'));
});

test('a pairing signature made with WebCrypto verifies over the exact message', async () => {
  const { subtle } = webcrypto;   // global `crypto` only from node 19
  const keys = await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
  const pk = b64urlEncode(new Uint8Array(await subtle.exportKey('raw', keys.publicKey)));
  assert.equal(pk.length, 43);
  const msg = pairMessage('https://127.0.0.1:8443', 'ABCDEFGHJKMN', 'bm9uY2U', pk);
  const sig = new Uint8Array(await subtle.sign('Ed25519', keys.privateKey, new TextEncoder().encode(msg)));
  assert.equal(sig.length, 64);
  assert.ok(await subtle.verify('Ed25519', keys.publicKey, sig, new TextEncoder().encode(msg)));
  assert.ok(!await subtle.verify('Ed25519', keys.publicKey, sig, new TextEncoder().encode(`${msg}\n`)));
  await assert.rejects(subtle.exportKey('pkcs8', keys.privateKey));
});

test('live codec header becomes an MSE type only when it is a plain codec string', () => {
  assert.equal(liveMimeType('avc1.64001f'), 'video/mp4; codecs="avc1.64001f"');
  assert.equal(liveMimeType('hvc1.1.6.L93.B0'), 'video/mp4; codecs="hvc1.1.6.L93.B0"');
  assert.equal(liveMimeType('avc1.64001f,mp4a.40.2'), 'video/mp4; codecs="avc1.64001f,mp4a.40.2"');
  for (const bad of ['avc1.64001f,', 'avc1.64001f,avc1.64001f', 'avc1,mp4a.40.2,mp4a.40.2',
                     'avc1.64001f, mp4a.40.2', 'avc1.64001f,mp4a."'])
    assert.equal(liveMimeType(bad), null, bad);
  for (const bad of [null, '', 'avc1"; x="', 'avc1,x', 'a'.repeat(65), '.avc1', 'avc1 64'])
    assert.equal(liveMimeType(bad), null, String(bad));
});

test('route ids are decimal', () => {
  for (const good of [1, '7', '123456789012345678']) assert.equal(decimalId(good), String(good));
  for (const bad of [0, '01', '-1', '1e3', '1/../2', ' 1', '', null, '1234567890123456789'])
    assert.equal(decimalId(bad), null, String(bad));
});
