#!/usr/bin/python3
"""Records two fake cameras for ~30 s next to one unreachable camera, then checks what a user
would: every catalog row has its file and vice versa, every file decodes and shows only its own
camera's ID code, segment durations add up to the recorded time within 2 s, and the unreachable
camera is reported offline and retried with jittered delays while the others record."""

import os
import socket
import statistics
import time

from harness import Harness, check, idread, log, run

RECORD_S = 30


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test():
    with Harness("record", segment_seconds=10, backoff_initial_ms=500, backoff_max_ms=4000) as h:
        h.start_fakecam(2)
        h.start_daemon()
        h.nvr("cameras", "add", "cam1", "--main-url", h.cam_url(1))
        h.nvr("cameras", "add", "cam2", "--main-url", h.cam_url(2))
        # Nothing listens on this loopback port: connection refused on every attempt.
        h.nvr("cameras", "add", "dead", "--main-url", f"rtsp://127.0.0.1:{free_port()}/cam")

        h.wait_for("cam1 and cam2 recording",
                   lambda: all(h.camera_status(n)["state"] == "recording"
                               for n in ("cam1", "cam2")), 60)
        t_recording = time.time()

        delays = []
        last_reconnects = -1
        while time.time() - t_recording < RECORD_S:
            dead = h.camera_status("dead")
            check(dead["state"] in ("offline", "connecting", "starting"),
                  f"unreachable camera is {dead['state']}")
            if dead["reconnects"] != last_reconnects and dead.get("retry_in_ms", 0) > 0:
                delays.append(dead["retry_in_ms"])
                last_reconnects = dead["reconnects"]
            time.sleep(0.2)

        dead = h.camera_status("dead")
        log(f"unreachable camera: state={dead['state']} reason='{dead['reason']}' "
            f"reconnects={dead['reconnects']}")
        log(f"retry delays (ms): {delays}")
        check(dead["state"] != "recording" and dead["last_segment"] is None,
              "unreachable camera claims to have recorded")
        check(dead["reason"] != "", "offline camera shows no reason")
        check(dead["reconnects"] >= 3, f"only {dead['reconnects']} reconnect attempts in {RECORD_S} s")
        check(len(delays) >= 3, f"too few retry delays observed: {delays}")
        check(all(0 <= d <= 4000 for d in delays), "a retry delay is outside [0, max]")
        check(len(set(delays)) >= max(3, len(delays) - 1),
              f"retry delays are not jittered: {delays}")

        _, text, _ = h.nvr("status")
        log(text)
        for name in ("cam1", "cam2"):
            check(h.camera_status(name)["state"] == "recording", f"{name} stopped recording")

        check(h.stop_daemon() == 0, "daemon did not exit cleanly")
        t_stop = time.time()

        rows = h.segments()
        disk = h.files_on_disk()
        paths = {r["path"] for r in rows}
        check(all(r["state"] == "complete" for r in rows), "a segment is still 'recording'")
        check(paths == disk, f"catalog and disk disagree: rows-only {paths - disk}, "
                             f"files-only {disk - paths}")

        for index, name in ((1, "cam1"), (2, "cam2")):
            segs = h.segments(name)
            check(len(segs) >= 3, f"{name}: only {len(segs)} segments")
            total_s = sum(s["duration_us"] for s in segs) / 1e6
            span_s = (segs[-1]["end_us"] - segs[0]["start_us"]) / 1e6
            log(f"{name}: {len(segs)} segments, durations sum {total_s:.2f} s, "
                f"span {span_s:.2f} s, wall time recorded {t_stop - t_recording:.1f} s")
            check(abs(total_s - span_s) <= 2.0,
                  f"{name}: durations {total_s:.2f} s vs span {span_s:.2f} s (gap or overlap)")
            check(span_s >= RECORD_S - 2, f"{name}: recorded only {span_s:.1f} s of {RECORD_S} s")
            for s in segs:
                path = os.path.join(h.root, s["path"])
                info = idread(path)
                codes = {int(k): v for k, v in info["codes"].items()}
                log(f"  {s['path']}: {info['frames']} frames, codes {codes}, "
                    f"{info['duration_s']:.2f} s decoded vs {s['duration_us'] / 1e6:.2f} s catalog")
                check(info["frames"] > 0, f"{s['path']} does not decode")
                check(set(codes) == {index}, f"{s['path']} shows camera codes {codes}, "
                                             f"expected only {index}")
                check(codes[index] >= 0.9 * info["frames"],
                      f"{s['path']}: only {codes[index]} of {info['frames']} frames readable")
                check(abs(info["duration_s"] - s["duration_us"] / 1e6) <= 1.0,
                      f"{s['path']}: decoded {info['duration_s']:.2f} s, catalog says "
                      f"{s['duration_us'] / 1e6:.2f} s")
                check(s["bytes"] == os.path.getsize(path), f"{s['path']}: byte count differs")


if __name__ == "__main__":
    run(test)
