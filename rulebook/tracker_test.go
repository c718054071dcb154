package rulebook

import (
	"strings"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
)

// conv builds a conversation segment by segment, keeping each side's
// sequence numbers the way a correct TCP would; tests override fields to
// make one side misbehave.
type conv struct {
	t    *testing.T
	tr   Tracker
	nxt  [2]craft.Seq // next seq of each side
	rcv  [2]craft.Seq // what each side acknowledges
	now  time.Time
	num  int
	ts   bool
	tsv  [2]uint32
	last [2]uint32 // last TSval received from the other side
}

func newConv(t *testing.T, cISN, sISN craft.Seq) *conv {
	c := &conv{t: t, now: time.Unix(1700000000, 0)}
	c.nxt = [2]craft.Seq{cISN, sISN}
	c.tsv = [2]uint32{1000, 50000}
	c.tr.Init(TrackerConfig{Record: true})
	return c
}

type segOpt func(*Seg)

func seqIs(s craft.Seq) segOpt     { return func(g *Seg) { g.Seq = s } }
func ackIs(a craft.Seq) segOpt     { return func(g *Seg) { g.Ack = a } }
func after(d time.Duration) segOpt { return func(g *Seg) { g.Time = g.Time.Add(d) } }
func withOpts(mss uint16, ws int8, sack, ts bool) segOpt {
	return func(g *Seg) { g.MSS, g.WScale, g.SACKOK, g.HasTS = mss, ws, sack, ts }
}
func noTS() segOpt          { return func(g *Seg) { g.HasTS = false } }
func tsecr(v uint32) segOpt { return func(g *Seg) { g.TSecr = v } }

// send makes side r send a segment with flags and n payload bytes.
func (c *conv) send(r Role, f craft.Flags, n int, opts ...segOpt) *Seg {
	c.num++
	c.now = c.now.Add(time.Millisecond)
	s := Seg{Num: c.num, Time: c.now, From: r, Flags: f, Seq: c.nxt[r], Len: n, Window: 1000, WScale: -1}
	if f&craft.ACK != 0 {
		s.Ack = c.rcv[r]
	}
	if c.ts {
		s.HasTS, s.TSval, s.TSecr = true, c.tsv[r], c.last[r]
		c.tsv[r] += 10
	}
	for _, o := range opts {
		o(&s)
	}
	if s.HasTS {
		c.last[1-r] = s.TSval
	}
	c.now = s.Time
	if end := s.Seq.Add(s.SeqLen()); end.After(c.nxt[r]) {
		c.nxt[r] = end
	}
	c.rcv[1-r] = c.nxt[r]
	c.tr.Observe(&s)
	return &s
}

func (c *conv) c(f craft.Flags, n int, o ...segOpt) *Seg { return c.send(Client, f, n, o...) }
func (c *conv) s(f craft.Flags, n int, o ...segOpt) *Seg { return c.send(Server, f, n, o...) }

func (c *conv) handshake() {
	c.c(craft.SYN, 0, withOpts(1460, 7, true, c.ts))
	c.s(craft.SYN|craft.ACK, 0, withOpts(1400, 7, true, c.ts))
	c.c(craft.ACK, 0)
}

// want checks rule results by rule: pass, fail or n/a.
func (c *conv) want(results map[RuleID]RuleResult) {
	c.t.Helper()
	for r, w := range results {
		if got := c.tr.v[r].Result; got != w {
			c.t.Errorf("rule %s: %v, want %v (%s)", Rules[r].ID, got, w, c.tr.v[r].Detail)
		}
	}
}

func (c *conv) states(cl, sv State) {
	c.t.Helper()
	if got := [2]State{c.tr.Side[Client].State, c.tr.Side[Server].State}; got != [2]State{cl, sv} {
		c.t.Errorf("states %v/%v, want %v/%v", got[0], got[1], cl, sv)
	}
}

func (c *conv) noFailures() {
	c.t.Helper()
	for _, v := range c.tr.Verdicts() {
		if v.Result == Fail {
			c.t.Errorf("rule %s failed: %s (segments %v)", Rules[v.Rule].ID, v.Detail, v.Evidence())
		}
	}
}

