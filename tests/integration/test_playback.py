#!/usr/bin/python3
"""Playback through the real front (docs/design/playback.md): a fake camera recorded by the real
daemon and workers with 10 s segments, lighttpd over TLS in front, a device paired through the
API. The device fetches the camera's HLS playlist over the last minute and then, exactly as a
player would, the init segment and every fragment by byte range through lighttpd:

  - the playlist is HLS v7, spans a segment boundary (a discontinuity and a new EXT-X-MAP),
    includes the segment still being recorded (EVENT, no ENDLIST), and every EXTINF rounds to at
    most EXT-X-TARGETDURATION;
  - every range answers 206 with exactly the bytes asked for; each init range starts with ftyp,
    each fragment range with a moof;
  - init + ranges of each file decode (idread) with every frame showing the camera's ID code,
    as many frames as the playlist's durations say;
  - a second device, paired for another camera only, gets 404 for the playlist and for every
    range the first device's playlist names (a playlist is no capability); no session: 401.

Then the playlist is fetched again: the recording file has grown by at least one fragment."""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "security"))

from world import Harness, World, check, log, run  # noqa: E402
from harness import IDREAD  # noqa: E402

FPS = 15                 # fakecam's default frame rate
MIN_READABLE = 0.9       # share of decoded frames whose ID code must be read


def parse_playlist(text):
    """{"tags": {...}, "files": [{"seg", "init", "pdt", "frags": [(dur_s, size, offset)]}]}"""
    check(text.startswith("#EXTM3U\n"), f"not a playlist: {text[:80]!r}")
    lines = text.splitlines()
    out = {"version": None, "target": None, "type": None, "endlist": False,
           "discontinuities": 0, "files": []}
    cur = None
    pending = None
    for i, l in enumerate(lines):
        if l.startswith("#EXT-X-VERSION:"):
            out["version"] = int(l.split(":", 1)[1])
        elif l.startswith("#EXT-X-TARGETDURATION:"):
            out["target"] = int(l.split(":", 1)[1])
        elif l.startswith("#EXT-X-PLAYLIST-TYPE:"):
            out["type"] = l.split(":", 1)[1]
        elif l == "#EXT-X-ENDLIST":
            out["endlist"] = True
        elif l == "#EXT-X-DISCONTINUITY":
            out["discontinuities"] += 1
        elif l.startswith("#EXT-X-MAP:"):
            m = re.fullmatch(r'#EXT-X-MAP:URI="segments/(\d+)/media",BYTERANGE="(\d+)@0"', l)
            check(m is not None, f"EXT-X-MAP line {l!r}")
            cur = {"seg": int(m[1]), "init": int(m[2]), "pdt": None, "frags": []}
            out["files"].append(cur)
        elif l.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            cur["pdt"] = l.split(":", 1)[1]
        elif l.startswith("#EXTINF:"):
            dur = float(l[8:].rstrip(","))
            m = re.fullmatch(r"#EXT-X-BYTERANGE:(\d+)@(\d+)", lines[i + 1])
            check(m is not None, f"EXTINF not followed by a byte range: {lines[i + 1]!r}")
            uri = lines[i + 2]
            check(uri == f"segments/{cur['seg']}/media",
                  f"fragment URI {uri!r} in the file of segment {cur['seg']}")
            cur["frags"].append((dur, int(m[1]), int(m[2])))
    return out


def fetch_range(client, cam, seg, offset, size):
    r = client.get(f"/api/v1/cameras/{cam}/segments/{seg}/media",
                   headers={"Range": f"bytes={offset}-{offset + size - 1}"})
    return r


