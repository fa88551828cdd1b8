"""The world the security and storm tests run in: the integration harness (real daemon, real
workers, fakecam on loopback) with the web API switched on ([web] socket + origin), fake cameras
added through the CLI, devices paired through the real API, and optionally lighttpd over TLS in
front (tests/integration/webfront.py).

Camera i is named cam<i> and shows ID code FIRST_CODE + i - 1: codes differ from catalog ids, so
a mix-up between the two cannot pass for a match."""

import contextlib
import os
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import Failure, Harness, check, log, run  # noqa: E402
import hearthclient as hc  # noqa: E402

__all__ = ["Failure", "Harness", "check", "log", "run", "World", "hc"]

FIRST_CODE = 101


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class World:
    """Wraps a started Harness. Use start(); everything is stopped by the Harness."""

    def __init__(self, h, via="unix"):
        self.h = h
        self.via = via                       # "unix" (straight to the daemon) or "tls" (lighttpd)
        self.web_sock = os.path.join(h.dir, "http.sock")
        self.port = free_port()
        self.origin = f"https://127.0.0.1:{self.port}"
        self.front = None                    # webfront.WebFront when via == "tls"
        self.cafile = None
        self.cams = {}                       # name -> catalog id
        self.extra_web = ""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.front is not None:
            if exc_type is not None:
                log(self.front.tail_logs())
            self.front.stop()
        return False

    @contextlib.contextmanager
    def db(self):
        """A read-only catalog connection, closed on exit. (Never keep one open across a daemon
        restart: SQLite shares the WAL index per file within a process, and a connection left
        for the garbage collector keeps the old, deleted -shm mapped, so new connections would
        read a stale snapshot.)"""
        conn = self.h.catalog()
        try:
            yield conn
        finally:
            conn.close()

    # ---- start-up ----

    def write_web_config(self, extra=""):
        """Appends the [web] section; the harness's config ends with its extra_config."""
        with open(self.h.conf, "a") as f:
            f.write(f"\n[web]\nsocket = {self.web_sock}\norigin = {self.origin}\n{extra}")

    def start(self, n_cameras, fakecam_args=(), sub=True, web_extra="", add_args=(),
              defer_fakecam=False):
        """fakecam, the daemon with [web], cameras cam1..camN, lighttpd (via tls). With
        @defer_fakecam the cameras are added on a port chosen now and fakecam starts only at
        start_fakecam(): set-up that restarts the daemon does not disturb recording."""
        h = self.h
        if self.via == "tls":
            import webfront    # tests/integration/webfront.py
            self.front = webfront.WebFront(h.root, self.web_sock, port=self.port,
                                           workdir=os.path.join(h.dir, "front"))
            self.cafile = self.front.cert
            web_extra += f"certificate = {self.cafile}\n"
        self.write_web_config(web_extra)
        self.n_cameras = n_cameras
        self.fakecam_args = ["--first-code", str(FIRST_CODE), *fakecam_args]
        if defer_fakecam:
            h.fakecam_port = free_port()
        else:
            h.start_fakecam(n_cameras, self.fakecam_args)
        h.start_daemon()
        for i in range(1, n_cameras + 1):
            args = ["cameras", "add", f"cam{i}", "--main-url", h.cam_url(i)]
            if sub:
                args += ["--sub-url", h.cam_url(i, "sub")]
            h.nvr(*args, *add_args)
        self.refresh_cameras()
        h.wait_for("the web socket", lambda: os.path.exists(self.web_sock), 20)
        if self.front is not None:
            self.front.start()
        return self

    def start_fakecam(self):
        """The deferred fakecam, on the port the cameras were added with."""
        port = self.h.fakecam_port
        got = self.h.start_fakecam(self.n_cameras, [*self.fakecam_args, "--port", str(port)])
        check(got == port, f"fakecam listens on {got}, not {port}")

    def restart_daemon(self):
        self.h.stop_daemon()
        self.h.start_daemon()
        self.h.wait_for("the web socket", lambda: os.path.exists(self.web_sock), 20)

    def transport(self, source=None):
        """@source (tls only): the loopback address to connect from, as another host would."""
        if self.via == "tls":
            return hc.Tls("127.0.0.1", self.port, self.cafile, source=source)
        return hc.Unix(self.web_sock)

    def client(self, name="client", source=None, **kw):
        return hc.Client(self.transport(source), self.origin, name=name, **kw)

    def refresh_cameras(self):
        with self.db() as db:
            self.cams = {r["name"]: r["id"] for r in db.execute(
                "SELECT id, name FROM cameras WHERE removed_us IS NULL")}
        return self.cams

    def code_of(self, camera_name):
        return FIRST_CODE + int(camera_name.removeprefix("cam")) - 1

    def name_of(self, camera_id):
        for n, i in self.cams.items():
            if i == camera_id:
                return n
        return None

    # ---- devices ----

    def paired(self, name, cameras, admin=False, source=None):
        """A Client paired through the real API with an invite from `nvr pair`."""
        code, _ = hc.invite(self.h, name, cameras, admin=admin)
        c = self.client(name, source=source)
        c.pair(code)
        c.acl = {self.cams[n] for n in cameras}
        c.admin = admin
        return c

    def device_id(self, client):
        return client.device["id"]

    # ---- catalog truth ----

    def segments(self, complete=True):
        """[(segment id, camera id, absolute path)]"""
        with self.db() as db:
            q = "SELECT id, camera_id, path FROM segments"
            if complete:
                q += " WHERE state = 'complete'"
            return [(r["id"], r["camera_id"], os.path.join(self.h.root, r["path"]))
                    for r in db.execute(q)]

    def events(self, with_thumbnail=True):
        """[(event id, camera id, absolute thumbnail path or None)]"""
        with self.db() as db:
            q = "SELECT id, camera_id, thumbnail FROM events"
            if with_thumbnail:
                q += " WHERE thumbnail IS NOT NULL"
            return [(r["id"], r["camera_id"],
                     os.path.join(self.h.root, r["thumbnail"]) if r["thumbnail"] else None)
                    for r in db.execute(q)]

    def devices(self):
        with self.db() as db:
            return {r["id"]: dict(r) for r in db.execute("SELECT * FROM devices")}

    def count(self, table):
        with self.db() as db:
            return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
