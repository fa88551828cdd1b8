#!/usr/bin/python3
"""Recording benchmark (on demand, not in CI): Hearth (`nvr run` + one `nvr camera-worker` per
camera) against ffmpeg recording the same RTSP streams the way Frigate does (one ffmpeg per
camera, `-c copy -f segment -segment_time 10 -segment_format mp4`), in the same run, alternately.

Hearth is measured in two modes, each labelled in the table (--modes):
- `record`: recording only. Motion detection is switched off for every camera over MQTT
  (`hearth/<cam>/detect/set OFF` on a private mosquitto, `[mqtt] commands = on`) and the run
  waits for every `detect/state` to read OFF before measuring. Snapshots come from the motion
  branch, so none are made. This is the row to compare with ffmpeg's recording.
- `defaults`: what an install does: recording + motion + snapshots, here on the main stream (the
  cameras have no sub-stream).

What is measured, per camera count N (README.md says why each choice was made):
- CPU: utime+stime (+ reaped children) of the whole process tree, summed, over a fixed wall
  window, as % of one core. Hearth's tree = the daemon and every descendant; ffmpeg's = the N
  ffmpeg processes. fakecam (the cameras) is in neither.
- Memory: PSS from /proc/PID/smaps_rollup summed over the tree (median of samples in the window),
  and, as a cross-check, the distinct physical pages the tree maps (/proc/PID/pagemap, root only).
- Correctness: what each recorder wrote, as Mbit/s per camera; a run where a recorder wrote much
  less than the camera sends, or a process died or restarted in the window, is flagged.

- Memory of one worker, by kind of mapping (from /proc/PID/smaps, the worker with the median
  PSS): heap, other anonymous memory, the GStreamer/GLib/libav... libraries (file-backed
  mappings) with the largest ones named, and the rest. Printed per mode and camera count.

Usage: tests/bench/record.py [--cameras 1,8,16,32] [--seconds 20] [--reps 1] [--modes record,defaults]
       [--build build-bench]
"""

import argparse
import glob
import json
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from mqttbroker import Broker   # noqa: E402  (the tests' real-mosquitto helper)

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# The clip: 1080p30, GOP 30 frames (1 s), ~4 Mbit/s. Frame content is ffmpeg's testsrc2 with
# temporal noise, so the encoder really spends the bitrate (fakecam's own synthetic scene
# compresses to ~0.2 Mbit/s at 1080p whatever bitrate is asked for).
WIDTH, HEIGHT, FPS, GOP, KBPS, CLIP_S = 1920, 1080, 30, 30, 4000, 10

# Frigate 0.14+: input preset-rtsp-generic + output preset-record-generic (frigate/ffmpeg_presets.py),
# global args "-hide_banner -loglevel warning -threads 2" (loglevel error here: no log noise).
FFMPEG_IN = ["-avoid_negative_ts", "make_zero", "-fflags", "+genpts+discardcorrupt",
             "-rtsp_transport", "tcp", "-timeout", "10000000", "-use_wallclock_as_timestamps", "1"]
FFMPEG_OUT = ["-f", "segment", "-segment_time", "10", "-segment_format", "mp4",
              "-reset_timestamps", "1", "-strftime", "1", "-c", "copy", "-an"]


HEARTH_ENV = {}   # --hearth-env: experiments only (e.g. MALLOC_ARENA_MAX=2)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- /proc accounting ----

