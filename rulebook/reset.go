package rulebook

import (
	"github.com/tcpprobe/tcpprobe/craft"
)

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
			win := uint32(to.Window)
			if to.WScale >= 0 && from.WScale >= 0 { // scaling is on when both SYNs offered it
				win <<= to.WScale
			}
			if win != 0 && s.Seq.InWindow(from.NextSeq, win) {
				// In the window, not exact: the grid's cell says what the
				// receiver answers (RFC 5961 3.2: a challenge ACK).
				if e := SegmentArrives(to.State, "rst-in-window"); e != nil && e.Expects(ReplyChallengeACK) {
					to.owesChallenge = true
				}
			}
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
