//go:build linux

package inject

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/tcpprobe/tcpprobe/internal/privilege"
)

// Route is the kernel's answer to "how would you send to Dst?".
type Route struct {
	Dst     netip.Addr
	Src     netip.Addr // preferred source address
	Gateway netip.Addr // next hop, if not on-link
	IfIndex int
	Iface   string // egress interface; "lo" for local addresses
}

// ErrNoRoute means the kernel has no route to the destination.
var ErrNoRoute = errors.New("no route to host")

// RouteTo asks the kernel (RTM_GETROUTE over rtnetlink) which source
// address and interface it would use to reach dst.
func RouteTo(dst netip.Addr) (Route, error) {
	dst = dst.Unmap()
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return Route{}, fmt.Errorf("route lookup: %w", err)
	}
	defer c.Close()
	family := byte(unix.AF_INET)
	if dst.Is6() {
		family = unix.AF_INET6
	}
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.RTA_DST, dst.AsSlice())
	attrs, err := ae.Encode()
	if err != nil {
		return Route{}, err
	}
	// struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags(u32)
	rtm := make([]byte, 12)
	rtm[0] = family
	rtm[1] = byte(dst.BitLen())
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETROUTE, Flags: netlink.Request},
		Data:   append(rtm, attrs...),
	})
	if err != nil {
		var oe *netlink.OpError
		if errors.As(err, &oe) && (errors.Is(oe.Err, unix.ENETUNREACH) || errors.Is(oe.Err, unix.EHOSTUNREACH)) {
			return Route{}, fmt.Errorf("%v: %w", dst, ErrNoRoute)
		}
		return Route{}, fmt.Errorf("route lookup for %v: %w", dst, err)
	}
	r := Route{Dst: dst}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < 12 {
			continue
		}
		switch m.Data[7] {
		case unix.RTN_UNREACHABLE, unix.RTN_PROHIBIT, unix.RTN_BLACKHOLE:
			return Route{}, fmt.Errorf("%v: %w", dst, ErrNoRoute)
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[12:])
		if err != nil {
			return Route{}, err
		}
		for ad.Next() {
			switch ad.Type() {
			case unix.RTA_OIF:
				r.IfIndex = int(binary.NativeEndian.Uint32(ad.Bytes()))
			case unix.RTA_PREFSRC:
				r.Src, _ = netip.AddrFromSlice(ad.Bytes())
			case unix.RTA_GATEWAY:
				r.Gateway, _ = netip.AddrFromSlice(ad.Bytes())
			}
		}
	}
	if r.IfIndex == 0 {
		return Route{}, fmt.Errorf("%v: %w", dst, ErrNoRoute)
	}
	ifi, err := net.InterfaceByIndex(r.IfIndex)
	if err != nil {
		return Route{}, fmt.Errorf("route lookup: interface %d: %w", r.IfIndex, err)
	}
	r.Iface = ifi.Name
	if ifi.Flags&net.FlagUp == 0 {
		return Route{}, fmt.Errorf("interface %s is down", ifi.Name)
	}
	if !r.Src.IsValid() {
		// IPv6 routes often carry no preferred source: ask the kernel by
		// connecting a UDP socket, which sends nothing.
		if r.Src, err = sourceFor(dst); err != nil {
			return Route{}, err
		}
	}
	r.Src = r.Src.Unmap()
	return r, nil
}

func sourceFor(dst netip.Addr) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("source address for %v: %w", dst, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// Mark is the firewall mark (SO_MARK) of every packet tcpprobe sends; it
// reads "tprb" in ASCII.
const Mark = 0x74707262

// Sender sends complete IP datagrams (header included) through a raw
// socket.
type Sender struct {
	fd int
	v6 bool
}

// NewSender opens a raw socket for IPv4 (IP_HDRINCL) or IPv6
// (IPV6_HDRINCL). It needs CAP_NET_RAW.
func NewSender(v6 bool) (*Sender, error) {
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, privilege.Check("open raw socket", "CAP_NET_RAW", os.NewSyscallError("socket", err))
	}
	if v6 {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_HDRINCL, 1)
	} else {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_HDRINCL, 1)
	}
	if err == nil {
		// Our packets carry a mark, so the guard drops only the kernel's
		// RSTs and never ours (SO_MARK needs CAP_NET_ADMIN).
		if merr := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, Mark); merr != nil {
			unix.Close(fd)
			return nil, privilege.Check("mark raw socket", "CAP_NET_ADMIN", os.NewSyscallError("setsockopt SO_MARK", merr))
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("raw socket: %w", os.NewSyscallError("setsockopt", err))
	}
	return &Sender{fd: fd, v6: v6}, nil
}

