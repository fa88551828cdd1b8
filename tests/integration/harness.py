"""Integration-test harness: starts fakecam and the real daemon on loopback and unix sockets in a
temporary directory, drives the real CLI, inspects the catalog read-only, and always cleans up.

Paths come from the environment meson sets (BUILD_DIR, NVR_BIN); nothing here needs a real camera
or the network beyond 127.0.0.1."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("BUILD_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "build"))
NVR = os.environ.get("NVR_BIN") or os.path.join(BUILD, "nvr", "nvr")
FAKECAM = os.path.join(BUILD, "tests", "fakecam", "fakecam")
IDREAD = os.path.join(BUILD, "tests", "idreader", "idread")
CACHE = os.environ.get("FAKECAM_CACHE") or os.path.join(BUILD, "fakecam-cache")


def log(*args):
    print(*args, flush=True)


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


class Problems:
    """Checks that let a test go on after a failure: expect() logs and keeps each problem,
    check_none() fails with all of them at the end."""

    def __init__(self):
        self.found = []

    def expect(self, cond, message):
        if not cond:
            log(f"PROBLEM: {message}")
            self.found.append(message)
        return cond

    def check_none(self):
        check(not self.found, f"{len(self.found)} problem(s): " + "; ".join(self.found))


class _ClosingConnection(sqlite3.Connection):
    """sqlite3's own context manager only commits or rolls back; this one also closes."""

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self.close()
        return False


class Harness:
    """One test's world. Use as a context manager; everything it started is stopped on exit."""

    def __init__(self, name, segment_seconds=10, backoff_initial_ms=500, backoff_max_ms=4000,
                 watchdog_seconds=5, extra_config=""):
        self.dir = tempfile.mkdtemp(prefix=f"hearth-{name}-")
        self.root = os.path.join(self.dir, "store")
        self.sock = os.path.join(self.dir, "admin.sock")
        self.conf = os.path.join(self.dir, "hearth.conf")
        self.procs = []
        self.fakecam = None
        self.fakecam_port = None
        self.control = os.path.join(self.dir, "fakecam.sock")
        self.daemon = None
        self.daemon_log = os.path.join(self.dir, "nvr.log")
        with open(self.conf, "w") as f:
            f.write(f"""[daemon]
admin_socket = {self.sock}
[storage]
root = {self.root}
segment_seconds = {segment_seconds}
[recording]
transport = tcp
watchdog_seconds = {watchdog_seconds}
backoff_initial_ms = {backoff_initial_ms}
backoff_max_ms = {backoff_max_ms}
{extra_config}""")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        if exc_type is not None:
            self.dump_logs()
        if exc_type is None and not os.environ.get("HEARTH_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            log(f"test files kept in {self.dir}")
        return False

    def dump_logs(self):
        for name in ("nvr.log", "fakecam.log"):
            path = os.path.join(self.dir, name)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    lines = f.readlines()
                log(f"---- last lines of {name} ----")
                sys.stdout.write("".join(lines[-60:]))

    # ---- fake cameras ----

    def start_fakecam(self, cameras, extra=()):
        os.makedirs(CACHE, exist_ok=True)
        out = open(os.path.join(self.dir, "fakecam.out"), "w+")
        err = open(os.path.join(self.dir, "fakecam.log"), "w")
        p = subprocess.Popen([FAKECAM, "--cameras", str(cameras), "--control", self.control,
                              "--cache", CACHE, *extra], stdout=out, stderr=err,
                             start_new_session=True)
        self.procs.append(p)
        self.fakecam = p
        deadline = time.monotonic() + 300   # first run encodes clips
        while time.monotonic() < deadline:
            out.seek(0)
            for line in out.read().splitlines():
                if line.startswith("READY port="):
                    self.fakecam_port = int(line.split("=", 1)[1])
                    return self.fakecam_port
            check(p.poll() is None, f"fakecam exited with status {p.returncode}")
            time.sleep(0.1)
        raise Failure("fakecam did not print READY")

    def cam_url(self, index, stream="main"):
        return f"rtsp://127.0.0.1:{self.fakecam_port}/cam{index}/{stream}"

    def fakecam_control(self, command):
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.control)
        s.sendall(command.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
        s.close()
        reply = reply.decode().strip()
        check(reply.startswith("OK") or command == "status", f"fakecam '{command}': {reply}")
        return reply

    # ---- daemon and CLI ----

    def start_daemon(self, wait_socket=True):
        logf = open(self.daemon_log, "a")
        p = subprocess.Popen([NVR, "run", "--config", self.conf], stdout=logf,
                             stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        self.daemon = p
        if wait_socket:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if os.path.exists(self.sock) and self.nvr("status", "--json", check_rc=False)[0] == 0:
                    return p
                check(p.poll() is None, f"daemon exited with status {p.returncode}")
                time.sleep(0.1)
            raise Failure("daemon did not open its admin socket")
        return p

    def stop_daemon(self, timeout=20):
        p = self.daemon
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=timeout)
        return p.returncode

    def nvr(self, *args, check_rc=True):
        r = subprocess.run([NVR, *args, "--config", self.conf], capture_output=True, text=True,
                           timeout=60)
        if check_rc:
            check(r.returncode == 0, f"nvr {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r.returncode, r.stdout, r.stderr

    def status(self):
        return json.loads(self.nvr("status", "--json")[1])

    def camera_status(self, name):
        for c in self.status()["cameras"]:
            if c["name"] == name:
                return c
        raise Failure(f"camera {name} not in status")

    def wait_for(self, what, predicate, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.25)
        raise Failure(f"timed out after {timeout} s waiting for {what}")

    # ---- catalog and files ----

    def catalog(self):
        """A read-only connection; `with h.catalog() as db:` closes it at the end of the block.
        (One left open for the garbage collector across a daemon restart keeps the old WAL index
        mapped, and later connections in this process would read a stale snapshot.)"""
        db = sqlite3.connect(f"file:{os.path.join(self.root, 'catalog.db')}?mode=ro", uri=True,
                             factory=_ClosingConnection)
        db.row_factory = sqlite3.Row
        return db

    def segments(self, camera_name=None):
        with self.catalog() as db:
            q = ("SELECT s.*, c.name AS camera FROM segments s JOIN cameras c ON c.id = s.camera_id")
            if camera_name:
                return [dict(r) for r in db.execute(q + " WHERE c.name = ? ORDER BY s.start_us",
                                                    (camera_name,))]
            return [dict(r) for r in db.execute(q + " ORDER BY s.id")]

    def files_on_disk(self):
        out = set()
        rec = os.path.join(self.root, "recordings")
        for dirpath, _, files in os.walk(rec):
            for f in files:
                if f.endswith(".mp4"):
                    out.add(os.path.relpath(os.path.join(dirpath, f), self.root))
        return out


def idread(path):
    """Decodes every frame of @path; returns idread's JSON summary."""
    r = subprocess.run([IDREAD, "--json", path], capture_output=True, text=True, timeout=120)
    check(r.returncode in (0, 1), f"idread {path} failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout)


def run(test):
    """Runs @test(), prints PASS/FAIL, and exits with a status meson understands."""
    try:
        test()
    except Failure as e:
        log(f"FAIL: {e}")
        sys.exit(1)
    log("PASS")
    sys.exit(0)
