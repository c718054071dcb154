//go:build !linux

package wire

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/inject"
)

var errUnsupported = errors.New("live probing is not supported on this operating system (linux only)")

// LabOnlyEnv names the environment variable that confines probes to
// loopback and lab interfaces.
const LabOnlyEnv = "TCPPROBE_LAB_ONLY"

// Session is not supported on this platform.
type Session struct {
	Local, Remote netip.AddrPort
	Route         inject.Route
}

// Open is not supported on this platform.
func Open(Config) (*Session, error) { return nil, errUnsupported }

// Send is not supported on this platform.
func (*Session) Send(*craft.Segment) error { return errUnsupported }

// Next is not supported on this platform.
func (*Session) Next(context.Context) (*Event, error) { return nil, errUnsupported }

// NextWithin is not supported on this platform.
func (*Session) NextWithin(context.Context, time.Duration) (*Event, error) {
	return nil, errUnsupported
}

// LinkType returns 0.
func (*Session) LinkType() int { return 0 }

// Frames returns nothing.
func (*Session) Frames() []capture.Frame { return nil }

// GuardDropped returns 0.
func (*Session) GuardDropped() uint64 { return 0 }

// WritePcap is not supported on this platform.
func (*Session) WritePcap(string) error { return errUnsupported }

// Close does nothing.
func (*Session) Close() {}

// CheckLabOnly allows everything on this platform (nothing is sent).
func CheckLabOnly(inject.Route) error { return nil }

// Rebind is not supported on this platform.
func (*Session) Rebind() error { return errUnsupported }
