package capture

import (
	"fmt"
	"net/netip"
	"strings"
)

// ProbeFilter returns a BPF filter for a probe between local and remote:
// TCP segments of that 4-tuple in both directions, and ICMP/ICMPv6 errors
// addressed to local (whose quoted header the caller matches). A zero
// local port matches any local port.
func ProbeFilter(local, remote netip.AddrPort) string {
	tcp := fmt.Sprintf("(tcp and host %s and host %s and port %d and port %d)",
		local.Addr(), remote.Addr(), local.Port(), remote.Port())
	if local.Port() == 0 {
		tcp = fmt.Sprintf("(tcp and host %s and host %s and port %d)", local.Addr(), remote.Addr(), remote.Port())
	}
	if local.Addr().Is4() {
		return tcp + fmt.Sprintf(" or (icmp and dst host %s and (icmp[0] == 3 or icmp[0] == 11 or icmp[0] == 12))", local.Addr())
	}
	return tcp + fmt.Sprintf(" or (icmp6 and dst host %s and (ip6[40] == 1 or ip6[40] == 2 or ip6[40] == 3 or ip6[40] == 4))", local.Addr())
}

// ScanFilter returns a BPF filter for a scan from src:port: every TCP
// segment to that port, and ICMP destination unreachable / ICMPv6 errors
// addressed to src; with probes, our own probes too (for a pcap of both
// directions).
func ScanFilter(src netip.Addr, port uint16, probes bool) string {
	f := fmt.Sprintf("(tcp dst port %d and dst host %s) or (icmp and dst host %[2]s and icmp[0] == 3) or (icmp6 and dst host %[2]s and ip6[40] == 1)", port, src)
	if probes {
		f += fmt.Sprintf(" or (tcp src port %d and src host %s)", port, src)
	}
	return f
}

// TraceFilter returns a BPF filter for a traceroute from src's ports to
// target: the target's segments to any of the ports, and every ICMP or
// ICMPv6 message to src (time exceeded from routers included).
func TraceFilter(src netip.Addr, ports []uint16, target netip.AddrPort) string {
	var b strings.Builder
	for i, p := range ports {
		if i > 0 {
			b.WriteString(" or ")
		}
		fmt.Fprintf(&b, "dst port %d", p)
	}
	return fmt.Sprintf("(tcp and src host %s and src port %d and (%s)) or (icmp and dst host %s) or (icmp6 and dst host %[4]s)",
		target.Addr(), target.Port(), b.String(), src)
}

// TraceModsFilter is TraceFilter plus our own probes on their way out, so
// that a router's quote is compared with the probe as it left (the kernel
// fills in fields such as IPv6's flow label).
func TraceModsFilter(src netip.Addr, ports []uint16, target netip.AddrPort) string {
	return fmt.Sprintf("%s or (tcp and src host %s and dst host %s and dst port %d)", TraceFilter(src, ports, target), src, target.Addr(), target.Port())
}
