package handshake

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/report"
	"github.com/tcpprobe/tcpprobe/wire"
)

// Net is what an Endpoint needs from the network: a wire.Session.
type Net interface {
	Send(*craft.Segment) error
	Next(context.Context) (*wire.Event, error)
}

// EndpointConfig describes our side of a hand-made connection.
type EndpointConfig struct {
	ISN        *uint32        // nil: random
	SYNOptions []craft.Option // options of our SYN; a timestamps option gets our clock
	TTL        uint8
	Window     uint16        // receive window in bytes (default 64240)
	RTO        time.Duration // first retransmission timeout (default 1s)
	Retries    int           // retransmissions of a segment before giving up (default 3)
}

// Row is one line of the ladder.
type Row = report.Row

// Endpoint is our side of a connection, driven by hand: every segment is
// built here and put on the wire through a raw socket; every segment on
// the wire (ours included, with kernel timestamps) is fed to a Tracker
// that judges both sides by the rulebook.
type Endpoint struct {
	net Net
	cfg EndpointConfig

	State          State
	ISN            craft.Seq
	SndUna, SndNxt craft.Seq
	PeerISN        craft.Seq
	RcvNxt         craft.Seq
	PeerMSS        uint16
	PeerWScale     int8
	ourWScale      int8
	sackOK         bool
	tsOK           bool
	tsRecent       uint32
	tsBase         uint32
	start          time.Time
	peerSynAck     *wire.Event

	Tracker  Tracker
	Rows     []Row
	Received []byte // in-order data from the peer
	ooo      []oooSeg
	num      int
	first    time.Time
	dropped  bool // we withheld a segment on purpose
	// Counters of what happened.
	DupACKsSent  int
	ReACKedFINs  int // peer FINs ACKed again in TIME_WAIT
	HalfClosed   int // bytes received after our FIN
	PeerRSTs     int
	ICMP         *wire.Event
	lastPeerFIN  craft.Seq
	peerFINKnown bool
	rsts         []craft.Seq // seqs of the RSTs we sent
	sent         int         // segments we sent
	peerWindow   uint16      // window of the peer's last segment
	seenOut      int         // of them, seen by the capture
}

type oooSeg struct {
	seq  craft.Seq
	data []byte
	fin  bool
}

// NewEndpoint prepares our side of a connection over n.
func NewEndpoint(n Net, cfg EndpointConfig) *Endpoint {
	if cfg.Window == 0 {
		cfg.Window = 64240
	}
	if cfg.RTO <= 0 {
		cfg.RTO = time.Second
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 3
	}
	e := &Endpoint{net: n, cfg: cfg, start: time.Now(), tsBase: rand.Uint32(), PeerWScale: -1, ourWScale: -1}
	e.ISN = craft.Seq(rand.Uint32())
	if cfg.ISN != nil {
		e.ISN = craft.Seq(*cfg.ISN)
	}
	e.SndUna, e.SndNxt = e.ISN, e.ISN
	e.Tracker.Init(TrackerConfig{Record: true, ServerListens: true})
	return e
}

// tsval is our timestamp clock: milliseconds since the endpoint started,
// from a random base.
func (e *Endpoint) tsval() uint32 { return e.tsBase + uint32(time.Since(e.start).Milliseconds()) }

// segment builds one of our segments with the current numbers.
func (e *Endpoint) segment(f craft.Flags, seq craft.Seq, payload []byte) craft.Segment {
	s := craft.Segment{TTL: e.cfg.TTL, TCP: craft.TCP{Seq: seq, Flags: f, Window: e.cfg.Window}, Payload: payload}
	if f&craft.ACK != 0 {
		s.TCP.Ack = e.RcvNxt
	}
	if f&craft.SYN == 0 && e.ourWScale >= 0 && e.PeerWScale >= 0 {
		s.TCP.Window = uint16(uint32(e.cfg.Window) >> uint(e.ourWScale))
	}
	if e.tsOK && f&craft.RST == 0 {
		s.TCP.Options = []craft.Option{craft.NOPOption(), craft.NOPOption(), craft.TimestampsOption(e.tsval(), e.tsRecent)}
	}
	return s
}

func (e *Endpoint) send(s *craft.Segment) error {
	if err := e.net.Send(s); err != nil {
		return err
	}
	e.sent++
	if end := s.TCP.Seq.Add(wire.Consumed(s.TCP.Flags, len(s.Payload))); end.After(e.SndNxt) {
		e.SndNxt = end
	}
	return nil
}

