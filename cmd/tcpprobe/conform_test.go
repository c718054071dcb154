package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/conform"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/internal/tsharktest"
	"github.com/tcpprobe/tcpprobe/lab"
	"github.com/tcpprobe/tcpprobe/lab/labtest"
)

// conformCells runs conform --json and returns its cells by state and probe.
func conformCells(t *testing.T, wantCode int, args ...string) map[[2]string]conform.Cell {
	t.Helper()
	r := tcpprobe(t, append([]string{"conform", "--json", "--parallel", "8"}, args...)...)
	if r.code != wantCode {
		t.Fatalf("conform %v: exit %d, want %d\n%.3000s%s", args, r.code, wantCode, r.stdout, r.stderr)
	}
	cells := map[[2]string]conform.Cell{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var c conform.Cell
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		cells[[2]string{c.State, c.Probe}] = c
	}
	return cells
}

// TestConform runs the whole grid against both stacks through the lab's
// half-close (19), close-first (13) and echo (7) ports: every state is reached, no
// cell fails, and the answers the RFCs fix are there: a RST with the exact
// sequence number resets, one elsewhere in the window draws a challenge ACK
// (RFC 5961 3.2) and keeps the connection, one outside it changes nothing,
// a SYN in ESTABLISHED draws a challenge ACK (RFC 5961 4.2), an ACK to a
// listening port draws a RST. Where the stacks differ the test says how:
// Linux ends TIME_WAIT on a RST (RFC 1337 off), netstack keeps it.
func TestConform(t *testing.T) {
	t.Parallel()
	for _, st := range labStacks(140) {
		t.Run(st.stack, func(t *testing.T) {
			t.Parallel()
			l := labtest.ForTest(t, lab.Config{Name: "conform" + st.suffix, Subnet: st.subnet, Stack: st.stack})
			// The lab's half-close, close-first and echo ports, as the README runs it.
			cells := conformCells(t, exitOK, target(l.Target4, lab.PortHalfClose)+",13,7,17")
			if len(cells) != len(conform.States)*len(conform.Probes) {
				t.Fatalf("%d cells", len(cells))
			}
			for k, c := range cells {
				if c.Verdict == conform.Fail || c.Verdict == conform.Unreachable {
					t.Errorf("%s x %s: %s (%s, %s) %s", k[0], k[1], c.Verdict, c.Reply, c.After, c.Note)
				}
			}
			want := func(state, probe, reply, after string) {
				t.Helper()
				if c := cells[[2]string{state, probe}]; c.Reply != reply || (after != "" && c.After != after) {
					t.Errorf("%s x %s: %s, %s; want %s, %s", state, probe, c.Reply, c.After, reply, after)
				}
			}
			for _, s := range []string{conform.Established, conform.LastAck} {
				want(s, "rst-exact", conform.ReplyNone, conform.AfterDropped)
				want(s, "rst-in-window", conform.ReplyChallengeACK, conform.AfterKept)
				want(s, "rst-out-of-window", conform.ReplyNone, conform.AfterKept)
				want(s, "syn", conform.ReplyChallengeACK, conform.AfterKept)
				want(s, "ack-dup", conform.ReplyNone, conform.AfterKept)
				want(s, "data-old", conform.ReplyACK, conform.AfterKept)
			}
			// CLOSE_WAIT through the hold port: our FIN is in, its side open.
			want(conform.CloseWait, "rst-exact", conform.ReplyNone, conform.AfterDropped)
			want(conform.CloseWait, "rst-in-window", conform.ReplyChallengeACK, conform.AfterKept)
			want(conform.CloseWait, "fin", conform.ReplyACK, conform.AfterKept) // our FIN again
			want(conform.Listen, "ack-new", conform.ReplyRST, "")
			// RFC 9293 3.10.7.2: the RST answering an ACK in LISTEN is <SEQ=SEG.ACK>.
			if c := cells[[2]string{conform.Listen, "ack-new"}]; c.Sent == nil || len(c.Replies) == 0 || c.Replies[0].Seq != uint32(c.Sent.Ack) { // in LISTEN the peer ISN is 0: Sent.Ack is absolute
				t.Errorf("LISTEN x ack-new: sent %+v, replies %+v: want a RST with seq = the probe's ack", c.Sent, c.Replies)
			}
			want(conform.Listen, "syn", conform.ReplySynAck, "")
			want(conform.Established, "data-in-window", conform.ReplyACK, conform.AfterKept) // port 19 reads
			want(conform.Established, "fin", conform.ReplyData, "")                          // and then writes its lines
			tw := conform.AfterDropped
			if st.stack == lab.StackGVisor {
				tw = conform.AfterKept
			}
			want(conform.TimeWait, "rst-exact", conform.ReplyNone, tw)
		})
	}
	// With RFC 1337 on, Linux keeps TIME_WAIT through a RST too.
	t.Run("rfc1337", func(t *testing.T) {
		t.Parallel()
		l := labtest.ForTest(t, lab.Config{Name: "conform37", Subnet: 141, Profiles: []string{"rfc1337"}})
		cells := conformCells(t, exitOK, "--states", "time_wait", "--probes", "rst-exact", target(l.Target4, lab.PortCloseFirst))
		if c := cells[[2]string{conform.TimeWait, "rst-exact"}]; len(cells) != 1 || c.After != conform.AfterKept || c.Verdict != conform.Allowed {
			t.Errorf("TIME_WAIT x rst-exact with rfc1337: %+v", c)
		}
	})
}

