#!/usr/bin/python3
"""kill -9 of one camera worker in the middle of a segment while three cameras record: the daemon
restarts that worker, the killed camera loses at most GOP + 1 s, the other two cameras record
without a gap, the catalog and the disk agree, every file plays and shows its own camera, and no
segment id is reused.

Crash loss = wall time of the kill minus the recovered end of the killed segment (as in
test_crash.py). The outage = start of the camera's next segment minus that end: crash loss plus
the restart backoff, the worker's start-up, the RTSP handshake and the wait for a keyframe; it is
printed, and bounded loosely."""

import os
import signal
import time

from checks import catalog_matches_disk, every_file_shows_its_own_camera, gaps, no_gap
from harness import Harness, check, log, run

GOP_S = 1.0          # fakecam's default GOP: one keyframe per second
CAMERAS = (1, 2, 3)
VICTIM = "cam2"
BACKOFF_MAX_MS = 4000


def test():
    with Harness("worker-kill", segment_seconds=10, backoff_initial_ms=500,
                 backoff_max_ms=BACKOFF_MAX_MS) as h:
        h.start_fakecam(len(CAMERAS))
        h.start_daemon()
        for i in CAMERAS:
            h.nvr("cameras", "add", f"cam{i}", "--main-url", h.cam_url(i))
        h.wait_for("all cameras recording",
                   lambda: all(h.camera_status(f"cam{i}")["state"] == "recording"
                               for i in CAMERAS), 60)

        # Kill in the middle of a segment that already holds a few fragments.
        def victim_mid_segment():
            open_rows = [s for s in h.segments(VICTIM) if s["state"] == "recording"]
            return bool(open_rows) and 4.0 <= time.time() - open_rows[-1]["start_us"] / 1e6 <= 7.0
        h.wait_for(f"{VICTIM} 4-7 s into a segment", victim_mid_segment, 40)

        before = h.camera_status(VICTIM)
        rows_before = h.segments()
        max_id_before = max(r["id"] for r in rows_before)
        pid = before["worker_pid"]
        check(pid > 0, f"{VICTIM} has no worker pid")
        t_kill = time.time()
        os.kill(pid, signal.SIGKILL)
        log(f"SIGKILL to {VICTIM}'s worker (pid {pid}); worker_restarts was "
            f"{before['worker_restarts']}")

        h.wait_for(f"{VICTIM}'s worker restarted",
                   lambda: (lambda s: s["worker_restarts"] == before["worker_restarts"] + 1
                            and s["worker_pid"] not in (0, pid))(h.camera_status(VICTIM)), 15)
        h.wait_for(f"{VICTIM} recording again",
                   lambda: h.camera_status(VICTIM)["state"] == "recording", 20)
        t_back = time.time()
        after = h.camera_status(VICTIM)
        log(f"{VICTIM}: recording again {t_back - t_kill:.2f} s after the kill, new worker pid "
            f"{after['worker_pid']}, worker_restarts {after['worker_restarts']}")
        check(h.daemon.poll() is None, "the daemon died")
        for i in CAMERAS:
            if f"cam{i}" != VICTIM:
                s = h.camera_status(f"cam{i}")
                check(s["worker_restarts"] == 0 and s["state"] == "recording",
                      f"cam{i} was disturbed: {s}")

        time.sleep(12)   # the restarted worker closes at least one whole segment
        check(h.stop_daemon() == 0, "daemon did not exit cleanly")

        rows = catalog_matches_disk(h)
        before_paths = {r["path"] for r in rows_before}
        new_ids = [r["id"] for r in rows if r["path"] not in before_paths]
        check(new_ids and min(new_ids) > max_id_before,
              f"a segment id was reused (new ids {new_ids}, max before {max_id_before})")

        segs = h.segments(VICTIM)
        killed = [s for s in segs if s["start_us"] / 1e6 < t_kill][-1]
        following = [s for s in segs if s["start_us"] / 1e6 >= t_kill]
        check(following, f"{VICTIM} recorded nothing after the kill")
        loss_s = t_kill - killed["end_us"] / 1e6
        outage_s = (following[0]["start_us"] - killed["end_us"]) / 1e6
        log(f"{VICTIM}: crash loss {loss_s:.2f} s (killed segment recovered to "
            f"{killed['duration_us'] / 1e6:.2f} s); outage until the next segment "
            f"{outage_s:.2f} s (restart backoff drawn {after['retry_in_ms']} ms)")
        check(loss_s <= GOP_S + 1.0 + 0.5,
              f"{VICTIM}: lost {loss_s:.2f} s, more than GOP + 1 s (+0.5 s clock slack)")
        # Restart delay ≤ the first backoff step, worker start, DESCRIBE ≤ 1 GOP, first keyframe.
        check(outage_s <= loss_s + 0.5 + 6.0, f"{VICTIM}: outage of {outage_s:.2f} s")
        worst_other = max((g for g, a, b in gaps(segs) if a is not killed), default=0.0)
        check(worst_other <= 0.5, f"{VICTIM}: a gap of {worst_other:.2f} s away from the kill")

        for i in CAMERAS:
            if f"cam{i}" != VICTIM:
                no_gap(f"cam{i}", h.segments(f"cam{i}"))
        every_file_shows_its_own_camera(h, rows)


if __name__ == "__main__":
    run(test)
