package report

import (
	"fmt"
	"io"
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
