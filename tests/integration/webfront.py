"""The lighttpd front for tests: generates the config (packaging/hearth-web-conf.sh) into a
temporary directory with a free loopback port, makes the certificate (packaging/hearth-tls.sh),
runs `lighttpd -D` in its own process group, waits until it answers TLS, restarts it on demand,
and always stops it (context manager, and atexit as a last resort).

    front = WebFront(storage_root, api_socket, web_dir)   # port, origin, cert known now:
    ... write "[web] origin = {front.origin}", "certificate = {front.cert}", start the daemon ...
    with front:                          # starts lighttpd; stops it on the way out
        front.get("/api/v1/me")          # -> (status, headers, body)
        front.restart()                  # same port, same certificate (~0.1 s)
"""

import atexit
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

from harness import Failure

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONF_SCRIPT = os.path.join(TOP, "packaging", "hearth-web-conf.sh")
TLS_SCRIPT = os.path.join(TOP, "packaging", "hearth-tls.sh")
LIGHTTPD = shutil.which("lighttpd") or "/usr/sbin/lighttpd"


class FrontError(Failure):
    pass


def free_port(address="127.0.0.1"):
    s = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    s.bind((address, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class WebFront:
    """One lighttpd. storage_root: the daemon's [storage] root (X-Sendfile is limited to its
    recordings/); api_socket: the daemon's [web] socket; web_dir: static pages (default: the
    repository's web/); address/port: the TLS listener (port 0 = a free one, kept across
    restarts)."""

    def __init__(self, storage_root, api_socket, web_dir=None, address="127.0.0.1", port=0,
                 workdir=None):
        self.storage_root = os.path.abspath(storage_root)
        self.recordings = os.path.join(self.storage_root, "recordings")
        self.api_socket = os.path.abspath(api_socket)
        self.web_dir = os.path.abspath(web_dir or os.path.join(TOP, "web"))
        self.address = address
        self.port = port or free_port(address)
        self._own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="hearth-front-")
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "lighttpd.conf")
        self.cert = os.path.join(self.dir, "tls", "cert.pem")
        self.key = os.path.join(self.dir, "tls", "key.pem")
        self.errorlog = os.path.join(self.dir, "lighttpd-error.log")
        self.stdout_log = os.path.join(self.dir, "lighttpd.out")
        self.proc = None
        self.fingerprint = None
        self.starts = 0
        self._generate()
        atexit.register(self.stop)

    # ---- configuration and certificate ----

    def _generate(self):
        r = subprocess.run(["bash", TLS_SCRIPT, "--cert", self.cert, "--key", self.key,
                            "--host", self.address.strip("[]")],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise FrontError(f"hearth-tls.sh failed ({r.returncode}): {r.stderr}")
        self.fingerprint = r.stdout.strip()
        r = subprocess.run(["bash", CONF_SCRIPT, "--out", self.conf, "--address", self.address,
                            "--port", str(self.port), "--web-dir", self.web_dir,
                            "--api-socket", self.api_socket, "--storage-root", self.storage_root,
                            "--cert", self.cert, "--key", self.key, "--errorlog", self.errorlog],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise FrontError(f"hearth-web-conf.sh failed ({r.returncode}): {r.stderr}")

    @property
    def origin(self):
        return f"https://{self.address}:{self.port}" if self.port != 443 else \
            f"https://{self.address}"

    def ssl_context(self):
        """A client context that trusts exactly this front's certificate."""
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.check_hostname = True
        return ctx

    # ---- process ----

    def start(self, timeout=15):
        if self.proc is not None and self.proc.poll() is None:
            return
        out = open(self.stdout_log, "a")
        self.proc = subprocess.Popen([LIGHTTPD, "-D", "-f", self.conf], stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        out.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise FrontError(f"lighttpd exited with status {self.proc.returncode}: "
                                 f"{self.tail_logs()}")
            try:
                self._probe()
                return
            except (OSError, ssl.SSLError, http.client.HTTPException) as e:
                last = e
            time.sleep(0.05)
        self.stop()
        raise FrontError(f"lighttpd did not answer on {self.origin} within {timeout} s: {last}")

    def _probe(self):
        conn = http.client.HTTPSConnection(self.address.strip("[]"), self.port,
                                           context=self.ssl_context(), timeout=2)
        try:
            conn.request("GET", "/")
            conn.getresponse().read()
        finally:
            conn.close()

    def stop(self, timeout=5):
        """SIGTERM (lighttpd ends at once, closing every connection), SIGKILL after @timeout."""
        p = self.proc
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()

    def restart(self):
        self.stop()
        self.start()

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def tail_logs(self, lines=40):
        text = ""
        for path in (self.errorlog, self.stdout_log):
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    text += f"---- {os.path.basename(path)} ----\n" + \
                        "".join(f.readlines()[-lines:])
        return text

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is not None:
            print(self.tail_logs(), flush=True)
        if self._own_dir and exc_type is None and not os.environ.get("HEARTH_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        return False

    # ---- client helpers ----

    def connection(self, timeout=10):
        return http.client.HTTPSConnection(self.address.strip("[]"), self.port,
                                           context=self.ssl_context(), timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=10):
        """One request on a fresh TLS connection: (status, headers as a lower-cased dict, body).
        JSON bodies (dict/list) are sent with the headers a same-origin page would send."""
        import json
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
            h.setdefault("Origin", self.origin)
            h.setdefault("Sec-Fetch-Site", "same-origin")
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def get(self, path, headers=None, timeout=10):
        return self.request("GET", path, headers=headers, timeout=timeout)
