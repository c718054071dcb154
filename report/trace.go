package report

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/tcpprobe/tcpprobe/trace"
)

// Hop prints one traceroute line: the TTL, then each probe's answerer
// (when it changes), RTT and what answered when it is not a router.
func Hop(w io.Writer, h trace.Hop) {
	var parts []string
	last := ""
	for _, p := range h.Probes {
		if p.What == "timeout" {
			parts = append(parts, "*")
			continue
		}
		s := ""
		if p.From != last {
			s = p.From + "  "
			last = p.From
		}
		s += fmt.Sprintf("%.3f ms", p.RTTms)
		if p.What != "time-exceeded" {
			s += " [" + p.What + "]"
		}
		parts = append(parts, s)
	}
	fmt.Fprintf(w, "%2d  %s\n", h.TTL, strings.Join(parts, "  "))
}

// HopMods prints, under a hop, the header changes its quotes show that no
// earlier hop showed ("first seen at hop N": a change made by hop N-1 on
// forwarding, or by hop N before it quoted), and whether the quote was
// partial. seen carries the changes already printed.
func HopMods(w io.Writer, h trace.Hop, seen map[string]bool) {
	var fresh []string
	partial := false
	for _, p := range h.Probes {
		partial = partial || p.Partial
		for _, m := range p.Mods {
			if k := m.String(); !seen[k] {
				seen[k] = true
				fresh = append(fresh, k)
			}
		}
	}
	sort.Strings(fresh)
	switch {
	case len(fresh) > 0:
		fmt.Fprintf(w, "    first seen at hop %d: %s\n", h.TTL, strings.Join(fresh, ", "))
	case partial:
		fmt.Fprintf(w, "    (partial quote: only ports and sequence number compared)\n")
	}
	var after []string
	for _, p := range h.Probes {
		for _, m := range p.AfterLastQuote {
			if k := m.String(); !slices.Contains(after, k) {
				after = append(after, k)
			}
		}
	}
	if len(after) > 0 {
		sort.Strings(after)
		fmt.Fprintf(w, "    SYN-ACK vs the last quote: %s (changed after the last quoting hop, or the server's own choice)\n", strings.Join(after, ", "))
	}
}
