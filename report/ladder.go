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
func Ladder(w io.Writer, rows []ladder.Row, st Style) {
	left, right := st.Left, st.Right
	if left == "" {
		left, right = "ours", "peer"
	}
	fmt.Fprintf(w, "%4s %9s  %-13s %-64s %s\n", "#", "ms", left, "segment", right)
	for _, r := range rows {
		var label string
		if r.ICMP && r.Packet.ICMP != nil {
			label = "ICMP " + r.Packet.ICMP.Description
			if r.Packet.IPv6 {
				label = "ICMPv6 " + r.Packet.ICMP.Description
			}
		} else {
			seq, ack := r.RelSeq, r.RelAck
			if st.Absolute {
				seq, ack = r.Packet.Seq, r.Packet.Ack
			}
			label = fmt.Sprintf("%s seq=%d", r.Packet.Flags, seq)
			if r.Flags&craft.ACK != 0 {
				label += fmt.Sprintf(" ack=%d", ack)
			}
			label += fmt.Sprintf(" win=%d", r.Packet.Window)
			if r.WinShift > 0 {
				label += fmt.Sprintf(" (x%d=%d)", 1<<r.WinShift, int(r.Packet.Window)<<r.WinShift)
			}
			if r.Packet.Len > 0 {
				label += fmt.Sprintf(" len=%d", r.Packet.Len)
			}
			opts := r.Packet.Options
			if !st.Absolute && r.RelOptions != nil {
				opts = r.RelOptions
			}
			if len(opts) > 0 {
				label += " [" + strings.Join(opts, ",") + "]"
			}
		}
		var arrow string
		if r.Dir == ladder.Out {
			arrow = "--- " + label + " -->"
		} else {
			arrow = "<-- " + label + " ---"
		}
		notes := ""
		if r.KernelRST {
			notes = "  (our kernel's RST)"
		}
		if len(r.Notes) > 0 {
			notes += "  (" + strings.Join(r.Notes, ", ") + ")"
		}
		if r.Dir == ladder.Out {
			arrow = st.Paint("36", arrow)
		} else {
			arrow = st.Paint("33", arrow)
		}
		fmt.Fprintf(w, "%4d %9.3f  %-13v %-64s %v%s\n", r.Num, r.TimeMs, r.Ours, arrow, r.Peer, notes)
	}
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
