#!/usr/bin/python3
"""Pairing and login attacks against the real daemon (docs/design/auth.md "Invite codes",
"Messages"), straight on its unix socket, with codes from the real `nvr pair`:
replayed nonce, a nonce of another invite, signatures over another origin / another code / by
another key, used, expired and burned codes (5 wrong secrets, then the right one fails),
malformed keys (length, base64), small-order and non-canonical keys with the signature that a
naive verifier would accept, a key already paired, the rate limits (pairing and login each: 429
after 10 quick requests), login with unknown / revoked keys, a replayed or foreign login nonce;
and the session cookie's attributes on pair, login and logout. No invite secret or session token is stored.

A refused pair/finish must set no cookie and create no device and no session. Failed pairing
requests count against the client's limit (10 a minute, burst 10; all of this test is one client,
"local" on the daemon's socket), so the groups below each stay within 10 failures and the daemon
is restarted between them (its buckets and nonces live in memory)."""

import glob
import os
import re
import time
from contextlib import closing

from world import Harness, World, check, hc, log, run

SESSION_MAX_S = 86400
WEB_EXTRA = f"session_max_s = {SESSION_MAX_S}\nsession_idle_s = 3600\n"
FINISH_REFUSED = (400, 401, 403, 409)


class Counter:
    def __init__(self):
        self.requests = 0
        self.refusals = 0


def restart(w):
    """A fresh pairing budget: the rate limiter and nonces are in the daemon's memory."""
    w.h.stop_daemon()
    w.h.start_daemon()
    w.h.wait_for("the web socket", lambda: os.path.exists(w.web_sock), 20)


def state(w):
    return (w.count("devices"), w.count("sessions"))


def begin(c, code, n, want=200):
    r = c.pair_begin(code)
    n.requests += 1
    check(r.status == want, f"pair/begin {code}: expected {want}, got {r!r}")
    check(not r.cookie_value(), f"pair/begin set a cookie: {r.set_cookies()}")
    if want == 200:
        j = r.json()
        check(len(hc.unb64u(j["nonce"])) == 32, f"nonce {j['nonce']!r} is not 32 bytes")
        return j["nonce"]
    n.refusals += 1
    check("error" in r.json(), f"refusal without an error: {r!r}")
    return None


def refused_finish(w, what, r, before, n):
    n.requests += 1
    n.refusals += 1
    check(r.status in FINISH_REFUSED, f"{what}: pair/finish answered {r!r}")
    check(not r.cookie_value() and not r.header("Set-Cookie"),
          f"{what}: refusal set a cookie {r.set_cookies()}")
    check(state(w) == before, f"{what}: devices/sessions changed {before} -> {state(w)}")
    check(isinstance(r.json().get("error"), str), f"{what}: no JSON error: {r.body[:100]!r}")
    log(f"  {what}: {r.status} {r.json()['error']}")


def ok_finish(w, c, code, nonce, n):
    r = c.pair_finish(code, nonce)
    n.requests += 1
    check(r.status == 200, f"pair/finish {code}: {r!r}")
    c.device = r.json()["device"]
    return r


def cookie_attrs(what, r, max_age):
    """The one Set-Cookie of @r: __Host-hearth=<43 chars>; Path=/; Secure; HttpOnly;
    SameSite=Strict; no Domain; Max-Age as configured (0 / an Expires in the past for logout)."""
    cookies = r.set_cookies()
    check(len(cookies) == 1, f"{what}: Set-Cookie headers {cookies}")
    parts = [p.strip() for p in cookies[0].split(";")]
    name, _, value = parts[0].partition("=")
    check(name == hc.COOKIE, f"{what}: cookie name {name!r}")
    attrs = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip()
    check(attrs.get("path") == "/", f"{what}: Path {attrs.get('path')!r}")
    check("secure" in attrs, f"{what}: no Secure")
    check("httponly" in attrs, f"{what}: no HttpOnly")
    check(attrs.get("samesite", "").lower() == "strict", f"{what}: SameSite {attrs.get('samesite')!r}")
    check("domain" not in attrs, f"{what}: Domain {attrs.get('domain')!r}")
    if max_age is not None:
        check(attrs.get("max-age") == str(max_age), f"{what}: Max-Age {attrs.get('max-age')!r}, "
                                                    f"expected {max_age}")
        check(re.fullmatch(r"[A-Za-z0-9_-]{43}", value), f"{what}: token {value!r} is not "
                                                         "32 bytes of base64url")
    else:
        check(value == "" or attrs.get("max-age") == "0" or "expires" in attrs,
              f"{what}: logout cookie {cookies[0]!r} does not expire the session")
        check(attrs.get("max-age", "0") == "0", f"{what}: logout Max-Age {attrs.get('max-age')}")
    log(f"  {what}: {cookies[0][:25]}...; {'; '.join(parts[1:])}")
    return value


