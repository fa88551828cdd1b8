// live — the MSE player for GET /api/v1/cameras/{id}/live (chunked fMP4: init segment, then
// fragments from a keyframe; X-Hearth-Codec names the codec). Bytes are appended in order from a
// bounded queue (reading pauses while it is full, so the daemon drops whole fragments for us,
// never the browser mid-fragment); the buffer is trimmed to a few seconds behind the playhead and
// the playhead is kept near the live edge. When the stream ends the player stops and says so;
// it does not reconnect by itself.

import { apiFetch, errorReason, describeError, ApiError } from './api.js';
import { decimalId, liveMimeType } from './proto.js';

const MAX_QUEUED_BYTES = 4 * 1024 * 1024;  // received, not yet appended
const MAX_APPEND_BYTES = 1024 * 1024;      // one appendBuffer() call
const KEEP_BEHIND_S = 6;                   // buffered media kept behind the playhead
const TRIM_SLACK_S = 4;                    // trim only when this much more has piled up
const MAX_LATENCY_S = 2.5;                 // further behind the live edge than this: jump
const EDGE_MARGIN_S = 0.3;                 // where a jump lands, before the buffered end

// States reported to onState: 'connecting', 'playing', 'ended', 'error'.
export class LivePlayer {
  // @video: a <video> element (muted, playsinline). @onState(state, message) updates the UI.
  constructor(video, cameraId, onState = () => {}) {
    this.video = video;
    this.cameraId = decimalId(cameraId);
    this.onState = onState;
    this.abort = null;
    this.mediaSource = null;
    this.sourceBuffer = null;
    this.queue = [];
    this.queuedBytes = 0;
    this.streamDone = false;
    this.stopped = true;
    this.waiters = [];
    // Observable by tests through data- attributes (no URLs, nothing secret).
    this.stats = { bytes: 0, appended: 0, lastDataMs: 0, endedMs: 0 };
  }

  setState(state, message) {
    this.state = state;
    this.video.dataset.liveState = state;
    if (state === 'ended' || state === 'error') {
      this.stats.endedMs = Date.now();
      this.video.dataset.liveEndedMs = String(this.stats.endedMs);
    }
    this.onState(state, message);
  }

  async start() {
    this.stop();
    this.stopped = false;
    this.streamDone = false;
    this.queue = [];
    this.queuedBytes = 0;
    this.stats = { bytes: 0, appended: 0, lastDataMs: 0, endedMs: 0 };
    delete this.video.dataset.liveEndedMs;
    if (this.cameraId === null) {
      this.setState('error', 'bad camera id');
      return;
    }
    if (typeof MediaSource === 'undefined') {
      this.setState('error', 'This browser cannot play live video (no Media Source Extensions).');
      return;
    }
    this.setState('connecting', 'connecting…');
    const abort = new AbortController();
    this.abort = abort;
    let res;
    try {
      res = await apiFetch(`cameras/${this.cameraId}/live`, { signal: abort.signal });
    } catch (e) {
      if (!this.stopped) this.setState('error', e instanceof ApiError ? describeError(e) : 'could not connect');
      return;
    }
    if (this.stopped || abort.signal.aborted) {
      if (res.body) res.body.cancel().catch(() => {});
      return;
    }
    if (!res.ok) {
      this.setState('error', describeError(new ApiError(res.status, await errorReason(res))));
      return;
    }
    const mime = liveMimeType(res.headers.get('X-Hearth-Codec'));
    if (mime === null || !MediaSource.isTypeSupported(mime)) {
      res.body.cancel().catch(() => {});
      this.setState('error', mime === null ? 'The camera stream names no codec.'
                                           : 'This browser cannot play this camera\'s codec live.');
      return;
    }
    try {
      await this.openMediaSource(mime);
    } catch {
      res.body.cancel().catch(() => {});
      if (!this.stopped) this.setState('error', 'could not start the video player');
      return;
    }
    await this.readLoop(res.body.getReader());
  }

  openMediaSource(mime) {
    return new Promise((resolve, reject) => {
      const ms = new MediaSource();
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
    this.streamDone = true;
    this.setState('ended', 'stream ended');
    this.pump();
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
      if (this.streamDone) {
        try { ms.endOfStream(); } catch { /* already ended */ }
      }
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
    if (v.paused && !this.streamDone) v.play().catch(() => {});
  }

  fail(message) {
    if (this.stopped) return;
    this.stopInternal();
    this.setState('error', message);
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

  // Stops reading and releases the player; no state change is reported.
  stop() {
    if (this.stopped) return;
    this.stopInternal();
    this.video.removeAttribute('src');
    this.video.load();
  }
}
