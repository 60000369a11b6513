#!/usr/bin/env python3
"""Seed corpora for every fuzz target (fuzz/corpus/<target>/), from what the tests use.

* Frames: the test captures (tests/e2e/captures/*.pcap) and the demo capture with every
  attack (written by `cargo run --example demo-capture`, path given as argument), re-framed
  for each link type, plus hand-made frames the captures lack (IPv6 with extension headers,
  fragments, VLAN, PPPoE, ARP, ICMP).
* DNS and names: every DNS payload and query name in those frames.
* Config: config/netwatch.toml, openwrt/files/netwatch.config and small variants.
* HTTP, WebSocket, PATCH bodies and language-model replies: the literals of the web and
  enrichment tests.
Usage: fuzz/seed.py [DEMO.pcap]
"""
import hashlib
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")
MAX_PER_TARGET = 400


def put(target, data, limit=MAX_PER_TARGET):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if len(os.listdir(d)) >= limit:
        return
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pcap_frames(path):
    """(linktype, frame) of a classic pcap file (either byte order, µs or ns)."""
    with open(path, "rb") as f:
        b = f.read()
    if len(b) < 24:
        return []
    magic = b[:4]
    end = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(end + "I", b[20:24])[0]
    out, i = [], 24
    while i + 16 <= len(b):
        incl = struct.unpack(end + "I", b[i + 8:i + 12])[0]
        out.append((linktype, b[i + 16:i + 16 + incl]))
        i += 16 + incl
    return out


def ip_of_ethernet(f):
    """The IP packet inside an Ethernet frame (VLAN tags skipped), or None."""
    i = 12
    while i + 2 <= len(f):
        t = struct.unpack(">H", f[i:i + 2])[0]
        if t in (0x8100, 0x88A8):
            i += 4
            continue
        if t in (0x0800, 0x86DD):
            return f[i + 2:]
        return None
    return None


