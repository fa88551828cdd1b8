#!/usr/bin/python3
"""The lighttpd front's config (packaging/lighttpd.conf.in), tested against a stand-in backend:
a small Python HTTP server on a unix socket in place of the daemon. It proves what lighttpd
itself must do whatever the daemon does: TLS only, static pages with the security headers,
/api/ passed through with the headers the daemon checks, X-Sendfile served (Range, 206) only
from <storage root>/recordings, endless responses streamed at once (HTTP/1.1 and HTTP/2), nothing
cached, one listening socket, a restart on the same port and certificate."""

import hashlib
import http.server
import json
import shutil
import os
import socket
import socketserver
import ssl
import stat
import subprocess
import tempfile
import threading
import time
import urllib.parse
import warnings

from harness import Failure, check, log, run
from webfront import WebFront

CATALOG_MARKER = b"CATALOG-SECRET-MARKER-3f9c"
SIBLING_MARKER = b"SIBLING-DIR-MARKER-77aa"


class Backend:
    """The stand-in daemon: answers on a unix socket, records what it saw."""

    def __init__(self, path):
        self.path = path
        self.seen = []            # (method, path, headers dict, body length)
        self.stream_ends = []     # monotonic time at which an endless response's write failed
        self.lock = threading.Lock()
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def address_string(self):
                return "unix"

            def _reply(self, status, body, ctype="application/json", extra=()):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in extra:
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass   # lighttpd closes once it has the X-Sendfile header

            def _record(self, body_len):
                with backend.lock:
                    backend.seen.append((self.command, self.path,
                                         {k.lower(): v for k, v in self.headers.items()},
                                         body_len))

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                self._record(len(body))
                self._reply(200, json.dumps({"received": len(body)}).encode())

            def do_GET(self):
                self._record(0)
                url = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/api/json":
                    self._reply(200, json.dumps({"path": self.path}).encode())
                elif url.path == "/api/cacheable":
                    # a careless backend: the front must still make this no-store
                    self._reply(200, b'{"x":1}', extra=[("Cache-Control", "public, max-age=3600")])
                elif url.path == "/api/sendfile":
                    # empty body + the header naming the file, as the daemon's media routes do
                    self._reply(200, b"", ctype=q.get("type", "video/mp4"),
                                extra=[(q.get("header", "X-Sendfile"), q["path"])])
                elif url.path == "/api/stream":
                    self.send_response(200)
                    self.send_header("Content-Type", "video/mp4")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    n = 0
                    try:
                        while True:
                            chunk = (f"fragment {n:08d} " + "x" * 40 + "\n").encode()
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                            self.wfile.flush()
                            n += 1
                            time.sleep(0.05)
                    except OSError:
                        with backend.lock:
                            backend.stream_ends.append(time.monotonic())
                else:
                    self._reply(404, b'{"error":"no route"}')

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        return False


def make_world(d):
    """Storage root with a catalog and recordings, a sibling dir, a web dir; returns paths."""
    root = os.path.join(d, "store")
    rec = os.path.join(root, "recordings")
    seg_dir = os.path.join(rec, "1-front", "2026-11-28")
    os.makedirs(seg_dir)
    seg = os.path.join(seg_dir, "120000-1.mp4")
    seg_bytes = os.urandom(300_000)
    with open(seg, "wb") as f:
        f.write(seg_bytes)
    with open(os.path.join(root, "catalog.db"), "wb") as f:
        f.write(b"SQLite format 3\0" + CATALOG_MARKER * 10)
    os.makedirs(rec + "-evil")
    with open(os.path.join(rec + "-evil", "x.mp4"), "wb") as f:
        f.write(SIBLING_MARKER * 10)
    os.symlink(os.path.join(root, "catalog.db"), os.path.join(rec, "1-front", "link.mp4"))

    web = os.path.join(d, "web")
    os.makedirs(os.path.join(web, "sub"))
    with open(os.path.join(web, "index.html"), "w") as f:
        f.write("<!doctype html><title>hearth test</title><script type=module src=app.js>"
                "</script>\n")
    with open(os.path.join(web, "app.js"), "w") as f:
        f.write("export const hearth = 1;\n")
    with open(os.path.join(web, "sub", "page.css"), "w") as f:
        f.write("body{}\n")
    with open(os.path.join(web, "README.md"), "w") as f:
        f.write("not for browsers\n")
    os.symlink(os.path.join(root, "catalog.db"), os.path.join(web, "catalog.html"))
    return root, rec, seg, seg_bytes, web


