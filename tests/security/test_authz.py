#!/usr/bin/python3
"""Authorization matrix (docs/design/auth.md "Routes", "Policies"): every route the daemon has
(`nvr http-routes`) x {no cookie, garbage cookie, forged token, revoked device, limited device,
admin} x every camera (active, removed, never existed), including segment and event ids that
belong to OTHER cameras put under a camera's path, against the real daemon, real workers and
fakecam, straight on the daemon's unix socket (so X-Sendfile is visible).

Expected, from the invites this test made (never from the server's own answers):
  allowed  <-> 200, X-Hearth-Camera = the camera in the URL, media named by X-Sendfile is that
               object's file (catalog) or, for snapshots and live, shows that camera's ID code;
  refused  <-> exactly 401 (no valid session) / 403 (not admin) / 404 (camera or object not
               visible: the same body whether it exists or not), a JSON error, no media byte, no
               X-Sendfile.
Every response also carries Cache-Control: no-store and X-Content-Type-Options: nosniff.
The test fails if the route table has a route this matrix has no rule for, a rule whose route
is missing, or a policy weaker than the rule's."""

import json
import os
import re
import struct
import subprocess
import time
from contextlib import closing

from world import Harness, World, check, hc, log, run
from harness import IDREAD

N_CAMS = 4            # cam1..cam4 recording; cam5 is added, put in an ACL, then removed
LIMITED = ["cam1", "cam3", "cam5"]
ADMIN = ["cam1", "cam2", "cam3", "cam4", "cam5"]
PER_CAMERA_OBJECTS = 2
LIVE_READ_S = 2.0


class Rule:
    def __init__(self, policy, obj=None, media=None, query="", mutation=False, phase=0,
                 check=None, ok=200):
        self.policy = policy       # public | session | camera | admin
        self.obj = obj             # None | "segment" | "event"
        self.media = media         # None | content type of the media answer | "live" | "playlist"
        self.query = query
        self.mutation = mutation
        self.phase = phase         # 0 reads, 1 admin mutations, 2 logout (ends sessions)
        self.check = check         # extra check of an allowed answer: fn(ctx, principal, params, r)
        self.ok = ok               # the status of an allowed answer (201 for a creation)


def placeholder(before):
    return {"cameras": "{cam}", "segments": "{seg}", "events": "{ev}",
            "devices": "{dev}"}.get(before, "{?}")


def normalise(pattern):
    """'/api/v1/cameras/{camera_id}/segments/:seg/media' -> 'cameras/{cam}/segments/{seg}/media'"""
    p = pattern.split("?", 1)[0]
    p = re.sub(r"^/?(api/v1/)?", "", p)
    parts = p.strip("/").split("/")
    out = []
    for i, seg in enumerate(parts):
        if re.fullmatch(r"\{[^}]*\}|:[A-Za-z_]+|<[^>]*>|\*|%[a-z]+", seg):
            out.append(placeholder(parts[i - 1] if i else ""))
        else:
            out.append(seg)
    return "/".join(out)


def routes_from_cli(h):
    """[(method, normalised pattern, policy, object or None, media or None)]"""
    _, out, _ = h.nvr("http-routes")
    data = json.loads(out)
    if isinstance(data, dict):
        data = data.get("routes", data)
    routes = []
    for r in data:
        obj = r.get("object")
        routes.append((r["method"].upper(), normalise(r.get("pattern") or r["path"]),
                       str(r["policy"]).lower(), None if obj in (None, "none") else obj,
                       r.get("media")))
    return routes


# ---------------------------------------------------------------------------------------------
# checks of allowed answers

def check_me(ctx, p, params, r):
    d = r.json()["device"]
    got = {c["id"] if isinstance(c, dict) else c for c in d["cameras"]}
    check(got == p.visible, f"{p.name}: /me cameras {sorted(got)}, invited {sorted(p.visible)}")
    check(bool(d["admin"]) == p.admin, f"{p.name}: /me admin {d['admin']}")


def check_cameras(ctx, p, params, r):
    got = {c["id"] for c in r.json()["cameras"]}
    check(got == p.visible, f"{p.name}: /cameras lists {sorted(got)}, ACL {sorted(p.visible)}")


def check_camera(ctx, p, params, r):
    check(r.json()["id"] == params["cam"], f"cameras/{params['cam']} answered {r.body[:200]}")


