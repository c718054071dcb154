package craft

import (
	"encoding/binary"
	"strings"
)

// Encaps is the set of encapsulations a frame's innermost IP datagram was
// found inside (see Decap).
type Encaps uint16

// The encapsulations Decap steps through, link layer first.
const (
	EncLLC        Encaps = 1 << iota // IEEE 802.2 LLC/SNAP
	EncPBB                           // IEEE 802.1ah provider backbone bridging
	EncMPLS                          // an MPLS label stack (and an Ethernet pseudowire)
	EncPPPoE                         // a PPPoE session
	EncIPinIP                        // IPv4 or IPv6 inside IPv4 or IPv6 (IP-in-IP, 6in4, 4in6)
	EncGRE                           // GRE, including PPTP's enhanced GRE and Ethernet over GRE
	EncERSPAN                        // ERSPAN type II or III (inside GRE)
	EncVXLAN                         // VXLAN, UDP port 4789
	EncGeneve                        // Geneve, UDP port 6081
	EncGTPU                          // GTP-U, UDP port 2152
	EncTeredo                        // Teredo, UDP port 3544
	EncAYIYA                         // AYIYA ("anything in anything"), UDP port 5072
	EncFabricPath                    // Cisco FabricPath, EtherType 0x8903
	numEncaps     = iota
)

var encNames = [numEncaps]string{"llc", "pbb", "mpls", "pppoe", "ipip", "gre", "erspan", "vxlan", "geneve", "gtpu", "teredo", "ayiya", "fabricpath"}

// String names the encapsulations, outermost kind first: "gre,erspan".
func (e Encaps) String() string {
	if e == 0 {
		return ""
	}
	var b strings.Builder
	for i, n := range encNames {
		if e&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(n)
		}
	}
	return b.String()
}

// UDP ports of the tunnels Decap recognizes.
const (
	portVXLAN  = 4789
	portGeneve = 6081
	portGTPU   = 2152
	portTeredo = 3544
	portAYIYA  = 5072
)

const (
	etherTypeMPLS   = 0x8847
	etherTypeMPLSMC = 0x8848
	etherTypePPPoE  = 0x8864
	etherTypePBB    = 0x88e7
	etherTypeBridge = 0x6558 // transparent Ethernet bridging, in GRE and Geneve
	etherTypeERSPAN = 0x88be // ERSPAN type II
	etherTypeERSPN3 = 0x22eb // ERSPAN type III
	etherTypePPP    = 0x880b // PPTP's enhanced GRE
)

// maxNesting bounds how many encapsulations Decap steps through, so that a
// crafted frame of tunnels inside tunnels costs a bounded amount of work.
const maxNesting = 4

// Decap returns where the innermost IP datagram of a frame starts and the
// encapsulations around it: what IPOffset finds, then, while that datagram
// is a tunnel (IP-in-IP, 6in4, GRE, ERSPAN, VXLAN, Geneve, GTP-U, Teredo)
// whose payload is itself an IP datagram, the one inside. A tunnel whose
// payload is not IP (or is cut short) is not entered: its outer datagram is
// the answer. It does not allocate.
func Decap(linkType int, b []byte) (int, Encaps, error) {
	// The common case first: TCP straight over Ethernet.
	if linkType == LinkEthernet && len(b) >= 54 {
		switch binary.BigEndian.Uint16(b[12:]) {
		case etherTypeIPv4:
			if b[14]>>4 == 4 && b[23] == ProtoTCP {
				return 14, 0, nil
			}
		case etherTypeIPv6:
			if b[14]>>4 == 6 && b[20] == ProtoTCP {
				return 14, 0, nil
			}
		}
	}
	var enc Encaps
	off, err := linkPayload(linkType, b, &enc)
	if err != nil {
		return 0, 0, err
	}
	for range maxNesting {
		in, ok := tunnelPayload(b[off:], &enc)
		if !ok {
			break
		}
		off += in
	}
	return off, enc, nil
}