func TestFourSegmentClose(t *testing.T) {
	c := newConv(t, 1000, 5000)
	c.ts = true
	c.handshake()
	c.states(Established, Established)
	c.c(craft.PSH|craft.ACK, 5)
	c.s(craft.ACK, 0)
	c.s(craft.PSH|craft.ACK, 5)
	c.c(craft.ACK, 0)
	c.c(craft.FIN|craft.ACK, 0)
	c.states(FinWait1, CloseWait)
	c.s(craft.ACK, 0)
	c.states(FinWait2, CloseWait)
	c.s(craft.FIN|craft.ACK, 0)
	c.states(TimeWait, LastAck)
	c.c(craft.ACK, 0)
	c.states(TimeWait, Closed)
	c.tr.TimeWaitExpired(Client, 0)
	c.states(Closed, Closed)
	c.noFailures()
	c.want(map[RuleID]RuleResult{RuleSynAckAcksISN: Pass, RuleAckAcksPeerISN: Pass, RuleSeqAfterSYN: Pass,
		RuleDataAdvancesAck: Pass, RuleFINAcked: Pass, RuleFinalACK: Pass, RuleOptionsOffered: Pass,
		RuleTSecrEchoes: Pass, RuleTSEverySegment: Pass, RuleMSSSane: Pass, RuleLegalTransitions: Pass,
		RuleRSTToSYN: NotApplicable, RuleKeepAliveSeq: NotApplicable})
	if f, by := c.tr.CloseForm(); f != CloseFourSegment || by != Client {
		t.Errorf("close form %v by %v", f, by)
	}
	// The ladder: segment 8 (client FIN) leaves client FIN_WAIT_1.
	if st := c.tr.Segs[7].StateAfter; st != [2]State{FinWait1, CloseWait} {
		t.Errorf("states after FIN: %v", st)
	}
}

func TestThreeSegmentAndPassiveClose(t *testing.T) {
	c := newConv(t, 0xfffffff0, 7) // the client's sequence space wraps
	c.handshake()
	c.s(craft.PSH|craft.ACK, 30) // a greeting
	c.s(craft.FIN|craft.ACK, 0)  // the server closes first
	c.states(CloseWait, FinWait1)
	c.c(craft.ACK, 0)
	c.states(CloseWait, FinWait2)
	c.c(craft.FIN|craft.ACK, 0)
	c.states(LastAck, TimeWait)
	c.s(craft.ACK, 0)
	c.states(Closed, TimeWait)
	c.noFailures()
	if f, by := c.tr.CloseForm(); f != CloseFourSegment || by != Server {
		t.Errorf("close form %v by %v", f, by)
	}

	c = newConv(t, 100, 200)
	c.handshake()
	c.c(craft.FIN|craft.ACK, 0)
	c.s(craft.FIN|craft.ACK, 0) // ACK and FIN in one segment
	c.states(TimeWait, LastAck)
	c.c(craft.ACK, 0)
	c.noFailures()
	if f, _ := c.tr.CloseForm(); f != CloseThreeSegment {
		t.Errorf("close form %v, want 3-segment", f)
	}
}

func TestSimultaneousOpenAndClose(t *testing.T) {
	c := newConv(t, 100, 900)
	c.c(craft.SYN, 0)
	c.s(craft.SYN, 0, ackIs(0)) // the other side also opens
	c.states(SynReceived, SynReceived)
	c.c(craft.SYN|craft.ACK, 0, seqIs(100))
	c.s(craft.SYN|craft.ACK, 0, seqIs(900))
	c.states(Established, Established)
	c.c(craft.FIN|craft.ACK, 0)
	c.s(craft.FIN|craft.ACK, 0, ackIs(101)) // crosses ours: does not ACK it
	c.states(Closing, Closing)
	c.c(craft.ACK, 0)
	c.s(craft.ACK, 0)
	c.states(TimeWait, TimeWait)
	if f, _ := c.tr.CloseForm(); f != CloseSimultaneous {
		t.Errorf("close form %v", f)
	}
	c.want(map[RuleID]RuleResult{RuleLegalTransitions: Pass, RuleFinalACK: Pass, RuleFINAcked: Pass})
}