// next returns the next captured event, after feeding it to the tracker
// and the ladder. Errors are context errors or capture failures.
func (e *Endpoint) next(ctx context.Context) (*wire.Event, error) {
	ev, err := e.net.Next(ctx)
	if err != nil {
		return nil, err
	}
	e.num++
	if e.first.IsZero() {
		e.first = ev.Time
	}
	row := Row{Num: e.num, TimeMs: report.Ms(ev.Time.Sub(e.first)), Dir: ev.Dir.String(), Segment: report.SegmentOf(&ev.Pkt), Time: ev.Time}
	if ev.Pkt.HasTCP {
		from := Client
		if ev.Dir == wire.In {
			from = Server
		} else {
			e.seenOut++
		}
		s := SegOf(&ev.Pkt, e.num, ev.Time, from)
		e.Tracker.Observe(&s)
		row.Ours, row.Peer = s.StateAfter[Client].String(), s.StateAfter[Server].String()
		row.Notes = s.Notes()
		if from == Client {
			row.RelSeq, row.RelAck = uint32(s.Seq-e.Tracker.Side[Client].ISN), uint32(s.Ack-e.Tracker.Side[Server].ISN)
			if s.Flags&craft.RST != 0 && !e.sentRST(s.Seq) {
				row.KernelRST = true
			}
		} else {
			row.RelSeq, row.RelAck = uint32(s.Seq-e.Tracker.Side[Server].ISN), uint32(s.Ack-e.Tracker.Side[Client].ISN)
		}
		if s.Flags&craft.ACK == 0 {
			row.RelAck = 0
		}
	} else {
		row.ICMP = true
		row.Ours, row.Peer = e.Tracker.Side[Client].State.String(), e.Tracker.Side[Server].State.String()
	}
	e.Rows = append(e.Rows, row)
	return ev, nil
}

// sentRST tells our RSTs from the kernel's.
func (e *Endpoint) sentRST(seq craft.Seq) bool {
	for _, s := range e.rsts {
		if s == seq {
			return true
		}
	}
	return false
}

// Outcome classifies the answer to our SYN.
type Outcome string

// Outcomes of Open.
const (
	Open        Outcome = "open"              // SYN-ACK
	Refused     Outcome = "refused"           // RST
	Unreachable Outcome = "unreachable"       // ICMP error
	Filtered    Outcome = "filtered"          // no answer
	SimulOpen   Outcome = "simultaneous-open" // a bare SYN came back
)

// OpenConfig says how to open.
type OpenConfig struct {
	DropThirdACK bool   // do not send the third segment
	Data         []byte // carried by the third segment
}

// Open sends our SYN (retransmitted with exponential backoff) and
// classifies the answer; on a SYN-ACK it sends the third segment.
func (e *Endpoint) Open(ctx context.Context, oc OpenConfig) (Outcome, error) {
	syn := craft.Segment{TTL: e.cfg.TTL, TCP: craft.TCP{Seq: e.ISN, Flags: craft.SYN, Window: e.cfg.Window}}
	for _, o := range e.cfg.SYNOptions {
		switch o.Kind {
		case craft.OptTimestamps:
			o = craft.TimestampsOption(e.tsval(), 0)
		case craft.OptWindowScale:
			if len(o.Data) == 1 {
				e.ourWScale = int8(min(o.Data[0], 14))
			}
		}
		syn.TCP.Options = append(syn.TCP.Options, o)
	}
	e.State = SynSent
	rto := e.cfg.RTO
	for try := 0; try <= e.cfg.Retries; try++ {
		if err := e.send(&syn); err != nil {
			return "", err
		}
		deadline := time.Now().Add(rto)
		for {
			ev, err := e.nextUntil(ctx, deadline)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					break
				}
				return "", err
			}
			if ev.Dir == wire.Out {
				continue
			}
			if ev.Pkt.HasICMP {
				if ev.Pkt.ICMP.Quote.Seq == e.ISN {
					e.ICMP = ev
					e.State = Closed
					return Unreachable, nil
				}
				continue
			}
			t := &ev.Pkt.TCP
			switch {
			case t.Flags&craft.RST != 0:
				if t.Flags&craft.ACK != 0 && t.Ack == e.ISN+1 {
					e.PeerRSTs++
					e.State = Closed
					return Refused, nil
				}
			case t.Flags.Has(craft.SYN|craft.ACK) && t.Ack != e.ISN+1:
				// RFC 9293 3.10.7.3: an unacceptable ACK in SYN_SENT is
				// answered by <SEQ=SEG.ACK><CTL=RST> and dropped.
				rst := craft.Segment{TTL: e.cfg.TTL, TCP: craft.TCP{Seq: t.Ack, Flags: craft.RST}}
				e.rsts = append(e.rsts, t.Ack)
				if err := e.net.Send(&rst); err != nil {
					return "", err
				}
			case t.Flags.Has(craft.SYN|craft.ACK) && t.Ack == e.ISN+1:
				e.synAcked(ev)
				if oc.DropThirdACK {
					e.dropped = true
					return Open, nil
				}
				ack := e.segment(craft.ACK, e.SndNxt, nil)
				if len(oc.Data) > 0 {
					ack = e.segment(craft.PSH|craft.ACK, e.SndNxt, oc.Data)
				}
				if err := e.send(&ack); err != nil {
					return "", err
				}
				return Open, nil
			case t.Flags&craft.SYN != 0 && t.Flags&craft.ACK == 0:
				// Simultaneous open (or a split handshake): RFC 9293
				// 3.10.7.3 answers with SYN,ACK.
				e.PeerISN, e.RcvNxt = t.Seq, t.Seq+1
				e.State = SynReceived
				sa := e.segment(craft.SYN|craft.ACK, e.ISN, nil)
				sa.TCP.Options = syn.TCP.Options
				if err := e.send(&sa); err != nil {
					return "", err
				}
				return SimulOpen, nil
			}
		}
		rto *= 2
	}
	e.State = Closed
	return Filtered, nil
}

