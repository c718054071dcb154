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

// CloseMode says how we end the connection.
type CloseMode string

// Close modes.
const (
	CloseActive  CloseMode = "active"  // our FIN first: FIN_WAIT_1, FIN_WAIT_2, TIME_WAIT
	ClosePassive CloseMode = "passive" // wait for the peer's FIN: CLOSE_WAIT, LAST_ACK
	CloseRST     CloseMode = "rst"     // abort with RST
	CloseLeave   CloseMode = "none"    // leave the peer ESTABLISHED
)

// CloseConfig describes the teardown.
type CloseConfig struct {
	Mode         CloseMode
	TimeWait     time.Duration // how long we stay in TIME_WAIT
	PassiveWait  time.Duration // how long a passive close waits for the peer's FIN
	Data         []byte        // passive: data we still send in CLOSE_WAIT
	DropFinalACK bool          // active: withhold the ACK of the peer's FIN for Observe
	Observe      time.Duration
}

// Retransmissions are the repeated segments a peer sent while we stayed
// silent on purposc.
type Retransmissions struct {
	What        string    `json:"what"` // "SYN-ACK" or "FIN"
	Count       int       `json:"count"`
	IntervalsMs []float64 `json:"intervals_ms"`
	// Backoff is the mean ratio of successive intervals (2 for doubling).
	Backoff float64 `json:"backoff,omitempty"`
	// RSTAfter is set when the peer gave up with a RST.
	RSTAfter bool `json:"rst_after"`
	times    []time.Time
}

func (r *Retransmissions) add(t time.Time) {
	r.times = append(r.times, t)
}

func (r *Retransmissions) finish() {
	r.Count = len(r.times) - 1 // the first one is the original
	if r.Count < 0 {
		r.Count = 0
	}
	r.IntervalsMs = r.IntervalsMs[:0]
	for i := 1; i < len(r.times); i++ {
		r.IntervalsMs = append(r.IntervalsMs, rtt.Ms(r.times[i].Sub(r.times[i-1])))
	}
	if n := len(r.IntervalsMs); n >= 2 {
		sum := 0.0
		for i := 1; i < n; i++ {
			sum += r.IntervalsMs[i] / r.IntervalsMs[i-1]
		}
		r.Backoff = float64(int(sum/float64(n-1)*100+0.5)) / 100
	}
}

// CloseReport says what happened during the teardown.
type CloseReport struct {
	Mode                CloseMode        `json:"mode"`
	PeerClosedFirst     bool             `json:"peer_closed_first"`
	FINRetransmissions  *Retransmissions `json:"fin_retransmissions,omitempty"`
	PeerClosedConfirmed bool             `json:"peer_closed_confirmed,omitempty"`
	TimeWaitMs          float64          `json:"time_wait_ms,omitempty"`
	Note                string           `json:"note,omitempty"`
}

// Close ends the connection as cc says.
func (c *Conn) Close(ctx context.Context, cc CloseConfig) (CloseReport, error) {
	rep := CloseReport{Mode: cc.Mode}
	if c.State == rulebook.Closed {
		rep.Note = "connection already closed"
		return rep, nil
	}
	switch cc.Mode {
	case CloseLeave:
		rep.Note = "left the connection open"
		return rep, nil
	case CloseRST:
		if err := c.sendRST(craft.RST|craft.ACK, c.SndNxt); err != nil {
			return rep, err
		}
		c.setState(rulebook.EvRST)
		return rep, nil
	case ClosePassive:
		return c.closePassive(ctx, cc, rep)
	}
	return c.closeActive(ctx, cc, rep)
}

func (c *Conn) closePassive(ctx context.Context, cc CloseConfig, rep CloseReport) (CloseReport, error) {
	if !c.peerFINKnown {
		if err := c.Wait(ctx, cc.PassiveWait, true); err != nil {
			return rep, err
		}
	}
	if c.State == rulebook.Closed {
		rep.Note = "the peer reset the connection"
		return rep, nil
	}
	if !c.peerFINKnown {
		rep.Note = "the peer did not close within " + cc.PassiveWait.String() + ": closing actively"
		cc.Mode = CloseActive
		return c.closeActive(ctx, cc, rep)
	}
	rep.PeerClosedFirst = true
	if len(cc.Data) > 0 {
		// Half-close: the peer has closed its side, ours is still open.
		if err := c.SendData(ctx, cc.Data); err != nil {
			return rep, err
		}
	}
	c.setState(rulebook.EvSendFIN) // CLOSE_WAIT -> LAST_ACK
	fin := c.SndNxt
	// Its ACK moves us to CLOSED (handle).
	return rep, c.sendReliably(ctx, func() craft.Segment { return c.segment(craft.FIN|craft.ACK, fin, nil) }, fin.Add(1))
}

