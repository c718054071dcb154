// Package conform is the workload of `tcpprobe conform`: it brings a live
// host's connection into each TCP state by hand, sends one kind of segment
// there, and judges the answer by the rulebook's "SEGMENT ARRIVES" grid
// (rulebook.SegmentArrives: RFC 9293 section 3.10.7 with RFC 5961's
// challenge ACKs, RFC 7323's PAWS, RFC 1122 and RFC 1337 applied). This
// file names the grid's stable IDs.
package conform

import "github.com/tcpprobe/tcpprobe/rulebook"

// Peer states conform can bring a connection into (stable IDs).
const (
	Listen      = "LISTEN"
	SynReceived = "SYN_RECEIVED"
	Established = "ESTABLISHED"
	CloseWait   = "CLOSE_WAIT"
	FinWait2    = "FIN_WAIT_2"
	LastAck     = "LAST_ACK"
	Closing     = "CLOSING"
	TimeWait    = "TIME_WAIT"
)

// States lists the peer states in the grid's order.
var States = []string{Listen, SynReceived, Established, CloseWait, FinWait2, LastAck, Closing, TimeWait}

// Probes lists the probe segments (stable IDs), in the grid's order.
var Probes = rulebook.ArrivalProbes

// Replies: what came back to a probe.
const (
	ReplyNone         = rulebook.ReplyNone
	ReplyACK          = rulebook.ReplyACK
	ReplyChallengeACK = rulebook.ReplyChallengeACK
	ReplyRST          = rulebook.ReplyRST
	ReplySynAck       = rulebook.ReplySynAck
	ReplyData         = rulebook.ReplyData
	ReplyICMP         = rulebook.ReplyICMP
)

// After: what became of the connection.
const (
	AfterKept    = rulebook.AfterKept
	AfterDropped = rulebook.AfterDropped
	AfterUnknown = rulebook.AfterUnknown
)

// Verdicts of a cell.
const (
	Pass        = rulebook.CellPass
	Allowed     = rulebook.CellAllowed
	Fail        = rulebook.CellFail
	Unreachable = rulebook.CellUnreachable
	NotApplied  = rulebook.CellNotApplied
)

// Expect returns the expectation of cell (state, probe), or nil when the
// probe means nothing in that state.
func Expect(state, probe string) *rulebook.Expectation {
	var s rulebook.State
	if s.UnmarshalText([]byte(state)) != nil {
		return nil
	}
	return rulebook.SegmentArrives(s, probe)
}
