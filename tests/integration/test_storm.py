#!/usr/bin/python3
"""Reconnect storm: N fake cameras recording, all dropped at the same instant (fakecam `drop all`),
held down longer than the watchdog, restored at once (`restore all`). Checks what a user would
notice: every camera records again within 15 s of the restore, the reconnect attempts are
spread by jitter rather than arriving together (the test prints their distribution), not one
segment holds another camera's pictures (idread on every file), the catalog and the disk agree,
and no worker crashed.

  test_storm.py [--cameras N]     default 12 (suite integration); 32 in suite long
  test_storm.py --audio LIST      the cameras also send audio (fakecam --audio LIST, e.g.
                                  aac,pcmu,pcma,...): the same checks hold with audio present

Backoff: initial 1 s (the default) and a cap of 10 s. With full jitter a camera that has been
down for a while waits up to the cap before its next attempt, so the cap must stay below the
15 s bound minus connect and keyframe time; the default cap (30 s) would not meet it."""

import argparse
import re
import threading
import time
from datetime import datetime

from checks import catalog_matches_disk, code_of, every_file_shows_its_own_camera, gaps
from harness import Harness, check, log, run

HOLD_S = 10            # longer than the watchdog (5 s here)
BOUND_S = 15           # every camera recording again within this long after the restore
BACKOFF_INITIAL_MS = 1000
BACKOFF_MAX_MS = 10000


def histogram(values, bin_s, lo, hi, width=50):
    """Text histogram of @values (seconds) in bins of @bin_s from @lo to @hi."""
    bins = [0] * max(1, int((hi - lo) / bin_s + 0.999))
    for v in values:
        bins[min(len(bins) - 1, max(0, int((v - lo) / bin_s)))] += 1
    top = max(bins) or 1
    lines = []
    for i, n in enumerate(bins):
        a = lo + i * bin_s
        lines.append(f"  {a:6.1f} .. {a + bin_s:5.1f} s | {'#' * round(n * width / top):<{width}} {n}")
    return "\n".join(lines)


# GLib's default log writer: "nvr-worker-Message: 12:34:56.789: Connecting to rtsp://.../cam7/main"
CONNECT_RE = re.compile(r"-Message: (\d\d):(\d\d):(\d\d)\.(\d\d\d): Connecting to \S+/cam(\d+)/main")


def connect_attempts(log_path, day_start):
    """[(unix time, camera index)] of every RTSP connection attempt a worker logged."""
    out = []
    with open(log_path, errors="replace") as f:
        for line in f:
            m = CONNECT_RE.search(line)
            if m:
                hh, mm, ss, ms, cam = (int(x) for x in m.groups())
                out.append((day_start + hh * 3600 + mm * 60 + ss + ms / 1000, cam))
    return out


class StatusPoller(threading.Thread):
    """Polls `nvr status --json` and keeps every retry_in_ms drawn that it sees (a new draw shows
    as a change of reconnects or of retry_in_ms while the camera is offline)."""

    def __init__(self, h):
        super().__init__(daemon=True)
        self.h = h
        self.stop = threading.Event()
        self.draws = []        # (unix time, camera name, retry_in_ms)
        self.last = {}

    def run(self):
        while not self.stop.is_set():
            try:
                cams = self.h.status()["cameras"]
            except Exception:   # the daemon is stopping
                break
            now = time.time()
            for c in cams:
                key = (c["reconnects"], c["retry_in_ms"])
                if c["state"] == "offline" and self.last.get(c["name"]) != key:
                    self.draws.append((now, c["name"], c["retry_in_ms"]))
                self.last[c["name"]] = key
            self.stop.wait(0.2)


