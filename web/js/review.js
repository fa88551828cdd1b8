// review — plays a camera's recordings by wall time. Each recorded file is fetched from
// .../segments/{id}/media (the daemon authorizes this device for this camera and file; lighttpd
// sends the bytes with Range). Two <video> elements take turns so that the next file is loaded
// and paused on its first frame before the current one ends: playing across a file boundary is
// a swap, not a load. Gaps are skipped and reported. Speeds 0.5x-16x, frame step, save frame.
// A third, hidden <video> serves the timeline's preview frames (seek + draw, no transcoding).

import { following, frameFileName, locate } from './review_core.js';

const LOAD_TIMEOUT_MS = 8000;
export const DEFAULT_FRAME_S = 1 / 15;

function mediaUrl(camId, segId) {
  return `/api/v1/cameras/${camId}/segments/${segId}/media`;
}

// Resolves when @video fires one of @ok, rejects on 'error' or after @ms.
export function once(video, ok, ms = LOAD_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const done = (fn, v) => {
      clearTimeout(timer);
      for (const n of ok) video.removeEventListener(n, onOk);
      video.removeEventListener('error', onErr);
      fn(v);
    };
    const onOk = () => done(resolve);
    const onErr = () => done(reject, new Error('the recording could not be loaded'));
    const timer = setTimeout(() => done(reject, new Error('the recording took too long to load')), ms);
    for (const n of ok) video.addEventListener(n, onOk);
    video.addEventListener('error', onErr);
  });
}

async function load(video, url, offsetS) {
  if (video.dataset.src !== url) {
    video.dataset.src = url;
    video.src = url;
    await once(video, ['loadedmetadata']);
  }
  if (Math.abs(video.currentTime - offsetS) > 0.001 || video.readyState < 2) {
    const seeked = once(video, ['seeked']);
    video.currentTime = offsetS;
    await seeked;
  }
}

// Downloads the frame @video shows as a PNG named after @cameraName and @wallUs; returns the
// file name.
export async function saveVideoFrame(video, cameraName, wallUs) {
  if (!video.videoWidth || wallUs === null) throw new Error('no frame to save yet');
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!blob) throw new Error('the frame could not be encoded');
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `${frameFileName(cameraName, wallUs)}.png`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  return a.download;
}

export class ReviewPlayer {
  // @videos: two <video> elements in the same box (one shown at a time); @hooks:
  // {onTime(wall_us), onState(text, kind), onSegment(segment)}
  constructor(videos, camId, cameraName, hooks) {
    this.videos = videos;
    this.active = 0;
    this.camId = camId;
    this.cameraName = cameraName;
    this.hooks = hooks;
    this.segments = [];
    this.current = null;       // segment playing in videos[active]
    this.next = null;          // {segment, gap} loaded in the other video
    this.rate = 1;
    this.frameS = DEFAULT_FRAME_S;
    this.lastFrame = null;
    this.seq = 0;              // bumps on every playAt: late loads of an older request stop
    for (const [i, v] of videos.entries()) {
      v.hidden = i !== 0;
      v.addEventListener('timeupdate', () => { if (i === this.active) this.tick(); });
      v.addEventListener('pause', () => { if (i === this.active) this.tick(); });
      v.addEventListener('ended', () => { if (i === this.active && this.current) this.advance(); });
      v.addEventListener('playing', () => { if (i === this.active) this.hooks.onState('', 'info'); });
      v.addEventListener('waiting', () => {
        if (i === this.active) this.hooks.onState('Loading…', 'info');
      });
    }
    this.watchFrames(videos);
  }

  setSegments(segments) {
    this.segments = segments;
  }

  get video() { return this.videos[this.active]; }
  get kind() { return 'files'; }

  wallTime() {
    if (!this.current) return null;
    return this.current.start + this.video.currentTime * 1e6;
  }

  tick() {
    const t = this.wallTime();
    if (t !== null) this.hooks.onTime(t);
  }

  // Plays from wall time @t: the file holding it, or the next one after a gap.
  async playAt(t) {
    const seq = ++this.seq;
    const where = locate(this.segments, t);
    if (!where) {
      this.hooks.onState('No recording after this time.', 'info');
      return false;
    }
    if (where.skipped)
      this.hooks.onState(`No recording until ${new Date(where.segment.start / 1000).toLocaleTimeString()}: playing from there.`, 'info');
    else
      this.hooks.onState('Loading…', 'info');
    const v = this.video;
    try {
      await load(v, mediaUrl(this.camId, where.segment.id), where.offset_us / 1e6);
    } catch (e) {
      if (seq === this.seq) this.hooks.onState(`Playback failed: ${e.message}`, 'error');
      return false;
    }
    if (seq !== this.seq) return false;
    this.current = where.segment;
    this.hooks.onSegment(where.segment);
    v.playbackRate = this.rate;
    v.play().catch(() => { /* autoplay refused: the controls are there */ });
    if (!where.skipped) this.hooks.onState('', 'info');
    this.tick();
    this.preloadNext(seq);
    return true;
  }

