package endpoint

import (
	"context"
	"errors"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/rulebook"
	"github.com/tcpprobe/tcpprobe/wire"
)

// handle processes an inbound segment as a TCP receiver (RFC 9293
// 3.10.7.4): acknowledgments, data in and out of order, FIN and RST. It
// ACKs what needs it unless noACK.
func (c *Conn) handle(ev Event, noACK bool) error {
	if ev.Dir != wire.In || !ev.Pkt.HasTCP {
		if ev.Pkt.HasICMP && ev.Dir == wire.In {
			c.ICMP = ev.Event
		}
		return nil
	}
	t := &ev.Pkt.TCP
	if t.Flags&craft.RST != 0 {
		// RFC 5961 3.2: only an exact RCV.NXT resets.
		if t.Seq == c.RcvNxt {
			c.PeerRSTs++
			if c.State == rulebook.SynReceived {
				// 3.10.7.4: we opened actively, so the connection was
				// refused, not returned to LISTEN.
				c.setState(rulebook.EvAbort)
			} else {
				c.setState(rulebook.EvRST)
			}
		}
		return nil
	}
	c.peerWindow = t.Window
	if v, _, ok := t.Timestamps(); ok && c.tsOK && !t.Seq.After(c.RcvNxt) {
		c.tsRecent = v
	}
	if t.Flags.Has(craft.SYN | craft.ACK) {
		// A retransmitted SYN-ACK: our ACK was lost (or withheld).
		if noACK {
			return nil
		}
		a := c.segment(craft.ACK, c.SndNxt, nil)
		return c.send(&a)
	}
	if t.Flags&craft.ACK != 0 && t.Ack.After(c.SndUna) && !t.Ack.After(c.SndNxt) {
		c.SndUna = t.Ack
		if c.SndUna == c.SndNxt {
			switch c.State {
			case rulebook.SynReceived:
				c.setState(rulebook.EvRecvACKSYN)
			case rulebook.FinWait1, rulebook.Closing, rulebook.LastAck:
				c.setState(rulebook.EvRecvACKFIN)
			}
		}
	}
	payload := ev.Pkt.Payload
	fin := t.Flags&craft.FIN != 0
	if len(payload) == 0 && !fin {
		if ev.Seg.KeepAlive && !noACK {
			// A keepalive probe (seq = RCV.NXT-1) is an unacceptable
			// segment: answer <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
			// (3.10.7.4, first check).
			return c.answerKeepAlive()
		}
		return nil
	}
	switch {
	case t.Seq == c.RcvNxt:
		c.accept(payload, fin)
		// Out-of-order segments that now fit.
		for changed := true; changed; {
			changed = false
			for i, o := range c.ooo {
				if o.seq == c.RcvNxt {
					c.accept(o.data, o.fin)
					c.ooo = append(c.ooo[:i], c.ooo[i+1:]...)
					changed = true
					break
				}
			}
		}
	case t.Seq.After(c.RcvNxt):
		c.ooo = append(c.ooo, oooSeg{seq: t.Seq, data: append([]byte(nil), payload...), fin: fin})
		c.DupACKsSent++
	default:
		// Old data or a retransmitted FIN: ACK again (RFC 9293 3.10.7.4).
		if fin && c.State == rulebook.TimeWait && !noACK {
			c.ReACKedFINs++
		}
	}
	// Every segment with data or FIN is acknowledged, in order or not
	// (out of order: a duplicate ACK of what is in order).
	if !noACK {
		a := c.segment(craft.ACK, c.SndNxt, nil)
		return c.send(&a)
	}
	return nil
}

// accept takes in-order data and a FIN.
func (c *Conn) accept(data []byte, fin bool) {
	if c.State == rulebook.FinWait1 || c.State == rulebook.FinWait2 {
		c.HalfClosed += len(data)
	}
	c.Received = append(c.Received, data...)
	c.RcvNxt = c.RcvNxt.Add(uint32(len(data)))
	if !fin {
		return
	}
	c.RcvNxt = c.RcvNxt.Add(1)
	c.peerFINKnown = true
	switch c.State {
	case rulebook.SynReceived, rulebook.Established, rulebook.FinWait1, rulebook.FinWait2:
		// 3.10.7.4, eighth check: CLOSE_WAIT, CLOSING or TIME_WAIT.
		c.setState(rulebook.EvRecvFIN)
	}
}

// Receive handles arriving packets as a receiver (acknowledging data and
// FINs unless noACK) until fn, called with each packet after it was
// handled, returns true, or until deadline; running out of time is not an
// error.
func (c *Conn) Receive(ctx context.Context, deadline time.Time, noACK bool, fn func(Event) bool) error {
	for {
		ev, err := c.nextUntil(ctx, deadline)
		if errors.Is(err, context.DeadlineExceeded) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := c.handle(ev, noACK); err != nil {
			return err
		}
		if fn(ev) {
			return nil
		}
	}
}

// Wait handles arriving segments for d (or until the peer closes or
// resets, when untilFIN), ACKing data as a receiver does.
func (c *Conn) Wait(ctx context.Context, d time.Duration, untilFIN bool) error {
	return c.waitUntil(ctx, d, func() bool { return untilFIN && (c.peerFINKnown || c.State == rulebook.Closed) })
}

// waitAcked handles arriving segments until want is acknowledged or d
// passes.
func (c *Conn) waitAcked(ctx context.Context, want craft.Seq, d time.Duration) error {
	return c.waitUntil(ctx, d, func() bool { return !want.After(c.SndUna) || c.State == rulebook.Closed })
}

// waitUntil handles arriving segments as a receiver until done reports
// true or d passes.
func (c *Conn) waitUntil(ctx context.Context, d time.Duration, done func() bool) error {
	if done() {
		return nil
	}
	return c.Receive(ctx, time.Now().Add(d), false, func(Event) bool { return done() })
}