func TestHalfCloseDataAfterFIN(t *testing.T) {
	c := newConv(t, 1, 2)
	c.handshake()
	c.c(craft.FIN|craft.ACK, 0)
	c.s(craft.ACK, 0)
	d := c.s(craft.PSH|craft.ACK, 10) // the peer may still send
	c.c(craft.ACK, 0)
	c.states(FinWait2, CloseWait)
	if d.Annotations&uint16(NoteDataAfterFIN) == 0 {
		t.Error("data in half-close not noted")
	}
	c.s(craft.FIN|craft.ACK, 0)
	c.c(craft.ACK, 0)
	c.states(TimeWait, Closed)
	// The peer's FIN again in TIME_WAIT (our last ACK was lost).
	fin := c.s(craft.FIN|craft.ACK, 0, seqIs(c.nxt[Server]-1))
	if !fin.Retrans || fin.Annotations&uint16(NoteFINInTimeWait) == 0 {
		t.Errorf("FIN in TIME_WAIT: retrans %v notes %v", fin.Retrans, fin.Notes())
	}
	c.noFailures()
}

func TestRuleFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(c *conv)
		rule RuleID
	}{
		{"syn-ack acks isn+2", func(c *conv) {
			c.c(craft.SYN, 0)
			c.s(craft.SYN|craft.ACK, 0, ackIs(1002))
		}, RuleSynAckAcksISN},
		{"third ack acks peer isn", func(c *conv) {
			c.c(craft.SYN, 0)
			c.s(craft.SYN|craft.ACK, 0)
			c.c(craft.ACK, 0, ackIs(5000))
		}, RuleAckAcksPeerISN},
		{"seq after syn not isn+1", func(c *conv) {
			c.c(craft.SYN, 0)
			c.s(craft.SYN|craft.ACK, 0)
			c.c(craft.ACK, 0, seqIs(1000))
		}, RuleSeqAfterSYN},
		{"ack beyond data", func(c *conv) {
			c.handshake()
			c.c(craft.PSH|craft.ACK, 10)
			c.s(craft.ACK, 0, ackIs(1012))
		}, RuleDataAdvancesAck},
		{"fin acked +2", func(c *conv) {
			c.handshake()
			c.c(craft.FIN|craft.ACK, 0)
			c.s(craft.ACK, 0, ackIs(1003))
		}, RuleFINAcked},
		{"final ack seq", func(c *conv) {
			c.handshake()
			c.c(craft.FIN|craft.ACK, 0)
			c.s(craft.FIN|craft.ACK, 0)
			c.c(craft.ACK, 0, seqIs(1001))
		}, RuleFinalACK},
		{"data after fin", func(c *conv) {
			c.handshake()
			c.c(craft.FIN|craft.ACK, 0)
			c.c(craft.PSH|craft.ACK, 4)
		}, RuleNoDataAfterFIN},
		{"rst to syn without ack", func(c *conv) {
			c.c(craft.SYN, 0)
			c.s(craft.RST, 0, seqIs(0))
		}, RuleRSTToSYN},
		{"rst outside window", func(c *conv) {
			c.handshake()
			c.s(craft.RST, 0, seqIs(9999))
		}, RuleRSTAcceptable},
		{"segment after rst", func(c *conv) {
			c.handshake()
			c.s(craft.RST, 0)
			c.s(craft.ACK, 0)
		}, RuleSilentAfterRST},
		{"unoffered sack", func(c *conv) {
			c.c(craft.SYN, 0, withOpts(1460, -1, false, false))
			c.s(craft.SYN|craft.ACK, 0, withOpts(1460, -1, true, false))
		}, RuleOptionsOffered},
		{"tsecr not echoed", func(c *conv) {
			c.c(craft.SYN, 0, withOpts(1460, -1, false, true), func(g *Seg) { g.TSval = 77 })
			c.s(craft.SYN|craft.ACK, 0, withOpts(1460, -1, false, true), tsecr(78))
		}, RuleTSecrEchoes},
		{"ts missing after negotiation", func(c *conv) {
			c.ts = true
			c.handshake()
			c.c(craft.ACK, 0, noTS())
		}, RuleTSEverySegment},
		{"mss zero-ish", func(c *conv) {
			c.c(craft.SYN, 0, withOpts(10, -1, false, false))
		}, RuleMSSSane},
		{"fin in syn_sent", func(c *conv) {
			c.c(craft.SYN, 0)
			c.c(craft.FIN, 0)
		}, RuleLegalTransitions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConv(t, 1000, 5000)
			tc.run(c)
			v := c.tr.v[tc.rule]
			if v.Result != Fail || v.nev == 0 || v.Detail == "" {
				t.Errorf("rule %s: %v (%q, evidence %v)", Rules[tc.rule].ID, v.Result, v.Detail, v.Evidence())
			}
		})
	}
}