// TestConformUsage: bad grids are refused by name.
func TestConformUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"198.18.0.2"},
		{"198.18.0.2:7,x"},
		{"--states", "OPEN", "198.18.0.2:7"},
		{"--probes", "syn,hello", "198.18.0.2:7"},
		{"--parallel", "0", "198.18.0.2:7"},
	} {
		if r := tcpprobe(t, append([]string{"conform"}, args...)...); r.code != exitUsage || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d %q", args, r.code, r.stderr)
		}
	}
}

// TestConformWrite: --write keeps every cell's connection, each packet with
// checksums tshark finds good; one connection (our source port) per cell.
func TestConformWrite(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "confw", Subnet: 176})
	pcap := filepath.Join(t.TempDir(), "grid.pcap")
	cells := conformCells(t, exitOK, "--states", "ESTABLISHED,TIME_WAIT", "--probes", "rst-exact,rst-in-window,ts-old", "--write", pcap, target(l.Target4, 13)+",7")
	if len(cells) != 6 {
		t.Fatalf("%d cells", len(cells))
	}
	r, err := capture.OpenFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ports := map[uint16]bool{}
	frames := 0
	for {
		f, err := r.Next()
		if err != nil {
			break
		}
		frames++
		var p craft.Packet
		if off, err := craft.IPOffset(f.LinkType, f.Data); err == nil && p.Decode(f.Data[off:]) == nil && p.HasTCP && p.Src() == l.Host4 {
			ports[p.TCP.SrcPort] = true
		}
	}
	if len(ports) != 6 || frames < 6*5 {
		t.Errorf("%d frames from %d connections, want 6 connections", frames, len(ports))
	}
	// analyze recognises in the capture the challenge ACKs conform saw
	// (a SYN probe's new ISN would start a new connection there, as a
	// reused port does in Wireshark; RSTs do not).
	want := 0
	for _, c := range cells {
		if c.Reply == conform.ReplyChallengeACK {
			want++
		}
	}
	r2 := tcpprobe(t, "analyze", "--json", pcap)
	got := 0
	for _, line := range strings.Split(strings.TrimSpace(r2.stdout), "\n") {
		var c struct {
			Anomalies map[string]int `json:"anomalies"`
		}
		if json.Unmarshal([]byte(line), &c) == nil {
			got += c.Anomalies["challenge_ack"]
		}
	}
	if want == 0 || got != want {
		t.Errorf("analyze found %d challenge ACKs, conform %d", got, want)
	}
	tsharktest.Need(t)
	tsharktest.AllValid(t, pcap, frames)
}

// TestConformFailsABrokenPeer: a peer that ignores every RST (an nftables
// rule in the target drops them: a crafted MUST violation) fails
// ESTABLISHED x rst-exact, RFC 9293 3.10.7.4's "the connection is reset",
// and conform exits 1; the cells it still gets right pass.
func TestConformFailsABrokenPeer(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "confv", Subnet: 177})
	for _, args := range [][]string{
		{"add", "table", "inet", "tpbroken"},
		{"add", "chain", "inet", "tpbroken", "input", "{ type filter hook input priority 0; }"},
		{"add", "rule", "inet", "tpbroken", "input", "tcp", "dport", "7", "tcp", "flags", "rst", "drop"},
	} {
		if err := l.NS.Run(append([]string{"nft"}, args...)...); err != nil { // gone with the namespace
			t.Fatal(err)
		}
	}
	cells := conformCells(t, exitFailed, "--states", "ESTABLISHED", "--probes", "rst-exact,syn", target(l.Target4, lab.PortEcho))
	if c := cells[[2]string{conform.Established, "rst-exact"}]; c.Verdict != conform.Fail || c.Reply != conform.ReplyNone || c.After != conform.AfterKept {
		t.Errorf("rst-exact: %s (%s, %s)", c.Verdict, c.Reply, c.After)
	}
	if c := cells[[2]string{conform.Established, "syn"}]; c.Verdict != conform.Pass {
		t.Errorf("syn: %s (%s, %s)", c.Verdict, c.Reply, c.After)
	}
}

// TestConformRateLimitedPeer: a peer that sends at most one bare ACK a
// second (an nftables limit in the target, like Linux's
// tcp_invalid_ratelimit but longer) leaves conform's follow-up unanswered
// at first; conform asks again after a pause, keeps the cell's verdict
// and says the peer rate-limits.
func TestConformRateLimitedPeer(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "confr", Subnet: 178})
	for _, args := range [][]string{
		{"add", "table", "inet", "tplimit"},
		{"add", "chain", "inet", "tplimit", "output", "{ type filter hook output priority 0; }"},
		{"add", "rule", "inet", "tplimit", "output", "tcp", "sport", "7", "tcp", "flags", "==", "ack", "limit", "rate", "over", "1/second", "burst", "1", "packets", "drop"},
	} {
		if err := l.NS.Run(append([]string{"nft"}, args...)...); err != nil { // gone with the namespace
			t.Fatal(err)
		}
	}
	cells := conformCells(t, exitOK, "--states", "ESTABLISHED", "--probes", "data-old", target(l.Target4, lab.PortEcho))
	c := cells[[2]string{conform.Established, "data-old"}]
	if c.Verdict != conform.Pass || c.After != conform.AfterKept || !strings.Contains(c.Note, "rate-limits") {
		t.Errorf("data-old: %s (%s, %s) %q", c.Verdict, c.Reply, c.After, c.Note)
	}
}