def check_segment_list(ctx, p, params, r):
    own = {s for s, c, _ in ctx.all_segments if c == params["cam"]}
    ids = [s["id"] for s in r.json()["segments"]]
    foreign = [i for i in ids if i not in own and i in ctx.segment_owner]
    check(not foreign, f"cameras/{params['cam']}/segments lists other cameras' segments {foreign}")
    check(ids, f"cameras/{params['cam']}/segments is empty although it recorded")


def check_event_list(ctx, p, params, r):
    own = {e for e, c, _ in ctx.all_events if c == params["cam"]}
    ids = [e["id"] for e in r.json()["events"]]
    foreign = [i for i in ids if i not in own and i in ctx.event_owner]
    check(not foreign, f"cameras/{params['cam']}/events lists other cameras' events {foreign}")


def check_timeline(ctx, p, params, r):
    j = r.json()
    check("spans" in j and "gaps" in j, f"timeline answer {r.body[:200]}")


def check_devices(ctx, p, params, r):
    ids = {d["id"] for d in r.json()["devices"]}
    check(ctx.device_ids <= ids, f"devices lists {ids}, paired {ctx.device_ids}")


def check_box(ctx, p, params, r):
    j = r.json()
    check(re.fullmatch(r"([0-9a-f]{4}:){7}[0-9a-f]{4}", j.get("fingerprint", "")) is not None
          and re.fullmatch(r"[0-9a-f]{64}", j.get("public_key", "")) is not None,
          f"box answer {r.body[:200]}")


def check_settings_cameras(ctx, p, params, r):
    cams = r.json()["cameras"]
    check({c["id"] for c in cams} == ctx.active,
          f"settings/cameras lists {[c['id'] for c in cams]}, active {sorted(ctx.active)}")
    for c in cams:
        check("password" not in c and isinstance(c["password_set"], bool),
              f"settings/cameras shows a password member: {sorted(c)}")


def check_audit(ctx, p, params, r):
    j = r.json()
    ids = [e["id"] for e in j["entries"]]
    check(ids == sorted(ids, reverse=True) and "next_before_id" in j, f"audit answer {j}")


def check_health(ctx, p, params, r):
    j = r.json()
    check({c["id"] for c in j["cameras"]} == ctx.active and
          {"version", "uptime_s", "disk", "retention", "mqtt"} <= set(j), f"health answer {j}")


RANGE = "?from_us={from_us}&to_us={to_us}"
RULES = {
    ("POST", "pair/begin"): Rule("public"),
    ("POST", "pair/finish"): Rule("public"),
    ("POST", "login/begin"): Rule("public"),
    ("POST", "login/finish"): Rule("public"),
    ("POST", "logout"): Rule("session", mutation=True, phase=2),
    ("GET", "me"): Rule("session", check=check_me),
    ("GET", "box"): Rule("session", check=check_box),
    ("GET", "cameras"): Rule("session", check=check_cameras),
    ("GET", "cameras/{cam}"): Rule("camera", check=check_camera),
    ("GET", "cameras/{cam}/timeline"): Rule("camera", query=RANGE, check=check_timeline),
    ("GET", "cameras/{cam}/segments"): Rule("camera", query=RANGE, check=check_segment_list),
    ("GET", "cameras/{cam}/segments/{seg}/media"): Rule("camera", obj="segment",
                                                        media="video/mp4"),
    ("GET", "cameras/{cam}/snapshot.jpg"): Rule("camera", media="image/jpeg"),
    ("GET", "cameras/{cam}/events"): Rule("camera", query=RANGE, check=check_event_list),
    ("GET", "cameras/{cam}/events/{ev}/thumbnail.jpg"): Rule("camera", obj="event",
                                                             media="image/jpeg"),
    ("GET", "cameras/{cam}/live"): Rule("camera", media="live"),
    ("GET", "cameras/{cam}/playlist.m3u8"): Rule("camera", query=RANGE, media="playlist"),
    ("GET", "cameras/{cam}/export.mp4"): Rule("camera", query=RANGE, media="export"),
    ("GET", "cameras/{cam}/export.sig"): Rule("camera", query=RANGE, media="signature"),
    ("GET", "devices"): Rule("admin", check=check_devices),
    ("PUT", "devices/{dev}/cameras"): Rule("admin", mutation=True, phase=1),
    ("POST", "invites"): Rule("admin", mutation=True, phase=1),
    ("POST", "devices/{dev}/revoke"): Rule("admin", mutation=True, phase=1),
    # Administration (docs/design/admin.md): the table says {id} (the camera an admin changes,
    # not an ACL check); normalise() spells every id after "cameras/" {cam}.
    ("GET", "settings/cameras"): Rule("admin", check=check_settings_cameras),
    ("POST", "settings/cameras"): Rule("admin", mutation=True, phase=1, ok=201),
    ("PUT", "settings/cameras/{cam}"): Rule("admin", mutation=True, phase=1),
    ("DELETE", "settings/cameras/{cam}"): Rule("admin", mutation=True, phase=1),
    ("PUT", "settings/cameras/{cam}/motion"): Rule("admin", mutation=True, phase=1),
    ("GET", "audit"): Rule("admin", check=check_audit),
    ("GET", "health"): Rule("admin", check=check_health),
    # Camera tests and ONVIF (docs/design/admin.md): refused ones start no probe; the admin's
    # answers are tests/integration/test_probe.py --part http and test_onvif.py.
    ("POST", "settings/cameras/test"): Rule("admin", mutation=True, phase=1),
    ("POST", "settings/onvif/profiles"): Rule("admin", mutation=True, phase=1),
    ("POST", "settings/onvif/scan"): Rule("admin", mutation=True, phase=1),
}


