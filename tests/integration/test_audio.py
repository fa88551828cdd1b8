#!/usr/bin/python3
"""Audio (issue 11 item 6, docs/design/storage.md "Audio"): three fakecam cameras with audio,
cam1 AAC (recorded as received), cam2 PCMU and cam3 PCMA (transcoded to AAC).

1. Clean: every segment of every camera has a video track and an AAC (mp4a) track; in every
   segment recorded before any fault, the first file of the connection included, the audio lasts
   as long as the video (within SYNC_S) and decodes to the camera's own tone. And it is in sync:
   the audio track starts in the file where the video does (its first tfdt, no edit), has no
   hole over SYNC_S (the muxer stretches a sample over a gap: no sample longer than a frame +
   SYNC_S), and each worker's first recorded audio starts within SYNC_S of its first video
   frame (its log line; mp4mux places a track's first sample at 0 whatever its timestamp, so
   audio starting late would play early: docs/design/storage.md "Audio").
2. Faults that hit audio only, for 10 s: cam1 gets random audio RTP payloads (audio-rtp), cam2's
   audio stops (audio-stop). Video must not notice: every video frame of every file decodes
   (idread's decoded frames = the file's video samples) and shows its own camera, and no camera
   has a gap in its recording. The worker of cam2 must have
   ended audio for that connection (its log line), which is what keeps video going.
Files are read with an independent box reader (mp4tracks.py) and GStreamer's decoder."""

import os
import re
import time

from checks import catalog_matches_disk, code_of, every_file_shows_its_own_camera, no_gap
from harness import Harness, check, idread, log, run
from mp4tracks import audio_tone_hz, by_handler, tracks

CODECS = ["aac", "pcmu", "pcma"]
FAULT_S = 10
SYNC_S = 0.1


def tone_of(camera):
    return 400 + 100 * (code_of(camera) % 16)   # fakecam's tone for ID code i (audio.h)


def test():
    with Harness("audio", segment_seconds=10) as h:
        h.start_fakecam(3, ["--audio", ",".join(CODECS)])
        h.start_daemon()
        for i in (1, 2, 3):
            h.nvr("cameras", "add", f"cam{i}", "--main-url", h.cam_url(i))
        h.wait_for("all cameras recording",
                   lambda: all(h.camera_status(f"cam{i}")["state"] == "recording"
                               for i in (1, 2, 3)), 60)
        time.sleep(22)
        fault_start_us = time.time_ns() // 1000
        h.fakecam_control("garbage 1 audio-rtp")
        h.fakecam_control("garbage 2 audio-stop")
        time.sleep(FAULT_S)
        h.fakecam_control("garbage all off")
        time.sleep(8)
        for i in (1, 2, 3):
            st = h.camera_status(f"cam{i}")
            check(st["state"] == "recording", f"cam{i} is {st['state']} after the audio faults")
        check(h.stop_daemon() == 0, "daemon did not exit cleanly")

        with open(h.daemon_log, errors="replace") as f:
            daemon_log = f.read()
        check("stops for this connection" in daemon_log,
              "no worker ended audio although cam2's audio stopped")
        starts = [int(m) for m in re.findall(r"First recorded audio starts ([+-]\d+) ms", daemon_log)]
        log(f"first recorded audio vs first video frame, per connection: {starts} ms")
        check(len(starts) >= 3, f"only {len(starts)} connection(s) logged where audio starts")
        check(all(abs(ms) <= SYNC_S * 1000 for ms in starts),
              f"a connection's audio starts {starts} ms from its video (more than {SYNC_S} s)")

        rows = catalog_matches_disk(h)
        every_file_shows_its_own_camera(h, rows)
        for i in (1, 2, 3):
            no_gap(f"cam{i}", h.segments(f"cam{i}"))

        clean = 0
        problems = []
        first_of = {}
        for r in sorted(rows, key=lambda r: r["start_us"]):
            first_of.setdefault(r["camera"], r["path"])
        for r in sorted(rows, key=lambda r: (r["camera"], r["start_us"])):
            path = os.path.join(h.root, r["path"])
            info = tracks(path)
            video = by_handler(info, "vide")
            audio = by_handler(info, "soun")
            check(len(video) == 1, f"{r['path']}: {len(video)} video tracks")
            if len(audio) != 1 or audio[0]["format"] != "mp4a":
                problems.append(f"{r['path']}: audio tracks {audio}")
                continue
            v, a = video[0], audio[0]
            # Every video frame of the file decodes, faults or not (idread counts decoded frames).
            dec = idread(path)
            if dec["frames"] != v["samples"] or dec["unreadable"] != 0:
                problems.append(f"{r['path']}: {dec['frames']} of {v['samples']} video frames "
                                f"decoded, {dec['unreadable']} unreadable")
            before_fault = r["end_us"] < fault_start_us
            log(f"{r['camera']} {os.path.basename(r['path'])}: video {v['duration_s']:.3f} s "
                f"({v['samples']} frames), audio {a['duration_s']:.3f} s ({a['samples']} frames, "
                f"{a['timescale']} Hz){' [before faults]' if before_fault else ''}")
            if not before_fault:
                continue
            clean += 1
            short = v["duration_s"] - a["duration_s"]
            first = first_of[r["camera"]] == r["path"]
            log(f"  audio short by {short:.3f} s, starts at {a['start_s']} s (video "
                f"{v['start_s']} s), longest audio sample {a['max_sample_s']:.3f} s"
                f"{' [first file of the connection]' if first else ''}")
            # No hole over SYNC_S inside: an AAC frame is 1024 samples (the track's timescale is
            # its sample rate); a gap in the audio's timestamps stretches one sample over it.
            # (Measured: 0.064 s, 0.096 s at the start of a transcoded first file.)
            hole = a["max_sample_s"] - 1024 / a["timescale"]
            if hole > SYNC_S:
                problems.append(f"{r['path']}: an audio sample lasts {a['max_sample_s']:.3f} s "
                                f"(a {hole:.3f} s hole in the audio)")
            if abs(short) > SYNC_S:
                problems.append(f"{r['path']}{' (first file)' if first else ''}: audio "
                                f"{a['duration_s']:.3f} s vs video {v['duration_s']:.3f} s")
            if a["start_s"] is None or v["start_s"] is None or a["edit_s"] or v["edit_s"] or \
                    abs(a["start_s"] - v["start_s"]) > SYNC_S:
                problems.append(f"{r['path']}: audio placed at {a['start_s']} s (edit "
                                f"{a['edit_s']}), video at {v['start_s']} s (edit {v['edit_s']})")
            hz = audio_tone_hz(path)
            want = tone_of(r["camera"])
            if hz is None or abs(hz - want) > 0.05 * want:
                problems.append(f"{r['path']}: audio tone {hz} Hz, camera {r['camera']} sends "
                                f"{want} Hz")
        check(not problems, "; ".join(problems[:10]))
        per_camera = {c: sum(1 for r in rows if r["camera"] == c and r["end_us"] < fault_start_us)
                      for c in ("cam1", "cam2", "cam3")}
        log(f"segments checked for audio duration and tone: {clean} {per_camera}")
        check(all(n >= 1 for n in per_camera.values()),
              f"a camera has no segment before the faults: {per_camera}")


if __name__ == "__main__":
    run(test)
