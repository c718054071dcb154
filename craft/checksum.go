package craft

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// sum adds b as big-endian 16-bit words to the running one's complement
// sum s (RFC 1071). An odd trailing byte is padded with zero. It adds 32-bit
// words into a 64-bit accumulator (2^16 = 1 modulo 0xffff, so the folded
// result is the same) and folds once at the end. From 64 bytes on,
// sumWide is faster.
func sum(s uint32, b []byte) uint32 {
	if len(b) >= 64 {
		return sumWide(s, b)
	}
	acc := uint64(s)
	for len(b) >= 32 {
		acc += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:])) +
			uint64(binary.BigEndian.Uint32(b[8:])) + uint64(binary.BigEndian.Uint32(b[12:])) +
			uint64(binary.BigEndian.Uint32(b[16:])) + uint64(binary.BigEndian.Uint32(b[20:])) +
			uint64(binary.BigEndian.Uint32(b[24:])) + uint64(binary.BigEndian.Uint32(b[28:]))
		b = b[32:]
	}
	for len(b) >= 4 {
		acc += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	// Fold to 32 bits; fold finishes to 16.
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 32) + (acc & 0xffffffff)
	return uint32(acc)
}

// sumWide is sum for longer data: 64-bit words as the machine loads them
// (little-endian), added with end-around carry. The ones' complement sum
// does not depend on byte order (RFC 1071 2(B)): summed in swapped order,
// it comes out swapped, and one byte swap at the end puts it right. 1.6x
// the 32-bit loop at 1460 bytes.
func sumWide(s uint32, b []byte) uint32 {
	var acc, c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b), c)
		b = b[8:]
	}
	// The last 0-7 bytes, in the same little-endian order.
	var tail uint64
	for i := len(b) - 1; i >= 0; i-- {
		tail = tail<<8 | uint64(b[i])
	}
	acc, c = bits.Add64(acc, tail, c)
	acc, c = bits.Add64(acc, 0, c)
	acc += c
	// Fold to 16 bits, swap into network order, add s.
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 16) + (acc & 0xffff)
	acc = (acc >> 16) + (acc & 0xffff)
	return uint32(bits.ReverseBytes16(uint16(acc))) + s&0xffff + s>>16
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = (s >> 16) + (s & 0xffff)
	}
	return uint16(s)
}

// Checksum returns the Internet checksum (RFC 1071) of b.
func Checksum(b []byte) uint16 { return ^fold(sum(0, b)) }

// pseudoSum is the sum of the IPv4 or IPv6 pseudo-header (RFC 9293 section
// 3.1, RFC 8200 section 8.1) for an upper-layer packet of length n.
func pseudoSum(src, dst netip.Addr, proto uint8, n int) uint32 {
	if src.Is4() {
		var ab [8]byte
		a, b := src.As4(), dst.As4()
		copy(ab[:4], a[:])
		copy(ab[4:], b[:])
		return pseudoSum4(ab[:], proto, n)
	}
	a, b := src.As16(), dst.As16()
	s := sum(sum(0, a[:]), b[:])
	return uint32(fold(s)) + uint32(proto) + uint32(n&0xffff) + uint32(n>>16)
}

// pseudoSum4 is pseudoSum for IPv4, from the 8 bytes of source and
// destination as an IPv4 header holds them.
func pseudoSum4(addrs []byte, proto uint8, n int) uint32 {
	a := addrs[:8]
	return uint32(a[0])<<8 | uint32(a[1]) + (uint32(a[2])<<8 | uint32(a[3])) +
		(uint32(a[4])<<8 | uint32(a[5])) + (uint32(a[6])<<8 | uint32(a[7])) +
		uint32(proto) + uint32(n&0xffff) + uint32(n>>16)
}

// TransportChecksum returns the checksum of a TCP segment, or of an ICMPv6
// message, seg (with its checksum field zeroed or not, see below) including
// the pseudo-header. With the checksum field left in place a correct segment
// yields 0.
func TransportChecksum(src, dst netip.Addr, proto uint8, seg []byte) uint16 {
	return ^fold(sum(pseudoSum(src, dst, proto, len(seg)), seg))
}
