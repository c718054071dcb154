package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/ladder"
	"github.com/tcpprobe/tcpprobe/rulebook"
)

// Style controls terminal output.
type Style struct {
	Color    bool // ANSI colours (only on a terminal)
	Absolute bool // absolute seq/ack instead of relative
	Verbose  bool // every rule, the not-applicable ones too
	Width    int  // terminal columns (0: unknown, lines are not shortened)
	Left     string
	Right    string
}

// Paint wraps s in the ANSI colour code when the style has colour on.
func (st Style) Paint(code, s string) string {
	if !st.Color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// Ladder draws the segments between the two ends, one line each, with the
// state of each end after the segment:
//
//	   ms  ours          segment                                          peer
//	0.000  SYN_SENT      ----- SYN seq=0 win=64240 [mss 1460,sackOK] -->  LISTEN
//
// Narrower than 120 columns (Style.Width), it drops the options and uses
// short state names, so that a line fits an 80-column terminal.
func Ladder(w io.Writer, rows []ladder.Row, st Style) {
	left, right := st.Left, st.Right
	if left == "" {
		left, right = "ours", "peer"
	}
	compact := st.Width > 0 && st.Width < 120
	stateW, segW := 13, 64
	state := func(s rulebook.State) string { return s.String() }
	if compact {
		stateW, state = 8, shortState
		segW = max(st.Width-4-1-9-2-stateW-1-stateW-1, 30)
	}
	fmt.Fprintf(w, "%4s %9s  %-*s %-*s %s\n", "#", "ms", stateW, left, segW, "segment", right)
	for _, r := range rows {
		label := segmentLabel(&r, st, compact)
		var arrow string
		if r.Dir == ladder.Out {
			arrow = "--- " + label + " -->"
		} else {
			arrow = "<-- " + label + " ---"
		}
		if compact && len(arrow) > segW {
			arrow = arrow[:segW-4] + "... "
		}
		arrow = fmt.Sprintf("%-*s", segW, arrow) // pad before painting: escapes have no width
		if r.Dir == ladder.Out {
			arrow = st.Paint("36", arrow)
		} else {
			arrow = st.Paint("33", arrow)
		}
		notes := ""
		if r.KernelRST {
			notes = "  (our kernel's RST)"
		}
		if len(r.Notes) > 0 {
			notes += "  (" + strings.Join(r.Notes, ", ") + ")"
		}
		fmt.Fprintf(w, "%4d %9.3f  %-*s %s %s%s\n", r.Num, r.TimeMs, stateW, state(r.Ours), arrow, state(r.Peer), notes)
	}
}

// segmentLabel is a row's segment as the ladder writes it.
func segmentLabel(r *ladder.Row, st Style, compact bool) string {
	if r.ICMP && r.Packet.ICMP != nil {
		if r.Packet.IPv6 {
			return "ICMPv6 " + r.Packet.ICMP.Description
		}
		return "ICMP " + r.Packet.ICMP.Description
	}
	seq, ack := r.RelSeq, r.RelAck
	if st.Absolute {
		seq, ack = r.Packet.Seq, r.Packet.Ack
	}
	label := fmt.Sprintf("%s seq=%d", r.Packet.Flags, seq)
	if r.Flags&craft.ACK != 0 {
		label += fmt.Sprintf(" ack=%d", ack)
	}
	label += fmt.Sprintf(" win=%d", r.Packet.Window)
	if r.WinShift > 0 && !compact {
		label += fmt.Sprintf(" (x%d=%d)", 1<<r.WinShift, int(r.Packet.Window)<<r.WinShift)
	}
	if r.Packet.Len > 0 {
		label += fmt.Sprintf(" len=%d", r.Packet.Len)
	}
	opts := r.Packet.Options
	if !st.Absolute && r.RelOptions != nil {
		opts = r.RelOptions
	}
	if len(opts) > 0 && !compact {
		label += " [" + strings.Join(opts, ",") + "]"
	}
	return label
}

// shortState is a state name in at most 8 characters, for narrow ladders.
func shortState(s rulebook.State) string {
	switch s {
	case rulebook.SynSent:
		return "SYN_SENT"
	case rulebook.SynReceived:
		return "SYN_RCVD"
	case rulebook.Established:
		return "ESTAB"
	case rulebook.FinWait1:
		return "FIN_WT1"
	case rulebook.FinWait2:
		return "FIN_WT2"
	case rulebook.CloseWait:
		return "CLS_WAIT"
	case rulebook.TimeWait:
		return "TIME_WT"
	case rulebook.Unknown:
		return "?"
	}
	return s.String()
}

// Rules prints the rule table, one verdict a line with its evidence, and
// the detail of a failure below it.
func Rules(w io.Writer, vs []rulebook.Verdict, st Style) {
	hidden := 0
	for i := range vs {
		v := &vs[i]
		if v.Result == rulebook.NotApplicable && !st.Verbose {
			hidden++
			continue
		}
		rule := rulebook.Rules[v.Rule]
		res := v.Result.String()
		switch v.Result {
		case rulebook.Pass:
			res = st.Paint("32", res)
		case rulebook.Fail:
			res = st.Paint("1;31", "FAIL")
		}
		ev := ""
		if e := v.Evidence(); len(e) > 0 {
			parts := make([]string, len(e))
			for i, n := range e {
				parts[i] = fmt.Sprintf("#%d", n)
			}
			ev = " [" + strings.Join(parts, " ") + "]"
		}
		fmt.Fprintf(w, "  %-4s  %-20s %s%s\n", res, rule.ID, rule.Statement, ev)
		if v.Detail != "" {
			fmt.Fprintf(w, "        %20s %s\n", "", v.Detail)
		}
	}
	if hidden > 0 {
		fmt.Fprintf(w, "  (%d rules not applicable to this connection: -v lists them)\n", hidden)
	}
}
