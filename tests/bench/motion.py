#!/usr/bin/python3
"""Motion benchmark (on demand, not in CI; issue 4 items 2 and 7). Two parts, one invocation:

1. Latency and ground truth. fakecam's scripted scenes (docs/design/fakecam.md §4a) into one
   `nvr run` with MQTT on a private mosquitto: `crossing` on several cameras with short loops
   (positives, for latency), `slow` (positive), `static --noise` / `brightness` / `masked`
   (negatives). Latency = arrival of `hearth/<camera>/motion ON` at a mosquitto_sub (timestamped
   by this script as each line arrives) − the wall time fakecam shows the first frame of the
   change (truth file: serving_started + loop * clip_seconds + start_s). Per case: precision,
   recall and event start-time error (catalog start_us − truth). Beside them, real footage:
   fakecam `--scene footage` serving vtest.avi (tests/footage/fetch.sh; skipped with a message
   when it cannot be fetched), one Hearth camera per hand-labelled region of
   tests/footage/vtest.truth.json, everything outside the region masked: recall as labelled
   motion time covered by events and as labelled intervals found, false events (starting
   outside every labelled interval ± FOOTAGE_MARGIN_S), start-time error.
2. CPU per camera for motion on a pre-encoded 1080p30 main stream (fakecam's crossing scene with
   sensor noise, so the encoder spends ~4 Mbit/s; encoded once into fakecam's cache), then on a
   640x360 sub-stream, contenders one after the other: Hearth's `nvr camera-worker` processes
   (recording + detection; then recording only, detection switched OFF over MQTT), the `motion`
   daemon (framerate 5, no output files, no listening sockets) and ffmpeg decoding Frigate-style
   (`-r 5 -vf fps=5,scale=320:180 -pix_fmt gray -f rawvideo pipe:` to /dev/null). CPU =
   Δ(utime+stime+cutime+cstime) of the contender's processes over a fixed window, % of one core.

Usage: tests/bench/motion.py [--part latency,cpu] [--build build-bench] (see README.md here)
"""

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
from mqttbroker import Broker   # noqa: E402  (the tests' real-mosquitto helper)
import record as rb             # noqa: E402  (/proc accounting shared with the recording bench)

CLK_TCK = os.sysconf("SC_CLK_TCK")
BAND_MASK = "0,0 1,0 1,0.12 0,0.12"      # fakecam's ID band (top 10 %, the counter changes)
BAND_FRACTION = 0.12
MIN_AREA = 0.003                         # Hearth's default min_area; motion's threshold matches it

# Part 2: the camera. fakecam's crossing scene + temporal noise ±6 at 1080p30, GOP 1 s,
# 4000 kbit/s (→ ~4.1 Mbit/s); sub-stream 640x360 at max(100, 4000/4) kbit/s.
CPU_MAIN, CPU_SUB, CPU_FPS, CPU_KBPS, CPU_CLIP_S, CPU_NOISE = "1920x1080", "640x360", 30, 4000, 10, 6

log = rb.log

# Real footage (part 1): fetched, never committed; see tests/footage/.
FOOTAGE_FETCH = os.path.join(SRC, "tests", "footage", "fetch.sh")
FOOTAGE_LABELS = os.path.join(SRC, "tests", "footage", "vtest.truth.json")
FOOTAGE_ARGS = ["--scene", "footage", "--fps", "10", "--clip-seconds", "79", "--main-size",
                "768x576", "--sub-size", "384x288", "--bitrate-kbps", "1500"]
FOOTAGE_MARGIN_S = 1.0     # an event starting this close to a labelled interval is not false


def pct(xs, q):
    """Nearest-rank percentile of @xs (q in 0..100)."""
    s = sorted(xs)
    if not s:
        return None
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 100)) - 1))
    return s[k]


def fmt(x, spec, none="-"):
    return none if x is None else format(x, spec)


# ---- processes ----

