package packettest

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/tcpprobe/tcpprobe/craft"
)

// Tunnels names the encapsulations Encapsulate builds, each with what
// craft.Encaps calls it.
var Tunnels = map[string]string{
	"gre": "gre", "gretap": "gre", "erspan": "gre,erspan", "ipip": "ipip", "vxlan": "vxlan", "geneve": "geneve",
	"gtpu": "gtpu", "mpls": "mpls", "mpls-pw": "mpls", "pppoe": "pppoe", "llc": "llc", "pbb": "pbb",
	"ayiya": "ayiya", "fabricpath": "fabricpath",
}

// Encapsulate wraps the IP datagram ip in the tunnel kind (a key of
// Tunnels) and returns an Ethernet frame, laid out as each protocol's
// specification says, between 198.18.9.1 and 198.18.9.2; nil when the kind
// cannot carry a datagram that long (LLC's 802.3 length field). A datagram
// cut short by the capture's snap length keeps its length on the wire: the
// length fields of the tunnel count the bytes that were not captured.
func Encapsulate(kind string, ip []byte) []byte {
	et := uint16(0x0800)
	wire := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 == 6 {
		et = 0x86dd
		wire = 40 + int(binary.BigEndian.Uint16(ip[4:]))
	}
	uncaptured := max(wire-len(ip), 0)
	eth := func(t uint16, rest ...[]byte) []byte {
		b := binary.BigEndian.AppendUint16([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2}, t)
		for _, r := range rest {
			b = append(b, r...)
		}
		return b
	}
	over4 := func(proto uint8, parts ...[]byte) []byte {
		var payload []byte
		for _, p := range parts {
			payload = append(payload, p...)
		}
		h := &craft.IPv4{TTL: 64, ID: 1, Protocol: proto, Src: netip.MustParseAddr("198.18.9.1"), Dst: netip.MustParseAddr("198.18.9.2")}
		b := make([]byte, h.HeaderLen(), h.HeaderLen()+len(payload))
		if _, err := h.Encode(b, len(payload)+uncaptured); err != nil {
			panic(err)
		}
		return eth(0x0800, b, payload)
	}
	udp := func(dst uint16, parts ...[]byte) []byte {
		var payload []byte
		for _, p := range parts {
			payload = append(payload, p...)
		}
		h := binary.BigEndian.AppendUint16(nil, 40000)
		h = binary.BigEndian.AppendUint16(h, dst)
		h = binary.BigEndian.AppendUint16(h, uint16(8+len(payload)+uncaptured))
		h = append(h, 0, 0) // no checksum (IPv4)
		return over4(17, h, payload)
	}
	inner := eth(et, ip)[12:] // the EtherType and the datagram
	innerEth := eth(et, ip)
	etb := binary.BigEndian.AppendUint16(nil, et)
	switch kind {
	case "gre":
		return over4(47, []byte{0, 0}, etb, ip)
	case "gretap":
		return over4(47, []byte{0x20, 0, 0x65, 0x58, 0, 0, 0, 7}, innerEth) // with a key
	case "erspan": // type II: GRE with a sequence number, then 8 bytes
		return over4(47, []byte{0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0x01, 0, 0, 0, 0, 0, 0}, innerEth)
	case "ipip":
		proto := uint8(4)
		if et == 0x86dd {
			proto = 41
		}
		return over4(proto, ip)
	case "vxlan":
		return udp(4789, []byte{8, 0, 0, 0, 0, 0, 42, 0}, innerEth)
	case "geneve":
		return udp(6081, []byte{0, 0}, []byte{0x65, 0x58}, []byte{0, 0, 42, 0}, innerEth)
	case "gtpu":
		l := binary.BigEndian.AppendUint16(nil, uint16(wire))
		return udp(2152, []byte{0x30, 0xff}, l, []byte{0, 0, 0, 1}, ip)
	case "mpls": // two labels, then IP
		return eth(0x8847, []byte{0, 1, 0, 64, 0, 1, 1, 64}, ip)
	case "mpls-pw": // a pseudowire: one label, the control word, an Ethernet frame
		return eth(0x8847, []byte{0, 1, 1, 64, 0, 0, 0, 0}, innerEth)
	case "pppoe":
		l := binary.BigEndian.AppendUint16(nil, uint16(wire+2))
		proto := []byte{0, 0x21}
		if et == 0x86dd {
			proto = []byte{0, 0x57}
		}
		return eth(0x8864, []byte{0x11, 0, 0, 1}, l, proto, ip)
	case "llc":
		if wire+8 > 1500 {
			return nil
		}
		return eth(uint16(wire+8), []byte{0xaa, 0xaa, 3, 0, 0, 0}, inner)
	case "pbb": // I-TAG, then the customer's frame
		return eth(0x88e7, []byte{0, 0, 0, 1}, innerEth)
	case "ayiya": // a 16-byte identity (length 2^4), no signature, opcode 1 (forward)
		next := byte(4)
		if et == 0x86dd {
			next = 41
		}
		return udp(5072, []byte{0x41, 0x00, 0x01, next, 0, 0, 0, 1}, make([]byte, 16), ip)
	case "fabricpath": // FTag and TTL, then the classical frame
		return eth(0x8903, []byte{0x00, 0x3f}, innerEth)
	}
	panic(fmt.Sprintf("packettest: no tunnel %q", kind))
}
