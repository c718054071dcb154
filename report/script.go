package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/tcpprobe/tcpprobe/script"
)

// Script prints a run: a header, each line with its outcome (the segment
// or return value seen, how late, and why a line failed), then the
// rulebook's verdicts on the whole conversation.
func Script(w io.Writer, r *script.Result, st Style) {
	fmt.Fprintf(w, "TCPPROBE script %s  %s (%s) from %s\n", r.Script, r.Target, r.Family, r.Local)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	fmt.Fprintf(w, "  %-6s %9s %8s  %s\n", "", "at ms", "late ms", "line")
	for _, l := range r.Lines {
		status := l.Status
		switch l.Status {
		case script.StatusPass:
			status = st.Paint("32", "ok")
		case script.StatusFail:
			status = st.Paint("1;31", "FAIL")
		}
		at, late := "", ""
		if l.Status == script.StatusPass || l.Status == script.StatusFail {
			at = fmt.Sprintf("%.3f", l.AtMs)
			if l.LateMs != 0 {
				late = fmt.Sprintf("%+.3f", l.LateMs)
			}
		}
		fmt.Fprintf(w, "  %-6s %9s %8s  %4d  %s\n", status, at, late, l.Line, l.Text)
		if l.Status == script.StatusFail || l.Status == script.StatusSkipped || st.Verbose {
			if l.Seen != "" {
				fmt.Fprintf(w, "  %-6s %18s        seen: %s\n", "", "", l.Seen)
			}
			if l.Why != "" {
				fmt.Fprintf(w, "  %-6s %18s        %s\n", "", "", l.Why)
			}
		}
	}
	fmt.Fprintln(w)
	Rules(w, r.Verdicts, st)
	if len(r.ScriptFailures) > 0 {
		fmt.Fprintf(w, "  (broken by the script's own segments, not the host's: %s)\n", strings.Join(r.ScriptFailures, ", "))
	}
	verdict := st.Paint("32", "PASS")
	if !r.Passed {
		verdict = st.Paint("1;31", "FAIL")
	}
	fmt.Fprintf(w, "\n%s  %s (%s): %d lines, %d packets captured\n", verdict, r.Script, r.Family, len(r.Lines), r.Packets)
}

// ScriptSummary is run_all's tally of several runs.
func ScriptSummary(w io.Writer, rs []*script.Result) {
	pass := 0
	for _, r := range rs {
		if r.Passed {
			pass++
		}
	}
	fmt.Fprintf(w, "\n%d of %d runs passed", pass, len(rs))
	if pass < len(rs) {
		fmt.Fprint(w, "; failed:")
		for _, r := range rs {
			if !r.Passed {
				fmt.Fprintf(w, " %s (%s)", r.Script, r.Family)
			}
		}
	}
	fmt.Fprintln(w)
}