func (e *Endpoint) synAcked(ev *wire.Event) {
	t := &ev.Pkt.TCP
	e.peerSynAck = ev
	e.peerWindow = t.Window
	e.PeerISN, e.RcvNxt = t.Seq, t.Seq+1
	e.SndUna = t.Ack
	e.PeerMSS, _ = t.MSS()
	if ws, ok := t.WindowScale(); ok {
		e.PeerWScale = int8(ws)
	} else {
		e.ourWScale = -1 // not negotiated: neither side scales
	}
	e.sackOK = t.SACKPermitted()
	if v, _, ok := t.Timestamps(); ok {
		for _, o := range e.cfg.SYNOptions {
			if o.Kind == craft.OptTimestamps {
				e.tsOK, e.tsRecent = true, v
			}
		}
	}
	e.State = Established
}

// nextUntil is next with an absolute deadline.
func (e *Endpoint) nextUntil(ctx context.Context, deadline time.Time) (*wire.Event, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return e.next(ctx)
}

// handle processes an inbound segment as a TCP receiver (RFC 9293
// 3.10.7.4): acknowledgments, data in and out of order, FIN and RST. It
// ACKs what needs it unless noACK.
func (e *Endpoint) handle(ev *wire.Event, noACK bool) error {
	if ev.Dir != wire.In || !ev.Pkt.HasTCP {
		if ev.Pkt.HasICMP && ev.Dir == wire.In {
			e.ICMP = ev
		}
		return nil
	}
	t := &ev.Pkt.TCP
	if t.Flags&craft.RST != 0 {
		// RFC 5961 3.2: only an exact RCV.NXT resets.
		if t.Seq == e.RcvNxt {
			e.PeerRSTs++
			e.State = Closed
		}
		return nil
	}
	e.peerWindow = t.Window
	if v, _, ok := t.Timestamps(); ok && e.tsOK && !t.Seq.After(e.RcvNxt) {
		e.tsRecent = v
	}
	if t.Flags.Has(craft.SYN | craft.ACK) {
		// A retransmitted SYN-ACK: our ACK was lost (or withheld).
		if noACK {
			return nil
		}
		a := e.segment(craft.ACK, e.SndNxt, nil)
		return e.send(&a)
	}
	if t.Flags&craft.ACK != 0 && t.Ack.After(e.SndUna) && !t.Ack.After(e.SndNxt) {
		e.SndUna = t.Ack
		if e.SndUna == e.SndNxt {
			switch e.State {
			case FinWait1:
				e.State = FinWait2
			case Closing:
				e.State = TimeWait
			case LastAck:
				e.State = Closed
			}
		}
	}
	payload := ev.Pkt.Payload
	fin := t.Flags&craft.FIN != 0
	if len(payload) == 0 && !fin {
		return nil
	}
	switch {
	case t.Seq == e.RcvNxt:
		e.accept(payload, fin)
		// Out-of-order segments that now fit.
		for changed := true; changed; {
			changed = false
			for i, o := range e.ooo {
				if o.seq == e.RcvNxt {
					e.accept(o.data, o.fin)
					e.ooo = append(e.ooo[:i], e.ooo[i+1:]...)
					changed = true
					break
				}
			}
		}
	case t.Seq.After(e.RcvNxt):
		e.ooo = append(e.ooo, oooSeg{seq: t.Seq, data: append([]byte(nil), payload...), fin: fin})
		e.DupACKsSent++
	default:
		// Old data or a retransmitted FIN: ACK again (RFC 9293 3.10.7.4).
		if fin && e.State == TimeWait && !noACK {
			e.ReACKedFINs++
		}
	}
	// Every segment with data or FIN is acknowledged, in order or not
	// (out of order: a duplicate ACK of what is in order).
	if !noACK {
		a := e.segment(craft.ACK, e.SndNxt, nil)
		return e.send(&a)
	}
	return nil
}