class Principal:
    def __init__(self, name, client, session, visible=frozenset(), admin=False):
        self.name = name
        self.client = client
        self.session = session          # TRUE if it holds a valid session
        self.visible = set(visible)     # camera ids it may see
        self.admin = admin
        self.cookie = True              # what Client.request sends


class Ctx:
    pass


def top_level_boxes(path):
    """Types of an MP4 file's top-level boxes, in order."""
    types = []
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        off = 0
        while off + 8 <= size:
            f.seek(off)
            n, t = struct.unpack(">I4s", f.read(8))
            if n == 1:
                n = struct.unpack(">Q", f.read(8))[0]
            if n < 8:
                break
            types.append(t.decode("latin-1"))
            off += n
    return types


def idcode_of_bytes(data):
    """{code: frames} of an fMP4 byte stream (idread reads it from stdin)."""
    return idcode_of_file("-", data)


def idcode_of_file(path, data=None):
    r = subprocess.run([IDREAD, "--json", path], input=data, capture_output=True, timeout=60)
    if r.returncode not in (0, 1):
        return {}
    return {int(k): v for k, v in json.loads(r.stdout)["codes"].items()}


class Matrix:
    def __init__(self, w, ctx):
        self.w = w
        self.ctx = ctx
        self.checked = 0
        self.refusals = 0
        self.allowed = 0
        self.no_store = 0
        self.unfragmented_exports = 0
        self.not_found_bodies = {}     # (principal, route) -> set of bodies with digits removed
        self.problems = []

    def problem(self, text):
        self.problems.append(text)
        log(f"  PROBLEM: {text}")

    def expect(self, p, rule, params):
        """0 = allowed, else the status the contract gives."""
        if rule.policy == "public":
            return 0
        if not p.session:
            return 401
        if rule.policy == "session":
            return 0
        if rule.policy == "admin":
            return 0 if p.admin else 403
        cam = params["cam"]
        if cam not in p.visible or cam not in self.ctx.active:
            return 404
        if rule.obj == "segment" and self.ctx.segment_owner.get(params["seg"]) != cam:
            return 404
        if rule.obj == "event" and self.ctx.event_owner.get(params["ev"]) != cam:
            return 404
        return 0

    def send(self, p, method, path, rule, body=None):
        kw = {"cookie": p.cookie}
        if rule.media == "live":
            kw["stream_seconds"] = LIVE_READ_S
        if method == "GET":
            return p.client.request(method, path, **kw)
        return p.client.request(method, path, body=body if body is not None else {}, **kw)

    def common(self, what, r):
        cc = (r.header("Cache-Control") or "").lower()
        if "no-store" not in cc:
            self.problem(f"{what}: Cache-Control {cc!r}, not no-store")
        else:
            self.no_store += 1
        if (r.header("X-Content-Type-Options") or "").lower() != "nosniff":
            self.problem(f"{what}: no X-Content-Type-Options: nosniff")
        if not r.header("Content-Type"):
            self.problem(f"{what}: no Content-Type")

    def one(self, p, method, route, rule, params, body=None):
        path = "/api/v1/" + route.format(**params) + rule.query.format(**self.ctx.range)
        what = f"{p.name} {method} {path}"
        want = self.expect(p, rule, params)
        r = self.send(p, method, path, rule, body)
        self.checked += 1
        self.common(what, r)
        hcam = r.header("X-Hearth-Camera")
        if "cam" in params and hcam is not None and hcam != str(params["cam"]):
            self.problem(f"{what}: X-Hearth-Camera {hcam} for camera {params['cam']}")
        if want == 0:
            self.allowed += 1
            if rule.media in ("export", "signature") and not self.ctx.fragmented and \
                    r.status == 409 and b"not fragmented" in r.body:
                # Until the recorder keeps segments fragmented (the `fragments` branch), an
                # allowed export must be this clear refusal; once it does, a 200 with the bytes.
                self.unfragmented_exports += 1
                return r
            if r.status != rule.ok:
                self.problem(f"{what}: expected {rule.ok}, got {r!r}")
                return r
            if "cam" in params and hcam != str(params["cam"]):
                self.problem(f"{what}: allowed but X-Hearth-Camera = {hcam!r}")
            self.check_allowed(what, p, rule, params, r)
        else:
            self.refusals += 1
            self.check_refused(what, want, r)
            if want == 404 and rule.policy == "camera":
                key = (p.name, method, route)
                self.not_found_bodies.setdefault(key, set()).add(re.sub(rb"\d+", b"N", r.body))
        return r

    def check_refused(self, what, want, r):
        if r.status != want:
            self.problem(f"{what}: expected {want}, got {r!r}")
        ct = (r.header("Content-Type") or "").lower()
        if r.header("X-Sendfile") is not None or r.header("X-Sendfile2") is not None:
            self.problem(f"{what}: refusal carries X-Sendfile {r.header('X-Sendfile')}")
        if not ct.startswith("application/json"):
            self.problem(f"{what}: refusal has Content-Type {ct!r}")
        if r.truncated or len(r.body) > 1024:
            self.problem(f"{what}: refusal body of {len(r.body)} bytes (truncated={r.truncated})")
            return
        try:
            j = json.loads(r.body)
            if not isinstance(j, dict) or not isinstance(j.get("error"), str):
                self.problem(f"{what}: refusal body is not {{\"error\": ...}}: {r.body[:100]!r}")
        except ValueError:
            self.problem(f"{what}: refusal body is not JSON: {r.body[:100]!r}")
        if r.header("X-Hearth-Codec") is not None:
            self.problem(f"{what}: refusal carries X-Hearth-Codec")

    def check_allowed(self, what, p, rule, params, r):
        ct = (r.header("Content-Type") or "").lower()
        if rule.media is None:
            if not ct.startswith("application/json"):
                self.problem(f"{what}: Content-Type {ct!r}")
            try:
                r.json()
            except ValueError:
                self.problem(f"{what}: body is not JSON")
                return
            if rule.check:
                try:
                    rule.check(self.ctx, p, params, r)
                except Exception as e:    # a Failure or a missing member
                    self.problem(f"{what}: {e!r}")
            return
        cam = params["cam"]
        if rule.media == "playlist":
            # A playlist names byte ranges of segment files: every one must be this camera's
            # (the ranges themselves are the media route, checked above with every principal).
            if not ct.startswith("application/vnd.apple.mpegurl"):
                self.problem(f"{what}: playlist Content-Type {ct!r}")
            text = r.body.decode(errors="replace")
            ids = {int(i) for i in re.findall(r"segments/(\d+)/media", text)}
            owners = {s: c for s, c, _ in self.w.segments(complete=False)}
            if not text.startswith("#EXTM3U\n") or not ids:
                self.problem(f"{what}: not a playlist of the last hour: {text[:120]!r}")
            foreign = sorted(i for i in ids if owners.get(i) != cam)
            if foreign:
                self.problem(f"{what}: playlist names segments {foreign} of other cameras")
            return
        code = self.w.code_of(self.w.name_of(cam))
        if rule.media == "export":
            name = self.w.name_of(cam)
            cd = r.header("Content-Disposition") or ""
            if not ct.startswith("video/mp4") or \
                    not re.fullmatch(rf'attachment; filename="{name}-\d{{8}}T\d{{6}}Z-'
                                     rf'\d{{8}}T\d{{6}}Z\.mp4"', cd):
                self.problem(f"{what}: export Content-Type {ct!r}, Content-Disposition {cd!r}")
            if r.header("Content-Length") != str(len(r.body)):
                self.problem(f"{what}: Content-Length {r.header('Content-Length')}, "
                             f"{len(r.body)} bytes read")
            codes = idcode_of_bytes(r.body)
            if set(codes) != {code}:
                self.problem(f"{what}: export shows codes {codes}, expected only {code}")
            return
        if rule.media == "signature":
            head = f"hearth-export-signature 1\ncamera {self.w.name_of(cam)}\n".encode()
            if not ct.startswith("text/plain") or not r.body.startswith(head):
                self.problem(f"{what}: signature {ct!r} {r.body[:80]!r}")
            return
        if rule.media == "live":
            if not ct.startswith("video/mp4"):
                self.problem(f"{what}: live Content-Type {ct!r}")
            if not re.fullmatch(r"(avc1|hvc1|hev1)\.[0-9A-Za-z.]+", r.header("X-Hearth-Codec") or ""):
                self.problem(f"{what}: X-Hearth-Codec {r.header('X-Hearth-Codec')!r}")
            codes = idcode_of_bytes(r.body)
            if set(codes) != {code}:
                self.problem(f"{what}: {len(r.body)} live bytes show codes {codes}, "
                             f"expected only {code}")
            return
        if not ct.startswith(rule.media):
            self.problem(f"{what}: Content-Type {ct!r}, expected {rule.media}")
        path = r.header("X-Sendfile")
        if path is None or r.body:
            self.problem(f"{what}: media without X-Sendfile or with a body ({len(r.body)} bytes)")
            return
        real = os.path.realpath(path)
        if not real.startswith(os.path.realpath(os.path.join(self.w.h.root, "recordings")) + os.sep):
            self.problem(f"{what}: X-Sendfile {path} is outside <storage root>/recordings")
        if rule.obj == "segment":
            if real != os.path.realpath(self.ctx.segment_path[params["seg"]]):
                self.problem(f"{what}: X-Sendfile {path}, catalog "
                             f"{self.ctx.segment_path[params['seg']]}")
        elif rule.obj == "event":
            if real != os.path.realpath(self.ctx.event_path[params["ev"]]):
                self.problem(f"{what}: X-Sendfile {path}, catalog {self.ctx.event_path[params['ev']]}")
        else:   # snapshot: only the pixels can say whose it is
            codes = idcode_of_file(path)
            if not codes or max(codes, key=codes.get) != code or len(codes) != 1:
                self.problem(f"{what}: snapshot {path} shows codes {codes}, expected {code}")


