#!/usr/bin/python3
"""fakeonvif — a fake ONVIF camera for Hearth's tests (python3 stdlib only; docs/design/fakecam.md
"Fake ONVIF camera"). It answers, over HTTP on 127.0.0.1:

  device service  /onvif/device_service  GetDeviceInformation, GetCapabilities (Media XAddr)
  media service   /onvif/media_service   GetProfiles (two: main and sub), GetStreamUri

SOAP 1.2, every request checked for a WS-UsernameToken PasswordDigest
(Base64(SHA1(nonce + created + password))) unless --user is not given; a wrong or missing token
gets a SOAP fault with subcode ter:NotAuthorized (HTTP 400, as cameras do). --malformed makes
every answer broken XML; --huge-profiles lists 40 profiles (over Hearth's limit of 32);
--http-basic checks HTTP Basic authentication (401 + WWW-Authenticate) instead of the
UsernameToken, as some cameras do.
--discovery also answers WS-Discovery Probes on UDP 239.255.255.250:3702 (joined on every
interface; meant for a network namespace of the test's own, never the real LAN).

Prints "READY port=N" on stdout once it listens. Stops on SIGTERM."""

import argparse
import base64
import hashlib
import http.server
import socket
import struct
import sys
import threading
import uuid
import xml.etree.ElementTree as ET

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
}

ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
            'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
            'xmlns:tt="http://www.onvif.org/ver10/schema" '
            'xmlns:ter="http://www.onvif.org/ver10/error">'
            '<env:Body>{body}</env:Body></env:Envelope>')

NOT_AUTHORIZED = (
    '<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode>'
    '<env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code>'
    '<env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason>'
    '</env:Fault>')

ACTION_NOT_SUPPORTED = (
    '<env:Fault><env:Code><env:Value>env:Receiver</env:Value><env:Subcode>'
    '<env:Value>ter:ActionNotSupported</env:Value></env:Subcode></env:Code>'
    '<env:Reason><env:Text xml:lang="en">Optional Action Not Implemented</env:Text></env:Reason>'
    '</env:Fault>')


def escape(text):
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def profile_xml(token, name, width, height, fps):
    return (f'<trt:Profiles token="{token}" fixed="true"><tt:Name>{name}</tt:Name>'
            f'<tt:VideoSourceConfiguration token="vsc"><tt:Name>vsc</tt:Name>'
            f'<tt:UseCount>2</tt:UseCount><tt:SourceToken>vs</tt:SourceToken>'
            f'<tt:Bounds x="0" y="0" width="{width}" height="{height}"/>'
            f'</tt:VideoSourceConfiguration>'
            f'<tt:VideoEncoderConfiguration token="vec_{token}"><tt:Name>vec</tt:Name>'
            f'<tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>'
            f'<tt:Resolution><tt:Width>{width}</tt:Width><tt:Height>{height}</tt:Height>'
            f'</tt:Resolution><tt:Quality>5</tt:Quality><tt:RateControl>'
            f'<tt:FrameRateLimit>{fps}</tt:FrameRateLimit><tt:EncodingInterval>1'
            f'</tt:EncodingInterval><tt:BitrateLimit>2048</tt:BitrateLimit></tt:RateControl>'
            f'<tt:H264><tt:GovLength>{fps}</tt:GovLength><tt:H264Profile>Main</tt:H264Profile>'
            f'</tt:H264><tt:SessionTimeout>PT60S</tt:SessionTimeout>'
            f'</tt:VideoEncoderConfiguration></trt:Profiles>')