class Fakecam:
    def __init__(self, build, cache, workdir, tag, cameras, args):
        self.tag = tag
        self.truth_path = os.path.join(workdir, f"truth-{tag}.json")
        out = open(os.path.join(workdir, f"fakecam-{tag}.out"), "w+")
        err = open(os.path.join(workdir, f"fakecam-{tag}.log"), "w")
        self.p = subprocess.Popen(
            [os.path.join(build, "tests", "fakecam", "fakecam"), "--cameras", str(cameras),
             "--cache", cache, "--truth", self.truth_path, *args],
            stdout=out, stderr=err, start_new_session=True)
        deadline = time.monotonic() + 900     # the first run encodes (1080p: ~1 min per clip)
        while time.monotonic() < deadline:
            out.seek(0)
            m = re.search(r"READY port=(\d+)", out.read())
            if m:
                self.port = int(m.group(1))
                with open(self.truth_path) as f:
                    self.truth = json.load(f)
                return
            if self.p.poll() is not None:
                raise SystemExit(f"fakecam {tag} exited with {self.p.returncode}")
            time.sleep(0.2)
        raise SystemExit(f"fakecam {tag} did not become ready")

    def url(self, i, stream="main"):
        return f"rtsp://127.0.0.1:{self.port}/cam{i}/{stream}"

    def occurrences(self, index, t_from, t_to):
        """Wall-clock (start, end) of camera @index's scripted changes starting in [t_from, t_to)."""
        t = self.truth
        t0 = t["serving_started_unix_us"] / 1e6
        cam = next(c for c in t["cameras"] if c["index"] == index)
        out = []
        for ev in cam["events"]:
            k = max(0, int((t_from - t0) // t["clip_seconds"]) - 1)
            while t0 + k * t["clip_seconds"] + ev["start_s"] < t_to:
                s = t0 + k * t["clip_seconds"] + ev["start_s"]
                if s >= t_from:
                    out.append((s, t0 + k * t["clip_seconds"] + ev["end_s"]))
                k += 1
        return sorted(out)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


class Subscriber:
    """mosquitto_sub -v on @topic; every line stamped with time.time() as it arrives."""

    def __init__(self, broker, topic):
        self.lines = []
        self.p = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port),
                                   "-t", topic, "-v", "-q", "1"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for raw in self.p.stdout:
            now = time.time()
            topic, _, payload = raw.decode(errors="replace").rstrip("\n").partition(" ")
            self.lines.append((now, topic, payload))

    def on_times(self, camera):
        return [t for t, topic, p in list(self.lines)
                if topic.endswith(f"/{camera}/motion") and p == "ON"]

    def stop(self):
        self.p.kill()
        self.p.wait()


def worker_pids(root_pid):
    out = set()
    for p in rb.descendants(root_pid):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if b"camera-worker" in f.read():
                    out.add(p)
        except OSError:
            pass
    return out


class Hearth:
    def __init__(self, build, workdir, tag, broker, motion_conf):
        self.nvr = os.path.join(build, "nvr", "nvr")
        self.dir = os.path.join(workdir, f"hearth-{tag}")
        os.makedirs(self.dir)
        self.root = os.path.join(self.dir, "store")
        self.conf = os.path.join(self.dir, "hearth.conf")
        self.sock = os.path.join(self.dir, "admin.sock")
        self.broker = broker
        with open(self.conf, "w") as f:
            f.write(f"[daemon]\nadmin_socket = {self.sock}\n[storage]\nroot = {self.root}\n"
                    "segment_seconds = 10\n[recording]\ntransport = tcp\nwatchdog_seconds = 5\n"
                    f"[mqtt]\nhost = 127.0.0.1\nport = {broker.port}\ndiscovery = false\n"
                    "commands = on\n"
                    "[motion]\n" + "".join(f"{k} = {v}\n" for k, v in motion_conf.items()))
        self.cams = []

    def cli(self, *args):
        r = subprocess.run([self.nvr, *args, "--config", self.conf], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise SystemExit(f"nvr {' '.join(args)}: {r.stderr}")
        return r.stdout

    def start(self):
        self.logf = open(os.path.join(self.dir, "nvr.log"), "w")
        env = {k: v for k, v in os.environ.items()
               if k not in ("GST_DEBUG", "G_MESSAGES_DEBUG", "GST_TRACERS")}
        self.p = subprocess.Popen([self.nvr, "run", "--config", self.conf], stdout=self.logf,
                                  stderr=subprocess.STDOUT, start_new_session=True, env=env)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.sock):
            if time.monotonic() > deadline or self.p.poll() is not None:
                raise SystemExit("nvr run did not open its admin socket")
            time.sleep(0.1)
        time.sleep(0.2)

    def add(self, name, main, sub=None, masks=(BAND_MASK,)):
        self.cli("cameras", "add", name, "--main-url", main, *(["--sub-url", sub] if sub else []))
        args = []
        for m in masks:
            args += ["--mask", m]
        self.cli("cameras", "motion", name, *args)
        self.cams.append(name)

    def wait_recording(self, timeout=90):
        deadline = time.monotonic() + timeout
        while True:
            st = json.loads(self.cli("status", "--json"))
            if all(c["state"] == "recording" for c in st["cameras"] if c["name"] in self.cams) \
                    and len(worker_pids(self.p.pid)) == len(self.cams):
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"hearth: not all cameras recording: {st}")
            time.sleep(0.5)

    def pids(self):
        return worker_pids(self.p.pid)

    def events(self):
        db = sqlite3.connect(f"file:{os.path.join(self.root, 'catalog.db')}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute(
            "SELECT e.start_us, e.end_us, e.peak_area, c.name AS camera FROM events e"
            " JOIN cameras c ON c.id = e.camera_id ORDER BY e.id")]
        db.close()
        return rows

    def set_detect(self, on):
        for c in self.cams:
            self.broker.publish(f"hearth/{c}/detect/set", "ON" if on else "OFF")
        want = "ON" if on else "OFF"
        deadline = time.monotonic() + 20
        while True:
            st = self.broker.retained("hearth/+/detect/state", timeout=1)
            if all(st.get(f"hearth/{c}/detect/state") == want for c in self.cams):
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"hearth: detect/state not {want}: {st}")

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


# ---- part 1: latency and ground truth ----

LAT_CASES = [  # (case, fakecam args, positive, cameras)
    ("crossing", [], True, None),
    ("slow", ["--scene", "slow"], True, 1),
    ("static+noise", ["--scene", "static", "--noise", "6"], False, 1),
    ("brightness", ["--scene", "brightness"], False, 1),
    ("masked", ["--scene", "masked"], False, 1),
]


def rect_polygon(r):
    x0, y0, x1, y1 = r["x"], r["y"], r["x"] + r["w"], r["y"] + r["h"]
    return f"{x0:g},{y0:g} {x1:g},{y0:g} {x1:g},{y1:g} {x0:g},{y1:g}"


def outside_masks(r):
    """Mask polygons covering everything outside rect @r (up to four bands around it)."""
    x0, y0, x1, y1 = r["x"], r["y"], r["x"] + r["w"], r["y"] + r["h"]
    out = []
    for m in ({"x": 0, "y": 0, "w": 1, "h": y0}, {"x": 0, "y": y1, "w": 1, "h": 1 - y1},
              {"x": 0, "y": y0, "w": x0, "h": y1 - y0}, {"x": x1, "y": y0, "w": 1 - x1, "h": y1 - y0}):
        if m["w"] > 1e-6 and m["h"] > 1e-6:
            out.append(rect_polygon(m))
    return out


