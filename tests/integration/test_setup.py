#!/usr/bin/python3
"""First start of an appliance (docs/design/packaging.md "First start"), in a network and UTS
namespace of its own, so that the host name and the addresses are known: host "hearthbox",
one LAN address 10.77.0.1 on a veth interface. [web] origin = auto gives exactly
https://hearthbox.local, https://hearthbox, https://localhost and https://10.77.0.1 (port
18443); `nvr web-front` names the same hosts and the web front's start step
(packaging/hearth-web-start.sh) makes a certificate for them, which lighttpd serves and a client
verifies by each name; `nvr setup` prints those addresses, that certificate's fingerprint and an
admin code, with which a browser at a non-primary origin pairs (its signature binds that
origin); a foreign origin is refused. Then the box gets a second address: the next start of the
front makes the certificate again with the same key for old and new names, and the restarted
daemon accepts the new origin. Last, a host name that is not a DNS label (my_box): the box is
served as localhost and by its addresses, with a warning, and the daemon still starts. Needs root (namespaces); exits 77 (skipped) otherwise."""

import os
import re
import socket
import ssl
import subprocess
import sys
import http.client
import json

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import NVR, Harness, check, log, run  # noqa: E402

SRC = os.path.join(HERE, "..", "..")
PORT = 18443
HOST = "hearthbox"


def reexec_in_namespaces():
    if os.environ.get("HEARTH_SETUP_NS") == "1":
        return
    if os.geteuid() != 0:
        print("SKIP: needs root for a network and UTS namespace", file=sys.stderr)
        sys.exit(77)
    env = dict(os.environ, HEARTH_SETUP_NS="1")
    r = subprocess.run(["unshare", "--net", "--uts", "--", sys.executable, *sys.argv], env=env)
    sys.exit(r.returncode)


def sh(*cmd):
    subprocess.run(cmd, check=True)


def fingerprint(cert):
    out = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1]


def sans(cert):
    out = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-ext", "subjectAltName"],
                         capture_output=True, text=True, check=True).stdout
    return {s.strip().replace("IP Address:", "IP:") for s in out.splitlines()[1].split(",")}


def public_key(cert):
    return subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"],
                          capture_output=True, text=True, check=True).stdout


def front_start(h, tls, out):
    r = subprocess.run([os.path.join(SRC, "packaging", "hearth-web-start.sh"), "--nvr", NVR,
                        "--config", h.conf, "--tls-dir", tls, "--out", out,
                        "--web-dir", os.path.join(SRC, "web")], capture_output=True, text=True)
    check(r.returncode == 0, f"hearth-web-start.sh failed: {r.stderr}")
    log(r.stderr.strip())


def can_connect(address, port):
    try:
        socket.create_connection((address, port), 2).close()
        return True
    except OSError:
        return False