func (c *Conn) closeActive(ctx context.Context, cc CloseConfig, rep CloseReport) (CloseReport, error) {
	if c.peerFINKnown {
		rep.PeerClosedFirst = true
	}
	fin := c.SndNxt
	c.setState(rulebook.EvSendFIN) // FIN_WAIT_1, or LAST_ACK from CLOSE_WAIT
	mk := func() craft.Segment { return c.segment(craft.FIN|craft.ACK, fin, nil) }
	var withheld *Retransmissions
	var observeEnd, fw2Deadline time.Time
	rto := c.rto()
	tries := 0
	if err := c.sendFIN(mk); err != nil {
		return rep, err
	}
	finDeadline := time.Now().Add(rto)
	for {
		if withheld == nil && (c.State == rulebook.TimeWait || c.State == rulebook.Closed) {
			break
		}
		wait := finDeadline
		if c.SndUna == c.SndNxt {
			// FIN_WAIT_2: our FIN is acknowledged, the peer may still send.
			if fw2Deadline.IsZero() {
				fw2Deadline = time.Now().Add(max(cc.PassiveWait, time.Second))
			}
			wait = fw2Deadline
		}
		if withheld != nil {
			wait = observeEnd
		}
		ev, err := c.nextUntil(ctx, wait)
		if errors.Is(err, context.DeadlineExceeded) {
			switch {
			case withheld != nil:
				// The observation of the peer's FIN retransmissions is over.
			case c.SndUna == c.SndNxt:
				rep.Note = "the peer did not send its FIN: we stay in FIN_WAIT_2 until the kernel's fin timeout"
				return rep, nil
			default:
				if tries++; tries > c.cfg.Retries {
					rep.Note = "the peer did not acknowledge our FIN"
					return rep, nil
				}
				rto *= 2
				if err := c.sendFIN(mk); err != nil {
					return rep, err
				}
				finDeadline = time.Now().Add(rto)
				continue
			}
			break
		}
		if err != nil {
			return rep, err
		}
		isFIN := ev.Dir == wire.In && ev.Pkt.HasTCP && ev.Pkt.TCP.Flags&craft.FIN != 0
		if cc.DropFinalACK && isFIN {
			if withheld == nil {
				withheld = &Retransmissions{What: "FIN"}
				observeEnd = time.Now().Add(cc.Observe)
			}
			withheld.add(ev.Time)
		}
		if err := c.handle(ev, cc.DropFinalACK && isFIN); err != nil {
			return rep, err
		}
	}
	if withheld != nil {
		withheld.finish()
		rep.FINRetransmissions = withheld
		// Now the final ACK; the peer must leave LAST_ACK for CLOSED.
		a := c.segment(craft.ACK, c.SndNxt, nil)
		if err := c.send(&a); err != nil {
			return rep, err
		}
		confirmed, err := c.confirmPeerClosed(ctx)
		if err != nil {
			return rep, err
		}
		rep.PeerClosedConfirmed = confirmed
	}
	if c.State == rulebook.TimeWait {
		start := time.Now()
		if err := c.Wait(ctx, cc.TimeWait, false); err != nil {
			return rep, err
		}
		rep.TimeWaitMs = rtt.Ms(time.Since(start))
		c.setState(rulebook.EvTimeout)
		c.Tracker.TimeWaitExpired(rulebook.Client, c.num)
	}
	return rep, nil
}

func (c *Conn) sendFIN(mk func() craft.Segment) error {
	s := mk()
	return c.send(&s)
}

// confirmPeerClosed shows that the peer has no connection left: a segment
// to a CLOSED port is answered by a RST (RFC 9293 3.10.7.1).
func (c *Conn) confirmPeerClosed(ctx context.Context) (bool, error) {
	if err := c.Wait(ctx, 200*time.Millisecond, false); err != nil {
		return false, err
	}
	probe := c.segment(craft.ACK, c.SndNxt, nil)
	if err := c.send(&probe); err != nil {
		return false, err
	}
	deadline := time.Now().Add(time.Second)
	for {
		ev, err := c.nextUntil(ctx, deadline)
		if errors.Is(err, context.DeadlineExceeded) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if ev.Dir == wire.In && ev.Pkt.HasTCP && ev.Pkt.TCP.Flags&craft.RST != 0 {
			return true, nil
		}
	}
}