def raw_tls_get(front, path, read_bytes, deadline_s):
    """GET @path over TLS, HTTP/1.1; returns (seconds to the first @read_bytes body bytes or
    None, the connection) without closing it."""
    conn = front.connection(timeout=deadline_s)
    t0 = time.monotonic()
    conn.request("GET", path)
    got = b""
    try:
        r = conn.getresponse()
        check(r.status == 200, f"{path}: status {r.status}")
        while len(got) < read_bytes:
            chunk = r.read1(read_bytes - len(got))
            if not chunk:
                break
            got += chunk
    except (socket.timeout, TimeoutError):
        return None, conn, got
    return time.monotonic() - t0, conn, got


def listening_sockets(pid):
    """Every listening TCP socket, every UDP socket and every listening unix socket @pid holds,
    read from /proc (no tool needed)."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        with open(f"/proc/{pid}/net/{proto}") as f:
            next(f)
            for line in f:
                cols = line.split()
                local, state, inode = cols[1], cols[3], cols[9]
                if inode in inodes and (proto.startswith("udp") or state == "0A"):
                    found.append((proto, local))
    with open(f"/proc/{pid}/net/unix") as f:
        next(f)
        for line in f:
            cols = line.split()
            flags, inode = int(cols[3], 16), cols[6]
            if inode in inodes and flags & 0x10000:   # __SO_ACCEPTCON: listening
                found.append(("unix", cols[7] if len(cols) > 7 else ""))
    return found


def test():
    d = tempfile.mkdtemp(prefix="hearth-front-test-")
    root, rec, seg, seg_bytes, web = make_world(d)
    api = os.path.join(d, "http.sock")
    passwd = open("/etc/passwd", "rb").read()
    # The front is given symlinks to the storage root and web/ (as an install whose storage
    # lives on another disk would): it must still serve both, by their real paths.
    os.symlink(root, os.path.join(d, "root-link"))
    os.symlink(web, os.path.join(d, "web-link"))
    with Backend(api) as backend, WebFront(os.path.join(d, "root-link"), api,
                                           web_dir=os.path.join(d, "web-link"),
                                           workdir=os.path.join(d, "front")) as front:
        log(f"lighttpd pid {front.pid} on {front.origin}, fingerprint {front.fingerprint}")

        # ---- TLS: the certificate hearth-tls.sh printed, TLS >= 1.2, a private key ----
        key_mode = stat.S_IMODE(os.stat(front.key).st_mode)
        check(key_mode == 0o600, f"key mode {oct(key_mode)}, expected 0600")
        with socket.create_connection(("127.0.0.1", front.port), timeout=5) as s, \
                front.ssl_context().wrap_socket(s, server_hostname="127.0.0.1") as t:
            der = t.getpeercert(binary_form=True)
            version = t.version()
        served = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
        check(served == front.fingerprint,
              f"served certificate {served} is not the printed one {front.fingerprint}")
        check(version in ("TLSv1.2", "TLSv1.3"), f"negotiated {version}")
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname = False
        old.verify_mode = ssl.CERT_NONE
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            with socket.create_connection(("127.0.0.1", front.port), timeout=5) as s, \
                    old.wrap_socket(s, server_hostname="127.0.0.1") as t:
                raise Failure(f"a {t.version()} handshake was accepted")
        except ssl.SSLError as e:
            if "NO_PROTOCOLS_AVAILABLE" in str(e):
                log("TLS 1.1 not offered by this Python/OpenSSL; that check is skipped")
            else:
                log(f"TLS 1.1 refused: {e.reason}")

        for ciphers in ("AES128-SHA:AES256-SHA:AES128-GCM-SHA256",   # no forward secrecy
                        "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA"):  # CBC
            weak = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            weak.check_hostname = False
            weak.verify_mode = ssl.CERT_NONE
            weak.maximum_version = ssl.TLSVersion.TLSv1_2
            weak.set_ciphers(ciphers + ":@SECLEVEL=0")
            try:
                with socket.create_connection(("127.0.0.1", front.port), timeout=5) as s, \
                        weak.wrap_socket(s, server_hostname="127.0.0.1") as t:
                    raise Failure(f"TLS 1.2 with {t.cipher()[0]} was accepted")
            except ssl.SSLError:
                pass
        log("TLS: the printed certificate, 1.2+, forward-secret AEAD suites only")

        # ---- (f) plain http on the TLS port: no HTTP answer, not a byte of a page ----
        with socket.create_connection(("127.0.0.1", front.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            plain = b""
            try:
                while len(plain) < 65536:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    plain += chunk
            except (socket.timeout, ConnectionResetError):
                pass
        check(b"hearth test" not in plain and not plain.startswith(b"HTTP/1.1 2")
              and not plain.startswith(b"HTTP/1.0 2"), f"plain http answered: {plain[:200]!r}")
        log(f"plain http on the TLS port: {len(plain)} bytes back, connection closed")

        # ---- (e) static pages over TLS with the security headers ----
        status, h, body = front.get("/")
        check(status == 200 and b"hearth test" in body, f"GET / -> {status} {body[:80]!r}")
        csp = h.get("content-security-policy", "")
        for want in ("script-src 'self'", "media-src 'self' blob:", "frame-ancestors 'none'",
                     "object-src 'none'"):
            check(want in csp, f"CSP lacks {want!r}: {csp!r}")
        check("unsafe-inline" not in csp and "unsafe-eval" not in csp, f"CSP too wide: {csp}")
        check(h.get("x-content-type-options") == "nosniff", "static page without nosniff")
        check(h.get("referrer-policy") == "no-referrer", "static page without Referrer-Policy")
        check(h.get("x-frame-options") == "DENY", "static page without X-Frame-Options DENY")
        check("server" not in h, f"the front names itself: {h.get('server')}")
        status, h, body = front.get("/app.js")
        check(status == 200 and h.get("content-type", "").startswith("text/javascript"),
              f"app.js -> {status} {h.get('content-type')} (a module needs a JS type)")
        status, h, _ = front.get("/sub/page.css")
        check(status == 200 and h.get("content-type", "").startswith("text/css"), "css type")
        for path in ("/sub/", "/README.md", "/catalog.html", "/../store/catalog.db",
                     "/%2e%2e/store/catalog.db", "/api/../store/catalog.db"):
            status, h, body = front.get(path)
            check(status in (403, 404), f"GET {path} -> {status}")
            check(CATALOG_MARKER not in body and b"page.css" not in body,
                  f"GET {path} leaked: {body[:120]!r}")
        log("static: index, module type, headers; no listing, no README, no symlink, no ..")

        # ---- /api/: passed through with what the daemon checks ----
        status, h, body = front.request(
            "GET", "/api/json?from_us=1&to_us=2",
            headers={"Origin": front.origin, "Sec-Fetch-Site": "same-origin",
                     "Cookie": "__Host-hearth=tok"})
        check(status == 200 and json.loads(body)["path"] == "/api/json?from_us=1&to_us=2",
              f"/api/json -> {status} {body!r}")
        seen = backend.seen[-1][2]
        for k, v in (("origin", front.origin), ("sec-fetch-site", "same-origin"),
                     ("cookie", "__Host-hearth=tok")):
            check(seen.get(k) == v, f"the backend got {k}={seen.get(k)!r}, expected {v!r}")
        status, _, body = front.request("POST", "/api/echo", body={"pad": "x" * 16000})
        check(status == 200 and json.loads(body)["received"] > 16000, f"16 KB POST -> {status}")
        n_seen = len(backend.seen)
        # Headers announcing a 100 KB body, then a first part: lighttpd answers 413 from the
        # Content-Length alone (sending the whole body would race with its close).
        with socket.create_connection(("127.0.0.1", front.port), timeout=10) as s, \
                front.ssl_context().wrap_socket(s, server_hostname="127.0.0.1") as t:
            t.sendall(f"POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {front.origin}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                      .encode() + b'{"pad": "' + b"x" * 1000)
            first = t.recv(4096)
        check(first.startswith(b"HTTP/1.1 413"), f"100 KB POST -> {first[:40]!r}, expected 413")
        check(len(backend.seen) == n_seen, "an oversized body reached the backend")

        # ---- (g) nothing about /api/ may be cached ----
        for path in ("/api/json", "/api/cacheable",
                     "/api/sendfile?" + urllib.parse.urlencode({"path": seg})):
            status, h, _ = front.get(path)
            check(status == 200, f"{path} -> {status}")
            check(h.get("cache-control") == "no-store",
                  f"{path}: Cache-Control {h.get('cache-control')!r}, expected no-store")
            check("expires" not in h, f"{path}: the front added Expires")
            check(h.get("x-content-type-options") == "nosniff", f"{path}: no nosniff")
        log("api: headers through, 413 at the front, every answer no-store")

        # ---- (b) X-Sendfile under recordings/: the file, Range -> 206 with its bytes ----
        q = "/api/sendfile?" + urllib.parse.urlencode({"path": seg})
        status, h, body = front.get(q)
        check(status == 200 and body == seg_bytes,
              f"X-Sendfile: {status}, {len(body)} bytes, expected {len(seg_bytes)}")
        check(h.get("content-type") == "video/mp4", f"type {h.get('content-type')}")
        check(not any(k.startswith("x-sendfile") or k.startswith("x-lighttpd") for k in h),
              "the X-Sendfile header reached the client")
        check("etag" in h and h.get("accept-ranges") == "bytes", "no ETag / Accept-Ranges")
        status, h, body = front.get(q, headers={"Range": "bytes=1000-1999"})
        check(status == 206 and body == seg_bytes[1000:2000],
              f"Range: {status}, {len(body)} bytes, right bytes: {body == seg_bytes[1000:2000]}")
        check(h.get("content-range") == f"bytes 1000-1999/{len(seg_bytes)}",
              f"Content-Range {h.get('content-range')}")
        status, h, body = front.get(q, headers={"Range": "bytes=-500"})
        check(status == 206 and body == seg_bytes[-500:], f"suffix range -> {status}")
        # lighttpd refuses any path with a symlink in it, so the daemon must name files by the
        # storage root's real path; the symlinked spelling is refused, not followed.
        via_link = seg.replace(root, os.path.join(d, "root-link"), 1)
        status, _, body = front.get("/api/sendfile?" + urllib.parse.urlencode({"path": via_link}))
        check(status == 403 and seg_bytes[:64] not in body, f"symlinked spelling -> {status}")
        log("x-sendfile: whole file 200, ranges 206 with the right bytes; symlinked path 403")

        # ---- (c) X-Sendfile outside recordings/: refused, zero bytes of it ----
        outside = ["/etc/passwd",
                   os.path.join(rec, "..", "catalog.db"),
                   os.path.join(root, "catalog.db"),
                   rec + "/1-front/../../catalog.db",
                   rec + "/%2e%2e/catalog.db",
                   rec + "-evil/x.mp4",
                   os.path.join(rec, "1-front", "link.mp4"),
                   rec, "recordings/1-front/2026-11-28/120000-1.mp4"]
        for header in ("X-Sendfile", "X-LIGHTTPD-send-file", "X-Sendfile2"):
            for target in outside:
                value = target
                if header == "X-Sendfile2":
                    value = urllib.parse.quote(target) + " 0-100"
                path = "/api/sendfile?" + urllib.parse.urlencode({"path": value,
                                                                  "header": header})
                status, h, body = front.get(path)
                # mod_proxy acts on X-Sendfile (403 outside the docroot); its other spellings
                # are not acted on (the backend's empty body) and not passed to the client.
                if header == "X-Sendfile":
                    check(status == 403, f"{header}: {target} -> {status}, {len(body)} bytes")
                else:
                    check(body == b"", f"{header}: {target} -> {status}, {len(body)} bytes")
                check(not any(k.startswith("x-sendfile") or k.startswith("x-lighttpd")
                              for k in h), f"{header} reached the client")
                for secret in (CATALOG_MARKER, SIBLING_MARKER, passwd[:32]):
                    check(secret not in body, f"{header}: {target} leaked its bytes")
                check(len(body) < 1024 and b"root:" not in body, f"{header}: {target} body")
        log(f"x-sendfile outside recordings/: {3 * len(outside)} attempts refused, 0 bytes")

        # ---- (d) an endless response starts at once ----
        took, conn, got = raw_tls_get(front, "/api/stream", 300, 5)
        check(took is not None and len(got) >= 300,
              f"endless response: {len(got)} bytes within 5 s (stream-response-body?)")
        check(got.startswith(b"fragment 00000000"), f"stream starts with {got[:30]!r}")
        check(took < 1.0, f"first 300 bytes of an endless response after {took:.2f} s")
        log(f"endless response: first 300 bytes after {took * 1000:.0f} ms")
        ends_before = len(backend.stream_ends)
        closed_at = time.monotonic()
        conn.close()
        deadline = closed_at + 5
        while len(backend.stream_ends) == ends_before and time.monotonic() < deadline:
            time.sleep(0.05)
        check(len(backend.stream_ends) > ends_before,
              "the backend still streams 5 s after the client went away")
        log(f"client gone -> backend stream ended after "
            f"{(backend.stream_ends[-1] - closed_at) * 1000:.0f} ms")

        # ---- the same over HTTP/2, which browsers negotiate (ALPN) ----
        curl = shutil.which("curl")
        check(curl is not None, "curl is missing (packaging/install-deps.sh installs it)")
        r = subprocess.run([curl, "--http2", "-sN", "--cacert", front.cert, "--max-time", "1.5",
                            "-o", "-", "-w", "\n%{http_version}", front.origin + "/api/stream"],
                           capture_output=True, timeout=30)
        version = r.stdout.rsplit(b"\n", 1)[-1]
        check(version == b"2" and r.stdout.startswith(b"fragment 00000000")
              and len(r.stdout) >= 300,
              f"HTTP/{version.decode()}: {len(r.stdout)} bytes of an endless response in 1.5 s")
        part = os.path.join(d, "h2part")
        r = subprocess.run([curl, "--http2", "-s", "--cacert", front.cert, "-r", "1000-1999",
                            "-o", part, "-w", "%{http_version} %{http_code}", front.origin + q],
                           capture_output=True, text=True, timeout=30)
        check(r.stdout == "2 206" and open(part, "rb").read() == seg_bytes[1000:2000],
              f"HTTP/2 range: {r.stdout}")
        log("HTTP/2: the endless response streams, ranges are 206 with the right bytes")

        # ---- one listening socket: the TLS port ----
        socks = listening_sockets(front.pid)
        check(socks == [("tcp", f"0100007F:{front.port:04X}")],
              f"lighttpd listens on {socks}, expected only 127.0.0.1:{front.port}")

        # ---- restart: same port, same certificate, answers again ----
        old_pid = front.pid
        t0 = time.monotonic()
        front.restart()
        restart_s = time.monotonic() - t0
        check(front.pid != old_pid, "restart kept the old process")
        status, _, body = front.get("/api/json")
        check(status == 200, f"after restart /api/json -> {status}")
        with socket.create_connection(("127.0.0.1", front.port), timeout=5) as s, \
                front.ssl_context().wrap_socket(s, server_hostname="127.0.0.1") as t:
            check(t.getpeercert(binary_form=True) == der, "restart changed the certificate")
        log(f"restart: answering again after {restart_s * 1000:.0f} ms, same port and certificate")
    if not os.environ.get("HEARTH_KEEP_TMP"):
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    run(test)
