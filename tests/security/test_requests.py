#!/usr/bin/python3
"""Request hygiene against the real daemon (docs/design/auth.md "Requests: checks every route
makes"), with an admin session that WOULD be allowed each mutation:
- a foreign / "null" / other-port / http Origin, a missing Origin, Sec-Fetch-Site cross-site,
  same-site, none or missing, a non-JSON or missing Content-Type: refused (403 / 415) and nothing
  changed (the victim device is not revoked, no ACL changed, no invite made, the session lives);
- a body that is not a JSON object: 400, nothing changed;
- a 17 KiB body: 413, also when sent chunked and when Content-Length claims 100 MB (answered
  without waiting for the rest); the daemon survives and still serves;
- every response, errors included (400/401/403/404/405/413/415), has Cache-Control: no-store,
  X-Content-Type-Options: nosniff and a Content-Type."""

import socket
import time
from contextlib import closing

from world import Harness, World, check, hc, log, run


class Tally:
    def __init__(self):
        self.checked = self.refusals = self.no_store = 0
        self.statuses = {}

    def see(self, what, r):
        self.checked += 1
        self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
        cc = (r.header("Cache-Control") or "").lower()
        check("no-store" in cc, f"{what}: {r.status} with Cache-Control {cc!r}")
        self.no_store += 1
        check((r.header("X-Content-Type-Options") or "").lower() == "nosniff",
              f"{what}: {r.status} without nosniff")
        check(r.header("Content-Type"), f"{what}: {r.status} without Content-Type")
        if r.status >= 400:
            self.refusals += 1
            check(r.header("X-Sendfile") is None, f"{what}: error with X-Sendfile")
            check(isinstance(r.json().get("error"), str), f"{what}: error body {r.body[:100]!r}")


