#!/usr/bin/python3
"""A camera worker's own sandbox (nvr/sandbox.h; docs/design/packaging.md "Sandbox layers"):
two cameras record; the daemon is restarted with NVR_SANDBOX_PROBE so that each worker, once
sandboxed and before its camera's bytes, tries what a worker taken over by a camera must not
do, and logs each try. Every forbidden try must be refused by the sandbox itself (Permission
denied / Operation not permitted, never "No such file" or "Connection refused", which would
prove nothing): the catalog, the other camera's directory and files, the recordings directory
listing, writing outside its own directory (the storage root, the other camera, /tmp), the
admin socket, a TCP port on loopback other than its camera's (a live listener), the daemon's
/proc/<pid>/environ and fd/, execve, ptrace and signals to the daemon. The allowed tries prove the refusals are specific: a file in
its own directory, reading /usr, its camera's own port. Then the same workers go on recording:
new segments on both cameras that decode and show their own camera."""

import os
import re
import socket
import time

from world import Harness, check, log, run  # noqa: F401 (world sets sys.path for harness)
from harness import idread

DENIED = ("Permission denied", "Operation not permitted")


def probe_lines(h, since):
    with open(h.daemon_log, errors="replace") as f:
        f.seek(since)
        text = f.read()
    out = {}
    for m in re.finditer(r"sandbox probe \[([^\]]+)\] (.+?): (ALLOWED|refused \((.*)\))$", text,
                         re.M):
        out.setdefault(m.group(1), {})[m.group(2)] = m.group(4) if m.group(4) else "ALLOWED"
    return out


def test():
    with Harness("sandbox", segment_seconds=10) as h:
        port = h.start_fakecam(2)
        h.start_daemon()
        for i in (1, 2):
            h.nvr("cameras", "add", f"cam{i}", "--main-url", h.cam_url(i))
        h.wait_for("both cameras recording",
                   lambda: all(h.camera_status(f"cam{i}")["state"] == "recording"
                               for i in (1, 2)), 60)
        h.wait_for("a finished segment on each camera",
                   lambda: all(any(s["state"] == "complete" for s in h.segments(f"cam{i}"))
                               for i in (1, 2)), 60)
        check(h.stop_daemon() == 0, "daemon did not stop cleanly")

        rec = os.path.join(h.root, "recordings")
        dirs = {i: os.path.join(rec, f"{i}-cam{i}") for i in (1, 2)}
        check(all(os.path.isdir(d) for d in dirs.values()), f"camera dirs missing: {dirs}")
        seg = {i: os.path.join(h.root, h.segments(f"cam{i}")[0]["path"]) for i in (1, 2)}
        # A live TCP listener that is not a camera: refusal must come from the sandbox.
        other = socket.socket()
        other.bind(("127.0.0.1", 0))
        other.listen(8)
        other_port = other.getsockname()[1]
        catalog = os.path.join(h.root, "catalog.db")

        def spec(me, them):
            return ",".join([
                f"read={catalog}", f"read={dirs[them]}", f"read={seg[them]}", f"read={rec}",
                f"write={os.path.join(h.root, 'outside')}",
                f"write={os.path.join(dirs[them], 'planted')}",
                f"write=/tmp/hearth-sandbox-probe-{os.getpid()}-{me}",
                f"unix={h.sock}", f"tcp=127.0.0.1:{other_port}",
                f"read={seg[me]}", "read=/usr/share/doc", f"tcp=127.0.0.1:{port}",
            ])

        # One variable for both workers: each reads the other's entries as forbidden and
        # its own as allowed, so the two specs are merged and judged per camera below.
        os.environ["NVR_SANDBOX_PROBE"] = spec(1, 2) + "," + spec(2, 1)
        since = os.path.getsize(h.daemon_log)
        try:
            h.start_daemon()
        finally:
            del os.environ["NVR_SANDBOX_PROBE"]
        h.wait_for("both workers' probes",
                   lambda: all(f"{i}-cam{i}" in probe_lines(h, since) and
                               "signal parent" in probe_lines(h, since)[f"{i}-cam{i}"]
                               for i in (1, 2)), 60)
        other.close()
        lines = probe_lines(h, since)
        problems = []
        for me, them in ((1, 2), (2, 1)):
            got = lines[f"{me}-cam{me}"]
            forbidden = [f"read {catalog}", f"read {dirs[them]}", f"read {seg[them]}",
                         f"read {rec}", f"write {os.path.join(h.root, 'outside')}",
                         f"write {os.path.join(dirs[them], 'planted')}",
                         f"write /tmp/hearth-sandbox-probe-{os.getpid()}-{me}",
                         f"connect unix {h.sock}", f"connect tcp 127.0.0.1:{other_port}",
                         f"read /proc/{h.daemon.pid}/environ", f"read /proc/{h.daemon.pid}/fd",
                         "execve /bin/true", "ptrace parent", "signal parent"]
            allowed = [f"read {seg[me]}", "read /usr/share/doc", f"connect tcp 127.0.0.1:{port}",
                       f"write {os.path.join(dirs[me], '.sandbox-probe')}"]
            for what in forbidden:
                r = got.get(what)
                log(f"cam{me}: {what}: {r}")
                if r not in DENIED:
                    problems.append(f"cam{me} {what}: {r}")
            for what in allowed:
                r = got.get(what)
                log(f"cam{me}: {what}: {r}")
                if r != "ALLOWED":
                    problems.append(f"cam{me} {what} should be allowed: {r}")
        check(not problems, "; ".join(problems))
        check(not os.path.exists(os.path.join(dirs[1], "planted")) and
              not os.path.exists(os.path.join(h.root, "outside")), "a refused write left a file")

        # The same workers record on: new complete segments after the probes, decodable.
        before = {i: {s["id"] for s in h.segments(f"cam{i}")} for i in (1, 2)}
        pids = {c["name"]: c["worker_pid"] for c in h.status()["cameras"]}
        h.wait_for("two new complete segments on each camera",
                   lambda: all(len([s for s in h.segments(f"cam{i}")
                                    if s["id"] not in before[i] and s["state"] == "complete"]) >= 2
                               for i in (1, 2)), 60)
        after = {c["name"]: c["worker_pid"] for c in h.status()["cameras"]}
        check(after == pids, f"a worker restarted during the test: {pids} -> {after}")
        for i in (1, 2):
            new = [s for s in h.segments(f"cam{i}")
                   if s["id"] not in before[i] and s["state"] == "complete"]
            info = idread(os.path.join(h.root, new[-1]["path"]))
            codes = {int(k) for k in info["codes"]}
            check(info["frames"] > 0 and codes == {i},
                  f"cam{i}'s new segment: {info['frames']} frames, codes {codes}")
        with open(h.daemon_log, errors="replace") as f:
            f.seek(since)
            text = f.read()
        check("killed by signal" not in text, "a worker was killed after the probes")
        check(h.stop_daemon() == 0, "daemon did not stop cleanly")


if __name__ == "__main__":
    run(test)
