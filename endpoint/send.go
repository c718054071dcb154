package endpoint

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/rulebook"
)

// ErrPeerReset is returned when the peer reset the connection while we
// waited for an acknowledgment.
var ErrPeerReset = errors.New("the peer reset the connection")

// SendData sends data in segments of at most the peer's MSS and waits for
// them to be acknowledged, retransmitting on timeout, while ACKing what
// the peer sends.
func (c *Conn) SendData(ctx context.Context, data []byte) error {
	mss := int(c.PeerMSS)
	if mss <= 0 || mss > 1400 {
		mss = 1400
	}
	for off := 0; off < len(data); off += mss {
		chunk := data[off:min(off+mss, len(data))]
		seq := c.SndNxt
		if err := c.sendReliably(ctx, func() craft.Segment { return c.segment(craft.PSH|craft.ACK, seq, chunk) }, seq.Add(uint32(len(chunk)))); err != nil {
			return err
		}
	}
	return nil
}

// AwaitThirdSegmentData waits until the data that rode on the third
// segment of the handshake is acknowledged, sending it again only after a
// timeout (the first copy is already out).
func (c *Conn) AwaitThirdSegmentData(ctx context.Context, data []byte) error {
	want := c.SndNxt
	seq := want - craft.Seq(len(data))
	if err := c.waitAcked(ctx, want, c.rto()); err != nil {
		return err
	}
	if !want.After(c.SndUna) {
		return nil
	}
	return c.sendReliably(ctx, func() craft.Segment { return c.segment(craft.PSH|craft.ACK, seq, data) }, want)
}

// sendReliably sends the segment built by mk until SndUna reaches want,
// with exponential backoff, handling whatever arrives meanwhile.
func (c *Conn) sendReliably(ctx context.Context, mk func() craft.Segment, want craft.Seq) error {
	rto := c.rto()
	for try := 0; try <= c.cfg.Retries; try++ {
		s := mk()
		if err := c.send(&s); err != nil {
			return err
		}
		if err := c.waitAcked(ctx, want, rto); err != nil {
			return err
		}
		if c.State == rulebook.Closed && want.After(c.SndUna) {
			return ErrPeerReset
		}
		if !want.After(c.SndUna) {
			return nil
		}
		rto *= 2
	}
	return fmt.Errorf("peer did not acknowledge seq %d after %d retransmissions", want-c.ISN, c.cfg.Retries)
}

// rto is the retransmission timeout for data and FIN: four handshake RTTs,
// within [200 ms, configured RTO] (Linux's minimum is 200 ms).
func (c *Conn) rto() time.Duration {
	r := c.cfg.RTO
	if c.peerSynAck != nil && len(c.Tracker.Segs) > 0 {
		if hs := c.peerSynAck.Time.Sub(c.Tracker.Segs[0].Time) * 4; hs < r {
			r = hs
		}
	}
	return max(r, 200*time.Millisecond)
}
