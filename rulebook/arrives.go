package rulebook

// The "SEGMENT ARRIVES" grid (RFC 9293 3.10.7) with RFC 5961's challenge
// ACKs, RFC 7323's PAWS, RFC 1122 and RFC 1337 applied: what a peer in a
// state must, should or may answer to each kind of segment. conform
// probes live hosts cell by cell; the Tracker uses the same cells to
// recognise, in any capture, the challenge ACKs RFC 5961 asks for.

// ArrivalProbes lists the probe segments (stable IDs), in the grid's order.
var ArrivalProbes = []string{"syn", "syn-same", "rst-exact", "rst-in-window", "rst-out-of-window",
	"ack-new", "ack-dup", "data-in-window", "data-old", "data-beyond-window", "fin", "no-flags",
	"syn-in-window", "syn-ack-unsolicited", "ack-old", "fin-data", "urg", "ts-old"}

// Replies: what came back to a probe.
const (
	ReplyNone         = "none"
	ReplyACK          = "ack"
	ReplyChallengeACK = "challenge-ack" // an ACK answering a RST or SYN (RFC 5961)
	ReplyRST          = "rst"
	ReplySynAck       = "syn-ack"
	ReplyData         = "data"
	ReplyICMP         = "icmp"
)

// After: what became of the connection.
const (
	AfterKept    = "kept"
	AfterDropped = "dropped"
	AfterUnknown = "unknown"
)

// Verdicts of a cell.
const (
	CellPass        = "pass"
	CellAllowed     = "allowed" // an answer the RFCs leave open (MAY, SHOULD, or a recommendation)
	CellFail        = "fail"    // a MUST broken
	CellUnreachable = "unreachable"
	CellNotApplied  = "n/a" // the probe means nothing in that state
)

// outcome is one acceptable answer: the reply and what became of the
// connection ("" for either).
type outcome struct{ reply, after string }

// Expectation is the expected answer of one cell of the grid.
type Expectation struct {
	pass, allowed []outcome
	// Expected says it in words; RFC names the section.
	Expected, RFC string
}

func o(reply, after string) outcome { return outcome{reply, after} }

// Judge returns the verdict of a cell's answer.
func (r *Expectation) Judge(reply, after string) string {
	match := func(os []outcome) bool {
		for _, x := range os {
			if x.reply == reply && (x.after == "" || x.after == after || after == AfterUnknown) {
				return true
			}
		}
		return false
	}
	switch {
	case match(r.pass):
		return CellPass
	case match(r.allowed):
		return CellAllowed
	}
	return CellFail
}

// Expects reports whether reply is among the answers the cell passes or
// allows.
func (r *Expectation) Expects(reply string) bool {
	for _, os := range [][]outcome{r.pass, r.allowed} {
		for _, x := range os {
			if x.reply == reply {
				return true
			}
		}
	}
	return false
}

