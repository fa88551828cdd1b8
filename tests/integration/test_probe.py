#!/usr/bin/python3
"""Testing a camera before adding it (`nvr cameras test`, docs/design/admin.md "Testing and finding
cameras"): the daemon runs a sandboxed probe process that connects once and answers codec, size,
frame rate, audio and a JPEG still, or the reason it could not. Checked against fakecam:
a good camera with credentials (the still decodes, has the right size and carries the camera's ID
code), a 1280x720 camera (the still is scaled to 640 px wide), a wrong password, a wrong port,
bad URLs, a stream with only audio, one with MJPEG video, one with H.264 + G.711 audio, a camera
that never answers (timeout), and the limit of 2 probes at once. The password never shows up in
any output or log."""

import base64
import json
import os
import socket
import subprocess
import threading

from harness import NVR, Harness, check, idread, log, run

CANARY = "canary-Probe-93d1"


def jpeg_size(data):
    """(width, height) from a JPEG's first SOF marker."""
    check(data[:2] == b"\xff\xd8", "the still is not a JPEG")
    i = 2
    while i + 9 < len(data):
        check(data[i] == 0xFF, "broken JPEG marker chain")
        marker = data[i + 1]
        seglen = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return (int.from_bytes(data[i + 7:i + 9], "big"),
                    int.from_bytes(data[i + 5:i + 7], "big"))
        i += 2 + seglen
    raise AssertionError("no SOF in the still")


def probe(h, url, *extra):
    rc, out, err = h.nvr("cameras", "test", url, "--json", *extra, check_rc=False)
    check(CANARY not in out and CANARY not in err, "the password was echoed")
    check(rc in (0, 1), f"cameras test {url}: exit {rc}: {err}")
    res = json.loads(out)
    check(res["ok"] == (rc == 0), f"exit status {rc} disagrees with {out[:200]}")
    return res


def expect_failure(h, url, reason, *extra):
    res = probe(h, url, *extra)
    check(not res["ok"] and res["reason"] == reason,
          f"{url}: want reason {reason}, got {json.dumps(res)[:300]}")
    check(isinstance(res["detail"], str) and res["detail"], f"{url}: no detail")
    log(f"{url}: {reason} ({res['detail']})")


def check_still(h, res, want_size, want_code, name):
    prefix = "data:image/jpeg;base64,"
    check(res["still"].startswith(prefix), "the still is not a JPEG data URL")
    data = base64.b64decode(res["still"][len(prefix):])
    check(len(data) <= 512 * 1024, f"still of {len(data)} bytes is over the limit")
    size = jpeg_size(data)
    check(size == want_size, f"still is {size}, want {want_size}")
    path = os.path.join(h.dir, name)
    with open(path, "wb") as f:
        f.write(data)
    info = idread(path)
    check(info["codes"] == {str(want_code): 1},
          f"still {name}: ID codes {info['codes']}, want camera {want_code}")


