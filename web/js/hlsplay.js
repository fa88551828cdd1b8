// hlsplay — plays a camera's recordings by wall time through the daemon's byte-range HLS
// playlist (.../playlist.m3u8, docs/design/playback.md) with hls.js (web/vendor/, shipped with
// the pages; MediaSource, or ManagedMediaSource on iPhone Safari 17.1+). The playlist covers a
// window around the asked time; its EXT-X-PROGRAM-DATE-TIME tags map media time to wall time.
// Every byte range goes back through lighttpd and the daemon's per-object authorization.
// Files the playlist does not list (recorded before the fragment index existed) and browsers
// without hls.js play through the file player (review.js), which this class falls back to.

import { PreviewSource, ReviewPlayer, once, saveVideoFrame } from './review.js';
import { locate } from './review_core.js';

// The window a playlist covers around the asked time; the next one is loaded when playback
// comes within REFILL_S of its end.
const WINDOW_BEFORE_US = 10 * 60e6;
const WINDOW_AFTER_US = 50 * 60e6;
const REFILL_S = 20;
const LOAD_TIMEOUT_MS = 10000;

// hls.js when this browser can use it, else null.
export async function loadHls() {
  try {
    const mod = await import('../vendor/hls.js/hls.light.min.mjs');
    const Hls = mod.default;
    return Hls && Hls.isSupported() ? Hls : null;
  } catch {
    return null;
  }
}

function segmentIdOf(frag) {
  const m = /\/segments\/([1-9][0-9]{0,17})\/media/.exec(frag.url || frag.relurl || '');
  return m ? m[1] : null;
}

export class HlsPlayer {
  constructor(Hls, videos, camId, cameraName, hooks) {
    this.Hls = Hls;
    this.videos = videos;
    this.camId = camId;
    this.cameraName = cameraName;
    this.hooks = hooks;
    this.files = new ReviewPlayer(videos, camId, cameraName, hooks);
    this.mode = 'hls';
    this.hls = null;
    this.details = null;       // the playlist hls.js parsed (fragments with programDateTime)
    this.window = null;        // {from, to} asked of the daemon
    this.segments = [];
    this.rate = 1;
    this.seq = 0;
    this.segId = null;
    this.refilling = false;
    const v = videos[0];
    v.addEventListener('timeupdate', () => { if (this.mode === 'hls') this.tick(); });
    // Paused: the clock shows the frame on screen, not the last timeupdate (up to 250 ms old).
    v.addEventListener('pause', () => { if (this.mode === 'hls') this.tick(); });
    v.addEventListener('playing', () => { if (this.mode === 'hls') this.hooks.onState('', 'info'); });
    v.addEventListener('waiting', () => { if (this.mode === 'hls') this.hooks.onState('Loading…', 'info'); });
    v.addEventListener('ended', () => {
      if (this.mode === 'hls' && this.details && !this.details.live) this.hooks.onState('End of the recordings.', 'info');
    });
  }

  get video() { return this.mode === 'hls' ? this.videos[0] : this.files.video; }
  get current() { return this.mode === 'hls' ? (this.details ? { id: this.segId } : null) : this.files.current; }
  get kind() { return this.mode; }

  setSegments(segments) {
    this.segments = segments;
    this.files.setSegments(segments);
  }

