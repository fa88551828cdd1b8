"""MQTT over TLS with a username and password (issue 4 item 4), against a real mosquitto on a
loopback port that refuses anonymous clients: the daemon joins (by host name, resolved off the
main loop) with the right CA and password,
is refused with a wrong password or an unknown CA (one clear log line each, recording goes on),
and the password never shows in its log or in any nvr process's argv or environment."""

import os
import subprocess
import time

from harness import Harness, check, log, run
from mqttbroker import Broker, free_port

USER = "hearth"
PASSWORD = "canary-mqtt-3b1f9e"


def make_ca(directory, name):
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl CLI)."""
    ca_key, ca = os.path.join(directory, f"{name}-ca.key"), os.path.join(directory, f"{name}-ca.pem")
    key, csr, cert = (os.path.join(directory, f"{name}-server.{x}") for x in ("key", "csr", "pem"))
    ext = os.path.join(directory, f"{name}-ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName = IP:127.0.0.1, DNS:localhost\nbasicConstraints = CA:FALSE\n")

    def ossl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", f"/CN={name} test CA")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
         "-out", csr, "-subj", "/CN=127.0.0.1")
    ossl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
         "-days", "2", "-extfile", ext)
    return ca, cert, key


def nvr_processes_mention(text):
    hits = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read()
            if b"nvr" not in argv.split(b"\0")[0]:
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if text.encode() in argv or text.encode() in env:
            hits.append(pid)
    return hits


def test():
    port = free_port()
    with Harness("mqtt-tls", segment_seconds=10, backoff_initial_ms=300, backoff_max_ms=1500) as h:
        ca, cert, key = make_ca(h.dir, "good")
        other_ca, _, _ = make_ca(h.dir, "other")
        pwfile = os.path.join(h.dir, "mosquitto.passwd")
        open(pwfile, "w").close()
        subprocess.run(["mosquitto_passwd", "-b", pwfile, USER, PASSWORD], check=True)
        broker = Broker(h.dir, port,
                        listener_conf=f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
                                      f"allow_anonymous false\npassword_file {pwfile}\n",
                        client_args=["--cafile", ca, "-u", USER, "-P", PASSWORD],
                        addresses=("127.0.0.1", "::1"))
        daemon_pw = os.path.join(h.dir, "mqtt-password")
        with open(h.conf, "a") as f:
            f.write(f"[mqtt]\nhost = localhost\nport = {port}\nusername = {USER}\n"
                    f"password_file = {daemon_pw}\nca_file = {ca}\nkeepalive_seconds = 5\n")
        try:
            broker.start()
            h.start_fakecam(1)

            # 1. The right CA and password: the daemon joins and publishes.
            with open(daemon_pw, "w") as f:
                f.write(PASSWORD + "\n")
            h.start_daemon()
            h.nvr("cameras", "add", "cam1", "--main-url", h.cam_url(1))
            h.wait_for("hearth/available online over TLS",
                       lambda: broker.retained("hearth/available", 1).get("hearth/available")
                       == "online", 20)
            h.wait_for("cam1 status over TLS",
                       lambda: broker.retained("hearth/cam1/status", 1).get("hearth/cam1/status")
                       == "recording", 60)
            check(not nvr_processes_mention(PASSWORD), "the MQTT password in an nvr argv/env")
            log("TLS + password to 'localhost' (resolved on a thread): joined, availability and "
                "status retained")
            h.stop_daemon()
            broker.publish("hearth/available", None, retain=True)   # forget the last value

            # 2. A wrong password: refused, said once per outage, recording unaffected.
            with open(daemon_pw, "w") as f:
                f.write("not-the-password\n")
            mark = os.path.getsize(h.daemon_log)
            h.start_daemon()
            h.wait_for("cam1 recording with a wrong MQTT password",
                       lambda: h.camera_status("cam1")["state"] == "recording", 60)
            time.sleep(4)
            tail = open(h.daemon_log, errors="replace").read()[mark:]
            refusals = [l for l in tail.splitlines() if "refused the connection" in l]
            check(refusals, "no log line says the broker refused the connection")
            check(len(refusals) == 1, f"{len(refusals)} refusal lines for one outage")
            check(not broker.retained("hearth/available", 1), "published with a wrong password")
            log(f"wrong password: {refusals[0].split('WARNING **: ')[-1]}")
            h.stop_daemon()

            # 3. A CA that did not sign the broker's certificate: no connection, one log line.
            with open(daemon_pw, "w") as f:
                f.write(PASSWORD + "\n")
            conf = open(h.conf).read().replace(f"ca_file = {ca}", f"ca_file = {other_ca}")
            with open(h.conf, "w") as f:
                f.write(conf)
            mark = os.path.getsize(h.daemon_log)
            h.start_daemon()

            def warnings():
                tail = open(h.daemon_log, errors="replace").read()[mark:]
                return [l for l in tail.splitlines() if "MQTT" in l and "WARNING" in l]
            h.wait_for("a warning about the failed TLS connection", warnings, 30)
            time.sleep(2)
            tail = open(h.daemon_log, errors="replace").read()[mark:]
            check("Connected to MQTT broker" not in tail,
                  "connected with a CA that did not sign the broker's certificate")
            check(not broker.retained("hearth/available", 1), "published with an unknown CA")
            warn = warnings()
            log(f"unknown CA: {warn[0].split('WARNING **: ')[-1]}")
            h.stop_daemon()

            log_text = open(h.daemon_log, errors="replace").read()
            check(PASSWORD not in log_text, "the MQTT password appears in the daemon log")
        finally:
            broker.stop()


if __name__ == "__main__":
    run(test)
