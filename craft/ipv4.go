package craft

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// IP protocol numbers used by tcpprobe.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoICMPv6 = 58
)

// IPv4 header field offsets (RFC 791 section 3.1).
const (
	ipv4VersIHL    = 0
	ipv4TOS        = 1
	ipv4TotalLen   = 2
	ipv4ID         = 4
	ipv4FlagsFrag  = 6
	ipv4TTL        = 8
	ipv4Protocol   = 9
	ipv4Checksum   = 10
	ipv4Src        = 12
	ipv4Dst        = 16
	IPv4MinHeader  = 20
	IPv4MaxHeader  = 60
	IPv6HeaderSize = 40
	// MaxPacket is large enough for any packet tcpprobe builds.
	MaxPacket = 65535
)

// IPv4 fragment flags.
const (
	IPv4MoreFragments uint8 = 1 << 0
	IPv4DontFragment  uint8 = 1 << 1
	IPv4Evil          uint8 = 1 << 2 // the reserved bit (RFC 3514)
)

// Errors returned by the decoders.
var (
	ErrShort       = errors.New("packet too short")
	ErrVersion     = errors.New("wrong ip version")
	ErrHeaderLen   = errors.New("bad header length")
	ErrBufTooSmall = errors.New("buffer too small")
)

// IPv4 is an IPv4 header. Options holds raw option bytes (a multiple of 4
// when encoding); on decode it points into the decoded buffer.
type IPv4 struct {
	IHL        uint8 // header length in 32-bit words; computed on encode
	TOS        uint8
	TotalLen   uint16 // computed on encode
	ID         uint16
	Flags      uint8  // IPv4DontFragment, IPv4MoreFragments
	FragOffset uint16 // in 8-octet units
	TTL        uint8
	Protocol   uint8
	Checksum   uint16 // computed on encode
	Src, Dst   netip.Addr
	Options    []byte
}

// HeaderLen is the encoded header length in bytes.
func (h *IPv4) HeaderLen() int { return IPv4MinHeader + (len(h.Options)+3)&^3 }

// Encode writes the header for a datagram carrying payloadLen bytes into b
// and fills in IHL, TotalLen and Checksum. It returns the header length.
func (h *IPv4) Encode(b []byte, payloadLen int) (int, error) {
	hl := h.HeaderLen()
	if hl > IPv4MaxHeader {
		return 0, ErrHeaderLen
	}
	if len(b) < hl {
		return 0, ErrBufTooSmall
	}
	if !h.Src.Is4() || !h.Dst.Is4() {
		return 0, errors.New("ipv4 header needs ipv4 addresses")
	}
	if hl+payloadLen > 0xffff {
		return 0, errors.New("ipv4 datagram too long")
	}
	h.IHL = uint8(hl / 4)
	h.TotalLen = uint16(hl + payloadLen)
	b[ipv4VersIHL] = 4<<4 | h.IHL
	b[ipv4TOS] = h.TOS
	binary.BigEndian.PutUint16(b[ipv4TotalLen:], h.TotalLen)
	binary.BigEndian.PutUint16(b[ipv4ID:], h.ID)
	binary.BigEndian.PutUint16(b[ipv4FlagsFrag:], uint16(h.Flags&7)<<13|h.FragOffset&0x1fff)
	b[ipv4TTL] = h.TTL
	b[ipv4Protocol] = h.Protocol
	b[ipv4Checksum], b[ipv4Checksum+1] = 0, 0
	s, d := h.Src.As4(), h.Dst.As4()
	copy(b[ipv4Src:], s[:])
	copy(b[ipv4Dst:], d[:])
	n := copy(b[IPv4MinHeader:hl], h.Options)
	clear(b[IPv4MinHeader+n : hl])
	h.Checksum = Checksum(b[:hl])
	binary.BigEndian.PutUint16(b[ipv4Checksum:], h.Checksum)
	return hl, nil
}

// Decode parses the IPv4 header at the start of b and returns its length.
// Every field is overwritten. It does not allocate; Options aliases b.
func (h *IPv4) Decode(b []byte) (int, error) {
	*h = IPv4{}
	if len(b) < IPv4MinHeader {
		return 0, ErrShort
	}
	if b[0]>>4 != 4 {
		return 0, ErrVersion
	}
	h.IHL = b[0] & 0x0f
	hl := int(h.IHL) * 4
	if hl < IPv4MinHeader || hl > len(b) {
		return 0, ErrHeaderLen
	}
	h.TOS = b[ipv4TOS]
	h.TotalLen = binary.BigEndian.Uint16(b[ipv4TotalLen:])
	h.ID = binary.BigEndian.Uint16(b[ipv4ID:])
	ff := binary.BigEndian.Uint16(b[ipv4FlagsFrag:])
	h.Flags = uint8(ff >> 13)
	h.FragOffset = ff & 0x1fff
	h.TTL = b[ipv4TTL]
	h.Protocol = b[ipv4Protocol]
	h.Checksum = binary.BigEndian.Uint16(b[ipv4Checksum:])
	h.Src = netip.AddrFrom4([4]byte(b[ipv4Src : ipv4Src+4]))
	h.Dst = netip.AddrFrom4([4]byte(b[ipv4Dst : ipv4Dst+4]))
	if hl > IPv4MinHeader {
		h.Options = b[IPv4MinHeader:hl:hl]
	}
	return hl, nil
}

// ChecksumOK reports whether the header checksum of the encoded header b is
// valid.
func IPv4ChecksumOK(b []byte) bool {
	if len(b) < IPv4MinHeader {
		return false
	}
	hl := int(b[0]&0x0f) * 4
	if hl < IPv4MinHeader || hl > len(b) {
		return false
	}
	if hl == IPv4MinHeader { // nearly always: ten words, unrolled
		_ = b[19]
		s := uint32(binary.BigEndian.Uint16(b)) + uint32(binary.BigEndian.Uint16(b[2:])) +
			uint32(binary.BigEndian.Uint16(b[4:])) + uint32(binary.BigEndian.Uint16(b[6:])) +
			uint32(binary.BigEndian.Uint16(b[8:])) + uint32(binary.BigEndian.Uint16(b[10:])) +
			uint32(binary.BigEndian.Uint16(b[12:])) + uint32(binary.BigEndian.Uint16(b[14:])) +
			uint32(binary.BigEndian.Uint16(b[16:])) + uint32(binary.BigEndian.Uint16(b[18:]))
		return fold(s) == 0xffff
	}
	return fold(sum(0, b[:hl])) == 0xffff
}
