#!/usr/bin/python3
"""A clean stop as a Home Assistant household sees it (issue 12 items 4 and 6, docs/design/mqtt.md
"Stopping"), with a real mosquitto, the real daemon and fakecam's scripted crossings:
1. SIGTERM during an active motion event: a subscriber sees the event's `end`, `motion OFF`, then
   `available offline`, in that order, all within 2 s of the signal, and no per-camera `status
   offline` at all; the daemon exits 0.
2. Restarting the daemon while its camera records publishes no `status offline` for it.
3. SIGTERM with the broker stopped: the daemon still exits within 3 s; after the broker and the
   daemon are started again, the subscriber gets the queued `end` and `motion OFF`.
4. SIGTERM with the broker hung (SIGSTOP: the connection stays open, nothing is acknowledged):
   the daemon still exits within 3 s, its drain cut by the deadline.
Every part runs even when an earlier one found a problem; all problems are printed at the end."""

import json
import os
import signal
import time

from harness import Harness, Problems, check, log, run
from mqttbroker import Broker, free_port

FMT = "%U %r %t %p"      # arrival time (s, ns), retain flag, topic, payload
MASK = "0,0 1,0 1,0.12 0,0.12"


def read_lines(path):
    """[(arrival_unix_s, retained, topic, payload)] in arrival order."""
    out = []
    for line in open(path, errors="replace"):
        parts = line.rstrip("\n").split(" ", 3)
        if len(parts) < 3:
            continue
        try:
            ts = float(parts[0])
        except ValueError:
            continue
        out.append((ts, parts[1] == "1", parts[2], parts[3] if len(parts) > 3 else ""))
    return out


def event_end_index(msgs, event_id):
    for i, (_, _, topic, payload) in enumerate(msgs):
        if topic == "hearth/events":
            e = json.loads(payload)
            if e["type"] == "end" and e["after"]["id"] == event_id:
                return i
    return None


def first_index(msgs, topic, payload, start=0):
    for i in range(start, len(msgs)):
        if msgs[i][2] == topic and msgs[i][3] == payload:
            return i
    return None


def stop_lines(h):
    """The daemon's own account of its MQTT stop (docs/design/mqtt.md "Stopping")."""
    with open(h.daemon_log, errors="replace") as f:
        return [line.strip() for line in f if "said offline in" in line or
                "stop deadline" in line or "while stopping" in line]


