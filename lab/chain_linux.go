//go:build linux

package lab

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/tcpprobe/tcpprobe/internal/netns"
)

// Chain is a line of router namespaces between the caller and a target:
// host — r1 — r2 — ... — target, every router forwarding IPv4 and IPv6
// and answering with ICMP time exceeded, for traceroute tests.
type Chain struct {
	Name     string
	Routers  []*netns.NS
	Target   *netns.NS
	HostLink string       // host-side interface
	Hops4    []netip.Addr // the address each router answers from, then the target's
	Hops6    []netip.Addr
	Target4  netip.Addr
	Target6  netip.Addr
	subnet   int
}

// UpChain builds a chain of n routers (1-8) in 198.19.<subnet>.0/24 and
// 2001:db8:<subnet>:<link>::/64. On error nothing is left.
func UpChain(name string, subnet, n int) (*Chain, error) {
	if n < 1 || n > 8 || subnet < 0 || subnet > 255 || len(name) > 6 {
		return nil, fmt.Errorf("chain %q: want a name of at most 6 characters, 1-8 routers, subnet 0-255", name)
	}
	c := &Chain{Name: name, HostLink: "tpc" + name + "0", subnet: subnet}
	if err := c.up(n); err != nil {
		c.Down()
		return nil, err
	}
	return c, nil
}

func (c *Chain) v4(link, side int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 19, byte(c.subnet), byte(4*link + side)})
}

func (c *Chain) v6(link, side int) netip.Addr {
	g, _ := strconv.ParseUint(strconv.Itoa(c.subnet), 16, 16)
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(g >> 8), byte(g), 0, byte(link), 15: byte(side)})
}

func (c *Chain) up(n int) error {
	// Nodes: 0 is the caller's namespace, 1..n routers, n+1 the target.
	nodes := make([]*netns.NS, n+2)
	for i := 1; i <= n+1; i++ {
		name := fmt.Sprintf("%s%s-r%d", NSPrefix, c.Name, i)
		if i == n+1 {
			name = fmt.Sprintf("%s%s-t", NSPrefix, c.Name)
		}
		if netns.Exists(name) {
			(&netns.NS{Name: name}).Delete()
		}
		ns, err := netns.Create(name)
		if err != nil {
			return err
		}
		nodes[i] = ns
		if i <= n {
			c.Routers = append(c.Routers, ns)
		} else {
			c.Target = ns
		}
	}
	// Links: link i joins node i (left, .1) and node i+1 (right, .2).
	for i := 0; i <= n; i++ {
		left, right := fmt.Sprintf("tc%s%dl", c.Name, i), fmt.Sprintf("tc%s%dr", c.Name, i)
		if i == 0 {
			left = c.HostLink
			execOut("ip", "link", "del", left)
		}
		if out, err := execOut("ip", "link", "add", left, "type", "veth", "peer", "name", right, "netns", nodes[i+1].Name); err != nil {
			return fmt.Errorf("chain %s: veth: %s", c.Name, out)
		}
		if i == 0 {
			execOut("sysctl", "-qw", "net.ipv6.conf."+left+".accept_dad=0", "net.ipv6.conf."+left+".accept_ra=0")
		}
		if i > 0 {
			if out, err := execOut("ip", "link", "set", left, "netns", nodes[i].Name); err != nil {
				return fmt.Errorf("chain %s: %s", c.Name, out)
			}
		}
		for side, dev := range map[int]string{1: left, 2: right} {
			ns := nodes[i+side-1]
			cmds := [][]string{
				{"ip", "addr", "add", c.v4(i, side).String() + "/30", "dev", dev},
				{"ip", "-6", "addr", "add", c.v6(i, side).String() + "/64", "dev", dev, "nodad"},
				{"ip", "link", "set", dev, "up"},
				{"ethtool", "-K", dev, "tx", "off"},
			}
			for _, cmd := range cmds {
				var err error
				if ns == nil {
					var out string
					if out, err = execOut(cmd...); err != nil {
						err = fmt.Errorf("%v: %s", cmd, out)
					}
				} else {
					err = ns.Run(cmd...)
				}
				if err != nil {
					return fmt.Errorf("chain %s: %w", c.Name, err)
				}
			}
		}
	}
	// Routes: towards the target through the right neighbour, back to the
	// host's link through the left one.
	prefix4 := netip.PrefixFrom(c.v4(0, 0), 24).Masked().String()
	g, _ := strconv.ParseUint(strconv.Itoa(c.subnet), 16, 16)
	prefix6 := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(g >> 8), byte(g)}), 48).String()
	if out, err := execOut("ip", "route", "replace", prefix4, "via", c.v4(0, 2).String()); err != nil {
		return fmt.Errorf("chain %s: host route: %s", c.Name, out)
	}
	if out, err := execOut("ip", "-6", "route", "replace", prefix6, "via", c.v6(0, 2).String()); err != nil {
		return fmt.Errorf("chain %s: host route: %s", c.Name, out)
	}
	for i := 1; i <= n+1; i++ {
		ns := nodes[i]
		if i <= n {
			for _, kv := range [][2]string{{"net.ipv4.ip_forward", "1"}, {"net.ipv6.conf.all.forwarding", "1"},
				{"net.ipv4.icmp_ratelimit", "0"}, {"net.ipv6.icmp.ratelimit", "0"}} {
				if err := ns.Sysctl(kv[0], kv[1]); err != nil {
					return err
				}
			}
			if i < n+1 {
				if err := ns.Run("ip", "route", "add", "default", "via", c.v4(i, 2).String()); err != nil {
					return err
				}
				if err := ns.Run("ip", "-6", "route", "add", "default", "via", c.v6(i, 2).String()); err != nil {
					return err
				}
			}
			if i > 1 {
				if err := ns.Run("ip", "route", "add", c.v4(0, 0).String()+"/30", "via", c.v4(i-1, 1).String()); err != nil {
					return err
				}
				if err := ns.Run("ip", "-6", "route", "add", c.v6(0, 0).String()+"/64", "via", c.v6(i-1, 1).String()); err != nil {
					return err
				}
			}
			c.Hops4 = append(c.Hops4, c.v4(i-1, 2))
			c.Hops6 = append(c.Hops6, c.v6(i-1, 2))
		} else {
			if err := ns.Run("ip", "route", "add", "default", "via", c.v4(i-1, 1).String()); err != nil {
				return err
			}
			if err := ns.Run("ip", "-6", "route", "add", "default", "via", c.v6(i-1, 1).String()); err != nil {
				return err
			}
			c.Target4, c.Target6 = c.v4(i-1, 2), c.v6(i-1, 2)
			c.Hops4 = append(c.Hops4, c.Target4)
			c.Hops6 = append(c.Hops6, c.Target6)
		}
	}
	return nil
}

