#!/usr/bin/env python3
"""Small benign peers for the end-to-end captures (standard library only).

  peers.py dns-server ADDR        answers every A/AAAA query with 10.77.0.2 (UDP 53)
  peers.py ntp-server ADDR        answers NTP client packets (UDP 123)
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


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "dns-server":
        dns_server(sys.argv[2])
    elif cmd == "ntp-server":
        ntp_server(sys.argv[2])
    elif cmd == "client":
        client(float(sys.argv[2]))