def test():
    with Harness("probe") as h:
        pwfile = os.path.join(h.dir, "cam.pw")
        with open(pwfile, "w") as f:
            f.write(CANARY + "\n")
        wrong = os.path.join(h.dir, "wrong.pw")
        with open(wrong, "w") as f:
            f.write("not-the-password\n")
        h.start_fakecam(1, ["--user", "viewer", "--password-file", pwfile, "--odd-mounts"])
        port = h.fakecam_port
        h.start_daemon()
        creds = ("--user", "viewer", "--password-file", pwfile)

        # A good camera: what fakecam serves, and a still from this camera.
        res = probe(h, h.cam_url(1), *creds)
        check(res["ok"], f"good camera failed: {json.dumps(res)[:300]}")
        check(res["video"] == {"codec": "h264", "width": 640, "height": 360, "fps": 15.0},
              f"video {res['video']}")
        check(res["audio"] is None, f"audio {res['audio']} from a camera without audio")
        check_still(h, res, (640, 360), 1, "good.jpg")

        # H.264 with G.711 audio: the audio track is reported.
        res = probe(h, f"rtsp://127.0.0.1:{port}/odd/h264-pcmu", *creds)
        check(res["ok"] and res["video"]["codec"] == "h264" and
              (res["video"]["width"], res["video"]["height"]) == (160, 120),
              f"h264-pcmu: {json.dumps(res)[:300]}")
        check(res["audio"] == {"codec": "pcmu", "rate": 8000, "channels": 1},
              f"h264-pcmu audio {res['audio']}")

        # What cannot be recorded, and why.
        expect_failure(h, f"rtsp://127.0.0.1:{port}/odd/audio-only", "no-video", *creds)
        expect_failure(h, f"rtsp://127.0.0.1:{port}/odd/mjpeg", "unsupported-codec", *creds)
        expect_failure(h, h.cam_url(1), "unauthorized", "--user", "viewer",
                       "--password-file", wrong)
        expect_failure(h, h.cam_url(1), "unauthorized")
        # A port where nothing listens (bound then closed: refused).
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
        s.close()
        expect_failure(h, f"rtsp://127.0.0.1:{dead}/cam1/main", "unreachable", *creds)
        expect_failure(h, f"rtsp://127.0.0.1:{port}/nothing/here", "bad-url", *creds)
        expect_failure(h, "http://127.0.0.1/cam1/main", "bad-url")
        expect_failure(h, f"rtsp://viewer:{CANARY}@127.0.0.1:{port}/cam1/main", "bad-url")

        # A 1280x720 camera: the still is scaled to 640 px wide and keeps its ID code.
        h2cache = os.path.join(h.dir, "fc2.out")
        big = subprocess.Popen(
            [os.path.join(os.path.dirname(os.path.dirname(NVR)), "tests", "fakecam", "fakecam"),
             "--cameras", "1", "--first-code", "7", "--main-size", "1280x720",
             "--clip-seconds", "2", "--cache", os.environ.get("FAKECAM_CACHE", h.dir)],
            stdout=open(h2cache, "w+"), stderr=open(os.path.join(h.dir, "fc2.log"), "w"),
            start_new_session=True)
        h.procs.append(big)
        h.wait_for("the 1280x720 fakecam", lambda: "READY port=" in open(h2cache).read(), 300)
        big_port = int(open(h2cache).read().split("READY port=")[1].split()[0])
        res = probe(h, f"rtsp://127.0.0.1:{big_port}/cam1/main")
        check(res["ok"] and (res["video"]["width"], res["video"]["height"]) == (1280, 720),
              f"1280x720 camera: {json.dumps(res)[:300]}")
        check_still(h, res, (640, 360), 7, "big.jpg")

        # A camera that accepts the connection and never answers: the probe gives up (timeout),
        # and while two such probes run a third is refused at once (2 at a time).
        hole = socket.socket()
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        hole_url = f"rtsp://127.0.0.1:{hole.getsockname()[1]}/cam"
        results = []

        def slow():
            results.append(probe(h, hole_url))

        threads = [threading.Thread(target=slow) for _ in range(2)]
        for t in threads:
            t.start()
        # Both are running once the fake camera has accepted both connections.
        conns = []
        hole.settimeout(30)
        for _ in range(2):
            conns.append(hole.accept()[0])
        rc, out, err = h.nvr("cameras", "test", h.cam_url(1), *creds, check_rc=False)
        check(rc == 1 and "running already" in err, f"third probe: rc {rc}, {out} {err}")
        for t in threads:
            t.join(60)
        check(len(results) == 2 and all(r["reason"] == "timeout" for r in results),
              f"silent camera: {results}")
        for c in conns:
            c.close()
        hole.close()

        with open(h.daemon_log, errors="replace") as f:
            text = f.read()
        check(CANARY not in text, "the password is in the daemon's log")
        log("PASS")


if __name__ == "__main__":
    run(test)
