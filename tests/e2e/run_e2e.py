#!/usr/bin/env python3
"""Browser end-to-end driver: builds the whole world on loopback — fakecam (3 cameras), the real
daemon with a [web] section, lighttpd over TLS (tests/integration/webfront.py) — makes a pairing
code with the real CLI, and runs a Playwright script (node, Debian's chromium, headless) against
it. The script asks for the revocation on stdout ("E2E-REVOKE"); this driver runs
`nvr devices revoke e2e` and answers with the wall-clock times around it.

    run_e2e.py            pair, live view, no trace of cam2, playback, the live view recovering
                          by itself (camera drop, daemon restart, offline), revoke
                          (pair_live_revoke.mjs)
    run_e2e.py --static   the pages behind the real lighttpd with no daemon (pages_static.mjs)
    run_e2e.py --review   a day's review: timeline, scrub previews, playing across files,
                          speeds, frame step, save frame, the events page (review.mjs)
    run_e2e.py --admin    the admin pages on a phone: add a camera, pair a device limited to
                          it from the devices page, change its cameras, revoke it; a plain
                          device refused (admin.mjs)
    run_e2e.py --audio    live view and a recording of a camera sending AAC play muted with
                          their audio decoded; Unmute only on that camera (audio_play.mjs)

playwright-core is installed from the npm registry with `npm ci` (tests/e2e/package-lock.json)
into <build>/e2e-node, never into the source tree. Screenshots and frame grabs go to
<build>/e2e-artifacts/<test>/."""

import argparse
import collections
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import BUILD, IDREAD, NVR, Failure, Harness, check, log, run  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FIRST_CODE = 201                # cam<i> shows ID code 200 + i: never equal to a catalog id
CAMERAS = 3                     # cam1 allowed, cam2 and cam3 not
URL_RE = re.compile(r"(https://\S+/pair\.html#code=[0-9A-Za-z-]+)")
NODE_TIMEOUT_S = 420


