package report

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/tcpprobe/tcpprobe/scan"
)

// Scan prints nmap-style tables per host: the ports of a state with many
// ports (or, with openOnly, every port not open) are summarised in one
// "Not shown" line; a SERVICE column names the port from /etc/services.
func Scan(w io.Writer, res []scan.Port, st *scan.Stats, openOnly bool) {
	byHost := map[string][]scan.Port{}
	var hosts []string
	for _, p := range res {
		if _, ok := byHost[p.Addr]; !ok {
			hosts = append(hosts, p.Addr)
		}
		byHost[p.Addr] = append(byHost[p.Addr], p)
	}
	services := tcpServices()
	counts := map[scan.State]int{}
	for _, h := range hosts {
		ports := byHost[h]
		byState := map[string]int{}
		for _, p := range ports {
			byState[string(p.State)+" tcp ports ("+p.Reason+")"]++
			counts[p.State]++
		}
		hide := func(p scan.Port) bool {
			return byState[string(p.State)+" tcp ports ("+p.Reason+")"] > 25 || openOnly && p.State != scan.Open
		}
		fmt.Fprintf(w, "tcpprobe scan report for %s\n", h)
		hidden := map[string]int{}
		for _, p := range ports {
			if hide(p) {
				hidden[string(p.State)+" tcp ports ("+p.Reason+")"]++
			}
		}
		if len(hidden) > 0 {
			var parts []string
			for k, n := range hidden {
				parts = append(parts, fmt.Sprintf("%d %s", n, k))
			}
			sort.Strings(parts)
			fmt.Fprintf(w, "Not shown: %s\n", strings.Join(parts, ", "))
		}
		fmt.Fprintf(w, "%-10s %-14s %-16s %-28s %s\n", "PORT", "STATE", "SERVICE", "REASON", "RTT")
		for _, p := range ports {
			if hide(p) {
				continue
			}
			rtt := "-"
			if p.RTTms > 0 {
				rtt = fmt.Sprintf("%.3f ms", p.RTTms)
			}
			svc := services[p.Port]
			if svc == "" {
				svc = "unknown"
			}
			fmt.Fprintf(w, "%-10s %-14s %-16s %-28s %s\n", fmt.Sprintf("%d/tcp", p.Port), p.State, svc, p.Reason, rtt)
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

// tcpServices reads the TCP port names of /etc/services (none when the
// file is missing).
func tcpServices() map[uint16]string {
	m := map[uint16]string{}
	b, err := os.ReadFile("/etc/services")
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		port, proto, ok := strings.Cut(f[1], "/")
		if n, err := strconv.ParseUint(port, 10, 16); ok && err == nil && proto == "tcp" {
			if _, dup := m[uint16(n)]; !dup {
				m[uint16(n)] = f[0]
			}
		}
	}
	return m
}
