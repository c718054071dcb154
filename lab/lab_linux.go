//go:build linux

package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tcpprobe/tcpprobe/internal/netns"
)

// The lab's documented ports on the target host.
const (
	PortEcho       = 7    // echoes what it receives; closes when the client does
	PortDiscard    = 9    // reads and discards
	PortCloseFirst = 13   // sends a greeting line, then closes first
	PortHalfClose  = 19   // after the client's FIN keeps sending lines, then closes
	PortKeepalive  = 7200 // reads; SO_KEEPALIVE with the lab's idle/interval/count
	PortClosed     = 1    // nothing listens: the kernel answers RST
	PortDropped    = 2    // an nftables rule drops every segment silently
	PortRejected   = 3    // an nftables rule answers with ICMP port unreachable
	PortFullQueue  = 11   // listens with a backlog of 0, never accepts; the lab fills its queue itself
	PortHold       = 17   // reads; after the client's FIN holds the connection (CLOSE_WAIT), then closes
)

// HoldAfterFIN is how long the hold port keeps a connection the client
// has closed (the server in CLOSE_WAIT).
const HoldAfterFIN = 5 * time.Second

// Greeting is what the close-first server sends before closing.
const Greeting = "hello from the tcpprobe lab\r\n"

// HalfCloseLines is how many lines the half-close server sends after the
// client's FIN.
const HalfCloseLines = 3

// RunDir holds the lab's run-time files: server pid and log files, the
// gvisor lab's agent socket.
const RunDir = "/run/tcpprobe"

// NSPrefix starts the name of every namespace the lab creates.
const NSPrefix = "tplab-"

// Config describes a lab. Zero values take the defaults noted.
type Config struct {
	Name   string // short name, letters and digits, at most 9; default "lab"
	Subnet int    // 0..255: 198.18.<Subnet>.0/24 and 2001:db8:<Subnet>::/64; default 0
	// Timers of the target's TCP stack, set as sysctls in its namespace.
	SynAckRetries int           // net.ipv4.tcp_synack_retries; default 2
	KeepIdle      time.Duration // keepalive server's TCP_KEEPIDLE; default 2s (whole seconds)
	KeepInterval  time.Duration // TCP_KEEPINTVL; default 1s (whole seconds)
	KeepCount     int           // TCP_KEEPCNT; default 3
	FinTimeout    time.Duration // net.ipv4.tcp_fin_timeout; default 5s
	// Stack is the target's TCP/IP stack: StackLinux (the namespace's
	// kernel) or StackGVisor (gVisor's netstack in tcpprobe-netstack).
	Stack string
	// Profiles change the Linux target's TCP as named in Profiles (its
	// sysctls), e.g. "no-timestamps".
	Profiles []string
}

// Profiles are the Linux target's variants: each sets sysctls that change
// what the rulebook sees on the wire.
var Profiles = map[string][2]string{
	"no-timestamps": {"net.ipv4.tcp_timestamps", "0"},     // no TS option (RFC 7323)
	"no-sack":       {"net.ipv4.tcp_sack", "0"},           // no SACK-permitted (RFC 2018)
	"no-wscale":     {"net.ipv4.tcp_window_scaling", "0"}, // no window scale (RFC 7323)
	"syncookies":    {"net.ipv4.tcp_syncookies", "2"},     // every SYN-ACK a cookie (RFC 4987 3.6)
	"ecn":           {"net.ipv4.tcp_ecn", "1"},            // ECN asked for and accepted (RFC 3168)
	"rfc1337":       {"net.ipv4.tcp_rfc1337", "1"},        // RSTs ignored in TIME_WAIT (RFC 1337)
}

// The target's TCP/IP stacks.
const (
	StackLinux  = "linux"
	StackGVisor = "gvisor"
)

