#!/usr/bin/python3
"""A canary camera password (and this test's session tokens and invite secrets) never leaves
the places it must live. The fake cameras require RTSP authentication with a unique canary
password, given to `nvr cameras add` through --password-file; the real daemon records, detects
motion, publishes to a real mosquitto, serves the web API. Then:
- every route of `nvr http-routes` is walked as an admin (every camera, objects, devices, live
  streams read for 2 s, mutations with valid bodies), and unpaired; no response header or body
  holds the canary;
- every MQTT message (mosquitto_sub on '#' from before the daemon starts) is free of it;
- the argv and environment of every process (/proc/*/cmdline, environ) and `ps` output;
- the output of every CLI command this test runs (cameras, status, pair, devices, http-routes);
- the daemon's and workers' log, read after a clean stop: no canary, no session token, no
  invite secret."""

import json
import os
import re
import subprocess
import time

from world import Harness, World, check, hc, log, run
from mqttbroker import Broker, free_port

CANARY = "canary-" + os.urandom(6).hex() + "-Pw"


def proc_texts():
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for name in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as f:
                    out.append((pid, name, f.read().replace(b"\0", b" ").decode(errors="replace")))
            except OSError:
                pass
    return out


class Scan:
    def __init__(self, secrets):
        self.secrets = secrets      # what -> str
        self.texts = 0
        self.bytes = 0

    def look(self, where, data):
        if isinstance(data, str):
            data = data.encode(errors="replace")
        self.texts += 1
        self.bytes += len(data)
        for what, s in self.secrets.items():
            check(s.encode() not in data, f"the {what} appears in {where}")

    def response(self, where, r):
        self.look(where, "\n".join(f"{k}: {v}" for k, v in r.headers).encode() + b"\n" + r.body)


def test():
    port = free_port()
    conf = f"[mqtt]\nhost = 127.0.0.1\nport = {port}\nkeepalive_seconds = 5\n"
    with Harness("canary", segment_seconds=10, extra_config=conf) as h:
        broker = Broker(h.dir, port)
        try:
            broker.start()
            mqtt_log = os.path.join(h.dir, "mqtt.txt")
            broker.subscribe("#", mqtt_log)
            time.sleep(0.5)
            pw = os.path.join(h.dir, "cam.pw")
            with open(pw, "w") as f:
                f.write(CANARY + "\n")
            cred = ["--user", "viewer", "--password-file", pw]
            w = World(h).start(3, fakecam_args=cred, add_args=cred)
            run_checks(h, w, broker, mqtt_log)
        finally:
            broker.stop()


