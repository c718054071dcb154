package craft

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// ICMPv4 types and codes used by tcpprobe (RFC 792, RFC 1812).
const (
	ICMPv4EchoReply       = 0
	ICMPv4Unreachable     = 3
	ICMPv4Echo            = 8
	ICMPv4TimeExceeded    = 11
	ICMPv4ParamProblem    = 12
	ICMPv4CodeFragNeeded  = 4
	ICMPv4CodePortUnreach = 3
)

// ICMPv6 types (RFC 4443).
const (
	ICMPv6Unreachable   = 1
	ICMPv6PacketTooBig  = 2
	ICMPv6TimeExceeded  = 3
	ICMPv6ParamProblem  = 4
	ICMPv6EchoRequest   = 128
	ICMPv6EchoReply     = 129
	ICMPv6CodePortUnrch = 4
)

// ICMPHeaderSize is the size of the ICMP/ICMPv6 header before the quote.
const ICMPHeaderSize = 8

// ICMP is an ICMPv4 or ICMPv6 message header. For error messages, Quote
// holds the decoded start of the datagram that caused it.
type ICMP struct {
	V6       bool
	Type     uint8
	Code     uint8
	Checksum uint16
	Rest     uint32 // the 4 bytes after the checksum (MTU, pointer, unused)
	Body     []byte // everything after the 8-byte header; aliases the input
	Quote    Quote
}

// Quote is the invoking datagram quoted by an ICMP error: its IP header and
// as much of its TCP header as the quote holds (at least the ports and
// sequence number, RFC 792's "64 bits of data").
type Quote struct {
	Valid            bool // an IP header with a TCP part was decoded
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
	Seq              Seq
	HasAck           bool // the quote reaches the ack and flags fields
	Ack              Seq
	Flags            Flags
}

// IsError reports whether the message is an error that quotes a datagram.
func (m *ICMP) IsError() bool {
	if m.V6 {
		return m.Type < 128
	}
	switch m.Type {
	case ICMPv4Unreachable, ICMPv4TimeExceeded, ICMPv4ParamProblem, 4, 5:
		return true
	}
	return false
}

// MTU returns the next-hop MTU of a "fragmentation needed" or "packet too
// big" message, or 0.
func (m *ICMP) MTU() uint32 {
	if m.V6 && m.Type == ICMPv6PacketTooBig {
		return m.Rest
	}
	if !m.V6 && m.Type == ICMPv4Unreachable && m.Code == ICMPv4CodeFragNeeded {
		return m.Rest & 0xffff
	}
	return 0
}

// Decode parses an ICMP (v6 false) or ICMPv6 (v6 true) message. Every field
// is overwritten. A quote that cannot be decoded leaves Quote.Valid false;
// it is not an error.
func (m *ICMP) Decode(b []byte, v6 bool) error {
	*m = ICMP{V6: v6}
	if len(b) < ICMPHeaderSize {
		return ErrShort
	}
	m.Type, m.Code = b[0], b[1]
	m.Checksum = binary.BigEndian.Uint16(b[2:])
	m.Rest = binary.BigEndian.Uint32(b[4:])
	m.Body = b[ICMPHeaderSize:]
	if m.IsError() {
		m.Quote.decode(m.Body)
	}
	return nil
}

func (q *Quote) decode(b []byte) {
	var off int
	if len(b) < 1 {
		return
	}
	switch b[0] >> 4 {
	case 4:
		var h IPv4
		n, err := h.Decode(b)
		if err != nil {
			return
		}
		q.Src, q.Dst, q.Proto, off = h.Src, h.Dst, h.Protocol, n
	case 6:
		var h IPv6
		if _, err := h.Decode(b); err != nil {
			return
		}
		p, o, later, err := skipExtensions(h.NextHeader, b[IPv6HeaderSize:])
		if err != nil || later {
			return
		}
		q.Src, q.Dst, q.Proto, off = h.Src, h.Dst, p, IPv6HeaderSize+o
	default:
		return
	}
	t := b[off:]
	if q.Proto != ProtoTCP || len(t) < 8 {
		return
	}
	q.Valid = true
	q.SrcPort = binary.BigEndian.Uint16(t)
	q.DstPort = binary.BigEndian.Uint16(t[2:])
	q.Seq = Seq(binary.BigEndian.Uint32(t[4:]))
	if len(t) >= 14 {
		q.HasAck = true
		q.Ack = Seq(binary.BigEndian.Uint32(t[8:]))
		q.Flags = Flags(t[13]) | Flags(t[12]&1)<<8
	}
}

// Encode writes the ICMP header and body into b and computes the checksum;
// for ICMPv6, src and dst give the pseudo-header. It returns the length.
func (m *ICMP) Encode(b []byte, src, dst netip.Addr) (int, error) {
	n := ICMPHeaderSize + len(m.Body)
	if len(b) < n {
		return 0, ErrBufTooSmall
	}
	b[0], b[1], b[2], b[3] = m.Type, m.Code, 0, 0
	binary.BigEndian.PutUint32(b[4:], m.Rest)
	copy(b[ICMPHeaderSize:], m.Body)
	if m.V6 {
		m.Checksum = TransportChecksum(src, dst, ProtoICMPv6, b[:n])
	} else {
		m.Checksum = Checksum(b[:n])
	}
	binary.BigEndian.PutUint16(b[2:], m.Checksum)
	return n, nil
}

// Describe names the message as ping and traceroute do: "port
// unreachable", "time exceeded in transit", "packet too big (mtu 1280)".
func (m *ICMP) Describe() string {
	if m.V6 {
		switch m.Type {
		case ICMPv6Unreachable:
			names := [...]string{"no route to destination", "administratively prohibited", "beyond scope of source address", "address unreachable", "port unreachable", "source address failed policy", "reject route to destination"}
			if int(m.Code) < len(names) {
				return names[m.Code]
			}
		case ICMPv6PacketTooBig:
			return fmt.Sprintf("packet too big (mtu %d)", m.Rest)
		case ICMPv6TimeExceeded:
			if m.Code == 0 {
				return "hop limit exceeded in transit"
			}
			return "fragment reassembly time exceeded"
		case ICMPv6ParamProblem:
			return "parameter problem"
		}
		return fmt.Sprintf("icmp6 type %d code %d", m.Type, m.Code)
	}
	switch m.Type {
	case ICMPv4Unreachable:
		names := [...]string{"net unreachable", "host unreachable", "protocol unreachable", "port unreachable", "fragmentation needed", "source route failed", "net unknown", "host unknown", "source host isolated", "net prohibited", "host prohibited", "net unreachable for tos", "host unreachable for tos", "communication administratively prohibited", "host precedence violation", "precedence cutoff"}
		if m.Code == ICMPv4CodeFragNeeded {
			return fmt.Sprintf("fragmentation needed (mtu %d)", m.MTU())
		}
		if int(m.Code) < len(names) {
			return names[m.Code]
		}
	case ICMPv4TimeExceeded:
		if m.Code == 0 {
			return "time exceeded in transit"
		}
		return "fragment reassembly time exceeded"
	case ICMPv4ParamProblem:
		return "parameter problem"
	}
	return fmt.Sprintf("icmp type %d code %d", m.Type, m.Code)
}
