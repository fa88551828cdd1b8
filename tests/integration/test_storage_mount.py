#!/usr/bin/python3
"""Recordings on a disk of their own (issue 10 item 6, docs/design/storage.md "A disk of its
own"): with `[storage] mount` set, the daemon records only while that mount point is mounted and
never writes to the disk underneath it. In a private mount namespace (root; exits 77 = skipped
where one cannot be made), with a tmpfs standing in for the USB disk:
1. started while the disk is missing: the daemon says it waits, creates nothing under the mount
   point, and answers SIGTERM at once; started again, it waits;
2. the disk is mounted: the daemon starts by itself within a few seconds and records;
3. the disk goes (lazy unmount, as when a USB disk is pulled): the daemon stops within a few
   seconds, exit status 1 (systemd's Restart=on-failure then starts one that waits), and the
   directory under the mount point is still empty: nothing landed on the system disk;
4. a config whose root is not on the mount is refused by `nvr check-config`."""

import os
import shutil
import signal
import subprocess
import sys
import time

from harness import NVR, Harness, check, log, run

SKIP = 77


def enter_private_mounts():
    """Re-runs this script in a private mount namespace, once."""
    if os.environ.get("HEARTH_MOUNT_NS") == "1":
        return
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        log("SKIP: needs root and unshare(1) to mount a stand-in disk in a private namespace")
        sys.exit(SKIP)
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        log(f"SKIP: cannot create a mount namespace here ({probe.stderr.strip()})")
        sys.exit(SKIP)
    env = dict(os.environ, HEARTH_MOUNT_NS="1")
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                        os.path.abspath(__file__)], env=env)
    sys.exit(r.returncode)


def log_has(h, text):
    with open(h.daemon_log, errors="replace") as f:
        return text in f.read()


def test():
    with Harness("storage-mount", segment_seconds=10) as h:
        disk = os.path.join(h.dir, "disk")
        os.makedirs(disk)
        h.root = os.path.join(disk, "hearth")
        with open(h.conf) as f:
            conf = f.read()
        conf = conf.replace(f"root = {os.path.join(h.dir, 'store')}\n",
                            f"root = {h.root}\nmount = {disk}\n")
        with open(h.conf, "w") as f:
            f.write(conf)
        check(f"mount = {disk}" in conf, "the harness's config has no [storage] root line to edit")
        r = subprocess.run([NVR, "check-config", "--config", h.conf], capture_output=True,
                           text=True)
        check(r.returncode == 0, f"check-config refused the mount config: {r.stderr}")

        # 1. missing at start: waits, creates nothing, stops at once on SIGTERM.
        h.start_fakecam(1)
        p = h.start_daemon(wait_socket=False)
        h.wait_for("the daemon saying it waits for the disk",
                   lambda: log_has(h, "is not mounted ([storage] mount): waiting for it"), 30)
        time.sleep(2)
        check(p.poll() is None, f"the daemon exited while waiting ({p.returncode})")
        check(os.listdir(disk) == [], f"the daemon wrote under the unmounted disk: {os.listdir(disk)}")
        check(not os.path.exists(h.sock), "the admin socket exists before the storage does")
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
        log(f"waiting daemon: SIGTERM answered in {time.monotonic() - t0:.2f} s, status {p.returncode}")
        check(p.returncode == 0, f"a stop while waiting exited with {p.returncode}")

        # 2. mounted while a daemon waits: it starts by itself and records.
        p = h.start_daemon(wait_socket=False)
        h.wait_for("the second daemon waiting", lambda: log_has(h, "waiting for it") and
                   open(h.daemon_log).read().count("waiting for it") >= 2, 30)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "hearth-test-disk", disk],
                       check=True)
        t_mount = time.monotonic()
        h.wait_for("the daemon starting on the mounted disk",
                   lambda: os.path.exists(h.sock) and h.nvr("status", "--json", check_rc=False)[0] == 0,
                   30)
        log(f"disk mounted: the daemon answered {time.monotonic() - t_mount:.1f} s later")
        h.nvr("cameras", "add", "cam1", "--main-url", h.cam_url(1))
        h.wait_for("a segment on the disk",
                   lambda: any(f.endswith(".mp4") for _, _, fs in os.walk(os.path.join(h.root, "recordings"))
                               for f in fs), 60)

        # 3. the disk goes: the daemon stops, nothing lands underneath.
        subprocess.run(["umount", "-l", disk], check=True)
        t_gone = time.monotonic()
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            check(False, "the daemon kept running 20 s after its disk went")
        log(f"disk gone: the daemon stopped {time.monotonic() - t_gone:.1f} s later, status {p.returncode}")
        check(p.returncode == 1, f"the daemon's status after losing its disk: {p.returncode}")
        check(log_has(h, "is no longer mounted: stopping"), "no log line saying why it stopped")
        left = [os.path.join(dp, f) for dp, ds, fs in os.walk(disk) for f in fs + ds]
        check(left == [], f"written to the system disk under the mount point: {left}")

        # 4. a root off the mount is refused before anything starts.
        bad = os.path.join(h.dir, "bad.conf")
        with open(bad, "w") as f:
            f.write(conf.replace(f"mount = {disk}\n", f"mount = {disk}2\n"))
        r = subprocess.run([NVR, "check-config", "--config", bad], capture_output=True, text=True)
        check(r.returncode != 0 and "is not on storage.mount" in r.stderr,
              f"a root off the mount: check-config {r.returncode} {r.stderr.strip()}")
        log(f"root off the mount: {r.stderr.strip()}")


if __name__ == "__main__":
    enter_private_mounts()
    run(test)
