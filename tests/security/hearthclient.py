"""A Hearth web-API client for the security and storm tests: pairs a device exactly as a browser
does (docs/design/auth.md "Messages": `nvr pair` code -> pair/begin -> Ed25519 signature over the
origin-bound message -> pair/finish -> session cookie), logs in, and sends any request with
chosen headers. It talks either straight to the daemon's unix socket (HTTP/1.1 over AF_UNIX) or
through lighttpd over TLS (trusting the generated self-signed certificate), never anything else.

Nothing here decides what is allowed: tests compare what the server answered with what they
expect from the invites they made."""

import base64
import http.client
import json
import re
import socket
import ssl
import subprocess
import time

import nacl.bindings
import nacl.signing

COOKIE = "__Host-hearth"
CODE_RE = re.compile(r"\b([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})\b")
MAX_BODY = 64 * 1024 * 1024      # no response we read may be larger than this


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def normalise_code(code):
    """Upper case, no separators, O->0, I/L->1 (docs/design/auth.md "Invite codes")."""
    c = code.upper().replace("-", "").replace(" ", "")
    return c.replace("O", "0").replace("I", "1").replace("L", "1")


def pair_message(origin, code, nonce, public_key_b64):
    return ("hearth-pair-v1\n" + origin + "\n" + normalise_code(code) + "\n" + nonce + "\n"
            + public_key_b64).encode()


def login_message(origin, nonce, public_key_b64):
    return ("hearth-login-v1\n" + origin + "\n" + nonce + "\n" + public_key_b64).encode()


def invite(h, name, cameras, admin=False, ttl=None):
    """Runs `nvr pair` (the real CLI, on the admin socket) and returns (code, full stdout)."""
    args = ["pair", "--name", name, "--cameras", ",".join(cameras)]
    if admin:
        args.append("--admin")
    if ttl is not None:
        args += ["--ttl", ttl]
    _, out, _ = h.nvr(*args)
    m = CODE_RE.search(out)
    if not m:
        raise RuntimeError(f"no code in `nvr pair` output: {out!r}")
    return m.group(1), out


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Unix:
    """Straight to the daemon: media routes answer with an empty body and X-Sendfile."""
    tls = False

    def __init__(self, path):
        self.path = path

    def connect(self, timeout):
        return UnixHTTPConnection(self.path, timeout)

    def __repr__(self):
        return f"unix:{self.path}"


class Tls:
    """Through lighttpd: HTTPS on loopback, trusting only @cafile (the self-signed certificate).
    @source: the local address to connect from (another loopback address is another LAN host
    to lighttpd's per-client limits and to the daemon's, which see it in X-Forwarded-For)."""
    tls = True

    def __init__(self, host, port, cafile, server_hostname=None, source=None):
        self.host, self.port = host, port
        self.source = (source, 0) if source else None
        self.ctx = ssl.create_default_context(cafile=cafile)
        if server_hostname is None:
            # The certificate names the host browsers use; without a matching SAN we still pin
            # the certificate itself (it is the only trust anchor), only the name is not checked.
            self.ctx.check_hostname = _cert_names_host(cafile, host)

    def connect(self, timeout):
        return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.ctx,
                                           source_address=self.source)

    def __repr__(self):
        via = f" from {self.source[0]}" if self.source else ""
        return f"https://{self.host}:{self.port}{via}"


def _cert_names_host(cafile, host):
    """TRUE if the certificate's subjectAltName lists @host (openssl prints "IP Address:..")."""
    r = subprocess.run(["openssl", "x509", "-in", cafile, "-noout", "-ext", "subjectAltName"],
                       capture_output=True, text=True)
    names = re.split(r"[,\s]+", r.stdout)
    return any(n.split(":", 1)[-1] == host for n in names if ":" in n)


