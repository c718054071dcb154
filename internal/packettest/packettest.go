// Package packettest asserts on decoded packets with small checkers that
// compose, in the style of gVisor's checker package:
//
//	packettest.CheckTCP(t, &p, packettest.Flags(craft.SYN), packettest.MSS(1460))
//
// craft's, endpoint's and the workloads' tests share them.
package packettest

import (
	"net/netip"
	"testing"

	"github.com/tcpprobe/tcpprobe/craft"
)

// Checker asserts one property of a decoded TCP packet.
type Checker func(t *testing.T, p *craft.Packet)

// CheckTCP fails t unless p is a TCP packet with every property.
func CheckTCP(t *testing.T, p *craft.Packet, cs ...Checker) {
	t.Helper()
	if !p.HasTCP {
		t.Fatalf("not a tcp packet")
	}
	for _, c := range cs {
		c(t, p)
	}
}

// Src checks the source address.
func Src(a string) Checker {
	return func(t *testing.T, p *craft.Packet) {
		t.Helper()
		if p.Src() != netip.MustParseAddr(a) {
			t.Errorf("src %v, want %s", p.Src(), a)
		}
	}
}

// Dst checks the destination address.
func Dst(a string) Checker {
	return func(t *testing.T, p *craft.Packet) {
		t.Helper()
		if p.Dst() != netip.MustParseAddr(a) {
			t.Errorf("dst %v, want %s", p.Dst(), a)
		}
	}
}

// Ports checks the source and destination ports.
func Ports(s, d uint16) Checker {
	return func(t *testing.T, p *craft.Packet) {
		t.Helper()
		if p.TCP.SrcPort != s || p.TCP.DstPort != d {
			t.Errorf("ports %d>%d, want %d>%d", p.TCP.SrcPort, p.TCP.DstPort, s, d)
		}
	}
}

// Seq checks the sequence number.
func Seq(s craft.Seq) Checker {
	return func(t *testing.T, p *craft.Packet) {
		t.Helper()
		if p.TCP.Seq != s {
			t.Errorf("seq %d, want %d", p.TCP.Seq, s)
		}
	}
}

// Ack checks the acknowledgment number.
func Ack(a craft.Seq) Checker {
	return func(t *testing.T, p *craft.Packet) {
		t.Helper()
		if p.TCP.Ack != a {
			t.Errorf("ack %d, want %d", p.TCP.Ack, a)
		}
	}
}

// Flags checks the TCP flags, all of them.
func Flags(f craft.Flags) Checker {
	return func(t *testing.T, p *craft.Packet) {
		t.Helper()
		if p.TCP.Flags != f {
			t.Errorf("flags %v, want %v", p.TCP.Flags, f)
		}
	}
}

// Window checks the window field.
func Window(w uint16) Checker {
	return func(t *testing.T, p *craft.Packet) {
		t.Helper()
		if p.TCP.Window != w {
			t.Errorf("window %d, want %d", p.TCP.Window, w)
		}
	}
}

// MSS checks the MSS option's value.
func MSS(m uint16) Checker {
	return func(t *testing.T, p *craft.Packet) {
		t.Helper()
		if got, ok := p.TCP.MSS(); !ok || got != m {
			t.Errorf("mss %d (%v), want %d", got, ok, m)
		}
	}
}

// NoMSS checks that there is no MSS option.
func NoMSS() Checker {
	return func(t *testing.T, p *craft.Packet) {
		t.Helper()
		if _, ok := p.TCP.MSS(); ok {
			t.Error("unexpected mss option")
		}
	}
}

// WScale checks the window scale option's shift.
func WScale(s uint8) Checker {
	return func(t *testing.T, p *craft.Packet) {
		t.Helper()
		if got, ok := p.TCP.WindowScale(); !ok || got != s {
			t.Errorf("wscale %d (%v), want %d", got, ok, s)
		}
	}
}

// SACKOK checks whether SACK-permitted is present.
func SACKOK(want bool) Checker {
	return func(t *testing.T, p *craft.Packet) {
		t.Helper()
		if p.TCP.SACKPermitted() != want {
			t.Errorf("sackOK %v, want %v", !want, want)
		}
	}
}

// TS checks the timestamps option's values.
func TS(val, ecr uint32) Checker {
	return func(t *testing.T, p *craft.Packet) {
		t.Helper()
		if v, e, ok := p.TCP.Timestamps(); !ok || v != val || e != ecr {
			t.Errorf("TS val %d ecr %d (%v), want %d %d", v, e, ok, val, ecr)
		}
	}
}

// NoTS checks that there is no timestamps option.
func NoTS() Checker {
	return func(t *testing.T, p *craft.Packet) {
		t.Helper()
		if _, _, ok := p.TCP.Timestamps(); ok {
			t.Error("unexpected timestamps option")
		}
	}
}

// ChecksumOK checks the IPv4 header and TCP checksums.
func ChecksumOK() Checker {
	return func(t *testing.T, p *craft.Packet) {
		t.Helper()
		if !p.ChecksumOK(nil) {
			t.Error("bad checksum")
		}
	}
}
