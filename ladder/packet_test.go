package ladder

import (
	"net/netip"
	"testing"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/rulebook"
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
	if s.Src != "[2001:db8::2]:7" || s.Line() != "SYN,ACK seq=5 ack=1001 win=65160 hlim=64 len=0 opts=[mss 1440,sackOK]" {
		t.Errorf("%s %q", s.Src, s.Line())
	}
}

// TestBuilderScalesAndRelativeSACK: after both SYNs offered window
// scaling, a segment's row carries its sender's shift (a SYN's does not),
// and SACK edges are made relative to the ISN of the side they cover.
func TestBuilderScalesAndRelativeSACK(t *testing.T) {
	var sides [2]rulebook.Side
	sides[rulebook.Client] = rulebook.Side{ISN: 1000, SawSYN: true, WScale: 7}
	sides[rulebook.Server] = rulebook.Side{ISN: 5000, SawSYN: true, WScale: 10}
	var b Builder
	syn := rulebook.Seg{Num: 1, From: rulebook.Server, Flags: craft.SYN | craft.ACK, Seq: 5000, Ack: 1001}
	if r := b.Segment(&syn, &sides, Packet{}, nil); r.WinShift != 0 {
		t.Errorf("a SYN-ACK's window scaled by %d", r.WinShift)
	}
	ack := rulebook.Seg{Num: 2, From: rulebook.Server, Flags: craft.ACK, Seq: 5001, Ack: 1001}
	opts := []craft.Option{craft.NOPOption(), craft.SACKOption(craft.SACKBlock{Left: 3000, Right: 4000})}
	r := b.Segment(&ack, &sides, Packet{}, opts)
	if r.WinShift != 10 || r.RelSeq != 1 || r.RelAck != 1 || len(r.RelOptions) != 2 || r.RelOptions[1] != "sack 1 {2000:3000}" {
		t.Errorf("row: shift %d rel %d/%d options %q", r.WinShift, r.RelSeq, r.RelAck, r.RelOptions)
	}
	sides[rulebook.Server].WScale = -1 // one side did not offer it: nobody scales
	if r := b.Segment(&ack, &sides, Packet{}, nil); r.WinShift != 0 {
		t.Errorf("scaled by %d without both offers", r.WinShift)
	}
}
