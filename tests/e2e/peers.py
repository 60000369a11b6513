#!/usr/bin/env python3
"""Small benign peers for the end-to-end captures (standard library only).

  peers.py dns-server ADDR        answers every A/AAAA query with 10.77.0.2 (UDP 53)
  peers.py ntp-server ADDR        answers NTP client packets (UDP 123)
  peers.py ssdp-responder ADDR    a UPnP device: answers every SSDP M-SEARCH to
                                  239.255.255.250:1900 by unicast from ADDR:1900 to the searcher
  peers.py discovery SECONDS      a phone looking for cast targets for SECONDS: an SSDP M-SEARCH
                                  from a fresh port every second, one from a single socket every
                                  6 s, and an mDNS legacy-unicast question (answered by avahi)
                                  from a fresh port every 2 s; it never answers the answers
  peers.py mdns-query ADDR NAME   one mDNS question for NAME from ADDR:5353, as a phone's
                                  resolver asks (answered by multicast to the group)
  peers.py webhook-receiver ADDR PORT STATUS LOG [CERT KEY]
                                  answers each POST with STATUS (or never: `hang`), over
                                  TLS with CERT/KEY when given; each request's path,
                                  Authorization and body appended to LOG as a JSON line
  peers.py client SECONDS         a household's worth of normal traffic for SECONDS:
                                  DNS lookups of assorted names, NTP polls, web pages fetched
                                  with parallel connections, an occasional large download
"""
import random
import socket
import struct
import subprocess
import sys
import time

SERVER = "10.77.0.2"    # web server
RESOLVER = "10.77.0.3"  # DNS and NTP (10.77.0.2:53 belongs to iodined)


def dns_server(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    while True:
        q, peer = s.recvfrom(512)
        if len(q) < 12:
            continue
        end = 12
        while end < len(q) and q[end] != 0:
            end += q[end] + 1
        question = q[12:end + 5]
        answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + socket.inet_aton(SERVER)
        s.sendto(q[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + question + answer, peer)


def ntp_server(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 123))
    while True:
        q, peer = s.recvfrom(512)
        now = int(time.time()) + 2208988800
        reply = bytearray(48)
        reply[0] = 0x24  # LI 0, version 4, mode 4 (server)
        reply[1] = 2
        reply[24:32] = q[40:48]
        reply[32:40] = struct.pack("!II", now, 0)
        reply[40:48] = struct.pack("!II", now, 0)
        s.sendto(bytes(reply), peer)


def dns_query(name, qtype=1):
    q = struct.pack("!HHHHHH", random.randint(0, 65535), 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack("!HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    s.sendto(q, (RESOLVER, 53))
    try:
        s.recvfrom(512)
    except OSError:
        pass
    s.close()


def ntp_poll():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    s.sendto(b"\x23" + 47 * b"\0", (RESOLVER, 123))
    try:
        s.recvfrom(512)
    except OSError:
        pass
    s.close()


NAMES = ["www.example.com", "news.example.org", "cdn.jsdelivr.net", "fonts.gstatic.com", "www.wikipedia.org",
         "d3a4b5c6d7e8f9.cloudfront.net", "alice.github.io", "mail.example.co.uk", "api.weather.example",
         "e12345.dscx.akamaiedge.net", "update.example-os.org", "rr3---sn-4g5e6nsz.googlevideo.com"]


def client(seconds):
    random.seed(11)
    end = time.time() + seconds
    next_ntp = time.time()
    while time.time() < end:
        if time.time() >= next_ntp:
            ntp_poll()
            next_ntp = time.time() + 64
        for _ in range(random.randint(1, 3)):
            dns_query(random.choice(NAMES), random.choice([1, 28]))
        n = random.randint(1, 6)
        procs = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", f"http://{SERVER}:8080/p{random.randint(1, 20)}.html"])
                 for _ in range(n)]
        for p in procs:
            p.wait()
        if random.random() < 0.05:
            subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://{SERVER}:8080/big.bin"])
        time.sleep(random.expovariate(1 / 4.0))


SSDP_GROUP = ("239.255.255.250", 1900)
M_SEARCH = (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\n"
            b"MX: 1\r\nST: urn:dial-multiscreen-org:service:dial:1\r\n\r\n")


def ssdp_responder(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", 1900))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 socket.inet_aton(SSDP_GROUP[0]) + socket.inet_aton(addr))
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    out.bind((addr, 1900))
    while True:
        q, peer = s.recvfrom(2048)
        if q.startswith(b"M-SEARCH"):
            time.sleep(random.uniform(0.01, 0.3))
            out.sendto(b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\n"
                       b"LOCATION: http://" + addr.encode() + b":8008/ssdp/device-desc.xml\r\n"
                       b"SERVER: Linux/6.1 UPnP/1.0 nwe2e-gw/1.0\r\n"
                       b"ST: urn:dial-multiscreen-org:service:dial:1\r\nUSN: uuid:nwe2e-tv\r\n\r\n", peer)


def mdns_question(name):
    q = struct.pack(">HHHHHH", random.randrange(65536), 0, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", 1, 1)


def webhook_receiver(addr, port, status, log, cert=None, key=None):
    import http.server
    import json
    import ssl
    import threading

    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
            body = self.rfile.read(n).decode("utf-8", "replace")
            with lock, open(log, "a") as f:
                f.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"),
                                    "body": body}) + "\n")
            if status == "hang":
                time.sleep(60)
                return
            self.send_response(int(status))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer((addr, int(port)), H)
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


def mdns_query(src, name):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, 5353))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
    s.sendto(mdns_question(name), ("224.0.0.251", 5353))
    time.sleep(1)
    s.close()