// ObserveSynAckRetransmissions records the peer's SYN-ACKs while we
// withhold the third ACK, for d, then aborts our side with a RST.
func (c *Conn) ObserveSynAckRetransmissions(ctx context.Context, d time.Duration) (*Retransmissions, error) {
	r := &Retransmissions{What: "SYN-ACK"}
	if c.peerSynAck != nil {
		r.add(c.peerSynAck.Time)
	}
	deadline := time.Now().Add(d)
	for {
		ev, err := c.nextUntil(ctx, deadline)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			break
		}
		if err != nil {
			return nil, err
		}
		if ev.Dir != wire.In || !ev.Pkt.HasTCP {
			continue
		}
		t := &ev.Pkt.TCP
		if t.Flags.Has(craft.SYN|craft.ACK) && t.Seq == c.PeerISN {
			r.add(ev.Time)
		}
		if t.Flags&craft.RST != 0 {
			r.RSTAfter = true
			break
		}
	}
	r.finish()
	if !r.RSTAfter {
		// Leave nothing half-open on the peer.
		if err := c.sendRST(craft.RST, c.SndNxt); err != nil {
			return r, err
		}
	}
	c.setState(rulebook.EvRST)
	return r, ctx.Err()
}

// Abort ends the connection at once with <SEQ=SND.NXT><ACK=RCV.NXT>
// <CTL=RST,ACK> (RFC 9293 3.10.5, ABORT) when the peer may still hold it:
// an interrupted run leaves nothing open on the target. It needs no
// context, so it works after Ctrl-C.
func (c *Conn) Abort() error {
	switch c.State {
	case rulebook.SynSent:
		// Our SYN may have been answered while we stopped listening: the
		// peer then holds a half-open connection, which a RST at ISN+1
		// ends (RFC 9293 3.10.7.4, SYN-RECEIVED). A peer that never saw
		// the SYN ignores it.
		if err := c.sendRST(craft.RST, c.ISN.Add(1)); err != nil {
			return err
		}
		c.setState(rulebook.EvAbort)
		return nil
	case rulebook.Closed, rulebook.Listen, rulebook.TimeWait:
		return nil // the peer holds nothing of ours (or is closed)
	}
	if err := c.sendRST(craft.RST|craft.ACK, c.SndNxt); err != nil {
		return err
	}
	c.setState(rulebook.EvRST)
	return nil
}

// TimeWaitProbe is how long the peer held TIME_WAIT after it closed first,
// seen from the wire.
type TimeWaitProbe struct {
	// Probe is what was sent, one every interval, with a sequence number
	// below the window: "flagless" (a segment without flags, which
	// restarts no TIME_WAIT timer: RFC 9293 restarts 2 MSL for a
	// retransmitted FIN, Linux also for any ACK; a TIME_WAIT connection
	// answers it with an ACK, RFC 9293 3.10.7.4), or "ack" when the peer
	// answers no flagless segment at all (a LISTEN or closed port then
	// answers an ACK with a RST).
	Probe  string `json:"probe"`
	Probes int    `json:"probes"`
	// LastHeldMs is when, after our FIN was acknowledged, the last probe
	// that TIME_WAIT answered went out; EndedMs when the first one after it
	// went out that was not (answered by a RST, or, once the answers
	// stopped, by nothing: a listener drops a flagless segment). The
	// TIME_WAIT ended between the two.
	LastHeldMs float64 `json:"last_held_ms,omitempty"`
	EndedMs    float64 `json:"ended_ms,omitempty"`
	// Ended is false when the limit came first.
	Ended bool `json:"ended"`
}

// ProbeTimeWait measures the peer's TIME_WAIT after a close it began
// (ours is CLOSED): a probe every interval until TIME_WAIT's answers end,
// or limit.
func (c *Conn) ProbeTimeWait(ctx context.Context, every, limit time.Duration) (*TimeWaitProbe, error) {
	if c.State != rulebook.Closed || !c.peerFINKnown {
		return nil, errors.New("the peer did not close first: it is not in TIME_WAIT")
	}
	p := &TimeWaitProbe{Probe: "flagless"}
	start := time.Now()
	old := c.SndNxt - 1000 // below its window
	for time.Since(start) < limit && ctx.Err() == nil {
		sent := time.Now()
		var err error
		if p.Probe == "ack" {
			err = c.Inject(craft.ACK, old, c.RcvNxt, nil)
		} else {
			err = c.Inject(0, old, 0, nil)
		}
		if err != nil {
			return p, err
		}
		p.Probes++
		evs, err := c.Collect(ctx, every)
		if err != nil {
			return p, err
		}
		answer := ""
		for _, ev := range evs {
			if ev.Pkt.HasTCP && answer != "rst" {
				answer = "ack"
				if ev.Pkt.TCP.Flags&craft.RST != 0 {
					answer = "rst"
				}
			}
		}
		at := rtt.Ms(sent.Sub(start))
		switch {
		case answer == "ack":
			p.LastHeldMs = at
		case answer == "rst" || p.LastHeldMs > 0:
			p.Ended, p.EndedMs = true, at
			return p, nil
		case p.Probe == "flagless":
			p.Probe = "ack" // nothing answers a flagless segment here
		}
	}
	return p, ctx.Err()
}
