package craft

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// IPv6 extension header numbers that Packet.Decode steps over.
const (
	ipv6HopByHop = 0
	ipv6Routing  = 43
	ipv6Fragment = 44
	ipv6DestOpts = 60
	ipv6NoNext   = 59
)

// IPv6 is the fixed IPv6 header (RFC 8200 section 3).
type IPv6 struct {
	TrafficClass uint8
	FlowLabel    uint32 // 20 bits
	PayloadLen   uint16 // computed on encode
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     netip.Addr
}

// Encode writes the 40-byte header for payloadLen bytes of payload into b.
func (h *IPv6) Encode(b []byte, payloadLen int) (int, error) {
	if len(b) < IPv6HeaderSize {
		return 0, ErrBufTooSmall
	}
	if !h.Src.Is6() || !h.Dst.Is6() || h.Src.Is4In6() || h.Dst.Is4In6() {
		return 0, errors.New("ipv6 header needs ipv6 addresses")
	}
	if payloadLen > 0xffff {
		return 0, errors.New("ipv6 payload too long")
	}
	h.PayloadLen = uint16(payloadLen)
	binary.BigEndian.PutUint32(b[0:], 6<<28|uint32(h.TrafficClass)<<20|h.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[4:], h.PayloadLen)
	b[6] = h.NextHeader
	b[7] = h.HopLimit
	s, d := h.Src.As16(), h.Dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return IPv6HeaderSize, nil
}

// Decode parses the fixed header at the start of b. Every field is
// overwritten.
func (h *IPv6) Decode(b []byte) (int, error) {
	*h = IPv6{}
	if len(b) < IPv6HeaderSize {
		return 0, ErrShort
	}
	w := binary.BigEndian.Uint32(b)
	if w>>28 != 6 {
		return 0, ErrVersion
	}
	h.TrafficClass = uint8(w >> 20)
	h.FlowLabel = w & 0xfffff
	h.PayloadLen = binary.BigEndian.Uint16(b[4:])
	h.NextHeader = b[6]
	h.HopLimit = b[7]
	h.Src = netip.AddrFrom16([16]byte(b[8:24]))
	h.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	return IPv6HeaderSize, nil
}

// skipExtensions follows the extension header chain starting with next at
// b and returns the upper-layer protocol, its offset in b and whether the
// packet is a non-first fragment (whose upper header is absent).
func skipExtensions(next uint8, b []byte) (proto uint8, off int, laterFragment bool, err error) {
	for i := 0; i < 8; i++ {
		switch next {
		case ipv6HopByHop, ipv6Routing, ipv6DestOpts:
			if len(b) < off+8 {
				return 0, 0, false, ErrShort
			}
			n := 8 + int(b[off+1])*8
			if len(b) < off+n {
				return 0, 0, false, ErrShort
			}
			next = b[off]
			off += n
		case ipv6Fragment:
			if len(b) < off+8 {
				return 0, 0, false, ErrShort
			}
			if binary.BigEndian.Uint16(b[off+2:])&0xfff8 != 0 {
				laterFragment = true
			}
			next = b[off]
			off += 8
		default:
			return next, off, laterFragment, nil
		}
	}
	return 0, 0, false, errors.New("too many ipv6 extension headers")
}