func (e *Endpoint) accept(data []byte, fin bool) {
	if e.State == FinWait1 || e.State == FinWait2 {
		e.HalfClosed += len(data)
	}
	e.Received = append(e.Received, data...)
	e.RcvNxt = e.RcvNxt.Add(uint32(len(data)))
	if !fin {
		return
	}
	e.RcvNxt++
	e.peerFINKnown, e.lastPeerFIN = true, e.RcvNxt-1
	switch e.State {
	case Established, SynReceived:
		e.State = CloseWait
	case FinWait1:
		if e.SndUna == e.SndNxt {
			e.State = TimeWait
		} else {
			e.State = Closing
		}
	case FinWait2:
		e.State = TimeWait
	}
}

// SendData sends data in segments of at most the peer's MSS and waits for
// them to be acknowledged, retransmitting on timeout, while ACKing what
// the peer sends.
func (e *Endpoint) SendData(ctx context.Context, data []byte) error {
	mss := int(e.PeerMSS)
	if mss <= 0 || mss > 1400 {
		mss = 1400
	}
	for off := 0; off < len(data); off += mss {
		chunk := data[off:min(off+mss, len(data))]
		seq := e.SndNxt
		if err := e.sendReliably(ctx, func() craft.Segment { return e.segment(craft.PSH|craft.ACK, seq, chunk) }, seq.Add(uint32(len(chunk)))); err != nil {
			return err
		}
	}
	return nil
}

// sendReliably sends the segment built by mk until SndUna reaches want,
// with exponential backoff, handling whatever arrives meanwhile.
func (e *Endpoint) sendReliably(ctx context.Context, mk func() craft.Segment, want craft.Seq) error {
	rto := e.rto()
	for try := 0; try <= e.cfg.Retries; try++ {
		s := mk()
		if err := e.send(&s); err != nil {
			return err
		}
		deadline := time.Now().Add(rto)
		for want.After(e.SndUna) {
			ev, err := e.nextUntil(ctx, deadline)
			if errors.Is(err, context.DeadlineExceeded) {
				break
			}
			if err != nil {
				return err
			}
			if err := e.handle(ev, false); err != nil {
				return err
			}
			if e.State == Closed {
				return errPeerReset
			}
		}
		if !want.After(e.SndUna) {
			return nil
		}
		rto *= 2
	}
	return fmt.Errorf("peer did not acknowledge seq %d after %d retransmissions", want-e.ISN, e.cfg.Retries)
}

var errPeerReset = errors.New("the peer reset the connection")

// rto is the retransmission timeout for data and FIN: four handshake RTTs,
// within [200 ms, configured RTO] (Linux's minimum is 200 ms).
func (e *Endpoint) rto() time.Duration {
	r := e.cfg.RTO
	if e.peerSynAck != nil && len(e.Rows) > 0 {
		if hs := e.peerSynAck.Time.Sub(e.Rows[0].Time) * 4; hs < r {
			r = hs
		}
	}
	return max(r, 200*time.Millisecond)
}

// drain handles what the capture still holds until it has shown every
// segment we sent, or max passes.
func (e *Endpoint) drain(max time.Duration) {
	deadline := time.Now().Add(max)
	for e.seenOut < e.sent {
		ev, err := e.nextUntil(context.Background(), deadline)
		if err != nil {
			return
		}
		_ = e.handle(ev, true)
	}
}

// waitAcked handles arriving segments until want is acknowledged or d
// passes.
func (e *Endpoint) waitAcked(ctx context.Context, want craft.Seq, d time.Duration) error {
	return e.waitUntil(ctx, d, func() bool { return !want.After(e.SndUna) || e.State == Closed })
}

// Wait handles arriving segments for d (or until the peer closes or
// resets, when untilFIN), ACKing data as a receiver does.
func (e *Endpoint) Wait(ctx context.Context, d time.Duration, untilFIN bool) error {
	return e.waitUntil(ctx, d, func() bool { return untilFIN && (e.peerFINKnown || e.State == Closed) })
}

// waitUntil handles arriving segments as a receiver until done reports
// true or d passes; running out of time is not an error.
func (e *Endpoint) waitUntil(ctx context.Context, d time.Duration, done func() bool) error {
	deadline := time.Now().Add(d)
	for !done() {
		ev, err := e.nextUntil(ctx, deadline)
		if errors.Is(err, context.DeadlineExceeded) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := e.handle(ev, false); err != nil {
			return err
		}
	}
	return nil
}
