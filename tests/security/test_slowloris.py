#!/usr/bin/python3
"""One host on the LAN must not lock the household out of the web front (issue 14;
docs/design/auth.md "Front (lighttpd)", "Connections"). The real daemon and lighttpd over TLS,
with the per-address limit (packaging/hearth-web-limits.sh) loaded. An attacker bound to
127.0.0.2 holds as many connections to the front as it is let (TCP connected and silent, or a
partial TLS record), reopening them as lighttpd times them out, and dribbles request headers
one byte at a time. Meanwhile a device paired from 127.0.0.1 fetches /api/v1/me, a snapshot and
the pages, each on a new TLS connection: every one must succeed within 2 s. A header dribbled
with gaps longer than server.max-read-idle must be cut (closed or 408), never answered.

Measured and logged, not asserted: a header dribbled with gaps shorter than max-read-idle is
still open at the end, because lighttpd 1.4.69 has no deadline for a whole request header.

Runs in a private network namespace (it re-executes itself under `unshare --net`): the nftables
table and the extra loopback traffic stay out of the machine's own. Needs root and nft; skips
(77) without them. `--without-limits` runs the same attack without the nftables table (to
measure what lighttpd alone does; the test is then expected to fail)."""

import os
import resource
import select
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time

NETNS_MARK = "HEARTH_TEST_PRIVATE_NETNS"
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
LIMITS = os.path.join(TOP, "packaging", "hearth-web-limits.sh")
CONF_IN = os.path.join(TOP, "packaging", "lighttpd.conf.in")

ATTACKER = "127.0.0.2"
CLIENT_BOUND_S = 2.0           # the bound for the paired device's requests
ATTACK_S = 26                  # > 2 x max-read-idle: lighttpd reaps, the attacker refills
MAX_ATTACK_SOCKETS = 4000
CUT_SLACK_S = 4                # timeouts are checked once a second; a loaded machine is late


def enter_private_netns():
    """Re-executes this test under `unshare --net` (same pid: meson's timeout still applies)."""
    if os.environ.get(NETNS_MARK) == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    missing = [c for c in ("unshare", "ip", "nft") if shutil.which(c) is None]
    why = None
    if os.geteuid() != 0:
        why = "not root"
    elif missing:
        why = f"no {', '.join(missing)}"
    elif subprocess.run(["unshare", "--net", "--", "true"], capture_output=True).returncode:
        why = "cannot make a network namespace (unshare --net)"
    if why:
        print(f"SKIP: needs root, a private network namespace and nftables: {why}", flush=True)
        sys.exit(77)
    os.environ[NETNS_MARK] = "1"
    os.execvp("unshare", ["unshare", "--net", "--", sys.executable, *sys.argv])


def conf_value(key):
    """The integer @key from packaging/lighttpd.conf.in (the template the front runs)."""
    with open(CONF_IN) as f:
        for line in f:
            k, _, v = line.partition("=")
            if k.strip() == key:
                return int(v.strip())
    return None


def limits_default():
    """The default --max-per-source of packaging/hearth-web-limits.sh (what the service loads)."""
    with open(LIMITS) as f:
        for line in f:
            if line.startswith('port="" max='):
                return int(line.split("max=")[1].split()[0])
    raise RuntimeError(f"no default --max-per-source in {LIMITS}")


# ---- the attacker ----

PARTIAL_CLIENT_HELLO = bytes.fromhex("160301020001")   # a record header and one byte of 0x200


class Holder(threading.Thread):
    """Keeps up to @cap connections from ATTACKER to the front open: opens them in batches
    (non-blocking connect), drops those the server closed or reset, reopens. Every fourth one
    sends the start of a TLS ClientHello; the others send nothing."""

    def __init__(self, port, cap, stop):
        super().__init__(daemon=True)
        self.port, self.cap, self.stop = port, cap, stop
        self.held = {}               # fd -> socket
        self.peak = 0
        self.opened = 0
        self.refused = 0             # connect failed (reset by the per-address limit, timeout)
        self.closed_by_server = 0
        self.error = None

    def run(self):
        try:
            self._run()
        except BaseException as e:   # reported by the test, never lost in a thread
            self.error = e

    def _reap(self):
        if not self.held:
            return
        p = select.poll()
        for fd in self.held:
            p.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        for fd, _ in p.poll(0):
            s = self.held.pop(fd)
            s.close()
            self.closed_by_server += 1

    def _open_batch(self, n):
        pending = {}
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.bind((ATTACKER, 0))
                s.connect_ex(("127.0.0.1", self.port))
            except OSError:
                s.close()
                self.refused += 1
                continue
            pending[s.fileno()] = s
            self.opened += 1
        deadline = time.monotonic() + 1.0
        p = select.poll()
        for fd in pending:
            p.register(fd, select.POLLOUT)
        while pending and time.monotonic() < deadline and not self.stop.is_set():
            for fd, _ in p.poll(100):
                s = pending.pop(fd)
                p.unregister(fd)
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    s.close()
                    self.refused += 1
                    continue
                if len(self.held) % 4 == 3:
                    try:
                        s.send(PARTIAL_CLIENT_HELLO)
                    except OSError:
                        pass
                self.held[fd] = s
        for s in pending.values():    # not connected within 1 s (the listen queue is full)
            s.close()
            self.refused += 1

    def _run(self):
        while not self.stop.is_set():
            self._reap()
            want = self.cap - len(self.held)
            if want > 0:
                self._open_batch(min(want, 500))
            self.peak = max(self.peak, len(self.held))
            self.stop.wait(0.2)

    def close_all(self):
        for s in self.held.values():
            s.close()
        self.held.clear()


