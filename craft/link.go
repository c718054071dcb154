package craft

import (
	"encoding/binary"
	"errors"
)

// Link-layer header types (tcpdump.org "LINK-LAYER HEADER TYPES").
const (
	LinkNull     = 0
	LinkEthernet = 1
	LinkARCNET   = 7   // BSD ARCNET: source, destination, then the protocol ID
	LinkARCNETLx = 129 // Linux ARCNET: source, destination, a 2-byte offset, then the protocol ID
	LinkNFLOG    = 239 // Linux netfilter log (tcpdump -i nflog:N)
	Link80211    = 105 // IEEE 802.11 frames
	LinkRadiotap = 127 // a radiotap header, then an IEEE 802.11 frame
	LinkRawOld   = 12  // DLT_RAW on most platforms
	LinkFDDI     = 10
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

	etherTypeFabricPath = 0x8903
)

// IPOffset returns where the IP header starts in a frame of the given link
// type, stepping over VLAN tags. It does not allocate.
func IPOffset(linkType int, b []byte) (int, error) {
	return linkPayload(linkType, b, nil)
}

// linkPayload is IPOffset, adding the link-level encapsulations it steps
// through to enc (when enc is not nil).
func linkPayload(linkType int, b []byte, enc *Encaps) (int, error) {
	switch linkType {
	case LinkEthernet:
		if len(b) < 14 {
			return 0, ErrShort
		}
		return etherPayload(b, 12, enc)
	case LinkRaw, LinkRawOld, LinkRawBSD, LinkIPv4, LinkIPv6:
		return 0, nil
	case LinkFDDI:
		// Frame control, destination and source, then LLC/SNAP with an
		// EtherType (RFC 1390).
		if len(b) < 21 {
			return 0, ErrShort
		}
		if b[13] != 0xaa || b[14] != 0xaa || b[15] != 0x03 {
			return 0, ErrNotIPLink
		}
		if enc != nil {
			*enc |= EncLLC
		}
		switch binary.BigEndian.Uint16(b[19:]) {
		case etherTypeIPv4, etherTypeIPv6:
			return 21, nil
		}
		return 0, ErrNotIPLink
	case LinkARCNET:
		return arcnetPayload(b, 2, true)
	case LinkARCNETLx:
		return arcnetPayload(b, 4, false)
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
		return etherPayload(b, 14, enc)
	case LinkNFLOG:
		return nflogPayload(b)
	case Link80211:
		return wifiPayload(b, 0)
	case LinkRadiotap:
		if len(b) < 4 {
			return 0, ErrShort
		}
		if b[0] != 0 { // radiotap version 0 is the only one
			return 0, ErrNotIPLink
		}
		return wifiPayload(b, int(binary.LittleEndian.Uint16(b[2:])))
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

// ARCNET protocol IDs (the datagram's type, as Wireshark's
// arcnet_pids.h and RFC 1051/1201 number them).
const (
	arcnetIP1051 = 240 // RFC 1051: the datagram follows the ID
	arcnetIP1201 = 212 // RFC 1201: a split flag and a sequence number first
	arcnetIPv6   = 196 // RFC 2497, framed as RFC 1201
)

// arcnetPayload finds the IP datagram in an ARCNET frame whose protocol ID
// is at off. An RFC 1201 header has a split flag and a 2-byte sequence
// number; in BSD's frames (exceptions) a flag of 0xff means an exception
// packet, whose real header comes 4 bytes later. A datagram that RFC 1201
// split over several ARCNET packets is read from its first packet only.
func arcnetPayload(b []byte, off int, exceptions bool) (int, error) {
	if len(b) < off+1 {
		return 0, ErrShort
	}
	switch b[off] {
	case arcnetIP1051:
		return off + 1, nil
	case arcnetIP1201, arcnetIPv6:
		off++
		if len(b) < off+1 {
			return 0, ErrShort
		}
		if exceptions && b[off] == 0xff {
			off += 4
		}
		if len(b) < off+3 {
			return 0, ErrShort
		}
		return off + 3, nil
	}
	return 0, ErrNotIPLink
}

// nflogPayload finds the packet in a Linux netfilter log record: a 4-byte
// header (address family, version, resource ID), then TLVs, each padded to
// 4 bytes, whose length and type are in the capturing host's byte order
// (little-endian first, then big-endian, as tshark guesses it). The packet
// is the NFULA_PAYLOAD TLV (type 9), which the snap length may cut.
func nflogPayload(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, ErrShort
	}
	for _, order := range [...]binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		for off := 4; off+4 <= len(b); {
			l, typ := int(order.Uint16(b[off:])), order.Uint16(b[off+2:])
			if l < 4 {
				break
			}
			if typ == nfulaPayload {
				return off + 4, nil
			}
			if off+l > len(b) {
				break
			}
			off += (l + 3) &^ 3
		}
	}
	return 0, ErrNotIPLink
}

