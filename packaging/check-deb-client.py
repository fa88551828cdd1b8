#!/usr/bin/python3
"""A browser's part in packaging/check-deb-upgrade.sh, over TLS to the installed web front
(lighttpd on 127.0.0.1, the certificate checked for the name "localhost"): pair with a code
(Ed25519, python3-nacl, the signature bound to the origin), log in again with the same key, and
fetch a recorded segment through the front (X-Sendfile). The key and the session cookie are kept
in a JSON state file between calls. Prints one JSON line per call; exit 1 with a reason.
  check-deb-client.py pair  --state F --cafile CERT --port P --code CODE
  check-deb-client.py fetch --state F --cafile CERT --port P [--segment ID] [--login]"""

import argparse
import base64
import hashlib
import http.client
import json
import socket
import ssl
import sys
import time

import nacl.signing

COOKIE = "__Host-hearth"


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fail(msg):
    print(f"check-deb-client: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


class Front:
    def __init__(self, args, state):
        self.args, self.state = args, state
        self.origin = "https://localhost" if args.port == 443 else f"https://localhost:{args.port}"

    def request(self, method, path, body=None):
        ctx = ssl.create_default_context(cafile=self.args.cafile)
        ctx.check_hostname = True
        conn = http.client.HTTPSConnection("localhost", self.args.port, context=ctx, timeout=30)
        conn.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.args.port), 30),
                                    server_hostname="localhost")
        h = {}
        if method != "GET":
            h = {"Origin": self.origin, "Sec-Fetch-Site": "same-origin",
                 "Content-Type": "application/json"}
        if self.state.get("token"):
            h["Cookie"] = f"{COOKIE}={self.state['token']}"
        conn.request(method, "/api/v1/" + path, body=json.dumps(body).encode() if body else None,
                     headers=h)
        r = conn.getresponse()
        data = r.read()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie" and v.startswith(COOKIE + "="):
                self.state["token"] = v.split(";", 1)[0].split("=", 1)[1] or None
        conn.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def key(self):
        return nacl.signing.SigningKey(base64.b64decode(self.state["seed"]))

    def pair(self, code):
        key = nacl.signing.SigningKey.generate()
        self.state["seed"] = base64.b64encode(bytes(key)).decode()
        pk = self.state["public_key"] = b64u(bytes(key.verify_key))
        st, _, data = self.request("POST", "pair/begin", {"code": code})
        if st != 200:
            fail(f"pair/begin: {st} {data[:200]!r}")
        nonce = json.loads(data)["nonce"]
        norm = code.replace("-", "").upper()
        sig = key.sign(f"hearth-pair-v1\n{self.origin}\n{norm}\n{nonce}\n{pk}".encode()).signature
        st, _, data = self.request("POST", "pair/finish", {"code": code, "nonce": nonce,
                                                          "public_key": pk, "signature": b64u(sig)})
        if st != 200 or not self.state.get("token"):
            fail(f"pair/finish: {st} {data[:200]!r}")

    def login(self):
        self.state["token"] = None
        pk = self.state["public_key"]
        st, _, data = self.request("POST", "login/begin", {"public_key": pk})
        if st != 200:
            fail(f"login/begin: {st} {data[:200]!r}")
        nonce = json.loads(data)["nonce"]
        sig = self.key().sign(f"hearth-login-v1\n{self.origin}\n{nonce}\n{pk}".encode()).signature
        st, _, data = self.request("POST", "login/finish", {"public_key": pk, "nonce": nonce,
                                                           "signature": b64u(sig)})
        if st != 200:
            fail(f"login/finish: {st} {data[:200]!r}")

    def fetch(self, segment_id):
        st, _, data = self.request("GET", "me")
        if st != 200:
            fail(f"me: {st} {data[:200]!r}")
        st, _, data = self.request("GET", "cameras")
        if st != 200 or not json.loads(data)["cameras"]:
            fail(f"cameras: {st} {data[:200]!r}")
        cam = json.loads(data)["cameras"][0]["id"]
        now_us = int(time.time() * 1e6)
        st, _, data = self.request("GET", f"cameras/{cam}/segments?from_us={now_us - 86400 * 10**6}"
                                          f"&to_us={now_us + 60 * 10**6}")
        if st != 200:
            fail(f"segments: {st} {data[:200]!r}")
        segs = [s for s in json.loads(data)["segments"] if not s["recording"]]
        if segment_id is not None:
            segs = [s for s in segs if s["id"] == segment_id]
        if not segs:
            fail(f"no complete segment (id {segment_id}) listed: {data[:300]!r}")
        seg = segs[0]
        st, headers, body = self.request("GET", f"cameras/{cam}/segments/{seg['id']}/media")
        if st != 200 or len(body) != seg["bytes"] or body[4:8] != b"ftyp":
            fail(f"media of segment {seg['id']}: {st}, {len(body)} bytes (listed {seg['bytes']}), "
                 f"starts {body[:8]!r}")
        return {"segment": seg["id"], "bytes": len(body),
                "sha256": hashlib.sha256(body).hexdigest(), "segments": len(segs)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["pair", "fetch"])
    p.add_argument("--state", required=True)
    p.add_argument("--cafile", required=True)
    p.add_argument("--port", type=int, default=443)
    p.add_argument("--code")
    p.add_argument("--segment", type=int)
    p.add_argument("--login", action="store_true")
    args = p.parse_args()
    try:
        state = json.load(open(args.state))
    except FileNotFoundError:
        state = {}
    front = Front(args, state)
    if args.command == "pair":
        front.pair(args.code)
        out = {"paired": True}
    else:
        if args.login:
            front.login()
        out = front.fetch(args.segment)
    json.dump(state, open(args.state, "w"))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
