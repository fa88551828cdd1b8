#!/usr/bin/python3
"""Fault isolation: three fake cameras record while camera 2 is fed each kind of garbage in turn
(fakecam `garbage 2 rtp|truncate|resize`, then `off`). Checks what a user would notice: the
daemon never dies, the bad camera costs only its own worker a reconnect or a restart (status
shows it) and records again once the garbage stops, the two good cameras record without a gap
and were never disturbed, the catalog and the disk agree, every good file shows only its own
camera, and every file of the bad camera plays and shows only its own code (files with nothing
playable must have been removed, never kept as rows).

  test_faults.py [--modes rtp,truncate,resize]     default: rtp,truncate

`resize` is registered separately (test_faults_resize, should_fail): the worker keeps muxing
after a mid-stream resolution change, so the file's frames after the change do not decode
(mp4mux keeps the first sample description). See docs/design/fakecam.md §5."""

import argparse
import time

import os

from checks import catalog_matches_disk, every_file_shows_its_own_camera, no_gap
from harness import Harness, check, idread, log, run

BAD = "cam2"
GOOD = ("cam1", "cam3")
PHASE_S = 14           # a stall (watchdog 5 s) and at least one truncated reconnection


def test(modes):
    with Harness("faults", segment_seconds=10, backoff_initial_ms=500,
                 backoff_max_ms=2000) as h:
        h.start_fakecam(3)
        h.start_daemon()
        for i in (1, 2, 3):
            h.nvr("cameras", "add", f"cam{i}", "--main-url", h.cam_url(i))
        h.wait_for("all cameras recording",
                   lambda: all(c["state"] == "recording" for c in h.status()["cameras"]), 60)
        time.sleep(3)

        summary = []
        windows = []   # (mode, start, end) of each garbage phase, unix seconds
        for mode in modes:
            start = h.camera_status(BAD)
            h.fakecam_control(f"garbage 2 {mode}")
            t0 = time.time()
            states = set()
            reasons = set()
            sizes = set()
            while time.time() - t0 < PHASE_S:
                check(h.daemon.poll() is None, f"the daemon died during '{mode}' garbage")
                for c in h.status()["cameras"]:
                    if c["name"] == BAD:
                        states.add(c["state"])
                        if c["reason"]:
                            reasons.add(c["reason"])
                        if c["width"]:
                            sizes.add(f"{c['width']}x{c['height']}")
                    else:
                        check(c["state"] == "recording" and c["reconnects"] == 0,
                              f"{c['name']} disturbed by {BAD}'s '{mode}' garbage: {c}")
                time.sleep(0.3)
            h.fakecam_control("garbage 2 off")
            t_off = time.time()
            windows.append((mode, t0, t_off))
            h.wait_for(f"{BAD} recording again after '{mode}'",
                       lambda: h.camera_status(BAD)["state"] == "recording", 20)
            end = h.camera_status(BAD)
            row = (f"{mode:9s}: {BAD} states {sorted(states)}, reconnects "
                   f"+{end['reconnects'] - start['reconnects']}, worker restarts "
                   f"+{end['worker_restarts'] - start['worker_restarts']}, sizes seen "
                   f"{sorted(sizes)}, recording again {time.time() - t_off:.1f} s after 'off'; "
                   f"reasons {sorted(reasons)}")
            log(row)
            summary.append((mode, states, end["reconnects"] - start["reconnects"]))
            time.sleep(3)

        check(h.daemon.poll() is None, "the daemon died")
        check(h.stop_daemon() == 0, "daemon did not exit cleanly")

        by_mode = {m: (st, rc) for m, st, rc in summary}
        # A stalled stream must be noticed by the watchdog and retried.
        check("truncate" not in by_mode or by_mode["truncate"][1] >= 1, f"{BAD} never reconnected while its stream stalled")

        rows = catalog_matches_disk(h)
        for name in GOOD:
            no_gap(name, h.segments(name))
        good = [r for r in rows if r["camera"] in GOOD]
        bad = [r for r in rows if r["camera"] == BAD]
        every_file_shows_its_own_camera(h, good)
        # The bad camera's files: never another camera's code. Outside corrupted-RTP phases every
        # file plays; corrupted frames may be unreadable, and a file cut by a stall may decode
        # shorter than the catalog says. Known gap: a file written while the camera sent
        # corrupted RTP can hold nothing decodable (its keyframes were hit); the worker does not
        # decode, so it files what the camera sent. Such files are counted and printed.
        def in_rtp_phase(r):
            return any(m == "rtp" and r["start_us"] / 1e6 <= end + 1 and r["end_us"] / 1e6 >= start
                       for m, start, end in windows)
        undecodable = []
        for r in bad:
            info = idread(os.path.join(h.root, r["path"]))
            codes = {int(k): v for k, v in info["codes"].items()}
            log(f"  {r['path']}: {info['frames']} frames, codes {codes}, decoded "
                f"{info['duration_s']:.2f} s vs {r['duration_us'] / 1e6:.2f} s catalogued"
                f"{' (rtp phase)' if in_rtp_phase(r) else ''}")
            check(set(codes) <= {2}, f"{r['path']} of {BAD} shows codes {codes}")
            if info["frames"] == 0 or not codes:
                check(in_rtp_phase(r), f"{r['path']} of {BAD} does not play")
                undecodable.append(r["path"])
            elif not in_rtp_phase(r):
                check(abs(info["duration_s"] - r["duration_us"] / 1e6) <= 2.0,
                      f"{r['path']}: decoded {info['duration_s']:.2f} s, catalog "
                      f"{r['duration_us'] / 1e6:.2f} s")
        log(f"{BAD}: {len(bad)} files kept, 0 foreign frames, {len(undecodable)} with nothing "
            f"decodable (all written during corrupted RTP): {undecodable}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--modes", default="rtp,truncate")
    args = ap.parse_args()
    modes = args.modes.split(",")
    for m in modes:
        if m not in ("rtp", "truncate", "resize"):
            ap.error(f"unknown mode {m}")
    run(lambda: test(modes))
