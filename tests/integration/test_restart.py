#!/usr/bin/python3
"""Starting after a crash (issue 10 item 3): a daemon killed with -9 leaves its admin socket file
behind; the next daemon, started at once, replaces it before its (slow) crash recovery and answers
`nvr status` without one refused connection once its socket exists. What it must never do: remove
a socket or file it does not own. A second daemon on the same storage root stops at the root's
lock, a second daemon on another root stops at the live socket, and a regular file where the
socket goes is left as it was; in each case the first daemon still answers. Last, systemd's
readiness protocol: READY=1 only once the daemon answers, STOPPING=1 on SIGTERM."""

import os
import signal
import socket
import subprocess
import time

from harness import NVR, Harness, check, log, run


def refused(stderr):
    return "Connection refused" in stderr


def start_other(conf_path, root, sock):
    with open(conf_path, "w") as f:
        f.write(f"[daemon]\nadmin_socket = {sock}\n[storage]\nroot = {root}\n")
    r = subprocess.run([NVR, "run", "--config", conf_path], capture_output=True, text=True,
                       timeout=30)
    return r.returncode, r.stderr


def test():
    with Harness("restart", segment_seconds=10) as h:
        h.start_fakecam(2)
        h.start_daemon()
        for i in (1, 2):
            h.nvr("cameras", "add", f"cam{i}", "--main-url", h.cam_url(i))
        h.wait_for("both cameras recording",
                   lambda: all(h.camera_status(f"cam{i}")["state"] == "recording"
                               for i in (1, 2)), 60)
        time.sleep(3)

        os.killpg(h.daemon.pid, signal.SIGKILL)
        h.daemon.wait()
        check(os.path.exists(h.sock), "no socket left by the killed daemon: the test proves nothing")
        stale_ino = os.lstat(h.sock).st_ino
        rc, _, err = h.nvr("status", "--json", check_rc=False)
        check(rc != 0 and refused(err), f"the stale socket answered ({rc}, {err!r})")

        # Start again at once and ask, as a script would, until it answers.
        log_start = os.path.getsize(h.daemon_log)
        t0 = time.monotonic()
        h.start_daemon(wait_socket=False)
        attempts = refused_new = 0
        answered = None
        while time.monotonic() - t0 < 30:
            check(h.daemon.poll() is None, f"the daemon exited with {h.daemon.returncode}")
            try:
                ino = os.lstat(h.sock).st_ino
            except FileNotFoundError:
                ino = None
            rc, _, err = h.nvr("status", "--json", check_rc=False)
            attempts += 1
            if rc == 0:
                answered = time.monotonic() - t0
                break
            if ino is not None and ino != stale_ino and refused(err):
                refused_new += 1
            time.sleep(0.05)
        check(answered is not None, "the restarted daemon did not answer within 30 s")
        log(f"restart after kill -9: answered {answered:.2f} s after start, {attempts} attempt(s)")
        check(refused_new == 0, f"{refused_new} attempt(s) refused by the new daemon's socket")
        with open(h.daemon_log) as f:
            f.seek(log_start)
            text = f.read()
        removed = text.find("Removed the stale socket")
        recovered = text.find("Recovered ")
        check(removed >= 0, "the daemon did not say it removed the stale socket")
        check(recovered >= 0, "no crash recovery ran: the test proves nothing about its order")
        check(removed < recovered, "the stale socket stayed until after crash recovery")
        h.wait_for("both cameras recording again",
                   lambda: all(h.camera_status(f"cam{i}")["state"] == "recording"
                               for i in (1, 2)), 60)

        # A second daemon on the same root: refused at the lock, the first's socket untouched.
        rc, err = start_other(os.path.join(h.dir, "same-root.conf"), h.root, h.sock)
        check(rc != 0 and "Failed to lock" in err, f"second daemon on the root: {rc} {err!r}")
        # On another root but the same socket path: refused by the live socket.
        rc, err = start_other(os.path.join(h.dir, "other-root.conf"),
                              os.path.join(h.dir, "other-store"), h.sock)
        check(rc != 0 and "already answers" in err, f"second daemon on the socket: {rc} {err!r}")
        check(h.nvr("status", "--json", check_rc=False)[0] == 0,
              "the first daemon stopped answering after a second one was refused")

        # Not a socket at all: left alone.
        plain = os.path.join(h.dir, "not-a-socket")
        with open(plain, "w") as f:
            f.write("keep me\n")
        rc, err = start_other(os.path.join(h.dir, "plain.conf"),
                              os.path.join(h.dir, "plain-store"), plain)
        check(rc != 0 and "not a socket" in err, f"a file at the socket path: {rc} {err!r}")
        with open(plain) as f:
            check(f.read() == "keep me\n", "the daemon changed a file that is not its socket")
        check(h.stop_daemon() == 0, "the daemon did not exit cleanly")
        check(not os.path.exists(h.sock), "a clean stop left the socket behind")

        # systemd's readiness protocol (hearth.service is Type=notify): READY=1 only once the
        # daemon answers, STOPPING=1 on SIGTERM, and no worker inherits NOTIFY_SOCKET.
        notify_path = os.path.join(h.dir, "notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(notify_path)
        ns.settimeout(30)
        os.environ["NOTIFY_SOCKET"] = notify_path
        try:
            h.start_daemon(wait_socket=False)
        finally:
            del os.environ["NOTIFY_SOCKET"]
        msg = ns.recv(4096).decode()
        check(msg == "READY=1", f"first notification {msg!r}, expected READY=1")
        rc, _, err = h.nvr("status", "--json", check_rc=False)
        check(rc == 0, f"READY=1 came before the daemon answered: {err}")
        h.wait_for("both cameras recording after the notified start",
                   lambda: all(h.camera_status(f"cam{i}")["state"] == "recording"
                               for i in (1, 2)), 60)
        for c in h.status()["cameras"]:
            with open(f"/proc/{c['worker_pid']}/environ", "rb") as f:
                env = f.read().split(b"\0")
            check(not any(e.startswith(b"NOTIFY_SOCKET=") for e in env),
                  f"worker {c['worker_pid']} inherited NOTIFY_SOCKET")
        h.daemon.send_signal(signal.SIGTERM)
        msg = ns.recv(4096).decode()
        check(msg == "STOPPING=1", f"on SIGTERM {msg!r}, expected STOPPING=1")
        check(h.daemon.wait(timeout=20) == 0, "the notified daemon did not exit cleanly")
        ns.close()
        log("notify: READY=1 once answering, STOPPING=1 on SIGTERM, workers without NOTIFY_SOCKET")


if __name__ == "__main__":
    run(test)
