//go:build linux

package wire

import (
	"net/netip"
	"testing"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/inject"
)

func TestLabOnly(t *testing.T) {
	t.Setenv(LabOnlyEnv, "1")
	for _, tc := range []struct {
		iface string
		ok    bool
	}{{"lo", true}, {"tplab", true}, {"eth0", false}, {"wlan0", false}} {
		err := labOnly(inject.Route{Dst: netip.MustParseAddr("2001:db8::2"), Iface: tc.iface})
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.iface, err)
		}
	}
	t.Setenv(LabOnlyEnv, "")
	if err := labOnly(inject.Route{Iface: "eth0"}); err != nil {
		t.Errorf("unset: %v", err)
	}
}

func TestFlowMatches(t *testing.T) {
	local, remote := netip.MustParseAddrPort("198.18.0.1:40000"), netip.MustParseAddrPort("198.18.0.2:7")
	mk := func(src, dst netip.AddrPort) *craft.Packet {
		seg := craft.Segment{Src: src.Addr(), Dst: dst.Addr(), TTL: 64, TCP: craft.TCP{SrcPort: src.Port(), DstPort: dst.Port(), Flags: craft.ACK}}
		var b [64]byte
		n, _ := seg.Encode(b[:])
		p := new(craft.Packet)
		if err := p.Decode(append([]byte(nil), b[:n]...)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if d, ok := FlowMatches(mk(local, remote), local, remote); !ok || d != Out {
		t.Error("outbound segment")
	}
	if d, ok := FlowMatches(mk(remote, local), local, remote); !ok || d != In {
		t.Error("inbound segment")
	}
	if _, ok := FlowMatches(mk(remote, netip.MustParseAddrPort("198.18.0.1:40001")), local, remote); ok {
		t.Error("other port matched")
	}
	// An ICMP error quoting our segment.
	var q [64]byte
	seg := craft.Segment{Src: local.Addr(), Dst: remote.Addr(), TTL: 64, TCP: craft.TCP{SrcPort: local.Port(), DstPort: remote.Port(), Seq: 9, Flags: craft.SYN}}
	n, _ := seg.Encode(q[:])
	var b [256]byte
	m, _ := craft.BuildICMPError(b[:], remote.Addr(), local.Addr(), 3, 3, 0, q[:n])
	var p craft.Packet
	if err := p.Decode(b[:m]); err != nil {
		t.Fatal(err)
	}
	if d, ok := FlowMatches(&p, local, remote); !ok || d != In {
		t.Error("icmp error about our flow")
	}
	if _, ok := FlowMatches(&p, local, netip.MustParseAddrPort("198.18.0.2:8")); ok {
		t.Error("icmp error about another flow matched")
	}
}
