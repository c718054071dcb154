package handshake

import (
	"context"
	"errors"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/wire"
)

// KeepAliveProbe is the outcome of one keepalive probe we sent.
type KeepAliveProbe struct {
	Seq      uint32
	Answered bool
	Ack      uint32
	Window   uint16
	RTTms    float64
}

// SendKeepAlive sends a keepalive probe, <SEQ=SND.NXT-1> with 0 or 1 byte
// (RFC 9293 3.8.4, RFC 1122 4.2.3.6), and waits up to timeout for the ACK
// that answers it; the RTT comes from the capture timestamps of both.
func (e *Endpoint) SendKeepAlive(ctx context.Context, bytes int, timeout time.Duration) (KeepAliveProbe, error) {
	seq := e.SndNxt - 1
	var payload []byte
	if bytes > 0 {
		payload = []byte{0}
	}
	s := e.segment(craft.ACK, seq, payload)
	if err := e.send(&s); err != nil {
		return KeepAliveProbe{}, err
	}
	res := KeepAliveProbe{Seq: uint32(seq)}
	var sentAt time.Time
	deadline := time.Now().Add(timeout)
	for {
		ev, err := e.nextUntil(ctx, deadline)
		if errors.Is(err, context.DeadlineExceeded) {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		if ev.Dir == wire.Out && ev.Pkt.HasTCP && ev.Pkt.TCP.Seq == seq && ev.Pkt.PayloadLen == len(payload) {
			sentAt = ev.Time
			continue
		}
		if ev.Dir == wire.In && ev.Pkt.HasTCP && ev.Pkt.TCP.Flags&craft.ACK != 0 && ev.Pkt.PayloadLen == 0 && ev.Pkt.TCP.Flags&(craft.SYN|craft.FIN|craft.RST) == 0 && !res.Answered {
			res.Answered, res.Ack, res.Window = true, uint32(ev.Pkt.TCP.Ack), ev.Pkt.TCP.Window
			if !sentAt.IsZero() {
				res.RTTms = msOf(ev.Time.Sub(sentAt))
			}
			e.peerWindow = ev.Pkt.TCP.Window
			return res, nil
		}
		if err := e.handle(ev, false); err != nil {
			return res, err
		}
		if e.State == Closed {
			return res, nil
		}
	}
}

// PeerWindow is the window of the peer's last segment.
func (e *Endpoint) PeerWindow() uint16 { return e.peerWindow }

// Drain is drain for other packages: it waits until the capture has shown
// every segment we sent, or max passes.
func (e *Endpoint) Drain(max time.Duration) { e.drain(max) }

// LastSent is the capture time of the last segment we sent.
func (e *Endpoint) LastSent() time.Time {
	for i := len(e.Rows) - 1; i >= 0; i-- {
		if e.Rows[i].Dir == "out" {
			return e.Rows[i].Time
		}
	}
	return time.Now()
}

// NextUntil returns the next captured segment (after the tracker and the
// ladder saw it), or a deadline error.
func (e *Endpoint) NextUntil(ctx context.Context, deadline time.Time) (*wire.Event, error) {
	return e.nextUntil(ctx, deadline)
}

// Handle processes an inbound segment as a receiver does; with noACK it
// does not acknowledge it.
func (e *Endpoint) Handle(ev *wire.Event, noACK bool) error { return e.handle(ev, noACK) }

// SendACK sends a bare ACK of what we received (the answer to a keepalive
// probe).
func (e *Endpoint) SendACK() error {
	a := e.segment(craft.ACK, e.SndNxt, nil)
	return e.send(&a)
}
