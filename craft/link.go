package craft

import (
	"encoding/binary"
	"errors"
)

// Link-layer header types (tcpdump.org "LINK-LAYER HEADER TYPES").
const (
	LinkNull     = 0
	LinkEthernet = 1
	LinkRawOld   = 12 // DLT_RAW on most platforms
	LinkRawBSD   = 14
	LinkLoop     = 108
	LinkRaw      = 101
	LinkSLL      = 113
	LinkIPv4     = 228
	LinkIPv6     = 229
	LinkSLL2     = 276
)

// ErrNotIPLink means the frame does not carry IPv4 or IPv6.
var ErrNotIPLink = errors.New("frame does not carry ip")

// ErrUnsupportedLink means tcpprobe does not read the link-layer type.
var ErrUnsupportedLink = errors.New("unsupported link type")

const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88a8
	etherType9100 = 0x9100
)

// IPOffset returns where the IP header starts in a frame of the given link
// type, stepping over VLAN tags. It does not allocate.
func IPOffset(linkType int, b []byte) (int, error) {
	switch linkType {
	case LinkEthernet:
		if len(b) < 14 {
			return 0, ErrShort
		}
		return etherPayload(b, 12)
	case LinkRaw, LinkRawOld, LinkRawBSD, LinkIPv4, LinkIPv6:
		return 0, nil
	case LinkNull, LinkLoop:
		if len(b) < 4 {
			return 0, ErrShort
		}
		af := binary.LittleEndian.Uint32(b)
		if linkType == LinkLoop || af > 0xffff {
			af = binary.BigEndian.Uint32(b)
		}
		switch af {
		case 2, 24, 28, 30: // AF_INET, and AF_INET6 on the BSDs and macOS
			return 4, nil
		}
		return 0, ErrNotIPLink
	case LinkSLL:
		if len(b) < 16 {
			return 0, ErrShort
		}
		return etherPayload(b, 14)
	case LinkSLL2:
		if len(b) < 20 {
			return 0, ErrShort
		}
		switch binary.BigEndian.Uint16(b) {
		case etherTypeIPv4, etherTypeIPv6:
			return 20, nil
		}
		return 0, ErrNotIPLink
	}
	return 0, ErrUnsupportedLink
}

// etherPayload reads the EtherType at off, skipping up to two VLAN tags.
func etherPayload(b []byte, off int) (int, error) {
	for i := 0; i < 3; i++ {
		if len(b) < off+2 {
			return 0, ErrShort
		}
		switch binary.BigEndian.Uint16(b[off:]) {
		case etherTypeIPv4, etherTypeIPv6:
			return off + 2, nil
		case etherTypeVLAN, etherTypeQinQ, etherType9100:
			off += 4
		default:
			return 0, ErrNotIPLink
		}
	}
	return 0, ErrNotIPLink
}
