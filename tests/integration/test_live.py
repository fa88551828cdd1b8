#!/usr/bin/python3
"""Live view and snapshots end to end below HTTP: fakecam → camera worker (live branch) → wire →
supervisor (checks) → NvrLiveHub → clients, driven by the C program test-live (argv[1]).

Checks what a viewer would notice: each camera's live stream is a fragmented MP4 that decodes
and shows that camera's ID code only, for a client that attached before the camera connected and
for one that attached mid-stream (it must start at a keyframe: no unreadable first frames); the
stream carries the MSE codec string; a client ended by recheck (revocation) gets nothing after
it; when camera 2 drops and comes back, its viewers are ended (their stream's timestamps would
restart) and a viewer attaching after that gets the new connection's stream; the worker keeps
<camera_dir>/snapshot.jpg fresh (every ≤ 5 s) and it shows the camera's own ID code.

With --stall: a camera at ~8 Mbit/s while the daemon's main loop stops reading for 10 s. The
worker must drop live fragments (≤ 4 MiB in flight) rather than fill the channel its segment
reports need, resume at a keyframe, and the viewer's stream must still decode whole; every
segment must still be reported closed.
Usage: test_live.py TEST_LIVE_BIN [--stall]"""

import glob
import json
import os
import statistics
import struct
import subprocess
import sys
import time

from harness import IDREAD, Harness, check, idread, log, run

SECONDS = 20
LATE = 6
DROP = 8        # camera 2 dropped at this many seconds, restored 1 s later
AGAIN = 13
FIRST_CODE = 41


def fragments(path):
    """(file offset, sample count) of every moof in an fMP4 file."""
    with open(path, "rb") as f:
        d = f.read()
    out, off = [], 0
    while off + 8 <= len(d):
        size, typ = struct.unpack(">I4s", d[off:off + 8])
        if size < 8:
            break
        if typ == b"moof":
            count, o = 0, off + 8
            while o + 8 <= off + size:                       # moof children
                s2, t2 = struct.unpack(">I4s", d[o:o + 8])
                if t2 == b"traf":
                    p = o + 8
                    while p + 8 <= o + s2:                   # traf children
                        s3, t3 = struct.unpack(">I4s", d[p:p + 8])
                        if t3 == b"trun":
                            count += struct.unpack(">I", d[p + 12:p + 16])[0]
                        p += max(s3, 8)
                o += max(s2, 8)
            out.append((off, count))
        off += size
    return out