def test():
    with Harness("authz", segment_seconds=10, extra_config="[motion]\nend_after_ms = 1500\n") as h:
        w = World(h).start(N_CAMS + 1)
        ctx = Ctx()

        routes = routes_from_cli(h)
        log(f"nvr http-routes: {len(routes)} routes")
        for m, p, pol, obj, media in routes:
            log(f"  {m:6} {p:45} {pol:8} object {obj} media {media}")
        table = {(m, p): (pol, obj, media) for m, p, pol, obj, media in routes}
        check(len(routes) == len(table), "duplicate routes in the table")
        unruled = [f"{m} {p} ({v[0]})" for (m, p), v in table.items() if (m, p) not in RULES]
        check(not unruled, f"routes without a matrix rule: {unruled}")
        missing = [f"{m} {p}" for (m, p) in RULES if (m, p) not in table]
        check(not missing, f"contract routes missing from the route table: {missing}")
        for (m, p), r in RULES.items():
            pol, obj, media = table[(m, p)]
            check(pol == r.policy, f"{m} {p}: policy {pol}, the contract says {r.policy}")
            check(obj == r.obj, f"{m} {p}: object {obj}, the contract says {r.obj}")
            check(media is None or bool(media) == (r.media is not None),
                  f"{m} {p}: media {media}, the contract says {r.media}")

        # Devices, through the real pairing API with codes from `nvr pair`.
        limited = w.paired("limited", LIMITED)
        admin = w.paired("admin", ADMIN, admin=True)
        revoked = w.paired("revoked", ["cam1", "cam2"])
        victim = w.paired("victim", ["cam2"])
        rc, out, err = h.nvr("devices", "revoke", str(revoked.device["id"]), check_rc=False)
        check(rc == 0, f"nvr devices revoke failed ({rc}): {out}{err}")
        _, out, _ = h.nvr("devices", "list")
        log(out)
        ctx.device_ids = {c.device["id"] for c in (limited, admin, revoked, victim)}

        # cam5 was in two ACLs; now it is removed (its rows stay) and must be invisible.
        removed_id = w.cams["cam5"]
        h.nvr("cameras", "remove", "cam5")
        w.refresh_cameras()
        ctx.active = set(w.cams.values())
        w.cams["cam5"] = removed_id
        never = max(ctx.active | {removed_id}) + 1000
        cam_ids = sorted(ctx.active) + [removed_id, never]

        # Recordings, events with thumbnails, snapshots: wait until every camera has them.
        def have_objects():
            segs = w.segments()
            evs = w.events()
            return all(sum(1 for _, c, _ in segs if c == i) >= PER_CAMERA_OBJECTS and
                       any(c == i for _, c, _ in evs) for i in ctx.active)
        h.wait_for("segments and event thumbnails of every camera", have_objects, 120)

        def snapshots_ready():
            return all(admin.get(f"/api/v1/cameras/{i}/snapshot.jpg").status == 200
                       for i in ctx.active)
        h.wait_for("a snapshot of every camera", snapshots_ready, 60)

        ctx.all_segments = w.segments(complete=False)
        ctx.all_events = w.events(with_thumbnail=False)
        ctx.segment_owner = {s: c for s, c, _ in ctx.all_segments}
        ctx.event_owner = {e: c for e, c, _ in ctx.all_events}
        ctx.segment_path = {s: p for s, _, p in ctx.all_segments}
        ctx.event_path = {e: p for e, _, p in ctx.all_events}
        segs, evs = [], []
        for i in sorted(ctx.active | {removed_id}):
            segs += [s for s, c, _ in w.segments() if c == i][:PER_CAMERA_OBJECTS]
            evs += [e for e, c, _ in w.events() if c == i][:PER_CAMERA_OBJECTS]
        segs.append(max(ctx.segment_owner) + 1000)
        evs.append(max(ctx.event_owner, default=0) + 1000)
        now_us = int(time.time() * 1e6)
        ctx.range = {"from_us": now_us - 3600 * 10**6, "to_us": now_us + 60 * 10**6}
        # Does the recorder keep segments fragmented (moof boxes)? Decides what an allowed
        # export must answer (Matrix.one).
        ctx.fragmented = "moof" in top_level_boxes(ctx.segment_path[segs[0]])
        log(f"segments are {'fragmented' if ctx.fragmented else 'finalised (not fragmented)'}")
        log(f"cameras {cam_ids} (active {sorted(ctx.active)}, removed {removed_id}, never "
            f"{never}); segments {segs}; events {evs}")

        principals = [
            Principal("no-cookie", w.client("no-cookie"), False),
            Principal("garbage-cookie", w.client("garbage"), False),
            Principal("forged-token", w.client("forged"), False),
            Principal("revoked", revoked, False),
            Principal("limited", limited, True, {w.cams[n] for n in LIMITED} & ctx.active),
            Principal("admin", admin, True, {w.cams[n] for n in ADMIN} & ctx.active, admin=True),
        ]
        principals[1].cookie = f"{hc.COOKIE}=garbage%00;'\"<>"
        principals[2].cookie = f"{hc.COOKIE}={hc.b64u(os.urandom(32))}"
        mx = Matrix(w, ctx)

        # Phase 0: every read route x principal x camera x object.
        t0 = time.monotonic()
        for (method, route), rule in RULES.items():
            if rule.phase != 0 or rule.policy == "public":
                continue
            for p in principals:
                for params in param_space(route, cam_ids, segs, evs, []):
                    mx.one(p, method, route, rule, params)
        for key, bodies in mx.not_found_bodies.items():
            if len(bodies) > 1:
                mx.problem(f"{key}: 404 bodies differ between cameras/objects: {bodies}")
        log(f"reads: {mx.checked} requests in {time.monotonic() - t0:.1f} s")

        # Phase 1: admin mutations; the refused ones must change nothing.
        before_devices = w.devices()
        before_acl = acl_rows(h)
        before_invites = w.count("invites")
        targets = [admin.device["id"], limited.device["id"], victim.device["id"], never]
        acl_body = {"cameras": sorted(ctx.active)}
        invite_body = {"name": "sneaky", "cameras": sorted(ctx.active), "admin": True, "ttl_s": 600}
        for p in principals:
            if p.admin:
                continue
            for dev in targets:
                mx.one(p, "PUT", "devices/{dev}/cameras", RULES[("PUT", "devices/{dev}/cameras")],
                       {"dev": dev}, acl_body)
                mx.one(p, "POST", "devices/{dev}/revoke", RULES[("POST", "devices/{dev}/revoke")],
                       {"dev": dev})
            mx.one(p, "POST", "invites", RULES[("POST", "invites")], {}, invite_body)
            mx.one(p, "POST", "settings/cameras/test", RULES[("POST", "settings/cameras/test")],
                   {}, {"main_url": "rtsp://127.0.0.1:9/x"})
            mx.one(p, "POST", "settings/onvif/profiles",
                   RULES[("POST", "settings/onvif/profiles")], {},
                   {"address": "127.0.0.1:9", "user": "u", "password": "p"})
            mx.one(p, "POST", "settings/onvif/scan", RULES[("POST", "settings/onvif/scan")], {},
                   {})
        check("nvr-probe" not in open(h.daemon_log, errors="replace").read(),
              "a refused camera test or ONVIF request started a probe")
        check(w.devices() == before_devices, "a refused mutation changed the devices table")
        check(acl_rows(h) == before_acl, "a refused mutation changed an ACL")
        check(w.count("invites") == before_invites, "a refused mutation created an invite")
        # Camera administration refused: no camera row, ACL or audit entry changes.
        before_cams, before_audit = camera_rows(h), audit_rows(h)
        new_cam = {"name": "sneaky", "main_url": h.cam_url(N_CAMS + 1), "password": "pw",
                   "user": "u"}
        for p in principals:
            if p.admin:
                continue
            mx.one(p, "POST", "settings/cameras", RULES[("POST", "settings/cameras")], {},
                   new_cam)
            for cam in cam_ids:
                for method, route, body in (
                        ("PUT", "settings/cameras/{cam}", {"name": "renamed", "password": None}),
                        ("DELETE", "settings/cameras/{cam}", {}),
                        ("PUT", "settings/cameras/{cam}/motion", {"masks": ["0,0 1,0 1,1"]})):
                    mx.one(p, method, route, RULES[(method, route)], {"cam": cam}, body)
        check(camera_rows(h) == before_cams, "a refused camera change changed the cameras table")
        check(acl_rows(h) == before_acl, "a refused camera change changed an ACL")
        check(audit_rows(h) == before_audit, "a refused camera change was audited")
        # The admin: same ACL back for `limited` (200, unchanged), an invite, revoke `victim`.
        # (cam5 is removed: an ACL may name active cameras only, so it drops out here.)
        lim_acl = sorted(set(limited_acl_ids(h, limited.device["id"])) & ctx.active)
        mx.one(principals[5], "PUT", "devices/{dev}/cameras",
               RULES[("PUT", "devices/{dev}/cameras")], {"dev": limited.device["id"]},
               {"cameras": lim_acl})
        check(sorted(limited_acl_ids(h, limited.device["id"])) == lim_acl,
              f"the admin's PUT left limited with {limited_acl_ids(h, limited.device['id'])}")
        r = mx.one(principals[5], "POST", "invites", RULES[("POST", "invites")], {},
                   {"name": "by-admin", "cameras": [w.cams["cam1"]], "admin": False, "ttl_s": 60})
        check(r.status == 200 and hc.CODE_RE.search(r.json().get("code", "")),
              f"admin invite answered {r!r}")
        check(w.count("invites") == before_invites + 1, "the admin's invite was not stored")
        check(victim.get("/api/v1/me").status == 200, "victim has no session before its revoke")
        mx.one(principals[5], "POST", "devices/{dev}/revoke",
               RULES[("POST", "devices/{dev}/revoke")], {"dev": victim.device["id"]})
        check(w.devices()[victim.device["id"]]["revoked_us"] is not None, "victim not revoked")
        r = victim.get(f"/api/v1/cameras/{w.cams['cam2']}/snapshot.jpg")
        check(r.status == 401 and r.header("X-Sendfile") is None,
              f"revoked victim still served: {r!r}")
        # The admin's camera changes take effect: add (it joins the admin's ACL and no one
        # else's), rename, masks, delete (it leaves every ACL); each is audited.
        r = mx.one(principals[5], "POST", "settings/cameras", RULES[("POST", "settings/cameras")],
                   {}, dict(new_cam, name="matrix-new"))
        check(r.status == 201, f"the admin's add answered {r!r}")
        new_id = r.json()["camera"]["id"]
        check([d for d, c in acl_rows(h) if c == new_id] == [admin.device["id"]],
              f"the new camera's ACL rows {[d for d, c in acl_rows(h) if c == new_id]}")
        for method, route, body in (
                ("PUT", "settings/cameras/{cam}", {"name": "matrix-renamed"}),
                ("PUT", "settings/cameras/{cam}/motion", {"masks": ["0,0 1,0 1,1"]}),
                ("DELETE", "settings/cameras/{cam}", {})):
            mx.one(principals[5], method, route, RULES[(method, route)], {"cam": new_id}, body)
        check(all(c != new_id for _, c in acl_rows(h)), "the deleted camera is still in an ACL")
        with closing(h.catalog()) as db:
            row = db.execute("SELECT name, removed_us FROM cameras WHERE id = ?",
                             (new_id,)).fetchone()
        check(row[0] == "matrix-renamed" and row[1] is not None, f"the admin's camera {row}")
        check(audit_rows(h) == before_audit + 4 + 3,
              f"audit entries {audit_rows(h) - before_audit} after the admin's changes")

        # Phase 2: logout ends the session; afterwards the same cookie is worth nothing.
        for p in principals:
            mx.one(p, "POST", "logout", RULES[("POST", "logout")], {})
            if p.session:
                r = p.client.get("/api/v1/me", cookie=p.cookie)
                check(r.status == 401, f"{p.name}: /me after logout answered {r.status}")
                mx.checked += 1
                mx.refusals += 1

        # Off-table paths and methods: never a 200, never media.
        probes = odd_paths(sorted(ctx.active)[0], segs[0])
        fresh_admin = w.client("admin-again", key=admin.key)
        r = fresh_admin.login()
        check(r.status == 200, f"admin login answered {r!r}")
        for method, path in probes:
            r = fresh_admin.request(method, path, body={} if method != "GET" else None)
            mx.checked += 1
            mx.common(f"{method} {path}", r)
            if r.status not in (400, 404, 405) or r.header("X-Sendfile") or len(r.body) > 1024:
                mx.problem(f"probe {method} {path}: {r!r}")
            else:
                mx.refusals += 1

        log(f"authorization matrix: {mx.checked} requests checked, {mx.allowed} allowed, "
            f"{mx.refusals} refusals, {mx.no_store} with no-store, {len(mx.problems)} problems; "
            f"{mx.unfragmented_exports} allowed exports refused as not fragmented")
        check(not mx.problems, f"{len(mx.problems)} problems, first: {mx.problems[:5]}")
        check(h.daemon.poll() is None, "the daemon died")