def stored_bytes(w):
    out = b""
    for path in glob.glob(os.path.join(w.h.root, "catalog.db*")):
        with open(path, "rb") as f:
            out += f.read()
    return out


def test():
    with Harness("pairing", segment_seconds=10) as h:
        w = World(h).start(2, web_extra=WEB_EXTRA)
        n = Counter()
        new = w.client

        # ---- group 1: a replayed nonce, then a good pairing; used code; login; cookies ----
        log("group 1: replayed nonce, used code, cookies, login")
        code, out = hc.invite(h, "phone", ["cam1"])
        check(w.origin + "/pair.html#code=" + code in out, f"`nvr pair` printed no URL: {out}")
        a = new("phone")
        before = state(w)
        nonce = begin(a, code, n)
        r = a.pair_finish(code, nonce, signature=hc.b64u(bytes(64)))
        refused_finish(w, "bad signature", r, before, n)
        r = a.pair_finish(code, nonce)
        refused_finish(w, "replayed nonce (consumed by the bad attempt)", r, before, n)
        nonce = begin(a, code, n)
        r = ok_finish(w, a, code, nonce, n)
        token = cookie_attrs("pair/finish", r, SESSION_MAX_S)
        check(a.get("/api/v1/me").status == 200, "the paired device's session does not work")
        r = a.pair_finish(code, nonce, key=None)
        refused_finish(w, "replayed nonce after success", r, state(w), n)
        begin(new("late"), code, n, want=403)                       # used code
        a.token = None
        r = a.login()
        n.requests += 2
        check(r.status == 200, f"login: {r!r}")
        token2 = cookie_attrs("login/finish", r, SESSION_MAX_S)
        check(token2 != token, "login returned the pairing session's token")
        r = a.post("/api/v1/logout")
        check(r.status == 200, f"logout: {r!r}")
        cookie_attrs("logout", r, None)
        check(a.get("/api/v1/me", cookie=f"{hc.COOKIE}={token2}").status == 401,
              "the session still works after logout")
        check(a.get("/api/v1/me", cookie=f"{hc.COOKIE}={token}").status == 200,
              "logout of one session ended another")
        blob = stored_bytes(w)
        for secret, what in ((token, "session token"), (token2, "session token"),
                             (hc.unb64u(token), "raw session token"),
                             (code.replace("-", "")[4:], "invite secret"),
                             (code.replace("-", ""), "invite code")):
            s = secret.encode() if isinstance(secret, str) else secret
            check(s not in blob, f"the {what} is stored in the catalog")
        log("  no session token or invite secret in the catalog files")
        phone_key = a.key
        phone_id = a.device["id"]

        # ---- group 2: nonces and signatures bound to invite, origin, code and key ----
        restart(w)
        log("group 2: a nonce of another invite, another origin, another code, another key")
        x, _ = hc.invite(h, "x", ["cam1"])
        y, _ = hc.invite(h, "y", ["cam2"])
        z, _ = hc.invite(h, "z", ["cam2"])
        b = new("b")
        before = state(w)
        nx = begin(b, x, n)
        refused_finish(w, "nonce of another invite", b.pair_finish(y, nx), before, n)
        nz = begin(b, z, n)
        refused_finish(w, "signed over another origin",
                       b.pair_finish(z, nz, message_origin="https://evil.example"), before, n)
        nz = begin(b, z, n)
        sig = hc.b64u(b.key.sign(hc.pair_message(w.origin, y, nz, b.public_key)).signature)
        refused_finish(w, "signed over another code", b.pair_finish(z, nz, signature=sig),
                       before, n)
        nz = begin(b, z, n)
        refused_finish(w, "signed by another key",
                       b.pair_finish(z, nz, key=hc.nacl.signing.SigningKey.generate()), before, n)
        ny = begin(b, y, n)
        ok_finish(w, b, y, ny, n)
        check({c["id"] if isinstance(c, dict) else c for c in b.device["cameras"]} ==
              {w.cams["cam2"]}, f"device from invite y has cameras {b.device['cameras']}")

        # ---- group 3: burned and expired codes ----
        restart(w)
        log("group 3: burned (5 wrong secrets) and expired codes")
        burn, _ = hc.invite(h, "burn", ["cam1"])
        c = new("c")
        look, secret = burn[:4], burn[5:].replace("-", "")
        for i in range(5):
            wrong = list(secret)
            wrong[i] = "0" if wrong[i] != "0" else "1"
            begin(c, f"{look}-{''.join(wrong)}", n, want=403)
        begin(c, burn, n, want=403)
        with closing(h.catalog()) as db:
            row = db.execute("SELECT failures, burned_us FROM invites WHERE lookup = ?",
                             (look,)).fetchone()
            every = [tuple(r) for r in db.execute("SELECT id, lookup, failures, burned_us "
                                                  "FROM invites")]
        check(row is not None and row["burned_us"] is not None,
              f"invite {look} not burned: {row and dict(row)}; invites {every}")
        rc, out, err = h.nvr("pair", "--name", "short", "--cameras", "cam1", "--ttl", "3s",
                             check_rc=False)
        check(rc == 0, f"`nvr pair --ttl 3s` refused a short TTL: {err}")
        short = hc.CODE_RE.search(out).group(1)
        before = state(w)
        ns = begin(c, short, n)
        time.sleep(4)
        refused_finish(w, "finish after the code expired", c.pair_finish(short, ns), before, n)
        begin(c, short, n, want=403)
        rc, _, err = h.nvr("pair", "--name", "long", "--cameras", "cam1", "--ttl", "25h",
                           check_rc=False)
        check(rc != 0, "`nvr pair --ttl 25h` accepted a TTL over the 24 h maximum")

        # ---- groups 4, 5: malformed and small-order keys ----
        restart(w)
        log("group 4: malformed public keys")
        mal, _ = hc.invite(h, "mal", ["cam1"])
        d = new("d")
        good = hc.b64u(bytes(d.key.verify_key))
        std = __import__("base64").b64encode(bytes(d.key.verify_key)).decode()
        malformed = {
            "31 bytes": hc.b64u(bytes(d.key.verify_key)[:31]),
            "33 bytes": hc.b64u(bytes(d.key.verify_key) + b"\0"),
            "not base64": "*" * 43,
            "padded standard base64": std if ("+" in std or "/" in std) else good + "=",
            "empty": "",
        }
        before = state(w)
        for what, pk in malformed.items():
            nm = begin(d, mal, n)
            refused_finish(w, f"public key {what}", d.pair_finish(mal, nm, public_key=pk),
                           before, n)
        restart(w)
        log("group 5: small-order and non-canonical keys (signature R = identity, S = 0)")
        naive_sig = hc.b64u(hc.LOW_ORDER_KEYS["identity"] + bytes(32))
        keys = list(hc.LOW_ORDER_KEYS.items())
        for i, (what, pk) in enumerate(keys):
            if i == 5:
                restart(w)
            check(hc.is_rejected_by_libsodium(pk), f"test key {what} is valid")
            nm = begin(d, mal, n)
            refused_finish(w, f"public key {what}",
                           d.pair_finish(mal, nm, public_key=hc.b64u(pk), signature=naive_sig),
                           before, n)

        # ---- group 6: a key already paired; the malformed-key invite still pairs ----
        log("group 6: a key already paired")
        again, _ = hc.invite(h, "again", ["cam2"])
        e = new("e", key=phone_key)
        na = begin(e, again, n)
        refused_finish(w, "key already paired", e.pair_finish(again, na), before, n)
        na = begin(d, again, n)
        ok_finish(w, d, again, na, n)
        restart(w)
        nm = begin(d, mal, n)
        refused_finish(w, "same key on another invite",
                       d.pair_finish(mal, nm), state(w), n)
        d2 = new("d2")
        nm = begin(d2, mal, n)
        ok_finish(w, d2, mal, nm, n)

        # ---- group 7: login attacks ----
        log("group 7: login with an unknown key, another origin, a foreign nonce, revoked key")
        stranger = new("stranger")
        r = stranger.post("/api/v1/login/begin", {"public_key": stranger.public_key})
        n.requests += 1
        check(r.status == 200 and "nonce" in r.json(), f"login/begin for an unknown key: {r!r}")
        nonce = r.json()["nonce"]
        sig = hc.b64u(stranger.key.sign(hc.login_message(w.origin, nonce,
                                                           stranger.public_key)).signature)
        r = stranger.post("/api/v1/login/finish", {"public_key": stranger.public_key,
                                                    "nonce": nonce, "signature": sig})
        login_refused("unknown key", r, n)
        p = new("phone-again", key=phone_key)
        r = p.post("/api/v1/login/begin", {"public_key": p.public_key})
        n.requests += 1
        nonce = r.json()["nonce"]
        sig = hc.b64u(p.key.sign(hc.login_message("https://evil.example", nonce,
                                                    p.public_key)).signature)
        r = p.post("/api/v1/login/finish", {"public_key": p.public_key, "nonce": nonce,
                                             "signature": sig})
        login_refused("login signed over another origin", r, n)
        sig = hc.b64u(p.key.sign(hc.login_message(w.origin, nonce, p.public_key)).signature)
        r = p.post("/api/v1/login/finish", {"public_key": p.public_key, "nonce": nonce,
                                             "signature": sig})
        login_refused("replayed login nonce", r, n)
        restart(w)
        r = p.post("/api/v1/login/begin", {"public_key": stranger.public_key})
        n.requests += 1
        nonce = r.json()["nonce"]
        sig = hc.b64u(p.key.sign(hc.login_message(w.origin, nonce, p.public_key)).signature)
        r = p.post("/api/v1/login/finish", {"public_key": p.public_key, "nonce": nonce,
                                             "signature": sig})
        login_refused("nonce issued for another key", r, n)
        rc, out, err = h.nvr("devices", "revoke", str(phone_id), check_rc=False)
        check(rc == 0, f"nvr devices revoke {phone_id}: {out}{err}")
        check(a.get("/api/v1/me", cookie=f"{hc.COOKIE}={token}").status == 401,
              "a revoked device's session still works")
        n.requests += 1
        r = p.login()
        n.requests += 2
        login_refused("revoked key", r, n, counted=True)

        # ---- group 8: the rate limit ----
        restart(w)
        log("group 8: rate limit")
        f = new("f")
        t0 = time.monotonic()
        pair = [f.pair_begin(f"ZZZZ-0000-000{i % 10}").status for i in range(11)]
        pair.append(f.pair_finish("ZZZZ-0000-0000", hc.b64u(os.urandom(32))).status)
        login = [f.post("/api/v1/login/begin", {"public_key": f.public_key}).status
                 for _ in range(11)]
        login.append(f.post("/api/v1/login/finish", {"public_key": f.public_key,
                                                     "nonce": hc.b64u(os.urandom(32)),
                                                     "signature": hc.b64u(bytes(64))}).status)
        n.requests += len(pair) + len(login)
        log(f"  pairing: {pair}\n  login: {login}  ({time.monotonic() - t0:.2f} s)")
        check(pair == [403] * 10 + [429, 429], f"pairing not limited to 10 quick requests: {pair}")
        check(login == [200] * 10 + [429, 429], f"login not limited to 10 quick requests: {login}")
        n.refusals += 14
        time.sleep(7)
        s = f.pair_begin("ZZZZ-0000-0000").status
        check(s == 403, f"the pairing bucket did not refill after 7 s: {s}")

        check(h.daemon.poll() is None, "the daemon died")
        log(f"pairing attacks: {n.requests} requests checked, {n.refusals} refusals")


def login_refused(what, r, n, counted=False):
    if not counted:
        n.requests += 1
    n.refusals += 1
    check(r.status == 401, f"{what}: login/finish answered {r!r}")
    check(not r.cookie_value(), f"{what}: refusal set a cookie")
    log(f"  {what}: {r.status} {r.body[:80]!r}")


if __name__ == "__main__":
    run(test)
