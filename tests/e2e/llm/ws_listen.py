#!/usr/bin/env python3
"""Listen on a NetWatch WebSocket and append each text message to a file, one per line.

usage: ws_listen.py HOST PORT PATH TOKEN SECONDS OUT
A minimal RFC 6455 client (standard library only): handshake with the bearer token, unmasked
server frames read until SECONDS have passed; pings are answered.
"""
import base64
import os
import socket
import struct
import sys
import time


def frame(opcode, payload):
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    else:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def main(host, port, path, token, seconds, out):
    s = socket.create_connection((host, int(port)), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Authorization: Bearer {token}\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, buf = buf.split(b"\r\n\r\n", 1)
    if b" 101 " not in head.split(b"\r\n")[0]:
        sys.exit(f"handshake refused: {head[:200]!r}")
    deadline = time.time() + float(seconds)
    with open(out, "a") as f:
        while time.time() < deadline:
            while len(buf) < 2 or len(buf) < need(buf):
                s.settimeout(max(0.1, deadline - time.time()))
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    if time.time() >= deadline:
                        return
                    continue
                if not chunk:
                    return
                buf += chunk
            n, start = length(buf)
            op, payload, buf = buf[0] & 0x0F, buf[start:start + n], buf[start + n:]
            if op == 1:
                f.write(payload.decode() + "\n")
                f.flush()
            elif op == 9:
                s.sendall(frame(10, payload))
            elif op == 8:
                return


def length(b):
    n = b[1] & 0x7F
    if n == 126:
        return struct.unpack(">H", b[2:4])[0], 4
    if n == 127:
        return struct.unpack(">Q", b[2:10])[0], 10
    return n, 2


def need(b):
    if len(b) < 2:
        return 2
    n = b[1] & 0x7F
    if (n == 126 and len(b) < 4) or (n == 127 and len(b) < 10):
        return len(b) + 1
    n, start = length(b)
    return start + n


if __name__ == "__main__":
    main(*sys.argv[1:7])