// Send puts the datagram pkt (IP header included) on the wire towards dst.
// The kernel routes it; for IPv4 it fills in a zero IP ID and the header
// checksum.
func (s *Sender) Send(pkt []byte, dst netip.Addr) error {
	var sa unix.Sockaddr
	if s.v6 {
		sa = &unix.SockaddrInet6{Addr: dst.As16()}
	} else {
		sa = &unix.SockaddrInet4{Addr: dst.Unmap().As4()}
	}
	if err := unix.Sendto(s.fd, pkt, 0, sa); err != nil {
		if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) {
			return fmt.Errorf("send to %v: %w", dst, ErrNoRoute)
		}
		return privilege.Check("send to "+dst.String(), "CAP_NET_RAW", os.NewSyscallError("sendto", err))
	}
	return nil
}

// Close closes the raw socket.
func (s *Sender) Close() error { return unix.Close(s.fd) }

// Batch holds datagrams for one sendmmsg call; reuse it across calls so
// sending does not allocate.
type Batch struct {
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	addr4 []unix.RawSockaddrInet4
	addr6 []unix.RawSockaddrInet6
	n     int
}

type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// NewBatch returns a batch of up to n datagrams.
func NewBatch(n int) *Batch {
	return &Batch{hdrs: make([]mmsghdr, n), iovs: make([]unix.Iovec, n), addr4: make([]unix.RawSockaddrInet4, n), addr6: make([]unix.RawSockaddrInet6, n)}
}

// Add queues pkt for dst; pkt must stay unchanged until SendBatch returns.
// It reports false when the batch is full.
func (b *Batch) Add(pkt []byte, dst netip.Addr) bool {
	if b.n == len(b.hdrs) {
		return false
	}
	i := b.n
	h := &b.hdrs[i].hdr
	b.iovs[i].Base = &pkt[0]
	b.iovs[i].SetLen(len(pkt))
	h.Iov, h.Iovlen = &b.iovs[i], 1
	if dst = dst.Unmap(); dst.Is4() {
		b.addr4[i] = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.As4()}
		h.Name, h.Namelen = (*byte)(unsafe.Pointer(&b.addr4[i])), unix.SizeofSockaddrInet4
	} else {
		b.addr6[i] = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: dst.As16()}
		h.Name, h.Namelen = (*byte)(unsafe.Pointer(&b.addr6[i])), unix.SizeofSockaddrInet6
	}
	b.n++
	return true
}

// Len is the number of queued datagrams.
func (b *Batch) Len() int { return b.n }

// SendBatch sends every queued datagram with as few sendmmsg calls as the
// kernel allows and empties the batch.
func (s *Sender) SendBatch(b *Batch) error {
	defer func() { b.n = 0 }()
	for off := 0; off < b.n; {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&b.hdrs[off])), uintptr(b.n-off), 0, 0, 0)
		if errno != 0 {
			if errno == unix.EINTR || errno == unix.EAGAIN || errno == unix.ENOBUFS {
				continue
			}
			if errno == unix.ENETUNREACH || errno == unix.EHOSTUNREACH {
				return ErrNoRoute
			}
			return privilege.Check("sendmmsg", "CAP_NET_RAW", os.NewSyscallError("sendmmsg", errno))
		}
		off += int(r)
	}
	return nil
}

// Reservation holds a TCP port bound (not listening) on an address so that
// the kernel gives it to no other socket while a probe uses it.
type Reservation struct {
	fd   int
	Addr netip.Addr
	Port uint16
}

// ReservePort binds a TCP socket to addr:port; port 0 lets the kernel pick
// a free port from its ephemeral range.
func ReservePort(addr netip.Addr, port uint16) (*Reservation, error) {
	family := unix.AF_INET
	var sa unix.Sockaddr
	if addr = addr.Unmap(); addr.Is4() {
		sa = &unix.SockaddrInet4{Addr: addr.As4(), Port: int(port)}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Addr: addr.As16(), Port: int(port)}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil, fmt.Errorf("reserve port: %w", os.NewSyscallError("socket", err))
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EADDRINUSE) {
			return nil, fmt.Errorf("source port %d on %v is in use", port, addr)
		}
		return nil, privilege.Check(fmt.Sprintf("reserve port %d on %v", port, addr), "CAP_NET_BIND_SERVICE", os.NewSyscallError("bind", err))
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("getsockname", err)
	}
	r := &Reservation{fd: fd, Addr: addr}
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		r.Port = uint16(a.Port)
	case *unix.SockaddrInet6:
		r.Port = uint16(a.Port)
	}
	return r, nil
}

// Close releases the port.
func (r *Reservation) Close() error { return unix.Close(r.fd) }
