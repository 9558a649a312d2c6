#!/usr/bin/env python3
"""Seed corpus from ../shared/vectors/perfsonar: O/TWAMP control segments (both directions) and test datagrams.

Usage: seeds_from_pcaps.py VECTORS_DIR OUT_DIR -> OUT_DIR/control-server, control-client, test-packet
(IKE and .pfs seeds come from `ippm-fuzz --seeds`). Classic pcap, Ethernet, IPv4/IPv6, TCP and UDP only.
"""
import hashlib
import os
import struct
import sys

CONTROL_PORTS = {861, 862}


def packets(path):
    data = open(path, "rb").read()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    offset = 24
    while offset + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + incl]
        offset += 16 + incl
        if linktype == 1:
            ethertype = struct.unpack(">H", frame[12:14])[0]
            ip = frame[14:]
        else:
            continue
        if ethertype == 0x0800:
            ihl = (ip[0] & 0x0F) * 4
            proto, l4 = ip[9], ip[ihl:struct.unpack(">H", ip[2:4])[0]]
        elif ethertype == 0x86DD:
            proto, l4 = ip[6], ip[40:40 + struct.unpack(">H", ip[4:6])[0]]
        else:
            continue
        yield proto, l4


def main():
    vectors, out = sys.argv[1], sys.argv[2]
    dirs = {name: os.path.join(out, name) for name in ("control-server", "control-client", "test-packet")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    seen = set()
    for name in sorted(os.listdir(vectors)):
        if not name.endswith(".pcap"):
            continue
        for proto, l4 in packets(os.path.join(vectors, name)):
            if proto == 6 and len(l4) >= 20:
                sport, dport = struct.unpack(">HH", l4[:4])
                payload = l4[(l4[12] >> 4) * 4:]
                if not payload:
                    continue
                target = "control-server" if dport in CONTROL_PORTS else "control-client" if sport in CONTROL_PORTS else None
            elif proto == 17 and len(l4) >= 8:
                payload, target = l4[8:], "test-packet"
            else:
                continue
            if target is None or not payload:
                continue
            digest = hashlib.sha1(payload).hexdigest()[:16]
            if (target, digest) in seen:
                continue
            seen.add((target, digest))
            with open(os.path.join(dirs[target], f"{name[:-5]}-{digest}"), "wb") as f:
                f.write(payload)
    for target, d in dirs.items():
        print(f"{target}: {len(os.listdir(d))} seeds")


if __name__ == "__main__":
    main()
