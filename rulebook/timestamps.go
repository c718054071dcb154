package rulebook

import (
	"github.com/tcpprobe/tcpprobe/craft"
)

// timestamps checks RFC 7323's rules: TSecr echoes a TSval the other side
// sent, and once both offered timestamps every segment carries them.
func (t *Tracker) timestamps(s *Seg, from, to *Side) {
	f := s.Flags
	if s.HasTS && f&craft.SYN == 0 && f&craft.ACK != 0 && s.TSecr != 0 && to.tsSeen {
		if craft.TSAfter(s.TSecr, to.tsMax) {
			t.v[RuleTSecrEchoes].fail(s.Num, "TSecr %d is newer than any TSval %s sent (last %d)", s.TSecr, 1-s.From, to.tsMax)
		} else {
			t.v[RuleTSecrEchoes].pass(s.Num)
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
			t.v[RuleTSEverySegment].pass(s.Num)
		} else {
			t.v[RuleTSEverySegment].fail(s.Num, "%s sent no timestamps after both offered them", s.From)
		}
	}
}