def run_checks(h, w, broker, mqtt_log):
    scan = Scan({"canary password": CANARY})
    cli = []

    def nvr(*args):
        rc, out, err = h.nvr(*args, check_rc=False)
        cli.append((args, rc))
        scan.look(f"`nvr {' '.join(args)}`", out + err)
        return rc, out, err

    h.wait_for("all cameras recording", lambda: all(
        c["state"] == "recording" for c in h.status()["cameras"]), 60)
    _, out, _ = nvr("pair", "--name", "admin", "--cameras", "cam1,cam2,cam3", "--admin")
    admin_code = hc.CODE_RE.search(out).group(1)
    admin = w.client("admin")
    scan.response("pair/begin", admin.pair_begin(admin_code))
    admin.token = None
    admin.pair(admin_code)
    _, out, _ = nvr("pair", "--name", "lim", "--cameras", "cam2")
    lim_code = hc.CODE_RE.search(out).group(1)
    lim = w.client("lim")
    lim.pair(lim_code)
    secrets = {"admin session token": admin.token, "limited session token": lim.token,
               "admin invite secret": normalise_secret(admin_code),
               "limited invite secret": normalise_secret(lim_code)}
    for args in (("cameras", "list"), ("cameras", "list", "--json"), ("status",),
                 ("status", "--json"), ("devices", "list"), ("http-routes",),
                 ("timeline", "cam1", "--json"), ("cameras", "motion", "cam1")):
        nvr(*args)
    failed = [a for a, rc in cli if rc != 0]
    check(not failed, f"CLI commands failed: {failed}")

    # Let segments and motion events accumulate, then walk every route.
    h.wait_for("segments and events on every camera", lambda: all(
        any(c == i for _, c, _ in w.events()) for i in w.cams.values()) and all(
        sum(1 for _, c, _ in w.segments() if c == i) >= 1 for i in w.cams.values()), 90)
    _, out, _ = nvr("http-routes")
    data = json.loads(out)
    routes = data.get("routes", data) if isinstance(data, dict) else data
    cams = sorted(w.cams.values())
    segs = {c: [s for s, cc, _ in w.segments() if cc == c][:1] for c in cams}
    evs = {c: [e for e, cc, _ in w.events() if cc == c][:1] for c in cams}
    devs = [admin.device["id"], lim.device["id"]]
    now = int(time.time() * 1e6)
    walked = 0
    for route in routes:
        method = route["method"].upper()
        pattern = route.get("pattern") or route["path"]
        policy = str(route["policy"]).lower()
        for path in fill(pattern, cams, segs, evs, devs):
            path = "/api/v1/" + re.sub(r"^/?(api/v1/)?", "", path)
            if path.endswith(("/timeline", "/segments", "/events", "/playlist.m3u8", "/export.mp4",
                              "/export.sig")):
                path += f"?from_us={now - 3600 * 10**6}&to_us={now + 10**8}"
            for who in (admin, w.client("anon")):
                if method == "GET":
                    kw = {"stream_seconds": 2.0} if path.endswith("/live") else {}
                    r = who.get(path, **kw)
                elif policy == "public":
                    if path.endswith("pair/begin"):
                        r = who.post(path, {"code": lim_code})
                    elif path.endswith("login/begin"):
                        r = who.post(path, {"public_key": admin.public_key})
                    else:
                        continue      # the finish steps ran in admin.pair() above
                elif path.endswith("/revoke") or path.endswith("/logout") or method == "DELETE":
                    continue          # would end this walk; covered by test_authz (and
                                      # removing cameras by tests/integration/test_admin.py)
                elif path.endswith("/settings/onvif/scan") and who is admin:
                    continue          # a real multicast probe: test_onvif sends it in a netns
                elif "/settings/cameras/" in path and method == "PUT" and \
                        not path.endswith("/motion"):
                    # A real edit: the answer is the camera's settings, which must not hold
                    # its password.
                    r = who.request("PUT", path, body={"retention_days": 7})
                elif path.endswith("/cameras") and method == "PUT":
                    r = who.request("PUT", path, body={"cameras": cams})
                elif path.endswith("/invites"):
                    r = who.post(path, {"name": "walk", "cameras": cams, "admin": False,
                                        "ttl_s": 60})
                else:
                    r = who.request(method, path, body={})
                walked += 1
                scan.response(f"{method} {path} ({who.name}: {r.status})", r)
    log(f"walked {walked} API requests over {len(routes)} routes")

    for pid, name, text in proc_texts():
        scan.look(f"/proc/{pid}/{name}", text)
    ps = subprocess.run(["ps", "auxeww"], capture_output=True, text=True).stdout
    scan.look("ps auxeww", ps)

    check(h.stop_daemon() == 0, "the daemon did not exit cleanly")
    time.sleep(1)
    with open(mqtt_log, "rb") as f:
        mqtt = f.read()
    check(mqtt.count(b"\n") >= 3 and b"hearth/" in mqtt, f"MQTT saw too little: {mqtt[:200]!r}")
    scan.look("MQTT messages", mqtt)
    with open(h.daemon_log, "rb") as f:
        daemon_log = f.read()
    scan.look("the daemon's and workers' log", daemon_log)
    for what, s in secrets.items():
        check(s.encode() not in daemon_log, f"the {what} appears in the daemon's log")
    n_mqtt = mqtt.count(b"\n")
    log(f"canary: {scan.texts} texts ({scan.bytes} bytes) checked: {walked} API responses, "
        f"{n_mqtt} MQTT messages, {len(cli)} CLI outputs, process argv/environ, "
        f"{len(daemon_log)} bytes of logs; 0 leaks")


def normalise_secret(code):
    return hc.normalise_code(code)[4:]


def fill(pattern, cams, segs, evs, devs):
    """Every concrete path for @pattern: one per camera (with that camera's own objects)."""
    p = pattern.split("?", 1)[0]
    slots = re.findall(r"\{[^}]*\}|:[A-Za-z_]+", p)
    if not slots:
        return [p]
    out = []
    if re.search(r"devices/(\{[^}]*\}|:[A-Za-z_]+)", p):
        return [re.sub(r"\{[^}]*\}|:[A-Za-z_]+", str(d), p, count=1) for d in devs]
    for c in cams:
        objs = segs[c] if "/segments/" in p else evs[c] if "/events/" in p else [None]
        for o in objs:
            q = re.sub(r"\{[^}]*\}|:[A-Za-z_]+", str(c), p, count=1)
            if o is not None:
                q = re.sub(r"\{[^}]*\}|:[A-Za-z_]+", str(o), q, count=1)
            out.append(q)
    return out


if __name__ == "__main__":
    run(test)
