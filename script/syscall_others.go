//go:build !linux

package script

import (
	"errors"
	"net/netip"
	"time"
)

// Executor runs syscall lines on the lab target; the lab is Linux-only.
type Executor struct {
	Do     func(f func() error) error
	Local  netip.AddrPort
	Peer   netip.AddrPort
	Mapped bool
}

// SetPeer sets connect's address.
func (e *Executor) SetPeer(p netip.AddrPort) { e.Peer = p }

// CallResult is what one call returned, and when.
type CallResult struct {
	Ret        int64
	Errno      string
	Start, End time.Time
	Err        error
}

// Exec is not supported on this platform.
func (e *Executor) Exec(*Call) CallResult {
	return CallResult{Err: errors.New("syscall lines are not supported on this platform")}
}

// Abort does nothing.
func (e *Executor) Abort() {}

// Close does nothing.
func (e *Executor) Close() {}