def need_tools():
    for tool in ("node", "npm"):
        check(shutil.which(tool), f"{tool} is missing (packaging/install-deps.sh installs it)")
    check(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing (packaging/install-deps.sh)")


def ensure_playwright():
    """npm ci into <build>/e2e-node unless the installed tree matches package-lock.json."""
    dest = os.path.join(BUILD, "e2e-node")
    lock = os.path.join(HERE, "package-lock.json")
    with open(lock, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(dest, ".lock-sha256")
    if os.path.exists(stamp) and open(stamp).read().strip() == digest and \
            os.path.isdir(os.path.join(dest, "node_modules", "playwright-core")):
        return dest
    os.makedirs(dest, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(os.path.join(HERE, name), os.path.join(dest, name))
    log("installing playwright-core (npm ci)")
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=dest,
                       capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, f"npm ci failed ({r.returncode}): {r.stderr[-2000:]}")
    with open(stamp, "w") as f:
        f.write(digest + "\n")
    return dest


def artifacts_dir(test):
    d = os.path.join(BUILD, "e2e-artifacts", test)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


NODE_TAIL = collections.deque(maxlen=8)   # the last lines the last node script printed


def node_tail():
    """The last lines of the last node script's output, for a failure message: CI shows the end
    of a failing test's log, and the script's own error is what says why it failed."""
    return " | ".join(line.strip() for line in NODE_TAIL)


def run_node(script, env, on_line=None, timeout_s=NODE_TIMEOUT_S):
    """Runs `node script`, echoing its output; @on_line(line, proc) sees each stdout line.
    Returns the exit status; the script is killed after @timeout_s."""
    NODE_TAIL.clear()
    p = subprocess.Popen(["node", os.path.join(HERE, script)], cwd=HERE, env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, bufsize=1, start_new_session=True)
    def kill_group():
        # node and the chromium it started share the session: end both
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    timer = threading.Timer(timeout_s, kill_group)
    timer.start()
    try:
        for line in p.stdout:
            sys.stdout.write("  node: " + line)
            sys.stdout.flush()
            if line.strip():
                NODE_TAIL.append(line.rstrip("\n")[:300])
            if on_line is not None:
                on_line(line.rstrip("\n"), p)
        return p.wait()
    finally:
        timer.cancel()
        if p.poll() is None:
            kill_group()
            p.wait()


def trusting_home(cert, where):
    """A HOME for Chromium whose NSS database trusts @cert (the box's self-signed certificate),
    as a household's browser does once the certificate is installed: without that trust
    Chromium registers no service worker (whatever the page's "proceed anyway"). Needs certutil
    (Debian's libnss3-tools)."""
    check(shutil.which("certutil"), "certutil is missing (packaging/install-deps.sh installs it)")
    home = os.path.join(where, "chromium-home")
    db = os.path.join(home, ".pki", "nssdb")
    os.makedirs(db, exist_ok=True)
    subprocess.run(["certutil", "-d", f"sql:{db}", "-N", "--empty-password"], check=True,
                   capture_output=True)
    subprocess.run(["certutil", "-d", f"sql:{db}", "-A", "-n", "hearth-e2e", "-t", "P,,",
                    "-i", cert], check=True, capture_output=True)
    return home


def base_env(node_dir, artifacts):
    env = dict(os.environ)
    # Chromium uses GLib: meson's G_DEBUG=fatal-criticals is for our programs, not for it. (The
    # sanitizer options stay: idread, run by the script, is built with them.)
    env.pop("G_DEBUG", None)
    env.update(E2E_NODE_DIR=node_dir, E2E_ARTIFACTS=artifacts, CHROMIUM=CHROMIUM)
    return env


def static_test():
    """The pages behind the real lighttpd (its CSP, MIME types, TLS) with no daemon."""
    import webfront
    need_tools()
    node_dir = ensure_playwright()
    artifacts = artifacts_dir("pages")
    h = Harness("e2e-static")
    with h, webfront.WebFront(h.root, os.path.join(h.dir, "absent.sock"),
                              workdir=os.path.join(h.dir, "front")) as front:
        env = base_env(node_dir, artifacts)
        env["E2E_BASE_URL"] = front.origin
        env["HOME"] = trusting_home(front.cert, h.dir)
        status = run_node("pages_static.mjs", env)
        check(status == 0, f"pages_static.mjs failed ({status}); artifacts in {artifacts}; "
                  f"its last lines: {node_tail()}")
    log(f"artifacts: {artifacts}")


def wait_segments(h, names, timeout=60):
    """Waits until each camera in @names has a complete segment; returns {name: [ids]}."""
    found = {}

    def ready():
        with h.catalog() as db:
            for n in names:
                found[n] = [r[0] for r in db.execute(
                    "SELECT s.id FROM segments s JOIN cameras c ON c.id = s.camera_id "
                    "WHERE c.name = ? AND s.state = 'complete' ORDER BY s.id", (n,))]
        return all(found[n] for n in names)
    h.wait_for("a complete segment of " + ", ".join(names), ready, timeout)
    return found


@contextlib.contextmanager
def web_world(h, cameras, fakecam_args=(), conf_extra="", per_camera=(), added=None):
    """The daemon with a [web] section (+ @conf_extra), fakecam with @cameras cameras, camN
    added (main + sub stream; each then gets `nvr cameras ...` @per_camera argument lists with
    {name} filled in; only the first @added when given), and the lighttpd front started; yields
    (front, web_sock, ids by name). On failure the front's logs are printed; the front is
    stopped in every case."""
    import webfront
    web_sock = os.path.join(h.dir, "http.sock")
    front = webfront.WebFront(h.root, web_sock, workdir=os.path.join(h.dir, "front"))
    try:
        with open(h.conf, "a") as f:
            f.write(f"\n[web]\nsocket = {web_sock}\norigin = {front.origin}\n"
                    f"certificate = {front.cert}\n{conf_extra}")
        h.start_fakecam(cameras, ["--first-code", str(FIRST_CODE), *fakecam_args])
        h.start_daemon()
        for i in range(1, (cameras if added is None else added) + 1):
            h.nvr("cameras", "add", f"cam{i}", "--main-url", h.cam_url(i),
                  "--sub-url", h.cam_url(i, "sub"))
            for args in per_camera:
                h.nvr("cameras", *[a.format(name=f"cam{i}") for a in args])
        with h.catalog() as db:
            ids = {r["name"]: r["id"] for r in db.execute("SELECT id, name FROM cameras")}
        h.wait_for("the web socket", lambda: os.path.exists(web_sock), 20)
        front.start()
        yield front, web_sock, ids
    except BaseException:
        log(front.tail_logs())
        raise
    finally:
        front.stop()


def pairing_url(h, name, cameras, *extra):
    """`nvr pair --name @name --cameras @cameras`: (the pairing URL, the command's output)."""
    _, out, _ = h.nvr("pair", "--name", name, "--cameras", cameras, *extra)
    m = URL_RE.search(out)
    check(m, f"no pairing URL in `nvr pair` output:\n{out}")
    return m.group(1), out


def e2e_test():
    need_tools()
    node_dir = ensure_playwright()
    artifacts = artifacts_dir("pair_live_revoke")
    h = Harness("e2e", segment_seconds=10)
    with h:
        truth = os.path.join(h.dir, "truth.json")
        with web_world(h, CAMERAS, ["--truth", truth]) as (front, web_sock, ids):
            with open(truth) as f:
                loop = json.load(f)     # the frame counter is the index within the clip loop
            # A code that has expired by the time the browser tries it.
            expired_url, _ = pairing_url(h, "late", "cam1", "--ttl", "1s")
            segs = wait_segments(h, ["cam1", "cam2"])

            url, out = pairing_url(h, "e2e", "cam1")
            check(url.startswith(front.origin + "/pair.html#code="),
                  f"pairing URL {url!r} is not on the front's origin {front.origin}")
            check(front.fingerprint is None or front.fingerprint in out,
                  "`nvr pair` did not print the certificate's fingerprint")

            env = base_env(node_dir, artifacts)
            env["HOME"] = trusting_home(front.cert, h.dir)
            env.update(E2E_ORIGIN=front.origin, E2E_PAIR_URL=url, E2E_IDREAD=IDREAD,
                       E2E_EXPIRED_URL=expired_url,
                       E2E_CAM1_ID=str(ids["cam1"]), E2E_CAM1_CODE=str(FIRST_CODE),
                       E2E_CAM2_ID=str(ids["cam2"]), E2E_CAM2_CODE=str(FIRST_CODE + 1),
                       E2E_CAM2_SEGMENT=str(segs["cam2"][-1]),
                       E2E_CAM1_SEGMENT=str(segs["cam1"][-1]),
                       E2E_FPS=str(loop["fps"]), E2E_CLIP_FRAMES=str(loop["clip_frames"]))
            revoked = []

            def answer(p, text):
                p.stdin.write(text + "\n")
                p.stdin.flush()

            def on_line(line, p):
                # The live view's recovery (pair_live_revoke.mjs step 4b): cam1 drops and comes
                # back, the daemon restarts.
                command = line.strip()
                if command == "E2E-DROP":
                    h.fakecam_control("drop 1")
                    return answer(p, "DONE")
                if command == "E2E-RESTORE":
                    h.fakecam_control("restore 1")
                    return answer(p, "DONE")
                if command == "E2E-RESTART":
                    t0 = time.time()
                    h.stop_daemon()
                    h.start_daemon()
                    h.wait_for("the web socket", lambda: os.path.exists(web_sock), 20)
                    log(f"daemon restarted in {(time.time() - t0) * 1000:.0f} ms")
                    return answer(p, "DONE")
                if command != "E2E-REVOKE":
                    return
                t0 = time.time()
                h.nvr("devices", "revoke", "e2e")
                t1 = time.time()
                revoked.append((t0, t1))
                log(f"revoked e2e: `nvr devices revoke e2e` took {(t1 - t0) * 1000:.0f} ms")
                answer(p, f"REVOKED {t0 * 1000:.1f} {t1 * 1000:.1f}")

            status = run_node("pair_live_revoke.mjs", env, on_line)
            check(status == 0, f"pair_live_revoke.mjs failed ({status}); artifacts in {artifacts}; "
                  f"its last lines: {node_tail()}")
            check(revoked, "the browser test never asked for the revocation")
            with h.catalog() as db:
                row = db.execute("SELECT revoked_us FROM devices WHERE name = 'e2e'").fetchone()
            check(row is not None and row[0] is not None, "device e2e is not revoked in the catalog")
    log(f"artifacts: {artifacts}")


def wait_review_material(h, name, files, timeout=120):
    """Waits until camera @name has @files complete segments and two ended motion events with
    thumbnails; returns (segments [(id, start_us, end_us)], events [(id, start_us, end_us)])."""
    got = {}

    def ready():
        with h.catalog() as db:
            got["segs"] = db.execute(
                "SELECT s.id, s.start_us, s.end_us FROM segments s JOIN cameras c "
                "ON c.id = s.camera_id WHERE c.name = ? AND s.state = 'complete' "
                "ORDER BY s.start_us", (name,)).fetchall()
            got["events"] = db.execute(
                "SELECT e.id, e.start_us, e.end_us FROM events e JOIN cameras c "
                "ON c.id = e.camera_id WHERE c.name = ? AND e.state = 'ended' "
                "AND e.thumbnail IS NOT NULL ORDER BY e.start_us", (name,)).fetchall()
        return len(got["segs"]) >= files and len(got["events"]) >= 2
    h.wait_for(f"{files} files and 2 events of {name}", ready, timeout)
    return [tuple(r) for r in got["segs"]], [tuple(r) for r in got["events"]]


def review_test():
    """A device allowed cam1 only reviews its day; one allowed both plays them together
    (review.mjs)."""
    need_tools()
    node_dir = ensure_playwright()
    artifacts = artifacts_dir("review")
    h = Harness("e2e-review", segment_seconds=10)
    with h:
        truth = os.path.join(h.dir, "truth.json")
        # fakecam's object crosses for 6 s of every 20: events end in between. The ID band
        # (frame counter) is masked, as in test_motion; two zones.
        with web_world(h, 2, ["--truth", truth, "--clip-seconds", "20"],
                       "\n[motion]\nend_after_ms = 3000\n",
                       [("motion", "{name}", "--mask", "0,0 1,0 1,0.12 0,0.12",
                         "--zone", "left=0,0.12 0.5,0.12 0.5,1 0,1",
                         "--zone", "right=0.5,0.12 1,0.12 1,1 0.5,1")]) as (front, _, ids):
            segs, events = wait_review_material(h, "cam1", 3)
            wait_review_material(h, "cam2", 1)
            url, _ = pairing_url(h, "reviewer", "cam1")
            url2, _ = pairing_url(h, "family", "cam1,cam2")
            # A boundary between two files that follow each other without a gap.
            boundary = next((b[1] for a, b in zip(segs, segs[1:]) if b[1] - a[2] < 1_000_000),
                            None)
            check(boundary is not None, f"no two continuous files among {segs}")
            env = base_env(node_dir, artifacts)
            env["HOME"] = trusting_home(front.cert, h.dir)
            env.update(E2E_ORIGIN=front.origin, E2E_PAIR_URL=url, E2E_IDREAD=IDREAD,
                       E2E_PAIR_URL2=url2, E2E_CAM2_CODE=str(FIRST_CODE + 1), E2E_NVR=NVR,
                       E2E_CAM1_ID=str(ids["cam1"]), E2E_CAM1_CODE=str(FIRST_CODE),
                       E2E_CAM2_ID=str(ids["cam2"]), E2E_BOUNDARY_US=str(boundary),
                       E2E_FIRST_US=str(segs[0][1]), E2E_EVENT_ID=str(events[0][0]),
                       E2E_EVENT_US=str(events[0][1]))
            status = run_node("review.mjs", env)
            check(status == 0, f"review.mjs failed ({status}); artifacts in {artifacts}; "
                  f"its last lines: {node_tail()}")
    log(f"artifacts: {artifacts}")


def admin_test():
    """An admin device runs the household from the admin pages; a plain device is refused
    (admin.mjs)."""
    need_tools()
    node_dir = ensure_playwright()
    artifacts = artifacts_dir("admin")
    h = Harness("e2e-admin", segment_seconds=10)
    with h:
        # fakecam's 4th camera is for the page to add (when the daemon has settings routes).
        with web_world(h, CAMERAS + 1, added=CAMERAS) as (front, _, ids):
            wait_segments(h, ["cam1", "cam2"])
            admin_url, _ = pairing_url(h, "admin", "cam1,cam2,cam3", "--admin")
            plain_url, _ = pairing_url(h, "plain", "cam1")
            _, out, _ = h.nvr("http-routes")
            # Placeholders compared by place, not by name ({cam} = {id}).
            routes = {re.sub(r"\{[^}]*\}", "{}", f"{r['method']} {r['path']}")
                      for r in json.loads(out)["routes"]}
            # The pages' steps run when the daemon has their routes; a daemon with some of a
            # group's routes but not all (other names?) is a failure, not a silently skipped step.
            groups = {
                "settings": {"GET /api/v1/settings/cameras", "POST /api/v1/settings/cameras",
                             "PUT /api/v1/settings/cameras/{}", "DELETE /api/v1/settings/cameras/{}",
                             "PUT /api/v1/settings/cameras/{}/motion"},
                "camtest": {"POST /api/v1/settings/cameras/test"},
                "health": {"GET /api/v1/health", "GET /api/v1/audit"},
            }
            have = {}
            for name, want in groups.items():
                have[name] = want <= routes
                check(have[name] or not (want & routes),
                      f"the daemon has {sorted(want & routes)} but not {sorted(want - routes)}")
            settings, camtest, health = have["settings"], have["camtest"], have["health"]
            log(f"settings routes: {settings}, camera test: {camtest}, health routes: {health}")
            env = base_env(node_dir, artifacts)
            env["HOME"] = trusting_home(front.cert, h.dir)
            env.update(E2E_ORIGIN=front.origin, E2E_ADMIN_URL=admin_url, E2E_PLAIN_URL=plain_url,
                       E2E_CAM1_ID=str(ids["cam1"]), E2E_CAM2_ID=str(ids["cam2"]),
                       E2E_SETTINGS="1" if settings else "0", E2E_HEALTH="1" if health else "0",
                       E2E_CAMTEST="1" if camtest else "0",
                       E2E_CAM4_MAIN=h.cam_url(CAMERAS + 1),
                       E2E_CAM4_SUB=h.cam_url(CAMERAS + 1, "sub"))

            def on_line(line, p):
                words = line.split()
                if len(words) != 2:
                    return
                if words[0] == "E2E-WAIT-SEGMENT":
                    wait_segments(h, [words[1]], 90)
                    answer = "DONE"
                elif words[0] == "E2E-MOTION":
                    with h.catalog() as db:
                        row = db.execute("SELECT motion_masks, motion_zones FROM cameras "
                                         "WHERE name = ?", (words[1],)).fetchone()
                    answer = json.dumps({"masks": json.loads(row[0] or "[]"),
                                         "zones": json.loads(row[1] or "[]")})
                else:
                    return
                p.stdin.write(answer + "\n")
                p.stdin.flush()

            status = run_node("admin.mjs", env, on_line)
            check(status == 0, f"admin.mjs failed ({status}); artifacts in {artifacts}; "
                  f"its last lines: {node_tail()}")
            # What the pages did, from the catalog: the guest was made by the page's invite,
            # limited to cam2 at the end, and revoked.
            with h.catalog() as db:
                row = db.execute("SELECT id, is_admin, revoked_us FROM devices "
                                 "WHERE name = 'guest phone'").fetchone()
                check(row is not None, "the page's invite paired no 'guest phone' device")
                acl = [r[0] for r in db.execute(
                    "SELECT camera_id FROM device_cameras WHERE device_id = ?", (row[0],))]
            check(row[1] == 0, "the guest device is an admin")
            check(row[2] is not None, "the guest device is not revoked in the catalog")
            check(acl == [ids["cam2"]], f"the guest device's cameras are {acl}, want only cam2")
    log(f"artifacts: {artifacts}")


def soak_test(minutes):
    """index.html left open on a 'wall tablet' while cameras drop and the daemon restarts."""
    need_tools()
    node_dir = ensure_playwright()
    artifacts = artifacts_dir("soak_wall")
    cameras = 3
    h = Harness("e2e-soak", segment_seconds=60)
    with h:
        with web_world(h, cameras) as (front, web_sock, _):
            names = ",".join(f"cam{i}" for i in range(1, cameras + 1))
            url, _ = pairing_url(h, "tablet", names)
            env = base_env(node_dir, artifacts)
            env["HOME"] = trusting_home(front.cert, h.dir)
            env.update(E2E_ORIGIN=front.origin, E2E_PAIR_URL=url,
                       E2E_CAMERAS=str(cameras), E2E_SOAK_MINUTES=str(minutes))

            def on_line(line, p):
                words = line.split()
                if not words or words[0] not in ("E2E-DROP", "E2E-RESTORE", "E2E-RESTART"):
                    return
                if words[0] == "E2E-RESTART":
                    h.stop_daemon()
                    h.start_daemon()
                    h.wait_for("the web socket", lambda: os.path.exists(web_sock), 20)
                else:
                    h.fakecam_control(f"{words[0][4:].lower()} {words[1]}")
                p.stdin.write("DONE\n")
                p.stdin.flush()

            status = run_node("soak_wall.mjs", env, on_line, timeout_s=minutes * 60 + 600)
            check(status == 0, f"soak_wall.mjs failed ({status}); artifacts in {artifacts}; "
                  f"its last lines: {node_tail()}")
    log(f"artifacts: {artifacts}")


def audio_test():
    """cam1 sends AAC, cam2 no audio (fakecam --audio aac,none): cam1's live tile plays muted
    with its audio decoded and an Unmute button that cam2's tile lacks; cam1's recording plays
    in Chromium with audio decoded, muted (audio_play.mjs)."""
    need_tools()
    node_dir = ensure_playwright()
    artifacts = artifacts_dir("audio")
    h = Harness("e2e-audio", segment_seconds=10)
    with h:
        with web_world(h, 2, ["--audio", "aac,none"]) as (front, _, ids):
            wait_segments(h, ["cam1"])
            url, _ = pairing_url(h, "listener", "cam1,cam2")
            env = base_env(node_dir, artifacts)
            env["HOME"] = trusting_home(front.cert, h.dir)
            env.update(E2E_ORIGIN=front.origin, E2E_PAIR_URL=url, E2E_CAM1_ID=str(ids["cam1"]),
                       E2E_CAM2_ID=str(ids["cam2"]))
            status = run_node("audio_play.mjs", env)
            check(status == 0, f"audio_play.mjs failed ({status}); artifacts in {artifacts}; "
                  f"its last lines: {node_tail()}")
    log(f"artifacts: {artifacts}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--static", action="store_true",
                    help="only the pages behind lighttpd, without a daemon")
    ap.add_argument("--review", action="store_true",
                    help="the review pages: timeline, playback across files, events")
    ap.add_argument("--admin", action="store_true",
                    help="the admin pages: devices, pairing from the browser, revoke")
    ap.add_argument("--soak", action="store_true",
                    help="the wall tablet: live view through drops and restarts (long)")
    ap.add_argument("--minutes", type=int, default=20, help="length of --soak (default 20)")
    ap.add_argument("--audio", action="store_true",
                    help="a recording with AAC audio plays muted with audio decoded")
    args = ap.parse_args()
    if args.audio:
        run(audio_test)
    elif args.soak:
        run(lambda: soak_test(args.minutes))
    elif args.admin:
        run(admin_test)
    else:
        run(static_test if args.static else review_test if args.review else e2e_test)


if __name__ == "__main__":
    main()