def test():
    with Harness("requests", segment_seconds=10) as h:
        w = World(h).start(2)
        t = Tally()
        admin = w.paired("admin", ["cam1", "cam2"], admin=True)
        victim = w.paired("victim", ["cam1"])
        vid = victim.device["id"]
        cams = sorted(w.cams.values())

        def snapshot():
            with closing(h.catalog()) as db:
                return (db.execute("SELECT id, revoked_us FROM devices ORDER BY id").fetchall(),
                        db.execute("SELECT * FROM device_cameras ORDER BY 1, 2").fetchall(),
                        db.execute("SELECT count(*) FROM invites").fetchone()[0],
                        db.execute("SELECT count(*) FROM sessions").fetchone()[0])

        mutations = [
            ("POST", f"/api/v1/devices/{vid}/revoke", {}),
            ("PUT", f"/api/v1/devices/{vid}/cameras", {"cameras": cams}),
            ("POST", "/api/v1/invites", {"name": "x", "cameras": cams, "admin": True,
                                         "ttl_s": 600}),
            ("POST", "/api/v1/logout", {}),
        ]
        origin_port = w.origin.rsplit(":", 1)
        bad_headers = [
            ("foreign Origin", {"origin": "https://evil.example"}, 403),
            ("Origin null", {"origin": "null"}, 403),
            ("Origin on another port", {"origin": f"{origin_port[0]}:{int(origin_port[1]) + 1}"},
             403),
            ("Origin over http", {"origin": w.origin.replace("https:", "http:")}, 403),
            ("Origin with a path", {"origin": w.origin + "/"}, 403),
            ("Origin missing", {"origin": None}, 403),
            ("Sec-Fetch-Site cross-site", {"fetch_site": "cross-site"}, 403),
            ("Sec-Fetch-Site same-site", {"fetch_site": "same-site"}, 403),
            ("Sec-Fetch-Site none", {"fetch_site": "none"}, 403),
            ("Sec-Fetch-Site missing", {"fetch_site": None}, 403),
            ("Content-Type text/plain", {"content_type": "text/plain"}, 415),
            ("Content-Type form", {"content_type": "application/x-www-form-urlencoded"}, 415),
            ("Content-Type multipart", {"content_type": "multipart/form-data; boundary=x"}, 415),
            ("Content-Type missing", {"content_type": None}, 415),
        ]
        code, _ = hc.invite(h, "csrf", ["cam1"])
        before = snapshot()
        for method, path, body in mutations:
            for what, kw, want in bad_headers:
                r = admin.request(method, path, body=body, **kw)
                t.see(f"{what} {method} {path}", r)
                check(r.status == want, f"{what} on {method} {path}: expected {want}, got {r!r}")
        # Pairing is a mutation too (a foreign page must not pair on the user's behalf).
        for what, kw, want in bad_headers[:1] + bad_headers[6:7] + bad_headers[10:11]:
            r = w.client("csrf").request("POST", "/api/v1/pair/begin", body={"code": code}, **kw)
            t.see(f"{what} pair/begin", r)
            check(r.status == want, f"{what} on pair/begin: expected {want}, got {r!r}")
        after = snapshot()
        check(after == before, f"a refused mutation changed something: {before} -> {after}")
        check(admin.get("/api/v1/me").status == 200, "the admin session died")
        log(f"CSRF: {len(mutations) * len(bad_headers) + 3} refused mutations, nothing changed")

        # Bodies that are not a JSON object.
        for raw in (b"[]", b"1", b"\"x\"", b"null", b"not json", b"{\"cameras\": [", b"\xff\xfe",
                    b""):
            r = admin.request("PUT", f"/api/v1/devices/{vid}/cameras", raw=raw)
            t.see(f"body {raw!r}", r)
            check(r.status == 400, f"body {raw!r}: expected 400, got {r!r}")
        for body in ({"cameras": "1"}, {"cameras": [-1]}, {"cameras": ["a"]}, {}):
            r = admin.request("PUT", f"/api/v1/devices/{vid}/cameras", body=body)
            t.see(f"body {body}", r)
            check(r.status in (400, 404), f"body {body}: expected 400, got {r!r}")
        check(snapshot() == before, "a refused body changed something")

        # Body limit.
        big = {"name": "x" * (17 * 1024), "cameras": cams, "admin": False, "ttl_s": 60}
        for who, c, path in (("admin", admin, "/api/v1/invites"),
                             ("unpaired", w.client("anon"), "/api/v1/pair/begin")):
            r = c.request("POST", path, body=big)
            t.see(f"17 KiB {who} {path}", r)
            check(r.status == 413 or (who == "unpaired" and r.status in (401, 403)),
                  f"17 KiB body to {path} ({who}): {r!r}")
        r = admin.request("POST", "/api/v1/invites", raw=b"{" + b" " * (17 * 1024) + b"}")
        t.see("17 KiB whitespace", r)
        check(r.status == 413, f"17 KiB of whitespace: {r!r}")
        near = {"name": "n" * (15 * 1024), "cameras": [], "admin": False, "ttl_s": 60}
        r = admin.request("POST", "/api/v1/invites", body=near)
        t.see("15 KiB body", r)
        check(r.status != 413, f"a 15 KiB body was refused as too large: {r!r}")
        status, took = raw_request(w, admin, "POST", "/api/v1/invites",
                                   chunks=[b"{\"name\": \"" + b"c" * 4096] * 5 + [b"\"}"])
        log(f"  chunked 20 KiB body: {status} in {took:.2f} s")
        check(status == 413, f"a chunked 20 KiB body answered {status}")
        status, took = raw_request(w, admin, "POST", "/api/v1/invites",
                                   claimed=100 * 1024 * 1024, send=17 * 1024)
        log(f"  Content-Length 100 MB (17 KiB sent): {status} in {took:.2f} s")
        check(status == 413 and took < 5, f"Content-Length 100 MB: {status} after {took:.1f} s")
        check(h.daemon.poll() is None, "the daemon died after large bodies")
        r = admin.get("/api/v1/me")
        check(r.status == 200, f"the daemon does not serve after large bodies: {r!r}")
        check(snapshot()[:2] == before[:2], "large bodies changed devices or ACLs")

        # Errors of every kind carry no-store (the ones above were checked as they came).
        for method, path, kw, want in (
                ("GET", "/api/v1/nope", {}, 404),
                ("GET", "/api/v1/me", {"cookie": None}, 401),
                ("DELETE", "/api/v1/me", {}, 405),
                ("GET", f"/api/v1/cameras/{max(cams) + 7}", {}, 404),
                ("GET", "/api/v1/devices", {"cookie": f"{hc.COOKIE}={victim.token}"}, 403),
                ("GET", "/api/v1/cameras/1/segments?from_us=x&to_us=1", {}, 400),
                ("GET", "/api/v1/cameras/1/timeline?from_us=0&to_us=99999999999999999", {}, 400)):
            if method == "DELETE":
                r = admin.request(method, path, body={}, **kw)
            else:
                r = admin.request(method, path, **kw)
            t.see(f"{method} {path}", r)
            check(r.status == want, f"{method} {path}: expected {want}, got {r!r}")
        r = admin.get("/api/v1/me")
        t.see("GET /api/v1/me", r)
        check(r.status == 200, f"/me: {r!r}")

        check(h.daemon.poll() is None, "the daemon died")
        log(f"request checks: {t.checked} responses checked, {t.refusals} refusals, "
            f"{t.no_store} with no-store; statuses {dict(sorted(t.statuses.items()))}")


def raw_request(w, client, method, path, chunks=None, claimed=None, send=0):
    """A hand-made request on the unix socket (chunked, or a Content-Length that lies). Returns
    (status, seconds until the status line arrived); 0 if the connection closed without one."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(w.web_sock)
    head = (f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Origin: {w.origin}\r\nSec-Fetch-Site: same-origin\r\n"
            f"Cookie: {hc.COOKIE}={client.token}\r\n")
    t0 = time.monotonic()
    try:
        if chunks is not None:
            s.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
            for c in chunks:
                s.sendall(b"%x\r\n" % len(c) + c + b"\r\n")
            s.sendall(b"0\r\n\r\n")
        else:
            s.sendall((head + f"Content-Length: {claimed}\r\n\r\n").encode())
            s.sendall(b"{" + b" " * (send - 1))
        data = b""
        while b"\r\n" not in data:
            b = s.recv(4096)
            if not b:
                break
            data += b
    except (socket.timeout, OSError) as e:
        log(f"  raw request: {e}")
        return 0, time.monotonic() - t0
    finally:
        s.close()
    took = time.monotonic() - t0
    parts = data.split(b" ", 2)
    return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0), took


if __name__ == "__main__":
    run(test)
