package craft

import (
	"errors"
	"net/netip"
)

// Packet is a decoded IP datagram carrying TCP or ICMP. Decode it into one
// value reused across packets; every field is reset on each Decode.
type Packet struct {
	Version uint8 // 4 or 6
	IPv4    IPv4
	IPv6    IPv6
	Proto   uint8 // upper-layer protocol after any IPv6 extension headers
	HasTCP  bool
	TCP     TCP
	HasICMP bool
	ICMP    ICMP
	// Payload is the TCP payload as captured (may be shorter than
	// PayloadLen when the capture was cut by the snap length).
	Payload []byte
	// PayloadLen is the TCP payload length according to the IP header.
	PayloadLen int
	// Truncated is set when fewer bytes were captured than the IP header
	// announces.
	Truncated bool
	// Fragment is set for a fragment (no upper-layer decode for later
	// fragments).
	Fragment bool
	// TSO is set for an IPv4 datagram with total length 0, captured before
	// segmentation offload filled it in; its length is the captured one.
	TSO bool

	upper    []byte // the upper-layer bytes, clipped to the IP length
	upperLen int    // the upper-layer length from the IP header
	addrs4   []byte // an IPv4 header's source and destination, as sent
}

// ErrNotIP is returned for data that is neither IPv4 nor IPv6.
var ErrNotIP = errors.New("not an ip packet")

// Decode parses an IP datagram. Non-TCP/ICMP datagrams decode without error
// with HasTCP and HasICMP false.
func (p *Packet) Decode(b []byte) error {
	p.Version, p.Proto, p.HasTCP, p.HasICMP = 0, 0, false, false
	p.Payload, p.PayloadLen, p.Truncated, p.Fragment, p.TSO = nil, 0, false, false, false
	p.upper, p.upperLen, p.addrs4 = nil, 0, nil
	if len(b) < 1 {
		return ErrShort
	}
	var off, total int
	switch b[0] >> 4 {
	case 4:
		n, err := p.IPv4.Decode(b)
		if err != nil {
			return err
		}
		p.Version, p.Proto, off = 4, p.IPv4.Protocol, n
		p.addrs4 = b[12:20]
		total = int(p.IPv4.TotalLen)
		if total == 0 {
			// Captured before TCP segmentation offload filled it in: the
			// datagram is what was captured (as Zeek and Wireshark take it).
			total = len(b)
			p.TSO = true
		}
		if total < n {
			return ErrHeaderLen
		}
		if p.IPv4.FragOffset != 0 || p.IPv4.Flags&IPv4MoreFragments != 0 {
			p.Fragment = true
			if p.IPv4.FragOffset != 0 {
				return nil
			}
		}
	case 6:
		if _, err := p.IPv6.Decode(b); err != nil {
			return err
		}
		p.Version = 6
		total = IPv6HeaderSize + int(p.IPv6.PayloadLen)
		end := min(total, len(b))
		proto, o, later, err := skipExtensions(p.IPv6.NextHeader, b[IPv6HeaderSize:end])
		if err != nil {
			return err
		}
		p.Proto, off = proto, IPv6HeaderSize+o
		if later {
			p.Fragment = true
			return nil
		}
	default:
		return ErrNotIP
	}
	if total > len(b) {
		p.Truncated = true
	}
	end := min(total, len(b))
	if off > end {
		return ErrShort
	}
	p.upper, p.upperLen = b[off:end], total-off
	switch {
	case p.Proto == ProtoTCP:
		n, err := p.TCP.Decode(p.upper)
		if err != nil {
			return err
		}
		p.HasTCP = true
		p.Payload = p.upper[n:]
		p.PayloadLen = p.upperLen - n
	case p.Proto == ProtoICMP && p.Version == 4, p.Proto == ProtoICMPv6 && p.Version == 6:
		if err := p.ICMP.Decode(p.upper, p.Version == 6); err != nil {
			return err
		}
		p.HasICMP = true
	}
	return nil
}

// Src returns the source address.
func (p *Packet) Src() netip.Addr {
	if p.Version == 6 {
		return p.IPv6.Src
	}
	return p.IPv4.Src
}

// Dst returns the destination address.
func (p *Packet) Dst() netip.Addr {
	if p.Version == 6 {
		return p.IPv6.Dst
	}
	return p.IPv4.Dst
}

// TTL returns the IPv4 TTL or the IPv6 hop limit.
func (p *Packet) TTL() uint8 {
	if p.Version == 6 {
		return p.IPv6.HopLimit
	}
	return p.IPv4.TTL
}

// ChecksumOK reports whether the TCP or ICMP checksum (and the IPv4 header
// checksum) is valid. A truncated packet cannot be checked and reports true.
func (p *Packet) ChecksumOK(ipHeader []byte) bool {
	if p.Version == 4 && ipHeader != nil && !IPv4ChecksumOK(ipHeader) {
		return false
	}
	if p.Truncated || p.Fragment {
		return true
	}
	switch {
	case p.HasTCP && p.addrs4 != nil: // the pseudo-header from the header's own bytes
		return fold(sum(pseudoSum4(p.addrs4, ProtoTCP, len(p.upper)), p.upper)) == 0xffff
	case p.HasTCP:
		return TransportChecksum(p.Src(), p.Dst(), ProtoTCP, p.upper) == 0
	case p.HasICMP && p.Version == 6:
		return TransportChecksum(p.Src(), p.Dst(), ProtoICMPv6, p.upper) == 0
	case p.HasICMP:
		return Checksum(p.upper) == 0
	}
	return true
}
