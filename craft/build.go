package craft

import (
	"errors"
	"net/netip"
)

// Segment describes one TCP segment to build: the IP fields that tcpprobe
// lets the user choose, the TCP header and the payload. The IP version is
// taken from Src and Dst.
type Segment struct {
	Src, Dst  netip.Addr
	TTL       uint8 // TTL or hop limit, as given: 0 is sent as 0
	TOS       uint8 // TOS or traffic class
	ID        uint16
	DF        bool
	FlowLabel uint32
	IPOptions []byte
	TCP       TCP
	Payload   []byte
}

// Encode writes the whole datagram into b and returns its length. It does
// not allocate.
func (s *Segment) Encode(b []byte) (int, error) {
	ttl := s.TTL
	switch {
	case s.Src.Is4() && s.Dst.Is4():
		ip := IPv4{TOS: s.TOS, ID: s.ID, TTL: ttl, Protocol: ProtoTCP, Src: s.Src, Dst: s.Dst, Options: s.IPOptions}
		if s.DF {
			ip.Flags = IPv4DontFragment
		}
		return BuildTCP4(b, &ip, &s.TCP, s.Payload)
	case s.Src.Is6() && s.Dst.Is6():
		ip := IPv6{TrafficClass: s.TOS, FlowLabel: s.FlowLabel, HopLimit: ttl, NextHeader: ProtoTCP, Src: s.Src, Dst: s.Dst}
		return BuildTCP6(b, &ip, &s.TCP, s.Payload)
	}
	return 0, errors.New("source and destination must both be ipv4 or both ipv6")
}

// BuildTCP4 writes an IPv4 datagram carrying the TCP segment t with payload
// into b, filling in lengths and both checksums. It returns the length.
func BuildTCP4(b []byte, ip *IPv4, t *TCP, payload []byte) (int, error) {
	ip.Protocol = ProtoTCP
	seg := t.HeaderLen() + len(payload)
	hl, err := ip.Encode(b, seg)
	if err != nil {
		return 0, err
	}
	return hl + seg, encodeTCP(b[hl:], t, payload, ip.Src, ip.Dst)
}

// BuildTCP6 writes an IPv6 datagram carrying the TCP segment t with payload
// into b, filling in the payload length and the TCP checksum.
func BuildTCP6(b []byte, ip *IPv6, t *TCP, payload []byte) (int, error) {
	ip.NextHeader = ProtoTCP
	seg := t.HeaderLen() + len(payload)
	hl, err := ip.Encode(b, seg)
	if err != nil {
		return 0, err
	}
	return hl + seg, encodeTCP(b[hl:], t, payload, ip.Src, ip.Dst)
}

func encodeTCP(b []byte, t *TCP, payload []byte, src, dst netip.Addr) error {
	n, err := t.Encode(b)
	if err != nil {
		return err
	}
	if len(b) < n+len(payload) {
		return ErrBufTooSmall
	}
	copy(b[n:], payload)
	t.SetChecksum(b[:n+len(payload)], src, dst)
	return nil
}

// BuildICMPError writes an ICMP (IPv4 addresses) or ICMPv6 error from src to
// dst quoting the datagram quoted (cut to what RFC 1812 / RFC 4443 allow)
// into b. It returns the length.
func BuildICMPError(b []byte, src, dst netip.Addr, typ, code uint8, rest uint32, quoted []byte) (int, error) {
	m := ICMP{Type: typ, Code: code, Rest: rest, V6: src.Is6()}
	if m.V6 {
		m.Body = quoted[:min(len(quoted), 1280-IPv6HeaderSize-ICMPHeaderSize)]
		ip := IPv6{HopLimit: 64, NextHeader: ProtoICMPv6, Src: src, Dst: dst}
		hl, err := ip.Encode(b, ICMPHeaderSize+len(m.Body))
		if err != nil {
			return 0, err
		}
		n, err := m.Encode(b[hl:], src, dst)
		return hl + n, err
	}
	m.Body = quoted[:min(len(quoted), 576-IPv4MinHeader-ICMPHeaderSize)]
	ip := IPv4{TTL: 64, Protocol: ProtoICMP, Src: src, Dst: dst}
	hl, err := ip.Encode(b, ICMPHeaderSize+len(m.Body))
	if err != nil {
		return 0, err
	}
	n, err := m.Encode(b[hl:], src, dst)
	return hl + n, err
}
