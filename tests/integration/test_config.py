#!/usr/bin/python3
"""A broken config is rejected by both `nvr check-config` and `nvr run`, with exit status 2 and
a message naming the file, the line and the reason; the daemon then touches nothing."""

import os
import re
import subprocess

from harness import NVR, Harness, check, log, run


def test():
    with Harness("config") as h:
        rc, out, _ = h.nvr("check-config", h.conf)
        check(rc == 0 and out.strip().endswith(": OK"), "valid config not accepted")
        # The example shipped for /etc/hearth/hearth.conf must stay valid.
        shipped = os.path.join(os.path.dirname(__file__), "..", "..", "packaging", "hearth.conf")
        r = subprocess.run([NVR, "check-config", shipped], capture_output=True, text=True)
        check(r.returncode == 0, f"packaging/hearth.conf is invalid: {r.stderr}")
        # It lists every key the parser knows, commented out or set: uncommented, it still parses
        # (no misspelt key, no bad default) and names as many keys as nvr/config.c's table.
        src = os.path.join(os.path.dirname(__file__), "..", "..")
        table = re.findall(r'^  \{ "(\w+)", "(\w+)", KEY_', open(os.path.join(src, "nvr", "config.c")).read(), re.M)
        lines = open(shipped).read().splitlines()
        listed, section, uncommented = set(), "", []
        for line in lines:
            m = re.match(r"^\[(\w+)\]$", line)
            section = m.group(1) if m else section
            m = re.match(r"^#(\w+) = ", line)
            if m:
                listed.add((section, m.group(1)))
                line = line[1:]
            else:
                # the few keys the appliance sets (admin_group, origin, certificate)
                m = re.match(r"^(\w+) = ", line)
                if m:
                    listed.add((section, m.group(1)))
            uncommented.append(line)
        check(listed == set(table), f"packaging/hearth.conf lists {sorted(listed ^ set(table))} "
              "differently from nvr/config.c")
        all_keys = os.path.join(h.dir, "all-keys.conf")
        with open(all_keys, "w") as f:
            f.write("\n".join(uncommented) + "\n")
        r = subprocess.run([NVR, "check-config", all_keys], capture_output=True, text=True)
        check(r.returncode == 0, f"packaging/hearth.conf uncommented is invalid: {r.stderr}")
        # So must the example in the README, which households copy.
        readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
        example = readme.split("```ini\n", 1)[1].split("```", 1)[0]
        readme_conf = os.path.join(h.dir, "readme.conf")
        with open(readme_conf, "w") as f:
            f.write(example)
        r = subprocess.run([NVR, "check-config", readme_conf], capture_output=True, text=True)
        check(r.returncode == 0, f"the README's config example is invalid: {r.stderr}")

        bad = os.path.join(h.dir, "bad.conf")
        with open(bad, "w") as f:
            f.write(f"# a household's config\n[daemon]\nadmin_socket = {h.sock}\n\n"
                    "[storage]\nroot = /tmp/should-not-exist-hearth\nsegment_secs = 60\n")
        for cmd in (["check-config", bad], ["run", "--config", bad]):
            r = subprocess.run([NVR, *cmd], capture_output=True, text=True, timeout=30)
            log(f"nvr {' '.join(cmd)} -> {r.returncode}: {r.stderr.strip()}")
            check(r.returncode == 2, f"exit status {r.returncode}, expected 2")
            check(f"{bad}:7: unknown key 'segment_secs' in [storage]" in r.stderr,
                  "message does not name file, line and key")
        check(not os.path.exists("/tmp/should-not-exist-hearth"), "daemon created its storage")
        check(not os.path.exists(h.sock), "daemon opened its admin socket")

        with open(bad, "w") as f:
            f.write("[recording]\ntransport = tcp\nwatchdog_seconds = 0\n")
        r = subprocess.run([NVR, "check-config", bad], capture_output=True, text=True)
        check(r.returncode == 2 and f"{bad}:3: recording.watchdog_seconds must be an integer"
              in r.stderr, f"bad value not reported: {r.stderr}")


if __name__ == "__main__":
    run(test)
