package endpoint

import (
	"context"
	"errors"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/internal/rtt"
	"github.com/tcpprobe/tcpprobe/rulebook"
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

// SendKeepAlive sends a keepalive probe, <SEQ=SND.NXT-1> with no data or,
// with oneByte, one garbage byte (RFC 9293 3.8.4, RFC 1122 4.2.3.6), and
// waits up to timeout for the ACK that answers it; the RTT comes from the
// capture timestamps of both.
func (c *Conn) SendKeepAlive(ctx context.Context, oneByte bool, timeout time.Duration) (KeepAliveProbe, error) {
	seq := c.SndNxt.Add(^uint32(0))
	var payload []byte
	if oneByte {
		payload = []byte{0}
	}
	s := c.segment(craft.ACK, seq, payload)
	if err := c.send(&s); err != nil {
		return KeepAliveProbe{}, err
	}
	res := KeepAliveProbe{Seq: uint32(seq)}
	var sentAt time.Time
	deadline := time.Now().Add(timeout)
	for {
		ev, err := c.nextUntil(ctx, deadline)
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
				res.RTTms = rtt.Ms(ev.Time.Sub(sentAt))
			}
			c.peerWindow = ev.Pkt.TCP.Window
			return res, nil
		}
		if err := c.handle(ev, false); err != nil {
			return res, err
		}
		if c.State == rulebook.Closed {
			return res, nil
		}
	}
}

// answerKeepAlive sends a bare ACK of what we received: the answer to a
// peer's keepalive probe (RFC 9293 3.10.7.4: an unacceptable segment is
// answered with <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>).
func (c *Conn) answerKeepAlive() error {
	a := c.segment(craft.ACK, c.SndNxt, nil)
	return c.send(&a)
}