class Response:
    def __init__(self, status, headers, body, truncated=False, elapsed=0.0):
        self.status = status
        self.headers = headers            # [(name, value)] as received
        self.body = body
        self.truncated = truncated        # we stopped reading (streams)
        self.elapsed = elapsed

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body)

    def set_cookies(self):
        return self.header_all("Set-Cookie")

    def cookie_value(self, name=COOKIE):
        for sc in self.set_cookies():
            first = sc.split(";", 1)[0]
            k, _, v = first.partition("=")
            if k.strip() == name:
                return v.strip()
        return None

    def __repr__(self):
        b = self.body[:200]
        return f"<{self.status} {dict((k.lower(), v) for k, v in self.headers)} {b!r}>"


class Client:
    """One device (or a would-be device). Not thread-safe: one Client per thread."""

    def __init__(self, transport, origin, name="client", timeout=15, key=None, retry_stale=True):
        self.transport = transport
        self.retry_stale = retry_stale    # resend once when a kept-alive connection was closed
        self.stale_retries = 0
        self.origin = origin
        self.name = name
        self.timeout = timeout
        self.key = key or nacl.signing.SigningKey.generate()
        self.token = None                 # the session cookie's value
        self.device = None                # the device JSON from pair/login finish
        self.conn = None

    @property
    def public_key(self):
        return b64u(bytes(self.key.verify_key))

    # ---- plumbing ----

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None

    def request(self, method, path, body=None, raw=None, headers=None, cookie=True,
                origin=True, fetch_site="same-origin", content_type="application/json",
                stream_seconds=None, max_bytes=MAX_BODY, fresh=False):
        """Sends one request; returns a Response. @body is JSON-encoded; @raw is sent as is.
        @cookie: True = this client's session (if any), None/False = none, str = that value.
        @origin/@fetch_site: True/str/None (None = header left out). For POST/PUT/DELETE the
        mutation headers are added unless set to None. @stream_seconds: read at most this long
        (live streams) and then close the connection. Transport errors raise OSError or
        http.client.HTTPException; the connection is dropped so the next call reconnects."""
        hdrs = {}
        mutation = method in ("POST", "PUT", "DELETE", "PATCH")
        if body is not None:
            raw = json.dumps(body).encode()
        if mutation or raw is not None:
            if content_type is not None:
                hdrs["Content-Type"] = content_type
            if origin is True:
                hdrs["Origin"] = self.origin
            elif origin:
                hdrs["Origin"] = origin
            if fetch_site:
                hdrs["Sec-Fetch-Site"] = fetch_site
        if raw is None and mutation:
            raw = b""
        if cookie is True and self.token:
            hdrs["Cookie"] = f"{COOKIE}={self.token}"
        elif isinstance(cookie, str):
            hdrs["Cookie"] = cookie
        for k, v in (headers or {}).items():
            if v is None:
                hdrs.pop(k, None)
            else:
                hdrs[k] = v
        if fresh or stream_seconds is not None:
            self.close()
        reused = self.conn is not None
        if self.conn is None:
            self.conn = self.transport.connect(self.timeout)
        t0 = time.monotonic()
        try:
            try:
                self.conn.request(method, path, body=raw, headers=hdrs)
                r = self.conn.getresponse()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                # The server closed the kept-alive connection (it restarted, or timed the
                # connection out) before reading this request: what browsers do, resend once.
                if not (reused and self.retry_stale):
                    raise
                self.stale_retries += 1
                self.close()
                self.conn = self.transport.connect(self.timeout)
                self.conn.request(method, path, body=raw, headers=hdrs)
                r = self.conn.getresponse()
            if stream_seconds is None:
                data = r.read(max_bytes + 1)
                truncated = len(data) > max_bytes
                length = r.getheader("Content-Length")
                if not truncated and length is not None and length.isdigit() and \
                        len(data) < int(length):
                    # read(amt) returns short data instead of raising when the peer closes.
                    raise http.client.IncompleteRead(data, int(length) - len(data))
                if truncated or r.will_close:
                    self.close()
            else:
                data, truncated = _read_for(r, self.conn, stream_seconds, max_bytes)
                self.close()
        except BaseException:
            self.close()
            raise
        resp = Response(r.status, r.getheaders(), data, truncated, time.monotonic() - t0)
        value = resp.cookie_value()
        if value is not None:
            self.token = value or None
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body={} if body is None and "raw" not in kw else body,
                            **kw)

    # ---- pairing and login ----

    def pair_begin(self, code, **kw):
        return self.post("/api/v1/pair/begin", {"code": code}, **kw)

    def pair_finish(self, code, nonce, public_key=None, signature=None, message_origin=None,
                    key=None, **kw):
        """Signs as a browser would unless @signature is given. @message_origin signs another
        origin than the configured one; @key signs with another key than @public_key's."""
        pk = public_key if public_key is not None else self.public_key
        if signature is None:
            msg = pair_message(message_origin or self.origin, code, nonce, pk)
            signature = b64u((key or self.key).sign(msg).signature)
        return self.post("/api/v1/pair/finish", {"code": code, "nonce": nonce, "public_key": pk,
                                                  "signature": signature}, **kw)

    def pair(self, code, patience_s=120):
        """The whole pairing; waits out the pairing rate limit (429) up to @patience_s."""
        deadline = time.monotonic() + patience_s
        r = _retry_429(lambda: self.pair_begin(code), deadline)
        if r.status != 200:
            raise RuntimeError(f"{self.name}: pair/begin {code}: {r!r}")
        nonce = r.json()["nonce"]
        r = _retry_429(lambda: self.pair_finish(code, nonce), deadline)
        if r.status != 200 or not self.token:
            raise RuntimeError(f"{self.name}: pair/finish: {r!r}")
        self.device = r.json()["device"]
        return r

    def login(self, patience_s=120):
        deadline = time.monotonic() + patience_s
        r = _retry_429(lambda: self.post("/api/v1/login/begin", {"public_key": self.public_key}),
                       deadline)
        if r.status != 200:
            raise RuntimeError(f"{self.name}: login/begin: {r!r}")
        nonce = r.json()["nonce"]
        sig = b64u(self.key.sign(login_message(self.origin, nonce, self.public_key)).signature)
        r = _retry_429(lambda: self.post("/api/v1/login/finish", {
            "public_key": self.public_key, "nonce": nonce, "signature": sig}), deadline)
        if r.status == 200:
            self.device = r.json()["device"]
        return r


