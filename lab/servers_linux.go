//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Servers are the lab's TCP servers, running in this process with their
// listening sockets inside the target namespace: the peers are the target
// namespace's real Linux TCP stack.
type Servers struct {
	listeners []net.Listener
	closers   []io.Closer // the full-queue port's listeners and the connections that fill it
	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     map[net.Conn]struct{}
	cancel    context.CancelFunc
}

// ServerInfo names a server and its port, for help texts and status.
type ServerInfo struct {
	Port     int
	Name     string
	Behavior string
}

// Catalog lists the lab's ports and what answers on each.
func Catalog(cfg Config) []ServerInfo {
	_ = cfg.defaults()
	keepalive, dropped, rejected := "SO_KEEPALIVE", "nftables drops every segment: no answer", "nftables answers ICMP port unreachable"
	if cfg.Stack == StackGVisor {
		keepalive, dropped = "netstack keepalive", "an nftables netdev ingress rule drops every segment: no answer"
		rejected = "not available with gvisor (ingress rules cannot reject): netstack answers RST"
	}
	return []ServerInfo{
		{PortEcho, "echo", "echoes data; closes after the client closes"},
		{PortDiscard, "discard", "reads and discards"},
		{PortCloseFirst, "close-first", "sends a greeting line, then closes first (client sees FIN first)"},
		{PortHalfClose, "half-close", fmt.Sprintf("after the client's FIN sends %d more lines, then closes", HalfCloseLines)},
		{PortKeepalive, "keepalive", fmt.Sprintf("reads; %s idle %v, interval %v, %d probes", keepalive, cfg.KeepIdle, cfg.KeepInterval, cfg.KeepCount)},
		{PortHold, "hold", fmt.Sprintf("reads; after the client's FIN holds the connection %v (CLOSE_WAIT), then closes", HoldAfterFIN)},
		{PortFullQueue, "full-queue", "listens with a backlog of 0 and never accepts; the lab fills the queue"},
		{PortClosed, "closed", "nothing listens: RST"},
		{PortDropped, "dropped", dropped},
		{PortRejected, "rejected", rejected},
	}
}

// StartServers opens the listeners inside the namespace and serves until
// ctx ends or Close: the peers are the namespace's Linux TCP stack.
func (l *Lab) StartServers(ctx context.Context) (*Servers, error) {
	s, err := ServeOn(ctx, l.Config, func(port int) ([]net.Listener, error) {
		var ln net.Listener
		err := l.NS.Do(func() (err error) {
			// KeepAlive -1: accepted sockets get no keepalive of Go's own, so
			// the lab's timers are the only ones on the wire.
			lc := net.ListenConfig{KeepAlive: -1}
			ln, err = lc.Listen(ctx, "tcp", fmt.Sprintf(":%d", port))
			return err
		})
		return []net.Listener{ln}, err
	})
	if err != nil {
		return nil, fmt.Errorf("lab %s: start servers: %w", l.Name, err)
	}
	for _, a := range []netip.Addr{l.Target4, l.Target6} {
		var f *os.File
		err := l.NS.Do(func() (err error) {
			f, err = listenFull(a)
			return err
		})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("lab %s: full-queue port: %w", l.Name, err)
		}
		s.closers = append(s.closers, f)
	}
	s.closers = append(s.closers, l.FillQueue()...)
	return s, nil
}

