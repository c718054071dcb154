package report

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Row is one line of a ladder diagram: a segment on the wire and both
// ends' states after it.
type Row struct {
	Num       int       `json:"num"`
	TimeMs    float64   `json:"time_ms"` // since the first segment
	Dir       string    `json:"dir"`     // "out" (ours / client's) or "in"
	Segment   Segment   `json:"segment"`
	RelSeq    uint32    `json:"rel_seq"`
	RelAck    uint32    `json:"rel_ack"`
	Ours      string    `json:"our_state"`
	Peer      string    `json:"peer_state"`
	Notes     []string  `json:"notes,omitempty"`
	ICMP      bool      `json:"icmp,omitempty"`
	KernelRST bool      `json:"kernel_rst,omitempty"`
	Time      time.Time `json:"-"`
}

// Verdict is one rule's result for display and JSON.
type Verdict struct {
	ID        string `json:"id"`
	Statement string `json:"statement"`
	Result    string `json:"result"` // "pass", "fail", "n/a"
	Evidence  []int  `json:"evidence,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

// Style controls terminal output.
type Style struct {
	Color    bool // ANSI colours (only on a terminal)
	Absolute bool // absolute seq/ack instead of relative
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
func Ladder(w io.Writer, rows []Row, st Style) {
	left, right := st.Left, st.Right
	if left == "" {
		left, right = "ours", "peer"
	}
	fmt.Fprintf(w, "%4s %9s  %-13s %-64s %s\n", "#", "ms", left, "segment", right)
	for _, r := range rows {
		var label string
		if r.ICMP && r.Segment.ICMP != nil {
			label = "ICMP " + r.Segment.ICMP.Description
		} else {
			seq, ack := r.RelSeq, r.RelAck
			if st.Absolute {
				seq, ack = r.Segment.Seq, r.Segment.Ack
			}
			label = fmt.Sprintf("%s seq=%d", r.Segment.Flags, seq)
			if strings.Contains(r.Segment.Flags, "ACK") {
				label += fmt.Sprintf(" ack=%d", ack)
			}
			label += fmt.Sprintf(" win=%d", r.Segment.Window)
			if r.Segment.Len > 0 {
				label += fmt.Sprintf(" len=%d", r.Segment.Len)
			}
			if len(r.Segment.Options) > 0 {
				label += " [" + strings.Join(r.Segment.Options, ",") + "]"
			}
		}
		var arrow string
		if r.Dir == "out" {
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
		if r.Dir == "out" {
			arrow = st.Paint("36", arrow)
		} else {
			arrow = st.Paint("33", arrow)
		}
		fmt.Fprintf(w, "%4d %9.3f  %-13s %-64s %s%s\n", r.Num, r.TimeMs, r.Ours, arrow, r.Peer, notes)
	}
}

// Rules prints the rule table; failures first keep their details visible.
func Rules(w io.Writer, vs []Verdict, st Style) {
	for _, v := range vs {
		res := v.Result
		switch res {
		case "pass":
			res = st.Paint("32", "pass")
		case "fail":
			res = st.Paint("1;31", "FAIL")
		}
		ev := ""
		if len(v.Evidence) > 0 {
			parts := make([]string, len(v.Evidence))
			for i, n := range v.Evidence {
				parts[i] = fmt.Sprintf("#%d", n)
			}
			ev = " [" + strings.Join(parts, " ") + "]"
		}
		fmt.Fprintf(w, "  %-4s  %-20s %s%s\n", res, v.ID, v.Statement, ev)
		if v.Detail != "" {
			fmt.Fprintf(w, "        %20s %s\n", "", v.Detail)
		}
	}
}
