#!/usr/bin/python3
"""The daemon's web API end to end, straight on its unix socket (no lighttpd): the real daemon,
workers and fakecam. A device is paired with a code from `nvr pair` (Ed25519 signature over the
daemon's nonce, python3-nacl), logs in again with the same key, lists only its cameras, reads a
camera's timeline and segments, and fetches a segment, whose answer is an empty body naming
that segment's file under the real storage root in X-Sendfile. An admin device changes the
first device's cameras and revokes it while it watches live: the stream ends within ~1 s and its
next request is refused. Headers, cookies, CSRF checks and body limits are checked on the way.
The full authorization matrix is tests/security/test_authz.py; this proves the API works."""

import base64
import http.client
import json
import os
import socket
import time

import nacl.signing

from harness import Harness, check, log, run

COOKIE = "__Host-hearth"
SEGMENT_S = 10


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=15):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Response:
    def __init__(self, r, body):
        self.status = r.status
        self.headers = r.getheaders()
        self.body = body

    def header(self, name):
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return vals[-1] if vals else None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"{self.status} {self.body[:200]!r}"


class Client:
    """One browser: a key pair and a cookie jar holding the session cookie."""

    def __init__(self, sock, origin, name):
        self.sock = sock
        self.origin = origin
        self.name = name
        self.key = nacl.signing.SigningKey.generate()
        self.public_key = b64u(bytes(self.key.verify_key))
        self.token = None

    def request(self, method, path, body=None, headers=None, raw=None, cookie=True):
        h = {}
        if method != "GET":
            h = {"Origin": self.origin, "Sec-Fetch-Site": "same-origin",
                 "Content-Type": "application/json"}
        if cookie and self.token:
            h["Cookie"] = f"{COOKIE}={self.token}"
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn = UnixHTTPConnection(self.sock)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            resp = Response(r, r.read())
        finally:
            conn.close()
        for k, v in resp.headers:
            if k.lower() == "set-cookie" and v.startswith(COOKIE + "="):
                self.last_set_cookie = v
                value = v.split(";", 1)[0].split("=", 1)[1]
                self.token = value or None
        return resp

    def get(self, path, **kw):
        return self.request("GET", "/api/v1/" + path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", "/api/v1/" + path, body, **kw)

    def pair(self, code):
        r = self.post("pair/begin", {"code": code})
        check(r.status == 200, f"pair/begin: {r!r}")
        begin = r.json()
        norm = code.replace("-", "").upper()
        msg = f"hearth-pair-v1\n{self.origin}\n{norm}\n{begin['nonce']}\n{self.public_key}"
        sig = self.key.sign(msg.encode()).signature
        r = self.post("pair/finish", {"code": code, "nonce": begin["nonce"],
                                      "public_key": self.public_key, "signature": b64u(sig)})
        check(r.status == 200, f"pair/finish: {r!r}")
        return begin, r

    def login(self):
        r = self.post("login/begin", {"public_key": self.public_key})
        check(r.status == 200, f"login/begin: {r!r}")
        nonce = r.json()["nonce"]
        msg = f"hearth-login-v1\n{self.origin}\n{nonce}\n{self.public_key}"
        sig = self.key.sign(msg.encode()).signature
        return self.post("login/finish", {"public_key": self.public_key, "nonce": nonce,
                                          "signature": b64u(sig)})


def check_private_headers(what, r, json_body=True):
    check(r.header("Cache-Control") == "no-store",
          f"{what}: Cache-Control {r.header('Cache-Control')!r}")
    check(r.header("X-Content-Type-Options") == "nosniff", f"{what}: no nosniff")
    if json_body:
        check((r.header("Content-Type") or "").startswith("application/json"),
              f"{what}: Content-Type {r.header('Content-Type')!r}")
        body = r.json()
        check(isinstance(body, dict), f"{what}: body is not an object")
        if r.status != 200:
            check(isinstance(body.get("error"), str), f"{what}: error body {body!r}")


def pair_code(h, name, cameras, admin=False):
    args = ["pair", "--name", name, "--cameras", ",".join(cameras), "--json"]
    if admin:
        args.append("--admin")
    out = json.loads(h.nvr(*args)[1])
    return out["code"], out.get("url")


def live_stream(sock, token, cam_id, version="1.1"):
    """Opens cameras/{cam}/live; returns (socket, headers text, first body bytes)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock)
    s.sendall((f"GET /api/v1/cameras/{cam_id}/live HTTP/{version}\r\nHost: localhost\r\n"
               f"Cookie: {COOKIE}={token}\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        check(chunk, "live: connection closed before the headers")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return s, head.decode(errors="replace"), rest


def raw_status(sock, request):
    """Sends @request (bytes) as is; returns the status code of the answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(sock)
        s.sendall(request)
        answer = b""
        while b"\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test():
    with Harness("api", segment_seconds=SEGMENT_S) as h:
        web_sock = os.path.join(h.dir, "http.sock")
        origin = "https://127.0.0.1:8443"
        with open(h.conf, "a") as f:
            f.write(f"[web]\nsocket = {web_sock}\norigin = {origin}\n")
        h.start_fakecam(2)
        h.start_daemon()
        check(os.path.exists(web_sock), "no web API socket")
        check(oct(os.stat(web_sock).st_mode & 0o777) == "0o660",
              f"socket mode {oct(os.stat(web_sock).st_mode & 0o777)}")
        h.nvr("cameras", "add", "cam1", "--main-url", h.cam_url(1))
        h.nvr("cameras", "add", "cam2", "--main-url", h.cam_url(2))
        cams = {c["name"]: c["id"] for c in json.loads(h.nvr("cameras", "list", "--json")[1])}
        cam1, cam2 = cams["cam1"], cams["cam2"]

        # ---- before pairing ----
        anon = Client(web_sock, origin, "anon")
        r = anon.get("me")
        check(r.status == 401, f"me without a cookie: {r!r}")
        check_private_headers("401", r)
        r = anon.get(f"cameras/{cam1}/segments/1/media")
        check(r.status == 401 and r.header("X-Sendfile") is None, f"media without a cookie: {r!r}")
        r = anon.get("nothing/here")
        check(r.status == 404 and json.loads(r.body).get("error") == "no such route",
              f"unknown route: {r!r}")
        check_private_headers("404", r)
        r = anon.request("DELETE", "/api/v1/me")
        check(r.status == 405, f"wrong method: {r!r}")

        # ---- pairing: a limited device (cam1 only) ----
        code, url = pair_code(h, "phone", ["cam1"])
        check(url == f"{origin}/pair.html#code={code}", f"pairing URL {url}")
        phone = Client(web_sock, origin, "phone")
        # CSRF checks come first, then the content type; nothing is consumed by a refusal.
        r = phone.post("pair/begin", {"code": code}, headers={"Origin": "https://evil.example"})
        check(r.status == 403, f"pair/begin from a foreign origin: {r!r}")
        r = phone.post("pair/begin", {"code": code}, headers={"Sec-Fetch-Site": "cross-site"})
        check(r.status == 403, f"pair/begin cross-site: {r!r}")
        r = phone.post("pair/begin", {"code": code}, headers={"Content-Type": "text/plain"})
        check(r.status == 415, f"pair/begin as text/plain: {r!r}")
        r = phone.post("pair/begin", None, raw=b'{"code": ' + b'"x' * 9000 + b'"}')
        check(r.status == 413, f"pair/begin with a 18 KB body: {r!r}")
        # A body announced as 100 MB is refused from its headers alone, at once.
        t0 = time.monotonic()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(web_sock)
            s.sendall(b"POST /api/v1/pair/begin HTTP/1.1\r\nHost: localhost\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
            answer = s.recv(4096)
        check(answer.startswith(b"HTTP/1.1 413 ") and b"no-store" in answer and
              time.monotonic() - t0 < 2, f"Content-Length 100 MB: {answer[:80]!r}")
        r = phone.post("pair/begin", None, raw=b"[1]")
        check(r.status == 400, f"pair/begin with an array body: {r!r}")
        begin, r = phone.pair(code)
        check(begin["name"] == "phone" and begin["cameras"] == ["cam1"] and begin["admin"] is False,
              f"pair/begin said {begin}")
        dev = r.json()["device"]
        check(dev["name"] == "phone" and dev["admin"] is False and
              dev["cameras"] == [{"id": cam1, "name": "cam1"}], f"pair/finish device {dev}")
        sc = phone.last_set_cookie
        for attr in ("Path=/", "Secure", "HttpOnly", "SameSite=Strict", "Max-Age=2592000"):
            check(attr in [a.strip() for a in sc.split(";")], f"cookie lacks {attr}: {sc}")
        check(phone.token and len(phone.token) == 43, "session token is not 32 bytes base64url")
        r = phone.post("pair/finish", {"code": code, "nonce": begin["nonce"],
                                       "public_key": phone.public_key, "signature": "AAAA"})
        check(r.status in (400, 403), f"replayed pair/finish: {r!r}")
        log(f"paired 'phone' (device {dev['id']}) with code {code[:4]}-…")

        # ---- what the phone may see ----
        r = phone.get("me")
        check(r.status == 200 and r.json()["device"]["id"] == dev["id"], f"me: {r!r}")
        check_private_headers("me", r)
        r = phone.get("cameras")
        check(r.status == 200, f"cameras: {r!r}")
        listed = r.json()["cameras"]
        check([c["id"] for c in listed] == [cam1], f"cameras lists {listed}")
        check(set(listed[0]) >= {"id", "name", "state", "codec", "width", "height"},
              f"camera fields {listed[0]}")
        r = phone.get(f"cameras/{cam1}")
        check(r.status == 200 and r.json()["name"] == "cam1", f"cameras/{cam1}: {r!r}")
        # Header edge cases: a cookie split over two Cookie headers (as HTTP/2 sends it) still
        # counts; the session cookie twice (even the same value) is no session; a mutation with
        # two Origin headers is refused even if both are right.
        me = b"GET /api/v1/me HTTP/1.1\r\nHost: localhost\r\n"
        tok = phone.token.encode()
        split = raw_status(web_sock, me + b"Cookie: a=1\r\nCookie: " + COOKIE.encode() + b"=" +
                           tok + b"\r\n\r\n")
        twice = raw_status(web_sock, me + b"Cookie: " + COOKIE.encode() + b"=" + tok +
                           b"\r\nCookie: " + COOKIE.encode() + b"=" + tok + b"\r\n\r\n")
        body = b"{}"
        two_origins = raw_status(web_sock, b"POST /api/v1/logout HTTP/1.1\r\nHost: localhost\r\n"
                                 + f"Origin: {origin}\r\nOrigin: {origin}\r\n".encode()
                                 + b"Sec-Fetch-Site: same-origin\r\nContent-Type: application/json"
                                 + b"\r\nCookie: " + COOKIE.encode() + b"=" + tok +
                                 b"\r\nContent-Length: 2\r\n\r\n" + body)
        check((split, twice, two_origins) == (200, 401, 403),
              f"split cookie {split}, cookie twice {twice}, two Origins {two_origins}")
        check(r.header("X-Hearth-Camera") == str(cam1),
              f"X-Hearth-Camera {r.header('X-Hearth-Camera')}")
        for path in (f"cameras/{cam2}", f"cameras/{cam2}/snapshot.jpg", f"cameras/{cam2}/live",
                     "cameras/999", "devices"):
            r = phone.get(path)
            want = 403 if path == "devices" else 404
            check(r.status == want and r.header("X-Sendfile") is None and
                  r.header("X-Hearth-Camera") is None, f"{path} for the phone: {r!r}")

        # ---- recordings: wait for a complete segment of each camera ----
        h.wait_for("a complete segment of each camera",
                   lambda: all(any(s["state"] == "complete" for s in h.segments(n))
                               for n in ("cam1", "cam2")), 90)
        now_us = int(time.time() * 1e6)
        rng = f"from_us={now_us - 3600 * 10**6}&to_us={now_us + 60 * 10**6}"
        r = phone.get(f"cameras/{cam1}/timeline?{rng}")
        check(r.status == 200, f"timeline: {r!r}")
        tl = r.json()
        check(tl["spans"] and all(s["end_us"] > s["start_us"] for s in tl["spans"]),
              f"timeline spans {tl}")
        check(isinstance(tl["gaps"], list), "timeline has no gaps list")
        r = phone.get(f"cameras/{cam1}/timeline?from_us=0&to_us={now_us}")
        check(r.status == 400, f"a 50-year timeline: {r!r}")
        r = phone.get(f"cameras/{cam1}/timeline?from_us=1&to_us=2&x=3")
        check(r.status == 400, f"timeline with an unknown parameter: {r!r}")
        r = phone.get(f"cameras/{cam1}/segments?{rng}")
        check(r.status == 200, f"segments: {r!r}")
        segs = r.json()["segments"]
        done = [s for s in segs if not s["recording"]]
        check(done, f"no complete segment listed: {segs}")
        catalog = {s["id"]: s for s in h.segments("cam1")}
        check(all(s["id"] in catalog for s in segs), "segments lists ids of another camera")
        seg = done[0]
        check(seg["end_us"] - seg["start_us"] > 0 and seg["bytes"] > 0, f"segment {seg}")

        r = phone.get(f"cameras/{cam1}/segments/{seg['id']}/media")
        check(r.status == 200 and r.body == b"", f"segment media: {r!r}")
        check(r.header("Content-Type") == "video/mp4", f"media type {r.header('Content-Type')}")
        check(r.header("X-Hearth-Camera") == str(cam1), "media without X-Hearth-Camera")
        check_private_headers("media", r, json_body=False)
        want = os.path.join(os.path.realpath(h.root), catalog[seg["id"]]["path"])
        check(r.header("X-Sendfile") == want, f"X-Sendfile {r.header('X-Sendfile')}, want {want}")
        check(os.path.isfile(want), "X-Sendfile names no file")
        # The same segment id under the other camera's path, and another camera's segment under
        # the phone's camera: the same 404.
        other = next(s for s in h.segments("cam2") if s["state"] == "complete")
        for path in (f"cameras/{cam2}/segments/{seg['id']}/media",
                     f"cameras/{cam1}/segments/{other['id']}/media"):
            r = phone.get(path)
            check(r.status == 404 and r.header("X-Sendfile") is None, f"{path}: {r!r}")
        r = phone.get(f"cameras/{cam1}/events?{rng}")
        check(r.status == 200 and isinstance(r.json()["events"], list), f"events: {r!r}")
        log(f"timeline {len(tl['spans'])} span(s), {len(segs)} segment(s); X-Sendfile {want}")

        # ---- login again with the same key; logout ----
        old = phone.token
        r = phone.login()
        check(r.status == 200 and r.json()["device"]["id"] == dev["id"], f"login/finish: {r!r}")
        check(phone.token and phone.token != old, "login gave no new session")
        r = phone.post("logout", {})
        check(r.status == 200 and r.json() == {}, f"logout: {r!r}")
        check("Max-Age=0" in phone.last_set_cookie, f"logout cookie {phone.last_set_cookie}")
        r = phone.get("me")
        check(r.status == 401, f"me after logout: {r!r}")
        phone.token = old                      # the first session is still valid
        r = phone.get("me")
        check(r.status == 200, f"me with the pairing session: {r!r}")

        # ---- an admin device ----
        code, _ = pair_code(h, "admin", ["cam1", "cam2"], admin=True)
        admin = Client(web_sock, origin, "admin")
        admin.pair(code)
        r = admin.get("devices")
        check(r.status == 200, f"devices: {r!r}")
        devs = {d["name"]: d for d in r.json()["devices"]}
        check(devs["phone"]["cameras"] == [cam1] and devs["admin"]["admin"] is True,
              f"devices {devs}")
        r = admin.post("invites", {"name": "tablet", "cameras": [cam2], "ttl_s": 600})
        check(r.status == 200 and r.json()["url"].startswith(origin + "/pair.html#code="),
              f"invites: {r!r}")
        tablet = Client(web_sock, origin, "tablet")
        begin, _ = tablet.pair(r.json()["code"])
        check(begin["cameras"] == ["cam2"], f"tablet invite {begin}")
        r = phone.request("PUT", f"/api/v1/devices/{dev['id']}/cameras", {"cameras": [cam2]})
        check(r.status == 403, f"a non-admin changing cameras: {r!r}")

        # ---- live: the phone watches cam1; losing cam1 ends the stream within ~1 s ----
        s, head, first = live_stream(web_sock, phone.token, cam1)
        check(head.startswith("HTTP/1.1 200"), f"live: {head.splitlines()[0]}")
        hdrs = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip()
                for l in head.splitlines()[1:]}
        check(hdrs.get("content-type") == "video/mp4", f"live type {hdrs.get('content-type')}")
        check(hdrs.get("x-hearth-codec", "").startswith("avc1."), f"live codec {hdrs}")
        check(hdrs.get("x-hearth-camera") == str(cam1), "live without X-Hearth-Camera")
        check(hdrs.get("transfer-encoding") == "chunked", f"live encoding {hdrs}")
        got = first
        deadline = time.monotonic() + 20
        while len(got) < 4096 and time.monotonic() < deadline:
            got += s.recv(65536)
        check(b"ftyp" in got[:64] and b"moov" in got, "live did not start with an init segment")
        # An HTTP/1.0 peer gets the stream unchunked, ended by closing.
        s10, head10, first10 = live_stream(web_sock, admin.token, cam1, version="1.0")
        check(head10.startswith("HTTP/1.0 200") and "transfer-encoding" not in head10.lower(),
              f"HTTP/1.0 live: {head10!r}")
        while len(first10) < 64:
            first10 += s10.recv(65536)
        s10.close()
        check(first10[4:8] == b"ftyp", f"HTTP/1.0 live starts with {first10[:16]!r}")
        r = admin.request("PUT", f"/api/v1/devices/{dev['id']}/cameras", {"cameras": [cam2]})
        check(r.status == 200, f"PUT cameras: {r!r}")
        t0 = time.monotonic()
        s.settimeout(5)
        ended = False
        while time.monotonic() - t0 < 5:
            chunk = s.recv(65536)
            if not chunk or chunk.endswith(b"0\r\n\r\n"):
                ended = True
                break
        took = time.monotonic() - t0
        s.close()
        check(ended and took < 1.5, f"live stream not ended {took:.2f} s after the ACL change")
        log(f"live: {len(got)} bytes, codec {hdrs['x-hearth-codec']}; ended {took * 1000:.0f} ms "
            f"after the camera left the device's ACL")
        r = phone.get(f"cameras/{cam1}/segments/{seg['id']}/media")
        check(r.status == 404, f"media after losing the camera: {r!r}")
        r = phone.get("cameras")
        check([c["id"] for c in r.json()["cameras"]] == [cam2], f"cameras after PUT {r!r}")

        # ---- revoke: the phone's session is dead at once ----
        r = admin.post(f"devices/{dev['id']}/revoke", {})
        check(r.status == 200, f"revoke: {r!r}")
        r = phone.get("me")
        check(r.status == 401, f"me after revoke: {r!r}")
        r = phone.login()
        check(r.status == 401, f"login of a revoked key: {r!r}")
        r = admin.post("devices/999999/revoke", {})
        check(r.status == 404, f"revoke of an unknown device: {r!r}")

        # ---- revoke from the CLI (admin socket): the tablet's live view ends too ----
        s, head, got = live_stream(web_sock, tablet.token, cam2)
        check(head.startswith("HTTP/1.1 200"), f"tablet live: {head.splitlines()[0]}")
        deadline = time.monotonic() + 20
        while b"moov" not in got and time.monotonic() < deadline:
            got += s.recv(65536)
        t0 = time.monotonic()
        h.nvr("devices", "revoke", "tablet")
        s.settimeout(5)
        ended = False
        while time.monotonic() - t0 < 5:
            chunk = s.recv(65536)
            if not chunk or chunk.endswith(b"0\r\n\r\n"):
                ended = True
                break
        took_cli = time.monotonic() - t0
        s.close()
        check(ended and took_cli < 1.5, f"tablet live not ended {took_cli:.2f} s after CLI revoke")
        check(tablet.get("me").status == 401, "tablet session alive after CLI revoke")
        log(f"CLI revoke: the tablet's live view ended {took_cli * 1000:.0f} ms later")

        # ---- route table ----
        table = json.loads(h.nvr("http-routes")[1])
        check(len(table["routes"]) == 33 and
              all(rt["policy"] != "none" for rt in table["routes"]), "http-routes")

        # Shutdown with a viewer attached: the daemon exits cleanly and the stream ends.
        s, head, _ = live_stream(web_sock, admin.token, cam2)
        check(head.startswith("HTTP/1.1 200"), f"admin live cam2: {head.splitlines()[0]}")
        rc = h.stop_daemon()
        check(rc == 0, f"the daemon exited with {rc} while streaming")
        s.settimeout(5)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
        s.close()
        check(not os.path.exists(web_sock), "the web socket outlived the daemon")


if __name__ == "__main__":
    run(test)
