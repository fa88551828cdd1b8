// proto — the pure parts of Hearth's browser protocol (docs/design/auth.md "Encodings",
// "Invite codes", "Messages"): base64url, invite-code normalisation, the exact signed messages,
// and the MSE type from X-Hearth-Codec. No DOM, no storage, no network: node's unit test imports it.

const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';  // Crockford base32
const CODE_CHARS = 12;
const CODE_INPUT_MAX = 64;

// Bytes -> base64url without padding.
export function b64urlEncode(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let bin = '';
  for (let i = 0; i < u8.length; i++) bin += String.fromCharCode(u8[i]);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// base64url without padding -> bytes; null if @text is not that.
export function b64urlDecode(text) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1)
    return null;
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - text.length % 4) % 4);
  let bin;
  try {
    bin = atob(b64);
  } catch {
    return null;
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// The 12-character canonical code (upper case, no separators, O->0, I/L->1), or null when
// @input is not a code. Same rules as nvr_auth_code_parse().
export function normaliseCode(input) {
  if (typeof input !== 'string' || input.length > CODE_INPUT_MAX) return null;
  let code = '';
  for (const raw of input) {
    if (raw === '-' || raw === ' ') continue;
    let ch = raw.toUpperCase();
    if (ch === 'O') ch = '0';
    else if (ch === 'I' || ch === 'L') ch = '1';
    if (ch.length !== 1 || !CODE_ALPHABET.includes(ch) || code.length === CODE_CHARS) return null;
    code += ch;
  }
  return code.length === CODE_CHARS ? code : null;
}

// "LLLL-SSSS-SSSS" for display.
export function formatCode(normalised) {
  return `${normalised.slice(0, 4)}-${normalised.slice(4, 8)}-${normalised.slice(8, 12)}`;
}

// The message a new device signs in pair/finish (UTF-8, no trailing newline).
export function pairMessage(origin, codeNormalised, nonce, publicKey) {
  return `hearth-pair-v1\n${origin}\n${codeNormalised}\n${nonce}\n${publicKey}`;
}

// The message a paired device signs in login/finish.
export function loginMessage(origin, nonce, publicKey) {
  return `hearth-login-v1\n${origin}\n${nonce}\n${publicKey}`;
}

// The MSE type for an X-Hearth-Codec value ("avc1.64001f"), or null if the value is not a
// plain codec string (it is put between quotes, so nothing else may pass).
export function liveMimeType(codec) {
  // A video codec, optionally ",mp4a.…" for the camera's audio track.
  if (typeof codec !== 'string' ||
      !/^[A-Za-z0-9][A-Za-z0-9.]{0,63}(,mp4a\.[A-Za-z0-9.]{1,16})?$/.test(codec)) return null;
  return `video/mp4; codecs="${codec}"`;
}

// The camera/segment ids in routes are decimal; anything else is refused before a request.
export function decimalId(value) {
  const s = String(value);
  return /^[1-9][0-9]{0,17}$/.test(s) ? s : null;
}