// SegmentArrives returns the expected answer of a peer in state to the
// probe segment (conform's grid, and what the Tracker expects of a capture
// in the same situation), or nil when the probe means nothing in that state.
func SegmentArrives(state State, probe string) *Expectation {
	if state == Listen {
		return arrivesListen(probe)
	}
	if state == SynReceived {
		return arrivesSynReceived(probe)
	}
	// Synchronized states.
	closedOurSide := state == CloseWait || state == LastAck || state == Closing || state == TimeWait // the peer has our FIN
	switch probe {
	case "syn", "syn-same", "syn-in-window", "syn-ack-unsolicited":
		if state == TimeWait && probe != "syn-ack-unsolicited" {
			// RFC 9293 3.10.7.4 and RFC 6191: a SYN with a higher ISN, or
			// (with timestamps) a newer TSval, may reopen a connection from
			// TIME_WAIT; a challenge ACK or a RST is the other reading.
			// Silence leaves out the ACK an unacceptable segment "should" get.
			return &Expectation{pass: []outcome{o(ReplySynAck, ""), o(ReplyChallengeACK, AfterKept)},
				allowed:  []outcome{o(ReplyRST, ""), o(ReplyACK, ""), o(ReplyNone, AfterKept)},
				Expected: "a new connection (SYN-ACK) or a challenge ACK", RFC: "9293 3.10.7.4, 6191"}
		}
		// RFC 9293 3.10.7.4 fourth: a SYN "irrespective of the sequence
		// number" MUST get a challenge ACK; RFC 793 reset instead. A SYN-ACK
		// nobody asked for carries a SYN too.
		return &Expectation{pass: []outcome{o(ReplyChallengeACK, AfterKept)},
			allowed:  []outcome{o(ReplyRST, AfterDropped), o(ReplyNone, AfterKept)},
			Expected: "challenge ACK, connection kept (RFC 793: RST)", RFC: "9293 3.10.7.4, 5961 4.2"}
	case "ack-old":
		// RFC 5961 5.2: SEG.ACK below SND.UNA - MAX.SND.WND is discarded
		// and an ACK sent (TIME_WAIT: acknowledged, or ignored).
		return &Expectation{pass: []outcome{o(ReplyACK, AfterKept), o(ReplyChallengeACK, AfterKept)},
			allowed:  []outcome{o(ReplyNone, AfterKept)},
			Expected: "ACK, segment discarded, connection kept", RFC: "9293 3.10.7.4, 5961 5.2"}
	case "rst-exact":
		if state == TimeWait {
			return &Expectation{pass: []outcome{o(ReplyNone, AfterDropped)}, allowed: []outcome{o(ReplyNone, AfterKept)},
				Expected: "none, TIME_WAIT ends (RFC 1337 lets it stay)", RFC: "9293 3.10.7.4, 1337"}
		}
		return &Expectation{pass: []outcome{o(ReplyNone, AfterDropped)},
			Expected: "none, connection reset", RFC: "9293 3.10.7.4, 5961 3.2"}
	case "rst-in-window":
		return &Expectation{pass: []outcome{o(ReplyChallengeACK, AfterKept)},
			allowed:  []outcome{o(ReplyNone, AfterDropped), o(ReplyNone, AfterKept)},
			Expected: "challenge ACK, connection kept (RFC 793: reset)", RFC: "9293 3.10.7.4, 5961 3.2"}
	case "rst-out-of-window":
		// "Silently drop" (RFC 5961 3.2, recommended): an ACK is a
		// variant; a reset is what RFC 793's window check already forbids.
		return &Expectation{pass: []outcome{o(ReplyNone, AfterKept)},
			allowed:  []outcome{o(ReplyChallengeACK, AfterKept), o(ReplyACK, AfterKept)},
			Expected: "none, connection kept", RFC: "9293 3.10.7.4, 5961 3.2"}
	case "ack-new":
		return &Expectation{pass: []outcome{o(ReplyACK, AfterKept)},
			allowed:  []outcome{o(ReplyNone, AfterKept)},
			Expected: "ACK (of what it sent), connection kept", RFC: "9293 3.10.7.4, 5961 5.2"}
	case "ack-dup":
		return &Expectation{pass: []outcome{o(ReplyNone, AfterKept)},
			Expected: "none (a duplicate ACK is ignored)", RFC: "9293 3.10.7.4"}
	case "ts-old":
		// RFC 7323 5.3 (PAWS): a segment whose TSval is older than
		// TS.Recent is dropped and acknowledged (not a RST). Once the
		// peer's application has closed, its data may meet RFC 1122
		// 4.2.2.13's RST first: the order of the checks is not a MUST.
		r := &Expectation{pass: []outcome{o(ReplyACK, AfterKept)},
			allowed:  []outcome{o(ReplyNone, AfterKept)},
			Expected: "ACK, segment dropped (PAWS)", RFC: "9293 3.10.7.4, 7323 5.3"}
		if state == FinWait2 || closedOurSide {
			r.allowed = append(r.allowed, o(ReplyRST, AfterDropped))
			r.Expected = "ACK, segment dropped (PAWS); or RST (data after its application closed)"
			r.RFC += ", 1122 4.2.2.13"
		}
		return r
	case "data-in-window", "fin-data", "urg":
		if closedOurSide {
			// Data after our FIN "should not occur"; RFC 1122 4.2.2.13 asks
			// for a RST when data is lost after the application closed.
			return &Expectation{allowed: []outcome{o(ReplyRST, ""), o(ReplyACK, ""), o(ReplyNone, "")},
				Expected: "ignored, or RST (data after a FIN)", RFC: "9293 3.10.7.4, 1122 4.2.2.13"}
		}
		if state == FinWait2 {
			// The peer's application closed: RFC 1122 4.2.2.13's RST.
			return &Expectation{pass: []outcome{o(ReplyACK, AfterKept), o(ReplyRST, AfterDropped)},
				allowed:  []outcome{o(ReplyData, "")},
				Expected: "ACK of the data, or RST (its application closed)", RFC: "9293 3.10.7.4, 1122 4.2.2.13"}
		}
		if probe == "fin-data" {
			// The data, then the FIN: acknowledged together, CLOSE_WAIT (a
			// server that answers and closes may send data and its FIN).
			return &Expectation{pass: []outcome{o(ReplyACK, ""), o(ReplyData, "")},
				allowed:  []outcome{o(ReplyRST, AfterDropped)},
				Expected: "ACK of the data and the FIN", RFC: "9293 3.10.7.4"}
		}
		return &Expectation{pass: []outcome{o(ReplyACK, AfterKept), o(ReplyData, AfterKept)},
			Expected: "ACK of the data, connection kept", RFC: "9293 3.10.7.4"}
	case "data-old", "data-beyond-window":
		return &Expectation{pass: []outcome{o(ReplyACK, AfterKept)},
			allowed:  []outcome{o(ReplyNone, AfterKept)},
			Expected: "ACK <SEQ=SND.NXT><ACK=RCV.NXT>, segment dropped", RFC: "9293 3.10.7.4"}
	case "fin":
		return &Expectation{pass: []outcome{o(ReplyACK, ""), o(ReplyData, "")},
			allowed:  []outcome{o(ReplyRST, AfterDropped)},
			Expected: "ACK of the FIN", RFC: "9293 3.10.7.4"}
	case "no-flags":
		return &Expectation{pass: []outcome{o(ReplyNone, AfterKept)},
			Expected: "none: a segment without ACK is dropped", RFC: "9293 3.10.7.4"}
	}
	return nil
}