def _retry_429(fn, deadline):
    while True:
        r = fn()
        if r.status != 429 or time.monotonic() > deadline:
            return r
        time.sleep(2)


def _read_for(r, conn, seconds, max_bytes):
    """Reads a (chunked, endless) body for @seconds or @max_bytes, whichever comes first."""
    deadline = time.monotonic() + seconds
    chunks = []
    n = 0
    try:
        while time.monotonic() < deadline and n <= max_bytes:
            if conn.sock is not None:
                conn.sock.settimeout(max(0.05, deadline - time.monotonic()))
            b = r.read1(65536)
            if not b:
                return b"".join(chunks), False
            chunks.append(b)
            n += len(b)
    except (socket.timeout, TimeoutError):
        pass
    except (http.client.IncompleteRead, ConnectionError, ssl.SSLError):
        # The stream was cut (the server or lighttpd went away): what came is still checked.
        if not chunks:
            raise
    return b"".join(chunks), True


def unpaired_key_b64():
    return b64u(bytes(nacl.signing.SigningKey.generate().verify_key))


# Public keys the server must refuse: the encodings of small-order points and non-points.
LOW_ORDER_KEYS = {
    "all-zero": bytes(32),                                  # y = 0: order 4
    "identity": bytes([1]) + bytes(31),                     # the neutral element, order 1
    "order-2": bytes.fromhex(                                # y = -1
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    "order-4": bytes(31) + bytes([0x80]),                   # y = 0, the other sign: order 4
    "order-8": bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    "non-canonical": bytes.fromhex(
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),   # y = p
}


def is_rejected_by_libsodium(pk):
    """What the server should conclude about @pk (nacl wraps libsodium's own check)."""
    return not nacl.bindings.crypto_core_ed25519_is_valid_point(pk)
