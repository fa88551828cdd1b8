#!/usr/bin/python3
"""ONVIF through the daemon's probe process (docs/design/admin.md "Testing and finding cameras"),
against tests/fakecam/fakeonvif.py.

--part profiles (loopback): `nvr onvif profiles` lists the fake camera's device information and
its two profiles with fakecam's main and sub RTSP URLs; those URLs test and add as a camera; a
wrong password is "unauthorized" (UsernameToken fault, and HTTP 401 from a camera that wants HTTP
Basic authentication, which also works with the right one); malformed XML and too many profiles are "malformed" with a clear
detail and the daemon keeps answering; a bad address is "bad-address". The password is never
printed or logged.

--part scan: `nvr onvif scan` sends a real WS-Discovery multicast probe. So that nothing goes to
the real LAN, the test re-runs itself in a user + network namespace of its own (`unshare -rn`:
only a loopback interface, multicast routed to it); where that is not allowed it exits 77
(meson: skipped) saying so."""

import argparse
import json
import os
import subprocess
import sys
import time

from harness import Harness, check, log, run

HERE = os.path.dirname(os.path.abspath(__file__))
FAKEONVIF = os.path.join(HERE, "..", "fakecam", "fakeonvif.py")
CANARY = "canary-Onvif-51ab"


def start_fakeonvif(h, name, *extra):
    out = os.path.join(h.dir, f"{name}.out")
    p = subprocess.Popen([sys.executable, FAKEONVIF, *extra], stdout=open(out, "w+"),
                         stderr=open(os.path.join(h.dir, f"{name}.log"), "w"),
                         start_new_session=True)
    h.procs.append(p)

    def ready():
        check(p.poll() is None, f"{name} exited with status {p.returncode}")
        return "READY port=" in open(out).read()

    h.wait_for(name, ready, 30)
    return int(open(out).read().split("READY port=")[1].split()[0])


def onvif(h, *args):
    rc, out, err = h.nvr("onvif", *args, "--json", check_rc=False)
    check(CANARY not in out and CANARY not in err, "the password was echoed")
    check(rc in (0, 1), f"onvif {' '.join(args)}: exit {rc}: {err}")
    res = json.loads(out)
    check(res["ok"] == (rc == 0), f"exit status {rc} disagrees with {out[:200]}")
    return res


def expect_failure(h, reason, *args):
    res = onvif(h, *args)
    check(not res["ok"] and res["reason"] == reason,
          f"onvif {args[:2]}: want {reason}, got {json.dumps(res)[:300]}")
    check(res["detail"], "no detail")
    log(f"{args[1] if len(args) > 1 else args[0]}: {reason} ({res['detail']})")
    return res