func arrivesListen(probe string) *Expectation {
	switch probe {
	case "syn":
		return &Expectation{pass: []outcome{o(ReplySynAck, "")}, Expected: "SYN-ACK", RFC: "9293 3.10.7.2"}
	case "rst-exact":
		return &Expectation{pass: []outcome{o(ReplyNone, "")}, Expected: "none: a RST is ignored", RFC: "9293 3.10.7.2"}
	case "ack-new", "ack-old", "data-in-window", "fin", "fin-data", "syn-ack-unsolicited", "urg", "ts-old":
		return &Expectation{pass: []outcome{o(ReplyRST, "")}, Expected: "RST <SEQ=SEG.ACK>", RFC: "9293 3.10.7.2"}
	case "no-flags":
		return &Expectation{pass: []outcome{o(ReplyNone, "")}, Expected: "none: dropped", RFC: "9293 3.10.7.2"}
	}
	return nil
}

func arrivesSynReceived(probe string) *Expectation {
	switch probe {
	case "syn-same":
		return &Expectation{pass: []outcome{o(ReplySynAck, AfterKept)}, allowed: []outcome{o(ReplyChallengeACK, AfterKept), o(ReplyNone, AfterKept)},
			Expected: "its SYN-ACK again", RFC: "9293 3.10.7.4, 3.8.1"}
	case "syn", "syn-in-window":
		return &Expectation{allowed: []outcome{o(ReplySynAck, ""), o(ReplyChallengeACK, ""), o(ReplyRST, ""), o(ReplyNone, "")},
			Expected: "challenge ACK, or back to LISTEN", RFC: "9293 3.10.7.4, 5961 4"}
	case "rst-exact":
		return &Expectation{pass: []outcome{o(ReplyNone, AfterDropped)}, Expected: "none, back to LISTEN", RFC: "9293 3.10.7.4"}
	case "rst-in-window":
		return &Expectation{pass: []outcome{o(ReplyChallengeACK, AfterKept)}, allowed: []outcome{o(ReplyNone, "")},
			Expected: "challenge ACK (RFC 793: reset)", RFC: "9293 3.10.7.4, 5961 3.2"}
	case "rst-out-of-window":
		return &Expectation{pass: []outcome{o(ReplyNone, AfterKept)}, Expected: "none", RFC: "9293 3.10.7.4"}
	case "ack-new", "ack-old":
		// An unacceptable ACK in SYN-RECEIVED: <SEQ=SEG.ACK><CTL=RST>.
		return &Expectation{pass: []outcome{o(ReplyRST, "")}, Expected: "RST <SEQ=SEG.ACK>", RFC: "9293 3.10.7.4"}
	case "syn-ack-unsolicited":
		// A SYN (challenge ACK, 5961 4) with an unacceptable ACK (RST).
		return &Expectation{pass: []outcome{o(ReplyChallengeACK, AfterKept), o(ReplyRST, "")}, allowed: []outcome{o(ReplyNone, "")},
			Expected: "challenge ACK, or RST <SEQ=SEG.ACK>", RFC: "9293 3.10.7.4, 5961 4"}
	case "no-flags":
		return &Expectation{pass: []outcome{o(ReplyNone, AfterKept)}, Expected: "none: dropped", RFC: "9293 3.10.7.4"}
	}
	return nil
}
