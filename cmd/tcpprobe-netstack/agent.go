//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/syserr"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/tcpprobe/tcpprobe/internal/agent"
)

// serveAgent makes `tcpprobe script`'s syscall lines on netstack's own
// endpoints: one connection on the Unix socket at path per script run
// (internal/agent's protocol). It ends with the listener.
func serveAgent(s *stack.Stack, path string) (io.Closer, error) {
	os.Remove(path) // a socket left by a netstack that was killed
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	os.Chmod(path, 0o600)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go runAgent(s, c)
		}
	}()
	return ln, nil
}

// sock is one of a run's endpoints.
type sock struct {
	ep       tcpip.Endpoint
	wq       *waiter.Queue
	nonblock bool
	bound    bool
}

// scriptRun is one script run's state.
type scriptRun struct {
	s      *stack.Stack
	hello  agent.Hello
	local  tcpip.FullAddress
	peer   tcpip.FullAddress
	proto  tcpip.NetworkProtocolNumber
	mu     sync.Mutex
	socks  map[int64]*sock
	abort  chan struct{}
	once   sync.Once
	outMu  sync.Mutex
	encode *json.Encoder
}

func runAgent(s *stack.Stack, c net.Conn) {
	defer c.Close()
	dec := json.NewDecoder(bufio.NewReader(c))
	r := &scriptRun{s: s, socks: map[int64]*sock{}, abort: make(chan struct{}), encode: json.NewEncoder(c)}
	if err := dec.Decode(&r.hello); err != nil {
		return
	}
	local, err1 := netip.ParseAddrPort(r.hello.Local)
	peer, err2 := netip.ParseAddrPort(r.hello.Peer)
	if err1 != nil || err2 != nil {
		return
	}
	r.proto = ipv4.ProtocolNumber
	if local.Addr().Is6() || r.hello.Mapped {
		r.proto = ipv6.ProtocolNumber
	}
	r.local, r.peer = fullAddr(local, r.hello.Mapped), fullAddr(peer, r.hello.Mapped)
	calls := make(chan agent.Request, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for req := range calls {
			rep := r.call(&req)
			r.outMu.Lock()
			r.encode.Encode(rep)
			r.outMu.Unlock()
		}
	}()
	for {
		var req agent.Request
		if err := dec.Decode(&req); err != nil {
			break
		}
		if req.Abort {
			r.stop()
			continue
		}
		calls <- req
	}
	r.stop()
	close(calls)
	<-done
	r.mu.Lock()
	for _, so := range r.socks {
		so.ep.Close()
	}
	r.mu.Unlock()
}

func fullAddr(a netip.AddrPort, mapped bool) tcpip.FullAddress {
	b := a.Addr().AsSlice()
	if mapped {
		v := a.Addr().As16()
		b = v[:]
	}
	return tcpip.FullAddress{Addr: tcpip.AddrFromSlice(b), Port: a.Port()}
}

// stop aborts every endpoint of the run (a RST for each connection, as
// SO_LINGER 0 does) and wakes a call waiting on one.
func (r *scriptRun) stop() {
	r.once.Do(func() {
		close(r.abort)
		r.mu.Lock()
		for _, so := range r.socks {
			so.ep.Abort()
		}
		r.mu.Unlock()
	})
}

// errnoName is the Linux errno a netstack error stands for, as gVisor's
// own system call layer translates it.
func errnoName(e tcpip.Error) string {
	n := syscall.Errno(syserr.TranslateNetstackError(e).ToLinux())
	if name := unix.ErrnoName(n); name != "" {
		return name
	}
	return "errno" + strconv.Itoa(int(n))
}

// callErr is a call that cannot be made as written.
type callErr struct{ error }

func (r *scriptRun) call(req *agent.Request) agent.Reply {
	var rep agent.Reply
	rep.Start = time.Now().UnixNano()
	ret, err := r.do(req)
	rep.End = time.Now().UnixNano()
	var ce callErr
	switch {
	case errors.As(err, &ce):
		rep.Err = ce.Error()
	case err != nil:
		rep.Ret, rep.Errno = -1, err.Error()
	default:
		rep.Ret = ret
	}
	return rep
}

// errno is a failed call's errno name, as an error.
type errno string

func (e errno) Error() string { return string(e) }

func tcpipErr(e tcpip.Error) error {
	if e == nil {
		return nil
	}
	return errno(errnoName(e))
}

// intArg is agent.Int, its error the line's (not an errno).
func intArg(s string) (int64, error) {
	v, err := agent.Int(s)
	if err != nil {
		return 0, callErr{err}
	}
	return v, nil
}

