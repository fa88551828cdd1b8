#!/usr/bin/python3
"""A camera that requires RTSP authentication records with credentials given by --user and
--password-file, and the canary password never shows up where a person or another process could
read it: daemon and worker logs, `ps` (every process's argv and environment), `nvr cameras list`,
`nvr status`. A URL carrying credentials is refused."""

import os
import time

from harness import Harness, check, log, run

CANARY = "canary-Pw-7c1e9f"


def proc_texts():
    """argv and environment of every process we can read, as one string per process."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for name in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as f:
                    out.append(f.read().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    return out


def test():
    with Harness("credentials", segment_seconds=10) as h:
        pwfile = os.path.join(h.dir, "cam.pw")
        with open(pwfile, "w") as f:
            f.write(CANARY + "\n")
        h.start_fakecam(1, ["--user", "viewer", "--password-file", pwfile])
        h.start_daemon()
        # Without admin_group the admin socket is root's alone, and the catalog (camera
        # passwords, session hashes) is owner-only whatever the umask.
        mode = os.stat(h.sock).st_mode & 0o777
        check(mode == 0o600, f"admin socket mode {mode:o}, want 600")
        mode = os.stat(os.path.join(h.root, "catalog.db")).st_mode & 0o777
        check(mode == 0o600, f"catalog.db mode {mode:o}, want 600")

        rc, _, err = h.nvr("cameras", "add", "bad", "--main-url",
                           f"rtsp://viewer:{CANARY}@127.0.0.1:{h.fakecam_port}/cam1/main",
                           check_rc=False)
        check(rc != 0 and "credentials" in err, "a URL with credentials was accepted")
        check(CANARY not in err, "the refusal echoed the password")

        # Wrong password: the camera refuses us and we say so, without the password.
        wrong = os.path.join(h.dir, "wrong.pw")
        with open(wrong, "w") as f:
            f.write("not-the-password\n")
        h.nvr("cameras", "add", "wrongpw", "--main-url", h.cam_url(1), "--user", "viewer",
              "--password-file", wrong)
        h.nvr("cameras", "add", "cam1", "--main-url", h.cam_url(1), "--user", "viewer",
              "--password-file", pwfile)
        h.wait_for("cam1 recording", lambda: h.camera_status("cam1")["state"] == "recording", 60)
        time.sleep(12)   # one full segment
        check(h.camera_status("wrongpw")["state"] != "recording",
              "camera with a wrong password records")
        log(f"wrong password: {h.camera_status('wrongpw')['reason']}")

        # This test holds the password in memory only; fakecam and nvr read it from files.
        leaks = [t for t in proc_texts() if CANARY in t]
        check(not leaks, f"password visible in a process's argv or environment: {leaks[:1]}")
        for args in (("cameras", "list", "--json"), ("cameras", "list"), ("status", "--json"),
                     ("status",)):
            _, out, err = h.nvr(*args)
            check(CANARY not in out + err, f"password in `nvr {' '.join(args)}`")
        check(h.stop_daemon() == 0, "daemon did not exit cleanly")
        with open(h.daemon_log, errors="replace") as f:
            text = f.read()
        check(CANARY not in text, "password in the daemon's or a worker's log")
        segs = h.segments("cam1")
        check(len(segs) >= 1 and all(s["state"] == "complete" for s in segs),
              "authenticated camera recorded nothing")
        log(f"cam1 recorded {len(segs)} segment(s) with authentication; no leak found in "
            f"{len(proc_texts())} process texts, CLI output or {len(text)} bytes of logs")


if __name__ == "__main__":
    run(test)