// Down removes every namespace of the chain and the host's link and routes.
func (c *Chain) Down() error {
	var first error
	for _, ns := range append(c.Routers, c.Target) {
		if ns != nil {
			if err := ns.Delete(); err != nil && first == nil {
				first = err
			}
		}
	}
	execOut("ip", "link", "del", c.HostLink)
	execOut("ip", "route", "del", netip.PrefixFrom(c.v4(0, 0), 24).Masked().String())
	return first
}

// FindChain describes the chain called name on subnet as it exists (its
// routers found by their namespaces), for status, serve and down; ok is
// false when its target namespace does not exist.
func FindChain(name string, subnet int) (c *Chain, ok bool) {
	c = &Chain{Name: name, HostLink: "tpc" + name + "0", subnet: subnet}
	t := fmt.Sprintf("%s%s-t", NSPrefix, name)
	if !netns.Exists(t) {
		return c, false
	}
	c.Target = &netns.NS{Name: t}
	for i := 1; ; i++ {
		r := fmt.Sprintf("%s%s-r%d", NSPrefix, name, i)
		if !netns.Exists(r) {
			break
		}
		c.Routers = append(c.Routers, &netns.NS{Name: r})
		c.Hops4 = append(c.Hops4, c.v4(i-1, 2))
		c.Hops6 = append(c.Hops6, c.v6(i-1, 2))
	}
	n := len(c.Routers)
	c.Target4, c.Target6 = c.v4(n, 2), c.v6(n, 2)
	c.Hops4, c.Hops6 = append(c.Hops4, c.Target4), append(c.Hops6, c.Target6)
	return c, true
}

// Lab is the chain's target as a lab, for its servers (StartServers).
func (c *Chain) Lab(cfg Config) (*Lab, error) {
	cfg.Name = c.Name
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Lab{Config: cfg, NS: c.Target, Target4: c.Target4, Target6: c.Target6}, nil
}
