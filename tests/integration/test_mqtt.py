#!/usr/bin/python3
"""The MQTT bridge against a real mosquitto on a loopback port (docs/design/mqtt.md): a broker
that is down at start-up delays nothing and is joined when it appears; availability (retained,
Last Will on kill -9), per-camera status, switches and Home Assistant discovery (re-sent when
homeassistant/status says online); with [mqtt] commands = on, recordings/set OFF pauses recording
(status `paused`, never `online`) and ON resumes it; each kind of bad command is ignored with
exactly one log line and the daemon stays up. (Commands off, the default, and retained commands:
tests/security/test_mqtt_commands.py.)"""

import json
import os
import signal
import time

from harness import Harness, check, log, run
from mqttbroker import Broker


def wait_retained(h, broker, topic, want, timeout=15):
    h.wait_for(f"{topic} = {want}", lambda: broker.retained(topic, 1).get(topic) == want, timeout)


def log_count(h, *texts):
    with open(h.daemon_log, errors="replace") as f:
        return sum(1 for line in f if all(t in line for t in texts))


def test():
    from mqttbroker import free_port
    port = free_port()
    conf = f"[mqtt]\nhost = 127.0.0.1\nport = {port}\nkeepalive_seconds = 5\ncommands = on\n"
    with Harness("mqtt", segment_seconds=10, backoff_initial_ms=500, backoff_max_ms=2000,
                 extra_config=conf) as h:
        broker = Broker(h.dir, port)
        try:
            h.start_fakecam(1)
            # 1. The broker is down: the daemon starts, records, and keeps trying.
            t0 = time.monotonic()
            h.start_daemon()
            startup_s = time.monotonic() - t0
            h.nvr("cameras", "add", "cam1", "--main-url", h.cam_url(1))
            # fakecam's ID band changes every frame: mask it, as a household masks a clock.
            h.nvr("cameras", "motion", "cam1", "--mask", "0,0 1,0 1,0.12 0,0.12")
            h.wait_for("cam1 recording without a broker",
                       lambda: h.camera_status("cam1")["state"] == "recording", 60)
            log(f"daemon start-up with the broker down: admin socket after {startup_s:.2f} s")
            check(startup_s < 10, f"start-up took {startup_s:.1f} s with the broker down")

            # 2. The broker appears: availability, status, switches, motion, discovery.
            t1 = time.monotonic()
            broker.start()
            # Subscribe before the bridge joins, so the outbox's 'new' cannot go out unseen.
            events_path = os.path.join(h.dir, "events.txt")
            esub = broker.subscribe("hearth/events", events_path)
            wait_retained(h, broker, "hearth/available", "online")
            log(f"joined the broker {time.monotonic() - t1:.2f} s after it started")
            wait_retained(h, broker, "hearth/cam1/status", "recording")
            wait_retained(h, broker, "hearth/cam1/recordings/state", "ON")
            wait_retained(h, broker, "hearth/cam1/detect/state", "ON")
            h.wait_for("hearth/cam1/motion retained",
                       lambda: broker.retained("hearth/cam1/motion", 1).get("hearth/cam1/motion")
                       in ("ON", "OFF"), 15)
            cam_id = h.camera_status("cam1")["id"]
            dtopic = f"homeassistant/device/hearth_{cam_id}/config"
            disc = json.loads(broker.retained(dtopic)[dtopic])
            offered = {k for k, v in disc["cmps"].items() if set(v) != {"p"}}   # not withdrawn
            check(offered == {f"hearth_{cam_id}_{k}" for k in
                              ("motion", "recordings", "detect", "status")},
                  f"discovery components: {sorted(disc['cmps'])}")
            check(disc["availability_topic"] == "hearth/available", "discovery availability")
            check(disc["cmps"][f"hearth_{cam_id}_recordings"]["command_topic"] ==
                  "hearth/cam1/recordings/set", "discovery command topic")
            check("http" not in json.dumps(disc), "a URL in the discovery document")

            # 2b. Motion from fakecam's scripted crossing reaches the broker through the outbox.
            def new_event():
                for line in open(events_path, errors="replace"):
                    if line.startswith("hearth/events "):
                        e = json.loads(line.split(" ", 1)[1])
                        if e["type"] in ("new", "update", "end") and e["after"]["camera"] == "cam1":
                            return e
                return None
            h.wait_for("an event for cam1 on hearth/events", lambda: new_event(), 30)
            esub.terminate()
            esub.wait()
            ev = new_event()
            check("http" not in json.dumps(ev) and len(json.dumps(ev)) < 4096,
                  "an event payload carries a URL or bulk data")
            wait_retained(h, broker, "hearth/cam1/motion", "ON", 15)
            log(f"event from the real motion path: {json.dumps(ev)[:200]}")

            # 3. Home Assistant restarts: discovery is sent again.
            seen = os.path.join(h.dir, "discovery.txt")
            sub = broker.subscribe("homeassistant/device/+/config", seen)
            h.wait_for("retained discovery", lambda: len(open(seen).readlines()) >= 1, 10)
            broker.publish("homeassistant/status", "online")
            h.wait_for("discovery re-sent", lambda: len(open(seen).readlines()) >= 2, 10)
            sub.terminate()
            sub.wait()

            # 4. Bad input: one clear log line each, daemon alive.
            bad = [
                ("hearth/cam1/recordings/set", "MAYBE", "payload 'MAYBE' is neither ON nor OFF"),
                ("hearth/cam1/detect/set", None, "payload '' is neither ON nor OFF"),
                ("hearth/nosuch/recordings/set", "ON", "unknown camera 'nosuch'"),
                ("hearth/cam1/recordings/set", "X" * 1000, "payload of 1000 bytes (at most 256)"),
                ("hearth/Cam!/detect/set", "ON", "camera name must be of [a-z0-9_-]"),
                ("hearth//detect/set", "OFF", "camera name must be 1-32 characters"),
                ("hearth/" + "a" * 40 + "/detect/set", "OFF", "camera name must be 1-32"),
            ]
            for topic, payload, _ in bad:
                broker.publish(topic, payload)
            time.sleep(1.5)
            for topic, _, text in bad:
                n = log_count(h, f"'{topic}'", text)
                check(n == 1, f"'{text}' logged {n} times for {topic}")
            check(h.daemon.poll() is None, "the daemon died on bad input")
            check(h.camera_status("cam1")["state"] == "recording", "bad input changed the camera")
            log(f"{len(bad)} bad command messages: one log line each, daemon up")

            # 5. detect/set.
            broker.publish("hearth/cam1/detect/set", "OFF")
            wait_retained(h, broker, "hearth/cam1/detect/state", "OFF")
            broker.publish("hearth/cam1/detect/set", "ON")
            wait_retained(h, broker, "hearth/cam1/detect/state", "ON")

            # 6. recordings/set OFF: paused, no new segments; ON: records again.
            broker.publish("hearth/cam1/recordings/set", "OFF")
            wait_retained(h, broker, "hearth/cam1/recordings/state", "OFF")
            wait_retained(h, broker, "hearth/cam1/status", "paused")
            h.wait_for("cam1 paused", lambda: h.camera_status("cam1")["state"] == "paused", 15)
            st = h.camera_status("cam1")
            check(st["paused_by"] == "mqtt" and st["paused_us"] > 0, f"paused status {st}")
            n_paused = len(h.segments("cam1"))
            time.sleep(12)
            check(len(h.segments("cam1")) == n_paused, "segments were added while paused")
            check(all(s["state"] == "complete" for s in h.segments("cam1")),
                  "a segment stayed open while paused")
            t_on_us = int(time.time() * 1e6)
            broker.publish("hearth/cam1/recordings/set", "ON")
            wait_retained(h, broker, "hearth/cam1/recordings/state", "ON")
            wait_retained(h, broker, "hearth/cam1/status", "recording", 30)
            h.wait_for("a new segment after ON",
                       lambda: any(s["start_us"] >= t_on_us - 2_000_000
                                   for s in h.segments("cam1")), 30)
            log(f"paused: {n_paused} segments before, none added in 12 s; ON records again")

            # 7. kill -9 while an event is active: the broker publishes the Last Will.
            def active_events():
                with h.catalog() as db:
                    return [r[0] for r in
                            db.execute("SELECT id FROM events WHERE state = 'active'")]
            h.wait_for("an active motion event", lambda: active_events(), 40)
            os.killpg(h.daemon.pid, signal.SIGKILL)
            h.daemon.wait()
            wait_retained(h, broker, "hearth/available", "offline", 10)
            log("Last Will 'offline' retained after kill -9")

            # 8. The restart ends the event the crash left active and announces its end.
            killed = active_events()
            check(killed, "no event was active in the catalog after kill -9")
            ends_path = os.path.join(h.dir, "ends.txt")
            broker.subscribe("hearth/events", ends_path)
            time.sleep(0.5)
            h.start_daemon()

            def ended():
                got = set()
                for line in open(ends_path, errors="replace"):
                    if line.startswith("hearth/events "):
                        e = json.loads(line.split(" ", 1)[1])
                        if e["type"] == "end" and e["after"]["end_time"] is not None:
                            got.add(e["after"]["id"])
                return set(killed) <= got
            h.wait_for("an MQTT 'end' for every event left active", ended, 30)
            check(not set(killed) & set(active_events()), "events still active after recovery")
            log(f"recovery ended and announced event(s) {killed}")

            # 9. Removing the camera clears its Home Assistant device and retained topics.
            check(dtopic in broker.retained(dtopic), "no retained discovery before removal")
            h.nvr("cameras", "remove", "cam1")
            h.wait_for("discovery and camera topics cleared",
                       lambda: not broker.retained(dtopic, 1) and
                       not broker.retained("hearth/cam1/#", 1), 15)
            log("camera removal cleared its discovery document and retained topics")
        finally:
            broker.stop()


if __name__ == "__main__":
    run(test)