func (c *Config) defaults() error {
	if c.Name == "" {
		c.Name = "lab"
	}
	if !regexp.MustCompile(`^[a-z0-9]{1,9}$`).MatchString(c.Name) {
		return fmt.Errorf("lab name %q: use 1 to 9 lowercase letters or digits", c.Name)
	}
	if c.Subnet < 0 || c.Subnet > 255 {
		return fmt.Errorf("lab subnet %d: want 0..255", c.Subnet)
	}
	switch c.Stack {
	case "":
		c.Stack = StackLinux
	case StackLinux, StackGVisor:
	default:
		return fmt.Errorf("lab stack %q: want %s or %s", c.Stack, StackLinux, StackGVisor)
	}
	for _, p := range c.Profiles {
		if _, ok := Profiles[p]; !ok {
			return fmt.Errorf("lab profile %q: want one of %s", p, strings.Join(ProfileNames(), ", "))
		}
		if c.Stack == StackGVisor {
			return fmt.Errorf("lab profile %q sets Linux sysctls: it does not go with the gvisor stack", p)
		}
	}
	if c.SynAckRetries == 0 {
		c.SynAckRetries = 2
	}
	if c.KeepIdle == 0 {
		c.KeepIdle = 2 * time.Second
	}
	if c.KeepInterval == 0 {
		c.KeepInterval = time.Second
	}
	if c.KeepCount == 0 {
		c.KeepCount = 3
	}
	if c.KeepIdle%time.Second != 0 || c.KeepInterval%time.Second != 0 {
		return fmt.Errorf("keepalive idle and interval are whole seconds for the kernel (got %v, %v)", c.KeepIdle, c.KeepInterval)
	}
	if c.FinTimeout == 0 {
		c.FinTimeout = 5 * time.Second
	}
	return nil
}

// Lab is a running lab: the target namespace and the veth pair.
type Lab struct {
	Config
	NS        *netns.NS
	HostIface string     // the veth end in the caller's namespace
	Host4     netip.Addr // 198.18.<Subnet>.1, on HostIface
	Target4   netip.Addr // 198.18.<Subnet>.2, in the target namespace
	Host6     netip.Addr // 2001:db8:<Subnet>::1
	Target6   netip.Addr // 2001:db8:<Subnet>::2
}

// ProfileNames lists the profiles, sorted.
func ProfileNames() []string {
	var out []string
	for p := range Profiles {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// NSName is the target namespace's name for a lab name.
func NSName(name string) string { return NSPrefix + name }

// Describe returns the lab's addresses without creating anything.
func Describe(cfg Config) (*Lab, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := byte(cfg.Subnet)
	// The IPv6 group reads as the subnet's decimal digits: subnet 100 is
	// 2001:db8:100::/64, as the documentation says.
	g, _ := strconv.ParseUint(strconv.Itoa(cfg.Subnet), 16, 16)
	return &Lab{
		Config:    cfg,
		NS:        &netns.NS{Name: NSName(cfg.Name)},
		HostIface: "tp" + cfg.Name,
		Host4:     netip.AddrFrom4([4]byte{198, 18, s, 1}),
		Target4:   netip.AddrFrom4([4]byte{198, 18, s, 2}),
		Host6:     netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(g >> 8), byte(g), 15: 1}),
		Target6:   netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(g >> 8), byte(g), 15: 2}),
	}, nil
}

// Exists reports whether the lab's namespace is there.
func (l *Lab) Exists() bool { return netns.Exists(l.NS.Name) }

// Up creates the lab: namespace, veth pair, addresses, sysctls and the
// firewall rules of the dropped and rejected ports. A lab of the same name
// that already exists is torn down first. On error nothing is left.
func Up(cfg Config) (*Lab, error) {
	l, err := Describe(cfg)
	if err != nil {
		return nil, err
	}
	if l.Exists() {
		if err := l.Down(); err != nil {
			return nil, err
		}
	}
	if err := l.up(); err != nil {
		l.Down()
		return nil, err
	}
	return l, nil
}

