package craft

import (
	"net/netip"
	"testing"
)

// A checker asserts one property of a decoded TCP packet, in the style of
// gVisor's checker package: checkTCP(t, p, flags(SYN), mss(1460)).
type checker func(t *testing.T, p *Packet)

func checkTCP(t *testing.T, p *Packet, cs ...checker) {
	t.Helper()
	if !p.HasTCP {
		t.Fatalf("not a tcp packet")
	}
	for _, c := range cs {
		c(t, p)
	}
}

func src(a string) checker {
	return func(t *testing.T, p *Packet) {
		t.Helper()
		if p.Src() != netip.MustParseAddr(a) {
			t.Errorf("src %v, want %s", p.Src(), a)
		}
	}
}

func dst(a string) checker {
	return func(t *testing.T, p *Packet) {
		t.Helper()
		if p.Dst() != netip.MustParseAddr(a) {
			t.Errorf("dst %v, want %s", p.Dst(), a)
		}
	}
}

func ports(s, d uint16) checker {
	return func(t *testing.T, p *Packet) {
		t.Helper()
		if p.TCP.SrcPort != s || p.TCP.DstPort != d {
			t.Errorf("ports %d>%d, want %d>%d", p.TCP.SrcPort, p.TCP.DstPort, s, d)
		}
	}
}

func seq(s Seq) checker {
	return func(t *testing.T, p *Packet) {
		t.Helper()
		if p.TCP.Seq != s {
			t.Errorf("seq %d, want %d", p.TCP.Seq, s)
		}
	}
}

func ack(a Seq) checker {
	return func(t *testing.T, p *Packet) {
		t.Helper()
		if p.TCP.Ack != a {
			t.Errorf("ack %d, want %d", p.TCP.Ack, a)
		}
	}
}

func flags(f Flags) checker {
	return func(t *testing.T, p *Packet) {
		t.Helper()
		if p.TCP.Flags != f {
			t.Errorf("flags %v, want %v", p.TCP.Flags, f)
		}
	}
}

func window(w uint16) checker {
	return func(t *testing.T, p *Packet) {
		t.Helper()
		if p.TCP.Window != w {
			t.Errorf("window %d, want %d", p.TCP.Window, w)
		}
	}
}

func mss(m uint16) checker {
	return func(t *testing.T, p *Packet) {
		t.Helper()
		if got, ok := p.TCP.MSS(); !ok || got != m {
			t.Errorf("mss %d (%v), want %d", got, ok, m)
		}
	}
}

func noMSS() checker {
	return func(t *testing.T, p *Packet) {
		t.Helper()
		if _, ok := p.TCP.MSS(); ok {
			t.Error("unexpected mss option")
		}
	}
}

func wscale(s uint8) checker {
	return func(t *testing.T, p *Packet) {
		t.Helper()
		if got, ok := p.TCP.WindowScale(); !ok || got != s {
			t.Errorf("wscale %d (%v), want %d", got, ok, s)
		}
	}
}

func sackOK(want bool) checker {
	return func(t *testing.T, p *Packet) {
		t.Helper()
		if p.TCP.SACKPermitted() != want {
			t.Errorf("sackOK %v, want %v", !want, want)
		}
	}
}

func ts(val, ecr uint32) checker {
	return func(t *testing.T, p *Packet) {
		t.Helper()
		if v, e, ok := p.TCP.Timestamps(); !ok || v != val || e != ecr {
			t.Errorf("TS val %d ecr %d (%v), want %d %d", v, e, ok, val, ecr)
		}
	}
}

func noTS() checker {
	return func(t *testing.T, p *Packet) {
		t.Helper()
		if _, _, ok := p.TCP.Timestamps(); ok {
			t.Error("unexpected timestamps option")
		}
	}
}

func checksumOK() checker {
	return func(t *testing.T, p *Packet) {
		t.Helper()
		if !p.ChecksumOK(nil) {
			t.Error("bad checksum")
		}
	}
}