class Dribbler(threading.Thread):
    """One TLS connection from ATTACKER that sends a request header one byte every @gap_s.
    Records when the server cut it (EOF, reset, or an answer: its status line) relative to
    the last byte sent."""

    HEADER = b"GET /api/v1/me HTTP/1.1\r\nHost: hearth\r\nUser-Agent: dribble\r\n\r\n"

    def __init__(self, port, cafile, gap_s, until):
        super().__init__(daemon=True)
        self.port, self.gap_s, self.until = port, gap_s, until
        self.ctx = ssl.create_default_context(cafile=cafile)
        self.ctx.check_hostname = False
        self.sent = 0
        self.start_t = None
        self.last_byte_t = None
        self.cut_after_last_s = None      # seconds from the last byte to the cut
        self.open_s = None                # how long the connection lasted (or was watched)
        self.answer = b""                 # what the server sent, if anything
        self.error = None

    def run(self):
        try:
            self._run()
        except BaseException as e:
            self.error = e

    def _run(self):
        raw = socket.socket()
        raw.bind((ATTACKER, 0))
        raw.settimeout(5)
        raw.connect(("127.0.0.1", self.port))
        s = self.ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        # Non-blocking from here: a TLS record without application data (a session ticket)
        # makes recv() raise SSLWantReadError instead of waiting, so only EOF, a reset or an
        # answer count as the server's reaction.
        s.setblocking(False)
        self.start_t = time.monotonic()
        try:
            while self.sent < len(self.HEADER) and time.monotonic() < self.until:
                s.send(self.HEADER[self.sent:self.sent + 1])
                self.sent += 1
                self.last_byte_t = time.monotonic()
                wait_until = min(self.last_byte_t + self.gap_s, self.until)
                if self._cut_before(s, wait_until):
                    return
            if self.sent == len(self.HEADER):     # the whole header went through: any answer
                self._cut_before(s, time.monotonic() + 5)
        finally:
            if self.open_s is None:
                self.open_s = time.monotonic() - self.start_t
            s.close()

    def _cut_before(self, s, t_end):
        """Waits until @t_end for the server to close or answer; TRUE if it did."""
        while True:
            left = t_end - time.monotonic()
            if left <= 0:
                return False
            if not s.pending():
                r, _, _ = select.select([s], [], [], left)
                if not r:
                    continue
            try:
                data = s.recv(4096)
            except ssl.SSLWantReadError:
                continue
            except (ssl.SSLError, OSError):
                data = b""
            if data:
                self.answer += data
                if not data.startswith(b"HTTP/") and len(self.answer) < 12:
                    continue
            now = time.monotonic()
            self.cut_after_last_s = now - self.last_byte_t
            self.open_s = now - self.start_t
            return True


# ---- the household ----

def household(w, device, stop, results):
    """@device fetches /api/v1/me, a snapshot and the pages, each on a new TLS connection,
    until @stop. results: [(path, seconds, status or error)]."""
    cam = w.cams["cam1"]
    paths = ["/api/v1/me", f"/api/v1/cameras/{cam}/snapshot.jpg", "/", "/js/api.js",
             "/css/hearth.css", "/camera.html"]
    i = 0
    while not stop.is_set():
        path = paths[i % len(paths)]
        i += 1
        t0 = time.monotonic()
        try:
            r = device.get(path, fresh=True)
            outcome = r.status if r.body or r.status != 200 else "empty body"
        except Exception as e:                      # noqa: BLE001 (every failure is a result)
            outcome = f"{type(e).__name__}: {e}"
        results.append((path, time.monotonic() - t0, outcome))
        stop.wait(0.1)


