#!/usr/bin/env python3
"""Build src/state/oui.bin, NetWatch's embedded table of device makers by MAC prefix.

usage: python3 src/state/oui_gen.py /usr/share/ieee-data/oui.csv src/state/oui.bin

The input is the IEEE registry's MA-L assignments as Debian's `ieee-data` package ships them
(oui.csv: Registry,Assignment,Organization Name,Organization Address). Only the makers in
VENDORS below are kept, under a short name: the brands a home's phones, computers, TVs,
speakers, consoles, printers, cameras, smart-home devices and routers carry. Everything else
(chip and module makers, industrial and enterprise vendors) is left out to keep the table small
on a router; where the full registry is installed (Debian, Raspberry Pi OS) NetWatch reads it
at run time for the rest.

Layout: b"OUI1", u8 vendor count, the vendor names (u8 length, bytes), u32 LE entry count,
then the entries sorted by prefix: 3 prefix bytes and a u8 vendor index each.
"""
import csv
import re
import struct
import sys

# Short name, and a regular expression the registry's organization name must match (case
# insensitive, from its start).
VENDORS = [
    ("Apple", r"apple,? inc"),
    ("Samsung", r"samsung electronics"),
    ("Google", r"google,? inc|google llc"),
    ("Amazon", r"amazon technologies|amazon\.com"),
    ("Microsoft", r"microsoft"),
    ("Sony", r"sony (interactive|corporation|mobile|home)"),
    ("Nintendo", r"nintendo"),
    ("LG", r"lg electronics|lg innotek"),
    ("Roku", r"roku"),
    ("Sonos", r"sonos"),
    ("Bose", r"bose corporation"),
    ("Xiaomi", r"xiaomi|beijing xiaomi"),
    ("Huawei", r"huawei"),
    ("OnePlus", r"oneplus"),
    ("OPPO", r"guangdong oppo"),
    ("vivo", r"vivo mobile"),
    ("Motorola", r"motorola mobility"),
    ("Nokia", r"nokia"),
    ("Lenovo", r"lenovo"),
    ("Dell", r"dell inc"),
    ("HP", r"hewlett packard|hp inc"),
    ("ASUS", r"asustek"),
    ("Acer", r"acer "),
    ("Intel", r"intel corporate"),
    ("Raspberry Pi", r"raspberry pi"),
    ("Espressif", r"espressif"),
    ("Tuya", r"tuya"),
    ("Philips Hue", r"philips lighting|signify"),
    ("Ring", r"ring llc"),
    ("Nest", r"nest labs"),
    ("Ecobee", r"ecobee"),
    ("Wyze", r"wyze"),
    ("Hikvision", r"hangzhou hikvision"),
    ("Dahua", r"zhejiang dahua"),
    ("Reolink", r"reolink"),
    ("Arlo", r"arlo"),
    ("Brother", r"brother industries"),
    ("Epson", r"seiko epson"),
    ("Canon", r"canon inc"),
    ("TP-Link", r"tp-link"),
    ("Netgear", r"netgear"),
    ("AVM", r"avm audiovisuelles|avm gmbh"),
    ("Ubiquiti", r"ubiquiti"),
    ("Linksys", r"linksys|belkin"),
    ("D-Link", r"d-link"),
    ("MikroTik", r"routerboard|mikrotik"),
    ("Synology", r"synology"),
    ("QNAP", r"qnap"),
    ("Western Digital", r"western digital"),
    ("Nvidia", r"nvidia"),
    ("Valve", r"valve corporation"),
    ("Garmin", r"garmin"),
    ("Fitbit", r"fitbit"),
    ("Withings", r"withings"),
    ("Vizio", r"vizio"),
    ("TCL", r"tcl king|tcl technology"),
    ("Hisense", r"hisense"),
    ("Panasonic", r"panasonic"),
    ("Sharp", r"sharp corporation"),
    ("Tesla", r"tesla"),
    ("iRobot", r"irobot"),
]


def main():
    src, out = sys.argv[1], sys.argv[2]
    pats = [(name, re.compile(p, re.I)) for name, p in VENDORS]
    entries = {}
    with open(src, newline="", encoding="utf-8", errors="replace") as f:
        for row in csv.reader(f):
            if len(row) < 3 or row[0] != "MA-L" or not re.fullmatch(r"[0-9A-Fa-f]{6}", row[1]):
                continue
            org = row[2].strip()
            for i, (_, p) in enumerate(pats):
                if p.match(org):
                    entries[bytes.fromhex(row[1])] = i
                    break
    blob = bytearray(b"OUI1")
    blob.append(len(VENDORS))
    for name, _ in VENDORS:
        b = name.encode()
        blob.append(len(b))
        blob += b
    blob += struct.pack("<I", len(entries))
    for prefix in sorted(entries):
        blob += prefix + bytes([entries[prefix]])
    with open(out, "wb") as f:
        f.write(blob)
    counts = {}
    for i in entries.values():
        counts[VENDORS[i][0]] = counts.get(VENDORS[i][0], 0) + 1
    missing = [n for n, _ in VENDORS if n not in counts]
    print(f"oui: {len(entries)} prefixes of {len(VENDORS)} vendors, {len(blob)} bytes"
          + (f"; no prefix for {', '.join(missing)}" if missing else ""))


if __name__ == "__main__":
    main()