class Camera:
    def __init__(self, args, password):
        self.args = args
        self.password = password
        self.port = None
        self.uuid = "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_DNS, "fakeonvif"))
        self.requests = 0

    def authorized(self, root):
        if self.args.user is None or self.args.http_basic:
            return True
        tok = root.find("s:Header/wsse:Security/wsse:UsernameToken", NS)
        if tok is None:
            return False
        user = tok.findtext("wsse:Username", default="", namespaces=NS)
        pw = tok.find("wsse:Password", NS)
        nonce = tok.findtext("wsse:Nonce", default="", namespaces=NS)
        created = tok.findtext("wsu:Created", default="", namespaces=NS)
        if pw is None or not pw.get("Type", "").endswith("#PasswordDigest"):
            return False
        try:
            raw_nonce = base64.b64decode(nonce, validate=True)
        except ValueError:
            return False
        want = base64.b64encode(hashlib.sha1(raw_nonce + created.encode() +
                                             self.password.encode()).digest()).decode()
        return user == self.args.user and (pw.text or "").strip() == want

    def answer(self, path, body):
        """(status, xml text) for one SOAP request."""
        self.requests += 1
        if self.args.malformed:
            return 200, ('<?xml version="1.0"?><env:Envelope xmlns:env="'
                         'http://www.w3.org/2003/05/soap-envelope"><env:Body>'
                         '<tds:GetDeviceInformationResponse><unclosed></env:Body>')
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return 400, ENVELOPE.format(body=ACTION_NOT_SUPPORTED)
        if not self.authorized(root):
            return 400, ENVELOPE.format(body=NOT_AUTHORIZED)
        req = root.find("s:Body", NS)
        req = req[0] if req is not None and len(req) else None
        tag = req.tag if req is not None else ""
        host = f"127.0.0.1:{self.port}"
        if path == "/onvif/device_service" and tag == f"{{{NS['tds']}}}GetDeviceInformation":
            return 200, ENVELOPE.format(body=(
                '<tds:GetDeviceInformationResponse><tds:Manufacturer>Hearth Test</tds:Manufacturer>'
                '<tds:Model>FakeCam ONVIF</tds:Model><tds:FirmwareVersion>1.2.3'
                '</tds:FirmwareVersion><tds:SerialNumber>FC0001</tds:SerialNumber>'
                '<tds:HardwareId>1</tds:HardwareId></tds:GetDeviceInformationResponse>'))
        if path == "/onvif/device_service" and tag == f"{{{NS['tds']}}}GetCapabilities":
            return 200, ENVELOPE.format(body=(
                '<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Media>'
                f'<tt:XAddr>http://{host}/onvif/media_service</tt:XAddr>'
                '<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>'
                '<tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>'
                '</tt:StreamingCapabilities></tt:Media></tds:Capabilities>'
                '</tds:GetCapabilitiesResponse>'))
        if path == "/onvif/media_service" and tag == f"{{{NS['trt']}}}GetProfiles":
            if self.args.huge_profiles:
                profs = "".join(profile_xml(f"p{i}", f"p{i}", 320, 180, 5) for i in range(40))
            else:
                profs = (profile_xml("main", "mainStream", 640, 360, 15) +
                         profile_xml("sub", "subStream", 320, 180, 15))
            return 200, ENVELOPE.format(body=f"<trt:GetProfilesResponse>{profs}"
                                             "</trt:GetProfilesResponse>")
        if path == "/onvif/media_service" and tag == f"{{{NS['trt']}}}GetStreamUri":
            token = req.findtext("trt:ProfileToken", default="", namespaces=NS)
            uri = {"main": self.args.main_url, "sub": self.args.sub_url}.get(token)
            if uri is None:
                return 400, ENVELOPE.format(body=ACTION_NOT_SUPPORTED)
            return 200, ENVELOPE.format(body=(
                f'<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{escape(uri)}</tt:Uri>'
                '<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>'
                '<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>'
                '<tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>'))
        return 400, ENVELOPE.format(body=ACTION_NOT_SUPPORTED)

    def probe_match(self, relates_to):
        return ('<?xml version="1.0" encoding="UTF-8"?>'
                '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
                'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
                'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
                'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><env:Header>'
                f'<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>'
                f'<wsa:RelatesTo>{escape(relates_to)}</wsa:RelatesTo>'
                '<wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>'
                '<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches'
                '</wsa:Action></env:Header><env:Body><d:ProbeMatches><d:ProbeMatch>'
                f'<wsa:EndpointReference><wsa:Address>{self.uuid}</wsa:Address>'
                '</wsa:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>'
                '<d:Scopes>onvif://www.onvif.org/type/video_encoder '
                'onvif://www.onvif.org/name/FakeCam onvif://www.onvif.org/hardware/FakeCam'
                '</d:Scopes>'
                f'<d:XAddrs>http://127.0.0.1:{self.port}/onvif/device_service</d:XAddrs>'
                '<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches>'
                '</env:Body></env:Envelope>')


def serve_discovery(cam):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", 3702))
    mreq = struct.pack("4s4s", socket.inet_aton("239.255.255.250"), socket.inet_aton("0.0.0.0"))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    while True:
        data, peer = s.recvfrom(65536)
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            continue
        if root.find("s:Body/d:Probe", NS) is None:
            continue
        msg_id = root.findtext("s:Header/a:MessageID", default="", namespaces=NS)
        sys.stderr.write(f"fakeonvif: probe from {peer[0]}:{peer[1]}\n")
        s.sendto(cam.probe_match(msg_id).encode(), peer)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user")
    ap.add_argument("--password-file")
    ap.add_argument("--main-url", default="rtsp://127.0.0.1:8554/cam1/main")
    ap.add_argument("--sub-url", default="rtsp://127.0.0.1:8554/cam1/sub")
    ap.add_argument("--malformed", action="store_true")
    ap.add_argument("--huge-profiles", action="store_true")
    ap.add_argument("--discovery", action="store_true")
    ap.add_argument("--http-basic", action="store_true")
    args = ap.parse_args()
    password = ""
    if args.password_file:
        with open(args.password_file) as f:
            password = f.read().rstrip("\n")
    cam = Camera(args, password)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(min(n, 1 << 20))
            if args.http_basic:
                want = "Basic " + base64.b64encode(
                    f"{args.user}:{password}".encode()).decode()
                if self.headers.get("Authorization") != want:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="onvif"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            status, text = cam.answer(self.path, body)
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *a):
            sys.stderr.write("fakeonvif: " + (fmt % a) + "\n")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    cam.port = server.server_address[1]
    if args.discovery:
        threading.Thread(target=serve_discovery, args=(cam,), daemon=True).start()
    print(f"READY port={cam.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
