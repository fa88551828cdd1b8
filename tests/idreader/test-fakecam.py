#!/usr/bin/python3
"""test-fakecam -- the harness test: fakecam serves the right pixels on the right paths, the
control socket drops/restores/swaps cameras, and idread reads JPEG, MP4, fMP4 from stdin and an
fMP4 cut off by SIGKILL. Loopback only; every process it starts is killed on the way out.

usage: test-fakecam.py FAKECAM IDREAD   (env FAKECAM_CACHE: clip cache dir, reused across runs)
"""
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

FAKECAM, IDREAD = sys.argv[1], sys.argv[2]
PROCS = []


def log(msg):
    print(f"# {msg}", flush=True)


def spawn(args, **kw):
    p = subprocess.Popen(args, **kw)
    PROCS.append(p)
    return p


def start_fakecam(tmp):
    args = [FAKECAM, "--cameras", "2", "--clip-seconds", "4",
            "--cache", os.environ.get("FAKECAM_CACHE", os.path.join(tmp, "cache")),
            "--control", os.path.join(tmp, "ctl"), "--truth", os.path.join(tmp, "truth.json")]
    p = spawn(args, stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "fakecam.log"), "w"))
    deadline = time.monotonic() + 90
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or p.poll() is not None:
            raise AssertionError(f"fakecam not READY (exit {p.poll()}), see fakecam.log")
        if select.select([p.stdout], [], [], left)[0]:
            chunk = os.read(p.stdout.fileno(), 64)
            if not chunk:
                raise AssertionError("fakecam closed stdout before READY")
            line += chunk
    assert line.startswith(b"READY port="), line
    return p, int(line.split(b"=")[1])


class Control:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.f = self.sock.makefile("rw")

    def __call__(self, cmd):
        self.f.write(cmd + "\n")
        self.f.flush()
        reply = self.f.readline().strip()
        log(f"control: {cmd} -> {reply[:200]}")
        return reply