def lighttpd_sockets_from(pid, address):
    """How many ESTABLISHED TCP sockets lighttpd (@pid) holds with @address as the peer."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                t = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if t.startswith("socket:["):
                inodes.add(t[8:-1])
    except OSError:
        return 0
    peer = "%08X" % int.from_bytes(socket.inet_aton(address), "little")
    seen = set()       # by inode: /proc/net/tcp can list a socket twice while the table changes
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            if cols[3] == "01" and cols[2].startswith(peer + ":") and cols[9] in inodes:
                seen.add(cols[9])
    return len(seen)


def test():
    from world import Harness, World, check, log    # noqa: E402 (after the namespace switch)

    without_limits = "--without-limits" in sys.argv
    read_idle = conf_value("server.max-read-idle") or 60     # lighttpd's default
    per_source = limits_default()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cap = min(MAX_ATTACK_SOCKETS, hard - 256)
    log(f"slowloris: max-read-idle {read_idle} s (lighttpd.conf.in), per-address limit "
        f"{'OFF' if without_limits else per_source}, attacker cap {cap} sockets "
        f"(RLIMIT_NOFILE {soft} -> {hard})")

    with Harness("slowloris", segment_seconds=10) as h, World(h, via="tls") as w:
        if not without_limits:
            subprocess.run(["bash", LIMITS, "--port", str(w.port)], check=True)
            table = subprocess.run(["nft", "list", "table", "inet", "hearth_web"],
                                   capture_output=True, text=True, check=True).stdout
            check(f"dport {w.port}" in table and f"over {per_source}" in table,
                  f"the per-address limit is not loaded: {table}")
        w.start(1)
        device = w.paired("owner", ["cam1"])
        device.timeout = 5
        h.wait_for("a snapshot of cam1", lambda: device.get(
            f"/api/v1/cameras/{w.cams['cam1']}/snapshot.jpg").status == 200, 60)
        device.close()

        stop = threading.Event()
        t_start = time.monotonic()
        until = t_start + ATTACK_S
        # The dribblers first, so the attacker's own flood does not take their places.
        slow = Dribbler(w.port, w.cafile, gap_s=read_idle + CUT_SLACK_S + 2, until=until)
        fast = Dribbler(w.port, w.cafile, gap_s=max(1, read_idle // 2), until=until)
        for d in (slow, fast):
            d.start()
        time.sleep(0.5)
        holder = Holder(w.port, cap, stop)
        holder.start()
        h.wait_for("the attacker's connections", lambda: holder.peak > 0 or holder.error, 20)
        time.sleep(1)                  # the flood is in place before the household starts
        results = []
        family = threading.Thread(target=household, args=(w, device, stop, results),
                                  daemon=True)
        family.start()
        lighttpd_peak = 0
        while time.monotonic() < until:
            lighttpd_peak = max(lighttpd_peak, lighttpd_sockets_from(w.front.pid, ATTACKER))
            time.sleep(1)
        stop.set()
        family.join(10)
        holder.join(10)
        for d in (slow, fast):
            d.join(10)
        holder.close_all()
        after_s = time.monotonic() - t_start

        with open(w.front.errorlog, errors="replace") as f:
            disabled = f.read().count("sockets disabled")
        check(holder.error is None, f"the attacker failed: {holder.error!r}")
        for d in (slow, fast):
            check(d.error is None, f"a dribbler failed: {d.error!r}")
        worst = max((s for _, s, _ in results), default=None)
        failed = [(p, round(s, 2), o) for p, s, o in results
                  if o != 200 or s > CLIENT_BOUND_S]
        log(f"slowloris: attacker held up to {holder.peak} connections ({holder.opened} "
            f"opened, {holder.refused} refused or timed out, {holder.closed_by_server} closed "
            f"by the server); lighttpd held up to {lighttpd_peak} from {ATTACKER} and "
            f"disabled its listener {disabled} times")
        log(f"slowloris: paired device: {len(results)} requests in {after_s:.0f} s, "
            f"{len(failed)} failed or over {CLIENT_BOUND_S} s, worst "
            f"{'-' if worst is None else f'{worst:.3f} s'}")
        for d, name in ((slow, "slow"), (fast, "fast")):
            cut = ("not cut" if d.cut_after_last_s is None
                   else f"cut {d.cut_after_last_s:.1f} s after its last byte")
            log(f"slowloris: {name} dribbler (a byte every {d.gap_s} s): {d.sent} bytes, "
                f"{cut}, open {d.open_s:.1f} s, answer {d.answer[:40]!r}")

        check(holder.peak > 0, "the attacker never held a connection: the attack did not run")
        check(not failed, f"the paired device was locked out while one host attacked: "
                          f"{failed[:8]}")
        check(disabled == 0, f"lighttpd stopped accepting ({disabled} times 'sockets "
                             f"disabled' in its error log) while one host attacked")
        check(len(results) >= 10, f"the paired device made only {len(results)} requests")
        check(slow.cut_after_last_s is not None,
              f"a header dribbled a byte every {slow.gap_s} s was not cut within "
              f"{slow.open_s:.0f} s ({slow.sent} bytes sent)")
        check(not slow.answer.startswith(b"HTTP/") or slow.answer[9:12] == b"408",
              f"the dribbled header was answered: {slow.answer[:80]!r}")
        check(slow.cut_after_last_s >= read_idle - 1,
              f"the dribbled header was closed {slow.cut_after_last_s:.1f} s after its last "
              f"byte, before max-read-idle ({read_idle} s): not the deadline under test")
        check(slow.cut_after_last_s <= read_idle + CUT_SLACK_S,
              f"the dribbled header was cut {slow.cut_after_last_s:.1f} s after its last "
              f"byte, later than max-read-idle {read_idle} s + {CUT_SLACK_S} s")
        check(not fast.answer.startswith(b"HTTP/1.1 2"),
              f"the fast dribbler was answered: {fast.answer[:80]!r}")


if __name__ == "__main__":
    enter_private_netns()
    sys.path.insert(0, HERE)
    from world import run    # noqa: E402
    run(test)
