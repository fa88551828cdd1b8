#!/usr/bin/python3
"""Testing a camera before adding it (`nvr cameras test`, docs/design/admin.md "Testing and finding
cameras"): the daemon runs a sandboxed probe process that connects once and answers codec, size,
frame rate, audio and a JPEG still, or the reason it could not. Checked against fakecam:
a good camera with credentials, over TCP and UDP (the still decodes, has the right size and
carries the camera's ID code), a 1280x720 camera (the still is scaled to 640 px wide), an H.265
camera, a wrong password, a wrong port, bad URLs, a stream with only audio, one with MJPEG video, one with H.264 + G.711 audio, a camera
that never answers (timeout), and the limit of 2 probes at once. The password never shows up in
any output or log.

--part http: the same through the web API (POST settings/cameras/test and settings/onvif/profiles
on the daemon's socket): an admin device gets the answer, a non-admin device 403 and no probe
runs, bad bodies 400/415, a third probe while two run 429; the password is in no answer; and
through the real lighttpd front over TLS, a test that takes its whole 12 s comes back as the
daemon's answer (no proxy timeout) and a good one with its still.

--part sandbox: the sandboxed probe's refusals (nvr/sandbox.h NVR_SANDBOX_PROBE)."""

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
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


def extra_fakecam(h, name, *args):
    """Another fakecam (1 camera, 2 s clips: cheap to encode once) with @args; its port."""
    out = os.path.join(h.dir, f"{name}.out")
    p = subprocess.Popen(
        [os.path.join(os.path.dirname(os.path.dirname(NVR)), "tests", "fakecam", "fakecam"),
         "--cameras", "1", "--clip-seconds", "2",
         "--cache", os.environ.get("FAKECAM_CACHE", h.dir), *args],
        stdout=open(out, "w+"), stderr=open(os.path.join(h.dir, f"{name}.log"), "w"),
        start_new_session=True)
    h.procs.append(p)
    h.wait_for(f"fakecam {name}", lambda: "READY port=" in open(out).read(), 300)
    return int(open(out).read().split("READY port=")[1].split()[0])