def discovery(seconds, src):
    one = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    one.bind((src, 0))
    end = time.time() + seconds
    tick = 0
    socks = [one]
    while time.time() < end:
        fresh = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        fresh.bind((src, 0))
        fresh.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
        fresh.sendto(M_SEARCH, SSDP_GROUP)
        socks.append(fresh)
        if tick % 6 == 0:
            one.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
            one.sendto(M_SEARCH, SSDP_GROUP)
        if tick % 2 == 0:
            m = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            m.bind((src, 0))
            m.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
            m.sendto(mdns_question("nwe2e-tv.local"), ("224.0.0.251", 5353))
            socks.append(m)
        # Answers are read and dropped, as a phone's stack does; sockets stay open meanwhile,
        # so no port-unreachable goes back.
        time.sleep(1)
        tick += 1
    time.sleep(3)
    for x in socks:
        x.close()


def basic_auth_server(addr, port):
    """A page behind HTTP basic auth (admin / correct-horse), with twenty images."""
    import base64
    import http.server

    good = "Basic " + base64.b64encode(b"admin:correct-horse").decode()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.headers.get("Authorization") != good:
                body = b"<h1>401 Unauthorized</h1>"
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="router"')
            else:
                body = b"x" * (20000 if self.path.endswith(".jpg") else 3000)
                self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    http.server.ThreadingHTTPServer((addr, int(port)), H).serve_forever()


def browse_with_password(base):
    """A person: mistypes the password twice, then opens the page and its twenty images
    (over a few kept-alive connections, the password sent with each request)."""
    import base64
    import http.client

    host, port = base.split(":")
    auth = lambda pw: {"Authorization": "Basic " + base64.b64encode(b"admin:" + pw).decode()}
    for pw in (b"correct-hose", b"Correct-horse"):
        c = http.client.HTTPConnection(host, int(port), timeout=5)
        c.request("GET", "/", headers=auth(pw))
        assert c.getresponse().read() is not None
        c.close()
        time.sleep(2)
    conns = [http.client.HTTPConnection(host, int(port), timeout=5) for _ in range(4)]
    conns[0].request("GET", "/", headers=auth(b"correct-horse"))
    conns[0].getresponse().read()
    for i in range(20):
        c = conns[i % 4]
        c.request("GET", f"/img{i}.jpg", headers=auth(b"correct-horse"))
        c.getresponse().read()
    for c in conns:
        c.close()


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "dns-server":
        dns_server(sys.argv[2])
    elif cmd == "ntp-server":
        ntp_server(sys.argv[2])
    elif cmd == "client":
        client(float(sys.argv[2]))
    elif cmd == "ssdp-responder":
        ssdp_responder(sys.argv[2])
    elif cmd == "basic-auth-server":
        basic_auth_server(sys.argv[2], sys.argv[3])
    elif cmd == "browse-with-password":
        browse_with_password(sys.argv[2])
    elif cmd == "webhook-receiver":
        webhook_receiver(*sys.argv[2:9])
    elif cmd == "mdns-query":
        mdns_query(sys.argv[2], sys.argv[3])
    elif cmd == "discovery":
        discovery(float(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "10.77.0.1")