// tunnelPayload returns the offset of the IP datagram that the IP datagram
// ip carries, if ip is a tunnel.
func tunnelPayload(ip []byte, enc *Encaps) (int, bool) {
	hl, proto, ok := ipHeader(ip)
	if !ok {
		return 0, false
	}
	p := ip[hl:]
	var in int
	var kind Encaps
	switch proto {
	case ProtoTCP:
		return 0, false
	case 4, 41: // IPv4 or IPv6 inside
		in, kind = 0, EncIPinIP
	case 47:
		in, kind, ok = grePayload(p)
	case 17:
		in, kind, ok = udpTunnelPayload(p)
	default:
		return 0, false
	}
	if !ok || !looksIP(p[in:]) {
		return 0, false
	}
	*enc |= kind
	return hl + in, true
}

// ipHeader returns the header length and protocol of an unfragmented IP
// datagram (IPv6 extension headers other than fragments are stepped over).
func ipHeader(ip []byte) (int, uint8, bool) {
	if len(ip) < 20 {
		return 0, 0, false
	}
	switch ip[0] >> 4 {
	case 4:
		hl := int(ip[0]&0x0f) * 4
		if hl < 20 || len(ip) < hl || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return 0, 0, false // a fragment: its payload is not a whole tunnel packet
		}
		return hl, ip[9], true
	case 6:
		if len(ip) < 40 {
			return 0, 0, false
		}
		next, hl := ip[6], 40
		for range 4 {
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(ip) < hl+8 {
					return 0, 0, false
				}
				next, hl = ip[hl], hl+(int(ip[hl+1])+1)*8
			default:
				return hl, next, len(ip) >= hl
			}
		}
	}
	return 0, 0, false
}

// looksIP reports whether b starts with an IPv4 or IPv6 header.
func looksIP(b []byte) bool {
	if len(b) < 20 {
		return false
	}
	switch b[0] >> 4 {
	case 4:
		return b[0]&0x0f >= 5
	case 6:
		return len(b) >= 40
	}
	return false
}

// grePayload reads a GRE header (RFC 2784/2890, and PPTP's version 1) and
// returns the offset of the IP datagram it carries.
func grePayload(p []byte) (int, Encaps, bool) {
	if len(p) < 4 {
		return 0, 0, false
	}
	flags, proto := binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:])
	if flags&0x4000 != 0 { // source routing (RFC 1701): not stepped over
		return 0, 0, false
	}
	n := 4
	switch flags & 7 { // version
	case 0:
		for _, bit := range []uint16{0x8000, 0x2000, 0x1000} { // checksum, key, sequence
			if flags&bit != 0 {
				n += 4
			}
		}
	case 1: // enhanced GRE: key (payload length, call ID) always, then sequence and ack
		n += 4
		if flags&0x1000 != 0 {
			n += 4
		}
		if flags&0x0080 != 0 {
			n += 4
		}
		if proto != etherTypePPP || len(p) < n {
			return 0, 0, false
		}
		in, ok := pppPayload(p[n:])
		return n + in, EncGRE, ok
	default:
		return 0, 0, false
	}
	if len(p) < n {
		return 0, 0, false
	}
	switch proto {
	case etherTypeIPv4, etherTypeIPv6:
		return n, EncGRE, true
	case etherTypeBridge:
		in, ok := innerEther(p[n:])
		return n + in, EncGRE, ok
	case etherTypeERSPAN: // type II: an 8-byte header, then the mirrored frame
		in, ok := innerEther(p[min(n+8, len(p)):])
		return n + 8 + in, EncGRE | EncERSPAN, ok
	case etherTypeERSPN3: // type III: 12 bytes, and 8 more with the O bit
		if len(p) < n+12 {
			return 0, 0, false
		}
		h := 12
		if p[n+11]&1 != 0 {
			h += 8
		}
		in, ok := innerEther(p[min(n+h, len(p)):])
		return n + h + in, EncGRE | EncERSPAN, ok
	}
	return 0, 0, false
}

