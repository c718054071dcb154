package rulebook

import (
	"github.com/tcpprobe/tcpprobe/craft"
)

// observeData checks data: none before the connection is synchronized
// (beyond a SYN's), none after the sender's FIN; data arriving after the
// receiver's FIN is a half-close.
func (t *Tracker) observeData(s *Seg, from, to *Side) {
	if s.Len == 0 {
		return
	}
	if !from.State.Synchronized() && from.State != SynReceived && s.Flags&craft.SYN == 0 {
		t.v[RuleLegalTransitions].fail(s.Num, "%s sent data in %v", s.From, from.State)
	}
	if end := s.Seq.Add(uint32(s.Len)); from.FIN && end.After(from.FINSeq) {
		t.v[RuleNoDataAfterFIN].fail(s.Num, "%s sent data up to %d after its FIN at %d", s.From, end, from.FINSeq)
	}
	if to.FIN && (to.State == FinWait1 || to.State == FinWait2) {
		s.Annotations |= uint16(NoteDataAfterFIN)
	}
}

// observeFIN records a side's FIN (a second one at another seq breaks
// no-data-after-fin, the same one again is a retransmission) and moves
// both sides: crossing FINs are a simultaneous close (RFC 9293 3.6 case 2).
func (t *Tracker) observeFIN(s *Seg, from, to *Side) {
	num, fr, tr := s.Num, s.From, 1-s.From
	finSeq := s.Seq.Add(uint32(s.Len))
	acksPeerFIN := s.Flags&craft.ACK != 0 && to.FIN && s.Ack == to.FINSeq.Add(1)
	switch {
	case !from.FIN:
		t.v[RuleNoDataAfterFIN].pass(num) // a later violation turns it into a fail
		from.FIN, from.FINSeq = true, finSeq
		if t.firstFIN < 0 {
			t.firstFIN = int8(fr)
		} else if int8(fr) != t.firstFIN {
			if acksPeerFIN && !t.sepACKOfFirst {
				t.combinedFIN = true
			}
			if !to.FINAck {
				t.simultaneous = true
			}
		}
		if from.State == CloseWait && to.FIN && !acksPeerFIN {
			// The FINs crossed: this side closed while ESTABLISHED,
			// before the peer's FIN reached it.
			from.State = Established
			t.move(num, fr, EvSendFIN)
			t.move(num, fr, EvRecvFIN)
		} else {
			t.move(num, fr, EvSendFIN)
		}
	case finSeq != from.FINSeq:
		t.v[RuleNoDataAfterFIN].fail(num, "%s sent a second FIN at %d after one at %d", fr, finSeq, from.FINSeq)
	default:
		s.Retrans = true
	}
	if to.State == TimeWait && s.Retrans {
		s.Annotations |= uint16(NoteFINInTimeWait)
	}
	if to.State != SynSent && to.State != Listen && to.State != Closed {
		t.move(num, tr, EvRecvFIN)
	}
}

// seqSpace follows the sender's sequence space: a segment that brings
// nothing new is a retransmission (unless it is a keepalive probe), one
// that starts beyond everything seen shows a gap in the capture.
func (t *Tracker) seqSpace(s *Seg, from *Side, prevNext craft.Seq, prevSawAny bool) {
	consumed := s.SeqLen()
	if consumed == 0 {
		if !from.SawAny && s.Flags&craft.ACK != 0 && t.cfg.MidStream {
			from.NextSeq, from.SawAny = s.Seq, true
		}
		return
	}
	end := s.Seq.Add(consumed)
	if prevSawAny && !end.After(prevNext) && !s.KeepAlive {
		s.Retrans = true
	}
	if !from.SawAny || end.After(from.NextSeq) {
		if prevSawAny && s.Seq.After(prevNext) && s.Flags&craft.SYN == 0 {
			s.Annotations |= uint16(NoteGap) // earlier data not seen
		}
		from.NextSeq, from.SawAny = end, true
	}
	if !s.KeepAlive {
		from.LastDataTime, from.lastDataNs = s.Time, s.Time.UnixNano()
		from.ends[from.nends%len(from.ends)] = end
		from.nends++
	}
}
