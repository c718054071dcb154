package capture

import (
	"fmt"
	"net/netip"
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
