#!/usr/bin/python3
"""Home Assistant discovery modes against a real mosquitto (issue 12 item 6, docs/design/mqtt.md
"Home Assistant discovery"): `[mqtt] discovery = device` leaves exactly one retained device
document per camera; `entity` replaces it with one retained document per entity
(`homeassistant/<platform>/<unique id>/config`), each with its own unique id and the same device
block; switching back to `device` clears every entity document. Every document's device block
carries the daemon's version (`sw`, as `nvr --version` prints it) and `[web] origin` as the
configuration URL (`cu`). No camera needs to answer: the documents exist for every camera in the
catalog."""

import json
import os
import subprocess

from harness import NVR, Harness, Problems, check, log, run
from mqttbroker import Broker, free_port

ORIGIN = "https://nvr.example:8443"


def test():
    port = free_port()
    problems = Problems()
    expect = problems.expect

    with Harness("mqtt-discovery") as h:
        base = open(h.conf).read()
        web_sock = os.path.join(h.dir, "http.sock")

        def configure(mode):
            with open(h.conf, "w") as f:
                f.write(base + f"[mqtt]\nhost = 127.0.0.1\nport = {port}\nkeepalive_seconds = 5\n"
                        f"discovery = {mode}\n[web]\nsocket = {web_sock}\norigin = {ORIGIN}\n")

        broker = Broker(h.dir, port)

        def documents():
            """Every retained discovery document: {topic: parsed JSON}."""
            return {t: json.loads(p) for t, p in broker.retained("homeassistant/#", 1).items()}

        try:
            broker.start()
            out = subprocess.run([NVR, "--version"], capture_output=True, text=True, timeout=10)
            version = None
            if expect(out.returncode == 0 and out.stdout.startswith("nvr "),
                      f"nvr --version: {out.returncode} {out.stdout!r} {out.stderr[:200]!r}"):
                version = out.stdout.split()[1]
            log(f"nvr --version: {out.stdout.strip()}")

            # 1. device (the default spelling `true` is the same mode).
            configure("device")
            h.start_daemon()
            h.nvr("cameras", "add", "porch", "--main-url", "rtsp://127.0.0.1:9/none")
            cam_id = h.camera_status("porch")["id"]
            oid = f"hearth_{cam_id}"
            dtopic = f"homeassistant/device/{oid}/config"
            h.wait_for("the device document", lambda: dtopic in documents(), 15)
            docs = documents()
            expect(set(docs) == {dtopic}, f"device mode left {sorted(docs)}")
            dev = docs[dtopic]["dev"]
            log(f"device mode: {dtopic} dev={dev} o={docs[dtopic]['o']}")
            expect(dev.get("sw") == version, f"device sw_version {dev.get('sw')!r}, want {version!r}")
            expect(dev.get("cu") == ORIGIN, f"device configuration_url {dev.get('cu')!r}")
            expect(docs[dtopic]["o"].get("sw") == version, "origin sw_version")
            check(h.stop_daemon() == 0, "daemon did not stop cleanly")

            # 2. entity: one document per entity, the device document cleared.
            configure("entity")
            h.start_daemon()
            want = {f"homeassistant/binary_sensor/{oid}_motion/config",
                    f"homeassistant/binary_sensor/{oid}_recording_state/config",
                    f"homeassistant/binary_sensor/{oid}_detect_state/config",
                    f"homeassistant/sensor/{oid}_status/config"}
            h.wait_for("the entity documents", lambda: set(documents()) == want, 15)
            docs = documents()
            uids = []
            for topic, doc in sorted(docs.items()):
                object_id = topic.split("/")[2]
                log(f"entity mode: {topic} unique_id={doc.get('unique_id')} "
                    f"state_topic={doc.get('state_topic')} dev={doc.get('dev')}")
                expect(doc.get("unique_id") == object_id, f"{topic}: unique_id {doc.get('unique_id')}")
                expect(doc.get("dev", {}).get("ids") == [oid], f"{topic}: device ids")
                expect(doc["dev"].get("name") == "porch", f"{topic}: device name")
                expect(doc["dev"].get("sw") == version, f"{topic}: sw_version {doc['dev'].get('sw')}")
                expect(doc["dev"].get("cu") == ORIGIN, f"{topic}: configuration_url")
                expect(doc.get("availability_topic") == "hearth/available", f"{topic}: availability")
                expect(doc.get("state_topic", "").startswith("hearth/porch/"), f"{topic}: state topic")
                expect("p" not in doc and "cmps" not in doc, f"{topic}: device-discovery keys")
                uids.append(doc["unique_id"])
            expect(len(set(uids)) == len(uids), f"unique ids repeat: {uids}")
            expect(docs[f"homeassistant/binary_sensor/{oid}_motion/config"].get("device_class")
                  == "motion", "motion device_class")
            check(h.stop_daemon() == 0, "daemon did not stop cleanly")

            # 3. Back to device: every entity document is cleared.
            configure("device")
            h.start_daemon()
            h.wait_for("only the device document", lambda: set(documents()) == {dtopic}, 15)
            log(f"back to device mode: retained discovery topics {sorted(documents())}")
            check(h.stop_daemon() == 0, "daemon did not stop cleanly")
        finally:
            broker.stop()
        problems.check_none()


if __name__ == "__main__":
    run(test)
