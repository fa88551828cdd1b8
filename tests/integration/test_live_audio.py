#!/usr/bin/python3
"""Live view carries the camera's audio (issue 11 item 6; docs/design/auth.md "Live view"):
fakecam cam1 sends AAC, cam2 PCMU (the worker transcodes it to AAC), cam3 no audio, through the
real supervisor, workers and NvrLiveHub (test-live, argv[1]). A viewer of cam1 and cam2 gets a
2-track fMP4 whose video shows the camera's ID code and whose audio decodes to the camera's
tone; cam3's viewer gets video only. Then cam1's audio stops (fakecam `garbage 1 audio-stop`):
live restarts video only (its viewers are ended, as for any new stream) and a viewer attaching
after that gets a 1-track stream whose video goes on to the end.
Usage: test_live_audio.py TEST_LIVE_BIN"""

import json
import os
import subprocess
import sys
import time

from harness import Harness, check, idread, log, run
from mp4tracks import audio_tone_hz, by_handler, tracks

SECONDS = 22
LATE = 5
STOP = 9        # cam1's audio stops here
AGAIN = 14
FIRST_CODE = 41


def arrival_times(path):
    """Wall-clock seconds at which each chunk reached the client (test-live's .idx)."""
    with open(path + ".idx") as f:
        return [int(line.split()[1]) / 1e6 for line in f if line.strip()]


def tone_of(code):
    return 400 + 100 * (code % 16)   # fakecam's tone for ID code i (tests/fakecam/audio.h)


def test():
    exe = sys.argv[1]
    with Harness("live-audio") as h:
        h.start_fakecam(3, ["--first-code", str(FIRST_CODE), "--gop", "15", "--fps", "15",
                            "--audio", "aac,pcmu,none"])
        root = os.path.join(h.dir, "store")
        out = os.path.join(h.dir, "streams")
        os.makedirs(out)
        log_path = os.path.join(h.dir, "test-live.log")
        with open(log_path, "w") as logf:
            p = subprocess.Popen([exe, "--root", root, "--out", out, "--seconds", str(SECONDS),
                                  "--late", str(LATE), "--again", str(AGAIN), h.cam_url(1),
                                  h.cam_url(2), h.cam_url(3)],
                                 stdout=subprocess.PIPE, stderr=logf, text=True,
                                 start_new_session=True)
            h.procs.append(p)
            t0 = time.monotonic()
            while p.poll() is None and time.monotonic() - t0 < STOP:
                time.sleep(0.2)
            h.fakecam_control("garbage 1 audio-stop")
            stop_wall = time.time()
            stdout, _ = p.communicate(timeout=SECONDS + 60)
        with open(log_path) as f:
            worker_log = f.read()
        check(p.returncode == 0, f"test-live exited with {p.returncode}")
        clients = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        check(len(clients) == 10, f"expected 10 clients, got {stdout!r}")
        for c in clients:
            if c["role"] == "denied":
                continue
            cam = int(os.path.basename(c["path"]).split("-")[0][3:])
            code = FIRST_CODE + cam - 1
            info = tracks(c["path"])
            video, audio = by_handler(info, "vide"), by_handler(info, "soun")
            log(f"client {c['role']} of cam{cam}: {c['bytes']} bytes, ended {c['ended']}, "
                f"tracks {sorted((t['handler'], t['format']) for t in info.values())}")
            with_audio = cam == 2 or (cam == 1 and c["role"] != "again")
            check(len(video) == 1 and video[0]["format"] == "avc1",
                  f"cam{cam} {c['role']}: video tracks {video}")
            check(len(info) == (2 if with_audio else 1),
                  f"cam{cam} {c['role']}: {len(info)} track(s), expected "
                  f"{2 if with_audio else 1}")
            if with_audio:
                check(audio and audio[0]["format"] == "mp4a", f"cam{cam}: audio {audio}")
            # The codec string the browser gets names the AAC object type of the stream's
            # AudioSpecificConfig: AAC-LC (2) from fakecam and from voaacenc (cam1's hub codec
            # is read at the end, after its audio stopped: not checked here).
            if cam == 2:
                check(c["codec"].startswith("avc1.") and c["codec"].endswith(",mp4a.40.2"),
                      f"cam2 {c['role']}: codec {c['codec']!r}")
            elif cam == 3:
                check(c["codec"].startswith("avc1.") and ",mp4a." not in c["codec"],
                      f"cam3 {c['role']}: codec {c['codec']!r}")
            r = idread(c["path"])
            log(f"  idread: {r}")
            check(set(r["codes"]) == {str(code)},
                  f"cam{cam} {c['role']} shows codes {r['codes']}, expected only {code}")
            check(r["unreadable"] == 0, f"cam{cam} {c['role']}: {r['unreadable']} unreadable")
            # cam1's first stream ends when its audio stops (a new, video-only init segment).
            if cam == 1 and c["role"] != "again":
                check(c["ended"] == 1, f"cam1 {c['role']} was not ended by the audio stop")
                lasting = STOP - (LATE if c["role"] == "late" else 3)
            else:
                check(c["ended"] == 0, f"cam{cam} {c['role']} was ended")
                lasting = SECONDS - {"early": 3, "late": LATE, "again": AGAIN}[c["role"]]
            check(r["frames"] >= 15 * (lasting - 3),
                  f"cam{cam} {c['role']}: only {r['frames']} frames in about {lasting} s")
            arrivals = arrival_times(c["path"])
            gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
            gap = max(gaps) if gaps else None
            log(f"  {len(arrivals)} chunks, largest gap between them {gap:.2f} s")
            if cam == 1 and c["role"] == "early":
                log(f"  cam1's first stream: last chunk {arrivals[-1] - stop_wall:.2f} s after "
                    "its audio stopped")
            else:
                # Audio (transcoded for cam2) never holds live video back: a fragment at least
                # every GOP (1 s), with slack for a busy machine.
                check(gap is not None and gap < 2.5,
                      f"cam{cam} {c['role']}: live video stalled {gap} s")
            if with_audio and c["role"] == "early":
                hz = audio_tone_hz(c["path"])
                log(f"  audio tone {hz} Hz (camera sends {tone_of(code)})")
                check(hz is not None and abs(hz - tone_of(code)) < 50,
                      f"cam{cam}: live audio tone {hz} Hz, camera sends {tone_of(code)} Hz")
        check("Live audio stopped; live view goes on without audio" in worker_log,
              "no worker restarted live without audio after cam1's audio stopped")
        check("live audio announced as AAC-LC" not in worker_log,
              "the AudioSpecificConfig of a camera's live audio was not read (fell back)")


run(test)