  fragAtMedia(t) {
    const frags = this.details ? this.details.fragments : [];
    let lo = 0;
    let hi = frags.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const f = frags[mid];
      if (t < f.start) hi = mid - 1;
      else if (t >= f.start + f.duration) lo = mid + 1;
      else return f;
    }
    return frags[Math.max(0, Math.min(frags.length - 1, lo))] || null;
  }

  // The fragment holding wall time @us, or the first after it ({frag, skipped}), or null.
  fragAtWall(us) {
    const ms = us / 1000;
    for (const f of this.details ? this.details.fragments : []) {
      if (!Number.isFinite(f.programDateTime)) continue;
      if (ms < f.programDateTime) return { frag: f, skipped: true };
      if (ms < f.programDateTime + f.duration * 1000) return { frag: f, skipped: false };
    }
    return null;
  }

  wallTime() {
    if (this.mode !== 'hls') return this.files.wallTime();
    const ct = this.videos[0].currentTime;
    const f = this.fragAtMedia(ct);
    if (!f || !Number.isFinite(f.programDateTime)) return null;
    return (f.programDateTime + (ct - f.start) * 1000) * 1000;
  }

  tick() {
    const t = this.wallTime();
    if (t === null) return;
    this.hooks.onTime(t);
    const f = this.fragAtMedia(this.videos[0].currentTime);
    const id = f ? segmentIdOf(f) : null;
    if (id && id !== this.segId) {
      this.segId = id;
      this.hooks.onSegment({ id });
    }
    // Near the end of a finished window: the next one, from where playback is.
    const frags = this.details ? this.details.fragments : [];
    const last = frags[frags.length - 1];
    if (last && !this.details.live && !this.refilling && this.window && this.window.to < Date.now() * 1000 &&
        this.videos[0].currentTime > last.start + last.duration - REFILL_S) {
      this.refilling = true;
      const paused = this.videos[0].paused;
      this.playAt(t + 1).then(() => { if (paused) this.videos[0].pause(); })
        .finally(() => { this.refilling = false; });
    }
  }

  toFiles() {
    if (this.hls) { this.hls.destroy(); this.hls = null; }
    this.details = null;
    this.window = null;
    this.mode = 'files';
  }

  // Loads the playlist of a window around @t in a fresh hls.js attached to videos[0].
  async loadWindow(t, seq) {
    this.files.stop();
    this.files.active = 0;
    this.videos[0].hidden = false;
    this.videos[1].hidden = true;
    if (this.hls) this.hls.destroy();
    const Hls = this.Hls;
    const hls = new Hls({ enableWorker: false, autoStartLoad: false, backBufferLength: 90,
                          maxBufferLength: 30, maxMaxBufferLength: 120 });
    this.hls = hls;
    this.started = false;
    this.recovered = false;
    this.mode = 'hls';
    const win = { from: Math.floor(t - WINDOW_BEFORE_US), to: Math.ceil(t + WINDOW_AFTER_US) };
    const details = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the playlist took too long')), LOAD_TIMEOUT_MS);
      hls.once(Hls.Events.LEVEL_LOADED, (_e, data) => { clearTimeout(timer); resolve(data.details); });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        clearTimeout(timer);
        reject(new Error(data.details || 'playback error'));
      });
      hls.loadSource(`/api/v1/cameras/${this.camId}/playlist.m3u8?from_us=${win.from}&to_us=${win.to}`);
      hls.attachMedia(this.videos[0]);
    });
    if (seq !== this.seq) return false;
    this.details = details;
    this.window = win;
    hls.on(Hls.Events.LEVEL_UPDATED, (_e, data) => { this.details = data.details; });
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (!data.fatal || hls !== this.hls) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !this.recovered) {
        this.recovered = true;
        hls.recoverMediaError();
        return;
      }
      this.hooks.onState(`Playback failed: ${data.details}`, 'error');
    });
    return true;
  }

  async playAt(t) {
    const seq = ++this.seq;
    const inWindow = this.mode === 'hls' && this.window && t >= this.window.from && t < this.window.to;
    try {
      if (!inWindow || !this.fragAtWall(t)) {
        this.hooks.onState('Loading…', 'info');
        if (!(await this.loadWindow(t, seq))) return false;
      }
    } catch (e) {
      if (seq !== this.seq) return false;
      this.toFiles();
      return this.files.playAt(t);
    }
    const where = this.fragAtWall(t);
    const inFile = locate(this.segments, t);
    // Footage the playlist does not list (a file from before the fragment index) plays as a
    // file; so does a time past the playlist's end.
    if (!where || (where.skipped && inFile && !inFile.skipped)) {
      this.toFiles();
      return this.files.playAt(t);
    }
    const f = where.frag;
    const pos = where.skipped ? f.start : f.start + (t / 1000 - f.programDateTime) / 1000;
    if (where.skipped)
      this.hooks.onState(`No recording until ${new Date(f.programDateTime).toLocaleTimeString()}: playing from there.`, 'info');
    const v = this.videos[0];
    if (this.hls && !this.started) {
      this.hls.startLoad(pos);
      this.started = true;
    }
    const ready = once(v, ['seeked', 'canplay'], LOAD_TIMEOUT_MS).catch(() => {});
    v.currentTime = pos;
    await ready;
    if (seq !== this.seq) return false;
    v.playbackRate = this.rate;
    v.play().catch(() => { /* autoplay refused: the controls are there */ });
    this.tick();
    return true;
  }

  setRate(rate) {
    this.rate = rate;
    this.videos[0].playbackRate = rate;
    this.files.setRate(rate);
  }

  async step(dir) {
    if (this.mode !== 'hls') return this.files.step(dir);
    const v = this.videos[0];
    v.pause();
    const ready = once(v, ['seeked']).catch(() => {});
    v.currentTime = Math.max(0, v.currentTime + dir * this.files.frameS);   // learnt by review.js
    await ready;
    this.tick();
    return undefined;
  }

  saveFrame() {
    return saveVideoFrame(this.video, this.cameraName, this.wallTime());
  }

  stop() {
    this.seq++;
    if (this.hls) { this.hls.destroy(); this.hls = null; }
    this.details = null;
    this.window = null;
    this.files.stop();
  }
}