def reframe(ip):
    """The same IP packet under every other link type."""
    v6 = ip[:1] and ip[0] >> 4 == 6
    et = 0x86DD if v6 else 0x0800
    af_null = struct.pack("<I", 30 if v6 else 2)  # BSD loopback, host order (Linux: 10)
    af_loop = struct.pack(">I", 24 if v6 else 2)
    sll = struct.pack(">HHH8sH", 0, 1, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00", et)
    sll2 = struct.pack(">HHIHBB8s", et, 0, 2, 1, 0, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00")
    yield "frame_raw", ip
    yield "frame_ipv6" if v6 else "frame_ipv4", ip
    yield "frame_null", af_null + ip
    yield "frame_loop", af_loop + ip
    yield "frame_linux_sll", sll + ip
    yield "frame_linux_sll2", sll2 + ip


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(">%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, ident=1, frag=0):
    h = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0,
                    bytes(src), bytes(dst))
    return h[:10] + struct.pack(">H", csum(h)) + h[12:] + payload


def ipv6(src, dst, nxt, payload):
    return struct.pack(">IHBB16s16s", 6 << 28, len(payload), nxt, 64, bytes(src), bytes(dst)) + payload


def tcp(sport, dport, flags, payload=b""):
    return struct.pack(">HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0) + payload


def udp(sport, dport, payload):
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def dns_query(name, qtype=1, ident=0x1234):
    q = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    return struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", qtype, 1)


def eth(et, payload):
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01" + struct.pack(">H", et) + payload


def handmade():
    a, b = [10, 0, 0, 5], [192, 168, 1, 1]
    a6 = [0xFD, 0] + [0] * 13 + [5]
    b6 = [0xFD, 0] + [0] * 13 + [1]
    syn = tcp(40000, 22, 0x02)
    ips = [
        ipv4(a, b, 6, syn),
        ipv4(a, b, 17, udp(5353, 53, dns_query("www.example.co.uk"))),
        ipv4(a, b, 1, b"\x08\x00\xf7\xff\x00\x01\x00\x01"),
        ipv6(a6, b6, 6, syn),
        ipv6(a6, b6, 17, udp(5353, 53, dns_query("a" * 60 + ".tunnel.example.com", 16))),
        # Hop-by-hop options, then TCP.
        ipv6(a6, b6, 0, bytes([6, 0, 1, 4, 0, 0, 0, 0]) + syn),
        # IPv6 fragments of one SYN: first (offset 0, more), second (offset 8).
        ipv6(a6, b6, 44, struct.pack(">BBHI", 6, 0, 1, 7) + syn[:8]),
        ipv6(a6, b6, 44, struct.pack(">BBHI", 6, 0, 8, 7) + syn[8:]),
    ]
    # IPv4 fragments of one SYN, 8 bytes each.
    for k in range(3):
        more = 0x2000 if k < 2 else 0
        ips.append(ipv4(a, b, 6, syn[8 * k:8 * k + 8], ident=99, frag=more | k))
    for ip in ips:
        put("frame_ethernet", eth(0x86DD if ip[0] >> 4 == 6 else 0x0800, ip))
        for t, f in reframe(ip):
            put(t, f)
    # Link-layer-only variety on Ethernet: VLAN, QinQ, PPPoE session, ARP.
    put("frame_ethernet", eth(0x8100, b"\x00\x05\x08\x00" + ips[0]))
    put("frame_ethernet", eth(0x88A8, b"\x00\x05\x81\x00\x00\x06\x08\x00" + ips[0]))
    put("frame_ethernet", eth(0x8864, b"\x11\x00\x00\x01" + struct.pack(">H", len(ips[0]) + 2)
                              + b"\x00\x21" + ips[0]))
    put("frame_ethernet", eth(0x0806, b"\x00\x01\x08\x00\x06\x04\x00\x01" + b"\x02" * 6
                              + bytes(a) + b"\0" * 6 + bytes(b)))


def configs():
    for p in ("config/netwatch.toml",):
        with open(os.path.join(ROOT, p), "rb") as f:
            text = f.read()
        put("config_toml", text)
        # Every section on its own: smaller inputs the fuzzer mutates faster.
        for part in text.split(b"\n["):
            put("config_toml", b"[" + part if not part.startswith(b"#") else part)
    for s in (b"profile = \"pi\"\n", b"[rules.beacon]\nmax_chance = 1e-9\nmax_jitter = 0.5\n",
              b"[web]\nlisten = [\"127.0.0.1:8787\"]\ntoken = \"off\"\n",
              b"home_net = [\"10.0.0.0/8\", \"fd00::/8\"]\n[[allow]]\nsrc = [\"10.0.0.2\"]\nports = [22]\n"):
        put("config_toml", s)
    with open(os.path.join(ROOT, "openwrt/files/netwatch.config"), "rb") as f:
        uci = f.read()
    put("config_uci", uci)
    put("config_uci", b"config netwatch 'main'\n\toption profile 'router'\n\tlist interface 'br-lan'\n")
    put("config_uci", b"config rules 'scan'\n\toption vertical_ports '12'\nconfig rules 'beacon'\n\toption max_chance '1e-9'\n")
    for j in (b'{"rules":{"scan":{"vertical_ports":30}}}', b'{"home_net":["10.0.0.0/8"]}',
              b'{"rules":{"beacon":{"max_jitter":0.5,"max_chance":1e-9}},"enrich":{"enabled":false}}',
              b'{"a":[1,2.5e3,"\\u00e9",true,null,{}]}'):
        put("config_patch", j)


def web():
    t = b"fuzz-token-0123456789abcdef"
    auth = b"Authorization: Bearer " + t + b"\r\n"
    for path in (b"/api/alerts?limit=5&rule=portscan.vertical&src=10.0.0.1&severity=2",
                 b"/api/alerts?since=0&until=9999999999&cursor=3", b"/api/alerts/2",
                 b"/api/stats", b"/api/flows?order=packets", b"/api/history?res=60",
                 b"/api/config", b"/metrics", b"/healthz", b"/", b"/assets/index.js",
                 b"/api/alerts?src=%31%30.0.0.1&dst=+x"):
        put("http_request", b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + b"\r\n")
    put("http_request", b"GET /api/stats HTTP/1.1\r\nHost: x\r\n\r\n")
    put("http_request", b"OPTIONS /api/config HTTP/1.1\r\nOrigin: http://x\r\n" + auth + b"\r\n")
    body = b'{"rules":{"scan":{"vertical_ports":30}}}'
    put("http_request", b"PATCH /api/config HTTP/1.1\r\nContent-Type: application/json\r\n" + auth
        + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    put("http_request", b"GET /ws/alerts HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Protocol: netwatch, token." + t + b"\r\nOrigin: http://h\r\n\r\n")
    mask = b"\x01\x02\x03\x04"
    def frame(op, payload, fin=True):
        m = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        return bytes([(0x80 if fin else 0) | op, 0x80 | len(payload)]) + mask + m
    put("ws_frames", frame(9, b"ping"))
    put("ws_frames", frame(10, b"") + frame(1, b"hello"))
    put("ws_frames", frame(1, b"he", fin=False) + frame(0, b"llo"))
    put("ws_frames", frame(8, b"\x03\xe8bye"))
    put("ws_frames", b"\x81\xfe\x01\x00" + mask + b"x" * 256)
    ok = b'{"choices":[{"message":{"role":"assistant","content":"A port scan from 10.0.0.5."}}]}'
    put("llm_reply", b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(ok)).encode() + b"\r\n\r\n" + ok)
    put("llm_reply", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
        % (len(ok), ok))
    put("llm_reply", b"HTTP/1.1 200 OK\r\n\r\n" + ok)
    # MQTT from a broker: version byte, then CONNACK, PUBACKs, PINGRESP, a v5 DISCONNECT.
    put("mqtt_packet", b"\x08\x20\x02\x00\x00\x40\x02\x00\x01\xd0\x00")
    put("mqtt_packet", b"\x03\x20\x05\x00\x86\x02\x1f\x00\x40\x03\x00\x09\x97\xe0\x01\x8e")
    put("mqtt_packet", b"\x40\x30\x80\x01" + b"x" * 128)
    put("llm_reply", b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops!")
    put("llm_reply", b"HTTP/1.1 200 OK\r\nContent-Length: 24\r\n\r\n{\"choices\": [ { \"mess")


def names_of(payload):
    """Query name of a DNS message, dotted, lower case."""
    i, labels = 12, []
    while i < len(payload):
        n = payload[i]
        if n == 0 or n >= 64:
            break
        labels.append(payload[i + 1:i + 1 + n].lower())
        i += 1 + n
    return b".".join(labels)


def to_pcapng(b, big=False):
    """A classic little-endian µs pcap file as pcapng (one interface), in either byte order."""
    e = ">" if big else "<"
    def block(ty, body):
        body += b"\0" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack(e + "II", ty, n) + body + struct.pack(e + "I", n)
    out = block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    lt, snap = struct.unpack("<I", b[20:24])[0], struct.unpack("<I", b[16:20])[0]
    out += block(1, struct.pack(e + "HHI", lt, 0, snap))
    i = 24
    while i + 16 <= len(b):
        sec, usec, incl, orig = struct.unpack("<IIII", b[i:i + 16])
        t = sec * 1000000 + usec
        out += block(6, struct.pack(e + "IIIII", 0, t >> 32, t & 0xFFFFFFFF, incl, orig) + b[i + 16:i + 16 + incl])
        i += 16 + incl
    return out


def capture_files(caps):
    """capture_file: the heads of the test captures (whole records), as pcap and pcapng."""
    for c in caps:
        with open(c, "rb") as f:
            b = f.read(1 << 16)
        if len(b) < 24 or b[:4] != b"\xd4\xc3\xb2\xa1":
            continue
        i, n = 24, 0
        while i + 16 <= len(b) and n < 12:
            incl = struct.unpack("<I", b[i + 8:i + 12])[0]
            if i + 16 + incl > len(b) or i + 16 + incl > 3000:
                break
            i += 16 + incl
            n += 1
        head = b[:i]
        put("capture_file", head)
        put("capture_file", to_pcapng(head))
        put("capture_file", to_pcapng(head, big=True))
        put("capture_file", head[:len(head) - 5])


def devices():
    """DHCP, DHCPv6, mDNS, SSDP and NetBIOS messages as the device inventory reads them."""
    mac = bytes([0x3C, 0x22, 0xFB, 1, 2, 3])

    def dhcp(op, opts):
        fixed = bytes([op, 1, 6, 0]) + bytes(12) + bytes([192, 168, 1, 50]) + bytes(8) + mac + bytes(10)
        return fixed + bytes(192) + bytes([99, 130, 83, 99]) + opts + b"\xff"

    def opt(code, value):
        return bytes([code, len(value)]) + value

    put("dhcp", dhcp(1, opt(53, b"\x03") + opt(12, b"Pixel-7") + opt(60, b"android-dhcp-14")
                     + opt(55, bytes([1, 3, 6, 15, 26, 28, 51, 58, 59, 43]))))
    put("dhcp", dhcp(2, opt(53, b"\x05") + opt(54, bytes([192, 168, 1, 1]))))
    put("dhcp", dhcp(1, opt(81, b"\x05\x00\x00\x06laptop\x03lan\x00") + b"\x00\x00"))

    def opt6(code, value):
        return struct.pack(">HH", code, len(value)) + value

    duid = opt6(1, b"\x00\x01\x00\x01\x2c\x11\x22\x33" + mac)
    put("dhcpv6", b"\x01\xab\xcd\xef" + duid + opt6(16, b"\x00\x00\x01\x37\x00\x08MSFT 5.0")
        + opt6(39, b"\x01\x07desktop\x04home\x00"))
    put("dhcpv6", b"\x0b\x00\x00\x01" + opt6(1, b"\x00\x03\x00\x01" + mac) + opt6(39, b"\x00\x05phone"))

    def name(n):
        return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".")) + b"\x00"

    def rr(owner, ty, rdata):
        return owner + struct.pack(">HHIH", ty, 0x8001, 4500, len(rdata)) + rdata

    recs = [
        rr(name("_googlecast._tcp.local"), 12, name("TV._googlecast._tcp.local")),
        rr(name("TV._googlecast._tcp.local"), 33, bytes(4) + b"\x1f\x49" + name("tv.local")),
        rr(name("tv.local"), 1, bytes([192, 168, 1, 50])),
        rr(b"\xc0\x0c", 28, bytes(16)),
    ]
    put("mdns", struct.pack(">HHHHHH", 0, 0x8400, 0, len(recs), 0, 0) + b"".join(recs))
    put("ssdp", b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: urn:dial-multiscreen-org:service:dial:1\r\n"
                b"NTS: ssdp:alive\r\nSERVER: Roku/12.0.0 UPnP/1.0 Roku/12.0.0\r\n\r\n")
    put("ssdp", b"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nSERVER: OpenWRT/OpenWrt UPnP/1.1 MiniUPnPd/2.3.3\r\n\r\n")
    raw = b"DESKTOP-7Q2    \x00"
    enc = bytes([32]) + bytes(b for c in raw for b in (0x41 + (c >> 4), 0x41 + (c & 15))) + b"\x00"
    put("netbios", bytes([0x12, 0x34, 0x29, 0x10, 0, 1, 0, 0, 0, 0, 0, 1]) + enc + bytes([0, 0x20, 0, 1]))


def main():
    caps = [os.path.join(ROOT, "tests/e2e/captures", f)
            for f in sorted(os.listdir(os.path.join(ROOT, "tests/e2e/captures")))]
    caps += sys.argv[1:]
    seen = set()
    for c in caps:
        for lt, f in pcap_frames(c):
            if lt != 1:
                continue
            key = (len(f), f[12:14], f[23:24] if len(f) > 23 else b"", f[34:38] if len(f) > 38 else b"")
            ip = ip_of_ethernet(f)
            if ip and len(ip) > 28 and ip[0] >> 4 == 4 and ip[9] == 17:
                ihl = (ip[0] & 15) * 4
                sport, dport = struct.unpack(">HH", ip[ihl:ihl + 4])
                if 53 in (sport, dport):
                    msg = ip[ihl + 8:]
                    put("dns", msg)
                    name = names_of(msg)
                    if name:
                        put("psl", name)
            if key in seen:
                continue
            seen.add(key)
            put("frame_ethernet", f)
            if ip:
                for t, g in reframe(ip):
                    put(t, g, limit=150)
    capture_files(caps)
    handmade()
    for n in (b"www.example.co.uk", b"a.b.c.kawasaki.jp", b"foo.blogspot.com", b"localhost",
              b"x.city.kawasaki.jp", b"com", b"", b"..", b"a" * 63 + b".com"):
        put("psl", n)
    devices()
    configs()
    web()
    for t in sorted(os.listdir(OUT)):
        print(f"seed: {t}: {len(os.listdir(os.path.join(OUT, t)))} inputs")


if __name__ == "__main__":
    main()
