package rulebook

import (
	"math"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
)

// Side is what the Tracker knows of one end of the connection.
type Side struct {
	State   State
	ISN     craft.Seq
	SawSYN  bool
	synEnd  craft.Seq // ISN + what the SYN consumed
	NextSeq craft.Seq // highest seq + consumed sent so far (SND.NXT as seen)
	SawAny  bool      // NextSeq is valid
	FIN     bool
	FINSeq  craft.Seq
	FINAck  bool // its FIN was acknowledged
	RST     bool
	// Options offered in its SYN or SYN-ACK.
	MSS    uint16
	WScale int8 // -1: none
	SACKOK bool
	TSOK   bool
	// Timestamps seen from this side (TS arithmetic, RFC 7323 5.2).
	tsMin, tsMax uint32
	tsSeen       bool
	Window       uint16
	LastTime     time.Time // when it last sent a segment
	LastDataTime time.Time // when it last sent a segment that consumed sequence space
	lastNs       int64     // LastTime and LastDataTime in ns since the epoch (noTime: none yet), for cheap idle arithmetic
	lastDataNs   int64
	Packets      int
	Bytes        int64
	ends         [16]craft.Seq // recent ends of segments that consumed sequence space
	nends        int
	checkedSeq   bool // seq-after-syn checked
	checkedAck   bool // ack-acks-peer-isn checked
	kaProbes     int  // unanswered keepalive probes in a row
	kaProbeSeq   craft.Seq
	kaPending    bool
	// owesChallenge: it received an in-window RST that was not at its
	// RCV.NXT, or a SYN on a synchronized connection; its next segment,
	// if a bare ACK, is the challenge ACK RFC 5961 asks for.
	owesChallenge bool
}

// TrackerConfig configures a Tracker.
type TrackerConfig struct {
	// Record keeps every segment (with both states after it) for a ladder,
	// and every state transition.
	Record bool
	// Transitions keeps every state transition (without the segments).
	Transitions bool
	// MidStream starts both sides ESTABLISHED: for captures that begin
	// after the handshake.
	MidStream bool
	// ServerListens starts the server in LISTEN (default CLOSED, which is
	// how a passive end looks before its SYN-ACK on the wire is known).
	ServerListens bool
}

// Transition is a state change of one side, with the segment that caused it.
type Transition struct {
	Num  int
	Role Role
	From State
	To   State
}

// Tracker follows one connection from its segments, infers both ends'
// states and checks the rulebook as it goes. The zero value is not ready:
// call Init. Observe does not allocate unless Record is set.
type Tracker struct {
	cfg TrackerConfig
	// ChallengeACKs counts the challenge ACKs seen (RFC 5961 3.2, 4.2):
	// bare ACKs answering an unacceptable RST or a SYN on a synchronized
	// connection, each noted on its segment (NoteChallengeACK).
	ChallengeACKs int
	Side          [2]Side
	Segs          []Seg // with Record
	Trans         []Transition
	v             [NumRules]Verdict
	n             int
	// Close-form bookkeeping.
	firstFIN      int8 // -1 none, else Role
	sepACKOfFirst bool // the first FIN was ACKed by a segment without FIN
	combinedFIN   bool // the second FIN also ACKed the first
	simultaneous  bool
	rstBy         int8 // -1 none
	rstNum        int
	rstAfterClose bool
	idleThreshold time.Duration
}

// Init resets the tracker for a new connection.
func (t *Tracker) Init(cfg TrackerConfig) {
	segs, trans := t.Segs[:0], t.Trans[:0]
	if trans == nil && (cfg.Record || cfg.Transitions) {
		trans = make([]Transition, 0, 12) // a whole open and close
	}
	*t = Tracker{cfg: cfg, Segs: segs, Trans: trans, firstFIN: -1, rstBy: -1}
	for i := range t.v {
		t.v[i].Rule = RuleID(i)
	}
	for i := range t.Side {
		t.Side[i].WScale = -1
		t.Side[i].lastNs, t.Side[i].lastDataNs = noTime, noTime
	}
	if cfg.MidStream {
		t.Side[Client].State, t.Side[Server].State = Established, Established
	} else if cfg.ServerListens {
		t.Side[Server].State = Listen
	}
	t.idleThreshold = time.Second
}

// SetKeepAliveIdle sets the idle time after which a segment at SND.NXT-1
// counts as a keepalive probe (default 1 s).
func (t *Tracker) SetKeepAliveIdle(d time.Duration) { t.idleThreshold = d }

func (t *Tracker) move(num int, r Role, ev Event) {
	s := &t.Side[r]
	to, ok := Step(s.State, ev)
	if !ok {
		t.v[RuleLegalTransitions].fail(num, "%s in %v cannot %s", r, s.State, ev)
		return
	}
	if to != s.State {
		t.v[RuleLegalTransitions].pass(num)
		if t.cfg.Record || t.cfg.Transitions {
			t.Trans = append(t.Trans, Transition{Num: num, Role: r, From: s.State, To: to})
		}
		s.State = to
	}
}

