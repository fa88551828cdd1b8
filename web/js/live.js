// live — the MSE player for GET /api/v1/cameras/{id}/live (chunked fMP4: init segment, then
// fragments from a keyframe; X-Hearth-Codec names the codec, with ",mp4a.40.N" when the stream
// carries the camera's audio: the element stays muted, onAudio(true) lets the page offer an
// "Unmute" button, and unmuting is the user's click there). Bytes are appended in order from a
// bounded queue (reading pauses while it is full, so the daemon drops whole fragments for us,
// never the browser mid-fragment); the buffer is trimmed to a few seconds behind the playhead and
// the playhead is kept near the live edge. When the stream ends, stalls or cannot be reached,
// the player reconnects by itself with exponential backoff and full jitter (1 s doubling to 30
// s; a 503's Retry-After is honoured), at once when the browser comes back online or the page
// becomes visible again (a laptop waking up). It stops for good only when retrying cannot help:
// the browser was refused (401 after a login attempt, 403, 404), or cannot play the stream.

import { apiFetch, errorReason, describeError, ApiError } from './api.js';
import { decimalId, liveMimeType } from './proto.js';

const MAX_QUEUED_BYTES = 4 * 1024 * 1024;  // received, not yet appended
const MAX_APPEND_BYTES = 1024 * 1024;      // one appendBuffer() call
const KEEP_BEHIND_S = 6;                   // buffered media kept behind the playhead
const TRIM_SLACK_S = 4;                    // trim only when this much more has piled up
const MAX_LATENCY_S = 2.5;                 // further behind the live edge than this: jump
const EDGE_MARGIN_S = 0.3;                 // where a jump lands, before the buffered end
const RETRY_FIRST_MS = 1000;               // first reconnect delay (before jitter)
const RETRY_MAX_MS = 30000;                // the delay doubles up to this
const STEADY_MS = 10000;                   // playing this long resets the backoff
const STALL_MS = 10000;                    // no bytes for this long while playing: reconnect
const CONNECT_MAX_MS = 30000;              // no picture this long after connecting: reconnect
const WATCH_MS = 2000;                     // how often the stall watch looks

// The Media Source Extensions class this browser has: MediaSource, or ManagedMediaSource where
// only that exists (Safari on iPhone, iOS 17.1+); null for neither.
function mediaSourceClass() {
  if (typeof window.MediaSource === 'function') return window.MediaSource;
  if (typeof window.ManagedMediaSource === 'function') return window.ManagedMediaSource;
  return null;
}

// A refusal that retrying cannot change (a revoked or unpaired browser, a camera not shared).
function permanent(status) {
  return status === 401 || status === 403 || status === 404;
}

// States reported to onState: 'connecting', 'playing', 'retrying' (waiting to reconnect; the
// message says why and when), 'ended' (the page stopped it), 'error' (given up: the message says
// why; the "Reconnect" button starts again).
export class LivePlayer {
  // @video: a <video> element (muted, playsinline). @onState(state, message) updates the UI;
  // @onAudio(hasAudio) says whether the current stream has an audio track.
  constructor(video, cameraId, onState = () => {}, onAudio = () => {}) {
    this.video = video;
    this.cameraId = decimalId(cameraId);
    this.onState = onState;
    this.onAudio = onAudio;
    this.abort = null;
    this.mediaSource = null;
    this.sourceBuffer = null;
    this.queue = [];
    this.queuedBytes = 0;
    this.stopped = true;
    this.waiters = [];
    this.attempt = 0;              // reconnects since the stream last played steadily
    this.retryTimer = null;
    this.watchTimer = null;
    this.stateSinceMs = 0;
    this.connects = 0;
    this.onWake = () => this.wakeUp();
    // Observable by tests through data- attributes (no URLs, nothing secret).
    this.stats = { bytes: 0, appended: 0, lastDataMs: 0, endedMs: 0 };
  }

  setState(state, message) {
    this.state = state;
    this.stateSinceMs = Date.now();
    this.video.dataset.liveState = state;
    if (state === 'retrying' || state === 'ended' || state === 'error') {
      this.stats.endedMs = Date.now();
      this.video.dataset.liveEndedMs = String(this.stats.endedMs);
    }
    this.onState(state, message);
  }

  // Starts (or restarts at once, e.g. from the "Reconnect" button) with a fresh backoff.
  start() {
    this.stop();
    this.attempt = 0;
    window.addEventListener('online', this.onWake);
    document.addEventListener('visibilitychange', this.onWake);
    this.watchTimer = setInterval(() => this.watch(), WATCH_MS);
    return this.connect();
  }

