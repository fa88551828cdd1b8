#!/usr/bin/python3
"""Disk full: two cameras record onto a small tmpfs made for the test for long enough to wrap
the space three times. Filesystem usage, sampled twice a second, never goes over the high-water
mark; the daemon never dies; old footage goes first. Then an injected ENOSPC (a filler file
takes every free byte) yields a clear log line and recovery — recording resumes, the catalog
passes SQLite's integrity check and still agrees with the disk, every file plays."""

import os
import subprocess
import time

from harness import Harness, check, idread, log, run

# Sensor noise makes fakecam's encoder really spend ~4 Mbit/s: two cameras write ~1 MB/s, and
# each holds up to one 10 s segment (~5 MB) open that retention cannot delete yet.
FS_MB = 40
HIGH_WATER = 75
CAMERAS = 2
FAKECAM_ARGS = ["--noise", "12", "--bitrate-kbps", "4000"]
WRAPS = 3


def statfs(path):
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    return total, free


def test():
    extra = f"""[retention]
min_free_bytes = 1M
high_water_percent = {HIGH_WATER}
interval_seconds = 1
"""
    with Harness("diskfull", segment_seconds=10, extra_config=extra) as h:
        os.makedirs(h.root)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FS_MB}m,mode=0750",
                        "hearth-test", h.root], check=True)
        try:
            body(h)
        finally:
            # Stop everything using the mount before unmounting it.
            for p in h.procs:
                if p.poll() is None:
                    p.terminate()
            for p in h.procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            subprocess.run(["umount", "-l", h.root])


def body(h):
    h.start_fakecam(CAMERAS, FAKECAM_ARGS)
    h.start_daemon()
    cams = range(1, CAMERAS + 1)
    for i in cams:
        h.nvr("cameras", "add", f"cam{i}", "--main-url", h.cam_url(i))
    h.wait_for("all cameras recording",
               lambda: all(h.camera_status(f"cam{i}")["state"] == "recording" for i in cams), 60)

    total, _ = statfs(h.root)
    mark = total * HIGH_WATER // 100
    seen = {}          # path -> largest size seen: everything ever written
    peak = 0
    deleted_first = []  # in the order they disappeared
    deleted = set()
    t0 = time.monotonic()
    while True:
        _, free = statfs(h.root)
        used = total - free
        peak = max(peak, used)
        check(used <= mark, f"usage {used / 1048576:.1f} MiB over the high-water mark "
                            f"{mark / 1048576:.1f} MiB")
        check(h.daemon.poll() is None, "daemon died")
        before = set(seen)
        for dirpath, _, files in os.walk(os.path.join(h.root, "recordings")):
            for f in files:
                p = os.path.join(dirpath, f)
                try:
                    seen[p] = max(seen.get(p, 0), os.path.getsize(p))
                except OSError:
                    pass
        gone = [p for p in before if p not in deleted and not os.path.exists(p)]
        deleted.update(gone)
        deleted_first.extend(sorted(gone))
        written = sum(seen.values())
        if written >= WRAPS * total:
            break
        check(time.monotonic() - t0 < 240, f"only {written / 1048576:.0f} MiB written in 240 s")
        time.sleep(0.5)
    log(f"wrote {written / 1048576:.1f} MiB on a {total / 1048576:.0f} MiB filesystem "
        f"({written / total:.1f} wraps) in {time.monotonic() - t0:.0f} s; peak usage "
        f"{peak / 1048576:.1f} MiB, high-water mark {mark / 1048576:.1f} MiB; "
        f"{len(deleted_first)} segment files deleted")
    check(len(deleted_first) > 0, "retention deleted nothing")
    # Oldest first: every remaining segment started after every deleted one of its camera.
    for cam in (f"cam{i}" for i in cams):
        remaining = [s["path"] for s in h.segments(cam)]
        gone = [p for p in deleted_first if f"-{cam}/" in p]
        if gone and remaining:
            check(max(os.path.basename(p) for p in gone) < min(os.path.basename(p) for p in remaining),
                  f"{cam}: a newer segment was deleted before an older one")

    # Injected ENOSPC: a filler file takes every free byte, and keeps taking whatever retention
    # frees, for 8 s: the workers' writes must fail.
    filler = os.path.join(h.root, "filler")
    t_fill = time.monotonic()
    with open(filler, "wb") as f:
        while time.monotonic() - t_fill < 8:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                time.sleep(0.1)
    log(f"filler took {os.path.getsize(filler) / 1048576:.1f} MiB; filesystem full for 8 s")
    check(h.daemon.poll() is None, "daemon died on ENOSPC")
    with open(h.daemon_log, errors="replace") as f:
        text = f.read()
    lines = [l.strip() for l in text.splitlines() if "No space left" in l]
    check(lines, "no log line says No space left")
    log("log says: " + lines[0])
    os.unlink(filler)
    h.wait_for("all cameras recording again after ENOSPC",
               lambda: all(h.camera_status(f"cam{i}")["state"] == "recording" for i in cams), 60)
    time.sleep(12)   # at least one full segment after recovery
    check(h.stop_daemon() == 0, "daemon did not exit cleanly")

    with h.catalog() as db:
        check(db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "catalog corrupt")
    rows = h.segments()
    paths = {r["path"] for r in rows}
    disk = h.files_on_disk()
    check(all(r["state"] == "complete" for r in rows), "a row is still 'recording'")
    check(paths == disk, f"catalog and disk disagree: rows-only {paths - disk}, "
                         f"files-only {disk - paths}")
    for r in rows:
        info = idread(os.path.join(h.root, r["path"]))
        index = int(r["camera"][3:])
        check(info["frames"] > 0, f"{r['path']} does not play")
        check(set(int(k) for k in info["codes"]) == {index}, f"{r['path']}: {info['codes']}")
    log(f"after ENOSPC: {len(rows)} segments, catalog ok, all play with their own codes")


if __name__ == "__main__":
    run(test)
