// keys — this browser's device key in IndexedDB (database "hearth", store "keys"). The private
// key is a non-extractable WebCrypto CryptoKey: the page can sign with it but never read it.
// Records are keyed by the public key (base64url); at most one is "paired", the newest pending
// one is kept only until its pairing finishes or fails.

const DB_NAME = 'hearth';
const DB_VERSION = 1;
const STORE = 'keys';

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains(STORE))
        req.result.createObjectStore(STORE, { keyPath: 'publicKey' });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error('the key store is busy in another tab'));
  });
}

// Runs @fn(store) in one transaction; resolves with @fn's request result when it commits.
async function withStore(mode, fn) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      let result;
      const req = fn(tx.objectStore(STORE));
      if (req) req.onsuccess = () => { result = req.result; };
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new Error('key store transaction aborted'));
    });
  } finally {
    db.close();
  }
}

// A new non-extractable key pair and its raw public key (32 bytes).
export async function generateKey() {
  const keyPair = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', keyPair.publicKey));
  if (raw.length !== 32) throw new Error('unexpected public key length');
  return { keyPair, raw };
}

// Signs the UTF-8 bytes of @message; returns the 64-byte signature.
export async function sign(record, message) {
  const sig = await crypto.subtle.sign({ name: 'Ed25519' }, record.privateKey,
                                      new TextEncoder().encode(message));
  return new Uint8Array(sig);
}

// All records, newest first.
async function all() {
  const rows = (await withStore('readonly', (s) => s.getAll())) || [];
  return rows.sort((a, b) => b.createdMs - a.createdMs);
}

// The key this browser logs in with: the paired one, else the newest pending one (its pairing
// may have finished on the appliance even if the answer was lost), else null.
export async function currentKey() {
  const rows = await all();
  return rows.find((r) => r.state === 'paired') || rows[0] || null;
}

// Stores a new key before pair/finish is sent (state "pending").
export async function savePending(publicKey, keyPair) {
  const record = {
    publicKey, privateKey: keyPair.privateKey, verifyKey: keyPair.publicKey,
    state: 'pending', origin: location.origin, createdMs: Date.now(), device: null,
  };
  await withStore('readwrite', (s) => s.put(record));
  return record;
}

// pair/finish succeeded: @publicKey is this browser's key from now on; older keys are dropped
// (their devices stay on the appliance until an admin revokes them).
export async function markPaired(publicKey, device) {
  await withStore('readwrite', (s) => {
    const cursorReq = s.openCursor();
    cursorReq.onsuccess = () => {
      const cursor = cursorReq.result;
      if (!cursor) return;
      const r = cursor.value;
      if (r.publicKey === publicKey) cursor.update({ ...r, state: 'paired', device, pairedMs: Date.now() });
      else cursor.delete();
      cursor.continue();
    };
    return null;
  });
}

// The last device description the appliance sent (login/finish or pair/finish).
export async function rememberDevice(publicKey, device) {
  await withStore('readwrite', (s) => {
    const req = s.get(publicKey);
    req.onsuccess = () => { if (req.result) s.put({ ...req.result, device }); };
    return null;
  });
}

// Forgets one key (a pairing that failed for good).
export async function forget(publicKey) {
  await withStore('readwrite', (s) => s.delete(publicKey));
}