def fetch_footage():
    """Path of vtest.avi, or None (with the reason logged) when it cannot be fetched here."""
    r = subprocess.run(["sh", FOOTAGE_FETCH], capture_output=True, text=True, timeout=900)
    if r.returncode == 0:
        return r.stdout.strip()
    log(f"real footage skipped (fetch.sh exit {r.returncode}): {r.stderr.strip()}")
    return None


def merge(intervals):
    out = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1] + 1e-6:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def footage_row(fc, region, name, events, t_from, t_to):
    """Events of Hearth camera @name (only @region unmasked) against that region's labels, in
    wall time over the window [t_from, t_to). Labelled intervals of consecutive loops that touch
    (the 'all' region: motion throughout) are merged into one."""
    t = fc.truth
    t0 = t["serving_started_unix_us"] / 1e6
    ev = next(e for e in t["cameras"][0]["events"] if e["region"] == region)
    loops = range(max(0, int((t_from - t0) // t["clip_seconds"]) - 1),
                  int((t_to - t0) // t["clip_seconds"]) + 2)
    labelled = merge([(t0 + k * t["clip_seconds"] + s, t0 + k * t["clip_seconds"] + e)
                      for k in loops for s, e in ev["motion"]])
    labelled = [(max(s, t_from), min(e, t_to), s >= t_from) for s, e in labelled
                if e > t_from and s < t_to]
    mine = [(e["start_us"] / 1e6, (e["end_us"] / 1e6) if e["end_us"] else t_to)
            for e in events if e["camera"] == name]
    mine = [(s, e) for s, e in mine if e > t_from and s < t_to]
    covered = merge([(max(s, t_from), min(e, t_to)) for s, e in mine])
    lab_s = sum(e - s for s, e, _ in labelled)
    cov_s = sum(max(0.0, min(e, le) - max(s, ls)) for s, e in covered for ls, le, _ in labelled)
    found = [any(s < le and e > ls for s, e in mine) for ls, le, _ in labelled]
    false = [s for s, e in mine if s >= t_from and not any(
        ls - FOOTAGE_MARGIN_S <= s <= le + FOOTAGE_MARGIN_S for ls, le, _ in labelled)]
    errors = []
    for ls, le, starts_in_window in labelled:
        if starts_in_window:
            m = [s for s, e in mine if ls - FOOTAGE_MARGIN_S <= s <= le]
            if m:
                errors.append(min(m) - ls)
    positive = bool(labelled) or bool(ev["motion"])
    tp, fn = sum(found), len(found) - sum(found)
    return {"case": f"footage:{region}", "positive": positive, "cameras": 1,
            "changes": len(labelled), "tp": tp, "fn": fn, "fp": len(false),
            "precision": (tp / (tp + len(false))) if positive and tp + len(false) else None,
            "recall": (tp / (tp + fn)) if positive and tp + fn else None, "errors": errors,
            "labelled_s": lab_s, "covered_s": cov_s, "events": len(mine),
            "event_s": sum(min(e, t_to) - max(s, t_from) for s, e in covered)}


def part_latency(a, build, cache, work, broker, start_frames):
    tag = f"lat-sf{start_frames}"
    cams = {}
    fcs = []
    try:
        for case, args, positive, n in LAT_CASES:
            clip = a.crossing_clip if case == "crossing" else a.scene_clip
            fc = Fakecam(build, cache, work, f"{tag}-{case}", n or a.latency_cameras,
                         ["--clip-seconds", str(clip), *args])
            fcs.append(fc)
            cams[case] = (fc, positive, n or a.latency_cameras)
        footage = fetch_footage() if a.footage else None
        foot_fc = None
        if footage:
            foot_fc = Fakecam(build, cache, work, f"{tag}-footage", 1,
                              [*FOOTAGE_ARGS, "--footage", footage,
                               "--footage-labels", FOOTAGE_LABELS])
            fcs.append(foot_fc)
        h = Hearth(build, work, tag, broker,
                   {"end_after_ms": a.end_after_ms,
                    **({} if start_frames is None else {"start_frames": start_frames})})
        sub = Subscriber(broker, "hearth/+/motion")
        h.start()
        try:
            names = {}
            for case, (fc, _, n) in cams.items():
                for i in range(1, n + 1):
                    name = f"{case.split('+')[0]}{i}"
                    masks = [BAND_MASK]
                    if case == "masked":
                        masks.append(rect_polygon(fc.truth["cameras"][0]["events"][0]["mask"]))
                    h.add(name, fc.url(i), fc.url(i, "sub"), masks)
                    names[(case, i)] = name
            regions = []
            if foot_fc:
                for ev in foot_fc.truth["cameras"][0]["events"]:
                    name = f"foot{ev['region'].replace('_', '')}"
                    h.add(name, foot_fc.url(1), foot_fc.url(1, "sub"),
                          [BAND_MASK, *outside_masks(ev["rect"])])
                    regions.append((ev["region"], name))
            h.wait_recording()
            # The detector's first frame is its background: whatever moved then leaves a ghost
            # for a few background_ms (10 s); let that pass before counting.
            time.sleep(a.settle)
            t_from = time.time()
            log(f"latency (start_frames {start_frames}): observing {a.latency_seconds:g} s, "
                f"{len(names)} synthetic cameras, {len(regions)} on real footage")
            time.sleep(a.latency_seconds + 3)
            t_to = time.time()
            time.sleep(2)                   # the last ONs in flight
        finally:
            h.stop()
            sub.stop()
        events = h.events()
    finally:
        for fc in fcs:
            fc.stop()

    rows = []
    lat = {"crossing": [], "slow": []}
    for case, (fc, positive, n) in cams.items():
        occ_n = tp = fn = fp = 0
        errors = []
        for i in range(1, n + 1):
            name = names[(case, i)]
            # changes that start in the window and have 3 s after them to be reported
            occ = fc.occurrences(i, t_from, t_to - 3)
            every = fc.occurrences(i, t_from - 2 * fc.truth["clip_seconds"], t_to + 60)
            mine = [e for e in events if e["camera"] == name
                    and t_from - 1 <= e["start_us"] / 1e6 <= t_to - 2]
            ons = [t for t in sub.on_times(name) if t >= t_from]
            occ_n += len(occ)
            if not positive:
                fp += len(mine)
                continue
            for s, e in occ:
                m = [ev for ev in mine if abs(ev["start_us"] / 1e6 - s) <= 1.0]
                if m:
                    tp += 1
                    errors.append(m[0]["start_us"] / 1e6 - s)
                else:
                    fn += 1
                on = [t for t in ons if s - 0.5 <= t <= e + 2]
                if on:
                    lat[case].append(on[0] - s)
            fp += sum(1 for ev in mine
                      if not any(abs(ev["start_us"] / 1e6 - s) <= 1.0 for s, _ in every))
        rows.append({"case": case, "positive": positive, "cameras": n, "changes": occ_n,
                     "tp": tp, "fn": fn, "fp": fp,
                     "precision": (tp / (tp + fp)) if positive and tp + fp else None,
                     "recall": (tp / (tp + fn)) if positive and tp + fn else None,
                     "errors": errors})
    for region, name in (regions if foot_fc else []):
        rows.append(footage_row(foot_fc, region, name, events, t_from, t_to))
    return {"start_frames": start_frames, "window_s": t_to - t_from, "rows": rows,
            "latency": lat, "on_total": len(sub.lines)}


def print_latency(a, res):
    sf = res["start_frames"]
    sf = "unset (the detector's default)" if sf is None else sf
    print(f"Part 1 — motion onset (fakecam frame time) to MQTT `hearth/<cam>/motion ON` at a "
          f"mosquitto_sub on loopback; [motion] start_frames = {sf}, end_after_ms = "
          f"{a.end_after_ms}, other detector settings default; detection on the 320x180 "
          f"sub-stream (main 640x360 15 fps recorded); window {res['window_s']:.0f} s")
    hdr = "events | case     | p50 ms | p95 ms | max ms | min ms"
    print(hdr)
    print("-" * len(hdr))
    for case in ("crossing", "slow"):
        xs = [x * 1000 for x in res["latency"][case]]
        print(f"{len(xs):6d} | {case:8s} | {fmt(statistics.median(xs) if xs else None, '6.0f')} | "
              f"{fmt(pct(xs, 95), '6.0f')} | {fmt(max(xs) if xs else None, '6.0f')} | "
              f"{fmt(min(xs) if xs else None, '6.0f')}")
    xs = res["latency"]["crossing"]
    p95 = pct(xs, 95)
    print(f"goal p95 <= 300 ms over >= 50 crossings: "
          + ("not measured (no events)" if p95 is None else
             f"{'met' if p95 <= 0.3 and len(xs) >= 50 else 'NOT met'} "
             f"(p95 {p95 * 1000:.0f} ms over {len(xs)} events)"))
    print()
    print("Ground truth per case (event = catalog row; a positive is found when an event starts "
          "within 1 s of the truth)")
    hdr = ("case         | kind | cams | changes | found | missed | false ev | precision | recall"
           " | start error s: median  min     max")
    print(hdr)
    print("-" * len(hdr))
    for r in res["rows"]:
        e = r["errors"]
        print(f"{r['case']:12s} | {'+' if r['positive'] else '-':4s} | {r['cameras']:4d} | "
              f"{r['changes']:7d} | {fmt(r['tp'] if r['positive'] else None, '5d')} | "
              f"{fmt(r['fn'] if r['positive'] else None, '6d')} | {r['fp']:8d} | "
              f"{fmt(r['precision'], '9.2f')} | {fmt(r['recall'], '6.2f')} | "
              f"{fmt(statistics.median(e) if e else None, '+20.3f')} "
              f"{fmt(min(e) if e else None, '+6.3f')} {fmt(max(e) if e else None, '+7.3f')}")
    print()
    foot = [r for r in res["rows"] if r["case"].startswith("footage:")]
    if foot:
        print("Real footage (vtest.avi, 768x576 10 fps looped every 79 s, sub-stream 384x288; one "
              "camera per labelled region, all else masked): labelled motion time covered by "
              f"events; false = events starting > {FOOTAGE_MARGIN_S:g} s from every labelled "
              "interval; found/changes above count labelled intervals (consecutive loops merged)")
        hdr = "region          | labelled s | covered s | time recall | events | event s | false ev"
        print(hdr)
        print("-" * len(hdr))
        for r in foot:
            tr = r["covered_s"] / r["labelled_s"] if r["labelled_s"] else None
            print(f"{r['case'][8:]:15s} | {r['labelled_s']:10.1f} | {r['covered_s']:9.1f} | "
                  f"{fmt(tr, '11.2f')} | {r['events']:6d} | {r['event_s']:7.1f} | {r['fp']:8d}")
        print()


# ---- part 2: CPU ----

class HearthC:
    """Hearth on the CPU camera: one daemon, N cameras; CPU of the camera-worker processes."""

    def __init__(self, build, work, fc, broker, n, stream, a, tag):
        self.h = Hearth(build, work, tag, broker, {"end_after_ms": a.end_after_ms})
        self.fc, self.n, self.stream, self.broker = fc, n, stream, broker

    def start(self):
        self.sub = Subscriber(self.broker, "hearth/+/motion")
        self.h.start()
        for i in range(1, self.n + 1):
            self.h.add(f"cam{i}", self.fc.url(i),
                       self.fc.url(i, "sub") if self.stream == "sub" else None)
        self.h.wait_recording()

    def pids(self):
        return self.h.pids()

    def detections(self, i):
        return self.sub.on_times(f"cam{i}")

    def stop(self):
        self.h.stop()
        self.sub.stop()


class MotionC:
    """The motion daemon (Debian package), one process for all N cameras, framerate 5, nothing
    written, no webcontrol/stream listeners; its log lines stamped as they arrive."""

    framerate = 5

    def __init__(self, build, work, fc, broker, n, stream, a, tag):
        self.dir = os.path.join(work, f"motion-{tag}")
        os.makedirs(self.dir)
        w, h = (int(x) for x in (CPU_SUB if stream == "sub" else CPU_MAIN).split("x"))
        mask = os.path.join(self.dir, "mask.pgm")
        band = int(h * BAND_FRACTION)
        with open(mask, "wb") as f:    # black = ignored: fakecam's ID band
            f.write(b"P5\n%d %d\n255\n" % (w, h) + bytes(w * band) + b"\xff" * (w * (h - band)))
        conf = os.path.join(self.dir, "motion.conf")
        with open(conf, "w") as f:
            f.write(f"daemon off\nsetup_mode off\nlog_level 6\nlog_type all\n"
                    f"target_dir {self.dir}/out\npid_file {self.dir}/motion.pid\n"
                    "webcontrol_port 0\nstream_port 0\nwebcontrol_localhost on\n"
                    "stream_localhost on\n")
            for i in range(1, n + 1):
                cam = os.path.join(self.dir, f"cam{i}.conf")
                f.write(f"camera {cam}\n")
                with open(cam, "w") as c:
                    c.write(f"camera_id {i}\ncamera_name cam{i}\n"
                            f"netcam_url {fc.url(i, stream)}\nwidth {w}\nheight {h}\n"
                            # Debian's motion.conf detection defaults, threshold scaled to
                            # Hearth's min_area, event_gap = Hearth's end_after
                            f"framerate {self.framerate}\nthreshold {round(MIN_AREA * w * h)}\n"
                            "despeckle_filter EedDl\nminimum_motion_frames 1\n"
                            f"event_gap {max(1, round(a.end_after_ms / 1000))}\n"
                            f"mask_file {mask}\npicture_output off\nmovie_output off\n"
                            "snapshot_interval 0\ntext_left \ntext_right \n")
        self.conf, self.n = conf, n

    def start(self):
        self.lines = []
        self.p = subprocess.Popen(["motion", "-n", "-c", self.conf], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  start_new_session=True)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        deadline = time.monotonic() + 60
        while sum("connected" in l for _, l in list(self.lines)) < self.n:
            if time.monotonic() > deadline or self.p.poll() is not None:
                raise SystemExit("motion: cameras did not connect:\n" +
                                 "".join(l for _, l in self.lines[-30:]))
            time.sleep(0.2)
        # Never listens beyond loopback (webcontrol and stream are off: no listener at all).
        ss = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
        if f"pid={self.p.pid}," in ss:
            raise SystemExit(f"motion listens on a port: {ss}")

    def _read(self):
        with open(os.path.join(self.dir, "motion.log"), "w") as f:
            for raw in self.p.stdout:
                line = raw.decode(errors="replace")
                self.lines.append((time.time(), line))
                f.write(line)

    def pids(self):
        return {self.p.pid}

    def detections(self, i):
        return [t for t, l in list(self.lines)
                if f":cam{i}]" in l and "starting event" in l]

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


FFMPEG_DETECT = ["-r", "5", "-vf", "fps=5,scale=320:180", "-pix_fmt", "gray", "-f", "rawvideo",
                 "pipe:"]


class FfmpegC:
    """ffmpeg decoding each camera's stream as Frigate feeds its detector; output to /dev/null."""

    def __init__(self, build, work, fc, broker, n, stream, a, tag):
        self.urls = [fc.url(i, stream) for i in range(1, n + 1)]
        self.dir = os.path.join(work, f"ffmpeg-{tag}")
        os.makedirs(self.dir)

    def cmd(self, url):
        return ["ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp", "-i",
                url, *FFMPEG_DETECT]

    def start(self):
        self.ps = [subprocess.Popen(self.cmd(u), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL,
                                    stderr=open(os.path.join(self.dir, f"cam{i}.log"), "w"),
                                    start_new_session=True)
                   for i, u in enumerate(self.urls, 1)]
        time.sleep(2)
        if any(p.poll() is not None for p in self.ps):
            raise SystemExit("ffmpeg exited early")

    def pids(self):
        return {p.pid for p in self.ps}

    def detections(self, i):
        return None

    def stop(self):
        for p in self.ps:
            p.send_signal(signal.SIGTERM)
        for p in self.ps:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def recall(c, fc, n, t_from, t_to):
    """Fraction of crossings in the window notified between their start − 0.5 s and end + 2 s,
    false notifications, and the median notification delay; None for a contender without a
    detector."""
    found = total = false = 0
    delays = []
    for i in range(1, n + 1):
        det = c.detections(i)
        if det is None:
            return None
        det = [t for t in det if t_from <= t <= t_to]
        occ = fc.occurrences(i, t_from - fc.truth["clip_seconds"], t_to + 1)
        for s, e in occ:
            hit = [t for t in det if s - 0.5 <= t <= e + 2]
            if t_from <= s and e + 2 <= t_to:
                total += 1
                if hit:
                    found += 1
                    delays.append(hit[0] - s)
        false += sum(1 for t in det if not any(s - 0.5 <= t <= e + 2 for s, e in occ))
    return {"found": found, "total": total, "false": false,
            "delay": statistics.median(delays) if delays else None}


def backlog(pids, port):
    """Bytes waiting unread in @pids' TCP sockets from fakecam (@port): a contender that does
    not keep up with the stream leaves them there (and fakecam then drops whole GOPs)."""
    out = subprocess.run(["ss", "-tnpH"], capture_output=True, text=True).stdout
    total = 0
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 6 and f[4].endswith(f":{port}") and \
                any(f"pid={p}," in line for p in pids):
            total += int(f[1])
    return total


def window(c, fc, a):
    """CPU of @c's processes over a.seconds, after a.warmup."""
    time.sleep(a.warmup)
    pids0 = c.pids()
    fc0 = rb.cpu_ticks({fc.p.pid})[0]
    sys0 = rb.system_busy()
    t0, w0 = time.monotonic(), time.time()
    ticks0, _ = rb.cpu_ticks(pids0)
    load0 = os.getloadavg()[0]
    backlogs = []
    end = t0 + a.seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(3.0, left))
        if left > 3.0:
            backlogs.append(backlog(pids0, fc.port))
    pids1 = c.pids()
    ticks1, _ = rb.cpu_ticks(pids0 | pids1)
    t1, w1 = time.monotonic(), time.time()
    sys1 = rb.system_busy()
    fc1 = rb.cpu_ticks({fc.p.pid})[0]
    wall = t1 - t0
    return {"cpu_pct": 100.0 * (ticks1 - ticks0) / CLK_TCK / wall,
            "backlog_max_kib": max(backlogs) / 1024 if backlogs else None,
            "load": (load0 + os.getloadavg()[0]) / 2,
            "changed": pids0 != pids1, "procs": len(pids1),
            "fakecam_pct": 100.0 * (fc1 - fc0) / CLK_TCK / wall,
            "system_pct": 100.0 * (sys1[0] - sys0[0]) / max(1, sys1[1] - sys0[1]) * os.cpu_count(),
            "t_from": w0, "t_to": w1}


CONTENDERS = [  # (key, label, class)
    ("hearth", "hearth worker: record + detect", HearthC),
    ("motion", "motion 4.x daemon", MotionC),
    ("ffmpeg", "ffmpeg decode (no detector)", FfmpegC),
]


def part_cpu(a, build, cache, work, broker):
    n = a.cpu_cameras
    fc = Fakecam(build, cache, work, "cpu", n,
                 ["--main-size", CPU_MAIN, "--sub-size", CPU_SUB, "--fps", str(CPU_FPS),
                  "--gop", str(CPU_FPS), "--bitrate-kbps", str(CPU_KBPS),
                  "--clip-seconds", str(CPU_CLIP_S), "--noise", str(CPU_NOISE)])
    rates = {}
    for stream in ("main", "sub"):
        p = [f for f in os.listdir(cache) if f.endswith(f"-n{CPU_NOISE}-code1.au")
             and f"-{CPU_MAIN if stream == 'main' else CPU_SUB}-{CPU_FPS}fps-" in f]
        rates[stream] = (os.path.getsize(os.path.join(cache, p[0])) * 8 / CPU_CLIP_S / 1e6
                         if p else None)
    log(f"CPU camera: fakecam port {fc.port}, {n} cameras, main {fmt(rates['main'], '.2f')} "
        f"Mbit/s, sub {fmt(rates['sub'], '.2f')} Mbit/s")
    runs = []
    try:
        k = 0
        for rep in range(a.reps):
            for stream in ("main", "sub"):
                order = CONTENDERS if k % 2 == 0 else CONTENDERS[::-1]
                k += 1
                for key, _, cls in order:
                    tag = f"{key}-{stream}-{rep}"
                    log(f"rep {rep} {stream}: {key} ...")
                    c = cls(build, work, fc, broker, n, stream, a, tag)
                    c.start()
                    try:
                        r = window(c, fc, a)
                        rec = recall(c, fc, n, r["t_from"], r["t_to"])
                        runs.append({"rep": rep, "stream": stream, "key": key, **r, "recall": rec})
                        log(f"  {key}: {r['cpu_pct'] / n:.1f} %/camera  recall {rec}  "
                            f"system {r['system_pct']:.0f} %")
                        if key == "hearth" and stream == "main":
                            c.h.set_detect(False)   # over MQTT: recording only
                            r = window(c, fc, a)
                            runs.append({"rep": rep, "stream": stream, "key": "hearth-rec", **r,
                                         "recall": None})
                            log(f"  hearth-rec: {r['cpu_pct'] / n:.1f} %/camera")
                    finally:
                        c.stop()
    finally:
        fc.stop()
    return {"cameras": n, "rates": rates, "runs": runs}


def print_cpu(a, res):
    n = res["cameras"]
    runs = res["runs"]

    def med(stream, key):
        xs = [r["cpu_pct"] / n for r in runs if r["stream"] == stream and r["key"] == key]
        return (statistics.median(xs), xs) if xs else (None, [])

    rec_only = med("main", "hearth-rec")
    print(f"Part 2 — CPU per camera for motion, {n} cameras of fakecam's crossing scene + noise "
          f"±{CPU_NOISE}: main {CPU_MAIN} {CPU_FPS} fps H.264 GOP 1 s "
          f"{fmt(res['rates']['main'], '.2f')} Mbit/s, sub {CPU_SUB} "
          f"{fmt(res['rates']['sub'], '.2f')} Mbit/s; RTSP/TCP on loopback; window "
          f"{a.seconds:g} s after {a.warmup:g} s warm-up; contenders one at a time, order "
          f"alternating; median of {a.reps} reps; % of one core per camera (utime+stime of the "
          f"contender's processes only: not fakecam, not Hearth's daemon); {os.cpu_count()} CPUs "
          f"SHARED with other builds and tests, so absolute figures are noisy")
    hdr = ("stream | contender                                   | CPU %/cam | reps (each)"
           "              | recall   | false | unread KiB max | notify delay p50")
    print(hdr)
    print("-" * len(hdr))
    rows = []
    for stream in ("main", "sub"):
        lines = [("hearth", "hearth worker: record + detect")]
        if stream == "main":
            lines.append(("hearth-rec", "hearth worker: record only (detect OFF/MQTT)"))
        lines += [("motion-cost", "hearth motion cost (record+detect − record)"),
                  ("motion", "motion daemon, framerate 5"),
                  ("ffmpeg", "ffmpeg decode, Frigate-style (no detector)")]
        for key, label in lines:
            if key == "motion-cost":
                h = med(stream, "hearth")[0]
                m = None if h is None or rec_only[0] is None else h - rec_only[0]
                rows.append((stream, key, m))
                print(f"{stream:6s} | {label:43s} | {fmt(m, '9.2f')} | {'':24s} | {'':8s} | "
                      f"{'':5s} | {'':14s} |")
                continue
            m, xs = med(stream, key)
            rows.append((stream, key, m))
            recs = [r["recall"] for r in runs if r["stream"] == stream and r["key"] == key]
            if key == "ffmpeg":
                rtxt, ftxt, dtxt = "n/a", "n/a", "n/a (no detector)"
            elif key == "hearth-rec":
                rtxt, ftxt, dtxt = "off", "", ""
            else:
                found = sum(r["found"] for r in recs if r)
                total = sum(r["total"] for r in recs if r)
                rtxt = f"{found}/{total}"
                ftxt = str(sum(r["false"] for r in recs if r))
                ds = [r["delay"] for r in recs if r and r["delay"] is not None]
                dtxt = f"{statistics.median(ds) * 1000:.0f} ms" if ds else "-"
            bl = [r["backlog_max_kib"] for r in runs if r["stream"] == stream and r["key"] == key
                  and r["backlog_max_kib"] is not None]
            print(f"{stream:6s} | {label:43s} | {fmt(m, '9.2f')} | "
                  f"{' '.join(f'{x:.2f}' for x in xs):24s} | {rtxt:8s} | {ftxt:5s} | "
                  f"{fmt(max(bl) if bl else None, '14.0f')} | {dtxt}")
    print()
    flags = [f"{r['stream']} {r['key']} rep {r['rep']}: process set changed in the window"
             for r in runs if r["changed"]]
    print("cross-checks: fakecam CPU % (whole process) median "
          f"{statistics.median([r['fakecam_pct'] for r in runs]):.1f}; whole-system busy % "
          f"(of all CPUs x100) min {min(r['system_pct'] for r in runs):.0f} median "
          f"{statistics.median([r['system_pct'] for r in runs]):.0f} max "
          f"{max(r['system_pct'] for r in runs):.0f}; load average "
          f"{min(r['load'] for r in runs):.1f}..{max(r['load'] for r in runs):.1f}"
          + ("  !! " + "; ".join(flags) if flags else ""))
    print("unread KiB = most bytes left unread in the contender's sockets from fakecam (sampled "
          "every 3 s): above ~500 (1 s of the main stream) it is not keeping up, fakecam drops "
          "whole GOPs for it, and its CPU figure covers less than the whole stream")
    print()
    get = {(s, k): v for s, k, v in rows}
    for stream in ("main", "sub"):
        cost, tot = get[(stream, "motion-cost")], get[(stream, "hearth")]
        ff, mo = get[(stream, "ffmpeg")], get[(stream, "motion")]

        def ratio(x, y):
            return None if x is None or not y else x / y
        for what, x in (("motion cost", cost), ("record+detect", tot)):
            r1, r2 = ratio(x, ff), ratio(x, mo)
            print(f"{stream}: hearth {what} / ffmpeg = {fmt(r1, '.2f')} (goal <= 0.5: "
                  f"{'-' if r1 is None else 'met' if r1 <= 0.5 else 'NOT met'}); "
                  f"/ motion = {fmt(r2, '.2f')} (goal <= 0.33: "
                  f"{'-' if r2 is None else 'met' if r2 <= 0.33 else 'NOT met'})")
    print("(the goals are judged on the motion cost; record+detect is the whole worker, which "
          "also records the main stream — neither motion nor this ffmpeg records anything)")
    print()


# ---- part 3 (optional): what could make Hearth's motion path cheaper ----
# Hearth's motion pipeline (pipelines/motion-h264.gst after source.gst) run by gst-launch-1.0
# outside the worker, with one change at a time, against the same 1080p30 camera.
SRC_GST = "rtspsrc location={url} protocols=tcp latency=300 ! rtph264depay ! h264parse"
TAIL_GST = ("videorate drop-only=true max-rate=10 ! videoscale ! videoconvert ! "
            "video/x-raw,format=GRAY8,width=320,height=180 ! fakesink sync=false")
VARIANTS = [
    ("as shipped (avdec max-threads=1, every frame)",
     f"{SRC_GST} ! avdec_h264 max-threads=1 ! {TAIL_GST}"),
    ("decoder on all cores (max-threads=0)",
     f"{SRC_GST} ! avdec_h264 max-threads=0 ! {TAIL_GST}"),
    ("keyframes only (identity drop-buffer-flags=delta-unit: 1 fps)",
     f"{SRC_GST} ! identity drop-buffer-flags=delta-unit ! avdec_h264 max-threads=1 ! {TAIL_GST}"),
    ("decode only (no rate/scale/convert)",
     f"{SRC_GST} ! avdec_h264 max-threads=1 ! fakesink sync=false"),
    ("second RTSP session only (no decode: what a tee would save)",
     f"{SRC_GST} ! fakesink sync=false"),
]


class GstC:
    def __init__(self, desc, url):
        self.argv = ["gst-launch-1.0", "-q", *shlex.split(desc.format(url=url))]

    def start(self):
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(2)
        if self.p.poll() is not None:
            raise SystemExit(f"gst-launch exited: {' '.join(self.argv)}")

    def pids(self):
        return {self.p.pid}

    def stop(self):
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def part_variants(a, build, cache, work):
    fc = Fakecam(build, cache, work, "variants", 1,
                 ["--main-size", CPU_MAIN, "--sub-size", CPU_SUB, "--fps", str(CPU_FPS),
                  "--gop", str(CPU_FPS), "--bitrate-kbps", str(CPU_KBPS),
                  "--clip-seconds", str(CPU_CLIP_S), "--noise", str(CPU_NOISE)])
    res = {label: [] for label, _ in VARIANTS}
    try:
        for rep in range(a.reps):
            order = VARIANTS if rep % 2 == 0 else VARIANTS[::-1]
            for label, desc in order:
                c = GstC(desc, fc.url(1))
                log(f"variants rep {rep}: {label} ...")
                c.start()
                try:
                    r = window(c, fc, a)
                finally:
                    c.stop()
                res[label].append(r)
    finally:
        fc.stop()
    return res


def print_variants(a, res):
    print(f"Part 3 — Hearth's motion pipeline outside the worker (gst-launch-1.0), one 1080p30 "
          f"camera as in part 2, one change at a time; % of one core, median of {a.reps} reps")
    hdr = "variant                                                        | CPU %  | reps        | unread KiB max"
    print(hdr)
    print("-" * len(hdr))
    for label, _ in VARIANTS:
        xs = [r["cpu_pct"] for r in res[label]]
        bl = [r["backlog_max_kib"] for r in res[label] if r["backlog_max_kib"] is not None]
        print(f"{label:62s} | {statistics.median(xs):6.2f} | "
              f"{' '.join(f'{x:.1f}' for x in xs):11s} | {fmt(max(bl) if bl else None, '.0f')}")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", default="latency,cpu", help="comma list of latency, cpu (default: both) and variants (Hearth's motion "
                    "pipeline with one change at a time, via gst-launch-1.0)")
    ap.add_argument("--build", default=os.path.join(SRC, "build-bench"), help="meson build dir")
    ap.add_argument("--latency-cameras", type=int, default=4, help="crossing cameras (default 4)")
    ap.add_argument("--latency-seconds", type=float, default=90, help="latency window (default 90)")
    ap.add_argument("--crossing-clip", type=int, default=6, help="crossing loop length s (6)")
    ap.add_argument("--scene-clip", type=int, default=12,
                    help="loop length of the slow/static/brightness/masked scenes (12)")
    ap.add_argument("--start-frames", default="default",
                    help="[motion] start_frames values for the latency part, comma list; "
                    "'default' leaves it unset (the detector's default, 2) (default)")
    ap.add_argument("--settle", type=float, default=20,
                    help="seconds between all cameras recording and the latency window (20)")
    ap.add_argument("--no-footage", dest="footage", action="store_false",
                    help="leave out the real footage (tests/footage) from the latency part")
    ap.add_argument("--end-after-ms", type=int, default=1000, help="[motion] end_after_ms (1000)")
    ap.add_argument("--cpu-cameras", type=int, default=2, help="cameras in the CPU part (2)")
    ap.add_argument("--seconds", type=float, default=30, help="CPU window per run (30)")
    ap.add_argument("--warmup", type=float, default=30,
                    help="seconds before a CPU window (30: the detector's start-up ghost passes)")
    ap.add_argument("--reps", type=int, default=3, help="CPU repetitions (3)")
    ap.add_argument("--keep", action="store_true", help="keep logs and recordings")
    ap.add_argument("--json", help="also write the raw results here")
    a = ap.parse_args()
    parts = set(a.part.split(","))
    build = os.path.abspath(a.build)
    try:
        opts = json.load(open(os.path.join(build, "meson-info", "intro-buildoptions.json")))
        bt = next(o["value"] for o in opts if o["name"] == "buildtype")
        san = next((o["value"] for o in opts if o["name"] == "b_sanitize"), "none")
        if bt != "release" or san not in ("none", []):
            log(f"warning: {build} is '{bt}' (sanitize {san}); use meson setup build-bench "
                "--buildtype=release")
    except (OSError, StopIteration):
        log(f"warning: cannot read the build type of {build}")
    if "cpu" in parts and not shutil.which("motion"):
        raise SystemExit("the motion daemon is missing: apt-get install -y motion")
    cache = os.path.join(build, "fakecam-cache")
    os.makedirs(cache, exist_ok=True)
    work = tempfile.mkdtemp(prefix="hearth-motion-bench-")
    broker = Broker(work)
    broker.start()
    out = {}
    try:
        if "latency" in parts:
            out["latency"] = [part_latency(a, build, cache, work, broker,
                                           None if sf == "default" else int(sf))
                              for sf in a.start_frames.split(",")]
        if "cpu" in parts:
            out["cpu"] = part_cpu(a, build, cache, work, broker)
        if "variants" in parts:
            out["variants"] = part_variants(a, build, cache, work)
    finally:
        broker.stop()
        if a.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)

    print(f"Hearth motion benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"build {build}; figures taken on a shared {os.cpu_count()}-CPU machine "
          "(other builds and tests running)")
    print()
    for res in out.get("latency", []):
        print_latency(a, res)
    if "cpu" in out:
        print_cpu(a, out["cpu"])
    if "variants" in out:
        print_variants(a, out["variants"])
    print("command: " + " ".join(shlex.quote(x) for x in [os.path.relpath(sys.argv[0], SRC)]
                                  + sys.argv[1:]))


if __name__ == "__main__":
    main()
