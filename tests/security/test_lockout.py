#!/usr/bin/python3
"""No one on the LAN locks the household out (issue 14; docs/design/auth.md "Rate limits" and
"Fair shares"), against the real daemon, workers and fakecam, through lighttpd over TLS. Other
hosts are other loopback source addresses: lighttpd appends each to X-Forwarded-For, and that is
the only client address the daemon counts.

1. Login flood: an unpaired host (127.0.0.2) sends login/begin with fresh random keys, login/finish
   with garbage and pair/begin with wrong codes as fast as its threads can for FLOOD_S seconds,
   half of them with a forged X-Forwarded-For naming the household's address. Meanwhile a paired
   device (127.0.0.1) and a paired device behind the flooder's own address (127.0.0.2: a shared
   NAT, another program on the phone) each log in once a second: every login must succeed,
   each within 1 s. The flooder must have been refused (429) by its own limit.
2. Live exhaustion: one member (127.0.0.3) opens live views of camera 1, then of camera 2, until
   refused: at most its share (live_per_device_camera per camera, live_per_device in all), each
   refusal a 503 with Retry-After. While it holds them all, a second member's live view of
   camera 1 streams fMP4, and its snapshot and `me` answer 200.
Every load here is bounded in count and time and targets 127.0.0.0/8 only."""

import json
import os
import socket
import ssl
import threading
import time

from world import Harness, World, check, hc, log, run

FLOOD_S = 30
FLOOD_THREADS = 3
FLOOD_MAX_REQUESTS = 200000          # per thread: a bound if the machine is very fast
LOGIN_BOUND_S = 1.0
PER_DEVICE = 6                       # [web] live_per_device for this test
PER_DEVICE_CAMERA = 4                # the default [web] live_per_device_camera
LIVE_ATTEMPTS_MAX = 70               # per camera: past the old 64-per-camera limit


def flood(w, stop, tally, lock):
    """One flooding thread: its own keep-alive connection from 127.0.0.2."""
    c = w.client("flooder", source="127.0.0.2", timeout=10, retry_stale=True)
    forged = {"X-Forwarded-For": "127.0.0.1"}
    local = {}
    n = 0
    while not stop.is_set() and n < FLOOD_MAX_REQUESTS:
        kind = n % 3
        headers = forged if n % 2 else None
        try:
            if kind == 0:
                r = c.post("/api/v1/login/begin", {"public_key": hc.unpaired_key_b64()},
                           headers=headers)
            elif kind == 1:
                r = c.post("/api/v1/login/finish", {
                    "public_key": hc.unpaired_key_b64(), "nonce": hc.b64u(os.urandom(32)),
                    "signature": hc.b64u(os.urandom(64))}, headers=headers)
            else:
                r = c.pair_begin(f"ZZZZ-{n % 10000:04d}-0000", headers=headers)
            key = f"{('begin', 'finish', 'pair')[kind]} {r.status}"
        except (OSError, hc.http.client.HTTPException) as e:
            key = f"transport {type(e).__name__}"
        local[key] = local.get(key, 0) + 1
        n += 1
    c.close()
    with lock:
        for k, v in local.items():
            tally[k] = tally.get(k, 0) + v


def open_live(w, source, token, camera_id):
    """GET .../live from @source with @token's session: (status, headers, body start, socket).
    The socket is left open (the stream goes on) for the caller to close."""
    ctx = ssl.create_default_context(cafile=w.cafile)
    ctx.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", w.port), timeout=15,
                                   source_address=(source, 0))
    s = ctx.wrap_socket(raw)
    s.sendall((f"GET /api/v1/cameras/{camera_id}/live HTTP/1.1\r\nHost: 127.0.0.1:{w.port}\r\n"
               f"Cookie: {hc.COOKIE}={token}\r\n\r\n").encode())
    data = b""
    deadline = time.monotonic() + 15
    while b"\r\n\r\n" not in data and time.monotonic() < deadline and len(data) < 65536:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    check(lines and lines[0].startswith("HTTP/1.1 "), f"live: no status line in {data[:200]!r}")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest, s