def proc_stat(pid):
    """(ppid, cpu ticks incl. reaped children) or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    # fields after comm: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17)
    ppid = int(rest[1])
    ticks = sum(int(x) for x in rest[11:15])
    return ppid, ticks


def all_ppids():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st:
                out[int(d)] = st[0]
    return out


def descendants(root):
    ppids = all_ppids()
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        for c, pp in ppids.items():
            if pp == p and c not in tree:
                tree.add(c)
                frontier.append(c)
    return tree


def cpu_ticks(pids):
    """Sum of utime+stime+cutime+cstime over @pids that still exist; the set that did."""
    total, alive = 0, set()
    for p in pids:
        st = proc_stat(p)
        if st:
            total += st[1]
            alive.add(p)
    return total, alive


def pss_kib(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def smaps_breakdown(pid):
    """PSS (KiB) of one process by kind of mapping: {"heap", "anon", "stack", "libs", "other"},
    and {library file name: PSS} for the file-backed mappings. None if the process is gone."""
    kinds = {"heap": 0, "anon": 0, "stack": 0, "libs": 0, "other": 0}
    libs = {}
    try:
        lines = open(f"/proc/{pid}/smaps").read().splitlines()
    except OSError:
        return None
    name = None
    for line in lines:
        first = line.split(None, 1)[0] if line else ""
        if "-" in first and not first.endswith(":"):
            parts = line.split(None, 5)
            name = parts[5].strip() if len(parts) > 5 else ""
        elif line.startswith("Pss:") and name is not None:
            kib = int(line.split()[1])
            if name == "[heap]":
                kinds["heap"] += kib
            elif name == "":
                kinds["anon"] += kib
            elif name.startswith("[stack"):
                kinds["stack"] += kib
            elif name.startswith("/"):
                kinds["libs"] += kib
                base = os.path.basename(name)
                libs[base] = libs.get(base, 0) + kib
            else:
                kinds["other"] += kib
    return kinds, libs


def unique_kib(pids):
    """Distinct physical pages mapped by @pids (needs root for PFNs); None if unavailable."""
    pfns = set()
    for p in pids:
        try:
            maps = open(f"/proc/{p}/maps").read().splitlines()
            pm = open(f"/proc/{p}/pagemap", "rb")
        except OSError:
            continue
        with pm:
            for line in maps:
                rng = line.split()[0]
                if line.endswith("[vsyscall]"):
                    continue
                lo, hi = (int(x, 16) for x in rng.split("-"))
                n = (hi - lo) // PAGE
                try:
                    pm.seek(lo // PAGE * 8)
                    data = pm.read(n * 8)
                except OSError:
                    continue
                for (e,) in struct.iter_unpack("<Q", data):
                    if e >> 63:
                        pfn = e & ((1 << 55) - 1)
                        if pfn == 0:
                            return None   # PFNs hidden: not root
                        pfns.add(pfn)
    return len(pfns) * PAGE // 1024


def system_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


# ---- the clip ----

def clip_format_version():
    with open(os.path.join(SRC, "tests", "fakecam", "clip.h")) as f:
        return int(re.search(r"#define FC_CLIP_FORMAT_VERSION (\d+)", f.read()).group(1))


def make_clips(cache, cameras):
    """Writes fakecam cache files (format in docs/design/fakecam.md §3) holding our ~4 Mbit/s
    clip for codes 1..cameras, so fakecam serves it instead of its own scene."""
    os.makedirs(cache, exist_ok=True)
    ver = clip_format_version()
    name = lambda code: f"v{ver}-h264-{WIDTH}x{HEIGHT}-{FPS}fps-g{GOP}-{KBPS}kbps-{CLIP_S}s-code{code}.au"
    master = os.path.join(cache, "bench-master.au")
    if not os.path.exists(master):
        log("encoding the benchmark clip (once)...")
        raw = os.path.join(cache, "clip.h264")
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS},noise=alls=10:allf=t",
                        "-frames:v", str(FPS * CLIP_S), "-c:v", "libx264", "-preset", "veryfast",
                        "-tune", "zerolatency", "-profile:v", "main", "-pix_fmt", "yuv420p",
                        "-b:v", f"{KBPS}k", "-maxrate", f"{KBPS}k", "-bufsize", f"{KBPS}k",
                        "-g", str(GOP), "-keyint_min", str(GOP), "-sc_threshold", "0", "-bf", "0",
                        "-x264-params", "repeat-headers=1", "-bsf:v", "h264_metadata=aud=insert",
                        "-f", "h264", raw], check=True)
        data = open(raw, "rb").read()
        # Split at access unit delimiters (NAL type 9); drop them (cameras rarely send AUDs).
        starts = [m.start() for m in re.finditer(b"\x00\x00\x00\x01\x09", data)]
        aus = [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])]
        out = bytearray(b"HFCCLIP1" + struct.pack("<5I", ver, len(aus), WIDTH, HEIGHT, FPS))
        for i, au in enumerate(aus):
            au = au[6:] if au[4] & 0x1f == 9 else au   # AUD = 4-byte start code + 2 bytes
            while au[:4] == b"\x00\x00\x00\x00":
                au = au[1:]
            key = any(au[m.end()] & 0x1f == 5 for m in re.finditer(b"\x00\x00\x01", au))
            if key != (i % GOP == 0):
                raise SystemExit(f"clip frame {i}: keyframe={key}, expected every {GOP}")
            out += struct.pack("<II", 1 if key else 0, len(au)) + au
        if len(aus) != FPS * CLIP_S:
            raise SystemExit(f"clip has {len(aus)} frames, expected {FPS * CLIP_S}")
        with open(master + ".tmp", "wb") as f:
            f.write(out)
        os.rename(master + ".tmp", master)
        os.unlink(raw)
    size = os.path.getsize(master)
    for code in range(1, cameras + 1):
        p = os.path.join(cache, name(code))
        if not os.path.exists(p) or os.path.getsize(p) != size:
            shutil.copyfile(master, p)
    return size * 8 / CLIP_S / 1e6   # Mbit/s, headers included


# ---- recorders ----

class Fakecam:
    def __init__(self, build, cache, cameras, workdir):
        self.out = open(os.path.join(workdir, "fakecam.out"), "w+")
        self.err = open(os.path.join(workdir, "fakecam.log"), "w")
        self.p = subprocess.Popen(
            [os.path.join(build, "tests", "fakecam", "fakecam"), "--cameras", str(cameras),
             "--main-size", f"{WIDTH}x{HEIGHT}", "--fps", str(FPS), "--gop", str(GOP),
             "--bitrate-kbps", str(KBPS), "--clip-seconds", str(CLIP_S), "--cache", cache],
            stdout=self.out, stderr=self.err, start_new_session=True)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            self.out.seek(0)
            m = re.search(r"READY port=(\d+)", self.out.read())
            if m:
                self.port = int(m.group(1))
                return
            if self.p.poll() is not None:
                raise SystemExit(f"fakecam exited with {self.p.returncode}")
            time.sleep(0.2)
        raise SystemExit("fakecam did not become ready")

    def url(self, i):
        return f"rtsp://127.0.0.1:{self.port}/cam{i}/main"

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


class Hearth:
    """@mode: "record" (detection switched off over MQTT before measuring) or "defaults"."""

    def __init__(self, build, workdir, cam, n, rep, mode):
        self.name = f"hearth-{mode}"
        self.mode = mode
        self.nvr = os.path.join(build, "nvr", "nvr")
        self.dir = os.path.join(workdir, f"hearth-{mode}-{n}-r{rep}")
        os.makedirs(self.dir)
        self.root = os.path.join(self.dir, "store")
        self.conf = os.path.join(self.dir, "hearth.conf")
        self.sock = os.path.join(self.dir, "admin.sock")
        self.broker = Broker(self.dir) if mode == "record" else None
        with open(self.conf, "w") as f:
            f.write(f"[daemon]\nadmin_socket = {self.sock}\n[storage]\nroot = {self.root}\n"
                    "segment_seconds = 10\n[recording]\ntransport = tcp\n")
            if self.broker:
                f.write(f"[mqtt]\nhost = 127.0.0.1\nport = {self.broker.port}\n"
                        "discovery = false\ncommands = on\n")
        self.cam, self.n = cam, n

    def cli(self, *args):
        r = subprocess.run([self.nvr, *args, "--config", self.conf], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise SystemExit(f"nvr {' '.join(args)}: {r.stderr}")
        return r.stdout

    def start(self):
        if self.broker:
            self.broker.start()
        self.logf = open(os.path.join(self.dir, "nvr.log"), "w")
        self.p = subprocess.Popen([self.nvr, "run", "--config", self.conf], stdout=self.logf,
                                  stderr=subprocess.STDOUT, start_new_session=True,
                                  env={**os.environ, **HEARTH_ENV})
        deadline = time.monotonic() + 30
        while not os.path.exists(self.sock):
            if time.monotonic() > deadline or self.p.poll() is not None:
                raise SystemExit("nvr run did not open its admin socket")
            time.sleep(0.1)
        time.sleep(0.2)
        for i in range(1, self.n + 1):
            self.cli("cameras", "add", f"cam{i}", "--main-url", self.cam.url(i))
        deadline = time.monotonic() + 60
        while True:
            st = json.loads(self.cli("status", "--json"))
            if sum(c["state"] == "recording" for c in st["cameras"]) == self.n:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"hearth: not all cameras recording: {st}")
            time.sleep(0.5)
        if self.broker:
            self.detect_off()

    def detect_off(self):
        names = [f"cam{i}" for i in range(1, self.n + 1)]
        for c in names:
            self.broker.publish(f"hearth/{c}/detect/set", "OFF")
        deadline = time.monotonic() + 30
        while True:
            st = self.broker.retained("hearth/+/detect/state", timeout=1)
            if all(st.get(f"hearth/{c}/detect/state") == "OFF" for c in names):
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"hearth: detect/state not OFF for every camera: {st}")

    def pids(self):
        return descendants(self.p.pid)

    def workers(self):
        return self.pids() - {self.p.pid}

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(30)
        if self.p.returncode != 0:
            log(f"warning: nvr run exited with {self.p.returncode}")
        if self.broker:
            self.broker.stop()

    def recorded(self):
        """(bytes, seconds of video) over all segments, and the number of segments."""
        import sqlite3
        db = sqlite3.connect(f"file:{os.path.join(self.root, 'catalog.db')}?mode=ro", uri=True)
        rows = db.execute("SELECT COALESCE(SUM(bytes),0), COALESCE(SUM(duration_us),0), COUNT(*),"
                          " SUM(state != 'complete') FROM segments").fetchone()
        db.close()
        files = glob.glob(os.path.join(self.root, "recordings", "*", "*", "*.mp4"))
        disk = sum(os.path.getsize(f) for f in files)
        return disk, rows[1] / 1e6, rows[2], rows[3]


class Ffmpeg:
    name = "ffmpeg"

    def __init__(self, build, workdir, cam, n, rep, mode=None):
        self.dir = os.path.join(workdir, f"ffmpeg-{n}-r{rep}")
        self.cam, self.n = cam, n

    def start(self):
        self.ps = []
        for i in range(1, self.n + 1):
            out = os.path.join(self.dir, f"cam{i}")
            os.makedirs(out)
            err = open(os.path.join(self.dir, f"cam{i}.log"), "w")
            self.ps.append(subprocess.Popen(
                ["ffmpeg", "-hide_banner", "-loglevel", "error", "-threads", "2", *FFMPEG_IN,
                 "-i", self.cam.url(i), *FFMPEG_OUT, os.path.join(out, "%Y%m%d%H%M%S.mp4")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                start_new_session=True))
        deadline = time.monotonic() + 60
        while not all(os.listdir(os.path.join(self.dir, f"cam{i}")) for i in range(1, self.n + 1)):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.ps):
                raise SystemExit("ffmpeg: not all recorders produced a file")
            time.sleep(0.2)

    def pids(self):
        return {p.pid for p in self.ps}

    def workers(self):
        return self.pids()

    def stop(self):
        for p in self.ps:
            p.send_signal(signal.SIGINT)   # ffmpeg finishes the current segment (moov)
        for p in self.ps:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def recorded(self):
        files = glob.glob(os.path.join(self.dir, "cam*", "*.mp4"))
        disk = sum(os.path.getsize(f) for f in files)
        video_s, bad = 0.0, 0
        for f in files:
            r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                                "-of", "csv=p=0", f], capture_output=True, text=True)
            try:
                video_s += float(r.stdout.strip())
            except ValueError:
                bad += 1
        return disk, video_s, len(files), bad


# ---- one measurement ----

def measure(rec, fakecam, seconds, warmup, samples=5):
    rec.start()
    time.sleep(warmup)
    pids0 = rec.pids()
    fc0 = cpu_ticks({fakecam.p.pid})[0]
    sys0 = system_busy()
    t0 = time.monotonic()
    ticks0, _ = cpu_ticks(pids0)
    pss = []
    for k in range(samples):
        time.sleep(seconds / samples)
        pss.append(pss_kib(rec.pids()))
    ticks1, alive1 = cpu_ticks(rec.pids() | pids0)   # includes the root's reaped children
    t1 = time.monotonic()
    sys1 = system_busy()
    fc1 = cpu_ticks({fakecam.p.pid})[0]
    pids1 = rec.pids()
    uniq = unique_kib(pids1)
    # One worker's memory by kind: the worker with the median PSS.
    per = sorted((pss_kib({p}), p) for p in rec.workers())
    breakdown = smaps_breakdown(per[len(per) // 2][1]) if per else None
    wall = t1 - t0
    res = {
        "cpu_pct": 100.0 * (ticks1 - ticks0) / CLK_TCK / wall,
        "pss_mib": statistics.median(pss) / 1024,
        "uniq_mib": None if uniq is None else uniq / 1024,
        "procs": len(pids1),
        "changed": pids0 != pids1,
        "fakecam_pct": 100.0 * (fc1 - fc0) / CLK_TCK / wall,
        "system_pct": 100.0 * (sys1[0] - sys0[0]) / (sys1[1] - sys0[1]) * os.cpu_count(),
        "wall": wall,
        "worker_pss_mib": per[len(per) // 2][0] / 1024 if per else None,
        "worker_kinds": breakdown[0] if breakdown else None,
        "worker_libs": sorted(breakdown[1].items(), key=lambda kv: -kv[1])[:8] if breakdown
        else None,
    }
    rec.stop()
    disk, video_s, files, incomplete = rec.recorded()
    res["mbps_per_cam"] = disk * 8 / 1e6 / video_s if video_s else 0.0
    res["files"] = files
    res["incomplete"] = incomplete
    return res


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cameras", default="1,8,16,32", help="camera counts (default 1,8,16,32)")
    ap.add_argument("--seconds", type=float, default=20, help="measurement window per run (s)")
    ap.add_argument("--warmup", type=float, default=5, help="seconds after start-up before measuring")
    ap.add_argument("--reps", type=int, default=1, help="repetitions per count (order rotates)")
    ap.add_argument("--modes", default="record,defaults",
                    help="Hearth modes: record (detection off) and/or defaults")
    ap.add_argument("--build", default=os.path.join(SRC, "build-bench"), help="meson build dir")
    ap.add_argument("--keep", action="store_true", help="keep recordings and logs")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--hearth-env", action="append", default=[], metavar="VAR=VALUE",
                    help="extra environment for nvr run and its workers only (experiments)")
    a = ap.parse_args()
    counts = [int(x) for x in a.cameras.split(",")]
    modes = [m for m in a.modes.split(",") if m]
    if not modes or any(m not in ("record", "defaults") for m in modes):
        raise SystemExit(f"--modes: record and/or defaults, not {a.modes!r}")
    HEARTH_ENV.update(kv.split("=", 1) for kv in a.hearth_env)
    build = os.path.abspath(a.build)

    try:
        opts = json.load(open(os.path.join(build, "meson-info", "intro-buildoptions.json")))
        bt = next(o["value"] for o in opts if o["name"] == "buildtype")
        if bt != "release":
            log(f"warning: {build} is a '{bt}' build; use meson setup build-bench --buildtype=release")
    except (OSError, StopIteration):
        log(f"warning: cannot read the build type of {build}")
    for var in ("GST_DEBUG", "G_MESSAGES_DEBUG", "GST_TRACERS"):
        os.environ.pop(var, None)

    cache = os.path.join(build, "bench-clips")
    clip_mbps = make_clips(cache, max(counts))
    work = tempfile.mkdtemp(prefix="hearth-bench-")
    fc = Fakecam(build, cache, max(counts), work)
    log(f"fakecam on port {fc.port}, {max(counts)} cameras, clip {clip_mbps:.2f} Mbit/s; work dir {work}")
    recorders = [(Hearth, m) for m in modes] + [(Ffmpeg, None)]
    results = []
    try:
        k = 0
        for n in counts:
            for rep in range(a.reps):
                # Rotate the order, so no recorder always runs first (or after another).
                order = recorders[k % len(recorders):] + recorders[:k % len(recorders)]
                k += 1
                row = {"cameras": n, "rep": rep, "order": []}
                for cls, mode in order:
                    rec = cls(build, work, fc, n, rep, mode)
                    row["order"].append(rec.name)
                    log(f"N={n} rep={rep}: {rec.name} ...")
                    r = measure(rec, fc, a.seconds, a.warmup)
                    row[rec.name] = r
                    log(f"  {rec.name}: cpu {r['cpu_pct']:.1f} %  pss {r['pss_mib']:.1f} MiB  "
                        f"uniq {fmt(r['uniq_mib'], '.1f')} MiB  procs {r['procs']}  "
                        f"rec {r['mbps_per_cam']:.2f} Mbit/s/cam  fakecam {r['fakecam_pct']:.1f} %  "
                        f"system {r['system_pct']:.0f} %")
                results.append(row)
    finally:
        fc.stop()
        if a.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    if a.json:
        with open(a.json, "w") as f:
            json.dump({"clip_mbps": clip_mbps, "seconds": a.seconds, "results": results}, f, indent=1)

    print(f"1080p{FPS} H.264, GOP {GOP} frames ({GOP / FPS:g} s), {clip_mbps:.2f} Mbit/s per "
          f"camera, RTSP/TCP from fakecam, main stream only (no sub-stream); 10 s segments; "
          f"window {a.seconds:g} s; {os.cpu_count()} CPUs; CPU = % of one core, whole process "
          "tree, fakecam excluded; PSS = whole tree"
          + (f"; hearth env {HEARTH_ENV}" if HEARTH_ENV else ""))
    print("hearth-record = recording only (detection switched off over MQTT); hearth-defaults = "
          "recording + motion + snapshots; ffmpeg = Frigate's recording arguments")
    hdr = ("cameras | rep | Hearth mode      | hearth CPU % | ffmpeg CPU % | CPU ratio | "
           "hearth PSS MiB | ffmpeg PSS MiB | PSS ratio | hearth CPU %/camera | PSS MiB/camera")
    print(hdr)
    print("-" * len(hdr))
    for row in results:
        f = row["ffmpeg"]
        n = row["cameras"]
        for mode in modes:
            h = row[f"hearth-{mode}"]
            print(f"{n:7d} | {row['rep']:3d} | {mode:16s} | {h['cpu_pct']:12.1f} | "
                  f"{f['cpu_pct']:12.1f} | {h['cpu_pct'] / f['cpu_pct']:9.2f} | "
                  f"{h['pss_mib']:14.1f} | {f['pss_mib']:14.1f} | "
                  f"{h['pss_mib'] / f['pss_mib']:9.2f} | {h['cpu_pct'] / n:19.2f} | "
                  f"{h['pss_mib'] / n:14.1f}")
    print()
    print("cross-checks: distinct pages mapped (MiB) | recorded Mbit/s per camera | "
          "segments | fakecam CPU % | whole-system busy % (of all CPUs x100)")
    for row in results:
        flags = []
        parts = []
        for name in row["order"]:
            r = row[name]
            if r["changed"]:
                flags.append(f"{name}: process set changed in the window")
            if r["mbps_per_cam"] < 0.9 * clip_mbps:
                flags.append(f"{name}: recorded {r['mbps_per_cam']:.2f} < 90% of the stream")
            if r["incomplete"]:
                flags.append(f"{name}: {r['incomplete']} segments not complete")
            parts.append(f"{name}: uniq {fmt(r['uniq_mib'], '.1f')} rec {r['mbps_per_cam']:.2f} "
                         f"files {r['files']} fakecam {r['fakecam_pct']:.0f} system "
                         f"{r['system_pct']:.0f}")
        print(f"{row['cameras']:7d} r{row['rep']} | " + " | ".join(parts)
              + f" | order {'>'.join(row['order'])}" + ("  !! " + "; ".join(flags) if flags else ""))
    print()
    print("one worker's PSS by kind of mapping (the median worker; MiB): heap | other anonymous | "
          "stack | libraries and other files | rest; largest libraries")
    for row in results:
        for name in row["order"]:
            r = row[name]
            kinds = r["worker_kinds"]
            if not kinds:
                continue
            libs = ", ".join(f"{b} {kib / 1024:.1f}" for b, kib in r["worker_libs"])
            print(f"{row['cameras']:7d} r{row['rep']} {name:16s} {r['worker_pss_mib']:6.1f} = "
                  f"heap {kinds['heap'] / 1024:.1f} | anon {kinds['anon'] / 1024:.1f} | stack "
                  f"{kinds['stack'] / 1024:.1f} | files {kinds['libs'] / 1024:.1f} | rest "
                  f"{kinds['other'] / 1024:.1f}; {libs}")
    print()
    if "record" in modes:
        cpu_ok = all(r["hearth-record"]["cpu_pct"] <= 0.75 * r["ffmpeg"]["cpu_pct"]
                     for r in results)
        mem16 = [r for r in results if r["cameras"] == 16]
        mem_ok = mem16 and all(r["hearth-record"]["pss_mib"] <= 0.35 * r["ffmpeg"]["pss_mib"]
                               for r in mem16)
        print(f"goal recording-only CPU <= 0.75x ffmpeg: {'met' if cpu_ok else 'NOT met'}")
        print(f"goal recording-only PSS at 16 cameras <= 0.35x ffmpeg: "
              f"{'not measured (no 16-camera point)' if not mem16 else 'met' if mem_ok else 'NOT met'}")
    if "defaults" in modes:
        mem16 = [r for r in results if r["cameras"] == 16]
        ok = mem16 and all(r["hearth-defaults"]["pss_mib"] <= r["ffmpeg"]["pss_mib"] for r in mem16)
        print(f"goal defaults PSS at 16 cameras <= ffmpeg's recording-only PSS: "
              f"{'not measured (no 16-camera point)' if not mem16 else 'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
