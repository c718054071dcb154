//go:build linux

package lab

import (
	"fmt"
	"strconv"
	"strings"
)

// Middlebox actions a chain's router can take on forwarded packets.
var MiddleboxActions = []string{"mss=V", "strip=ts|sack|ws", "ecn=bleach", "dscp=V", "portmap"}

// ParseMiddlebox reads "HOP:ACTION[,ACTION...]", e.g. "2:mss=1200,strip=ts".
func ParseMiddlebox(s string) (hop int, actions []string, err error) {
	h, list, ok := strings.Cut(s, ":")
	if hop, err = strconv.Atoi(h); !ok || err != nil || hop < 1 {
		return 0, nil, fmt.Errorf("middlebox %q: want HOP:ACTION[,ACTION...], e.g. 2:mss=1200,strip=ts", s)
	}
	actions = strings.Split(list, ",")
	if _, _, err := middleboxRules(actions, "x", "198.19.0.1", "2001:db8::1"); err != nil {
		return 0, nil, err
	}
	return hop, actions, nil
}

// middleboxRules turns actions into nftables rules for a router whose
// host-facing interface is hostIf and whose host has the given addresses.
// Header rewrites run in the forward hook (so the router's own ICMP quote
// still shows the packet as it came); portmap runs in prerouting (so its
// own quote shows it), stateless and symmetric: the source port of packets
// from the host and the destination port of packets to it are XORed with
// 0x1000.
func middleboxRules(actions []string, hostIf, host4, host6 string) (forward, prerouting []string, err error) {
	for _, a := range actions {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "mss":
			n, err := strconv.Atoi(v)
			if err != nil || n < 88 || n > 65535 {
				return nil, nil, fmt.Errorf("middlebox mss=%s: want 88-65535", v)
			}
			forward = append(forward, fmt.Sprintf("tcp flags syn tcp option maxseg size set %d", n))
		case "strip":
			opt := map[string]string{"ts": "timestamp", "sack": "sack-perm", "ws": "window"}[v]
			if opt == "" {
				return nil, nil, fmt.Errorf("middlebox strip=%s: want ts, sack or ws", v)
			}
			forward = append(forward, "tcp flags syn reset tcp option "+opt)
		case "ecn":
			if v != "bleach" {
				return nil, nil, fmt.Errorf("middlebox ecn=%s: want ecn=bleach", v)
			}
			forward = append(forward, "ip ecn set not-ect", "ip6 ecn set not-ect")
		case "dscp":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 63 {
				return nil, nil, fmt.Errorf("middlebox dscp=%s: want 0-63", v)
			}
			forward = append(forward, fmt.Sprintf("ip dscp set %d", n), fmt.Sprintf("ip6 dscp set %d", n))
		case "portmap":
			prerouting = append(prerouting,
				fmt.Sprintf("iifname %q ip saddr %s tcp sport set tcp sport ^ 0x1000", hostIf, host4),
				fmt.Sprintf("iifname %q ip6 saddr %s tcp sport set tcp sport ^ 0x1000", hostIf, host6),
				fmt.Sprintf("ip daddr %s tcp dport set tcp dport ^ 0x1000", host4),
				fmt.Sprintf("ip6 daddr %s tcp dport set tcp dport ^ 0x1000", host6))
		default:
			return nil, nil, fmt.Errorf("middlebox action %q: want one of %s", a, strings.Join(MiddleboxActions, ", "))
		}
	}
	return forward, prerouting, nil
}

// Middlebox makes router hop (1 is the one next to the host) rewrite the
// packets it forwards as actions say (see ParseMiddlebox), with nftables
// in its namespace (table inet tpmbx, gone with the namespace).
func (c *Chain) Middlebox(hop int, actions []string) error {
	if hop < 1 || hop > len(c.Routers) {
		return fmt.Errorf("middlebox at hop %d: the chain has routers 1-%d", hop, len(c.Routers))
	}
	hostIf := fmt.Sprintf("tc%s%dr", c.Name, hop-1)
	forward, prerouting, err := middleboxRules(actions, hostIf, c.v4(0, 1).String(), c.v6(0, 1).String())
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("table inet tpmbx {\n")
	for _, ch := range []struct {
		name, hook string
		rules      []string
	}{{"mb_forward", "forward", forward}, {"mb_prerouting", "prerouting", prerouting}} {
		if len(ch.rules) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority 0; policy accept;\n", ch.name, ch.hook)
		for _, r := range ch.rules {
			b.WriteString("\t\t" + r + "\n")
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	cmd := c.Routers[hop-1].Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("middlebox at hop %d: nft: %s", hop, strings.TrimSpace(string(out)))
	}
	return nil
}