func (r *scriptRun) sock(arg string) (*sock, int64, error) {
	n, err := intArg(arg)
	if err != nil {
		return nil, 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	so, ok := r.socks[n]
	if !ok {
		return nil, n, callErr{fmt.Errorf("descriptor %d was not opened by the script", n)}
	}
	return so, n, nil
}

// wait blocks until so is ready for mask or the run is aborted.
func (r *scriptRun) wait(so *sock, mask waiter.EventMask) error {
	e, ch := waiter.NewChannelEntry(mask)
	so.wq.EventRegister(&e)
	defer so.wq.EventUnregister(&e)
	if so.ep.Readiness(mask) != 0 {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-r.abort:
		return errno("EINTR")
	}
}

func (r *scriptRun) do(req *agent.Request) (int64, error) {
	a := req.Args
	need := map[string]int{"socket": 3, "bind": 3, "listen": 2, "accept": 3, "connect": 3, "read": 3, "write": 3,
		"recv": 4, "send": 4, "shutdown": 2, "close": 1, "setsockopt": 5, "fcntl": -1}
	n, ok := need[req.Name]
	if !ok {
		return 0, callErr{fmt.Errorf("syscall %s is not supported by the gvisor agent", req.Name)}
	}
	if n >= 0 && len(a) != n || n < 0 && (len(a) < 2 || len(a) > 3) {
		return 0, callErr{fmt.Errorf("%s: %d arguments", req.Name, len(a))}
	}
	if req.Name == "socket" {
		typ, err := intArg(a[1])
		if err != nil {
			return 0, err
		}
		wq := &waiter.Queue{}
		ep, terr := r.s.NewEndpoint(tcp.ProtocolNumber, r.proto, wq)
		if terr != nil {
			return 0, tcpipErr(terr)
		}
		if r.proto == ipv6.ProtocolNumber {
			ep.SocketOptions().SetV6Only(!r.hello.Mapped)
		}
		r.mu.Lock()
		r.socks[req.Ret] = &sock{ep: ep, wq: wq, nonblock: typ&unix.O_NONBLOCK != 0}
		r.mu.Unlock()
		return req.Ret, nil
	}
	so, fd, err := r.sock(a[0])
	if err != nil {
		return 0, err
	}
	switch req.Name {
	case "bind":
		if terr := so.ep.Bind(r.local); terr != nil {
			return 0, tcpipErr(terr)
		}
		so.bound = true
		return 0, nil
	case "listen":
		backlog, err := intArg(a[1])
		if err != nil {
			return 0, err
		}
		return 0, tcpipErr(so.ep.Listen(int(backlog)))
	case "accept":
		for {
			ep, wq, terr := so.ep.Accept(nil)
			if terr == nil {
				r.mu.Lock()
				r.socks[req.Ret] = &sock{ep: ep, wq: wq}
				r.mu.Unlock()
				return req.Ret, nil
			}
			if _, ok := terr.(*tcpip.ErrWouldBlock); !ok || so.nonblock {
				return 0, tcpipErr(terr)
			}
			if err := r.wait(so, waiter.ReadableEvents); err != nil {
				return 0, err
			}
		}
	case "connect":
		if !so.bound {
			// The wire knows one 4-tuple: a client leaves from the script's port.
			so.ep.SocketOptions().SetReuseAddress(true)
			if terr := so.ep.Bind(r.local); terr != nil {
				return 0, tcpipErr(terr)
			}
			so.bound = true
		}
		terr := so.ep.Connect(r.peer)
		if _, ok := terr.(*tcpip.ErrConnectStarted); !ok || so.nonblock {
			return 0, tcpipErr(terr)
		}
		if err := r.wait(so, waiter.WritableEvents); err != nil {
			return 0, err
		}
		return 0, tcpipErr(so.ep.LastError())
	case "read", "recv":
		size, flags, err := sizeFlags(req)
		if err != nil {
			return 0, err
		}
		for {
			var b bytes.Buffer
			res, terr := so.ep.Read(&tcpip.LimitedWriter{W: &b, N: size}, tcpip.ReadOptions{Peek: flags&unix.MSG_PEEK != 0})
			switch terr.(type) {
			case nil:
				return int64(res.Count), nil
			case *tcpip.ErrClosedForReceive:
				return 0, nil
			case *tcpip.ErrWouldBlock:
				if so.nonblock || flags&unix.MSG_DONTWAIT != 0 {
					return 0, tcpipErr(terr)
				}
				if err := r.wait(so, waiter.ReadableEvents); err != nil {
					return 0, err
				}
			default:
				return 0, tcpipErr(terr)
			}
		}
	case "write", "send":
		size, flags, err := sizeFlags(req)
		if err != nil {
			return 0, err
		}
		written := int64(0)
		for written < size {
			n, terr := so.ep.Write(bytes.NewReader(make([]byte, size-written)), tcpip.WriteOptions{})
			written += n
			if terr == nil {
				continue
			}
			if _, ok := terr.(*tcpip.ErrWouldBlock); !ok || so.nonblock || flags&unix.MSG_DONTWAIT != 0 {
				if written > 0 {
					return written, nil
				}
				return 0, tcpipErr(terr)
			}
			if err := r.wait(so, waiter.WritableEvents); err != nil {
				return written, nil
			}
		}
		return written, nil
	case "shutdown":
		how := map[string]tcpip.ShutdownFlags{"SHUT_RD": tcpip.ShutdownRead, "SHUT_WR": tcpip.ShutdownWrite, "SHUT_RDWR": tcpip.ShutdownRead | tcpip.ShutdownWrite}[strings.TrimSpace(a[1])]
		if how == 0 {
			return 0, callErr{fmt.Errorf("shutdown: %q", a[1])}
		}
		return 0, tcpipErr(so.ep.Shutdown(how))
	case "close":
		so.ep.Close()
		r.mu.Lock()
		delete(r.socks, fd)
		r.mu.Unlock()
		return 0, nil
	case "fcntl":
		switch strings.TrimSpace(a[1]) {
		case "F_GETFL":
			v := int64(unix.O_RDWR)
			if so.nonblock {
				v |= unix.O_NONBLOCK
			}
			return v, nil
		case "F_SETFL":
			if len(a) != 3 {
				return 0, callErr{errors.New("fcntl F_SETFL needs flags")}
			}
			v, err := intArg(a[2])
			if err != nil {
				return 0, err
			}
			so.nonblock = v&unix.O_NONBLOCK != 0
			return 0, nil
		}
		return 0, callErr{fmt.Errorf("fcntl %s is not supported by the gvisor agent", a[1])}
	}
	return 0, r.setsockopt(so, a)
}

// sizeFlags reads a read's or write's length and a recv's or send's flags.
func sizeFlags(req *agent.Request) (size, flags int64, err error) {
	a := req.Args
	size, err = intArg(a[2])
	if err != nil || size < 0 || size > 1<<24 {
		return 0, 0, callErr{fmt.Errorf("%s: length %q", req.Name, a[2])}
	}
	if len(a) == 4 {
		flags, err = intArg(a[3])
	}
	return size, flags, err
}

// setsockopt sets the options netstack has, under their Linux names.
func (r *scriptRun) setsockopt(so *sock, a []string) error {
	name, val := strings.TrimSpace(a[2]), strings.TrimSpace(a[3])
	o := so.ep.SocketOptions()
	if name == "SO_LINGER" {
		on, secs, err := agent.Linger(val)
		if err != nil {
			return callErr{err}
		}
		o.SetLinger(tcpip.LingerOption{Enabled: on != 0, Timeout: time.Duration(secs) * time.Second})
		return nil
	}
	v, err := intArg(val)
	if err != nil {
		return err
	}
	secs := time.Duration(v) * time.Second
	switch name {
	case "SO_REUSEADDR":
		o.SetReuseAddress(v != 0)
	case "SO_REUSEPORT":
		o.SetReusePort(v != 0)
	case "SO_KEEPALIVE":
		o.SetKeepAlive(v != 0)
	case "SO_RCVBUF":
		o.SetReceiveBufferSize(v, true)
	case "SO_SNDBUF":
		o.SetSendBufferSize(v, true)
	case "TCP_NODELAY":
		o.SetDelayOption(v == 0)
	case "TCP_CORK":
		o.SetCorkOption(v != 0)
	case "TCP_QUICKACK":
		o.SetQuickAck(v != 0)
	case "TCP_MAXSEG":
		return tcpipErr(so.ep.SetSockOptInt(tcpip.MaxSegOption, int(v)))
	case "TCP_KEEPCNT":
		return tcpipErr(so.ep.SetSockOptInt(tcpip.KeepaliveCountOption, int(v)))
	case "TCP_SYNCNT":
		return tcpipErr(so.ep.SetSockOptInt(tcpip.TCPSynCountOption, int(v)))
	case "TCP_KEEPIDLE":
		opt := tcpip.KeepaliveIdleOption(secs)
		return tcpipErr(so.ep.SetSockOpt(&opt))
	case "TCP_KEEPINTVL":
		opt := tcpip.KeepaliveIntervalOption(secs)
		return tcpipErr(so.ep.SetSockOpt(&opt))
	case "TCP_LINGER2":
		opt := tcpip.TCPLingerTimeoutOption(secs)
		return tcpipErr(so.ep.SetSockOpt(&opt))
	case "TCP_USER_TIMEOUT":
		opt := tcpip.TCPUserTimeoutOption(time.Duration(v) * time.Millisecond)
		return tcpipErr(so.ep.SetSockOpt(&opt))
	case "TCP_DEFER_ACCEPT":
		opt := tcpip.TCPDeferAcceptOption(secs)
		return tcpipErr(so.ep.SetSockOpt(&opt))
	default:
		return callErr{fmt.Errorf("setsockopt %s is not supported by the gvisor agent", name)}
	}
	return nil
}
