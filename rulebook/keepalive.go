package rulebook

import (
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
)

// keepAliveProbe marks a keepalive probe: seq = SND.NXT-1 with 0 or 1
// byte on a synchronized connection (RFC 9293 3.8.4), sent after idle
// time; its ACK (ack = SND.NXT) is the answer (observeACK).
func (t *Tracker) keepAliveProbe(s *Seg, from *Side, prevNext craft.Seq, idle time.Duration) {
	if s.Flags&(craft.SYN|craft.FIN) != 0 || s.Len > 1 || s.Seq != prevNext.Add(^uint32(0)) || !from.State.Synchronized() {
		return
	}
	if from.FIN {
		// After its FIN a side sends no keepalive: a segment at the FIN's
		// number is an ACK it sent before the FIN, captured after it (seen
		// on a loaded host: the peer's FIN, then its ACK of our FIN).
		return
	}
	s.KeepAlive = true
	s.Annotations |= uint16(NoteKeepAlive)
	t.v[RuleKeepAliveSeq].pass(s.Num)
	if idle >= t.idleThreshold {
		t.v[RuleKeepAliveIdle].pass(s.Num)
	} else {
		t.v[RuleKeepAliveIdle].fail(s.Num, "%s sent a keepalive probe only %v after the connection's last traffic", s.From, idle.Round(time.Millisecond))
	}
	if from.kaPending {
		from.kaProbes++
	} else {
		from.kaProbes = 1
	}
	from.kaPending, from.kaProbeSeq = true, s.Seq
}

// KeepAliveGaveUp records that the prober r stopped probing without a RST
// after n unanswered probes (for the keepalive-rst rule).
func (t *Tracker) KeepAliveGaveUp(r Role, num int) {
	if t.Side[r].kaPending {
		t.v[RuleKeepAliveRST].fail(num, "%s sent %d unanswered keepalive probes and no RST", r, t.Side[r].kaProbes)
	}
}

// KeepAliveClosedSilently records that the prober r gave the connection up
// without a RST of its own: it answered a later segment with one, as a
// closed connection does (RFC 9293 3.10.8 closes on a timeout without a
// RST). The keepalive-rst rule holds; its evidence is the segment num, or
// the last segment seen when num is 0.
func (t *Tracker) KeepAliveClosedSilently(r Role, num int) {
	if num == 0 {
		num = t.n
	}
	t.v[RuleKeepAliveRST].pass(num)
}

// UnansweredProbes returns how many keepalive probes from r are unanswered
// in a row.
func (t *Tracker) UnansweredProbes(r Role) int {
	if !t.Side[r].kaPending {
		return 0
	}
	return t.Side[r].kaProbes
}
