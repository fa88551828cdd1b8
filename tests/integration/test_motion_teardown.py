#!/usr/bin/python3
"""Motion stream torn down before its first packet (docs/design/worker.md "rtspsrc teardown
before the first packet"): the sub-stream goes through a loopback proxy that answers PLAY but
holds the camera's RTP until the worker sends its next request. The motion watchdog fires
("no frames"), the worker tears the motion pipeline down, and rtspsrc's TEARDOWN releases the
held packets. GStreamer 1.22's rtspsrc then handles its first packet inside the TEARDOWN wait
with an invalid seqnum (a GStreamer-CRITICAL; G_DEBUG=fatal-criticals makes it SIGTRAP, the
worker restarts, recording stops). Checks: several motion restarts, no CRITICAL, no worker
killed by a signal, and the main stream (direct) recorded throughout."""

import os
import selectors
import socket
import threading
import time

from harness import Harness, check, log, run

OBSERVE_S = 35        # watchdog 2 s + retry 5 s: about 4 motion teardowns


class HoldAfterPlay:
    """TCP proxy to fakecam. Per connection: once the server's response to a PLAY has been
    forwarded, server bytes are held until the client's next RTSP request (TEARDOWN,
    keep-alive), which first releases everything held; then bytes flow normally. Interleaved
    RTCP from the client does not release them."""

    def __init__(self, target_port):
        self.target = target_port
        self.stop = threading.Event()
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.ls.settimeout(0.2)
        self.port = self.ls.getsockname()[1]
        self.released_by = []      # first line of each request that released held bytes
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.ls.close()

    def _accept(self):
        while not self.stop.is_set():
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
        except OSError:
            c.close()
            return
        sel = selectors.DefaultSelector()
        sel.register(c, selectors.EVENT_READ)
        sel.register(u, selectors.EVENT_READ)
        play_sent = False     # client sent PLAY; its response not yet forwarded
        holding = False
        from_server = b""     # server bytes not yet parsed while waiting for the PLAY response
        held = []
        try:
            while not self.stop.is_set():
                for key, _ in sel.select(0.2):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    if key.fileobj is c:
                        if holding and not data.startswith(b"$"):   # a request, not RTCP
                            holding = False
                            line = data.split(b"\r\n", 1)[0]
                            self.released_by.append(line.decode(errors="replace"))
                            c.sendall(b"".join(held))
                            held = []
                        if data.startswith(b"PLAY "):
                            play_sent = True
                        u.sendall(data)
                    elif holding:
                        held.append(data)
                    elif play_sent:
                        from_server += data
                        end = from_server.find(b"\r\n\r\n")
                        if end < 0:
                            continue
                        c.sendall(from_server[:end + 4])   # the PLAY response, nothing after it
                        held = [from_server[end + 4:]]
                        from_server = b""
                        play_sent = False
                        holding = True
                    else:
                        c.sendall(data)
        except OSError:
            pass
        finally:
            c.close()
            u.close()


def test():
    with Harness("motion-teardown", watchdog_seconds=2) as h:
        h.start_fakecam(1)
        proxy = HoldAfterPlay(h.fakecam_port)
        try:
            h.start_daemon()
            h.nvr("cameras", "add", "cam1", "--main-url", h.cam_url(1), "--sub-url",
                  f"rtsp://127.0.0.1:{proxy.port}/cam1/sub")
            h.wait_for("cam1 recording", lambda: h.camera_status("cam1")["state"] == "recording",
                       60)
            t0 = time.time()
            time.sleep(OBSERVE_S)
            t1 = time.time()
            check(h.stop_daemon() == 0, "daemon did not exit cleanly")
        finally:
            proxy.close()
        with open(h.daemon_log, errors="replace") as f:
            text = f.read()
        restarts = text.count("Motion stream (sub-stream) failed: no frames")
        criticals = text.count("CRITICAL")
        killed = text.count("killed by signal")
        log(f"motion teardowns before the first packet: {restarts}; held packets released by "
            f"requests: {proxy.released_by}; CRITICALs: {criticals}; workers killed: {killed}")
        check(restarts >= 3, f"only {restarts} motion teardowns: the scenario did not happen")
        check(criticals == 0, f"{criticals} GStreamer/GLib CRITICAL(s) in the log")
        check(killed == 0, f"{killed} worker(s) killed by a signal")
        segs = [s for s in h.segments("cam1") if s["end_us"] is not None]
        covered = sum(min(s["end_us"] / 1e6, t1) - max(s["start_us"] / 1e6, t0)
                      for s in segs if s["end_us"] / 1e6 > t0 and s["start_us"] / 1e6 < t1)
        log(f"main stream recorded {covered:.1f} s of the {t1 - t0:.1f} s observed")
        check(covered >= (t1 - t0) - 3,
              f"recording covered only {covered:.1f} s of {t1 - t0:.1f} s")


if __name__ == "__main__":
    run(test)
