package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// parseTarget turns "HOST:PORT" ("[v6]:PORT" for IPv6 literals) into an
// address and port. Names are resolved; want4/want6 pick the family.
func parseTarget(ctx context.Context, s string, want4, want6 bool) (netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, usageErr("invalid target %q: want HOST:PORT, e.g. 198.18.0.2:7 or [2001:db8::2]:7", s)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, usageErr("invalid port %q in %q: want 1-65535", portStr, s)
	}
	addr, err := resolve(ctx, host, want4, want6)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

func resolve(ctx context.Context, host string, want4, want6 bool) (netip.Addr, error) {
	if host == "" {
		return netip.Addr{}, usageErr("empty host")
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if a.Zone() != "" {
			return netip.Addr{}, usageErr("scoped addresses (%s) are not supported", host)
		}
		a = a.Unmap()
		if (want4 && !a.Is4()) || (want6 && !a.Is6()) {
			return netip.Addr{}, usageErr("%s is not of the requested ip version", host)
		}
		return a, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	network := "ip"
	if want4 {
		network = "ip4"
	} else if want6 {
		network = "ip6"
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, withCode(exitNoAnswer, fmt.Errorf("cannot resolve %q", host))
	}
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap(), nil
		}
	}
	return addrs[0], nil
}

// parseTargetOrPort is parseTarget for commands with a default port
// (trace, as tcptraceroute): HOST alone means HOST:def.
func parseTargetOrPort(ctx context.Context, s string, def uint16, want4, want6 bool) (netip.AddrPort, error) {
	if _, _, err := net.SplitHostPort(s); err != nil {
		s = net.JoinHostPort(strings.Trim(s, "[]"), strconv.Itoa(int(def)))
	}
	return parseTarget(ctx, s, want4, want6)
}

// unescape reads the escapes of payload text given on the command line:
// \r \n \t \\ and \xHH (so that "GET / HTTP/1.0\r\n\r\n" means what it
// says). Anything else is taken as written.
func unescape(s string) []byte {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			out = append(out, s[i])
			continue
		}
		switch s[i+1] {
		case 'r':
			out = append(out, '\r')
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case '\\':
			out = append(out, '\\')
		case 'x':
			if i+3 < len(s) {
				if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
					out = append(out, byte(v))
					i += 3
					continue
				}
			}
			out = append(out, s[i], s[i+1])
		default:
			out = append(out, s[i], s[i+1])
		}
		i++
	}
	return out
}