func TestRSTToSYNPasses(t *testing.T) {
	c := newConv(t, 1000, 0)
	c.c(craft.SYN, 0)
	c.s(craft.RST|craft.ACK, 0, seqIs(0), ackIs(1001))
	c.want(map[RuleID]RuleResult{RuleRSTToSYN: Pass})
	c.states(Closed, Closed)
	if f, by := c.tr.CloseForm(); f != CloseReset || by != Server {
		t.Errorf("close %v by %v", f, by)
	}
}

func TestKeepAlive(t *testing.T) {
	c := newConv(t, 1000, 5000)
	c.handshake()
	c.c(craft.PSH|craft.ACK, 3)
	c.s(craft.ACK, 0)
	// The server probes after 2 s idle, three times unanswered, then resets.
	for i := 0; i < 3; i++ {
		p := c.s(craft.ACK, 0, seqIs(c.nxt[Server]-1), after(2*time.Second))
		if !p.KeepAlive {
			t.Fatalf("probe %d not recognised", i+1)
		}
	}
	if n := c.tr.UnansweredProbes(Server); n != 3 {
		t.Errorf("unanswered probes %d", n)
	}
	c.s(craft.RST|craft.ACK, 0)
	c.want(map[RuleID]RuleResult{RuleKeepAliveSeq: Pass, RuleKeepAliveIdle: Pass, RuleKeepAliveRST: Pass})

	// Unanswered probes and no RST: still up after the wait fails the rule;
	// a silent close (RFC 9293 3.10.8) found by a later segment holds it.
	for _, silently := range []bool{false, true} {
		c = newConv(t, 1000, 5000)
		c.handshake()
		for i := 0; i < 3; i++ {
			c.s(craft.ACK, 0, seqIs(c.nxt[Server]-1), after(2*time.Second))
		}
		want := Fail
		if silently {
			c.tr.KeepAliveClosedSilently(Server, 0)
			want = Pass
		} else {
			c.tr.KeepAliveGaveUp(Server, 0)
		}
		c.want(map[RuleID]RuleResult{RuleKeepAliveRST: want})
	}

	// Answered probes.
	c = newConv(t, 1000, 5000)
	c.handshake()
	p := c.c(craft.ACK, 0, seqIs(1000), after(3*time.Second))
	a := c.s(craft.ACK, 0)
	if !p.KeepAlive || a.Annotations&uint16(NoteKeepAliveACK) == 0 {
		t.Errorf("probe %v answer %v", p.Notes(), a.Notes())
	}
	c.want(map[RuleID]RuleResult{RuleKeepAliveACK: Pass})
	// A probe too early.
	c.c(craft.ACK, 0, seqIs(1000), after(10*time.Millisecond))
	c.want(map[RuleID]RuleResult{RuleKeepAliveIdle: Fail})
	// A wrong answer.
	c.c(craft.ACK, 0, seqIs(1000), after(3*time.Second))
	c.s(craft.ACK, 0, ackIs(1000))
	c.want(map[RuleID]RuleResult{RuleKeepAliveACK: Fail})

	// After its FIN, a side's segment at the FIN's number is the ACK it
	// sent before the FIN, captured after it: no keepalive probe.
	c = newConv(t, 1000, 5000)
	c.handshake()
	c.c(craft.FIN|craft.ACK, 0)
	c.s(craft.FIN|craft.ACK, 0)
	if p := c.s(craft.ACK, 0, seqIs(c.nxt[Server]-1)); p.KeepAlive {
		t.Errorf("an ACK at the FIN's number taken for a keepalive probe: %v", p.Notes())
	}
	c.want(map[RuleID]RuleResult{RuleKeepAliveSeq: NotApplicable, RuleKeepAliveIdle: NotApplicable})
}

func TestStatesAndTransitionTable(t *testing.T) {
	for s := Closed; s < numStates; s++ {
		if strings.Contains(s.String(), "UNKNOWN") {
			t.Errorf("state %d has no name", s)
		}
	}
	// Every state reaches CLOSED by RST, and only TIME_WAIT by timeout.
	for s := Closed; s < numStates; s++ {
		if to, ok := Step(s, EvRST); !ok || (to != Closed && !(s == SynReceived && to == Listen)) {
			t.Errorf("%v + RST = %v %v", s, to, ok)
		}
		if _, ok := Step(s, EvTimeout); ok != (s == TimeWait) {
			t.Errorf("%v + timeout allowed=%v", s, ok)
		}
	}
	if _, ok := Step(Closed, EvSendFIN); ok {
		t.Error("FIN from CLOSED allowed")
	}
}

