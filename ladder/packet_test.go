package ladder

import (
	"net/netip"
	"testing"

	"github.com/tcpprobe/tcpprobe/craft"
)

func TestPacketLine(t *testing.T) {
	seg := craft.Segment{Src: netip.MustParseAddr("2001:db8::2"), Dst: netip.MustParseAddr("2001:db8::1"), TTL: 64,
		TCP: craft.TCP{SrcPort: 7, DstPort: 40000, Seq: 5, Ack: 1001, Flags: craft.SYN | craft.ACK, Window: 65160,
			Options: []craft.Option{craft.MSSOption(1440), craft.SACKPermittedOption()}}}
	var b [128]byte
	n, _ := seg.Encode(b[:])
	var p craft.Packet
	if err := p.Decode(b[:n]); err != nil {
		t.Fatal(err)
	}
	s := PacketOf(&p)
	if s.Src != "[2001:db8::2]:7" || s.Line() != "SYN,ACK seq=5 ack=1001 win=65160 ttl=64 len=0 opts=[mss 1440,sackOK]" {
		t.Errorf("%s %q", s.Src, s.Line())
	}
}
