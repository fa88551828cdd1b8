#!/usr/bin/python3
"""kill -9 of the daemon and all its workers in the middle of recording two cameras, then a
restart: the catalog and the disk agree, every file plays and shows its own camera, no segment id
is reused, and the footage lost at the crash is measured and printed per camera.

Loss = wall time of the kill minus the recovered end of the camera's last segment before it.

With --audio CODEC the cameras also send audio (fakecam --audio): the same bound must hold, and
every file, the crash-cut ones included, must also hold an AAC track that decodes to its camera's
tone. A file closed by rotation (the first file of a connection included) has audio as long as
its video within SYNC_S. The file the kill cut may hold up to AUDIO_SLACK_S more audio than
video: splitmuxsink holds the video's GOP in progress while audio fragments go on to disk
(measured +0.76 s in every crash-cut file of 3 loaded runs). The file the final stop cut may be
short of audio by up to STOP_SLACK_S: the audio branch's last frames are still in its jitterbuffer,
queue or encoder when video's EOS closes the file (measured 0.003-0.11 s short)."""

import argparse
import os
import signal
import time

from harness import Harness, check, idread, log, run
from mp4tracks import audio_tone_hz, by_handler, tracks

GOP_S = 1.0   # fakecam's default GOP: one keyframe per second
AUDIO_SLACK_S = GOP_S + 0.5
SYNC_S = 0.1
STOP_SLACK_S = 0.3


def test(audio=None):
    with Harness("crash", segment_seconds=10) as h:
        h.start_fakecam(2, ["--audio", audio] if audio else [])
        h.start_daemon()
        for i in (1, 2):
            h.nvr("cameras", "add", f"cam{i}", "--main-url", h.cam_url(i))
        h.wait_for("both cameras recording",
                   lambda: all(h.camera_status(f"cam{i}")["state"] == "recording"
                               for i in (1, 2)), 60)
        time.sleep(16)   # mid-way through the second segment

        # The daemon and its workers share a process group: kill them all at once, no warning.
        pids = [c["worker_pid"] for c in h.status()["cameras"]]
        t_kill = time.time()
        os.killpg(h.daemon.pid, signal.SIGKILL)
        h.daemon.wait()
        for pid in pids:
            for _ in range(100):
                if not os.path.exists(f"/proc/{pid}"):
                    break
                time.sleep(0.05)
        before = h.segments()
        max_id_before = max(r["id"] for r in before)
        open_before = [r for r in before if r["state"] == "recording"]
        log(f"after SIGKILL: {len(before)} rows, {len(open_before)} still 'recording', "
            f"{len(h.files_on_disk())} files")
        check(len(open_before) >= 1, "no segment was open at the kill: the test proves nothing")

        h.start_daemon()
        time.sleep(3)
        check(h.stop_daemon() == 0, "restarted daemon did not exit cleanly")

        rows = h.segments()
        disk = h.files_on_disk()
        paths = {r["path"] for r in rows}
        check(all(r["state"] == "complete" for r in rows), "a row is still 'recording'")
        check(paths == disk, f"catalog and disk disagree: rows-only {paths - disk}, "
                             f"files-only {disk - paths}")
        ids = [r["id"] for r in rows]
        check(len(ids) == len(set(ids)), "duplicate segment ids")
        new_ids = [r["id"] for r in rows if r["path"] not in {b["path"] for b in before}]
        check(all(i > max_id_before for i in new_ids), "a segment id was reused")

        # The fragment index (docs/design/playback.md): every file, crash-cut ones included
        # (rebuilt by recovery from the file), has its fragments back to back from the end of
        # its init segment, inside the file, each starting with a moof, adding up to its length.
        with h.catalog() as db:
            for r in rows:
                frags = db.execute("SELECT offset, size, start_us, duration_us FROM fragments "
                                   "WHERE segment_id = ? ORDER BY seq", (r["id"],)).fetchall()
                check(len(frags) >= 1 and r["init_bytes"], f"{r['path']}: no fragment index")
                with open(os.path.join(h.root, r["path"]), "rb") as f:
                    data = f.read()
                nxt, t = r["init_bytes"], 0
                for off, size, start, dur in frags:
                    check(off == nxt and data[off + 4:off + 8] == b"moof" and start == t,
                          f"{r['path']}: fragment at {off} (expected {nxt}), start {start}")
                    nxt, t = off + size, start + dur
                check(nxt <= len(data), f"{r['path']}: index runs past the file")
                check(abs(t - r["duration_us"]) <= 200000,
                      f"{r['path']}: index covers {t} us, row says {r['duration_us']} us")
        log(f"fragment index checked on {len(rows)} files (crash-cut ones rebuilt by recovery)")

        for index in (1, 2):
            name = f"cam{index}"
            segs = h.segments(name)
            crashed = [s for s in segs if s["start_us"] / 1e6 < t_kill]
            last = crashed[-1]
            loss_s = t_kill - last["end_us"] / 1e6
            log(f"{name}: crash loss {loss_s:.2f} s (last segment before the kill recovered "
                f"to {last['duration_us'] / 1e6:.2f} s)")
            check(loss_s <= GOP_S + 1.0 + 0.5,
                  f"{name}: lost {loss_s:.2f} s, more than GOP + 1 s (+0.5 s clock slack)")
            for s in segs:
                cut = "crash" if s is last else "stop" if s is segs[-1] else ""
                info = idread(os.path.join(h.root, s["path"]))
                codes = {int(k): v for k, v in info["codes"].items()}
                check(info["frames"] > 0, f"{s['path']} does not play")
                video = by_handler(tracks(os.path.join(h.root, s["path"])), "vide")
                samples = video[0]["samples"] if video else 0
                # Every frame of every file decodes, crash-cut ones included (issue 13).
                check(info["frames"] == samples and info["unreadable"] == 0,
                      f"{s['path']}: {info['frames']} of {samples} video samples decode, "
                      f"{info['unreadable']} unreadable")
                check(set(codes) == {index}, f"{s['path']} shows codes {codes}")
                check(abs(info["duration_s"] - s["duration_us"] / 1e6) <= 1.0,
                      f"{s['path']}: decoded {info['duration_s']:.2f} s vs catalog "
                      f"{s['duration_us'] / 1e6:.2f} s")
                if audio:
                    path = os.path.join(h.root, s["path"])
                    t = tracks(path)
                    a, v = by_handler(t, "soun"), by_handler(t, "vide")
                    check(len(a) == 1 and a[0]["format"] == "mp4a" and a[0]["samples"] > 0,
                          f"{s['path']}: no AAC audio ({t})")
                    slack = {"crash": AUDIO_SLACK_S, "stop": STOP_SLACK_S}.get(cut, SYNC_S)
                    check(abs(a[0]["duration_s"] - v[0]["duration_s"]) <= slack,
                          f"{s['path']}: audio {a[0]['duration_s']:.3f} s vs video "
                          f"{v[0]['duration_s']:.3f} s (allowed {slack} s)")
                    hz, want = audio_tone_hz(path), 400 + 100 * (index % 16)
                    check(hz is not None and abs(hz - want) <= 0.05 * want,
                          f"{s['path']}: audio tone {hz} Hz, expected {want} Hz")
                    log(f"{s['path']}: audio {a[0]['duration_s']:.3f} s of video "
                        f"{v[0]['duration_s']:.3f} s, tone {hz:.0f} Hz"
                        f"{f' [cut by the {cut}]' if cut else ''}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--audio", help="fakecam --audio list, e.g. aac,pcmu")
    args = ap.parse_args()
    run(lambda: test(args.audio))