def describe_status(port, path):
    """Status code of a raw RTSP DESCRIBE (a new connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"DESCRIBE rtsp://127.0.0.1:{port}{path} RTSP/1.0\r\nCSeq: 1\r\n"
                  "Accept: application/sdp\r\n\r\n".encode())
        status = s.recv(4096).split(b"\r\n")[0].split()
        return int(status[1])


def start_pull(port, path, out):
    """Records the RTSP stream into a fragmented MP4 (playable however the recorder ends)."""
    return spawn(["gst-launch-1.0", "-q", "-e",
                  "rtspsrc", f"location=rtsp://127.0.0.1:{port}{path}", "protocols=tcp",
                  "latency=200", "!", "rtph264depay", "!", "h264parse", "!",
                  "mp4mux", "fragment-duration=500", "streamable=true", "!",
                  "filesink", "buffer-mode=unbuffered", f"location={out}"],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_pull(p, sig=signal.SIGINT):
    p.send_signal(sig)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def pull(port, paths, tmp, seconds=3.5, sig=signal.SIGINT):
    outs = {path: os.path.join(tmp, path.strip("/").replace("/", "-") + f"-{time.monotonic_ns()}.mp4")
            for path in paths}
    procs = [start_pull(port, path, out) for path, out in outs.items()]
    time.sleep(seconds)
    for p in procs:
        stop_pull(p, sig)
    return outs


def idread(target, stdin=None):
    r = subprocess.run([IDREAD, "--json", target], stdin=stdin, capture_output=True, timeout=60)
    assert r.returncode == 0, f"idread {target}: exit {r.returncode}: {r.stderr.decode()}"
    return json.loads(r.stdout)


def assert_camera(result, code, what, min_frames=20):
    log(f"{what}: {result}")
    assert result["codes"] == {str(code): result["read"]}, f"{what}: expected only code {code}"
    assert result["read"] >= min_frames, f"{what}: only {result['read']} frames read"
    assert result["unreadable"] == 0, f"{what}: {result['unreadable']} unreadable frames"


def main():
    tmp = tempfile.mkdtemp(prefix="fakecam-test-")
    fakecam, port = start_fakecam(tmp)
    log(f"fakecam on port {port}, files in {tmp}")
    ctl = Control(os.path.join(tmp, "ctl"))

    truth = json.load(open(os.path.join(tmp, "truth.json")))
    assert [c["code"] for c in truth["cameras"]] == [1, 2]
    assert truth["clip_frames"] == 4 * 15 and truth["cameras"][0]["events"][0]["kind"] == "crossing"

    # 1. The right pixels on the right paths: codes 1, 2, 2. cam2/sub is recorded by a process
    #    that is SIGKILLed, like a crashed recorder: its fMP4 must still be readable.
    outs = pull(port, ["/cam1/main", "/cam2/main"], tmp)
    killed = pull(port, ["/cam2/sub"], tmp, sig=signal.SIGKILL)["/cam2/sub"]
    assert_camera(idread(outs["/cam1/main"]), 1, "cam1/main")
    r = idread(outs["/cam2/main"])
    assert_camera(r, 2, "cam2/main")
    # consecutive frames carry consecutive counters (mod the loop)
    span = (r["counter_last"] - r["counter_first"]) % truth["clip_frames"]
    assert span == (r["frames"] - 1) % truth["clip_frames"], f"counter span {span} for {r['frames']} frames"
    assert_camera(idread(killed), 2, "cam2/sub (recorder SIGKILLed)", min_frames=10)
    with open(outs["/cam2/main"], "rb") as f:
        assert_camera(idread("-", stdin=f), 2, "cam2/main as fMP4 on stdin")

    # 2. JPEG: a q=75 snapshot of the sub stream still carries the code.
    jpeg = os.path.join(tmp, "snap.jpg")
    subprocess.run(["gst-launch-1.0", "-q", "filesrc", f"location={killed}", "!", "qtdemux", "!",
                    "h264parse", "!", "avdec_h264", "!", "videoconvert", "!",
                    "jpegenc", "quality=75", "snapshot=true", "!", "filesink", f"location={jpeg}"],
                   check=True, timeout=30, stdout=subprocess.DEVNULL)
    assert_camera(idread(jpeg), 2, "JPEG snapshot of cam2/sub", min_frames=1)

    # 3. drop: the current client is cut off at once and a new connection is refused.
    victim = start_pull(port, "/cam1/main", os.path.join(tmp, "victim.mp4"))
    deadline = time.monotonic() + 10
    while json.loads(ctl("status"))["cameras"][0]["clients"] < 1:
        assert time.monotonic() < deadline, "the puller never got a session"
        time.sleep(0.2)
    assert ctl("drop 1") == "OK"
    t0 = time.monotonic()
    victim.wait(5)   # rtspsrc ends (EOS or error) when its connection is closed
    log(f"dropped client gone after {time.monotonic() - t0:.2f} s")
    assert describe_status(port, "/cam1/main") == 404
    assert describe_status(port, "/cam2/main") == 200, "dropping cam1 must not touch cam2"
    st = json.loads(ctl("status"))["cameras"][0]
    assert st["dropped"] is True and st["clients"] == 0, st

    assert ctl("drop all") == "OK"
    assert describe_status(port, "/cam2/sub") == 404, "drop all must drop cam2 too"
    assert ctl("restore all") == "OK"
    assert describe_status(port, "/cam2/sub") == 200

    # 4. restore: serving again.
    assert ctl("restore 1") == "OK"
    assert describe_status(port, "/cam1/main") == 200
    assert_camera(idread(pull(port, ["/cam1/main"], tmp)["/cam1/main"]), 1, "cam1/main restored")

    # 5. swap 1 2: camera 2's pixels answer on camera 1's path; unswap puts them back.
    assert ctl("swap 1 2") == "OK"
    assert json.loads(ctl("status"))["cameras"][0]["swapped_to"] == 2
    assert_camera(idread(pull(port, ["/cam1/main"], tmp)["/cam1/main"]), 2, "cam1/main swapped to 2")
    assert ctl("unswap 1") == "OK"
    assert_camera(idread(pull(port, ["/cam1/main"], tmp)["/cam1/main"]), 1, "cam1/main unswapped")

    # 6. malformed commands are refused, and the connection keeps working.
    assert ctl("drop 3").startswith("ERR")
    assert ctl("frobnicate").startswith("ERR")
    assert ctl("status").startswith("{")

    # 7. clean shutdown on SIGTERM.
    fakecam.send_signal(signal.SIGTERM)
    assert fakecam.wait(10) == 0, "fakecam did not exit cleanly"
    assert not os.path.exists(os.path.join(tmp, "ctl")), "control socket left behind"
    shutil.rmtree(tmp)   # kept on failure, for the logs
    log("ok")


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
                p.wait()
