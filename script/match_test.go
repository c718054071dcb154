package script

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/tcpprobe/tcpprobe/craft"
)

var (
	us   = netip.MustParseAddr("198.18.0.1")
	peer = netip.MustParseAddr("198.18.0.2")
)

// wirePacket encodes seg from the peer to us and decodes it, as a
// captured segment.
func wirePacket(t *testing.T, seg craft.Segment) *craft.Packet {
	t.Helper()
	seg.Src, seg.Dst, seg.TTL = peer, us, 64
	seg.TCP.SrcPort, seg.TCP.DstPort = 8080, 40000
	var b [craft.MaxPacket]byte
	n, err := seg.Encode(b[:])
	if err != nil {
		t.Fatal(err)
	}
	var p craft.Packet
	if err := p.Decode(append([]byte(nil), b[:n]...)); err != nil {
		t.Fatal(err)
	}
	return &p
}

func mustPacket(t *testing.T, s string) *Packet {
	t.Helper()
	p, err := parsePacket(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNumbers walks a handshake: our SYN at our ISN, the peer's SYN-ACK
// teaching its ISN and TS clock, our ACK mapped to both, and every way a
// segment can differ from its > line.
func TestNumbers(t *testing.T) {
	n := Numbers{OurISN: 1000}
	syn, err := n.Build(mustPacket(t, "< S 0:0(0) win 32792 <mss 1000,TS val 100 ecr 0>"))
	if err != nil || syn.TCP.Seq != 1000 || syn.TCP.Window != 32792 || len(syn.Payload) != 0 {
		t.Fatalf("SYN %+v %v", syn.TCP, err)
	}
	if _, err := n.Build(mustPacket(t, "< . 1:1(0) ack 1")); err == nil {
		t.Error("ack before the peer's ISN is known: no error")
	}
	synack := wirePacket(t, craft.Segment{TCP: craft.TCP{Seq: 5000, Ack: 1001, Flags: craft.SYN | craft.ACK, Window: 64240,
		Options: []craft.Option{craft.MSSOption(1460), craft.TimestampsOption(777777, 100)}}})
	if d := n.Check(mustPacket(t, "> S. 0:0(0) ack 1 <mss 1460,TS val 9 ecr 100>"), synack); d != nil {
		t.Fatalf("SYN-ACK: %v", d)
	}
	if !n.PeerISNKnown || n.PeerISN != 5000 {
		t.Fatalf("peer ISN %v", n.PeerISN)
	}
	ack, err := n.Build(mustPacket(t, "< . 1:11(10) ack 1 <nop,nop,TS val 110 ecr 9,sack 1:5>"))
	if err != nil {
		t.Fatal(err)
	}
	if ack.TCP.Seq != 1001 || ack.TCP.Ack != 5001 || len(ack.Payload) != 10 || ack.TCP.Window != DefaultWindow {
		t.Errorf("ACK %+v", ack.TCP)
	}
	var tp craft.TCP
	tp.Options = ack.TCP.Options
	if _, ecr, _ := tp.Timestamps(); ecr != 777777 {
		t.Errorf("ecr %d: the script's 9 maps to the peer's 777777", ecr)
	}
	if b := tp.SACKBlocks(nil); len(b) != 1 || b[0].Left != 5001 || b[0].Right != 5005 {
		t.Errorf("our SACK blocks cover the peer's data: %v", b)
	}

	data := wirePacket(t, craft.Segment{TCP: craft.TCP{Seq: 5001, Ack: 1011, Flags: craft.ACK | craft.PSH, Window: 501,
		Options: []craft.Option{craft.NOPOption(), craft.NOPOption(), craft.SACKOption(craft.SACKBlock{Left: 1021, Right: 1031})}},
		Payload: make([]byte, 20)})
	for line, want := range map[string]string{
		"> P. 1:21(20) ack 11 win 501 <nop,nop,sack 21:31>": "",
		"> P. 1:21(20) ack 11 <...>":                        "",
		"> . 1:21(20) ack 11 <...>":                         "flags P., want .",
		"> P. 2:22(20) ack 11 <...>":                        "seq 1, want 2",
		"> P. 1:11(10) ack 11 <...>":                        "length 20, want 10",
		"> P. 1:21(20) ack 12 <...>":                        "ack 11, want 12",
		"> P. 1:21(20) ack 11 win 500 <...>":                "win 501, want 500",
		"> P. 1:21(20) ack 11 <nop,nop,sack 21:32>":         "options <nop,nop,sack 21:31>, want <nop,nop,sack 21:32>",
		"> P. 1:21(20) ack 11":                              "options <nop,nop,sack 21:31>, want <>",
		"> [ect0] P. 1:21(20) ack 11 <...>":                 "ECN noecn, want ect0",
		"> [noecn] P. 1:21(20) ack 11 <...>":                "",
		"> P. 1:21(20) ack 11 urg 1 <...>":                  "urg 0, want 1",
	} {
		got := strings.Join(n.Check(mustPacket(t, line), data), "; ")
		if got != want {
			t.Errorf("%s: %q, want %q", line, got, want)
		}
	}
	if got, want := Describe(">", data, &n), "> P. 1:21(20) ack 11 win 501 <nop,nop,sack 21:31>"; got != want {
		t.Errorf("Describe: %q, want %q", got, want)
	}
}

// TestEcrWithoutScriptValue: when no > line wrote the peer's TSval
// (<...>), a < line's ecr echoes the peer's latest TSval.
func TestEcrWithoutScriptValue(t *testing.T) {
	n := Numbers{OurISN: 1}
	syn := wirePacket(t, craft.Segment{TCP: craft.TCP{Seq: 9, Flags: craft.SYN, Options: []craft.Option{craft.TimestampsOption(4242, 0)}}})
	n.SawPeer(syn)
	if d := n.Check(mustPacket(t, "> S 0:0(0) <...>"), syn); d != nil {
		t.Fatal(d)
	}
	seg, err := n.Build(mustPacket(t, "< S. 0:0(0) ack 1 <TS val 700 ecr 100>"))
	if err != nil {
		t.Fatal(err)
	}
	tp := craft.TCP{Options: seg.TCP.Options}
	if v, ecr, _ := tp.Timestamps(); v != 700 || ecr != 4242 {
		t.Errorf("TS %d %d, want 700 4242", v, ecr)
	}
	if seg.TCP.Ack != 10 {
		t.Errorf("ack %d, want 10", seg.TCP.Ack)
	}
	if _, err := n.Build(mustPacket(t, "< . 1:1(0) ack 1 <...>")); err == nil {
		t.Error("<...> on a < line: no error")
	}
	if _, err := n.Build(mustPacket(t, "< [ect01] . 1:1(0) ack 1")); err == nil {
		t.Error("[ect01] on a < line: no error")
	}
	if seg, _ := n.Build(mustPacket(t, "< [ce] . 1:1(0) ack 1")); seg.TOS != ECNCE {
		t.Errorf("[ce]: TOS %d", seg.TOS)
	}
}