func (l *Lab) up() error {
	ns, err := netns.Recreate(l.NS.Name)
	if err != nil {
		return err
	}
	l.NS = ns
	run := func(args ...string) error {
		if out, err := execOut(args...); err != nil {
			return fmt.Errorf("lab %s: %s: %s", l.Name, strings.Join(args, " "), out)
		}
		return nil
	}
	// A stale host-side veth (from a namespace deleted by hand) would block
	// the new one.
	execOut("ip", "link", "del", l.HostIface)
	steps := [][]string{
		{"ip", "link", "add", l.HostIface, "type", "veth", "peer", "name", "eth0", "netns", ns.Name},
		{"sysctl", "-qw", "net.ipv6.conf." + l.HostIface + ".accept_ra=0"},
		{"sysctl", "-qw", "net.ipv6.conf." + l.HostIface + ".accept_dad=0"},
		{"ip", "addr", "add", l.Host4.String() + "/24", "dev", l.HostIface},
		{"ip", "-6", "addr", "add", l.Host6.String() + "/64", "dev", l.HostIface, "nodad"},
		{"ip", "link", "set", l.HostIface, "up"},
		// Full checksums on the wire, so captures verify in tshark (veth
		// otherwise hands over partial checksums, as offload does).
		{"ethtool", "-K", l.HostIface, "tx", "off"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return err
		}
	}
	nsSteps := [][]string{
		{"ip", "addr", "add", l.Target4.String() + "/24", "dev", "eth0"},
		{"ip", "-6", "addr", "add", l.Target6.String() + "/64", "dev", "eth0", "nodad"},
		{"ip", "link", "set", "eth0", "up"},
		{"ethtool", "-K", "eth0", "tx", "off"},
	}
	if l.Stack == StackGVisor {
		// netstack owns the addresses: the kernel keeps none, not even
		// IPv6's link-local one, so it answers nothing.
		nsSteps = [][]string{
			{"sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=1"},
			{"ip", "link", "set", "eth0", "up"},
			{"ethtool", "-K", "eth0", "tx", "off"},
		}
	}
	for _, s := range nsSteps {
		if err := ns.Run(s...); err != nil {
			return fmt.Errorf("lab %s: %w", l.Name, err)
		}
	}
	sysctls := [][2]string{
		{"net.ipv4.tcp_synack_retries", strconv.Itoa(l.SynAckRetries)},
		{"net.ipv4.tcp_keepalive_time", secs(l.KeepIdle)},
		{"net.ipv4.tcp_keepalive_intvl", secs(l.KeepInterval)},
		{"net.ipv4.tcp_keepalive_probes", strconv.Itoa(l.KeepCount)},
		{"net.ipv4.tcp_fin_timeout", secs(l.FinTimeout)},
	}
	for _, p := range l.Profiles {
		sysctls = append(sysctls, Profiles[p])
	}
	for _, kv := range sysctls {
		if err := ns.Sysctl(kv[0], kv[1]); err != nil {
			return err
		}
	}
	rules := fmt.Sprintf(`table inet tplab {
	chain in {
		type filter hook input priority 0; policy accept;
		tcp dport %d drop
		tcp dport %d reject with icmpx type port-unreachable
	}
}
`, PortDropped, PortRejected)
	if l.Stack == StackGVisor {
		// netstack reads the interface's packet sockets, which see what
		// passed the netdev ingress hook: the dropped port is dropped
		// there. Ingress cannot reject, so port 3 gets netstack's RST.
		rules = fmt.Sprintf(`table netdev tplab {
	chain in {
		type filter hook ingress device eth0 priority 0; policy accept;
		tcp dport %d drop
	}
}
`, PortDropped)
	}
	cmd := ns.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		if errors.Is(err, os.ErrNotExist) || strings.Contains(string(out), "not found") {
			return fmt.Errorf("lab %s: the nft command is missing (apt-get install nftables)", l.Name)
		}
		return fmt.Errorf("lab %s: nft: %s", l.Name, strings.TrimSpace(string(out)))
	}
	return nil
}

func secs(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(s)
}

// Down removes the lab's namespace (the veth pair goes with it). It is safe
// to call when the lab does not exist.
func (l *Lab) Down() error {
	if l.Exists() {
		if err := l.NS.Delete(); err != nil {
			return err
		}
	}
	execOut("ip", "link", "del", l.HostIface)
	return nil
}