def idread_bytes(data):
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(data)
        f.flush()
        r = subprocess.run([IDREAD, "--json", f.name], capture_output=True, text=True,
                           timeout=60)
    check(r.returncode in (0, 1), f"idread failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout)


def test():
    t_start = time.monotonic()
    with Harness("playback", segment_seconds=10) as h, World(h, via="tls") as w:
        w.start(2, sub=False)
        cam1, cam2 = w.cams["cam1"], w.cams["cam2"]
        a = w.paired("a", ["cam1"])
        b = w.paired("b", ["cam2"])

        def ready():
            with w.db() as db:
                done = db.execute("SELECT count(*) FROM segments WHERE camera_id = ? AND "
                                  "state = 'complete'", (cam1,)).fetchone()[0]
                live = db.execute(
                    "SELECT count(*) FROM fragments f JOIN segments s ON s.id = f.segment_id "
                    "WHERE s.camera_id = ? AND s.state = 'recording'", (cam1,)).fetchone()[0]
            return done >= 1 and live >= 2
        h.wait_for("a closed segment and fragments of the open one", ready, 60)

        now = int(time.time() * 1e6)
        window = f"from_us={now - 60 * 10**6}&to_us={now + 60 * 10**6}"
        t0 = time.monotonic()
        r = a.get(f"/api/v1/cameras/{cam1}/playlist.m3u8?{window}")
        log(f"playlist: {r.status}, {len(r.body)} bytes in {time.monotonic() - t0:.3f} s "
            f"through lighttpd")
        check(r.status == 200, f"playlist answered {r!r}")
        check((r.header("Content-Type") or "").startswith("application/vnd.apple.mpegurl"),
              f"playlist Content-Type {r.header('Content-Type')!r}")
        check("no-store" in (r.header("Cache-Control") or ""), "playlist is cacheable")
        check(r.header("X-Hearth-Camera") == str(cam1),
              f"X-Hearth-Camera {r.header('X-Hearth-Camera')!r}")
        text = r.body.decode()
        with open(os.path.join(h.dir, "playlist.m3u8"), "w") as f:   # kept with HEARTH_KEEP_TMP
            f.write(text)
        pl = parse_playlist(text)
        files = pl["files"]
        log(f"playlist: version {pl['version']}, target {pl['target']} s, type {pl['type']}, "
            f"{len(files)} files, {sum(len(f['frags']) for f in files)} fragments, "
            f"{pl['discontinuities']} discontinuities")
        check(pl["version"] == 7, f"EXT-X-VERSION {pl['version']}")
        check(len(files) >= 2 and pl["discontinuities"] == len(files) - 1,
              "the playlist does not span a segment boundary")
        check(pl["type"] == "EVENT" and not pl["endlist"],
              "the segment being recorded does not make an EVENT playlist without ENDLIST")
        with w.db() as db:
            states = {row[0]: row[1] for row in db.execute(
                "SELECT id, state FROM segments WHERE camera_id = ?", (cam1,))}
        check(states.get(files[-1]["seg"]) == "recording",
              f"the last file of the playlist is not the one being recorded: {states}")
        for f in files:
            check(f["pdt"] is not None and f["frags"], f"file {f['seg']}: no date or no "
                                                       f"fragments")
            for dur, _, _ in f["frags"]:
                check(round(dur) <= pl["target"], f"EXTINF {dur} over target {pl['target']}")

        # The bytes, as a player fetches them: through lighttpd, by range.
        ranges = 0
        code = w.code_of("cam1")
        for f in files:
            r = fetch_range(a, cam1, f["seg"], 0, f["init"])
            check(r.status == 206 and len(r.body) == f["init"] and r.body[4:8] == b"ftyp",
                  f"init of {f['seg']}: {r.status}, {len(r.body)} bytes, {r.body[4:8]!r}")
            check(r.header("Content-Range") == f"bytes 0-{f['init'] - 1}/" +
                  (r.header("Content-Range") or "").rsplit("/", 1)[-1],
                  f"init Content-Range {r.header('Content-Range')!r}")
            data = bytearray(r.body)
            for dur, size, offset in f["frags"]:
                r = fetch_range(a, cam1, f["seg"], offset, size)
                check(r.status == 206 and len(r.body) == size and r.body[4:8] == b"moof",
                      f"range {size}@{offset} of {f['seg']}: {r.status}, {len(r.body)} "
                      f"bytes, {r.body[4:8]!r}")
                check("no-store" in (r.header("Cache-Control") or ""), "range is cacheable")
                data += r.body
                ranges += 1
            info = idread_bytes(bytes(data))
            codes = {int(k): v for k, v in info["codes"].items()}
            expect = round(sum(d for d, _, _ in f["frags"]) * FPS)
            log(f"segment {f['seg']}: init {f['init']} + {len(f['frags'])} ranges, "
                f"{len(data)} bytes: {info['frames']} frames decoded (playlist says "
                f"~{expect}), codes {codes}")
            check(set(codes) == {code}, f"segment {f['seg']} shows codes {codes}, not {code}")
            check(codes[code] >= MIN_READABLE * info["frames"],
                  f"segment {f['seg']}: only {codes[code]} of {info['frames']} readable")
            check(abs(info["frames"] - expect) <= 2,
                  f"segment {f['seg']}: {info['frames']} frames, the playlist says {expect}")
        log(f"{ranges} fragment ranges + {len(files)} init ranges: 206, exact, decoded")

        # Another device: neither the playlist nor any range it names.
        r = b.get(f"/api/v1/cameras/{cam1}/playlist.m3u8?{window}")
        check(r.status == 404 and not r.body.startswith(b"#EXTM3U"),
              f"device b got camera 1's playlist: {r!r}")
        refused = 0
        for f in files:
            for _, size, offset in [(0, f["init"], 0)] + f["frags"]:
                r = fetch_range(b, cam1, f["seg"], offset, size)
                check(r.status == 404 and r.header("X-Sendfile") is None and
                      len(r.body) < 200 and b"moof" not in r.body,
                      f"device b fetched a range of camera 1: {r!r}")
                refused += 1
            # ... nor under its own camera's path.
            r = fetch_range(b, cam2, f["seg"], 0, f["init"])
            check(r.status == 404, f"device b got segment {f['seg']} under camera 2: {r!r}")
        r = w.client("nobody").get(f"/api/v1/cameras/{cam1}/playlist.m3u8?{window}")
        check(r.status == 401, f"no session: playlist answered {r!r}")
        log(f"device b: playlist 404, {refused} ranges of device a's playlist 404")

        # The live edge moves: the recording file has more fragments a little later.
        last = files[-1]
        time.sleep(2.5)
        r = a.get(f"/api/v1/cameras/{cam1}/playlist.m3u8?{window}")
        again = parse_playlist(r.body.decode())
        grown = [f for f in again["files"] if f["seg"] == last["seg"]]
        check(grown and len(grown[0]["frags"]) > len(last["frags"]),
              f"the recording file did not grow: {len(last['frags'])} fragments, then "
              f"{len(grown[0]['frags']) if grown else 'none'}")
        log(f"live edge: segment {last['seg']} went from {len(last['frags'])} to "
            f"{len(grown[0]['frags'])} fragments in 2.5 s")
    log(f"test_playback: {time.monotonic() - t_start:.0f} s")


if __name__ == "__main__":
    run(test)