// pppPayload steps over PPP's address, control and protocol fields to an IP
// datagram.
func pppPayload(p []byte) (int, bool) {
	n := 0
	if len(p) >= 2 && p[0] == 0xff && p[1] == 0x03 {
		n = 2
	}
	if len(p) < n+1 {
		return 0, false
	}
	proto := uint16(p[n])
	if proto&1 == 0 { // a two-byte protocol field
		if len(p) < n+2 {
			return 0, false
		}
		proto, n = binary.BigEndian.Uint16(p[n:]), n+1
	}
	n++
	return n, proto == 0x21 || proto == 0x57
}

// udpTunnelPayload returns the offset of the IP datagram inside a UDP
// tunnel, recognized by its well-known destination (or source) port.
func udpTunnelPayload(p []byte) (int, Encaps, bool) {
	if len(p) < 8 {
		return 0, 0, false
	}
	src, dst := binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:])
	port := dst
	if port != portVXLAN && port != portGeneve && port != portGTPU && port != portTeredo && port != portAYIYA {
		port = src
	}
	u := p[8:]
	switch port {
	case portVXLAN: // 8 bytes with the I flag set, then an Ethernet frame
		if len(u) < 8 || u[0]&0x08 == 0 {
			return 0, 0, false
		}
		in, ok := innerEther(u[8:])
		return 8 + 8 + in, EncVXLAN, ok
	case portGeneve: // version 0, options, then the protocol's payload
		if len(u) < 8 || u[0]>>6 != 0 {
			return 0, 0, false
		}
		h := 8 + int(u[0]&0x3f)*4
		if len(u) < h {
			return 0, 0, false
		}
		switch binary.BigEndian.Uint16(u[2:]) {
		case etherTypeIPv4, etherTypeIPv6:
			return 8 + h, EncGeneve, true
		case etherTypeBridge:
			in, ok := innerEther(u[h:])
			return 8 + h + in, EncGeneve, ok
		}
	case portGTPU:
		h, ok := gtpuHeader(u)
		return 8 + h, EncGTPU, ok
	case portAYIYA:
		// AYIYA (the SixXS draft, as Zeek decodes it): identity length
		// (log2) and type, signature length (in 4-byte words) and hash,
		// authentication and opcode, next header; a 4-byte epoch; the
		// identity and the signature; then the datagram. Opcode 1 forwards.
		if len(u) < 8 || u[2]&0x0f != 1 || (u[3] != 4 && u[3] != 41) {
			return 0, 0, false
		}
		h := 8 + 1<<(u[0]>>4) + int(u[1]>>4)*4
		return 8 + h, EncAYIYA, len(u) > h && looksIP(u[h:])
	case portTeredo: // IPv6 right after UDP, maybe behind an origin indication
		h := 0
		if len(u) >= 8 && u[0] == 0 && u[1] == 0 {
			h = 8
		}
		return 8 + h, EncTeredo, len(u) > h && u[h]>>4 == 6
	}
	return 0, 0, false
}

// gtpuHeader returns the length of a GTP-U (version 1) G-PDU header with its
// extension headers.
func gtpuHeader(u []byte) (int, bool) {
	if len(u) < 8 || u[0]>>5 != 1 || u[0]&0x10 == 0 || u[1] != 0xff {
		return 0, false
	}
	if u[0]&0x07 == 0 {
		return 8, true
	}
	if len(u) < 12 { // sequence number, N-PDU number, next extension type
		return 0, false
	}
	n, next := 12, u[11]
	for i := 0; next != 0; i++ {
		if i == maxNesting || len(u) < n+1 || u[n] == 0 {
			return 0, false
		}
		l := int(u[n]) * 4
		if len(u) < n+l {
			return 0, false
		}
		next, n = u[n+l-1], n+l
	}
	return n, true
}

// innerEther returns where the IP datagram of an Ethernet frame carried in
// a tunnel starts.
func innerEther(b []byte) (int, bool) {
	if len(b) < 14 {
		return 0, false
	}
	off, err := etherPayload(b, 12, nil)
	return off, err == nil
}
