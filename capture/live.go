//go:build cgo

package capture

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gopacket/gopacket/pcap"

	"github.com/tcpprobe/tcpprobe/internal/privilege"
)

// Live is a live capture on one interface.
type Live struct {
	h        *pcap.Handle
	linkType int
	iface    string // for error messages
}

// pollInterval bounds how long a read waits before it looks at its context
// again.
const pollInterval = 5 * time.Millisecond

// LiveOptions tunes a live capture.
type LiveOptions struct {
	// Immediate delivers every packet at once (for probes waiting on a
	// reply); off, libpcap batches packets in blocks (for recording).
	Immediate bool
	// BufferSize is the kernel ring's size in bytes. In immediate mode
	// each slot holds a whole snap length, so the ring holds about
	// BufferSize/64 KiB packets.
	BufferSize int
}

// OpenLive starts capturing on iface with a BPF filter, in immediate mode
// (every packet delivered at once) with the kernel's timestamps, with a
// ring for probes. It needs CAP_NET_RAW.
func OpenLive(iface, filter string) (*Live, error) {
	return OpenLiveWith(iface, filter, LiveOptions{Immediate: true, BufferSize: 4 << 20})
}

// OpenLiveWith is OpenLive with options.
func OpenLiveWith(iface, filter string, o LiveOptions) (*Live, error) {
	if o.BufferSize <= 0 {
		o.BufferSize = 4 << 20
	}
	in, err := pcap.NewInactiveHandle(iface)
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", iface, err)
	}
	defer in.CleanUp()
	for _, set := range []func() error{
		func() error { return in.SetSnapLen(65535) },
		func() error { return in.SetImmediateMode(o.Immediate) },
		func() error { return in.SetTimeout(pollInterval) },
		func() error { return in.SetBufferSize(o.BufferSize) },
	} {
		if err := set(); err != nil {
			return nil, fmt.Errorf("capture on %s: %w", iface, err)
		}
	}
	h, err := in.Activate()
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "ermission") || strings.Contains(msg, "not permitted") {
			return nil, &privilege.Error{Op: "capture on " + iface, Cap: "CAP_NET_RAW", Err: err}
		}
		if strings.Contains(msg, "No such device") {
			return nil, fmt.Errorf("capture: no such interface %q", iface)
		}
		if strings.Contains(msg, "not up") {
			return nil, fmt.Errorf("capture: interface %s is down", iface)
		}
		return nil, fmt.Errorf("capture on %s: %w", iface, err)
	}
	if filter != "" {
		if err := h.SetBPFFilter(filter); err != nil {
			h.Close()
			return nil, fmt.Errorf("capture filter %q: %w", filter, err)
		}
	}
	return &Live{h: h, linkType: int(h.LinkType()), iface: iface}, nil
}

// LinkType is the link-layer type of captured frames.
func (l *Live) LinkType() int { return l.linkType }

// Next returns the next frame (its Data is a copy the caller may keep). It
// returns ctx.Err() once ctx is done: it never blocks for longer than a
// poll interval past that.
func (l *Live) Next(ctx context.Context) (Frame, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Frame{}, err
		}
		data, ci, err := l.h.ReadPacketData()
		switch {
		case err == nil:
			return Frame{Time: ci.Timestamp, Data: data, Length: ci.Length, LinkType: l.linkType}, nil
		case errors.Is(err, pcap.NextErrorTimeoutExpired):
			continue
		default:
			return Frame{}, fmt.Errorf("capture on %s: %w", l.iface, err)
		}
	}
}

// Stats returns the packets received and dropped by the kernel.
func (l *Live) Stats() (received, dropped int, err error) {
	s, err := l.h.Stats()
	if err != nil {
		return 0, 0, err
	}
	return s.PacketsReceived, s.PacketsDropped + s.PacketsIfDropped, nil
}

// Close stops the capture.
func (l *Live) Close() { l.h.Close() }
