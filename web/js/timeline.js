// timeline — the day bar of one camera: recorded spans, gaps (the bar's background) and motion
// events over a window (the day, or an hour around the playhead); a playhead; a cursor label
// with a preview frame while the pointer is over the bar or drags along it. Releasing (or
// Enter) asks to play from there. Keyboard: ←/→ 10 s (Shift: 1 min), PageUp/PageDown 10 min,
// Home/End the window's ends, Enter plays, + and - zoom. Pointer events cover mouse, pen and
// touch alike. The maths is in review_core.js.

import { el } from './ui.js';
import { HOUR_US, fractionOf, hourTicks, placeIntervals, timeAt, zoomWindow } from './review_core.js';

function clock(us) {
  return new Date(us / 1000).toLocaleTimeString(undefined,
    { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export class DayTimeline {
  // @opts: {onSeek(us), onPreview(us) -> Promise<HTMLCanvasElement|HTMLImageElement|null>,
  //         onPreviewCancel() (optional: stop a preview's loading), label: accessible name}
  constructor(opts) {
    this.opts = opts;
    this.day = null;           // {from, to}
    this.win = null;           // {from, to} shown
    this.spans = [];
    this.events = [];
    this.playhead = null;
    this.cursor = null;        // the time the keyboard or a drag points at
    this.dragging = false;
    this.previewSeq = 0;

    this.track = el('div', { class: 'tl-track' });
    this.head = el('div', { class: 'tl-playhead', hidden: true });
    this.mark = el('div', { class: 'tl-cursor', hidden: true });
    this.tipTime = el('span', { class: 'tl-tip-time' });
    this.tipFrame = el('div', { class: 'tl-tip-frame' });
    this.tip = el('div', { class: 'tl-tip', hidden: true }, this.tipFrame, this.tipTime);
    this.ticks = el('div', { class: 'tl-ticks', 'aria-hidden': 'true' });
    this.bar = el('div', { class: 'tl-bar', role: 'slider', tabindex: '0',
                           'aria-label': opts.label || 'Timeline' },
                  this.track, this.head, this.mark, this.tip);
    this.zoomDay = el('button', { type: 'button', class: 'tl-zoom', 'aria-pressed': 'true' }, 'Day');
    this.zoomHour = el('button', { type: 'button', class: 'tl-zoom', 'aria-pressed': 'false' }, 'Hour');
    this.windowLabel = el('span', { class: 'muted tl-window' });
    this.node = el('div', { class: 'timeline' },
                   el('div', { class: 'tl-tools' }, this.zoomDay, this.zoomHour, this.windowLabel),
                   this.bar, this.ticks);

    this.zoomDay.addEventListener('click', () => this.zoom(false));
    this.zoomHour.addEventListener('click', () => this.zoom(true));
    this.bar.addEventListener('pointerdown', (e) => this.pointerDown(e));
    this.bar.addEventListener('pointermove', (e) => this.pointerMove(e));
    this.bar.addEventListener('pointerup', (e) => this.pointerUp(e));
    this.bar.addEventListener('pointercancel', () => this.endDrag());
    this.bar.addEventListener('pointerleave', () => { if (!this.dragging) this.hideTip(); });
    this.bar.addEventListener('keydown', (e) => this.key(e));
    this.bar.addEventListener('blur', () => { if (!this.dragging) this.hideTip(); });
  }

  setDay(day) {
    this.day = day;
    this.win = { ...day };
    this.zoomDay.setAttribute('aria-pressed', 'true');
    this.zoomHour.setAttribute('aria-pressed', 'false');
    this.render();
  }

  // @spans: [{start_us, end_us}] recorded; @events: the API's events of the day.
  setData(spans, events) {
    this.spans = spans;
    this.events = events;
    this.render();
  }

  setPlayhead(us) {
    this.playhead = us;
    if (this.win && us !== null && this.zoomed && !this.dragging &&
        (us < this.win.from || us >= this.win.to))
      this.win = zoomWindow(us, HOUR_US, this.day);   // follow the playback into the next hour
    this.renderHead();
  }

  get zoomed() { return this.win && this.day && this.win.to - this.win.from < this.day.to - this.day.from; }

  zoom(hour) {
    if (!this.day) return;
    // Around the cursor, else the playhead, else the latest footage of the day.
    const now = Date.now() * 1000;
    const last = this.spans.length
      ? Math.min(now, this.spans.reduce((m, s) => Math.max(m, s.end_us === null ? now : Number(s.end_us)), 0))
      : null;
    const center = this.cursor ?? this.playhead ?? last ?? (this.win.from + this.win.to) / 2;
    this.win = hour ? zoomWindow(center, HOUR_US, this.day) : { ...this.day };
    this.zoomDay.setAttribute('aria-pressed', String(!hour));
    this.zoomHour.setAttribute('aria-pressed', String(hour));
    this.render();
  }

  render() {
    if (!this.win) return;
    const now = Date.now() * 1000;
    // Positions go through the CSSOM: the CSP (style-src 'self') refuses style attributes.
    const place = (node, left, width) => {
      node.style.left = `${left}%`;
      node.style.width = `${width}%`;
      return node;
    };
    const spans = placeIntervals(this.spans, this.win, now).map(({ left, width }) =>
      place(el('div', { class: 'tl-span' }), left, width));
    const minPct = 0.4;   // a 2-second event on a day bar is still a visible, touchable mark
    const events = placeIntervals(this.events, this.win, now, minPct).map(({ item, left, width }) =>
      place(el('div', { class: 'tl-event', title: `Motion ${clock(Number(item.start_us))}`,
                        dataset: { eventId: String(item.id) } }), left, width));
    this.track.replaceChildren(...spans, ...events);
    const step = this.zoomed ? 1 : (this.bar.clientWidth < 500 ? 6 : 3);
    const ticks = this.zoomed
      ? this.minuteTicks()
      : hourTicks(this.win, step);
    this.ticks.replaceChildren(...ticks.map((t) => {
      const f = fractionOf(t.us, this.win);
      // A label at the bar's very start is not centred on its tick (it would be cut off).
      const n = el('span', { class: f < 0.02 ? 'first' : null }, t.label);
      n.style.left = `${f * 100}%`;
      return n;
    }));
    this.windowLabel.textContent = this.zoomed
      ? `${clock(this.win.from).slice(0, 5)}–${clock(this.win.to).slice(0, 5)}` : '';
    this.bar.dataset.from = String(this.win.from);
    this.bar.dataset.to = String(this.win.to);
    this.bar.setAttribute('aria-valuemin', '0');
    this.bar.setAttribute('aria-valuemax', '100');
    this.renderHead();
  }

  minuteTicks() {
    const out = [];
    const first = Math.ceil(this.win.from / 600e6) * 600e6;
    for (let us = first; us < this.win.to; us += 600e6)
      out.push({ us, label: clock(us).slice(0, 5) });
    return out;
  }

  renderHead() {
    if (!this.win) return;
    const t = this.playhead;
    const inside = t !== null && t >= this.win.from && t < this.win.to;
    this.head.hidden = !inside;
    if (inside) this.head.style.left = `${fractionOf(t, this.win) * 100}%`;
    const shown = this.cursor ?? t;
    if (shown !== null) {
      this.bar.setAttribute('aria-valuenow', String(Math.round(fractionOf(shown, this.win) * 100)));
      this.bar.setAttribute('aria-valuetext', clock(shown));
    }
  }

  timeOfEvent(e) {
    const r = this.bar.getBoundingClientRect();
    return timeAt((e.clientX - r.left) / r.width, this.win);
  }

  pointerDown(e) {
    if (!this.win || e.button > 0) return;
    this.dragging = true;
    this.bar.setPointerCapture(e.pointerId);
    this.bar.focus({ preventScroll: true });
    // The time at once; a preview frame only once the pointer moves: a plain click plays at
    // once, and a preview fetched for it would only compete with the player for the network.
    this.showTip(this.timeOfEvent(e), false);
    e.preventDefault();
  }

  pointerMove(e) {
    if (!this.win) return;
    this.showTip(this.timeOfEvent(e));
  }

  pointerUp(e) {
    if (!this.dragging) return;
    const t = this.timeOfEvent(e);
    this.endDrag();
    this.cursor = null;
    // A preview still loading would compete with the player for the network.
    if (this.opts.onPreviewCancel) this.opts.onPreviewCancel();
    this.opts.onSeek(t);
  }

  endDrag() {
    this.dragging = false;
    this.hideTip();
  }

  key(e) {
    if (!this.win) return;
    const base = this.cursor ?? this.playhead ?? this.win.from;
    const steps = { ArrowLeft: -10e6, ArrowRight: 10e6, PageUp: -600e6, PageDown: 600e6 };
    let t = null;
    if (e.key in steps) t = base + steps[e.key] * (e.shiftKey && e.key.startsWith('Arrow') ? 6 : 1);
    else if (e.key === 'Home') t = this.win.from;
    else if (e.key === 'End') t = this.win.to - 1e6;
    else if (e.key === 'Enter' || e.key === ' ') {
      this.opts.onSeek(base);
      this.cursor = null;
      this.hideTip();
      e.preventDefault();
      return;
    } else if (e.key === '+' || e.key === '=') { this.zoom(true); e.preventDefault(); return; }
    else if (e.key === '-') { this.zoom(false); e.preventDefault(); return; }
    else return;
    e.preventDefault();
    t = Math.max(this.day.from, Math.min(t, this.day.to - 1e6));
    if (t < this.win.from || t >= this.win.to) {
      this.win = zoomWindow(t, this.win.to - this.win.from, this.day);
      this.render();
    }
    this.showTip(t);
  }

  showTip(t, preview = true) {
    this.cursor = t;
    this.tip.hidden = false;
    this.mark.hidden = false;
    const f = fractionOf(t, this.win);
    this.mark.style.left = `${f * 100}%`;
    this.tip.style.left = `${Math.max(8, Math.min(92, f * 100))}%`;
    this.tipTime.textContent = clock(t);
    this.renderHead();
    const seq = ++this.previewSeq;
    if (!this.opts.onPreview || !preview) return;
    this.opts.onPreview(t).then((frame) => {
      if (seq !== this.previewSeq || this.tip.hidden) return;   // the cursor moved on
      this.tipFrame.replaceChildren(...(frame ? [frame] : []));
      this.tip.dataset.preview = frame ? 'frame' : 'none';
    }).catch(() => { /* no preview: the time label stays */ });
  }

  hideTip() {
    this.cursor = null;
    this.previewSeq++;
    this.tip.hidden = true;
    this.mark.hidden = true;
    this.renderHead();
  }
}