def test(n, audio=None):
    names = [f"cam{i}" for i in range(1, n + 1)]
    with Harness(f"storm{n}", segment_seconds=10, watchdog_seconds=5,
                 backoff_initial_ms=BACKOFF_INITIAL_MS, backoff_max_ms=BACKOFF_MAX_MS) as h:
        h.start_fakecam(n, ["--audio", audio] if audio else [])
        h.start_daemon()
        for i, name in enumerate(names, 1):
            h.nvr("cameras", "add", name, "--main-url", h.cam_url(i))
        h.wait_for(f"all {n} cameras recording",
                   lambda: all(c["state"] == "recording" for c in h.status()["cameras"]), 90)
        time.sleep(6)

        poller = StatusPoller(h)
        poller.start()
        t_drop = time.time()
        h.fakecam_control("drop all")
        log(f"drop all at +0.0 s; holding {HOLD_S} s (watchdog 5 s, backoff "
            f"{BACKOFF_INITIAL_MS}..{BACKOFF_MAX_MS} ms full jitter)")
        h.wait_for("every camera to notice the drop",
                   lambda: all(c["state"] != "recording" for c in h.status()["cameras"]), HOLD_S)
        t_all_down = time.time() - t_drop
        time.sleep(max(0.0, t_drop + HOLD_S - time.time()))
        t_restore = time.time()
        h.fakecam_control("restore all")
        log(f"all cameras offline {t_all_down:.1f} s after the drop; restore all at "
            f"+{t_restore - t_drop:.1f} s")

        # Every camera must open a new segment; its start (first frame's wall time) is when
        # footage resumes.
        def resumed():
            out = {}
            for s in h.segments():
                if s["start_us"] / 1e6 >= t_restore and s["camera"] not in out:
                    out[s["camera"]] = s["start_us"] / 1e6 - t_restore
            return out
        deadline = t_restore + BOUND_S + 5
        while time.time() < deadline and len(resumed()) < n:
            time.sleep(0.25)
        recovery = resumed()
        time.sleep(10)   # every camera closes at least one segment after the storm
        poller.stop.set()
        poller.join()
        statuses = h.status()["cameras"]
        check(h.daemon.poll() is None, "the daemon died")
        check(h.stop_daemon() == 0, "daemon did not exit cleanly")

        # ---- distributions ----
        missing = sorted(set(names) - set(recovery), key=code_of)
        rec = sorted(recovery.values())
        log(f"\nrecovery after restore (first frame of the camera's next segment), {len(rec)} of "
            f"{n} cameras: min {rec[0]:.2f} s, median {rec[len(rec) // 2]:.2f} s, "
            f"max {rec[-1]:.2f} s" if rec else "no camera recovered")
        log(histogram(rec, 1.0, 0, max(BOUND_S, (rec[-1] if rec else 0) + 1)))
        day_start = datetime.fromtimestamp(t_drop).replace(
            hour=0, minute=0, second=0, microsecond=0).timestamp()
        attempts = [(t - t_drop, cam) for t, cam in connect_attempts(h.daemon_log, day_start)
                    if t_drop <= t <= t_restore + BOUND_S + 5]
        log(f"\nRTSP connection attempts by all workers after the drop ({len(attempts)}), "
            f"seconds since the drop (restore at +{t_restore - t_drop:.1f} s):")
        log(histogram([t for t, _ in attempts], 1.0, 0,
                      max([t for t, _ in attempts], default=0) + 1))
        first_after = {}
        for t, cam in sorted(attempts):
            if t >= t_restore - t_drop and cam not in first_after:
                first_after[cam] = t - (t_restore - t_drop)
        fa = sorted(first_after.values())
        if fa:
            log(f"\nfirst attempt after the restore, per camera: min {fa[0]:.2f} s, "
                f"max {fa[-1]:.2f} s, spread {fa[-1] - fa[0]:.2f} s")
        draws = [ms for _, _, ms in poller.draws]
        log(f"\nretry_in_ms drawn (seen by polling status, {len(draws)}): "
            f"{sorted(draws)}")
        log(histogram([d / 1000 for d in draws], 1.0, 0, BACKOFF_MAX_MS / 1000))
        per_cam = {name: [s for s in h.segments(name)] for name in names}

        # ---- assertions ----
        check(not missing, f"cameras that never recorded again: {missing}")
        slow = {k: round(v, 2) for k, v in recovery.items() if v > BOUND_S}
        check(not slow, f"cameras recording again later than {BOUND_S} s after the restore: {slow}")
        for c in statuses:
            check(c["state"] == "recording", f"{c['name']} is {c['state']} at the end")
            check(c["worker_restarts"] == 0, f"{c['name']}'s worker restarted "
                                             f"{c['worker_restarts']} times")
        check(len(fa) == n, f"only {len(fa)} cameras logged an attempt after the restore")
        check(fa[-1] - fa[0] >= 1.0,
              f"first attempts after the restore all within {fa[-1] - fa[0]:.2f} s: no jitter")
        check(len(set(draws)) >= 0.8 * len(draws) and len(draws) >= n,
              f"retry delays look unjittered: {draws}")
        for name in names:
            big = [(g, a, b) for g, a, b in gaps(per_cam[name]) if g > 0.5]
            check(len(big) == 1, f"{name}: {len(big)} gaps over 0.5 s, expected only the storm: "
                                 f"{[round(g, 2) for g, _, _ in big]}")
            g, a, b = big[0]
            check(a["end_us"] / 1e6 <= t_drop + 0.5 and b["start_us"] / 1e6 >= t_restore,
                  f"{name}: the gap does not span the drop")

        rows = catalog_matches_disk(h)
        files, frames, foreign = every_file_shows_its_own_camera(h, rows)
        log(f"storm with {n} cameras: {files} files checked, {frames} frames, "
            f"{foreign} foreign frames; worst recovery {rec[-1]:.2f} s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=12)
    ap.add_argument("--audio", help="fakecam --audio list")
    args = ap.parse_args()
    run(lambda: test(args.cameras, args.audio))
