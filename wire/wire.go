// Package wire is a probe's view of the network: it picks the route and
// source for a destination, reserves a source port, optionally guards the
// 4-tuple against the kernel's RSTs, sends hand-made segments through a raw
// socket and delivers every captured segment of the 4-tuple (both
// directions, with libpcap's kernel timestamps) and every ICMP error that
// quotes it.
package wire

import (
	"errors"
	"net/netip"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
)

// ErrRefused marks a probe refused before anything was sent: the lab-only
// policy, a source address or interface the route does not allow.
var ErrRefused = errors.New("refusing")

// Dir says which way a captured segment went.
type Dir uint8

// Directions of a captured segment.
const (
	Out Dir = iota // from us to the peer (ours, or the kernel's on our port)
	In             // from the peer to us, or an ICMP error about our flow
)

func (d Dir) String() string {
	if d == Out {
		return "out"
	}
	return "in"
}

// Event is one captured packet of the session.
type Event struct {
	Time time.Time // kernel capture timestamp
	Dir  Dir
	Pkt  craft.Packet // decoded; slices point into Raw
	Raw  []byte       // the IP datagram, owned by the event
}

// Config describes a session.
type Config struct {
	Remote  netip.AddrPort
	Source  netip.Addr // optional: source address, one of the route interface's (default: the kernel's choice)
	Iface   string     // optional: the interface the route must leave through (checked, not forced)
	SrcPort uint16     // optional: source port (default: an ephemeral port)
	// Guard drops the kernel's RSTs on the 4-tuple for the session's life.
	Guard bool
	// Record keeps every captured frame for WritePcap.
	Record bool
	// Reusable captures every local port towards Remote, so that Rebind can
	// move the session to a new source port without a new capture, guard
	// table or raw socket (for many connections in a row).
	Reusable bool
}

// FlowMatches reports whether p belongs to the flow local<->remote: a TCP
// segment of the 4-tuple in either direction, or an ICMP error about a
// segment from local to remote. It returns the direction.
func FlowMatches(p *craft.Packet, local, remote netip.AddrPort) (Dir, bool) {
	switch {
	case p.HasTCP:
		src := netip.AddrPortFrom(p.Src(), p.TCP.SrcPort)
		dst := netip.AddrPortFrom(p.Dst(), p.TCP.DstPort)
		if src == local && dst == remote {
			return Out, true
		}
		if src == remote && dst == local {
			return In, true
		}
	case p.HasICMP:
		q := &p.ICMP.Quote
		if q.Valid && q.Src == local.Addr() && q.Dst == remote.Addr() && q.SrcPort == local.Port() && q.DstPort == remote.Port() {
			return In, true
		}
	}
	return 0, false
}