// Observe feeds the next segment of the connection to the tracker. Like
// gVisor's handleRcvdSegment it only dispatches; each concern has its own
// function (and file): keepalive, the handshake (SYN, first ACK),
// timestamps, data and FIN, sequence space, RST.
func (t *Tracker) Observe(s *Seg) {
	t.n++
	from, to := &t.Side[s.From], &t.Side[1-s.From]
	fr := s.From
	f := s.Flags
	prevNext, prevSawAny := from.NextSeq, from.SawAny
	idle := t.account(s, from, to)
	if from.owesChallenge {
		from.owesChallenge = false
		if f == craft.ACK && s.Len == 0 {
			s.Annotations |= uint16(NoteChallengeACK)
			t.ChallengeACKs++
		}
	}
	// An answer comes before the sender's next segment, or it is an
	// answer to that one.
	to.owesChallenge = false
	if f&craft.SYN != 0 && f&craft.RST == 0 && to.State.Synchronized() && !(f&craft.ACK != 0 && from.SawSYN && s.Seq == from.ISN) {
		// RFC 5961 4.2 (RFC 9293 3.10.7.4, fourth), as the grid's cell
		// says. A retransmitted SYN-ACK of the handshake is an old
		// duplicate; its ACK is not a challenge.
		probe := "syn"
		if f&craft.ACK != 0 {
			probe = "syn-ack-unsolicited"
		}
		if e := SegmentArrives(to.State, probe); e != nil && e.Expects(ReplyChallengeACK) {
			to.owesChallenge = true
		}
	}

	// After a RST nothing more belongs to this connection.
	if t.rstBy >= 0 && f&craft.RST == 0 {
		t.v[RuleSilentAfterRST].fail(s.Num, "%s sent %v after the RST in segment %d", fr, f, t.rstNum)
	}
	if f&craft.RST != 0 {
		t.observeRST(s, from, to, fr, 1-fr)
		t.finish(s)
		return
	}
	if prevSawAny {
		t.keepAliveProbe(s, from, prevNext, idle)
	}
	if f&craft.SYN != 0 {
		t.observeSYN(s, from, to, fr, 1-fr)
	} else {
		t.firstAfterSYN(s, from, idle >= t.idleThreshold)
	}
	if f&craft.ACK != 0 {
		t.observeACK(s, from, to, fr, 1-fr)
	}
	t.timestamps(s, from, to)
	t.observeData(s, from, to)
	if f&craft.FIN != 0 {
		t.observeFIN(s, from, to)
	}
	t.seqSpace(s, from, prevNext, prevSawAny)
	if s.Retrans {
		s.Annotations |= uint16(NoteRetransmission)
	}
	t.finish(s)
}

// account counts the segment for its sender and returns how long the
// connection had been idle for the sender's keepalive: since the last
// segment the sender received or the last data it sent, whichever is
// later (Linux: keepalive_time_elapsed).
func (t *Tracker) account(s *Seg, from, to *Side) time.Duration {
	from.Packets++
	from.Bytes += int64(s.Len)
	now := s.Time.UnixNano()
	last := from.lastDataNs
	if to.lastNs > last {
		last = to.lastNs
	}
	from.LastTime, from.lastNs = s.Time, now
	from.Window = s.Window
	if s.Window == 0 && s.Flags&(craft.SYN|craft.FIN|craft.RST) == 0 {
		s.Annotations |= uint16(NoteZeroWindow)
	}
	if last == noTime { // as time.Time's Sub from the zero time: no traffic before is a long idle
		if s.Time.IsZero() {
			return 0
		}
		return math.MaxInt64
	}
	return time.Duration(now - last)
}

// noTime marks a Side time not set yet.
const noTime = math.MinInt64

func (t *Tracker) finish(s *Seg) {
	s.StateAfter = [2]State{t.Side[Client].State, t.Side[Server].State}
	if t.cfg.Record {
		t.Segs = append(t.Segs, *s)
	}
}

// TimeWaitExpired records that side r's TIME_WAIT timer ran out.
func (t *Tracker) TimeWaitExpired(r Role, num int) {
	if t.Side[r].State == TimeWait {
		t.move(num, r, EvTimeout)
	}
}

// Verdicts returns every rule's verdict.
func (t *Tracker) Verdicts() []Verdict {
	return append([]Verdict(nil), t.v[:]...)
}

// Verdict returns one rule's verdict.
func (t *Tracker) Verdict(r RuleID) *Verdict { return &t.v[r] }

// Result returns one rule's result (without copying the evidence).
func (t *Tracker) Result(r RuleID) RuleResult { return t.v[r].Result }

// Failed reports whether any rule failed.
func (t *Tracker) Failed() bool {
	for i := range t.v {
		if t.v[i].Result == Fail {
			return true
		}
	}
	return false
}
