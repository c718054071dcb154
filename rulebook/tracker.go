package rulebook

import (
	"fmt"
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
	Packets      int
	Bytes        int64
	ends         [16]craft.Seq // recent ends of segments that consumed sequence space
	nends        int
	checkedSeq   bool // seq-after-syn checked
	checkedAck   bool // ack-acks-peer-isn checked
	kaProbes     int  // unanswered keepalive probes in a row
	kaProbeSeq   craft.Seq
	kaPending    bool
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
	cfg   TrackerConfig
	Side  [2]Side
	Segs  []Seg // with Record
	Trans []Transition
	v     [NumRules]Verdict
	n     int
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

// Observe feeds the next segment of the connection to the tracker.
func (t *Tracker) Observe(s *Seg) {
	t.n++
	from, to := &t.Side[s.From], &t.Side[1-s.From]
	fr, tr := s.From, 1-s.From
	num := s.Num
	f := s.Flags
	consumed := s.SeqLen()
	end := s.Seq.Add(consumed)
	prevNext, prevSawAny := from.NextSeq, from.SawAny

	from.Packets++
	from.Bytes += int64(s.Len)
	// Keepalive idle time counts from the last segment the prober received
	// or the last data it sent, whichever is later (Linux:
	// keepalive_time_elapsed).
	last := from.LastDataTime
	if to.LastTime.After(last) {
		last = to.LastTime
	}
	idleData := s.Time.Sub(last) >= t.idleThreshold
	from.LastTime = s.Time
	from.Window = s.Window
	if s.Window == 0 && f&(craft.SYN|craft.FIN|craft.RST) == 0 {
		s.Annotations |= uint16(NoteZeroWindow)
	}

	// After a RST nothing more belongs to this connection.
	if t.rstBy >= 0 && f&craft.RST == 0 {
		t.v[RuleSilentAfterRST].fail(num, "%s sent %v after the RST in segment %d", fr, f, t.rstNum)
	}

	if f&craft.RST != 0 {
		t.observeRST(s, from, to, fr, tr)
		t.finish(s)
		return
	}

	// Keepalive: seq = SND.NXT-1 with 0 or 1 byte, after idle time
	// (RFC 9293 3.8.4). Its ACK (ack = SND.NXT) is the answer.
	if prevSawAny && f&(craft.SYN|craft.FIN) == 0 && s.Len <= 1 && s.Seq == prevNext.Add(^uint32(0)) && from.State.Synchronized() {
		s.KeepAlive = true
		s.Annotations |= uint16(NoteKeepAlive)
		t.v[RuleKeepAliveSeq].pass(num)
		if idleData {
			t.v[RuleKeepAliveIdle].pass(num)
		} else {
			t.v[RuleKeepAliveIdle].fail(num, "%s sent a keepalive probe only %v after the connection's last traffic", fr, s.Time.Sub(last).Round(time.Millisecond))
		}
		if from.kaPending {
			from.kaProbes++
		} else {
			from.kaProbes = 1
		}
		from.kaPending, from.kaProbeSeq = true, s.Seq
	}

	if f&craft.SYN != 0 {
		t.observeSYN(s, from, to, fr, tr)
	} else {
		if from.SawSYN && !from.checkedSeq && !(s.KeepAlive && idleData) {
			from.checkedSeq = true
			if s.Seq == from.synEnd {
				t.v[RuleSeqAfterSYN].pass(num)
			} else {
				t.v[RuleSeqAfterSYN].fail(num, "%s's first segment after its SYN has seq %d, want ISN+1 = %d", fr, s.Seq, from.synEnd)
			}
		}
		if s.MSS != 0 {
			t.v[RuleMSSSane].fail(num, "MSS option in a segment without SYN")
		}
	}

	if f&craft.ACK != 0 {
		t.observeACK(s, from, to, fr, tr, end)
	}

	// Timestamps: TSecr must echo a value the other side sent; once both
	// offered them, every segment carries them.
	if s.HasTS && f&craft.SYN == 0 && f&craft.ACK != 0 && s.TSecr != 0 && to.tsSeen {
		if craft.TSAfter(s.TSecr, to.tsMax) {
			t.v[RuleTSecrEchoes].fail(num, "TSecr %d is newer than any TSval %s sent (last %d)", s.TSecr, tr, to.tsMax)
		} else {
			t.v[RuleTSecrEchoes].pass(num)
		}
	}
	if s.HasTS {
		if !from.tsSeen {
			from.tsMin, from.tsMax, from.tsSeen = s.TSval, s.TSval, true
		} else if craft.TSAfter(s.TSval, from.tsMax) {
			from.tsMax = s.TSval
		}
	}
	if from.TSOK && to.TSOK && f&craft.SYN == 0 {
		if s.HasTS {
			t.v[RuleTSEverySegment].pass(num)
		} else {
			t.v[RuleTSEverySegment].fail(num, "%s sent no timestamps after both offered them", fr)
		}
	}

	// Data and FIN.
	if s.Len > 0 {
		if !from.State.Synchronized() && from.State != SynReceived && f&craft.SYN == 0 {
			t.v[RuleLegalTransitions].fail(num, "%s sent data in %v", fr, from.State)
		}
		if from.FIN && s.Seq.Add(uint32(s.Len)).After(from.FINSeq) {
			t.v[RuleNoDataAfterFIN].fail(num, "%s sent data up to %d after its FIN at %d", fr, s.Seq.Add(uint32(s.Len)), from.FINSeq)
		}
		if to.FIN && (to.State == FinWait1 || to.State == FinWait2) {
			s.Annotations |= uint16(NoteDataAfterFIN)
		}
	}
	if f&craft.FIN != 0 {
		finSeq := s.Seq.Add(uint32(s.Len))
		if !from.FIN {
			t.v[RuleNoDataAfterFIN].pass(num) // a later violation turns it into a fail
			from.FIN, from.FINSeq = true, finSeq
			if t.firstFIN < 0 {
				t.firstFIN = int8(fr)
			} else if int8(fr) != t.firstFIN {
				if f&craft.ACK != 0 && s.Ack == to.FINSeq.Add(1) && !t.sepACKOfFirst {
					t.combinedFIN = true
				}
				if !to.FINAck {
					t.simultaneous = true
				}
			}
			if from.State == CloseWait && to.FIN && !(f&craft.ACK != 0 && s.Ack == to.FINSeq.Add(1)) {
				// The FINs crossed: this side closed while ESTABLISHED,
				// before the peer's FIN reached it (simultaneous close,
				// RFC 9293 3.6 case 2).
				from.State = Established
				t.move(num, fr, EvSendFIN)
				t.move(num, fr, EvRecvFIN)
			} else {
				t.move(num, fr, EvSendFIN)
			}
		} else if finSeq != from.FINSeq {
			t.v[RuleNoDataAfterFIN].fail(num, "%s sent a second FIN at %d after one at %d", fr, finSeq, from.FINSeq)
		} else {
			s.Retrans = true
		}
		if to.State == TimeWait && s.Retrans {
			s.Annotations |= uint16(NoteFINInTimeWait)
		}
		if to.State != SynSent && to.State != Listen && to.State != Closed {
			t.move(num, tr, EvRecvFIN)
		}
	}

	if consumed > 0 {
		if prevSawAny && !end.After(prevNext) && !s.KeepAlive {
			s.Retrans = true
		}
		if !from.SawAny || end.After(from.NextSeq) {
			if prevSawAny && s.Seq.After(prevNext) && f&craft.SYN == 0 {
				s.Annotations |= uint16(NoteGap) // earlier data not seen
			}
			from.NextSeq, from.SawAny = end, true
		}
		if !s.KeepAlive {
			from.LastDataTime = s.Time
			from.ends[from.nends%len(from.ends)] = end
			from.nends++
		}
	} else if !from.SawAny && f&craft.ACK != 0 && t.cfg.MidStream {
		from.NextSeq, from.SawAny = s.Seq, true
	}
	if s.Retrans {
		s.Annotations |= uint16(NoteRetransmission)
	}
	t.finish(s)
}

func (t *Tracker) finish(s *Seg) {
	s.StateAfter = [2]State{t.Side[Client].State, t.Side[Server].State}
	if t.cfg.Record {
		t.Segs = append(t.Segs, *s)
	}
}

func (t *Tracker) observeSYN(s *Seg, from, to *Side, fr, tr Role) {
	num, f := s.Num, s.Flags
	if from.SawSYN && s.Seq != from.ISN {
		t.v[RuleLegalTransitions].fail(num, "%s sent a SYN with a new ISN %d (was %d) on a live connection", fr, s.Seq, from.ISN)
	}
	if !from.SawSYN {
		from.ISN, from.SawSYN, from.synEnd = s.Seq, true, s.Seq.Add(s.SeqLen())
		from.MSS, from.WScale, from.SACKOK, from.TSOK = s.MSS, s.WScale, s.SACKOK, s.HasTS
	}
	if s.MSS != 0 {
		if s.MSS < 64 || s.MSS > 65495 {
			t.v[RuleMSSSane].fail(num, "MSS %d outside 64..65495", s.MSS)
		} else {
			t.v[RuleMSSSane].pass(num)
		}
	}
	if f&craft.ACK == 0 {
		t.move(num, fr, EvSendSYN)
		if to.SawSYN && to.State == SynSent && from.State == SynSent {
			// The SYNs crossed: this side's SYN left before the peer's
			// arrived, which it now receives (RFC 9293 3.5, figure 8).
			t.move(num, fr, EvRecvSYN)
		}
		switch to.State {
		case SynSent, SynReceived:
			// Simultaneous open (or a retransmitted SYN).
			t.move(num, tr, EvRecvSYN)
		case Closed:
			// A passive end is known only by its answer; until then it is
			// taken to listen. Its SYN-ACK moves it to SYN_RECEIVED, a RST
			// shows it was CLOSED.
			to.State = Listen
		}
		return
	}
	// SYN-ACK.
	if to.SawSYN {
		if s.Ack == to.synEnd {
			t.v[RuleSynAckAcksISN].pass(num)
		} else {
			t.v[RuleSynAckAcksISN].fail(num, "SYN-ACK acknowledges %d, want the SYN's ISN+1 = %d", s.Ack, to.synEnd)
		}
		if (s.SACKOK && !to.SACKOK) || (s.WScale >= 0 && to.WScale < 0) || (s.HasTS && !to.TSOK) {
			t.v[RuleOptionsOffered].fail(num, "SYN-ACK carries %s the SYN did not offer", unoffered(s, to))
		} else {
			t.v[RuleOptionsOffered].pass(num)
		}
		if s.HasTS && to.TSOK && to.tsSeen {
			if s.TSecr == to.tsMax {
				t.v[RuleTSecrEchoes].pass(num)
			} else {
				t.v[RuleTSecrEchoes].fail(num, "SYN-ACK TSecr %d does not echo the SYN's TSval %d", s.TSecr, to.tsMax)
			}
		}
	}
	// Negotiation ends with the SYN-ACK: an option not offered by both is off.
	if !s.HasTS || !to.TSOK {
		from.TSOK, to.TSOK = false, false
	}
	if from.State == Closed {
		from.State = Listen
	}
	t.move(num, fr, EvSendSYNACK)
	if to.SawSYN && s.Ack == to.synEnd {
		if to.State == SynReceived {
			t.move(num, tr, EvRecvACKSYN)
		} else if to.State == SynSent {
			t.move(num, tr, EvRecvSYNACK)
		}
	}
}

func unoffered(s *Seg, to *Side) string {
	switch {
	case s.SACKOK && !to.SACKOK:
		return "SACK-permitted"
	case s.WScale >= 0 && to.WScale < 0:
		return "window scale"
	}
	return "timestamps"
}

func (t *Tracker) observeACK(s *Seg, from, to *Side, fr, tr Role, end craft.Seq) {
	num := s.Num
	// The third segment of the handshake.
	if to.SawSYN && !from.checkedAck && s.Flags&craft.SYN == 0 {
		from.checkedAck = true
		if s.Ack == to.synEnd {
			t.v[RuleAckAcksPeerISN].pass(num)
		} else if !to.SawAny || s.Ack.After(to.NextSeq) || s.Ack.LessThan(to.synEnd) {
			t.v[RuleAckAcksPeerISN].fail(num, "%s's first ACK acknowledges %d, want the peer's ISN+1 = %d", fr, s.Ack, to.synEnd)
		} else {
			t.v[RuleAckAcksPeerISN].pass(num)
		}
	}
	if to.SawAny {
		if s.Ack.After(to.NextSeq) {
			t.v[RuleDataAdvancesAck].fail(num, "%s acknowledges %d, beyond anything %s sent (%d)", fr, s.Ack, tr, to.NextSeq)
		} else if s.Ack != to.synEnd || to.nends > 0 {
			for i := 0; i < min(to.nends, len(to.ends)); i++ {
				if to.ends[i] == s.Ack {
					t.v[RuleDataAdvancesAck].pass(num)
					break
				}
			}
		}
	}
	// Keepalive answered: ack = SND.NXT of the prober.
	if to.kaPending {
		want := to.kaProbeSeq.Add(1)
		if s.Ack == want && s.Len == 0 {
			t.v[RuleKeepAliveACK].pass(num)
			s.Annotations |= uint16(NoteKeepAliveACK)
		} else if s.Len == 0 {
			t.v[RuleKeepAliveACK].fail(num, "answer to the keepalive probe acknowledges %d, want SND.NXT = %d", s.Ack, want)
		}
		to.kaPending, to.kaProbes = false, 0
	}
	if to.State == SynReceived && to.SawSYN && !s.Ack.LessThan(to.synEnd) && s.Flags&craft.SYN == 0 {
		t.move(num, tr, EvRecvACKSYN)
	}
	if to.FIN && !to.FINAck {
		want := to.FINSeq.Add(1)
		switch {
		case s.Ack == want:
			to.FINAck = true
			t.v[RuleFINAcked].pass(num)
			if int8(tr) == t.firstFIN && s.Flags&craft.FIN == 0 {
				t.sepACKOfFirst = true
			}
			// The final ACK of a close: this side had sent its own FIN.
			if from.FIN && s.Flags&craft.FIN == 0 {
				if s.Seq == from.FINSeq.Add(1) {
					t.v[RuleFinalACK].pass(num)
				} else {
					t.v[RuleFinalACK].fail(num, "final ACK has seq %d, want own FIN seq + 1 = %d", s.Seq, from.FINSeq.Add(1))
				}
			}
			t.move(num, tr, EvRecvACKFIN)
		case s.Ack.After(want):
			t.v[RuleFINAcked].fail(num, "%s acknowledges %d, want FIN seq + 1 = %d", fr, s.Ack, want)
		}
	}
}

func (t *Tracker) observeRST(s *Seg, from, to *Side, fr, tr Role) {
	num := s.Num
	from.RST = true
	if to.State == SynSent && !from.SawSYN {
		// The answer to a SYN (RFC 9293 3.10.7.1, RST generation for a
		// segment without ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>).
		if s.Flags&craft.ACK != 0 && s.Ack == to.synEnd && s.Seq == 0 {
			t.v[RuleRSTToSYN].pass(num)
		} else {
			t.v[RuleRSTToSYN].fail(num, "RST to a SYN has seq %d ack %d (ACK %v), want seq 0 ack %d with ACK", s.Seq, s.Ack, s.Flags&craft.ACK != 0, to.synEnd)
		}
		t.rstBy, t.rstNum = int8(fr), num
		from.State = Closed
		t.move(num, tr, EvRST)
		return
	}
	if from.State == SynSent {
		// RFC 9293 3.10.7.3: the RST a SYN_SENT side sends for an
		// unacceptable ACK (<SEQ=SEG.ACK><CTL=RST>) resets the peer's
		// half-open connection; the sender stays in SYN_SENT.
		if to.State == SynReceived {
			t.move(num, tr, EvRST)
		}
		return
	}
	accepted := true
	if from.SawAny && to.State.Synchronized() {
		if s.Seq == from.NextSeq {
			t.v[RuleRSTAcceptable].pass(num)
		} else {
			accepted = false
			t.v[RuleRSTAcceptable].fail(num, "RST seq %d is not RCV.NXT %d: the receiver must not reset (challenge ACK or drop)", s.Seq, from.NextSeq)
		}
	}
	if t.rstBy < 0 && accepted {
		t.rstBy, t.rstNum = int8(fr), num
		// A RST after both FINs were acknowledged answers a segment to a
		// closed connection: the close itself was orderly.
		t.rstAfterClose = from.FIN && to.FIN && from.FINAck && to.FINAck
	}
	if from.State != Closed {
		t.move(num, fr, EvRST)
	}
	if accepted && to.State != Closed && to.State != Listen {
		t.move(num, tr, EvRST)
	}
	to.kaPending = false
	if from.kaPending && from.kaProbes > 0 {
		t.v[RuleKeepAliveRST].pass(num)
	}
}

// TimeWaitExpired records that side r's TIME_WAIT timer ran out.
func (t *Tracker) TimeWaitExpired(r Role, num int) {
	if t.Side[r].State == TimeWait {
		t.move(num, r, EvTimeout)
	}
}

// KeepAliveGaveUp records that the prober r stopped probing without a RST
// after n unanswered probes (for the keepalive-rst rule).
func (t *Tracker) KeepAliveGaveUp(r Role, num int) {
	if t.Side[r].kaPending {
		t.v[RuleKeepAliveRST].fail(num, "%s sent %d unanswered keepalive probes and no RST", r, t.Side[r].kaProbes)
	}
}

// UnansweredProbes returns how many keepalive probes from r are unanswered
// in a row.
func (t *Tracker) UnansweredProbes(r Role) int {
	if !t.Side[r].kaPending {
		return 0
	}
	return t.Side[r].kaProbes
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

// CloseForm says how the connection ended.
type CloseForm uint8

// Close forms.
const (
	CloseNone         CloseForm = iota // neither FIN nor RST
	CloseHalf                          // one FIN, the other side still open
	CloseFourSegment                   // FIN, ACK, FIN, ACK
	CloseThreeSegment                  // FIN, FIN+ACK, ACK
	CloseSimultaneous                  // both FINs crossed (CLOSING)
	CloseReset                         // RST
	CloseFINsPending                   // both FINs sent, not both acknowledged
)

var closeNames = [...]string{"none", "half-closed", "4-segment", "3-segment", "simultaneous", "reset", "FINs unacknowledged"}

func (c CloseForm) String() string { return closeNames[c] }

// MarshalText prints close forms by name in JSON.
func (c CloseForm) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads a close form's name.
func (c *CloseForm) UnmarshalText(b []byte) error {
	for i, n := range closeNames {
		if n == string(b) {
			*c = CloseForm(i)
			return nil
		}
	}
	return fmt.Errorf("unknown close form %q", b)
}

// CloseForm returns how the connection ended and, for a reset or a close, who
// began it.
func (t *Tracker) CloseForm() (CloseForm, Role) {
	if t.rstBy >= 0 && !t.rstAfterClose {
		return CloseReset, Role(t.rstBy)
	}
	c, s := &t.Side[Client], &t.Side[Server]
	switch {
	case !c.FIN && !s.FIN:
		return CloseNone, 0
	case c.FIN != s.FIN:
		return CloseHalf, Role(t.firstFIN)
	case !c.FINAck || !s.FINAck:
		return CloseFINsPending, Role(t.firstFIN)
	case t.simultaneous:
		return CloseSimultaneous, Role(t.firstFIN)
	case t.combinedFIN:
		return CloseThreeSegment, Role(t.firstFIN)
	}
	return CloseFourSegment, Role(t.firstFIN)
}