def https_get(name, address, cafile):
    """GET / over TLS at @address, verifying the certificate for the name @name (SNI and the
    hostname check use @name, as a browser that resolved it to @address would)."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = True
    conn = http.client.HTTPSConnection(address, PORT, context=ctx, timeout=10)
    conn.sock = ctx.wrap_socket(socket.create_connection((address, PORT), 10),
                                server_hostname=name)
    conn.request("GET", "/")
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status


def test():
    reexec_in_namespaces()
    sh("hostname", HOST)
    sh("ip", "link", "set", "lo", "up")
    # a veth pair (the dummy module may be missing); only lan0 has an address
    sh("ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan1")
    sh("ip", "addr", "add", "10.77.0.1/24", "dev", "lan0")
    sh("ip", "link", "set", "lan0", "up")
    sh("ip", "link", "set", "lan1", "up")
    from test_api import Client  # the API client with its Ed25519 key (python3-nacl)

    with Harness("setup") as h:
        web_sock = os.path.join(h.dir, "http.sock")
        tls = os.path.join(h.dir, "tls")
        cert = os.path.join(tls, "cert.pem")
        conf_out = os.path.join(h.dir, "lighttpd.conf")
        with open(h.conf, "a") as f:
            f.write(f"[web]\nsocket = {web_sock}\norigin = auto\nlisten_port = {PORT}\n"
                    f"certificate = {cert}\n")

        # ---- what the front is told, and the certificate it makes ----
        out = h.nvr("web-front")[1].splitlines()
        want = ["address=0.0.0.0", f"port={PORT}", f"socket={web_sock}", f"storage_root={h.root}",
                f"host={HOST}.local", f"host={HOST}", "host=localhost", "host=10.77.0.1"]
        check(out == want, f"nvr web-front said {out}, expected {want}")
        front_start(h, tls, conf_out)
        check(sans(cert) == {f"DNS:{HOST}.local", f"DNS:{HOST}", "DNS:localhost", "IP:10.77.0.1"},
              f"certificate names {sans(cert)}")
        check(oct(os.stat(os.path.join(tls, "key.pem")).st_mode & 0o777) == "0o600", "key mode")
        fp1, pk1 = fingerprint(cert), public_key(cert)
        front_start(h, tls, conf_out)
        check(fingerprint(cert) == fp1, "the certificate was made again with nothing missing")

        # ---- lighttpd serves it; each name verifies ----
        lighttpd = subprocess.Popen(["lighttpd", "-D", "-f", conf_out], start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        h.procs.append(lighttpd)
        h.wait_for("lighttpd", lambda: can_connect("10.77.0.1", PORT), 20)
        for name in (f"{HOST}.local", HOST, "localhost", "10.77.0.1"):
            check(https_get(name, "10.77.0.1", cert) == 200, f"GET / as {name}")
        try:
            https_get("other.local", "10.77.0.1", cert)
            check(False, "a name not in the certificate verified")
        except ssl.SSLCertVerificationError:
            pass

        # ---- the daemon derives the same origins; nvr setup ----
        h.start_daemon()
        origins = [f"https://{HOST}.local:{PORT}", f"https://{HOST}:{PORT}",
                   f"https://localhost:{PORT}", f"https://10.77.0.1:{PORT}"]
        with open(h.daemon_log) as f:
            check(f"[web] origin = auto: {' '.join(origins)}" in f.read(), "daemon's origins")
        rc, text, err = h.nvr("setup")
        log(text)
        for o in origins:
            check(f"  {o}/\n" in text, f"setup does not list {o}")
        check(fp1 in text, "setup does not print the certificate's fingerprint")
        m = re.search(r"Admin pairing code '([^']+)'.*\n\n  (\S+)\n", text)
        check(m is not None, "no admin code in setup's output")
        code = m.group(2)
        check(f"{origins[0]}/pair.html#code={code}" in text, "no pairing URL at the primary origin")
        check(f"{origins[3]}/pair.html#code={code}" in text, "no pairing URL at the address")
        check("\u2588" in text, "no QR code")

        # ---- a browser at the address (not the primary origin) pairs and is an admin ----
        phone = Client(web_sock, origins[3], "phone")
        phone.pair(code)
        me = phone.get("me").json()
        check(me["device"].get("admin") is True, f"setup's device is not an admin: {me}")
        check(phone.login().status == 200, "login at the origin it paired at")
        # the signature binds the origin: signed for .local, sent from the address: refused
        relay = Client(web_sock, origins[3], "relay")
        relay.key, relay.public_key = phone.key, phone.public_key
        relay.origin = origins[0]
        r = relay.post("login/begin", {"public_key": phone.public_key},
                       headers={"Origin": origins[3]})
        nonce = r.json()["nonce"]
        from test_api import b64u
        sig = phone.key.sign(f"hearth-login-v1\n{origins[0]}\n{nonce}\n{phone.public_key}".encode())
        r = relay.post("login/finish", {"public_key": phone.public_key, "nonce": nonce,
                                        "signature": b64u(sig.signature)},
                       headers={"Origin": origins[3]})
        check(r.status == 401, f"a login signed for another origin: {r!r}")
        for bad in ("https://10.77.0.2:18443", "https://evil.example", f"https://{HOST}.local",
                    f"https://10.77.0.1:{PORT}/"):
            r = phone.post("login/begin", {"public_key": phone.public_key},
                           headers={"Origin": bad})
            check(r.status == 403, f"Origin {bad}: {r!r}")

        # ---- the box gets another address ----
        sh("ip", "addr", "add", "10.77.0.2/24", "dev", "lan0")
        front_start(h, tls, conf_out)
        check(fingerprint(cert) != fp1, "the certificate was not made again for a new address")
        check(public_key(cert) == pk1, "the key changed")
        check(sans(cert) >= {f"DNS:{HOST}.local", f"DNS:{HOST}", "DNS:localhost", "IP:10.77.0.1",
                             "IP:10.77.0.2"}, f"certificate names {sans(cert)}")
        r = phone.post("login/begin", {"public_key": phone.public_key},
                       headers={"Origin": f"https://10.77.0.2:{PORT}"})
        check(r.status == 403, "the running daemon took a new origin before its restart")
        check(h.stop_daemon() == 0, "daemon stop")
        h.start_daemon()
        r = phone.post("login/begin", {"public_key": phone.public_key},
                       headers={"Origin": f"https://10.77.0.2:{PORT}"})
        check(r.status == 200, f"the restarted daemon refuses the new address's origin: {r!r}")
        check(phone.login().status == 200, "the paired device logs in again after the restart")
        rc, text, _ = h.nvr("setup")
        check(fingerprint(cert) in text and f"https://10.77.0.2:{PORT}/" in text,
              "setup after the change")

        # ---- a host name that is not a DNS label: served as localhost and by address only ----
        socket.sethostname("my_box")   # the hostname tool refuses it; the kernel does not
        rc, out, err = h.nvr("web-front")
        hosts = [l for l in out.splitlines() if l.startswith("host=")]
        check(hosts == ["host=localhost", "host=10.77.0.1", "host=10.77.0.2"],
              f"web-front with host name my_box: {hosts}")
        check("not one DNS label" in err, f"no warning about the host name: {err!r}")
        check(h.stop_daemon() == 0, "daemon stop")
        h.start_daemon()
        r = phone.post("login/begin", {"public_key": phone.public_key},
                       headers={"Origin": f"https://10.77.0.1:{PORT}"})
        check(r.status == 200, f"the daemon with host name my_box refuses its address: {r!r}")
        r = phone.post("login/begin", {"public_key": phone.public_key},
                       headers={"Origin": f"https://{HOST}.local:{PORT}"})
        check(r.status == 403, f"the old host name's origin is still accepted: {r!r}")
    log("OK")


if __name__ == "__main__":
    run(test)
