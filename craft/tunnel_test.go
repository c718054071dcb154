package craft

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// Encapsulation builders for tests: each wraps an inner packet the way the
// protocol's RFC (or vendor document) lays it out.

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// ether is an Ethernet header with the given EtherType (or length).
func ether(et uint16) []byte {
	return cat([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2}, be16(et))
}

// outer4 is an IPv4 header carrying proto with payload n bytes long.
func outer4(proto uint8, n int) []byte {
	h := &IPv4{TTL: 64, Protocol: proto, Src: netip.MustParseAddr("198.18.9.1"), Dst: netip.MustParseAddr("198.18.9.2")}
	b := make([]byte, h.HeaderLen())
	if _, err := h.Encode(b, n); err != nil {
		panic(err)
	}
	return b
}

// outer6 is an IPv6 header carrying next.
func outer6(next uint8, n int) []byte {
	h := &IPv6{HopLimit: 64, NextHeader: next, Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2")}
	b := make([]byte, 40)
	if _, err := h.Encode(b, n); err != nil {
		panic(err)
	}
	return b
}

// udp is a UDP header to port dst around payload.
func udp(src, dst uint16, payload []byte) []byte {
	return cat(be16(src), be16(dst), be16(uint16(8+len(payload))), be16(0), payload)
}

func over4(proto uint8, payload []byte) []byte { return cat(outer4(proto, len(payload)), payload) }

func TestDecap(t *testing.T) {
	inner := synV4
	innerEth := cat(ether(etherTypeIPv4), inner)
	gre := func(flags, proto uint16, extra int, payload []byte) []byte {
		return cat(be16(flags), be16(proto), make([]byte, extra), payload)
	}
	mpls := func(label uint32, bottom bool) []byte {
		v := label<<12 | 64
		if bottom {
			v |= 1 << 8
		}
		return binary.BigEndian.AppendUint32(nil, v)
	}
	tests := []struct {
		name  string
		link  int
		frame []byte
		inner []byte // nil: the frame's IP datagram is the answer
		enc   Encaps
	}{
		{"plain", LinkRaw, inner, inner, 0},
		{"ipip", LinkRaw, over4(4, inner), inner, EncIPinIP},
		{"4in6", LinkRaw, cat(outer6(4, len(inner)), inner), inner, EncIPinIP},
		{"gre", LinkRaw, over4(47, gre(0, etherTypeIPv4, 0, inner)), inner, EncGRE},
		{"gre key+seq+csum", LinkRaw, over4(47, gre(0xb000, etherTypeIPv4, 12, inner)), inner, EncGRE},
		{"gre routing", LinkRaw, over4(47, gre(0x4000, etherTypeIPv4, 0, inner)), nil, 0},
		{"gretap", LinkRaw, over4(47, gre(0, etherTypeBridge, 0, innerEth)), inner, EncGRE},
		{"erspan II", LinkRaw, over4(47, gre(0x1000, etherTypeERSPAN, 4+8, innerEth)), inner, EncGRE | EncERSPAN},
		{"erspan III", LinkRaw, over4(47, gre(0x1000, etherTypeERSPN3, 4+12, innerEth)), inner, EncGRE | EncERSPAN},
		{"pptp", LinkRaw, over4(47, gre(0x3081, etherTypePPP, 12, cat([]byte{0xff, 0x03, 0x00, 0x21}, inner))), inner, EncGRE},
		{"pptp compressed", LinkRaw, over4(47, gre(0x2001, etherTypePPP, 4, cat([]byte{0x21}, inner))), inner, EncGRE},
		{"vxlan", LinkRaw, over4(17, udp(5000, portVXLAN, cat([]byte{8, 0, 0, 0, 0, 0, 42, 0}, innerEth))), inner, EncVXLAN},
		{"vxlan without I", LinkRaw, over4(17, udp(5000, portVXLAN, cat([]byte{0, 0, 0, 0, 0, 0, 42, 0}, innerEth))), nil, 0},
		{"geneve ip", LinkRaw, over4(17, udp(5000, portGeneve, cat([]byte{1, 0, 0x08, 0x00, 0, 0, 42, 0, 1, 2, 3, 4}, inner))), inner, EncGeneve},
		{"geneve eth", LinkRaw, over4(17, udp(5000, portGeneve, cat([]byte{0, 0, 0x65, 0x58, 0, 0, 42, 0}, innerEth))), inner, EncGeneve},
		{"gtp-u", LinkRaw, over4(17, udp(2152, portGTPU, cat([]byte{0x30, 0xff, 0, 40, 0, 0, 0, 1}, inner))), inner, EncGTPU},
		{"gtp-u ext", LinkRaw, over4(17, udp(2152, portGTPU, cat([]byte{0x34, 0xff, 0, 48, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0x10, 0x09, 0}, inner))), inner, EncGTPU},
		{"gtp-c", LinkRaw, over4(17, udp(2152, portGTPU, cat([]byte{0x30, 0x01, 0, 40, 0, 0, 0, 1}, inner))), nil, 0},
		{"teredo", LinkRaw, over4(17, udp(portTeredo, 40000, cat(outer6(59, 0)))), outer6(59, 0), EncTeredo},
		{"teredo origin", LinkRaw, over4(17, udp(portTeredo, 40000, cat([]byte{0, 0, 1, 2, 3, 4, 5, 6}, outer6(59, 0)))), outer6(59, 0), EncTeredo},
		{"dns is not a tunnel", LinkRaw, over4(17, udp(53, 40000, inner)), nil, 0},
		{"fragmented gre", LinkRaw, func() []byte {
			b := over4(47, gre(0, etherTypeIPv4, 0, inner))
			b[6] |= 0x20 // more fragments
			return b
		}(), nil, 0},
		{"gre of garbage", LinkRaw, over4(47, gre(0, etherTypeIPv4, 0, []byte{1, 2, 3})), nil, 0},
		{"vlan vlan", LinkEthernet, cat(ether(etherTypeQinQ), []byte{0, 1}, be16(etherTypeVLAN), []byte{0, 2}, be16(etherTypeIPv4), inner), inner, 0},
		{"mpls", LinkEthernet, cat(ether(etherTypeMPLS), mpls(16, false), mpls(17, true), inner), inner, EncMPLS},
		{"mpls pseudowire", LinkEthernet, cat(ether(etherTypeMPLS), mpls(16, true), []byte{0, 0, 0, 0}, innerEth), inner, EncMPLS},
		{"pppoe", LinkEthernet, cat(ether(etherTypePPPoE), []byte{0x11, 0, 0, 1}, be16(uint16(len(inner)+2)), be16(0x21), inner), inner, EncPPPoE},
		{"llc snap", LinkEthernet, cat(ether(uint16(len(inner)+8)), []byte{0xaa, 0xaa, 3, 0, 0, 0}, be16(etherTypeIPv4), inner), inner, EncLLC},
		{"pbb", LinkEthernet, cat(ether(etherTypePBB), []byte{0, 0, 0, 1}, innerEth), inner, EncPBB},
		{"ayiya v4", LinkRaw, over4(17, udp(40000, portAYIYA, cat([]byte{0x41, 0x50, 0x01, 4, 0, 0, 0, 1}, make([]byte, 16+20), inner))), inner, EncAYIYA},
		{"ayiya v6", LinkRaw, over4(17, udp(portAYIYA, 40000, cat([]byte{0x41, 0x00, 0x01, 41, 0, 0, 0, 1}, make([]byte, 16), outer6(59, 0)))), outer6(59, 0), EncAYIYA},
		{"ayiya heartbeat", LinkRaw, over4(17, udp(40000, portAYIYA, cat([]byte{0x41, 0x00, 0x00, 59, 0, 0, 0, 1}, make([]byte, 16)))), nil, 0},
		{"fabricpath", LinkEthernet, cat(ether(etherTypeFabricPath), []byte{0, 0x20}, innerEth), inner, EncFabricPath},
		{"fddi", LinkFDDI, cat([]byte{0x50}, make([]byte, 12), []byte{0xaa, 0xaa, 3, 0, 0, 0}, be16(etherTypeIPv4), inner), inner, EncLLC},
		{"vxlan in mpls", LinkEthernet, cat(ether(etherTypeMPLS), mpls(16, true),
			over4(17, udp(5000, portVXLAN, cat([]byte{8, 0, 0, 0, 0, 0, 42, 0}, innerEth)))), inner, EncMPLS | EncVXLAN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off, enc, err := Decap(tt.link, tt.frame)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.inner
			if want == nil {
				want, _ = skipLink(t, tt.link, tt.frame)
			}
			if got := tt.frame[off:]; string(got) != string(want) {
				t.Errorf("offset %d: %x, want %x", off, got, want)
			}
			if enc != tt.enc {
				t.Errorf("encapsulations %q, want %q", enc, tt.enc)
			}
		})
	}
}

