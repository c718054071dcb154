package rulebook

import (
	"slices"
	"strings"
	"testing"
)

// TestExpectations holds the cells whose answers the RFCs fix, one line
// each: the reply and fate seen, and the verdict.
func TestSegmentArrives(t *testing.T) {
	for _, tt := range []struct {
		state                     State
		probe, reply, after, want string
	}{
		{Listen, "syn", ReplySynAck, AfterUnknown, CellPass},
		{Listen, "ack-new", ReplyRST, AfterUnknown, CellPass},
		{Listen, "ack-new", ReplyNone, AfterUnknown, CellFail},
		{Listen, "rst-exact", ReplyNone, AfterUnknown, CellPass},
		{Listen, "rst-exact", ReplyRST, AfterUnknown, CellFail}, // a RST is never answered with a RST
		{SynReceived, "rst-exact", ReplyNone, AfterDropped, CellPass},
		{SynReceived, "ack-new", ReplyRST, AfterDropped, CellPass},
		{SynReceived, "syn-same", ReplySynAck, AfterKept, CellPass},
		{Established, "rst-exact", ReplyNone, AfterDropped, CellPass},
		{Established, "rst-exact", ReplyNone, AfterKept, CellFail},
		{Established, "rst-in-window", ReplyChallengeACK, AfterKept, CellPass},
		{Established, "rst-in-window", ReplyNone, AfterDropped, CellAllowed}, // RFC 793, before RFC 5961
		{Established, "rst-out-of-window", ReplyNone, AfterKept, CellPass},
		{Established, "rst-out-of-window", ReplyChallengeACK, AfterKept, CellAllowed},
		{Established, "rst-out-of-window", ReplyNone, AfterDropped, CellFail}, // a blind reset worked
		{Established, "syn", ReplyChallengeACK, AfterKept, CellPass},
		{Established, "syn", ReplyRST, AfterDropped, CellAllowed},
		{Established, "syn", ReplySynAck, AfterKept, CellFail},
		{Established, "ack-dup", ReplyNone, AfterKept, CellPass},
		{Established, "ack-dup", ReplyRST, AfterDropped, CellFail},
		{Established, "data-in-window", ReplyData, AfterKept, CellPass},
		{Established, "data-old", ReplyACK, AfterKept, CellPass},
		{Established, "no-flags", ReplyNone, AfterKept, CellPass},
		{Established, "no-flags", ReplyRST, AfterDropped, CellFail},
		{LastAck, "data-in-window", ReplyRST, AfterDropped, CellAllowed},
		{TimeWait, "rst-exact", ReplyNone, AfterDropped, CellPass},
		{TimeWait, "rst-exact", ReplyNone, AfterKept, CellAllowed}, // RFC 1337
		{TimeWait, "syn", ReplySynAck, AfterDropped, CellPass},     // RFC 6191 reopening
		{TimeWait, "syn-same", ReplyNone, AfterKept, CellAllowed},
		{Established, "fin", ReplyACK, AfterKept, CellPass},
		{Established, "rst-exact", ReplyNone, AfterUnknown, CellPass}, // an unknown fate does not decide
		{Established, "syn-in-window", ReplyChallengeACK, AfterKept, CellPass},
		{Established, "syn-in-window", ReplySynAck, AfterKept, CellFail},
		{Established, "syn-ack-unsolicited", ReplyChallengeACK, AfterKept, CellPass},
		{Established, "ack-old", ReplyACK, AfterKept, CellPass},
		{Established, "ack-old", ReplyRST, AfterDropped, CellFail}, // RFC 5961 5.2: discard and ACK
		{Established, "fin-data", ReplyACK, AfterKept, CellPass},
		{Listen, "syn-ack-unsolicited", ReplyRST, AfterUnknown, CellPass},
		{Listen, "ack-old", ReplyNone, AfterUnknown, CellFail},
		{SynReceived, "ack-old", ReplyRST, AfterKept, CellPass},
		{TimeWait, "syn-ack-unsolicited", ReplyChallengeACK, AfterKept, CellPass},
		{TimeWait, "syn-ack-unsolicited", ReplySynAck, AfterKept, CellFail},
		{LastAck, "fin-data", ReplyRST, AfterDropped, CellAllowed},
		{Established, "urg", ReplyACK, AfterKept, CellPass},
		{Established, "ts-old", ReplyACK, AfterKept, CellPass},
		{Established, "ts-old", ReplyRST, AfterDropped, CellFail}, // PAWS drops, it does not reset
		{Listen, "urg", ReplyRST, AfterUnknown, CellPass},
		{FinWait2, "ts-old", ReplyRST, AfterDropped, CellAllowed}, // netstack: the closed application's RST before PAWS
	} {
		r := SegmentArrives(tt.state, tt.probe)
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
// arrivalStates are the states of conform's grid.
var arrivalStates = []State{Listen, SynReceived, Established, CloseWait, FinWait2, LastAck, Closing, TimeWait}

func TestGrid(t *testing.T) {
	na := 0
	for _, s := range arrivalStates {
		for _, p := range ArrivalProbes {
			r := SegmentArrives(s, p)
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
func FuzzSegmentArrives(f *testing.F) {
	f.Add(2, 3, ReplyNone, AfterKept)
	f.Add(0, 0, ReplySynAck, AfterUnknown)
	f.Add(5, 11, "weird", "")
	f.Fuzz(func(t *testing.T, si, pi int, reply, after string) {
		if si < 0 || pi < 0 {
			return
		}
		r := SegmentArrives(arrivalStates[si%len(arrivalStates)], ArrivalProbes[pi%len(ArrivalProbes)])
		if r == nil {
			return
		}
		if v := r.Judge(reply, after); !slices.Contains([]string{CellPass, CellAllowed, CellFail}, v) {
			t.Fatalf("verdict %q", v)
		}
	})
}