def latency(path, truth):
    """End-to-end latency of each fragment: fakecam's send time of its first and last frame
    (fakecam frame g is due at serving_started + g/fps and shows counter g mod clip_frames)
    → the fragment reaching the hub's client (test-live's .idx). fakecam encodes without
    B-frames, so the n-th decoded frame is the n-th sample."""
    arrivals = {}
    with open(path + ".idx") as f:
        for line in f:
            o, t = line.split()
            arrivals[int(o)] = int(t) / 1e6
    r = subprocess.run([IDREAD, "--list", path], capture_output=True, text=True, timeout=120)
    counters = []
    for line in r.stderr.splitlines():
        w = line.split()
        if len(w) >= 8 and w[0] == "frame" and w[6] == "counter":   # frame N pts T code C counter K
            counters.append(int(w[7]))
        elif len(w) >= 2 and w[0] == "frame":
            counters.append(None)
    epoch = truth["serving_started_unix_us"] / 1e6
    fps, frames = truth["fps"], truth["clip_frames"]

    def sent(counter, arrival):
        loops = int((arrival - epoch - counter / fps) // (frames / fps))
        return epoch + (loops * frames + counter) / fps

    first, last, n = [], [], 0
    for off, count in fragments(path):
        if off in arrivals and n + count <= len(counters) and count > 0 and \
                counters[n] is not None and counters[n + count - 1] is not None:
            a = arrivals[off]
            first.append(a - sent(counters[n], a))
            last.append(a - sent(counters[n + count - 1], a))
        n += count
    return first, last


def test():
    exe = sys.argv[1]
    with Harness("live") as h:
        truth_path = os.path.join(h.dir, "truth.json")
        h.start_fakecam(2, ["--first-code", str(FIRST_CODE), "--gop", "15", "--fps", "15",
                            "--truth", truth_path])
        with open(truth_path) as f:
            truth = json.load(f)
        root = os.path.join(h.dir, "store")
        out = os.path.join(h.dir, "streams")
        os.makedirs(out)
        log_path = os.path.join(h.dir, "test-live.log")
        with open(log_path, "w") as logf:
            p = subprocess.Popen([exe, "--root", root, "--out", out, "--seconds", str(SECONDS),
                                  "--late", str(LATE), "--again", str(AGAIN), h.cam_url(1),
                                  h.cam_url(2)],
                                 stdout=subprocess.PIPE, stderr=logf, text=True,
                                 start_new_session=True)
            h.procs.append(p)
            # Watch the snapshots while it runs: distinct modification times, gaps between them.
            seen = {1: [], 2: []}
            t0 = time.monotonic()
            deadline = t0 + SECONDS + 30
            dropped = restored = False
            while p.poll() is None and time.monotonic() < deadline:
                if not dropped and time.monotonic() - t0 > DROP:
                    h.fakecam_control("drop 2")
                    dropped = True
                if dropped and not restored and time.monotonic() - t0 > DROP + 1:
                    h.fakecam_control("restore 2")
                    restored = True
                for i in (1, 2):
                    for path in glob.glob(os.path.join(root, "recordings", f"*-cam{i}",
                                                       "snapshot.jpg")):
                        m = os.stat(path).st_mtime
                        if not seen[i] or seen[i][-1] != m:
                            seen[i].append(m)
                time.sleep(0.2)
            stdout, _ = p.communicate(timeout=30)
        with open(log_path) as f:
            worker_log = f.read()
        check(p.returncode == 0, f"test-live exited with {p.returncode}")
        clients = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        check(len(clients) == 7, f"expected 7 clients, got {stdout!r}")
        for c in clients:
            cam = int(os.path.basename(c["path"]).split("-")[0][3:])
            want = str(FIRST_CODE + cam - 1)
            log(f"client {c['role']} of cam{cam}: {c['bytes']} bytes in {c['chunks']} chunks, "
                f"ended {c['ended']}, codec {c['codec']}, init after {c['init_ms']} ms, "
                f"first fragment after {c['first_fragment_ms']} ms")
            check(c["codec"].startswith("avc1."), f"codec string {c['codec']!r}")
            if c["role"] == "denied":
                check(c["ended"] == 1, "the denied client was not ended by recheck")
                continue
            if cam == 2 and c["role"] in ("early", "late"):
                check(c["ended"] == 1, f"{c['role']} client of cam2 not ended by the reconnect")
            else:
                check(c["ended"] == 0, f"{c['role']} client of cam{cam} was ended")
            r = idread(c["path"])
            log(f"  idread: {r}")
            codes = r["codes"]
            check(set(codes) == {want}, f"cam{cam} {c['role']} stream shows codes {codes}, "
                                        f"expected only {want}")
            check(r["unreadable"] == 0,
                  f"cam{cam} {c['role']}: {r['unreadable']} unreadable frame(s) (a start "
                  "without a keyframe decodes to grey)")
            lasting = {"early": SECONDS - 4, "late": SECONDS - LATE,
                       "again": SECONDS - AGAIN}[c["role"]]
            if cam == 2 and c["role"] != "again":
                lasting = DROP - (LATE if c["role"] == "late" else 4)
            check(r["frames"] >= 15 * (lasting - 3),
                  f"cam{cam} {c['role']}: only {r['frames']} frames in about {lasting} s")
            check(r["counter_first"] is not None and r["counter_last"] != r["counter_first"],
                  "frame counter did not advance")
        # End-to-end latency (camera sends a frame → its fragment reaches the viewer's sink).
        early1 = next(c for c in clients if c["role"] == "early" and "cam1-" in c["path"])
        first, last = latency(early1["path"], truth)
        check(len(first) >= 10, f"latency measured on {len(first)} fragments only")
        log(f"latency over {len(first)} fragments: first frame median "
            f"{statistics.median(first):.3f} s (max {max(first):.3f}), last frame median "
            f"{statistics.median(last):.3f} s (min {min(last):.3f})")
        check(statistics.median(first) < 3.0, "live view lags more than 3 s")
        # The denied client got something before recheck and nothing after: its file is a
        # prefix of the stream (fewer bytes than the early client of the same camera).
        denied = next(c for c in clients if c["role"] == "denied")
        early1 = next(c for c in clients if c["role"] == "early" and "cam1-" in c["path"])
        check(0 < denied["bytes"] < early1["bytes"] * (LATE + 1) / SECONDS,
              f"denied client got {denied['bytes']} bytes (early client {early1['bytes']})")

        # Snapshots: present, fresh every ≤ 5 s while connected, and the camera's own code.
        for i in (1, 2):
            paths = glob.glob(os.path.join(root, "recordings", f"*-cam{i}", "snapshot.jpg"))
            check(len(paths) == 1, f"cam{i}: no snapshot.jpg")
            times = seen[i]
            gaps = [b - a for a, b in zip(times, times[1:])]
            log(f"cam{i}: snapshot written {len(times)} times, gaps {[round(g, 1) for g in gaps]}")
            check(len(times) >= 3, f"cam{i}: snapshot refreshed only {len(times)} times")
            if i == 2:
                # no snapshot while camera 2 is away (dropped, then reconnect backoff)
                gaps.remove(max(gaps))
            check(max(gaps) <= 5.5, f"cam{i}: snapshot gap {max(gaps):.1f} s > 5 s")
            r = idread(paths[0])
            log(f"cam{i} snapshot: {r}")
            check(set(r["codes"]) == {str(FIRST_CODE + i - 1)},
                  f"cam{i} snapshot shows codes {r['codes']}")
            check(not glob.glob(os.path.join(os.path.dirname(paths[0]), ".snapshot*")),
                  "temporary snapshot file left behind")
        # Recording went on while live view ran.
        mp4s = [f for f in h.files_on_disk() if "snapshot" not in f]
        check(len(mp4s) >= 2, f"recording files: {mp4s}")
        for line in worker_log.splitlines():
            if "keyframe arrival to sent" in line:
                log("worker: " + line.strip())


def test_stall():
    exe = sys.argv[1]
    with Harness("live-stall") as h:
        h.start_fakecam(1, ["--first-code", "5", "--noise", "30", "--bitrate-kbps", "8000"])
        root = os.path.join(h.dir, "store")
        out = os.path.join(h.dir, "streams")
        os.makedirs(out)
        log_path = os.path.join(h.dir, "test-live.log")
        with open(log_path, "w") as logf:
            r = subprocess.run([exe, "--root", root, "--out", out, "--seconds", "26", "--late",
                                "22", "--stall-at", "8", "--stall-for", "10", h.cam_url(1)],
                               stdout=subprocess.PIPE, stderr=logf, text=True, timeout=120)
        with open(log_path) as f:
            worker_log = f.read()
        check(r.returncode == 0, f"test-live exited with {r.returncode}")
        for line in worker_log.splitlines():
            if any(k in line for k in ("stalled", "dropped", "resumed", "Segment closed",
                                       "keyframe arrival")):
                log(line.strip())
        check("the daemon is behind" in worker_log, "no live fragment was dropped in the stall")
        check("resumed at a keyframe" in worker_log, "the live stream did not resume")
        check("Failed to send" not in worker_log, "a wire message was lost")
        early = next(json.loads(l) for l in r.stdout.splitlines() if '"early"' in l)
        check(early["ended"] == 0, "the viewer was ended")
        res = idread(early["path"])
        log(f"viewer: {early['bytes']} bytes; idread {res}")
        check(set(res["codes"]) == {"5"}, f"codes {res['codes']}")
        check(res["unreadable"] == 0, f"{res['unreadable']} unreadable frames after the gap")
        check(res["frames"] >= 15 * 10, f"only {res['frames']} frames")
        with h.catalog() as db:
            rows = db.execute("SELECT state, duration_us FROM segments").fetchall()
        log(f"segments: {[tuple(x) for x in rows]}")
        check(len(rows) >= 2 and all(x[0] == "complete" for x in rows),
              f"segments not all reported closed: {[tuple(x) for x in rows]}")


if __name__ == "__main__":
    run(test_stall if "--stall" in sys.argv else test)
