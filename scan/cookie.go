package scan

import (
	"encoding/binary"
	"net/netip"

	"github.com/tcpprobe/tcpprobe/craft"
)

// cookie is the probe's ISN: SipHash-2-4 of the 4-tuple under the run's
// secret.
func (s *Scanner) cookie(dst netip.Addr, dport uint16) craft.Seq {
	var b [36]byte
	src16, dst16 := s.src.As16(), dst.As16()
	copy(b[:], src16[:])
	copy(b[16:], dst16[:])
	binary.BigEndian.PutUint16(b[32:], s.sport)
	binary.BigEndian.PutUint16(b[34:], dport)
	return craft.Seq(siphash24(s.k0, s.k1, b[:]))
}

// consumed is what a probe without payload occupies in sequence space: a
// valid RST or SYN-ACK to a probe without ACK acknowledges the cookie
// plus this.
func (s *Scanner) consumed() uint32 { return craft.SeqLen(s.flags, 0) }

// valid checks a reply against the probe's cookie (RFC 9293 3.10.7.1 for
// the RST's numbers).
func (s *Scanner) valid(p *craft.Packet, k probeKey) bool {
	c := s.cookie(k.dst, k.port)
	if p.HasICMP {
		return p.ICMP.Quote.Seq == c
	}
	t := &p.TCP
	switch {
	case t.Flags&craft.SYN != 0 && t.Flags&craft.ACK != 0:
		return t.Ack == c.Add(s.consumed())
	case t.Flags&craft.SYN != 0:
		return s.flags&craft.SYN != 0 // a bare SYN carries no ack to check
	case t.Flags&craft.RST != 0:
		if s.flags&craft.ACK != 0 {
			return t.Seq == c // <SEQ=SEG.ACK><CTL=RST>
		}
		return t.Flags&craft.ACK != 0 && t.Ack == c.Add(s.consumed())
	}
	return false
}