def read_some(s, want, seconds):
    """Reads until @want bytes or @seconds pass."""
    data = b""
    deadline = time.monotonic() + seconds
    while len(data) < want and time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except (socket.timeout, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data


def test():
    with Harness("lockout", segment_seconds=10) as h:
        w = World(h, via="tls")
        w.start(2, web_extra=f"live_per_device = {PER_DEVICE}\n")
        cam1, cam2 = w.cams["cam1"], w.cams["cam2"]

        # ---- 1. login flood ----
        household = w.paired("household", ["cam1"], source="127.0.0.1")
        sharer = w.paired("sharer", ["cam1"], source="127.0.0.2")
        stop = threading.Event()
        tally, lock = {}, threading.Lock()
        threads = [threading.Thread(target=flood, args=(w, stop, tally, lock), daemon=True)
                   for _ in range(FLOOD_THREADS)]
        for t in threads:
            t.start()
        took = {"household": [], "sharer": []}
        t_end = time.monotonic() + FLOOD_S
        while time.monotonic() < t_end:
            tick = time.monotonic()
            for device in (household, sharer):
                t0 = time.monotonic()
                device.token = None
                device.close()
                r = device.login(patience_s=0)    # no waiting out a 429: one must not happen
                took[device.name].append(time.monotonic() - t0)
                check(r.status == 200 and device.token,
                      f"{device.name}: login {len(took[device.name])} during the flood answered "
                      f"{r!r}")
                check(device.get("/api/v1/me").status == 200,
                      f"{device.name}: the new session does not work")
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        stop.set()
        for t in threads:
            t.join(30)
        total = sum(tally.values())
        log(f"flood from 127.0.0.2: {total} requests in {FLOOD_S} s by {FLOOD_THREADS} threads: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(tally.items())))
        for name, t in took.items():
            log(f"{name} logins during the flood: {len(t)}, all 200; worst {max(t) * 1000:.0f} ms, "
                f"median {sorted(t)[len(t) // 2] * 1000:.0f} ms")
            check(len(t) >= FLOOD_S // 2, f"{name}: only {len(t)} logins in {FLOOD_S} s")
            check(max(t) <= LOGIN_BOUND_S,
                  f"{name}: a login took {max(t):.2f} s (bound {LOGIN_BOUND_S})")
        limited = sum(v for k, v in tally.items() if k.endswith(" 429"))
        check(limited > 0.9 * total, f"the flooder was not held by its limit: {tally}")
        check(total >= 300, f"the flood was too small to mean anything: {tally}")

        # ---- 2. live exhaustion ----
        greedy = w.paired("greedy", ["cam1", "cam2"], source="127.0.0.3")
        other = w.paired("other", ["cam1"], source="127.0.0.1")
        held = []
        try:
            got = {}
            for cam, expect in ((cam1, PER_DEVICE_CAMERA),
                                (cam2, PER_DEVICE - PER_DEVICE_CAMERA)):
                got[cam] = 0
                for _ in range(LIVE_ATTEMPTS_MAX):
                    status, headers, body, s = open_live(w, "127.0.0.3", greedy.token, cam)
                    if status != 200:
                        want = int(headers.get("content-length", "0") or 0)
                        body += read_some(s, want - len(body), 2)
                        s.close()
                        break
                    held.append(s)
                    got[cam] += 1
                log(f"greedy member: {got[cam]} live views of camera {cam}, then {status} "
                    f"Retry-After {headers.get('retry-after')!r} {body[:120]!r}")
                check(status == 503, f"refused live view of camera {cam}: {status}")
                check((headers.get("retry-after") or "").isdigit(),
                      f"a 503 without Retry-After: {headers}")
                check(got[cam] == expect, f"camera {cam}: {got[cam]} live views, want {expect}")
            check(b"device" in body, f"the refusal does not say whose limit: {body!r}")

            # The other member, while the greedy one holds its whole share.
            status, headers, rest, s = open_live(w, "127.0.0.1", other.token, cam1)
            try:
                check(status == 200, f"the other member's live view: {status} {headers}")
                data = rest + read_some(s, 64 * 1024, 20)
            finally:
                s.close()
            check(b"ftyp" in data[:4096] and b"moof" in data,
                  f"the other member's live view brought no fMP4 ({len(data)} bytes)")
            r = other.get(f"/api/v1/cameras/{cam1}/snapshot.jpg")
            check(r.status == 200 and r.body[:2] == b"\xff\xd8", f"the other's snapshot: {r!r}")
            r = other.get("/api/v1/me")
            check(r.status == 200 and json.loads(r.body)["device"]["name"] == "other",
                  f"the other's me: {r!r}")
            log(f"other member while greedy holds {len(held)} streams: live 200 "
                f"({len(data)} bytes of fMP4), snapshot 200, me 200")
        finally:
            for s in held:
                s.close()
        check(h.daemon.poll() is None, "the daemon died")


if __name__ == "__main__":
    run(test)