// listenFull opens the full-queue port on a: a listener with a backlog of
// 0 that nobody accepts from (the lab fills its queue, FillQueue).
func listenFull(a netip.Addr) (*os.File, error) {
	family := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: PortFullQueue, Addr: a.As16()}
	if a.Is4() {
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: PortFullQueue, Addr: a.As4()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "full-queue")
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, sa); err != nil {
		f.Close()
		return nil, fmt.Errorf("bind %v port %d: %w", a, PortFullQueue, err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// FillQueue fills the full-queue port's accept queues (IPv4 and IPv6)
// from this namespace: connections until one is no longer taken (a
// backlog of 0 holds one on Linux, none on netstack), kept open until the
// caller closes them.
func (l *Lab) FillQueue() []io.Closer {
	var out []io.Closer
	for _, a := range []netip.Addr{l.Target4, l.Target6} {
		for n := 0; n < 4; n++ {
			c, err := net.DialTimeout("tcp", netip.AddrPortFrom(a, PortFullQueue).String(), 300*time.Millisecond)
			if err != nil {
				break
			}
			out = append(out, c)
		}
	}
	return out
}

// ServeOn serves the lab's ports (echo, discard, close-first, half-close,
// keepalive) on the listeners that listen opens for each, until ctx ends
// or Close. A listener whose connections are not *net.TCPConn must give the
// keepalive port's connections the lab's keepalive timers itself (as
// tcpprobe-netstack does for netstack's).
func ServeOn(ctx context.Context, cfg Config, listen func(port int) ([]net.Listener, error)) (*Servers, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Servers{conns: map[net.Conn]struct{}{}, cancel: cancel}
	handlers := map[int]func(net.Conn){
		PortEcho:       echo,
		PortDiscard:    discard,
		PortCloseFirst: closeFirst,
		PortHalfClose:  halfClose,
		PortKeepalive:  func(c net.Conn) { keepalive(c, cfg) },
		PortHold:       hold,
	}
	for port, h := range handlers {
		lns, err := listen(port)
		if err != nil {
			s.Close()
			return nil, err
		}
		for _, ln := range lns {
			s.listeners = append(s.listeners, ln)
			s.wg.Add(1)
			go s.serve(ln, h)
		}
	}
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	return s, nil
}

func (s *Servers) serve(ln net.Listener, h func(net.Conn)) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.conns == nil {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			h(c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops every server and closes every connection.
func (s *Servers) Close() {
	s.cancel()
	for _, c := range s.closers {
		c.Close()
	}
	for _, ln := range s.listeners {
		ln.Close()
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
}

// connLifetime bounds every lab connection, so a probe that goes silent
// cannot hold a server goroutine forever.
const connLifetime = 10 * time.Minute

func echo(c net.Conn) {
	c.SetDeadline(time.Now().Add(connLifetime))
	io.Copy(c, c)
}

func hold(c net.Conn) {
	c.SetDeadline(time.Now().Add(connLifetime))
	if _, err := io.Copy(io.Discard, c); err != nil {
		return
	}
	// CLOSE_WAIT for HoldAfterFIN, or until the servers close (a write of
	// nothing fails on a closed connection and sends nothing otherwise).
	for end := time.Now().Add(HoldAfterFIN); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, err := c.Write(nil); err != nil {
			return
		}
	}
}

func discard(c net.Conn) {
	c.SetDeadline(time.Now().Add(connLifetime))
	io.Copy(io.Discard, c)
}

func closeFirst(c net.Conn) {
	c.SetDeadline(time.Now().Add(connLifetime))
	io.WriteString(c, Greeting)
	// Close with nothing unread, so the kernel sends FIN, not RST.
}

func halfClose(c net.Conn) {
	c.SetDeadline(time.Now().Add(connLifetime))
	if _, err := io.Copy(io.Discard, c); err != nil {
		return
	}
	for i := 1; i <= HalfCloseLines; i++ {
		time.Sleep(50 * time.Millisecond)
		if _, err := fmt.Fprintf(c, "line %d after your FIN\r\n", i); err != nil {
			return
		}
	}
}

func keepalive(c net.Conn, cfg Config) {
	c.SetDeadline(time.Now().Add(connLifetime))
	if tc, ok := c.(*net.TCPConn); ok {
		if err := tc.SetKeepAliveConfig(net.KeepAliveConfig{
			Enable: true, Idle: cfg.KeepIdle, Interval: cfg.KeepInterval, Count: cfg.KeepCount,
		}); err != nil {
			return
		}
	}
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, io.EOF) {
		return
	}
}
