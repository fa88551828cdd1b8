#!/usr/bin/python3
"""H.265 cameras record as well as H.264 ones: two fakecam H.265 cameras for ~22 s, then the
same checks as test_record: status says h265, rows match files, every file decodes as H.265
and shows its own camera's code, no gap between segments, and a SIGKILLed H.265 segment is
recovered playable."""

import json
import os
import signal
import subprocess
import time

from checks import catalog_matches_disk, every_file_shows_its_own_camera, no_gap
from harness import NVR, Harness, check, log, run


def codec_of(path):
    """The codec of a recorded file, as Hearth's own MP4 probe reads its sample entries."""
    r = subprocess.run([NVR, "camera-worker", "--probe", path], capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 0, f"probe of {path} failed: {r.stderr}")
    return json.loads(r.stdout)["codec"]


def test():
    with Harness("h265", segment_seconds=10) as h:
        h.start_fakecam(2, ["--codec", "h265"])
        h.start_daemon()
        for i in (1, 2):
            h.nvr("cameras", "add", f"cam{i}", "--main-url", h.cam_url(i))
        h.wait_for("both cameras recording",
                   lambda: all(h.camera_status(f"cam{i}")["state"] == "recording"
                               for i in (1, 2)), 60)
        time.sleep(22)
        for i in (1, 2):
            st = h.camera_status(f"cam{i}")
            log(f"cam{i}: codec {st['codec']} {st['width']}x{st['height']}")
            check(st["codec"] == "h265", f"cam{i} reports codec {st['codec']!r}")
        # A crash in the middle of an H.265 segment: the fragmented file must still play.
        pid = h.camera_status("cam2")["worker_pid"]
        os.kill(pid, signal.SIGKILL)
        h.wait_for("cam2 recording again",
                   lambda: h.camera_status("cam2")["worker_restarts"] >= 1 and
                   h.camera_status("cam2")["state"] == "recording", 30)
        time.sleep(3)
        check(h.stop_daemon() == 0, "daemon did not exit cleanly")

        rows = catalog_matches_disk(h)
        every_file_shows_its_own_camera(h, rows)
        no_gap("cam1", h.segments("cam1"))
        codecs = {codec_of(os.path.join(h.root, r["path"])) for r in rows}
        log(f"{len(rows)} segments, codecs in the files: {codecs}")
        check(codecs == {"h265"}, f"files are not all H.265: {codecs}")


if __name__ == "__main__":
    run(test)
