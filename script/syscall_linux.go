package script

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpprobe/tcpprobe/internal/agent"
)

// Executor runs a script's syscall lines on the lab target, packetdrill's
// wire split reversed: tcpprobe is the wire, the executor the application.
// Its sockets are created inside the target's network namespace (Do), so
// they belong to the target's TCP stack; every later call works on their
// descriptors from any thread. Calls are plain blocking syscalls, as
// packetdrill makes them.
type Executor struct {
	// Do runs f on a thread inside the target's network namespace.
	Do func(f func() error) error
	// Local is the target's address and port: what bind's "..." means.
	Local netip.AddrPort
	// Peer is our address and port: what connect's "..." means.
	Peer netip.AddrPort
	// Mapped makes AF_INET6 sockets for an IPv4 wire (::ffff:a.b.c.d).
	Mapped bool

	mu    sync.Mutex    // fds and bound: Close may come while a call blocks
	fds   map[int64]int // the script's descriptor numbers -> real ones
	bound map[int]bool
}

func (e *Executor) setFD(n int64, fd int) {
	e.mu.Lock()
	e.fds[n] = fd
	e.mu.Unlock()
}

// SetPeer sets connect's address.
func (e *Executor) SetPeer(p netip.AddrPort) { e.Peer = p }

// CallResult is what one call returned, and when.
type CallResult struct {
	Ret        int64
	Errno      string // "" on success
	Start, End time.Time
	// Err is set when the call could not be made as written (unsupported
	// call or argument, unknown descriptor): the line fails with it.
	Err error
}