  // Back online, or the page visible again: a waiting reconnect happens now.
  wakeUp() {
    if (document.visibilityState === 'hidden' || this.retryTimer === null) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  // The stall watch: a stream that stopped bringing bytes (the camera or the daemon went away
  // without closing, or the machine slept) is reconnected.
  watch() {
    const now = Date.now();
    if (this.state === 'playing' && now - this.stats.lastDataMs > STALL_MS) {
      this.retry('no video for a while');
    } else if (this.state === 'connecting' && now - this.stateSinceMs > CONNECT_MAX_MS) {
      this.retry('no picture yet');
    } else if (this.state === 'playing' && now - this.stateSinceMs > STEADY_MS) {
      this.attempt = 0;
    }
  }

  // Ends this connection and schedules the next one.
  retry(why, minDelayMs = 0) {
    if (this.retryTimer !== null) return;
    this.stopInternal();
    const cap = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.min(this.attempt, 10));
    const delay = Math.max(minDelayMs, Math.round(cap * (0.5 + 0.5 * Math.random())));
    this.attempt++;
    this.setState('retrying', `${why}; reconnecting in ${Math.ceil(delay / 1000)} s…`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  // Gives up until the page starts the player again.
  giveUp(message) {
    this.stopTimers();
    this.stopInternal();
    this.setState('error', message);
  }

  async connect() {
    this.stopInternal();
    this.stopped = false;
    this.connects++;
    this.video.dataset.liveConnects = String(this.connects);
    this.queue = [];
    this.queuedBytes = 0;
    this.stats = { bytes: 0, appended: 0, lastDataMs: 0, endedMs: 0 };
    delete this.video.dataset.liveEndedMs;
    if (this.cameraId === null) {
      this.giveUp('bad camera id');
      return;
    }
    const MSE = mediaSourceClass();
    if (MSE === null) {
      this.giveUp('This browser cannot play live video (no Media Source Extensions).');
      return;
    }
    this.video.dataset.liveMse = MSE === window.MediaSource ? 'mse' : 'managed';
    this.setState('connecting', 'connecting…');
    const abort = new AbortController();
    this.abort = abort;
    let res;
    try {
      res = await apiFetch(`cameras/${this.cameraId}/live`, { signal: abort.signal });
    } catch (e) {
      if (this.stopped || abort.signal.aborted) return;
      if (e instanceof ApiError && permanent(e.status)) this.giveUp(describeError(e));
      else this.retry(e instanceof ApiError ? describeError(e) : 'could not connect');
      return;
    }
    if (this.stopped || abort.signal.aborted) {
      if (res.body) res.body.cancel().catch(() => {});
      return;
    }
    if (!res.ok) {
      const err = new ApiError(res.status, await errorReason(res));
      if (this.stopped || abort.signal.aborted) return;
      if (permanent(res.status)) {
        this.giveUp(describeError(err));
      } else {
        const after = Number(res.headers.get('Retry-After'));
        this.retry(describeError(err), Number.isFinite(after) && after > 0 ? after * 1000 : 0);
      }
      return;
    }
    const mime = liveMimeType(res.headers.get('X-Hearth-Codec'));
    if (mime === null) {
      // No codec named: the stream ended before its first byte (a camera dropping as we
      // connected); the next attempt may find it back.
      res.body.cancel().catch(() => {});
      this.retry('the camera is not sending video');
      return;
    }
    if (!MSE.isTypeSupported(mime)) {
      res.body.cancel().catch(() => {});
      this.giveUp('This browser cannot play this camera\'s codec live.');
      return;
    }
    const audio = res.headers.get('X-Hearth-Codec').includes(',mp4a.');
    this.video.dataset.liveAudio = audio ? '1' : '0';
    this.onAudio(audio);
    try {
      await this.openMediaSource(MSE, mime);
    } catch {
      res.body.cancel().catch(() => {});
      if (!this.stopped) this.retry('could not start the video player');
      return;
    }
    await this.readLoop(res.body.getReader());
  }

  openMediaSource(MSE, mime) {
    return new Promise((resolve, reject) => {
      const ms = new MSE();
      // ManagedMediaSource plays only with remote playback (AirPlay) off or given another source;
      // a live stream has none. Harmless for MediaSource.
      this.video.disableRemotePlayback = true;
      this.mediaSource = ms;
      const url = URL.createObjectURL(ms);
      ms.addEventListener('sourceopen', () => {
        URL.revokeObjectURL(url);
        try {
          this.sourceBuffer = ms.addSourceBuffer(mime);
          this.sourceBuffer.mode = 'segments';
          this.sourceBuffer.addEventListener('updateend', () => this.onUpdateEnd());
          this.sourceBuffer.addEventListener('error', () => this.fail('the video decoder refused the stream'));
          resolve();
        } catch (e) {
          reject(e);
        }
      }, { once: true });
      this.video.src = url;
    });
  }

  async readLoop(reader) {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.stopped) break;
        this.stats.bytes += value.byteLength;
        this.stats.lastDataMs = Date.now();
        this.video.dataset.liveBytes = String(this.stats.bytes);
        this.video.dataset.liveLastDataMs = String(this.stats.lastDataMs);
        this.queue.push(value);
        this.queuedBytes += value.byteLength;
        this.pump();
        while (this.queuedBytes > MAX_QUEUED_BYTES && !this.stopped) await this.drained();
      }
    } catch {
      // aborted by stop(), or the connection was cut: both end the stream
    }
    reader.cancel().catch(() => {});
    if (this.stopped) return;
    this.retry('stream ended');
  }

  drained() {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }

  // Appends queued bytes (or trims) whenever the SourceBuffer is idle.
  pump() {
    const sb = this.sourceBuffer;
    const ms = this.mediaSource;
    if (!sb || !ms || ms.readyState !== 'open' || sb.updating) return;
    if (this.trim()) return;
    if (this.queue.length === 0) {
      this.wake();
      return;
    }
    const chunk = this.takeChunk();
    try {
      sb.appendBuffer(chunk);
      this.stats.appended += chunk.byteLength;
    } catch (e) {
      if (e && e.name === 'QuotaExceededError') {
        this.queue.unshift(chunk);
        this.queuedBytes += chunk.byteLength;
        this.trim(true);
      } else {
        this.fail('the video player stopped');
      }
    }
  }

  // Up to MAX_APPEND_BYTES from the head of the queue, in order.
  takeChunk() {
    let n = 0;
    let count = 0;
    while (count < this.queue.length && (count === 0 || n + this.queue[count].byteLength <= MAX_APPEND_BYTES)) {
      n += this.queue[count].byteLength;
      count++;
    }
    const parts = this.queue.splice(0, count);
    this.queuedBytes -= n;
    if (parts.length === 1) return parts[0];
    const out = new Uint8Array(n);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }

  // Removes media far behind the playhead; TRUE if a remove() is running.
  trim(force = false) {
    const sb = this.sourceBuffer;
    const b = sb.buffered;
    if (b.length === 0) return false;
    const keepFrom = this.video.currentTime - KEEP_BEHIND_S;
    const start = b.start(0);
    if (keepFrom - start > (force ? 0.5 : TRIM_SLACK_S)) {
      sb.remove(start, keepFrom);
      return true;
    }
    return false;
  }

  onUpdateEnd() {
    if (this.stopped) return;
    this.followLiveEdge();
    this.pump();
  }

  // Keeps the playhead inside the newest buffered range and near its end.
  followLiveEdge() {
    const v = this.video;
    const b = v.buffered;
    if (b.length === 0) return;
    const start = b.start(b.length - 1);
    const end = b.end(b.length - 1);
    if (v.currentTime < start || end - v.currentTime > MAX_LATENCY_S)
      v.currentTime = Math.max(start, end - EDGE_MARGIN_S);
    if (this.state === 'connecting') this.setState('playing', 'live');
    if (v.paused) v.play().catch(() => {});
  }

  fail(message) {
    if (this.stopped) return;
    this.retry(message);
  }

  stopInternal() {
    this.stopped = true;
    if (this.abort) this.abort.abort();
    this.abort = null;
    this.queue = [];
    this.queuedBytes = 0;
    this.wake();
    const ms = this.mediaSource;
    if (ms && ms.readyState === 'open') {
      try { ms.endOfStream(); } catch { /* an append was running */ }
    }
    this.sourceBuffer = null;
    this.mediaSource = null;
  }

  stopTimers() {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.watchTimer !== null) clearInterval(this.watchTimer);
    this.watchTimer = null;
    window.removeEventListener('online', this.onWake);
    document.removeEventListener('visibilitychange', this.onWake);
  }

  // Stops reading, reconnecting and watching, and releases the player; no state change is
  // reported.
  stop() {
    this.stopTimers();
    if (this.stopped) return;
    this.stopInternal();
    this.video.removeAttribute('src');
    this.video.load();
  }
}