  // Loads the file after the current one into the hidden video, paused at its start.
  async preloadNext(seq) {
    this.next = null;
    const f = following(this.segments, this.current);
    if (!f) return;
    const other = this.videos[1 - this.active];
    try {
      await load(other, mediaUrl(this.camId, f.segment.id), 0);
    } catch {
      return;   // advance() loads it then, and says so if it fails
    }
    if (seq === this.seq) this.next = f;
  }

  async advance() {
    const seq = this.seq;
    const f = this.next;
    if (!f) {
      const after = following(this.segments, this.current);
      if (!after) {
        this.hooks.onState('End of the recordings.', 'info');
        return;
      }
      await this.playAt(after.segment.start);
      return;
    }
    if (seq !== this.seq) return;
    const old = this.video;
    this.active = 1 - this.active;
    const v = this.video;
    v.playbackRate = this.rate;
    v.hidden = false;
    old.hidden = true;
    old.pause();
    this.current = f.segment;
    this.hooks.onSegment(f.segment);
    if (f.gap)
      this.hooks.onState(`Skipped a gap: no recording from ${new Date(f.gap.from / 1000).toLocaleTimeString()} to ${new Date(f.gap.to / 1000).toLocaleTimeString()}.`, 'info');
    v.play().catch(() => {});
    this.tick();
    this.preloadNext(++this.seq);
  }

  setRate(rate) {
    this.rate = rate;
    for (const v of this.videos) v.playbackRate = rate;
  }

  // Learns the frame duration from the frames actually presented (requestVideoFrameCallback).
  watchFrames(videos) {
    for (const v of videos) {
      if (typeof v.requestVideoFrameCallback !== 'function') continue;
      const cb = (_now, meta) => {
        if (this.lastFrame !== null && v === this.video) {
          const d = meta.mediaTime - this.lastFrame;
          if (d > 0.005 && d < 0.5 && v.playbackRate === 1) this.frameS = d;
        }
        this.lastFrame = meta.mediaTime;
        v.requestVideoFrameCallback(cb);
      };
      v.requestVideoFrameCallback(cb);
    }
  }

  // One frame forward (+1) or back (-1), paused.
  async step(dir) {
    if (!this.current) return;
    const v = this.video;
    v.pause();
    const target = v.currentTime + dir * this.frameS;
    if (target < 0) {
      const i = this.segments.findIndex((s) => s.id === this.current.id);
      if (i > 0) await this.playAt(this.segments[i - 1].end - this.frameS * 1e6);
      this.video.pause();
      return;
    }
    if (Number.isFinite(v.duration) && target >= v.duration) {
      await this.advance();
      this.video.pause();
      return;
    }
    const seeked = once(v, ['seeked']);
    v.currentTime = target;
    await seeked.catch(() => {});
    this.tick();
  }

  // Downloads the frame on screen as a PNG named after the camera and its wall time.
  saveFrame() {
    return saveVideoFrame(this.video, this.cameraName, this.wallTime());
  }

  stop() {
    this.seq++;
    this.current = null;
    this.next = null;
    for (const v of this.videos) {
      v.pause();
      v.removeAttribute('src');
      delete v.dataset.src;
      v.load();
    }
  }
}

// Preview frames for the timeline: a hidden <video> seeks to the time under the cursor and the
// frame is drawn into a small canvas. Requests made while one is in flight collapse into the
// newest.
export class PreviewSource {
  constructor(video, camId, width = 192) {
    this.video = video;
    this.camId = camId;
    this.width = width;
    this.segments = [];
    this.busy = false;
    this.pending = null;
  }

  setSegments(segments) { this.segments = segments; }

  frameAt(t) {
    return new Promise((resolve) => {
      if (this.pending) this.pending.resolve(null);   // superseded
      this.pending = { t, resolve };
      if (!this.busy) this.run();
    });
  }

  async run() {
    this.busy = true;
    while (this.pending) {
      const { t, resolve } = this.pending;
      this.pending = null;
      const where = locate(this.segments, t);
      if (!where || where.skipped) {
        resolve(null);
        continue;
      }
      try {
        await load(this.video, mediaUrl(this.camId, where.segment.id), where.offset_us / 1e6);
        const v = this.video;
        const canvas = document.createElement('canvas');
        canvas.width = this.width;
        canvas.height = Math.round(this.width * (v.videoHeight || 9) / (v.videoWidth || 16));
        canvas.getContext('2d').drawImage(v, 0, 0, canvas.width, canvas.height);
        canvas.className = 'tl-preview';
        canvas.dataset.time = String(t);
        resolve(canvas);
      } catch {
        resolve(null);
      }
    }
    this.busy = false;
  }
}