const nfulaPayload = 9

// wifiPayload finds the IP datagram in the IEEE 802.11 frame at off: a
// data frame (not a null one, not protected, the first fragment) whose
// header (24 bytes, the fourth address of a frame between distribution
// systems, QoS and HT control) is followed by LLC/SNAP and an EtherType.
// A-MSDU aggregates are not read.
func wifiPayload(b []byte, off int) (int, error) {
	if len(b) < off+24 {
		return 0, ErrShort
	}
	fc0, fc1 := b[off], b[off+1]
	if fc0&0x03 != 0 || fc0>>2&0x03 != 2 || fc0&0x40 != 0 { // version 0, a data frame carrying data
		return 0, ErrNotIPLink
	}
	if fc1&0x40 != 0 || binary.LittleEndian.Uint16(b[off+22:])&0x0f != 0 { // protected, or a later fragment
		return 0, ErrNotIPLink
	}
	h := 24
	if fc1&0x03 == 0x03 { // to and from a distribution system: four addresses
		h += 6
	}
	if fc0&0x80 != 0 { // QoS data
		if len(b) < off+h+2 {
			return 0, ErrShort
		}
		if b[off+h]&0x80 != 0 { // an A-MSDU
			return 0, ErrNotIPLink
		}
		h += 2
		if fc1&0x80 != 0 { // HT control
			h += 4
		}
	}
	off += h
	if len(b) < off+8 {
		return 0, ErrShort
	}
	if b[off] != 0xaa || b[off+1] != 0xaa || b[off+2] != 0x03 { // (LLC/SNAP is 802.11's own framing of IP: no tunnel)
		return 0, ErrNotIPLink
	}
	switch binary.BigEndian.Uint16(b[off+6:]) {
	case etherTypeIPv4, etherTypeIPv6:
		return off + 8, nil
	}
	return 0, ErrNotIPLink
}

// etherPayload reads the EtherType at off, stepping over VLAN tags (up to
// three), LLC/SNAP, provider backbone bridging, an MPLS label stack and a
// PPPoE session header.
func etherPayload(b []byte, off int, enc *Encaps) (int, error) {
	var seen Encaps
	n, err := etherWalk(b, off, &seen)
	if enc != nil {
		*enc |= seen
	}
	return n, err
}

func etherWalk(b []byte, off int, seen *Encaps) (int, error) {
	for range 6 {
		if len(b) < off+2 {
			return 0, ErrShort
		}
		switch et := binary.BigEndian.Uint16(b[off:]); et {
		case etherTypeIPv4, etherTypeIPv6:
			return off + 2, nil
		case etherTypeVLAN, etherTypeQinQ, etherType9100:
			off += 4
		case etherTypePBB: // the I-TAG, then the customer's addresses
			*seen |= EncPBB
			off += 2 + 4 + 12
		case etherTypeFabricPath: // FTag and TTL, then the classical frame's addresses
			*seen |= EncFabricPath
			off += 2 + 2 + 12
		case etherTypeMPLS, etherTypeMPLSMC:
			*seen |= EncMPLS
			return mplsPayload(b, off+2, seen)
		case etherTypePPPoE: // version/type, code, session, length: then PPP
			*seen |= EncPPPoE
			if len(b) < off+2+6 {
				return 0, ErrShort
			}
			in, ok := pppPayload(b[off+8:])
			if !ok {
				return 0, ErrNotIPLink
			}
			return off + 8 + in, nil
		default:
			// An 802.3 length field, then LLC: SNAP carries an EtherType.
			if et > 1500 || len(b) < off+10 || b[off+2] != 0xaa || b[off+3] != 0xaa || b[off+4] != 0x03 {
				return 0, ErrNotIPLink
			}
			*seen |= EncLLC
			off += 8
		}
	}
	return 0, ErrNotIPLink
}

// mplsPayload steps over an MPLS label stack starting at off to the IP
// datagram it carries, guessed from the first nibble as every analyzer does
// (RFC 4385: 0 begins a pseudowire control word, then an Ethernet frame).
func mplsPayload(b []byte, off int, seen *Encaps) (int, error) {
	for range 8 {
		if len(b) < off+4 {
			return 0, ErrShort
		}
		bottom := b[off+2]&1 != 0
		off += 4
		if !bottom {
			continue
		}
		if len(b) < off+1 {
			return 0, ErrShort
		}
		switch b[off] >> 4 {
		case 4, 6:
			return off, nil
		case 0:
			if len(b) < off+4+14 {
				return 0, ErrShort
			}
			return etherPayload(b, off+4+12, seen)
		}
		return 0, ErrNotIPLink
	}
	return 0, ErrNotIPLink
}
