package scan

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MaxAddrs bounds how many addresses one scan may target.
const MaxAddrs = 65536

// ParseTargets expands hosts, addresses and CIDR blocks (comma separated
// or as separate arguments) into addresses. Names are resolved.
func ParseTargets(ctx context.Context, args []string, want6 bool) ([]netip.Addr, error) {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	add := func(a netip.Addr) error {
		a = a.Unmap()
		if !seen[a] {
			if len(out) >= MaxAddrs {
				return fmt.Errorf("more than %d target addresses", MaxAddrs)
			}
			seen[a] = true
			out = append(out, a)
		}
		return nil
	}
	for _, arg := range args {
		for _, t := range strings.Split(arg, ",") {
			t = strings.TrimSpace(t)
			if t == "" {
				continue
			}
			if p, err := netip.ParsePrefix(t); err == nil {
				p = p.Masked()
				bitsLeft := p.Addr().BitLen() - p.Bits()
				if bitsLeft > 16 {
					return nil, fmt.Errorf("target %s: blocks larger than /%d are refused", t, p.Addr().BitLen()-16)
				}
				for a := p.Addr(); p.Contains(a); a = a.Next() {
					if err := add(a); err != nil {
						return nil, err
					}
				}
				continue
			}
			if a, err := netip.ParseAddr(strings.Trim(t, "[]")); err == nil {
				if err := add(a); err != nil {
					return nil, err
				}
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			network := "ip4"
			if want6 {
				network = "ip6"
			}
			addrs, err := net.DefaultResolver.LookupNetIP(rctx, network, t)
			cancel()
			if err != nil || len(addrs) == 0 {
				return nil, fmt.Errorf("cannot resolve target %q", t)
			}
			if err := add(addrs[0]); err != nil {
				return nil, err
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no targets")
	}
	return out, nil
}

// ParsePorts reads "22,80,8000-8100" or "-" (every port, 1-65535).
func ParsePorts(s string) ([]uint16, error) {
	s = strings.TrimSpace(s)
	if s == "-" || s == "1-65535" {
		out := make([]uint16, 65535)
		for i := range out {
			out[i] = uint16(i + 1)
		}
		return out, nil
	}
	seen := map[uint16]bool{}
	var out []uint16
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil || a == 0 {
			return nil, fmt.Errorf("invalid port %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
				return nil, fmt.Errorf("invalid port range %q", part)
			}
		}
		for p := a; p <= b; p++ {
			if !seen[uint16(p)] {
				seen[uint16(p)] = true
				out = append(out, uint16(p))
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no ports")
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}
