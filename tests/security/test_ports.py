#!/usr/bin/python3
"""The daemon and its workers listen on no TCP or UDP port (docs/design/auth.md "Processes":
only lighttpd faces the network). With the web API on, MQTT connected, every camera recording
and a live stream being read, every socket inode held open by the daemon or any of its
descendants is looked up in /proc/net/{tcp,tcp6,udp,udp6}: a TCP socket in LISTEN state or any
UDP socket fails the test (outgoing TCP connections, to cameras and the broker, are expected).
Its listening unix sockets must be exactly the admin socket and the web socket."""

import os
import threading
import time

from world import Harness, World, check, log, run
from mqttbroker import Broker, free_port

TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "06": "TIME_WAIT", "07": "CLOSE",
              "08": "CLOSE_WAIT", "0A": "LISTEN"}


def descendants(pid):
    """@pid and every process below it."""
    children = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(p))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def socket_inodes(pids):
    inodes = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes[target[8:-1]] = pid
    return inodes


def net_table(name):
    """[(local address, state, inode)] from /proc/net/@name."""
    out = []
    with open(f"/proc/net/{name}") as f:
        next(f)
        for line in f:
            cols = line.split()
            out.append((cols[1], cols[3], cols[9]))
    return out


def unix_listeners(inodes):
    out = []
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            cols = line.split()
            # Num RefCount Protocol Flags Type St Inode [Path]; Flags 00010000 = __SO_ACCEPTCON
            if cols[6] in inodes and int(cols[3], 16) & 0x10000:
                out.append(cols[7] if len(cols) > 7 else "(unnamed)")
    return out


def test():
    port = free_port()
    conf = f"[mqtt]\nhost = 127.0.0.1\nport = {port}\nkeepalive_seconds = 5\n"
    with Harness("ports", segment_seconds=10, extra_config=conf) as h:
        broker = Broker(h.dir, port)
        try:
            broker.start()
            w = World(h).start(2)
            h.wait_for("cameras recording", lambda: all(
                c["state"] == "recording" for c in h.status()["cameras"]), 60)
            admin = w.paired("admin", ["cam1", "cam2"], admin=True)
            reader = w.client("reader", key=admin.key)
            reader.token = admin.token
            result = {}
            t = threading.Thread(target=lambda: result.setdefault("r", reader.get(
                f"/api/v1/cameras/{w.cams['cam1']}/live", stream_seconds=6)))
            t.start()
            time.sleep(3)                   # the worker's live branch runs while we look
            checked = inspect(h, w)
            t.join()
            r = result.get("r")
            check(r is not None and r.status == 200 and len(r.body) > 1000,
                  f"the live stream did not run during the check: {r!r}")
            log(f"ports: {checked} sockets of the daemon and workers checked, 0 listening on "
                f"TCP/UDP (live stream read {len(r.body)} bytes meanwhile)")
        finally:
            broker.stop()


def listening(pids):
    inodes = socket_inodes(pids)
    return [(t, local) for t in ("tcp", "tcp6") for local, st, inode in net_table(t)
            if inode in inodes and st == "0A"]


def inspect(h, w):
    # The detector itself: fakecam's RTSP server must show up as listening.
    fc = listening(descendants(h.fakecam.pid))
    check(any(local.endswith(f":{h.fakecam_port:04X}") for _, local in fc),
          f"the check does not see fakecam's listening port {h.fakecam_port}: {fc}")
    pids = descendants(h.daemon.pid)
    check(len(pids) >= 3, f"expected the daemon and 2 workers, found pids {pids}")
    inodes = socket_inodes(pids)
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for local, st, inode in net_table(table):
            if inode in inodes:
                state = TCP_STATES.get(st, st) if table.startswith("tcp") else "bound"
                found.append((table, local, state, inodes[inode]))
    for f in found:
        log(f"  {f[0]:5} {f[1]:40} {f[2]:12} pid {f[3]}")
    bad = [f for f in found if f[0].startswith("udp") or f[2] == "LISTEN"]
    check(not bad, f"the daemon or a worker listens on TCP/UDP: {bad}")
    check(any(f[2] == "ESTABLISHED" for f in found),
          "no outgoing TCP connection seen either: is this looking at the right processes?")
    listeners = sorted(unix_listeners(inodes))
    log(f"  unix listeners: {listeners}")
    check(listeners == sorted([h.sock, w.web_sock]),
          f"unix listening sockets {listeners}, expected only the admin and web sockets")
    return len(inodes)


if __name__ == "__main__":
    run(test)