func (e *Executor) family() int {
	if e.Local.Addr().Is6() || e.Mapped {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

func sockaddr(a netip.AddrPort, mapped bool) unix.Sockaddr {
	addr := a.Addr()
	if mapped || addr.Is6() {
		return &unix.SockaddrInet6{Addr: addr.As16(), Port: int(a.Port())}
	}
	return &unix.SockaddrInet4{Addr: addr.As4(), Port: int(a.Port())}
}

func argN(c *Call, n int) error {
	if len(c.Args) != n {
		return fmt.Errorf("%s takes %d arguments, the line has %d", c.Name, n, len(c.Args))
	}
	return nil
}

// fd looks a script descriptor up.
func (e *Executor) fd(arg string) (int, error) {
	n, err := agent.Int(arg)
	if err != nil {
		return 0, err
	}
	e.mu.Lock()
	fd, ok := e.fds[n]
	e.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("descriptor %d was not opened by the script", n)
	}
	return fd, nil
}

// Exec makes the call and returns its result; the expected descriptor
// number of socket and accept names the new descriptor for later lines.
func (e *Executor) Exec(c *Call) CallResult {
	e.mu.Lock()
	if e.fds == nil {
		e.fds, e.bound = map[int64]int{}, map[int]bool{}
	}
	e.mu.Unlock()
	var r CallResult
	ret, err := e.call(c, &r)
	if r.Start.IsZero() {
		r.Start = time.Now()
	}
	if r.End.IsZero() {
		r.End = time.Now()
	}
	var errno unix.Errno
	switch {
	case errors.As(err, &errno):
		r.Ret, r.Errno = -1, unix.ErrnoName(errno)
		if r.Errno == "" {
			r.Errno = "errno" + strconv.Itoa(int(errno))
		}
	case err != nil:
		r.Err = err
	default:
		r.Ret = ret
	}
	return r
}

// timed brackets the syscall itself.
func timed(r *CallResult, f func() (int64, error)) (int64, error) {
	r.Start = time.Now()
	v, err := f()
	r.End = time.Now()
	return v, err
}

func (e *Executor) call(c *Call, r *CallResult) (int64, error) {
	switch c.Name {
	case "socket":
		if err := argN(c, 3); err != nil {
			return 0, err
		}
		typ, err := agent.Int(c.Args[1])
		if err != nil {
			return 0, err
		}
		if typ&^unix.SOCK_NONBLOCK != unix.SOCK_STREAM {
			return 0, fmt.Errorf("socket: only SOCK_STREAM sockets (TCP)")
		}
		var fd int
		v, err := timed(r, func() (int64, error) {
			return 0, e.Do(func() (err error) {
				fd, err = unix.Socket(e.family(), int(typ)|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
				return err
			})
		})
		if err == nil {
			e.setFD(c.Ret, fd)
			v = c.Ret
		}
		return v, err
	case "bind", "listen", "accept", "connect", "close", "shutdown":
		return e.connCall(c, r)
	case "read", "recv", "write", "send":
		return e.dataCall(c, r)
	case "setsockopt", "getsockopt":
		return e.optCall(c, r)
	case "fcntl":
		if len(c.Args) < 2 || len(c.Args) > 3 {
			return 0, fmt.Errorf("fcntl takes 2 or 3 arguments")
		}
		fd, err := e.fd(c.Args[0])
		if err != nil {
			return 0, err
		}
		cmd, err := agent.Int(c.Args[1])
		if err != nil {
			return 0, err
		}
		var arg int64
		if len(c.Args) == 3 {
			if arg, err = agent.Int(c.Args[2]); err != nil {
				return 0, err
			}
		}
		if cmd != unix.F_GETFL && cmd != unix.F_SETFL {
			return 0, fmt.Errorf("fcntl: only F_GETFL and F_SETFL")
		}
		return timed(r, func() (int64, error) {
			v, err := unix.FcntlInt(uintptr(fd), int(cmd), int(arg))
			return int64(v), err
		})
	}
	return 0, fmt.Errorf("syscall %s is not supported (%s)", c.Name, strings.Join(SupportedCalls, ", "))
}

func (e *Executor) connCall(c *Call, r *CallResult) (int64, error) {
	want := map[string]int{"bind": 3, "listen": 2, "accept": 3, "connect": 3, "close": 1, "shutdown": 2}[c.Name]
	if err := argN(c, want); err != nil {
		return 0, err
	}
	fd, err := e.fd(c.Args[0])
	if err != nil {
		return 0, err
	}
	switch c.Name {
	case "bind":
		return timed(r, func() (int64, error) { return 0, e.bind(fd) })
	case "listen":
		n, err := agent.Int(c.Args[1])
		if err != nil {
			return 0, err
		}
		return timed(r, func() (int64, error) { return 0, unix.Listen(fd, int(n)) })
	case "accept":
		v, err := timed(r, func() (int64, error) {
			nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
			return int64(nfd), err
		})
		if err == nil {
			e.setFD(c.Ret, int(v))
			v = c.Ret
		}
		return v, err
	case "connect":
		e.mu.Lock()
		bound := e.bound[fd]
		e.mu.Unlock()
		if !bound {
			// The wire knows one 4-tuple: a client socket leaves from the
			// script's port, as if the script had bound it.
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			if err := e.bind(fd); err != nil {
				return 0, fmt.Errorf("connect: bind to %v first: %w", e.Local, err)
			}
		}
		return timed(r, func() (int64, error) { return 0, unix.Connect(fd, sockaddr(e.Peer, e.Mapped)) })
	case "shutdown":
		how, err := agent.Int(c.Args[1])
		if err != nil {
			return 0, err
		}
		return timed(r, func() (int64, error) { return 0, unix.Shutdown(fd, int(how)) })
	default: // close
		n, _ := agent.Int(c.Args[0])
		v, err := timed(r, func() (int64, error) { return 0, unix.Close(fd) })
		e.mu.Lock()
		delete(e.fds, n)
		delete(e.bound, fd)
		e.mu.Unlock()
		return v, err
	}
}

func (e *Executor) bind(fd int) error {
	local := e.Local
	if e.Mapped {
		local = netip.AddrPortFrom(netip.AddrFrom16(local.Addr().As16()), local.Port())
	}
	if err := unix.Bind(fd, sockaddr(local, e.Mapped)); err != nil {
		return err
	}
	e.mu.Lock()
	e.bound[fd] = true
	e.mu.Unlock()
	return nil
}

func (e *Executor) dataCall(c *Call, r *CallResult) (int64, error) {
	want := 3
	if c.Name == "recv" || c.Name == "send" {
		want = 4
	}
	if err := argN(c, want); err != nil {
		return 0, err
	}
	fd, err := e.fd(c.Args[0])
	if err != nil {
		return 0, err
	}
	n, err := agent.Int(c.Args[2])
	if err != nil || n < 0 || n > 1<<24 {
		return 0, fmt.Errorf("%s: length %q: want 0..16777216", c.Name, c.Args[2])
	}
	var flags int64
	if want == 4 {
		if flags, err = agent.Int(c.Args[3]); err != nil {
			return 0, err
		}
	}
	buf := make([]byte, n)
	return timed(r, func() (int64, error) {
		var v int
		var err error
		switch c.Name {
		case "read":
			v, err = unix.Read(fd, buf)
		case "recv":
			v, _, err = unix.Recvfrom(fd, buf, int(flags))
		case "write":
			v, err = unix.Write(fd, buf)
		default:
			v, err = unix.SendmsgN(fd, buf, nil, nil, int(flags))
		}
		return int64(v), err
	})
}

func (e *Executor) optCall(c *Call, r *CallResult) (int64, error) {
	if err := argN(c, 5); err != nil {
		return 0, err
	}
	fd, err := e.fd(c.Args[0])
	if err != nil {
		return 0, err
	}
	level, err1 := agent.Int(c.Args[1])
	opt, err2 := agent.Int(c.Args[2])
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	val := strings.TrimSpace(c.Args[3])
	if c.Name == "getsockopt" {
		wantV, err := agent.Int(val)
		if err != nil {
			return 0, err
		}
		v, err := timed(r, func() (int64, error) {
			v, err := unix.GetsockoptInt(fd, int(level), int(opt))
			return int64(v), err
		})
		if err == nil && v != wantV {
			return 0, fmt.Errorf("getsockopt gave [%d], the line says %s", v, val)
		}
		return 0, err
	}
	switch {
	case strings.HasPrefix(val, "{"):
		on, linger, err := agent.Linger(val)
		if err != nil {
			return 0, err
		}
		return timed(r, func() (int64, error) {
			return 0, unix.SetsockoptLinger(fd, int(level), int(opt), &unix.Linger{Onoff: on, Linger: linger})
		})
	case strings.HasPrefix(val, `"`):
		s := strings.Trim(val, `"`)
		return timed(r, func() (int64, error) { return 0, unix.SetsockoptString(fd, int(level), int(opt), s) })
	}
	v, err := agent.Int(val)
	if err != nil {
		return 0, err
	}
	return timed(r, func() (int64, error) { return 0, unix.SetsockoptInt(fd, int(level), int(opt), int(v)) })
}

// Abort ends what the script left open: every descriptor gets SO_LINGER 0
// (its connection ends with a RST, nothing lingers on the target) and is
// shut down, which also wakes a call still blocked on it. Close then
// releases the descriptors, once no call runs.
func (e *Executor) Abort() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, fd := range e.fds {
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		unix.Shutdown(fd, unix.SHUT_RD)
	}
}

// Close closes every descriptor the script left open.
func (e *Executor) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for n, fd := range e.fds {
		unix.Close(fd)
		delete(e.fds, n)
	}
}