def param_space(route, cams, segs, evs, devs):
    keys = re.findall(r"\{(\w+)\}", route)
    spaces = [[{}]]
    for k in keys:
        vals = {"cam": cams, "seg": segs, "ev": evs, "dev": devs}[k]
        spaces.append([{k: v} for v in vals])
    out = [{}]
    for space in spaces[1:]:
        out = [dict(a, **b) for a in out for b in space]
    return out


def camera_rows(h):
    with closing(h.catalog()) as db:
        return [tuple(r) for r in db.execute("SELECT * FROM cameras ORDER BY id")]


def audit_rows(h):
    with closing(h.catalog()) as db:
        return db.execute("SELECT count(*) FROM audit").fetchone()[0]


def acl_rows(h):
    with closing(h.catalog()) as db:
        return sorted(tuple(r) for r in db.execute("SELECT device_id, camera_id FROM device_cameras"))


def limited_acl_ids(h, dev):
    return [c for d, c in acl_rows(h) if d == dev]


def odd_paths(cam, seg):
    return [
        ("GET", "/api/v1/nope"),
        ("GET", "/api/v1/"),
        ("GET", "/api/v2/cameras"),
        ("GET", f"/api/v1/cameras/{cam}/segments/{seg}/media/"),
        ("GET", f"/api/v1/cameras/{cam}/segments/{seg}/media/x"),
        ("GET", "/api/v1/cameras/abc/snapshot.jpg"),
        ("GET", "/api/v1/cameras/-1/snapshot.jpg"),
        ("GET", "/api/v1/cameras/99999999999999999999999999/snapshot.jpg"),
        ("GET", f"/api/v1/cameras/{cam}/segments/-{seg}/media"),
        ("GET", f"/api/v1/cameras/{cam}/segments/{seg}x/media"),
        ("GET", f"/api/v1/cameras/{cam}/events/0x1/thumbnail.jpg"),
        ("DELETE", "/api/v1/cameras"),
        ("POST", f"/api/v1/cameras/{cam}/snapshot.jpg"),
        ("PUT", "/api/v1/me"),
        ("GET", "/api/v1/pair/begin"),
        ("GET", "/api/v1/devices/1/revoke"),
    ]


if __name__ == "__main__":
    run(test)
