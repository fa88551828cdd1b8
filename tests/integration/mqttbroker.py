"""A real mosquitto broker on a free loopback port for MQTT tests, and mosquitto_sub helpers."""

import os
import socket
import subprocess
import time

MOSQUITTO = "/usr/sbin/mosquitto"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Broker:
    """@listener_conf: extra lines for the listener (TLS files, password_file, allow_anonymous);
    @client_args: what mosquitto_sub/pub need to reach it (--cafile, -u, -P)."""

    def __init__(self, directory, port=None, listener_conf="allow_anonymous true\n",
                 client_args=(), addresses=("127.0.0.1",)):
        self.dir = directory
        self.port = port or free_port()
        self.proc = None
        self.subs = []   # background subscribers, ended by stop() even when a test fails
        self.client_args = list(client_args)
        self.conf = os.path.join(directory, "mosquitto.conf")
        with open(self.conf, "w") as f:
            # user root: keep reading the test's private files (no effect when not root).
            f.write("user root\nper_listener_settings true\npersistence false\nlog_dest stderr\n")
            for address in addresses:
                f.write(f"listener {self.port} {address}\n{listener_conf}")

    def start(self):
        log = open(os.path.join(self.dir, "mosquitto.log"), "a")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self):
        for sub in self.subs:
            if sub.poll() is None:
                sub.kill()
                sub.wait()
        self.subs = []
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def retained(self, topic, timeout=2):
        """The retained message(s) on @topic (a filter), as {topic: payload}."""
        r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-t", topic,
                            "-v", "--retained-only", "-W", str(timeout), *self.client_args],
                           capture_output=True, text=True)
        out = {}
        for line in r.stdout.splitlines():
            t, _, p = line.partition(" ")
            out[t] = p
        return out

    def publish(self, topic, payload, retain=False):
        args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t", topic, "-q", "1",
                *self.client_args]
        if payload is None:
            args += ["-n"]
        else:
            args += ["-m", payload]
        if retain:
            args += ["-r"]
        subprocess.run(args, check=True, timeout=10)

    def subscribe(self, topic, path, fmt=None):
        """A background subscriber writing 'topic payload' lines to @path (or lines in
        mosquitto_sub's -F @fmt, e.g. '%U %r %t %p' for arrival time, retain flag, topic,
        payload)."""
        f = open(path, "w")
        out = ["-F", fmt] if fmt else ["-v"]
        p = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-t",
                              topic, *out, "-q", "1", *self.client_args], stdout=f, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.subs.append(p)
        return p