// Preview frames for the timeline through the same playlist: a hidden <video> with its own
// hls.js that buffers at most a fragment or two, seeked to the start of the fragment under the
// cursor (a keyframe: one byte range, decoded at once). Files the playlist does not list fall
// back to the whole-file preview (review.js). Requests made while one is in flight collapse into
// the newest, as there.
const PREVIEW_WINDOW_US = 30 * 60e6;

export class HlsPreview {
  constructor(Hls, camId, width = 192) {
    this.Hls = Hls;
    this.camId = camId;
    this.width = width;
    this.video = Object.assign(document.createElement('video'), { muted: true, playsInline: true });
    this.fallback = new PreviewSource(Object.assign(document.createElement('video'),
                                                    { muted: true, playsInline: true }), camId, width);
    this.hls = null;
    this.details = null;
    this.window = null;
    this.segments = [];
    this.busy = false;
    this.pending = null;
    this.abortWait = null;
  }

  setSegments(segments) {
    this.segments = segments;
    this.fallback.setSegments(segments);
  }

  frameAt(t) {
    return new Promise((resolve) => {
      if (this.pending) this.pending.resolve(null);   // superseded
      this.pending = { t, resolve };
      if (!this.busy) this.run();
    });
  }

  // Stops loading (the user let go of the bar: the player needs the network now). The next
  // frameAt() loads again from where it is asked.
  cancel() {
    if (this.pending) {
      this.pending.resolve(null);
      this.pending = null;
    }
    if (this.hls && this.started) {
      this.hls.stopLoad();
      this.started = false;
    }
    if (this.abortWait) {
      this.abortWait();
      this.abortWait = null;
    }
  }

  async ensureWindow(t) {
    if (this.hls && this.window && t >= this.window.from && t < this.window.to) return;
    if (this.hls) this.hls.destroy();
    const Hls = this.Hls;
    const hls = new Hls({ enableWorker: false, autoStartLoad: false, maxBufferLength: 1,
                          maxMaxBufferLength: 2, backBufferLength: 0, startFragPrefetch: false });
    this.hls = hls;
    this.details = null;
    const win = { from: Math.floor(t - PREVIEW_WINDOW_US), to: Math.ceil(t + PREVIEW_WINDOW_US) };
    this.details = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('playlist timeout')), LOAD_TIMEOUT_MS);
      hls.once(Hls.Events.LEVEL_LOADED, (_e, data) => { clearTimeout(timer); resolve(data.details); });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (data.fatal) { clearTimeout(timer); reject(new Error(data.details)); }
      });
      hls.loadSource(`/api/v1/cameras/${this.camId}/playlist.m3u8?from_us=${win.from}&to_us=${win.to}`);
      hls.attachMedia(this.video);
    });
    this.window = win;
    this.started = false;
  }

  // The fragment of the loaded playlist holding wall time @t, or null.
  fragAt(t) {
    const ms = t / 1000;
    for (const f of this.details ? this.details.fragments : []) {
      if (Number.isFinite(f.programDateTime) && ms >= f.programDateTime &&
          ms < f.programDateTime + f.duration * 1000)
        return f;
    }
    return null;
  }

  async one(t) {
    const where = locate(this.segments, t);
    if (!where || where.skipped) return null;   // a gap: nothing to show
    try {
      await this.ensureWindow(t);
    } catch {
      this.hls = null;
      this.window = null;
      return this.fallback.frameAt(t);
    }
    const f = this.fragAt(t);
    if (!f) return this.fallback.frameAt(t);    // a file without an index
    const v = this.video;
    const pos = f.start + 0.001;
    if (!this.started) {
      this.hls.startLoad(pos);
      this.started = true;
    }
    // cancel() ends the wait at once: with loading stopped the seek may never complete.
    const aborted = new Promise((_, reject) => { this.abortWait = () => reject(new Error('cancelled')); });
    aborted.catch(() => {});
    const ready = once(v, ['seeked'], LOAD_TIMEOUT_MS);
    v.currentTime = pos;
    await Promise.race([ready, aborted]);
    if (v.readyState < 2) await Promise.race([once(v, ['loadeddata', 'canplay'], LOAD_TIMEOUT_MS), aborted]);
    this.abortWait = null;
    const canvas = document.createElement('canvas');
    canvas.width = this.width;
    canvas.height = Math.round(this.width * (v.videoHeight || 9) / (v.videoWidth || 16));
    canvas.getContext('2d').drawImage(v, 0, 0, canvas.width, canvas.height);
    canvas.className = 'tl-preview';
    canvas.dataset.time = String(t);
    return canvas;
  }

  async run() {
    this.busy = true;
    while (this.pending) {
      const { t, resolve } = this.pending;
      this.pending = null;
      try {
        resolve(await this.one(t));
      } catch {
        resolve(null);
      }
    }
    this.busy = false;
  }
}
