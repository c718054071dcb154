package report

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
)

func TestStats(t *testing.T) {
	s := Stats(4, []time.Duration{time.Millisecond, 3 * time.Millisecond})
	if s.Answered != 2 || s.LossPct != 50 || s.MinMs != 1 || s.MaxMs != 3 || s.AvgMs != 2 || math.Abs(s.MdevMs-1) > 1e-9 {
		t.Errorf("%+v", s)
	}
	if got := s.Line(); got != "4 sent, 2 answered, 50.0% loss, rtt min/avg/max/mdev = 1.000/2.000/3.000/1.000 ms" {
		t.Errorf("line %q", got)
	}
	if got := Stats(2, nil).Line(); got != "2 sent, 0 answered, 100.0% loss" {
		t.Errorf("line %q", got)
	}
}

func TestSegmentLine(t *testing.T) {
	seg := craft.Segment{Src: netip.MustParseAddr("2001:db8::2"), Dst: netip.MustParseAddr("2001:db8::1"), TTL: 64,
		TCP: craft.TCP{SrcPort: 7, DstPort: 40000, Seq: 5, Ack: 1001, Flags: craft.SYN | craft.ACK, Window: 65160,
			Options: []craft.Option{craft.MSSOption(1440), craft.SACKPermittedOption()}}}
	var b [128]byte
	n, _ := seg.Encode(b[:])
	var p craft.Packet
	if err := p.Decode(b[:n]); err != nil {
		t.Fatal(err)
	}
	s := SegmentOf(&p)
	if s.Src != "[2001:db8::2]:7" || s.Line() != "SYN,ACK seq=5 ack=1001 win=65160 ttl=64 len=0 opts=[mss 1440,sackOK]" {
		t.Errorf("%s %q", s.Src, s.Line())
	}
}
