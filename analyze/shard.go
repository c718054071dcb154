package analyze

import (
	"encoding/binary"
	"net/netip"

	"github.com/tcpprobe/tcpprobe/craft"
)

// shard.go: the flow key and the symmetric hash that sends both
// directions of a connection to the same worker.

// flowKey identifies a connection independent of direction: the endpoint
// that sorts first is a.
type flowKey struct {
	a, b netip.AddrPort
}

func keyOf(src, dst netip.AddrPort) flowKey {
	if src.Addr().Less(dst.Addr()) || src.Addr() == dst.Addr() && src.Port() < dst.Port() {
		return flowKey{src, dst}
	}
	return flowKey{dst, src}
}

// shardOf hashes the 4-tuple of an IP datagram symmetrically, without a
// full decode. ok is false for anything but TCP over IPv4/IPv6 with its
// ports in the capture.
func shardOf(ip []byte) (h uint32, ok bool) {
	if len(ip) < 20 {
		return 0, false
	}
	var a, b uint64
	var off int
	switch ip[0] >> 4 {
	case 4:
		if ip[9] != craft.ProtoTCP {
			return 0, false
		}
		a, b = uint64(binary.BigEndian.Uint32(ip[12:])), uint64(binary.BigEndian.Uint32(ip[16:]))
		off = int(ip[0]&0xf) * 4
	case 6:
		if len(ip) < 40 {
			return 0, false
		}
		a = binary.BigEndian.Uint64(ip[8:]) ^ binary.BigEndian.Uint64(ip[16:])
		b = binary.BigEndian.Uint64(ip[24:]) ^ binary.BigEndian.Uint64(ip[32:])
		var ok bool
		if off, ok = ipv6TCPOffset(ip); !ok {
			return 0, false
		}
	default:
		return 0, false
	}
	if len(ip) < off+4 {
		return 0, false
	}
	a = a<<16 | uint64(binary.BigEndian.Uint16(ip[off:]))
	b = b<<16 | uint64(binary.BigEndian.Uint16(ip[off+2:]))
	return uint32(mix(a) ^ mix(b)), true
}

// ipv6TCPOffset walks the extension headers of an IPv6 datagram to its
// TCP header, so that a flow lands on one worker whatever headers its
// packets carry (hop-by-hop, routing, destination options, an atomic or
// first fragment). ok is false for anything else.
func ipv6TCPOffset(ip []byte) (int, bool) {
	next, off := ip[6], 40
	for i := 0; i < 8; i++ {
		switch next {
		case craft.ProtoTCP:
			return off, true
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(ip) < off+2 {
				return 0, false
			}
			next, off = ip[off], off+8*(int(ip[off+1])+1)
		case 44: // fragment: only the first (offset 0) holds the TCP header
			if len(ip) < off+8 || binary.BigEndian.Uint16(ip[off+2:])&0xfff8 != 0 {
				return 0, false
			}
			next, off = ip[off], off+8
		default:
			return 0, false
		}
	}
	return 0, false
}

// shard is the worker, of n, that analyzes the IP datagram ip. The rare
// datagrams shardOf cannot place (IPv6 extension headers, not TCP) go to
// worker 0.
func shard(ip []byte, n uint32) uint32 {
	h, ok := shardOf(ip)
	if !ok {
		return 0
	}
	return h % n
}

// mix is a 64-bit finalizer (from SplitMix64).
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
