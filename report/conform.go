package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/tcpprobe/tcpprobe/conform"
)

// replyCodes are the matrix's two-letter replies.
var replyCodes = map[string]string{
	conform.ReplyNone: "--", conform.ReplyACK: "A", conform.ReplyChallengeACK: "CA", conform.ReplyRST: "R",
	conform.ReplySynAck: "SA", conform.ReplyData: "D", conform.ReplyICMP: "I",
}

// Conform draws the grid (rows: the peer's states, columns: the probes;
// each cell the reply, a '*' when the connection was dropped, and a mark
// for the verdict), then every cell that is not a pass, each with its
// expectation, and the ladders of the failures.
func Conform(w io.Writer, r *conform.Result, st Style) {
	fmt.Fprintf(w, "TCPPROBE conform %s\n\nports:", r.Target)
	for _, p := range r.Ports {
		var what []string
		switch {
		case !p.Open:
			what = append(what, "not open")
		case p.ClosesFirst:
			what = append(what, "closes first")
		case p.SpeaksFirst:
			what = append(what, "speaks first")
		case p.HoldsAfterFIN:
			what = append(what, "holds after our FIN")
		default:
			what = append(what, "holds")
		}
		fmt.Fprintf(w, "  %d %s", p.Port, strings.Join(what, ","))
	}
	fmt.Fprint(w, "\n\n")
	cells := map[[2]string]conform.Cell{}
	tested := map[string]bool{}
	for _, c := range r.Cells {
		cells[[2]string{c.State, c.Probe}] = c
		tested[c.Probe] = true
	}
	var probes []string // the grid's columns, in the grid's order
	for _, p := range conform.Probes {
		if tested[p] {
			probes = append(probes, p)
		}
	}
	fmt.Fprintf(w, "%-13s", "peer state")
	for i := range probes {
		fmt.Fprintf(w, " %4s", fmt.Sprintf("p%d", i+1))
	}
	fmt.Fprintln(w)
	for _, s := range conform.States {
		row := false
		for _, p := range probes {
			if _, ok := cells[[2]string{s, p}]; ok {
				row = true
			}
		}
		if !row {
			continue
		}
		fmt.Fprintf(w, "%-13s", s)
		for _, p := range probes {
			c, ok := cells[[2]string{s, p}]
			fmt.Fprintf(w, " %s", cellText(c, ok, st))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, "\nprobes:")
	for i, p := range probes {
		fmt.Fprintf(w, " p%d %s", i+1, p)
		if i%6 == 5 && i+1 < len(probes) {
			fmt.Fprint(w, "\n       ")
		}
	}
	fmt.Fprint(w, "\nreplies: -- none, A ack, CA challenge ack, R rst, SA syn-ack, D data, I icmp; * the connection was dropped; ")
	fmt.Fprint(w, "marks: (none) pass, ? allowed, ! FAIL, .. unreachable\n")
	counts := map[string]int{}
	for _, c := range r.Cells {
		counts[c.Verdict]++
	}
	fmt.Fprintf(w, "\n%d cells: %d pass, %d allowed, %d fail, %d unreachable, %d not applicable\n",
		len(r.Cells), counts[conform.Pass], counts[conform.Allowed], counts[conform.Fail], counts[conform.Unreachable], counts[conform.NotApplied])
	said := map[string]bool{}
	for _, c := range r.Cells {
		switch c.Verdict {
		case conform.Allowed:
			fmt.Fprintf(w, "  allowed  %-12s %-18s got %s, %s; expected %s (RFC %s)\n", c.State, c.Probe, c.Reply, c.After, c.Expected, c.RFC)
		case conform.Fail:
			fmt.Fprintf(w, "  %s     %-12s %-18s got %s, %s; expected %s (RFC %s)\n", st.Paint("1;31", "FAIL"), c.State, c.Probe, c.Reply, c.After, c.Expected, c.RFC)
		case conform.Unreachable:
			if !said[c.State+c.Note] {
				said[c.State+c.Note] = true
				fmt.Fprintf(w, "  unreachable %s: %s\n", c.State, c.Note)
			}
		}
	}
	for _, c := range r.Cells {
		if c.Verdict == conform.Fail && len(c.Ladder) > 0 {
			fmt.Fprintf(w, "\n%s x %s (port %d):\n", c.State, c.Probe, c.Port)
			Ladder(w, c.Ladder, st)
		}
	}
}

func cellText(c conform.Cell, ok bool, st Style) string {
	if !ok || c.Verdict == conform.NotApplied {
		return "    "
	}
	if c.Verdict == conform.Unreachable {
		return "  .."
	}
	code := replyCodes[c.Reply]
	if c.After == conform.AfterDropped {
		code += "*"
	}
	switch c.Verdict {
	case conform.Allowed:
		return st.Paint("33", fmt.Sprintf("%4s", code+"?"))
	case conform.Fail:
		return st.Paint("1;31", fmt.Sprintf("%4s", code+"!"))
	}
	return st.Paint("32", fmt.Sprintf("%4s", code))
}
