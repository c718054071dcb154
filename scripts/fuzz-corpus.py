#!/usr/bin/env python3
"""Writes the checked-in fuzz corpora from the Zeek test captures in
testdata/pcaps/zeek: real IP datagrams for the packet decoders and the
analyzer, whole and cut captures for the file reader. Deterministic; run it
again after adding captures (python3 scripts/fuzz-corpus.py)."""
import hashlib, os, struct, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pcaps = os.path.join(root, "testdata", "pcaps", "zeek")

def gobytes(b):
    return '[]byte("' + "".join("\\x%02x" % c for c in b) + '")'

def write(pkg, target, *args):
    d = os.path.join(root, pkg, "testdata", "fuzz", target)
    os.makedirs(d, exist_ok=True)
    body = "go test fuzz v1\n" + "".join(a + "\n" for a in args)
    name = hashlib.sha256(body.encode()).hexdigest()[:16]
    with open(os.path.join(d, name), "w") as f:
        f.write(body)

def classic_records(data):
    """IP datagrams of a classic pcap with Ethernet, raw IP or SLL frames."""
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return
    link = struct.unpack(e + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if link == 1 and len(frame) > 14:
            et = frame[12:14]
            if et == b"\x81\x00" and len(frame) > 18:
                yield frame[18:]
            elif et in (b"\x08\x00", b"\x86\xdd"):
                yield frame[14:]
        elif link in (101, 228, 229):
            yield frame
        elif link == 113 and len(frame) > 16:
            yield frame[16:]

seen = set()
pkts = []
for name in sorted(os.listdir(pcaps)):
    if not name.endswith(".pcap"):
        continue
    data = open(os.path.join(pcaps, name), "rb").read()
    if len(data) < 60000:
        write("capture", "FuzzFileReader", gobytes(data))
        write("capture", "FuzzFileReader", gobytes(data[: len(data) * 2 // 3]))
    for p in classic_records(data):
        key = (p[0] >> 4, len(p) // 64, p[33:34] if p[0] >> 4 == 4 else p[53:54])
        if key in seen or len(pkts) >= 64:
            continue
        seen.add(key)
        pkts.append(p)

for p in pkts:
    write("craft", "FuzzPacketDecode", gobytes(p))
for a, b in zip(pkts, pkts[1:]):
    write("analyze", "FuzzAnalyzePacket", gobytes(a), gobytes(b))
print(f"{len(pkts)} packets, corpora written", file=sys.stderr)
