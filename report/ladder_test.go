package report

import (
	"strings"
	"testing"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/ladder"
	"github.com/tcpprobe/tcpprobe/rulebook"
)

// TestLadderShowsScaledWindowsRelativeSACKAndIPv6Names: what a reader of
// the ladder needs without doing arithmetic.
func TestLadderShowsScaledWindowsRelativeSACKAndIPv6Names(t *testing.T) {
	rows := []ladder.Row{
		{Num: 1, Dir: ladder.In, Flags: craft.ACK, RelSeq: 1, RelAck: 1, WinShift: 10, Ours: rulebook.Established, Peer: rulebook.Established,
			Packet:     ladder.Packet{Flags: "ACK", Seq: 5001, Ack: 1001, Window: 64, Options: []string{"sack 1 {3000:4000}"}},
			RelOptions: []string{"sack 1 {2000:3000}"}},
		{Num: 2, Dir: ladder.In, ICMP: true, Packet: ladder.Packet{IPv6: true, ICMP: &ladder.ICMP{Description: "port unreachable"}}},
	}
	var b strings.Builder
	Ladder(&b, rows, Style{})
	out := b.String()
	for _, want := range []string{"win=64 (x1024=65536)", "sack 1 {2000:3000}", "ICMPv6 port unreachable"} {
		if !strings.Contains(out, want) {
			t.Errorf("relative ladder lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	Ladder(&b, rows, Style{Absolute: true})
	if !strings.Contains(b.String(), "sack 1 {3000:4000}") {
		t.Errorf("absolute ladder lacks the absolute SACK edges:\n%s", b.String())
	}
	if l := (ladder.Packet{IPv6: true, Flags: "SYN", TTL: 64}).Line(); !strings.Contains(l, "hlim=64") {
		t.Errorf("IPv6 line %q says ttl", l)
	}
}

// TestCompactLadderFits80Columns: every line of a narrow ladder fits.
func TestCompactLadderFits80Columns(t *testing.T) {
	rows := []ladder.Row{{Num: 1, Dir: ladder.Out, Flags: craft.SYN, Ours: rulebook.SynSent, Peer: rulebook.Listen,
		Packet: ladder.Packet{Flags: "SYN", Window: 64240, Options: []string{"mss 1460", "sackOK", "TS val 2835893019 ecr 0", "nop", "wscale 7"}}},
		{Num: 2, Dir: ladder.In, Flags: craft.SYN | craft.ACK, RelAck: 1, Ours: rulebook.Established, Peer: rulebook.SynReceived,
			Packet: ladder.Packet{Flags: "SYN,ACK", Window: 65160, Len: 1000000}}}
	var b strings.Builder
	Ladder(&b, rows, Style{Width: 80})
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		if len(line) > 80 {
			t.Errorf("%d columns: %q", len(line), line)
		}
	}
	if !strings.Contains(b.String(), "SYN_RCVD") || strings.Contains(b.String(), "mss 1460") {
		t.Errorf("compact ladder:\n%s", b.String())
	}
}