def part_profiles():
    with Harness("onvif") as h:
        pwfile = os.path.join(h.dir, "cam.pw")
        with open(pwfile, "w") as f:
            f.write(CANARY + "\n")
        wrong = os.path.join(h.dir, "wrong.pw")
        with open(wrong, "w") as f:
            f.write("not-the-password\n")
        h.start_fakecam(1, ["--user", "admin", "--password-file", pwfile])
        main_url, sub_url = h.cam_url(1, "main"), h.cam_url(1, "sub")
        port = start_fakeonvif(h, "fakeonvif", "--user", "admin", "--password-file", pwfile,
                               "--main-url", main_url, "--sub-url", sub_url)
        bad_port = start_fakeonvif(h, "badonvif", "--malformed")
        huge_port = start_fakeonvif(h, "hugeonvif", "--huge-profiles")
        basic_port = start_fakeonvif(h, "basiconvif", "--http-basic", "--user", "admin",
                                     "--password-file", pwfile, "--main-url", main_url,
                                     "--sub-url", sub_url)
        h.start_daemon()
        creds = ("--user", "admin", "--password-file", pwfile)

        res = onvif(h, "profiles", f"127.0.0.1:{port}", *creds)
        check(res.get("device") == {"manufacturer": "Hearth Test", "model": "FakeCam ONVIF",
                                    "firmware": "1.2.3"}, f"device {res.get('device')}")
        profiles = {p["token"]: p for p in res["profiles"]}
        check(set(profiles) == {"main", "sub"}, f"profiles {list(profiles)}")
        check(profiles["main"] == {"token": "main", "name": "mainStream", "encoding": "H264",
                                   "width": 640, "height": 360, "fps": 15, "rtsp_url": main_url},
              f"main profile {profiles['main']}")
        check(profiles["sub"]["rtsp_url"] == sub_url and profiles["sub"]["width"] == 320,
              f"sub profile {profiles['sub']}")

        # The URLs found are the camera's: they test, and add as main and sub stream.
        rc, out, err = h.nvr("cameras", "test", profiles["main"]["rtsp_url"], *creds, "--json",
                             check_rc=False)
        check(rc == 0 and json.loads(out)["video"]["width"] == 640, f"test main: {out} {err}")
        h.nvr("cameras", "add", "onvifcam", "--main-url", profiles["main"]["rtsp_url"],
              "--sub-url", profiles["sub"]["rtsp_url"], *creds)
        cams = json.loads(h.nvr("cameras", "list", "--json")[1])
        cam = [c for c in cams if c["name"] == "onvifcam"]
        check(cam and cam[0]["main_url"] == main_url and cam[0]["sub_url"] == sub_url,
              f"cameras list: {cams}")

        expect_failure(h, "unauthorized", "profiles", f"127.0.0.1:{port}", "--user", "admin",
                       "--password-file", wrong)
        expect_failure(h, "unauthorized", "profiles", f"127.0.0.1:{port}")
        res = expect_failure(h, "malformed", "profiles", f"127.0.0.1:{bad_port}", *creds)
        check("XML" in res["detail"], f"detail does not say what was wrong: {res['detail']}")
        res = expect_failure(h, "malformed", "profiles", f"127.0.0.1:{huge_port}")
        check("too many profiles" in res["detail"], f"detail: {res['detail']}")
        # A camera that wants HTTP authentication instead of a UsernameToken.
        res = onvif(h, "profiles", f"127.0.0.1:{basic_port}", *creds)
        check(sorted(p["rtsp_url"] for p in res["profiles"]) == sorted([main_url, sub_url]),
              f"HTTP basic camera: {res}")
        expect_failure(h, "unauthorized", "profiles", f"127.0.0.1:{basic_port}", "--user",
                       "admin", "--password-file", wrong)
        expect_failure(h, "bad-address", "profiles", "ftp://127.0.0.1/")
        expect_failure(h, "unreachable", "profiles", "127.0.0.1:1")
        # The daemon is unhurt by what the probes read.
        check(h.daemon.poll() is None, "the daemon died")
        h.nvr("status", "--json")
        with open(h.daemon_log, errors="replace") as f:
            check(CANARY not in f.read(), "the password is in the daemon's log")
        log("PASS")


def part_scan():
    if os.environ.get("HEARTH_IN_NETNS") != "1":
        env = dict(os.environ, HEARTH_IN_NETNS="1")
        script = ("set -e; ip link set lo up; ip link set lo multicast on; "
                  "ip route add 224.0.0.0/4 dev lo; exec \"$0\" \"$@\"")
        try:
            r = subprocess.run(["unshare", "-rn", "sh", "-c", "ip link set lo up"],
                               capture_output=True, timeout=30)
            allowed = r.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            allowed = False
        if not allowed:
            print("skipped: cannot create a network namespace (unshare -rn refused)")
            sys.exit(77)
        r = subprocess.run(["unshare", "-rn", "sh", "-c", script, sys.executable,
                            os.path.abspath(__file__), "--part", "scan"], env=env)
        sys.exit(r.returncode)
    # In the namespace: lo is the only interface, so the multicast probe stays here.
    import socket
    ifaces = [name for _, name in socket.if_nameindex()]
    check(ifaces == ["lo"], f"namespace has interfaces {ifaces}")
    with Harness("onvifscan") as h:
        port = start_fakeonvif(h, "fakeonvif", "--discovery")
        h.start_daemon()
        res = onvif(h, "scan")
        devs = res["devices"]
        check(len(devs) == 1, f"devices {devs}")
        check(devs[0]["address"] == f"127.0.0.1:{port}" and
              devs[0]["endpoint"].startswith("urn:uuid:") and
              devs[0]["xaddrs"] == [f"http://127.0.0.1:{port}/onvif/device_service"] and
              "onvif://www.onvif.org/name/FakeCam" in devs[0]["scopes"], f"device {devs[0]}")
        # What the scan gives is what profiles takes (the admin page's "Use" button).
        res = onvif(h, "profiles", devs[0]["address"])
        check([p["token"] for p in res["profiles"]] == ["main", "sub"], f"profiles {res}")
        log("PASS")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["profiles", "scan"], required=True)
    a = ap.parse_args()
    run(part_profiles if a.part == "profiles" else part_scan)
