//go:build linux

// Command tcpprobe-netstack is the lab's second TCP stack: gVisor's netstack
// (gvisor.dev/gvisor/pkg/tcpip), a user-space TCP/IP stack, runs on a network
// interface through AF_PACKET sockets, owns the lab target's addresses
// (answering ARP and NDP itself) and serves the lab's ports with the lab's
// own server behaviours. `tcpprobe lab up --stack gvisor` starts it inside
// the target namespace, whose interface then carries no kernel address, so
// every segment a probe meets comes from netstack.
//
// It is its own command so that tcpprobe does not carry netstack: the lab
// finds it beside the tcpprobe binary (scripts/demo.sh builds both).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/tcpprobe/tcpprobe/lab"
)

const nicID = 1

func main() {
	iface := flag.String("iface", "eth0", "interface to run on (in the current network namespace)")
	v4 := flag.String("v4", "", "IPv4 address/prefix netstack owns")
	v6 := flag.String("v6", "", "IPv6 address/prefix netstack owns")
	var cfg lab.Config
	flag.DurationVar(&cfg.KeepIdle, "keep-idle", 2*time.Second, "keepalive server's idle time")
	flag.DurationVar(&cfg.KeepInterval, "keep-interval", time.Second, "keepalive server's probe interval")
	flag.IntVar(&cfg.KeepCount, "keep-count", 3, "keepalive server's unanswered probes before it resets")
	flag.DurationVar(&cfg.FinTimeout, "fin-timeout", 5*time.Second, "FIN_WAIT_2 timeout (TCP_LINGER2)")
	agentPath := flag.String("agent", "", "Unix socket on which `tcpprobe script` has its syscall lines made on netstack")
	flag.Parse()
	if err := run(*iface, *v4, *v6, *agentPath, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "tcpprobe-netstack: %v\n", err)
		os.Exit(1)
	}
}

func run(iface, v4, v6, agentPath string, cfg lab.Config) error {
	s, err := newStack(iface, v4, v6)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go exitWithParent()
	srv, err := lab.ServeOn(ctx, cfg, func(port int) ([]net.Listener, error) {
		var out []net.Listener
		for _, proto := range []tcpip.NetworkProtocolNumber{ipv4.ProtocolNumber, ipv6.ProtocolNumber} {
			ln, err := listen(s, proto, uint16(port), cfg)
			if err != nil {
				return nil, err
			}
			out = append(out, ln)
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	// The full-queue port: a backlog of 0 and no Accept; the lab fills it.
	for _, proto := range []tcpip.NetworkProtocolNumber{ipv4.ProtocolNumber, ipv6.ProtocolNumber} {
		ep, err := listenEndpoint(s, proto, lab.PortFullQueue, 0)
		if err != nil {
			srv.Close()
			return err
		}
		defer ep.Close()
	}
	if agentPath != "" {
		ag, err := serveAgent(s, agentPath)
		if err != nil {
			srv.Close()
			return fmt.Errorf("agent: %w", err)
		}
		defer os.Remove(agentPath)
		defer ag.Close()
	}
	fmt.Println("netstack serving")
	<-ctx.Done()
	srv.Close()
	s.Close()
	return nil
}

// newStack builds netstack on an AF_PACKET socket bound to iface.
func newStack(iface, v4, v6 string) (*stack.Stack, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	// One packet socket per EtherType, not ETH_P_ALL: such sockets see
	// neither our own transmissions nor what the namespace's netdev ingress
	// rules drop (the lab's "dropped" port).
	var fds []int
	for _, proto := range []uint16{unix.ETH_P_IP, unix.ETH_P_IPV6, unix.ETH_P_ARP} {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(proto)))
		if err != nil {
			return nil, fmt.Errorf("packet socket: %w (needs CAP_NET_RAW)", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: ifi.Index}); err != nil {
			return nil, fmt.Errorf("bind to %s: %w", iface, err)
		}
		// A scan's burst of SYNs must not overflow the socket before
		// netstack reads it (the kernel would drop them, not netstack).
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)
		fds = append(fds, fd)
	}
	ep, err := fdbased.New(&fdbased.Options{
		FDs:                fds,
		MTU:                uint32(ifi.MTU),
		EthernetHeader:     true,
		Address:            tcpip.LinkAddress(ifi.HardwareAddr),
		PacketDispatchMode: fdbased.RecvMMsg,
		IsPacketSocket:     []bool{true, true, true},
		PreConfigured:      true,
		ClosedFunc: func(err tcpip.Error) {
			// The interface went away (the lab's namespace was deleted).
			fmt.Fprintf(os.Stderr, "tcpprobe-netstack: %s: %v\n", iface, err)
			os.Exit(1)
		}, // no PACKET_FANOUT: the sockets differ in protocol
	})
	if err != nil {
		return nil, err
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
	})
	// SACK on, as gVisor's runsc and Tailscale configure it; everything else
	// is netstack's default.
	sack := tcpip.TCPSACKEnabled(true)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		return nil, errors.New(err.String())
	}
	if err := s.CreateNIC(nicID, ep); err != nil {
		return nil, fmt.Errorf("create NIC: %s", err)
	}
	for _, a := range []string{v4, v6} {
		if a == "" {
			continue
		}
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return nil, err
		}
		proto := ipv4.ProtocolNumber
		if p.Addr().Is6() {
			proto = ipv6.ProtocolNumber
		}
		pa := tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: tcpip.AddressWithPrefix{
			Address: tcpip.AddrFromSlice(p.Addr().AsSlice()), PrefixLen: p.Bits()}}
		if err := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
			return nil, fmt.Errorf("address %s: %s", a, err)
		}
	}
	s.SetRouteTable([]tcpip.Route{
		{Destination: header.IPv4EmptySubnet, NIC: nicID},
		{Destination: header.IPv6EmptySubnet, NIC: nicID},
	})
	return s, nil
}