def probe_children(h):
    """pids of the daemon's `nvr camera-probe` children still alive."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == h.daemon.pid and b"camera-probe" in argv:
            out.append(int(pid))
    return out


def wait_no_probes(h):
    """Probes that answered get up to 2 s to exit and count against the limit until then."""
    h.wait_for("earlier probes to exit", lambda: not probe_children(h), 30)


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
        # The same over RTP/UDP (a camera that refuses TCP interleaving).
        res = probe(h, h.cam_url(1), *creds, "--transport", "udp")
        check(res["ok"] and res["video"]["width"] == 640, f"udp: {json.dumps(res)[:300]}")
        check_still(h, res, (640, 360), 1, "udp.jpg")

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
        big_port = extra_fakecam(h, "big", "--first-code", "7", "--main-size", "1280x720")
        res = probe(h, f"rtsp://127.0.0.1:{big_port}/cam1/main")
        check(res["ok"] and (res["video"]["width"], res["video"]["height"]) == (1280, 720),
              f"1280x720 camera: {json.dumps(res)[:300]}")
        check_still(h, res, (640, 360), 7, "big.jpg")
        # An H.265 camera.
        hevc_port = extra_fakecam(h, "hevc", "--first-code", "9", "--codec", "h265")
        res = probe(h, f"rtsp://127.0.0.1:{hevc_port}/cam1/main")
        check(res["ok"] and res["video"] == {"codec": "h265", "width": 640, "height": 360,
                                             "fps": 15.0}, f"H.265 camera: {json.dumps(res)[:300]}")
        check_still(h, res, (640, 360), 9, "hevc.jpg")

        # A camera that accepts the connection and never answers: the probe gives up (timeout),
        # and while two such probes run a third is refused at once (2 at a time).
        wait_no_probes(h)
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
        wait_no_probes(h)   # the two silent ones exited or were killed
        for c in conns:
            c.close()
        hole.close()

        with open(h.daemon_log, errors="replace") as f:
            text = f.read()
        check(CANARY not in text, "the password is in the daemon's log")
        log("PASS")


def test_http():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                    "security"))
    import hearthclient as hc
    from test_onvif import start_fakeonvif

    import webfront

    with Harness("probehttp") as h:
        web_sock = os.path.join(h.dir, "http.sock")
        front_port = webfront.free_port()
        origin = f"https://127.0.0.1:{front_port}"
        with open(h.conf, "a") as f:
            f.write(f"[web]\nsocket = {web_sock}\norigin = {origin}\n")
        pwfile = os.path.join(h.dir, "cam.pw")
        with open(pwfile, "w") as f:
            f.write(CANARY + "\n")
        h.start_fakecam(1, ["--user", "viewer", "--password-file", pwfile])
        onvif_port = start_fakeonvif(h, "fakeonvif", "--user", "viewer", "--password-file",
                                     pwfile, "--main-url", h.cam_url(1, "main"),
                                     "--sub-url", h.cam_url(1, "sub"))
        h.start_daemon()
        h.nvr("cameras", "add", "cam1", "--main-url", h.cam_url(1), "--user", "viewer",
              "--password-file", pwfile)
        admin = hc.Client(hc.Unix(web_sock), origin, "admin", timeout=40)
        admin.pair(hc.invite(h, "admin", ["cam1"], admin=True)[0])
        viewer = hc.Client(hc.Unix(web_sock), origin, "viewer", timeout=40)
        viewer.pair(hc.invite(h, "viewer", ["cam1"])[0])

        def probes_started():
            with open(h.daemon_log, errors="replace") as f:
                return f.read().count("nvr-probe-Message")

        body = {"main_url": h.cam_url(1), "user": "viewer", "password": CANARY}
        # Not an admin: refused before any probe exists.
        before = probes_started()
        for who in (viewer, hc.Client(hc.Unix(web_sock), origin, "anon")):
            r = who.post("/api/v1/settings/cameras/test", body)
            check(r.status in (401, 403), f"{who.name}: cameras/test answered {r!r}")
            r = who.post("/api/v1/settings/onvif/profiles",
                         {"address": f"127.0.0.1:{onvif_port}", "user": "viewer",
                          "password": CANARY})
            check(r.status in (401, 403), f"{who.name}: onvif/profiles answered {r!r}")
            r = who.post("/api/v1/settings/onvif/scan", {})
            check(r.status in (401, 403), f"{who.name}: onvif/scan answered {r!r}")
        check(probes_started() == before, "a refused request started a probe")

        # Bad requests from the admin.
        r = admin.post("/api/v1/settings/cameras/test", dict(body, extra=1))
        check(r.status == 400, f"unknown member: {r!r}")
        r = admin.post("/api/v1/settings/cameras/test", {"main_url": h.cam_url(1),
                                                          "password": CANARY})
        check(r.status == 400 and CANARY.encode() not in r.body, f"password without user: {r!r}")
        r = admin.post("/api/v1/settings/cameras/test", body, content_type="text/plain")
        check(r.status == 415, f"text/plain body: {r!r}")
        r = admin.post("/api/v1/settings/cameras/test", body, fetch_site="cross-site")
        check(r.status == 403, f"cross-site: {r!r}")
        check(probes_started() == before, "a bad request started a probe")

        # The admin's test: the camera's answer, and a still of camera 1.
        r = admin.post("/api/v1/settings/cameras/test", body)
        check(r.status == 200 and r.header("Cache-Control") == "no-store", f"test: {r!r}")
        check(CANARY.encode() not in r.body, "the answer holds the password")
        res = r.json()
        check(res["ok"] and res["video"]["codec"] == "h264" and res["video"]["width"] == 640,
              f"test answer {json.dumps(res)[:300]}")
        check_still(h, res, (640, 360), 1, "http.jpg")
        r = admin.post("/api/v1/settings/cameras/test", dict(body, password="wrong"))
        check(r.status == 200 and r.json()["reason"] == "unauthorized", f"wrong password: {r!r}")

        r = admin.post("/api/v1/settings/onvif/profiles",
                       {"address": f"127.0.0.1:{onvif_port}", "user": "viewer",
                        "password": CANARY})
        check(r.status == 200 and CANARY.encode() not in r.body, f"onvif/profiles: {r!r}")
        urls = sorted(p["rtsp_url"] for p in r.json()["profiles"])
        check(urls == sorted([h.cam_url(1, "main"), h.cam_url(1, "sub")]), f"profiles {urls}")

        # Two probes at once at most: the third gets 429 while two hang on a silent camera.
        wait_no_probes(h)
        hole = socket.socket()
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        silent = {"main_url": f"rtsp://127.0.0.1:{hole.getsockname()[1]}/x"}
        answers = []

        def slow():
            c = hc.Client(hc.Unix(web_sock), origin, "admin2", timeout=40, key=admin.key)
            c.token = admin.token
            answers.append(c.post("/api/v1/settings/cameras/test", silent))

        threads = [threading.Thread(target=slow) for _ in range(2)]
        for t in threads:
            t.start()
        hole.settimeout(30)
        conns = []
        try:
            for _ in range(2):
                conns.append(hole.accept()[0])
        except socket.timeout:
            for t in threads:
                t.join(60)
            raise AssertionError(f"{len(conns)} of 2 probes reached the camera; answers {answers}")
        r = admin.post("/api/v1/settings/cameras/test", body)
        check(r.status == 429, f"third probe: {r!r}")
        for t in threads:
            t.join(60)
        check([a.status for a in answers] == [200, 200] and
              all(a.json()["reason"] == "timeout" for a in answers), f"silent: {answers}")
        for c in conns:
            c.close()
        hole.close()
        # Through the real front (lighttpd, TLS): a test that takes the whole 12 s comes back
        # as the daemon's answer, not as a proxy timeout; a good one with its still.
        wait_no_probes(h)
        front = webfront.WebFront(h.root, web_sock, port=front_port,
                                  workdir=os.path.join(h.dir, "front"))
        front.start()
        try:
            tls = hc.Client(hc.Tls("127.0.0.1", front_port, front.cert), origin, "admin-tls",
                            timeout=40, key=admin.key)
            tls.token = admin.token
            hole = socket.socket()
            hole.bind(("127.0.0.1", 0))
            hole.listen(8)
            r = tls.post("/api/v1/settings/cameras/test",
                         {"main_url": f"rtsp://127.0.0.1:{hole.getsockname()[1]}/x"})
            check(r.status == 200 and r.json()["reason"] == "timeout",
                  f"silent camera through lighttpd: {r!r}")
            hole.close()
            wait_no_probes(h)
            r = tls.post("/api/v1/settings/cameras/test", body)
            check(r.status == 200 and r.json()["ok"] and CANARY.encode() not in r.body,
                  f"test through lighttpd: {r!r}")
            check_still(h, r.json(), (640, 360), 1, "tls.jpg")
        finally:
            front.stop()
        with open(h.daemon_log, errors="replace") as f:
            check(CANARY not in f.read(), "the password is in the daemon's log")
        log("PASS")


def test_sandbox():
    """The probe process, once sandboxed, tries what it must not do (nvr/sandbox.h test hook
    NVR_SANDBOX_PROBE) and logs each try; the camera's own port must still be allowed."""
    import re
    with Harness("probesandbox") as h:
        h.start_fakecam(1)
        other = socket.socket()
        other.bind(("127.0.0.1", 0))
        other.listen(4)
        secret = os.path.join(h.dir, "secret.txt")
        with open(secret, "w") as f:
            f.write("not for probes\n")
        tries = [f"write={h.dir}/probe-wrote", f"write=/tmp/hearth-probe-wrote-{os.getpid()}",
                 f"read={secret}", f"read={h.root}", f"unix={h.sock}",
                 f"tcp=127.0.0.1:{other.getsockname()[1]}",
                 f"tcp=127.0.0.1:{h.fakecam_port}"]
        os.environ["NVR_SANDBOX_PROBE"] = ",".join(tries)
        try:
            h.start_daemon()
        finally:
            del os.environ["NVR_SANDBOX_PROBE"]
        res = probe(h, h.cam_url(1))
        check(res["ok"], f"the probe failed after its sandbox tries: {json.dumps(res)[:300]}")
        with open(h.daemon_log, errors="replace") as f:
            text = f.read()
        abi = re.search(r"Landlock ABI (\d+)", text)
        abi = int(abi.group(1)) if abi else 0
        lines = dict(re.findall(r"sandbox probe \[camera-probe\] (.+?): (ALLOWED|refused.*)", text))
        log(f"Landlock ABI {abi}; {len(lines)} tries logged")
        for what, verdict in sorted(lines.items()):
            log(f"  {what}: {verdict}")
        must_refuse = [f"write {h.dir}/probe-wrote", f"write /tmp/hearth-probe-wrote-{os.getpid()}",
                       f"connect unix {h.sock}", "execve /bin/true", "ptrace parent"]
        if abi >= 1:
            must_refuse += [f"read {secret}", f"read {h.root}",
                            f"read /proc/{h.daemon.pid}/environ", f"read /proc/{h.daemon.pid}/fd"]
        if abi >= 4:
            must_refuse.append(f"connect tcp 127.0.0.1:{other.getsockname()[1]}")
        if abi >= 6:
            must_refuse.append("signal parent")
        for what in must_refuse:
            check(lines.get(what, "").startswith("refused"),
                  f"sandboxed probe: '{what}' was {lines.get(what, 'not tried')}")
        # Not a test that cannot fail: the camera's own port is allowed.
        check(lines.get(f"connect tcp 127.0.0.1:{h.fakecam_port}") == "ALLOWED",
              f"the camera's port was {lines.get(f'connect tcp 127.0.0.1:{h.fakecam_port}')}")
        check(not os.path.exists(f"{h.dir}/probe-wrote"), "the probe wrote a file")
        other.close()
        log("PASS")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["cli", "http", "sandbox"], default="cli")
    a = ap.parse_args()
    run({"cli": test, "http": test_http, "sandbox": test_sandbox}[a.part])
