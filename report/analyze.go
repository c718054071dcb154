package report

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tcpprobe/tcpprobe/analyze"
	"github.com/tcpprobe/tcpprobe/rulebook"
)

// ConnTable prints one line per connection: Zeek's conn_state and history,
// the handshake and close, counts, the SYN-to-ACK time and what was odd.
func ConnTable(w io.Writer, conns []*analyze.Conn, showFile bool, st Style) {
	if showFile {
		fmt.Fprintf(w, "%-20s ", "file")
	}
	// The endpoints' column fits the widest (IPv6 addresses are long).
	ends := 44
	for _, c := range conns {
		ends = max(ends, len(c.Orig)+len(" -> ")+len(c.Resp))
	}
	fmt.Fprintf(w, "%-4s %-10s %-*s %-6s %-12s %-12s %-13s %7s %9s %10s  %s\n",
		"#", "start", ends, "orig -> resp", "zeek", "history", "handshake", "close", "pkts", "bytes", "syn-to-ack", "anomalies / violations")
	var t0 time.Time
	for i, c := range conns {
		if i == 0 || (showFile && c.File != conns[i-1].File) {
			t0 = c.Start // start times are relative to each capture's first connection
		}
		if showFile {
			fmt.Fprintf(w, "%-20s ", filepath.Base(c.File))
		}
		rtt := "-"
		if c.SynRTTms > 0 {
			rtt = fmt.Sprintf("%.3f", c.SynRTTms+c.AckRTTms)
		}
		var notes []string
		for j := range analyze.NumFlags {
			if n := c.Anomalies[j]; n > 0 {
				notes = append(notes, fmt.Sprintf("%s=%d", analyze.FlagName(j), n))
			}
		}
		for _, v := range c.Violations {
			notes = append(notes, st.Paint("1;31", "FAIL:"+rulebook.Rules[v.Rule].ID))
		}
		closeForm := c.Close
		if c.CloseBy != "" && c.Close != "none" {
			closeForm += "/" + c.CloseBy
		}
		fmt.Fprintf(w, "%-4d %-10.3f %-*s %-6s %-12s %-12s %-13s %7d %9d %10s  %s\n", i+1, c.Start.Sub(t0).Seconds(), ends,
			c.Orig+" -> "+c.Resp, c.ConnState, c.History, c.Handshake, closeForm, c.OrigPkts+c.RespPkts,
			c.OrigBytes+c.RespBytes, rtt, strings.Join(notes, " "))
	}
}

// Stream prints one connection as a ladder with its rule violations.
func Stream(w io.Writer, c *analyze.Conn) {
	fmt.Fprintf(w, "connection %s: %s -> %s, %s, zeek %s %s\n\n", c.UID, c.Orig, c.Resp, c.Handshake, c.ConnState, c.History)
	Ladder(w, c.Ladder, Style{Left: "orig", Right: "resp"})
	fmt.Fprintln(w, "\nrule violations:")
	if len(c.Violations) == 0 {
		fmt.Fprintln(w, "  none")
	}
	Rules(w, c.Violations, Style{})
	fmt.Fprintf(w, "\norig states: %s\nresp states: %s\n\n", strings.Join(c.OrigStates, " -> "), strings.Join(c.RespStates, " -> "))
}

// ConnSummary counts connections by outcome without keeping them.
type ConnSummary struct {
	Total    int
	outcomes map[string]int
	states   map[string]int
}

// NewConnSummary starts an empty summary.
func NewConnSummary() *ConnSummary {
	return &ConnSummary{outcomes: map[string]int{}, states: map[string]int{}}
}

// Add counts one connection.
func (s *ConnSummary) Add(c *analyze.Conn) {
	s.Total++
	s.outcomes[c.Handshake]++
	s.states[c.ConnState]++
}

// LatestFirst is a heap of connections with the one that began last on
// top, so a bounded table keeps the earliest ones.
type LatestFirst []*analyze.Conn

func (h LatestFirst) Len() int           { return len(h) }
func (h LatestFirst) Less(i, j int) bool { return h[i].FirstPacket > h[j].FirstPacket }
func (h LatestFirst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *LatestFirst) Push(x any)        { *h = append(*h, x.(*analyze.Conn)) }
func (h *LatestFirst) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// AnalyzeSummary prints the totals of an analysis.
func AnalyzeSummary(w io.Writer, st *analyze.Stats, sum *ConnSummary, elapsed time.Duration) {
	fmt.Fprintf(w, "\n%s\n", st)
	if elapsed >= 100*time.Millisecond {
		// A rate over a few milliseconds says nothing.
		fmt.Fprintf(w, "analyzed in %v (%.0f packets/s)\n", elapsed.Round(time.Millisecond), float64(st.Frames)/elapsed.Seconds())
	}
	fmt.Fprintf(w, "handshakes: %s\n", joinCounts(sum.outcomes))
	fmt.Fprintf(w, "zeek conn_state: %s\n", joinCounts(sum.states))
	var an []string
	for j := range analyze.NumFlags {
		if n := st.Counts[j]; n > 0 {
			an = append(an, fmt.Sprintf("%s %d", analyze.FlagName(j), n))
		}
	}
	if len(an) > 0 {
		fmt.Fprintf(w, "anomalies (packets): %s\n", strings.Join(an, ", "))
	}
	var rf []string
	for r, n := range st.RuleFails {
		if n > 0 {
			rf = append(rf, fmt.Sprintf("%s %d", rulebook.Rules[r].ID, n))
		}
	}
	if len(rf) > 0 {
		fmt.Fprintf(w, "rule violations (connections): %s\n", strings.Join(rf, ", "))
	}
	if st.Evicted > 0 {
		fmt.Fprintf(w, "flow table full: %d connections flushed early\n", st.Evicted)
	}
}

func joinCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
