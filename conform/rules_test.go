package conform

import (
	"slices"
	"strings"
	"testing"
)

// TestExpectations holds the cells whose answers the RFCs fix, one line
// each: the reply and fate seen, and the verdict.
func TestExpectations(t *testing.T) {
	for _, tt := range []struct {
		state, probe, reply, after, want string
	}{
		{Listen, "syn", ReplySynAck, AfterUnknown, Pass},
		{Listen, "ack-new", ReplyRST, AfterUnknown, Pass},
		{Listen, "ack-new", ReplyNone, AfterUnknown, Fail},
		{Listen, "rst-exact", ReplyNone, AfterUnknown, Pass},
		{Listen, "rst-exact", ReplyRST, AfterUnknown, Fail}, // a RST is never answered with a RST
		{SynReceived, "rst-exact", ReplyNone, AfterDropped, Pass},
		{SynReceived, "ack-new", ReplyRST, AfterDropped, Pass},
		{SynReceived, "syn-same", ReplySynAck, AfterKept, Pass},
		{Established, "rst-exact", ReplyNone, AfterDropped, Pass},
		{Established, "rst-exact", ReplyNone, AfterKept, Fail},
		{Established, "rst-in-window", ReplyChallengeACK, AfterKept, Pass},
		{Established, "rst-in-window", ReplyNone, AfterDropped, Allowed}, // RFC 793, before RFC 5961
		{Established, "rst-out-of-window", ReplyNone, AfterKept, Pass},
		{Established, "rst-out-of-window", ReplyChallengeACK, AfterKept, Allowed},
		{Established, "rst-out-of-window", ReplyNone, AfterDropped, Fail}, // a blind reset worked
		{Established, "syn", ReplyChallengeACK, AfterKept, Pass},
		{Established, "syn", ReplyRST, AfterDropped, Allowed},
		{Established, "syn", ReplySynAck, AfterKept, Fail},
		{Established, "ack-dup", ReplyNone, AfterKept, Pass},
		{Established, "ack-dup", ReplyRST, AfterDropped, Fail},
		{Established, "data-in-window", ReplyData, AfterKept, Pass},
		{Established, "data-old", ReplyACK, AfterKept, Pass},
		{Established, "no-flags", ReplyNone, AfterKept, Pass},
		{Established, "no-flags", ReplyRST, AfterDropped, Fail},
		{LastAck, "data-in-window", ReplyRST, AfterDropped, Allowed},
		{TimeWait, "rst-exact", ReplyNone, AfterDropped, Pass},
		{TimeWait, "rst-exact", ReplyNone, AfterKept, Allowed}, // RFC 1337
		{TimeWait, "syn", ReplySynAck, AfterDropped, Pass},     // RFC 6191 reopening
		{TimeWait, "syn-same", ReplyNone, AfterKept, Allowed},
		{Established, "fin", ReplyACK, AfterKept, Pass},
		{Established, "rst-exact", ReplyNone, AfterUnknown, Pass}, // an unknown fate does not decide
		{Established, "syn-in-window", ReplyChallengeACK, AfterKept, Pass},
		{Established, "syn-in-window", ReplySynAck, AfterKept, Fail},
		{Established, "syn-ack-unsolicited", ReplyChallengeACK, AfterKept, Pass},
		{Established, "ack-old", ReplyACK, AfterKept, Pass},
		{Established, "ack-old", ReplyRST, AfterDropped, Fail}, // RFC 5961 5.2: discard and ACK
		{Established, "fin-data", ReplyACK, AfterKept, Pass},
		{Listen, "syn-ack-unsolicited", ReplyRST, AfterUnknown, Pass},
		{Listen, "ack-old", ReplyNone, AfterUnknown, Fail},
		{SynReceived, "ack-old", ReplyRST, AfterKept, Pass},
		{TimeWait, "syn-ack-unsolicited", ReplyChallengeACK, AfterKept, Pass},
		{TimeWait, "syn-ack-unsolicited", ReplySynAck, AfterKept, Fail},
		{LastAck, "fin-data", ReplyRST, AfterDropped, Allowed},
		{Established, "urg", ReplyACK, AfterKept, Pass},
		{Established, "ts-old", ReplyACK, AfterKept, Pass},
		{Established, "ts-old", ReplyRST, AfterDropped, Fail}, // PAWS drops, it does not reset
		{Listen, "urg", ReplyRST, AfterUnknown, Pass},
		{FinWait2, "ts-old", ReplyRST, AfterDropped, Allowed}, // netstack: the closed application's RST before PAWS
	} {
		r := Expect(tt.state, tt.probe)
		if r == nil {
			t.Errorf("%s x %s: no rule", tt.state, tt.probe)
			continue
		}
		if got := r.Judge(tt.reply, tt.after); got != tt.want {
			t.Errorf("%s x %s: %s, %s judged %s, want %s", tt.state, tt.probe, tt.reply, tt.after, got, tt.want)
		}
	}
}

// TestGrid: every cell either has a rule with an expectation and an RFC
// section, or is not applicable; LISTEN and SYN_RECEIVED leave out only
// what means nothing there.
func TestGrid(t *testing.T) {
	na := 0
	for _, s := range States {
		for _, p := range Probes {
			r := Expect(s, p)
			if r == nil {
				na++
				if s != Listen && s != SynReceived {
					t.Errorf("%s x %s: no rule in a synchronized state", s, p)
				}
				continue
			}
			if r.Expected == "" || !strings.Contains(r.RFC, "9293") || len(r.pass)+len(r.allowed) == 0 {
				t.Errorf("%s x %s: rule %+v", s, p, r)
			}
		}
	}
	if na != 15 { // LISTEN: 8 (a window or a connection is needed), SYN_RECEIVED: 7
		t.Errorf("%d cells not applicable, want 15", na)
	}
}

// FuzzJudge: any answer gets exactly one of the three verdicts, and the
// grid's IDs never panic.
func FuzzJudge(f *testing.F) {
	f.Add(2, 3, ReplyNone, AfterKept)
	f.Add(0, 0, ReplySynAck, AfterUnknown)
	f.Add(5, 11, "weird", "")
	f.Fuzz(func(t *testing.T, si, pi int, reply, after string) {
		if si < 0 || pi < 0 {
			return
		}
		r := Expect(States[si%len(States)], Probes[pi%len(Probes)])
		if r == nil {
			return
		}
		if v := r.Judge(reply, after); !slices.Contains([]string{Pass, Allowed, Fail}, v) {
			t.Fatalf("verdict %q", v)
		}
	})
}
