package endpoint

import (
	"context"
	"errors"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/wire"
)

// Inject sends one segment built by hand on the connection's 4-tuple
// without changing our side's state or numbers: a probe of how the peer
// applies RFC 9293's rules for arriving segments (conform). The ack field
// is used when f has ACK; our timestamps option is added when the
// handshake negotiated timestamps (RSTs carry none).
func (c *Conn) Inject(f craft.Flags, seq, ack craft.Seq, payload []byte) error {
	return c.InjectWith(f, seq, ack, payload, nil)
}

// InjectWith is Inject with the segment changed by mod before it is sent
// (an urgent pointer, an older timestamp).
func (c *Conn) InjectWith(f craft.Flags, seq, ack craft.Seq, payload []byte, mod func(*craft.Segment)) error {
	s := c.segment(f, seq, payload)
	s.TCP.Ack = 0
	if f&craft.ACK != 0 {
		s.TCP.Ack = ack
	}
	if f&craft.RST != 0 {
		c.rsts = append(c.rsts, seq) // ours, not our kernel's
	}
	if mod != nil {
		mod(&s)
	}
	return c.net.Send(&s)
}

// PeerFINKnown reports whether the peer's FIN has arrived.
func (c *Conn) PeerFINKnown() bool { return c.peerFINKnown }

// Collect returns what the peer sends within d (its segments and ICMP
// errors), fed to the tracker and the ladder; our own captured segments
// are skipped. It answers nothing, so what is collected is the peer's
// reaction alone.
func (c *Conn) Collect(ctx context.Context, d time.Duration) ([]Event, error) {
	var out []Event
	deadline := time.Now().Add(d)
	for {
		ev, err := c.nextUntil(ctx, deadline)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if ev.Dir == wire.In {
			out = append(out, ev)
		}
	}
}
