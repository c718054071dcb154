package report

import (
	"fmt"
	"io"
	"sort"

	"github.com/tcpprobe/tcpprobe/scan"
)

// Scan prints nmap-style tables per host; a state with many ports is
// summarised in one "not shown" line.
func Scan(w io.Writer, res []scan.Port, st *scan.Stats, openOnly bool) {
	byHost := map[string][]scan.Port{}
	var hosts []string
	for _, p := range res {
		if _, ok := byHost[p.Addr]; !ok {
			hosts = append(hosts, p.Addr)
		}
		byHost[p.Addr] = append(byHost[p.Addr], p)
	}
	counts := map[scan.State]int{}
	for _, h := range hosts {
		ports := byHost[h]
		byState := map[string]int{}
		for _, p := range ports {
			byState[string(p.State)+" ("+p.Reason+")"]++
			counts[p.State]++
		}
		fmt.Fprintf(w, "tcpprobe scan report for %s\n", h)
		var hidden []string
		for k, n := range byState {
			if n > 25 || openOnly && k[:4] != "open" {
				hidden = append(hidden, fmt.Sprintf("%d %s", n, k))
			}
		}
		sort.Strings(hidden)
		for _, hd := range hidden {
			fmt.Fprintf(w, "Not shown: %s ports\n", hd)
		}
		fmt.Fprintf(w, "%-10s %-14s %-28s %s\n", "PORT", "STATE", "REASON", "RTT")
		for _, p := range ports {
			k := string(p.State) + " (" + p.Reason + ")"
			if byState[k] > 25 || openOnly && p.State != scan.Open {
				continue
			}
			rtt := "-"
			if p.RTTms > 0 {
				rtt = fmt.Sprintf("%.3f ms", p.RTTms)
			}
			fmt.Fprintf(w, "%-10s %-14s %-28s %s\n", fmt.Sprintf("%d/tcp", p.Port), p.State, p.Reason, rtt)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%d ports on %d host(s) in %.2f s: %d probes (%.0f/s), %d answered, %d open, %d closed, %d filtered, %d unfiltered, %d open|filtered; %d replies without our cookie ignored, %d duplicates\n",
		st.Ports, len(hosts), st.ElapsedS, st.Probes, st.Rate, st.Answered, counts[scan.Open], counts[scan.Closed], counts[scan.Filtered],
		counts[scan.Unfiltered], counts[scan.OpenFiltered], st.Ignored, st.Duplicates)
	if st.NotScanned > 0 {
		fmt.Fprintf(w, "%d ports not scanned: the run was interrupted before their probes were sent\n", st.NotScanned)
	}
}
