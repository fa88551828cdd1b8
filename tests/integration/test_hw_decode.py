#!/usr/bin/python3
"""Hardware decoding for motion (docs/design/motion.md "Hardware decoding"), exercised without
the hardware: NVR_TEST_HW_DECODER names the factory that stands in for a Pi's v4l2h264dec
(avdec_h264), and "avdec_h264:stall" makes it swallow every frame it decodes.

1. A healthy stand-in decodes motion (the worker says so) and a crossing becomes an event.
2. A stalled one is noticed (no frame for 2 s of input since a keyframe), motion restarts in
   software for the rest of the worker's life, crossings become events again, and recording never
   stops (no gap over 0.5 s, no worker restart).
3. `[motion] hardware_decode = false` keeps the software decoder even where one is offered.
On a machine with a real v4l2h264dec these phases still run with the stand-in: the environment
variable takes precedence."""

import os
import re
import time

from checks import no_gap
from harness import Harness, check, log, run

CLIP_S = 10          # one crossing per camera every 10 s


def log_since(h, offset):
    with open(h.daemon_log, errors="replace") as f:
        f.seek(offset)
        return f.read()


def log_size(h):
    return os.path.getsize(h.daemon_log) if os.path.exists(h.daemon_log) else 0


def events_after(h, t):
    with h.catalog() as db:
        return db.execute("SELECT start_us FROM events WHERE start_us >= ?",
                          (int(t * 1e6),)).fetchall()


def phase(h, label, env_value, expect_line, timeout, first=False):
    os.environ["NVR_TEST_HW_DECODER"] = env_value
    offset = log_size(h)
    h.start_daemon()
    t0 = time.time()
    if first:
        h.nvr("cameras", "add", "cam1", "--main-url", h.cam_url(1))
    h.wait_for(f"{label}: cam1 recording",
               lambda: h.camera_status("cam1")["state"] == "recording", 60)
    h.wait_for(f"{label}: '{expect_line}' in the daemon's log",
               lambda: re.search(expect_line, log_since(h, offset)), timeout)
    return offset, t0


def test():
    # [motion] last, so that phase 3 can append hardware_decode to it
    with Harness("hwdecode", segment_seconds=10, extra_config="[motion]\n") as h:
        h.start_fakecam(1, ["--truth", os.path.join(h.dir, "truth.json"),
                            "--clip-seconds", str(CLIP_S)])

        # 1. healthy stand-in
        offset, t0 = phase(h, "healthy", "avdec_h264",
                           r"Motion decodes H\.264 with avdec_h264 \(hardware\)", 30, first=True)
        h.wait_for("healthy: an event from the hardware-decoded stream",
                   lambda: events_after(h, t0), 3 * CLIP_S + 10)
        text = log_since(h, offset)
        check("gave no frame" not in text and "avdec_h264 from now on" not in text,
              "the healthy stand-in was taken for a stalled one")
        log("1. healthy stand-in: decoded motion, event recorded")
        check(h.stop_daemon() == 0, "daemon did not exit cleanly")

        # 2. stalled stand-in
        offset, t1 = phase(h, "stalled", "avdec_h264:stall",
                           r"Hardware decoder avdec_h264 gave no frame for [0-9.]+ s of input", 30)
        text = log_since(h, offset)
        m = re.search(r"gave no frame for ([0-9.]+) s", text)
        log(f"2. stall noticed after {m.group(1)} s without a frame")
        t_fallback = time.time()
        h.wait_for("stalled: an event after the fallback to software",
                   lambda: events_after(h, t_fallback), 3 * CLIP_S + 15)
        text = log_since(h, offset)
        check(text.count("Motion decodes H.264 with avdec_h264 (hardware)") == 1,
              "the stalled hardware decoder was tried again")
        st = h.camera_status("cam1")
        check(st["state"] == "recording", f"cam1 is {st['state']} after the fallback")
        check(st["worker_restarts"] == 0, f"the worker restarted {st['worker_restarts']} times")
        check(h.stop_daemon() == 0, "daemon did not exit cleanly")
        segs = [s for s in h.segments("cam1") if s["start_us"] / 1e6 >= t1 - 1]
        no_gap("cam1 during the stall and fallback", segs)

        # 3. switched off in the config
        with open(h.conf, "a") as f:
            f.write("hardware_decode = false\n")
        offset, t3 = phase(h, "off", "avdec_h264", r"Motion detection on the main stream", 30)
        # An event proves the motion branch was linked and decoding: only then does the absence
        # of the "(hardware)" line (logged when the branch is linked) mean something.
        h.wait_for("off: an event from the software-decoded stream",
                   lambda: events_after(h, t3), 3 * CLIP_S + 10)
        text = log_since(h, offset)
        check("(hardware)" not in text, "hardware_decode = false still used the hardware decoder")
        log("3. hardware_decode = false: software decoder")
        check(h.stop_daemon() == 0, "daemon did not exit cleanly")


if __name__ == "__main__":
    run(test)
