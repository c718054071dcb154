package wire

import (
	"net/netip"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/guard"
	"github.com/tcpprobe/tcpprobe/inject"
)

// Many is the set-up for many flows from one source address (scan,
// trace): the route, reserved source ports, a guard, a raw socket and one
// capture with the caller's filter. Callers read Live and send through
// Sender themselves, batching as they need.
type Many struct {
	Route  inject.Route
	Locals []netip.AddrPort // the reserved source ports
	Live   *capture.Live
	// Loop captures lo as well (ManyConfig.Loopback): replies from our own
	// addresses never reach the route's interface.
	Loop   *capture.Live
	Sender *inject.Sender
	guard  *guard.Guard
	res    []*inject.Reservation
}

// ManyConfig describes a Many.
type ManyConfig struct {
	// Dst is a destination whose route every flow takes (scan: the first
	// target; all targets are of its family).
	Dst netip.Addr
	// Ports is how many source ports to reserve (default 1); the first is
	// SrcPort when not zero, the others follow it.
	Ports   int
	SrcPort uint16
	// GuardTo, when valid, drops our kernel's RSTs from each local port to
	// it only; otherwise every RST from the local ports is dropped.
	GuardTo netip.AddrPort
	// Filter builds the capture's BPF filter from the source address and
	// the reserved ports.
	Filter func(src netip.Addr, ports []uint16) string
	// Capture options: buffer size in bytes (0: 4 MiB), and whether each
	// packet is delivered at once (trace) or in batches (scan).
	BufferSize int
	Immediate  bool
	// Loopback also captures lo with the same filter, for targets that
	// are addresses of this machine.
	Loopback bool
}

// OpenMany sets up route, ports, guard, capture and raw socket, in that
// order, undoing what was done on error. The lab-only policy applies.
func OpenMany(cfg ManyConfig) (m *Many, err error) {
	rt, err := inject.RouteTo(cfg.Dst)
	if err != nil {
		return nil, err
	}
	if err := labOnly(rt); err != nil {
		return nil, err
	}
	m = &Many{Route: rt}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if m.guard, err = guard.New(); err != nil {
		return m, err
	}
	ports := make([]uint16, max(cfg.Ports, 1))
	for i := range ports {
		want := uint16(0)
		if cfg.SrcPort != 0 {
			want = cfg.SrcPort + uint16(i)
		}
		res, err := inject.ReservePort(rt.Src, want)
		if err != nil {
			return m, err
		}
		m.res = append(m.res, res)
		ports[i] = res.Port
		local := netip.AddrPortFrom(rt.Src, res.Port)
		m.Locals = append(m.Locals, local)
		if cfg.GuardTo.IsValid() {
			err = m.guard.DropRST(local, cfg.GuardTo)
		} else {
			err = m.guard.DropRSTFrom(local)
		}
		if err != nil {
			return m, err
		}
	}
	if m.Live, err = capture.OpenLiveWith(rt.Iface, cfg.Filter(rt.Src, ports), capture.LiveOptions{BufferSize: cfg.BufferSize, Immediate: cfg.Immediate}); err != nil {
		return m, err
	}
	if cfg.Loopback && rt.Iface != "lo" {
		if m.Loop, err = capture.OpenLiveWith("lo", cfg.Filter(rt.Src, ports), capture.LiveOptions{BufferSize: cfg.BufferSize, Immediate: cfg.Immediate}); err != nil {
			return m, err
		}
	}
	if m.Sender, err = inject.NewSender(cfg.Dst.Is6()); err != nil {
		return m, err
	}
	return m, nil
}

// Close releases everything in reverse order of OpenMany; safe twice.
func (m *Many) Close() {
	if m.Sender != nil {
		m.Sender.Close()
		m.Sender = nil
	}
	for _, l := range []**capture.Live{&m.Live, &m.Loop} {
		if *l != nil {
			(*l).Close()
			*l = nil
		}
	}
	if m.guard != nil {
		m.guard.Close()
		m.guard = nil
	}
	for _, r := range m.res {
		r.Close()
	}
	m.res = nil
}