// skipLink is the frame's outermost IP datagram.
func skipLink(t *testing.T, link int, frame []byte) ([]byte, error) {
	off, err := IPOffset(link, frame)
	if err != nil {
		t.Fatal(err)
	}
	return frame[off:], nil
}

func TestEncapsString(t *testing.T) {
	for e, want := range map[Encaps]string{0: "", EncGRE: "gre", EncGRE | EncERSPAN: "gre,erspan", EncMPLS | EncVXLAN: "mpls,vxlan"} {
		if got := e.String(); got != want {
			t.Errorf("%d: %q, want %q", e, got, want)
		}
	}
}

// FuzzDecap checks that tunnel decoding stays within the frame and that
// what it returns as the inner datagram starts like IP.
func FuzzDecap(f *testing.F) {
	f.Add(LinkRaw, over4(47, cat(be16(0), be16(etherTypeIPv4), synV4)))
	f.Add(LinkRaw, over4(17, udp(5000, portGTPU, cat([]byte{0x34, 0xff, 0, 48, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0x10, 0x09, 0}, synV4))))
	f.Add(LinkEthernet, cat(ether(etherTypeMPLS), []byte{0, 1, 1, 64, 0, 0, 0, 0}, ether(etherTypeIPv4), synV4))
	f.Add(LinkEthernet, cat(ether(etherTypePPPoE), []byte{0x11, 0, 0, 1, 0, 0, 0, 0x21}, synV4))
	f.Fuzz(func(t *testing.T, lt int, b []byte) {
		off, enc, err := Decap(lt, b)
		if err != nil {
			return
		}
		if off > len(b) {
			t.Fatalf("offset %d beyond %d bytes", off, len(b))
		}
		if enc&^(EncLLC|EncPBB|EncMPLS|EncPPPoE) != 0 && !looksIP(b[off:]) {
			t.Fatalf("entered a tunnel %q to a non-IP payload %x", enc, b[off:])
		}
	})
}