def test():
    port = free_port()
    conf = f"[mqtt]\nhost = 127.0.0.1\nport = {port}\nkeepalive_seconds = 5\n"
    problems = Problems()
    expect = problems.expect

    with Harness("mqtt-stop", segment_seconds=10, backoff_initial_ms=500, backoff_max_ms=2000,
                 extra_config=conf) as h:
        broker = Broker(h.dir, port)

        def active_events():
            with h.catalog() as db:
                return [r[0] for r in db.execute("SELECT id FROM events WHERE state = 'active'")]

        def wait_active_event():
            h.wait_for("an active motion event", lambda: active_events(), 60)
            h.wait_for("motion ON retained",
                       lambda: broker.retained("hearth/cam1/motion", 1).get("hearth/cam1/motion")
                       == "ON", 15)
            return active_events()[0]

        try:
            broker.start()
            h.start_fakecam(1)
            h.start_daemon()
            h.nvr("cameras", "add", "cam1", "--main-url", h.cam_url(1))
            h.nvr("cameras", "motion", "cam1", "--mask", MASK)
            h.wait_for("cam1 recording", lambda: h.camera_status("cam1")["state"] == "recording",
                       60)
            h.wait_for("hearth/cam1/status recording",
                       lambda: broker.retained("hearth/cam1/status", 1).get("hearth/cam1/status")
                       == "recording", 15)

            # 1. SIGTERM during an active event.
            ev = wait_active_event()
            path1 = os.path.join(h.dir, "stop1.txt")
            broker.subscribe("hearth/#", path1, FMT)
            time.sleep(0.5)    # the subscription is in place (retained copies arrive first)
            t_sig = time.time()
            t0 = time.monotonic()
            h.daemon.send_signal(signal.SIGTERM)
            rc = h.daemon.wait(timeout=30)
            exit_s = time.monotonic() - t0
            time.sleep(0.5)
            msgs = [m for m in read_lines(path1) if m[0] >= t_sig]
            log(f"1. SIGTERM during event {ev}: exit status {rc} after {exit_s:.2f} s; after the "
                f"signal the subscriber saw:")
            for ts, retained, topic, payload in msgs:
                log(f"   +{ts - t_sig:.3f} s {topic} {payload[:80]}")
            expect(rc == 0, f"exit status {rc} after SIGTERM")
            i_end = event_end_index(msgs, ev)
            i_off = first_index(msgs, "hearth/cam1/motion", "OFF")
            i_avail = first_index(msgs, "hearth/available", "offline")
            if (expect(i_end is not None, f"no 'end' for event {ev} after SIGTERM") &
                    expect(i_off is not None, "no 'hearth/cam1/motion OFF' after SIGTERM") &
                    expect(i_avail is not None, "no 'hearth/available offline' after SIGTERM")):
                expect(i_end < i_off < i_avail,
                       f"order: end #{i_end}, motion OFF #{i_off}, available offline #{i_avail}")
                last_s = max(msgs[i][0] for i in (i_end, i_off, i_avail)) - t_sig
                log(f"   end +{msgs[i_end][0] - t_sig:.3f} s, motion OFF "
                    f"+{msgs[i_off][0] - t_sig:.3f} s, available offline "
                    f"+{msgs[i_avail][0] - t_sig:.3f} s")
                expect(last_s <= 2.0, f"the last of them arrived {last_s:.3f} s after SIGTERM")
            log(f"   daemon: {stop_lines(h)}")
            flaps = [m for m in msgs if m[2] == "hearth/cam1/status" and m[3] == "offline"]
            expect(not flaps, f"'hearth/cam1/status offline' published during the stop: {flaps}")
            left = broker.retained("hearth/#", 1)
            log(f"   retained after the stop: {left}")
            expect(left.get("hearth/cam1/motion") == "OFF",
                   f"retained motion after the stop: {left.get('hearth/cam1/motion')}")
            expect(left.get("hearth/available") == "offline",
                   f"retained availability after the stop: {left.get('hearth/available')}")

            # 2. A restart while the camera records: no `status offline` for it.
            path2 = os.path.join(h.dir, "restart.txt")
            broker.subscribe("hearth/+/status", path2, FMT)
            time.sleep(0.5)
            t_start = time.time()
            h.start_daemon()
            h.wait_for("cam1 recording after the restart",
                       lambda: h.camera_status("cam1")["state"] == "recording", 60)
            h.wait_for("the bridge online after the restart",
                       lambda: broker.retained("hearth/available", 1).get("hearth/available")
                       == "online", 15)
            time.sleep(1.5)
            statuses = read_lines(path2)
            log(f"2. restart: hearth/+/status as seen by a subscriber: "
                f"{[(round(ts - t_start, 3), r, t, p) for ts, r, t, p in statuses]}")
            expect(not [m for m in statuses if m[3] == "offline"],
                   "'status offline' published for a recording camera across a restart")

            # 3. The broker is gone: SIGTERM still exits within 3 s; the messages go out at the
            #    next start.
            ev3 = wait_active_event()
            broker.stop()
            h.wait_for("the daemon notices the broker is gone",
                       lambda: "Lost the MQTT broker" in open(h.daemon_log,
                                                              errors="replace").read(), 15)
            t0 = time.monotonic()
            h.daemon.send_signal(signal.SIGTERM)
            rc = h.daemon.wait(timeout=30)
            exit_s = time.monotonic() - t0
            with h.catalog() as db:
                queued = [json.loads(r[0]) for r in db.execute("SELECT payload FROM outbox")]
            ends = [e for e in queued if e["type"] == "end" and e["after"]["id"] == ev3]
            log(f"3. SIGTERM with the broker stopped, event {ev3} active: exit status {rc} after "
                f"{exit_s:.2f} s; {len(queued)} outbox row(s) queued, {len(ends)} of them its end")
            expect(rc == 0, f"exit status {rc} after SIGTERM with the broker gone")
            expect(exit_s <= 3.0, f"exit took {exit_s:.2f} s with the broker gone")
            expect(len(ends) == 1, f"the outbox holds {len(ends)} 'end' rows for event {ev3}")
            broker.start()
            path3 = os.path.join(h.dir, "after.txt")
            broker.subscribe("hearth/#", path3, FMT)
            time.sleep(0.5)
            t_start = time.time()
            h.start_daemon()

            def delivered():
                msgs3 = read_lines(path3)
                return (event_end_index(msgs3, ev3) is not None and
                        first_index(msgs3, "hearth/available", "online") is not None)
            try:
                h.wait_for(f"the queued 'end' of event {ev3} after the restart", delivered, 30)
            except Exception as e:   # a problem to report, not a reason to skip the rest
                expect(False, str(e))
            msgs3 = read_lines(path3)
            i_on = first_index(msgs3, "hearth/available", "online")
            i_end = event_end_index(msgs3, ev3)
            i_off = first_index(msgs3, "hearth/cam1/motion", "OFF", i_on or 0)
            log(f"   after the restart: end of event {ev3} at "
                f"{None if i_end is None else round(msgs3[i_end][0] - t_start, 3)} s, motion OFF "
                f"at {None if i_off is None else round(msgs3[i_off][0] - t_start, 3)} s")
            expect(i_off is not None, "no 'motion OFF' after the restart")
            with h.catalog() as db:
                left = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
            log(f"   outbox rows left: {left}")

            # 4. The broker hangs: the connection stays open and nothing is acknowledged.
            ev4 = wait_active_event()
            n_before = len(stop_lines(h))
            os.kill(broker.proc.pid, signal.SIGSTOP)
            try:
                t0 = time.monotonic()
                h.daemon.send_signal(signal.SIGTERM)
                rc = h.daemon.wait(timeout=30)
                exit_s = time.monotonic() - t0
            finally:
                os.kill(broker.proc.pid, signal.SIGCONT)
            log(f"4. SIGTERM with the broker hung, event {ev4} active: exit status {rc} after "
                f"{exit_s:.2f} s; daemon: {stop_lines(h)[n_before:]}")
            expect(rc == 0, f"exit status {rc} after SIGTERM with the broker hung")
            expect(exit_s <= 3.0, f"exit took {exit_s:.2f} s with the broker hung")
        finally:
            broker.stop()
        problems.check_none()


if __name__ == "__main__":
    run(test)