// exitWithParent ends the process when the one that started it (the lab)
// is gone, so no netstack outlives its lab.
func exitWithParent() {
	parent := os.Getppid()
	for range time.Tick(200 * time.Millisecond) {
		if os.Getppid() != parent {
			os.Exit(0)
		}
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// listen opens a listening endpoint on port; accepted connections get the
// lab's FIN_WAIT_2 timeout and, on the keepalive port, its keepalive timers
// (netstack does not inherit these from the listener).
func listen(s *stack.Stack, proto tcpip.NetworkProtocolNumber, port uint16, cfg lab.Config) (net.Listener, error) {
	var wq waiter.Queue
	ep, err := listenEndpoint(s, proto, port, 128, &wq)
	if err != nil {
		return nil, err
	}
	l := &listener{ep: ep, wq: &wq, port: port, done: make(chan struct{})}
	l.setup = func(c tcpip.Endpoint) {
		linger := tcpip.TCPLingerTimeoutOption(cfg.FinTimeout)
		c.SetSockOpt(&linger)
		if port == lab.PortKeepalive {
			c.SocketOptions().SetKeepAlive(true)
			idle, intvl := tcpip.KeepaliveIdleOption(cfg.KeepIdle), tcpip.KeepaliveIntervalOption(cfg.KeepInterval)
			c.SetSockOpt(&idle)
			c.SetSockOpt(&intvl)
			c.SetSockOptInt(tcpip.KeepaliveCountOption, cfg.KeepCount)
		}
	}
	return l, nil
}

// listenEndpoint opens a listening endpoint on port with backlog (an
// IPv6 one takes IPv6 only); wq, when given, is its waiter queue.
func listenEndpoint(s *stack.Stack, proto tcpip.NetworkProtocolNumber, port uint16, backlog int, wq ...*waiter.Queue) (tcpip.Endpoint, error) {
	q := &waiter.Queue{}
	if len(wq) > 0 {
		q = wq[0]
	}
	ep, terr := s.NewEndpoint(tcp.ProtocolNumber, proto, q)
	if terr != nil {
		return nil, errors.New(terr.String())
	}
	if proto == ipv6.ProtocolNumber {
		ep.SocketOptions().SetV6Only(true)
	}
	if terr := ep.Bind(tcpip.FullAddress{Port: port}); terr != nil {
		ep.Close()
		return nil, fmt.Errorf("bind port %d: %s", port, terr)
	}
	if terr := ep.Listen(backlog); terr != nil {
		ep.Close()
		return nil, fmt.Errorf("listen port %d: %s", port, terr)
	}
	return ep, nil
}

// listener is a net.Listener over a netstack listening endpoint that can
// configure each accepted endpoint before it is wrapped as a net.Conn.
type listener struct {
	ep    tcpip.Endpoint
	wq    *waiter.Queue
	port  uint16
	setup func(tcpip.Endpoint)
	done  chan struct{}
}

func (l *listener) Accept() (net.Conn, error) {
	we, ch := waiter.NewChannelEntry(waiter.ReadableEvents)
	l.wq.EventRegister(&we)
	defer l.wq.EventUnregister(&we)
	for {
		c, wq, err := l.ep.Accept(nil)
		if err == nil {
			if l.setup != nil {
				l.setup(c)
			}
			return gonet.NewTCPConn(wq, c), nil
		}
		if _, ok := err.(*tcpip.ErrWouldBlock); !ok {
			return nil, errors.New(err.String())
		}
		select {
		case <-ch:
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
}

func (l *listener) Close() error {
	select {
	case <-l.done:
	default:
		close(l.done)
		l.ep.Close()
	}
	return nil
}

func (l *listener) Addr() net.Addr { return &net.TCPAddr{Port: int(l.port)} }
