//go:build !linux

package guard

import (
	"errors"
	"net/netip"
)

var errUnsupported = errors.New("nftables guard is not supported on this operating system (linux only)")

// TablePrefix starts the name of every table tcpprobe creates.
const TablePrefix = "tcpprobe_"

// Guard is not supported on this platform.
type Guard struct{}

// Option configures New.
type Option func()

// New is not supported on this platform.
func New(...Option) (*Guard, error) { return nil, errUnsupported }

// Table returns "".
func (*Guard) Table() string { return "" }

// DropRST is not supported on this platform.
func (*Guard) DropRST(netip.AddrPort, netip.AddrPort) error { return errUnsupported }

// Allow does nothing on this platform.
func (*Guard) Allow(netip.AddrPort, netip.AddrPort) error { return nil }

// DropRSTFrom is not supported on this platform.
func (*Guard) DropRSTFrom(netip.AddrPort) error { return errUnsupported }

// Dropped is not supported on this platform.
func (*Guard) Dropped(netip.AddrPort, netip.AddrPort) (uint64, error) { return 0, errUnsupported }

// Close does nothing.
func (*Guard) Close() error { return nil }
