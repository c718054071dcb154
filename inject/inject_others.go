//go:build !linux

package inject

import (
	"errors"
	"net/netip"
)

var errUnsupported = errors.New("raw packet injection is not supported on this operating system (linux only)")

// ErrNoRoute means the kernel has no route to the destination.
var ErrNoRoute = errors.New("no route to host")

// Route is the kernel's answer to "how would you send to Dst?".
type Route struct {
	Dst, Src, Gateway netip.Addr
	IfIndex           int
	Iface             string
}

// RouteTo is not supported on this platform.
func RouteTo(netip.Addr) (Route, error) { return Route{}, errUnsupported }

// Mark is the firewall mark of every packet tcpprobe sends.
const Mark = 0x74707262

// Sender is not supported on this platform.
type Sender struct{}

// NewSender is not supported on this platform.
func NewSender(bool) (*Sender, error) { return nil, errUnsupported }

// Send is not supported on this platform.
func (*Sender) Send([]byte, netip.Addr) error { return errUnsupported }

// Close does nothing.
func (*Sender) Close() error { return nil }

// Reservation is not supported on this platform.
type Reservation struct {
	Addr netip.Addr
	Port uint16
}

// ReservePort is not supported on this platform.
func ReservePort(netip.Addr, uint16) (*Reservation, error) { return nil, errUnsupported }

// Close does nothing.
func (*Reservation) Close() error { return nil }

// Batch is not supported on this platform.
type Batch struct{}

// NewBatch returns an empty batch.
func NewBatch(int) *Batch { return &Batch{} }

// Add reports false.
func (*Batch) Add([]byte, netip.Addr) bool { return false }

// Len returns 0.
func (*Batch) Len() int { return 0 }

// SendBatch is not supported on this platform.
func (*Sender) SendBatch(*Batch) error { return errUnsupported }
