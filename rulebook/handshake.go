package rulebook

import (
	"github.com/tcpprobe/tcpprobe/craft"
)

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

func (t *Tracker) observeACK(s *Seg, from, to *Side, fr, tr Role) {
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

// firstAfterSYN checks the first segment after a side's SYN (seq-after-syn;
// a keepalive probe after idle time is not such a segment) and that MSS
// appears only in SYNs.
func (t *Tracker) firstAfterSYN(s *Seg, from *Side, idle bool) {
	if from.SawSYN && !from.checkedSeq && !(s.KeepAlive && idle) {
		from.checkedSeq = true
		if s.Seq == from.synEnd {
			t.v[RuleSeqAfterSYN].pass(s.Num)
		} else {
			t.v[RuleSeqAfterSYN].fail(s.Num, "%s's first segment after its SYN has seq %d, want ISN+1 = %d", s.From, s.Seq, from.synEnd)
		}
	}
	if s.MSS != 0 {
		t.v[RuleMSSSane].fail(s.Num, "MSS option in a segment without SYN")
	}
}