// TestTrackerObserveDoesNotAllocate keeps the analyzer's hot path free of
// allocations.
func TestTrackerObserveDoesNotAllocate(t *testing.T) {
	var tr Tracker
	tr.Init(TrackerConfig{})
	segs := []Seg{
		{Num: 1, From: Client, Flags: craft.SYN, Seq: 1, WScale: -1, MSS: 1460},
		{Num: 2, From: Server, Flags: craft.SYN | craft.ACK, Seq: 9, Ack: 2, WScale: -1},
		{Num: 3, From: Client, Flags: craft.ACK, Seq: 2, Ack: 10, WScale: -1},
		{Num: 4, From: Client, Flags: craft.PSH | craft.ACK, Seq: 2, Ack: 10, Len: 100, WScale: -1},
		{Num: 5, From: Server, Flags: craft.ACK, Seq: 10, Ack: 102, WScale: -1},
	}
	allocs := testing.AllocsPerRun(100, func() {
		tr.Init(TrackerConfig{})
		for i := range segs {
			s := segs[i]
			tr.Observe(&s)
		}
	})
	if allocs != 0 {
		t.Errorf("Observe allocates %.1f times per connection", allocs)
	}
}

// TestChallengeACKNoted: the bare ACK that answers an in-window RST not at
// RCV.NXT, or a SYN on an established connection, is noted as a challenge
// ACK (RFC 5961 3.2, 4.2); the ACK of a retransmitted handshake SYN-ACK,
// or of an exact RST's neighbour data, is not.
func TestChallengeACKNoted(t *testing.T) {
	at := time.Unix(1000, 0)
	seg := func(from Role, f craft.Flags, seq, ack craft.Seq, n int) *Seg {
		at = at.Add(time.Millisecond)
		return &Seg{From: from, Flags: f, Seq: seq, Ack: ack, Len: n, Window: 1000, Time: at, WScale: -1}
	}
	var tr Tracker
	tr.Init(TrackerConfig{ServerListens: true})
	for _, s := range []*Seg{
		seg(Client, craft.SYN, 100, 0, 0),
		seg(Server, craft.SYN|craft.ACK, 500, 101, 0),
		seg(Client, craft.ACK, 101, 501, 0),
		seg(Server, craft.SYN|craft.ACK, 500, 101, 0), // retransmitted SYN-ACK
		seg(Client, craft.ACK, 101, 501, 0),           // its ACK: not a challenge
	} {
		tr.Observe(s)
		if s.Annotations&uint16(NoteChallengeACK) != 0 {
			t.Fatalf("segment %+v noted as a challenge ACK", s)
		}
	}
	rst := seg(Client, craft.RST, 151, 0, 0) // in the window, not at RCV.NXT 101
	tr.Observe(rst)
	ack := seg(Server, craft.ACK, 501, 101, 0)
	tr.Observe(ack)
	syn := seg(Client, craft.SYN, 9000, 0, 0)
	tr.Observe(syn)
	ack2 := seg(Server, craft.ACK, 501, 101, 0)
	tr.Observe(ack2)
	data := seg(Server, craft.ACK|craft.PSH, 501, 101, 10) // data is no challenge ACK
	tr.Observe(data)
	if ack.Annotations&uint16(NoteChallengeACK) == 0 || ack2.Annotations&uint16(NoteChallengeACK) == 0 || data.Annotations&uint16(NoteChallengeACK) != 0 {
		t.Errorf("notes: ack %v, ack2 %v, data %v", ack.Notes(), ack2.Notes(), data.Notes())
	}
	// A RST left unanswered, then a segment of the same sender: the ACK
	// that follows answers that segment, not the RST.
	tr.Observe(seg(Client, craft.RST, 151, 0, 0))
	tr.Observe(seg(Client, craft.ACK, 101, 1, 0))
	late := seg(Server, craft.ACK, 511, 101, 0)
	tr.Observe(late)
	if late.Annotations&uint16(NoteChallengeACK) != 0 {
		t.Errorf("the ACK of a later segment noted as a challenge ACK")
	}
	if tr.ChallengeACKs != 2 {
		t.Errorf("%d challenge ACKs, want 2", tr.ChallengeACKs)
	}
}
