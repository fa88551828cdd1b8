"""Nothing lost (issue 4 item 5), through the real daemon: the broker is stopped for 2 minutes
while fakecam's scripted crossings make motion events on two cameras, and the daemon is
restarted in the middle of the outage. After the broker returns, a subscriber that joined
before the bridge reconnected must receive, for every event of the outage, its `new` and (once
ended) its `end`, with `new`s in event order, each event's messages in order; duplicates (QoS1
redelivery) are counted and printed, not failed."""

import json
import os
import time

from harness import Harness, check, log, run
from mqttbroker import Broker, free_port

OUTAGE_S = 120
CLIP_S = 20          # a crossing every 20 s per camera; events end 10 s after it


def read_messages(path):
    out = []
    for line in open(path, errors="replace"):
        if line.startswith("hearth/events "):
            out.append(json.loads(line.split(" ", 1)[1]))
    return out


def test():
    port = free_port()
    conf = (f"[mqtt]\nhost = 127.0.0.1\nport = {port}\nkeepalive_seconds = 5\n")
    with Harness("mqtt-outage", segment_seconds=10, backoff_initial_ms=500, backoff_max_ms=2000,
                 extra_config=conf) as h:
        broker = Broker(h.dir, port)
        try:
            broker.start()
            h.start_fakecam(2, ["--clip-seconds", str(CLIP_S)])
            h.start_daemon()
            for name, i in (("cam1", 1), ("cam2", 2)):
                h.nvr("cameras", "add", name, "--main-url", h.cam_url(i))
                h.nvr("cameras", "motion", name, "--mask", "0,0 1,0 1,0.12 0,0.12")
            h.wait_for("both cameras recording",
                       lambda: all(h.camera_status(n)["state"] == "recording"
                                   for n in ("cam1", "cam2")), 60)
            h.wait_for("the bridge online",
                       lambda: broker.retained("hearth/available", 1).get("hearth/available")
                       == "online", 20)

            # The outage: broker down 2 minutes, the daemon restarted half-way through.
            broker.stop()
            t_down_us = int(time.time() * 1e6)
            time.sleep(OUTAGE_S / 2)
            check(h.stop_daemon() == 0, "daemon did not stop cleanly during the outage")
            h.start_daemon()
            time.sleep(OUTAGE_S / 2)
            t_up_us = int(time.time() * 1e6)

            with h.catalog() as db:
                queued = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
                during = [dict(r) for r in db.execute(
                    "SELECT id, camera_id, state FROM events WHERE start_us >= ? AND start_us <= ?"
                    " ORDER BY id", (t_down_us, t_up_us))]
                ended = {r[0] for r in db.execute(
                    "SELECT id FROM events WHERE end_us IS NOT NULL AND end_us >= ? AND end_us <= ?",
                    (t_down_us, t_up_us))}
            log(f"outage of {(t_up_us - t_down_us) / 1e6:.0f} s: {len(during)} events started, "
                f"{len(ended)} ended, {queued} outbox rows waiting")
            check(len(during) >= 6, f"only {len(during)} events in a {OUTAGE_S} s outage")

            # The broker returns; the subscriber joins before the bridge's next attempt.
            path = os.path.join(h.dir, "events.txt")
            broker.start()
            broker.subscribe("hearth/events", path)
            t_back = time.monotonic()

            def drained():
                with h.catalog() as db:
                    return db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
            # New motion keeps adding rows; "drained" is reached between events.
            h.wait_for("the outbox delivered", drained, 90)
            log(f"outbox drained {time.monotonic() - t_back:.1f} s after the broker returned")
            time.sleep(1)

            msgs = read_messages(path)
            firsts, dups = [], 0
            seen = set()
            for m in msgs:
                key = json.dumps(m, sort_keys=True)   # an exact repeat = a redelivery
                if key in seen:
                    dups += 1
                    continue
                seen.add(key)
                firsts.append(m)
            news = [m["after"]["id"] for m in firsts if m["type"] == "new"]
            ends = [m["after"]["id"] for m in firsts if m["type"] == "end"]
            missing_new = [e["id"] for e in during if e["id"] not in news]
            missing_end = sorted(i for i in ended if i not in ends)
            log(f"received {len(msgs)} messages ({dups} duplicates): {len(news)} new, "
                f"{len(ends)} end")
            check(not missing_new, f"no 'new' received for events {missing_new}")
            check(not missing_end, f"no 'end' received for events {missing_end}")
            check(news == sorted(news), f"'new' messages out of event order: {news}")
            for i in set(news) & set(ends):
                order = [m["type"] for m in firsts if m["after"]["id"] == i]
                check(order.index("new") < order.index("end"),
                      f"event {i}: 'end' arrived before 'new' ({order})")
            log(f"all {len(during)} events of the outage arrived, in order")
        finally:
            broker.stop()


if __name__ == "__main__":
    run(test)
