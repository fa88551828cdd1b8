#!/usr/bin/python3
"""Export of a camera with audio (docs/design/playback.md "Export"): fakecam sends AAC
(`--audio aac`), the recorder keeps it as a second track, and an export across a segment
boundary, through lighttpd over TLS as a paired device downloads it, must carry both tracks:
`nvr verify` accepts it with its signature, an independent box reader (mp4tracks.py) finds one
video (avc1) and one AAC (mp4a) track whose lengths match within 0.1 s and whose audio runs on
without a hole or an overlap across the file boundary (each file's last audio-only fragment,
after its last video one, is exported with it), GStreamer decodes the audio to the camera's
own tone, every video frame of the range decodes and shows the camera's ID code, and a byte
Range of it is served like any export. Before this, an export of such a camera was refused (409, "2 tracks")."""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "security"))

from world import Harness, World, check, log, run  # noqa: E402
from mp4tracks import audio_tone_hz, by_handler, runs, tracks
from test_export import check_range, export, idread, recorded_us, verify, FPS, SEC

SEGMENT_S = 10
# The export's audio is not shorter than its video by more than this: each file's last
# audio-only fragment (after its last video one: mp4mux's 0.96 s audio fragments run ahead of the
# 1 s video ones) is sent with that file's last fragment; before, 0.24-0.28 s of audio was
# missing at each file boundary (and this check failed by that much).
AUDIO_SHORT_MAX_S = 0.1
# ... and not longer by more than this: the first fragment's audio may begin before its video
# (by up to one 0.96 s audio fragment; the audio edit starts later by as much), and the
# audio-only fragment after `to` is sent too.
AUDIO_LONG_MAX_S = 1.0
# Between two audio runs (moof after moof, across the boundary too): no hole, no overlap beyond
# rounding (an audio tick is 62.5 us at 16 kHz; the export rounds to ticks).
AUDIO_CONTINUITY_S = 0.002


def tone_of(code):
    return 400 + 100 * (code % 16)   # fakecam's tone for ID code i (tests/fakecam/audio.h)


def test():
    with Harness("export-audio", segment_seconds=SEGMENT_S) as h, World(h, via="tls") as w:
        w.start(1, fakecam_args=("--audio", "aac"))
        viewer = w.paired("viewer", ["cam1"])
        cam1 = w.cams["cam1"]
        r = viewer.get("/api/v1/box")
        check(r.status == 200, f"GET box: {r!r}")
        key = r.json()["public_key"]

        # The 1st and 2nd segments: the connection's first file and the next. The first file's
        # audio used to start 0.5-0.7 s late and leave that hole at the boundary after it
        # (docs/design/storage.md "Audio", "First file of a connection"); it now covers its
        # video within 0.1 s, so the export runs on across that boundary too.
        h.wait_for("two finished segments of cam1", lambda: sum(
            1 for s in h.segments("cam1") if s["state"] == "complete") >= 2,
            2 * SEGMENT_S + 60)
        a, b = [s for s in h.segments("cam1") if s["state"] == "complete"][0:2]
        src = tracks(os.path.join(h.root, a["path"]))
        check(len(by_handler(src, "soun")) == 1,
              f"the recorded segment has no audio track: {src}")

        from_us, to_us = a["end_us"] - 3 * SEC, b["start_us"] + 3 * SEC
        t0 = time.monotonic()
        r = export(viewer, cam1, from_us, to_us)
        took = time.monotonic() - t0
        check(r.status == 200, f"export of a camera with audio answered {r!r}")
        log(f"export: {len(r.body)} bytes in {took:.3f} s")
        check(r.header("Content-Length") == str(len(r.body)), "Content-Length differs")
        s = export(viewer, cam1, from_us, to_us, "export.sig")
        check(s.status == 200, f"signature answered {s!r}")
        mp4 = os.path.join(h.dir, "av.mp4")
        sig = mp4 + ".sig"
        with open(mp4, "wb") as f:
            f.write(r.body)
        with open(sig, "wb") as f:
            f.write(s.body)
        rc, out = verify(mp4, sig, key)
        log(f"nvr verify: {out.strip()}")
        check(rc == 0 and out.startswith("VALID"), f"nvr verify refused the export: {out}")

        info = tracks(mp4)
        video, audio = by_handler(info, "vide"), by_handler(info, "soun")
        log(f"tracks: {info}")
        check(len(video) == 1 and video[0]["format"] in ("avc1", "hvc1"),
              f"video tracks {video}")
        check(len(audio) == 1 and audio[0]["format"] == "mp4a", f"audio tracks {audio}")
        v, au = video[0], audio[0]
        short = v["duration_s"] - au["duration_s"]
        log(f"video {v['duration_s']:.3f} s ({v['samples']} frames), audio "
            f"{au['duration_s']:.3f} s ({au['samples']} frames): audio short by {short:.3f} s")
        check(-AUDIO_LONG_MAX_S <= short <= AUDIO_SHORT_MAX_S,
              f"audio {au['duration_s']:.3f} s for video {v['duration_s']:.3f} s: a hole at "
              f"the file boundary?")
        aid = [tid for tid, t in info.items() if t["handler"] == "soun"][0]
        ar = runs(mp4, aid, au["timescale"])
        jumps = [(i, b[0] - a[1]) for i, (a, b) in enumerate(zip(ar, ar[1:]))]
        worst = max(jumps, key=lambda j: abs(j[1]), default=(0, 0.0))
        log(f"audio: {len(ar)} runs, {ar[0][0]:.3f} .. {ar[-1][1]:.3f} s; largest jump between "
            f"runs {worst[1] * 1000:+.2f} ms (after run {worst[0]})")
        check(abs(worst[1]) <= AUDIO_CONTINUITY_S,
              f"the audio jumps by {worst[1] * 1000:+.1f} ms after run {worst[0]} of {len(ar)} "
              f"(a hole or an overlap at the file boundary): {ar}")

        code = w.code_of("cam1")
        hz = audio_tone_hz(mp4)
        check(hz is not None and abs(hz - tone_of(code)) <= 0.05 * tone_of(code),
              f"the export's audio tone is {hz} Hz, the camera sends {tone_of(code)} Hz")
        ids = idread(mp4)
        codes = {int(k): n for k, n in ids["codes"].items()}
        log(f"idread: {ids['frames']} frames, codes {codes}, {ids['unreadable']} unreadable; "
            f"tone {hz} Hz")
        check(set(codes) == {code} and ids["unreadable"] == 0, f"frames show codes {codes}")
        # (the file also holds the fragment after `to`, past the edit: not all of it is shown)
        check(ids["frames"] <= v["samples"],
              f"{ids['frames']} frames decoded of {v['samples']} video samples")
        rec = recorded_us(h, "cam1", from_us, to_us)
        check(ids["frames"] >= rec * FPS * 0.95 / SEC,
              f"{ids['frames']} frames for {rec / SEC:.1f} s recorded")
        check_range(viewer, cam1, from_us, to_us)


if __name__ == "__main__":
    run(test)
