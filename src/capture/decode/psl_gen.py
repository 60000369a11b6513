#!/usr/bin/env python3
"""Build src/capture/decode/psl.bin, NetWatch's compact embedded Public Suffix List.

usage: python3 src/capture/decode/psl_gen.py public_suffix_list.dat src/capture/decode/psl.bin

The input is the list as published (https://publicsuffix.org/list/public_suffix_list.dat;
PyPI's `publicsuffixlist` package ships a copy). Rules are turned into lookup keys:
  * labels reversed and joined by '.', IDN labels in punycode, lower case ("co.uk" -> "uk.co");
  * a wildcard keeps its '*' ("*.ck" -> "ck.*"); an exception gets a trailing '!'
    ("!www.ck" -> "ck.www!");
  * single-label rules are dropped: the PSL's implicit "*" rule already makes every TLD a
    public suffix, so they add nothing to the answer.
Keys are sorted bytewise and front-coded in blocks of 16 (each entry: shared-prefix length,
suffix length, suffix bytes; the first entry of a block is stored whole), so the blob is about
half the size of the rule text and a lookup is a binary search over block heads plus a short
scan.

Layout: b"PSL1", u32 LE block count, u32 LE offset of each block (from the data start), data.
"""
import struct
import sys

BLOCK = 16


def key_of(rule):
    exc = rule.startswith("!")
    if exc:
        rule = rule[1:]
    labels = []
    for lab in rule.split("."):
        if any(ord(c) > 127 for c in lab):
            lab = lab.encode("idna").decode("ascii")
        labels.append(lab.lower())
    if len(labels) == 1 and not exc:
        return None
    return ".".join(reversed(labels)) + ("!" if exc else "")


def main(src, dst):
    keys = set()
    with open(src, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("//"):
                continue
            k = key_of(line.split()[0])
            if k:
                keys.add(k.encode("ascii"))
    keys = sorted(keys)
    offsets, data = [], bytearray()
    for i in range(0, len(keys), BLOCK):
        offsets.append(len(data))
        prev = b""
        for k in keys[i:i + BLOCK]:
            p = 0
            while p < min(len(prev), len(k), 255) and prev[p] == k[p]:
                p += 1
            suffix = k[p:]
            assert len(suffix) < 256
            data += bytes([p, len(suffix)]) + suffix
            prev = k
    out = b"PSL1" + struct.pack("<I", len(offsets)) + b"".join(struct.pack("<I", o) for o in offsets) + data
    with open(dst, "wb") as f:
        f.write(out)
    print(f"{len(keys)} rules, {len(offsets)} blocks, {len(out)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