// SubnetHolder returns the interface (and so the lab) that already holds
// an address of cfg's subnet, other than this lab's own veth: two labs on
// one subnet would clash in addresses and routes.
func SubnetHolder(cfg Config) (iface string, ok bool) {
	l, err := Describe(cfg)
	if err != nil {
		return "", false
	}
	v4 := netip.PrefixFrom(l.Host4, 24).Masked()
	v6 := netip.PrefixFrom(l.Host6, 64).Masked()
	ifs, _ := net.Interfaces()
	for _, ifc := range ifs {
		if ifc.Name == l.HostIface {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && (v4.Contains(p.Addr()) || v6.Contains(p.Addr())) {
				return ifc.Name, true
			}
		}
	}
	return "", false
}

// Problems lists what is wrong with an existing lab: a link that is down,
// an address that is gone (IPv6 addresses go when a link goes down). An
// empty list means the lab is whole.
func (l *Lab) Problems() []string {
	var out []string
	ifc, err := net.InterfaceByName(l.HostIface)
	if err != nil {
		return []string{"host interface " + l.HostIface + " is missing"}
	}
	if ifc.Flags&net.FlagUp == 0 {
		out = append(out, "host interface "+l.HostIface+" is down")
	}
	have := map[netip.Addr]bool{}
	addrs, _ := ifc.Addrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			have[p.Addr()] = true
		}
	}
	for _, a := range []netip.Addr{l.Host4, l.Host6} {
		if !have[a] {
			out = append(out, fmt.Sprintf("address %v is missing on %s", a, l.HostIface))
		}
	}
	target, err := l.NS.Output("ip", "-br", "addr", "show", "dev", "eth0")
	if err != nil {
		return append(out, "target interface eth0 is missing")
	}
	if f := strings.Fields(target); len(f) < 2 || (f[1] != "UP" && f[1] != "UNKNOWN") {
		out = append(out, "target interface eth0 is down")
	}
	for _, a := range []netip.Addr{l.Target4, l.Target6} {
		held := strings.Contains(target, a.String()+"/")
		switch {
		case l.Stack == StackLinux && !held:
			out = append(out, fmt.Sprintf("target address %v is missing", a))
		case l.Stack == StackGVisor && held:
			out = append(out, fmt.Sprintf("the target's kernel holds %v (a Linux lab, not gVisor's)", a))
		}
	}
	if l.Stack == StackLinux {
		running := l.RunningProfiles()
		for _, p := range ProfileNames() {
			if want := slices.Contains(l.Profiles, p); want != slices.Contains(running, p) {
				out = append(out, fmt.Sprintf("profile %s is %s", p, map[bool]string{true: "off", false: "on"}[want]))
			}
		}
	}
	return out
}

// RunningProfiles lists the profiles whose sysctls are set on the target.
func (l *Lab) RunningProfiles() []string {
	var out []string
	for _, p := range ProfileNames() {
		kv := Profiles[p]
		if v, err := l.NS.Output("sysctl", "-n", kv[0]); err == nil && strings.TrimSpace(v) == kv[1] {
			out = append(out, p)
		}
	}
	return out
}

// ForTarget returns the lab whose target address a is, when the route to
// it leaves through iface (the lab's veth, tp<name>) and the lab exists.
func ForTarget(iface string, a netip.Addr) (*Lab, bool) {
	name, ok := strings.CutPrefix(iface, "tp")
	if !ok || !netns.Exists(NSName(name)) {
		return nil, false
	}
	a = a.Unmap()
	subnet := -1
	if b := a.As16(); a.Is4() {
		subnet = int(a.As4()[2])
	} else if n, err := strconv.Atoi(fmt.Sprintf("%x", uint16(b[6])<<8|uint16(b[7]))); err == nil {
		subnet = n // the group reads as the subnet's decimal digits
	}
	l, err := Describe(Config{Name: name, Subnet: subnet})
	if err != nil || (a != l.Target4 && a != l.Target6) {
		return nil, false
	}
	return l, true
}
