package endpoint

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/ladder"
	"github.com/tcpprobe/tcpprobe/rulebook"
	"github.com/tcpprobe/tcpprobe/wire"
)

// Net is what a Conn needs from the network: a wire.Session.
type Net interface {
	Send(*craft.Segment) error
	Next(context.Context) (*wire.Event, error)
}

var _ Net = (*wire.Session)(nil)

// Config describes our side of a hand-made connection.
type Config struct {
	ISN        *uint32        // nil: random
	SYNOptions []craft.Option // options of our SYN; a timestamps option gets our clock
	TTL        uint8          // TTL or hop limit of our segments (default 64)
	Window     uint16         // receive window in bytes (default 64240)
	RTO        time.Duration  // first retransmission timeout (default 1s)
	Retries    int            // retransmissions of a segment before giving up: 0 is the default 3, NoRetry none
}

// NoRetry in Config.Retries sends each segment once.
const NoRetry = -1

// Conn is our side of a connection, driven by hand: every segment is built
// here and put on the wire through a raw socket; every packet on the wire
// (ours included, with kernel timestamps) is fed to a rulebook.Tracker
// that judges both sides, and drawn as a ladder row.
type Conn struct {
	net Net
	cfg Config

	// State is our side's state; it changes only along the arcs of the
	// RFC 9293 diagram (rulebook.Step), see setState.
	State rulebook.State
	// ISN is our initial sequence number (ISS in RFC 9293).
	ISN craft.Seq
	// SndUna is SND.UNA: the oldest sequence number not yet acknowledged.
	SndUna craft.Seq
	// SndNxt is SND.NXT: the next sequence number we send.
	SndNxt craft.Seq
	// PeerISN is IRS: the peer's initial sequence number.
	PeerISN craft.Seq
	// RcvNxt is RCV.NXT: the next sequence number we expect from the peer.
	RcvNxt craft.Seq
	// PeerMSS and PeerWScale are what the peer's SYN-ACK offered (-1: no
	// window scale).
	PeerMSS    uint16
	PeerWScale int8
	ourWScale  int8
	sackOK     bool
	tsOK       bool
	tsRecent   uint32 // TS.Recent (RFC 7323 4.3)
	tsBase     uint32
	start      time.Time
	peerSynAck *wire.Event
	peerWindow uint16 // SND.WND as the peer's last segment gave it (unscaled)

	// Tracker judges both sides of every segment on the wire.
	Tracker rulebook.Tracker
	// Ladder is the record of every packet, with both sides' states.
	Ladder   ladder.Builder
	Received []byte // in-order data from the peer
	ooo      []oooSeg
	num      int
	// Counters of what happened.
	DupACKsSent  int
	ReACKedFINs  int // peer FINs ACKed again in TIME_WAIT
	HalfClosed   int // bytes received after our FIN
	PeerRSTs     int
	ICMP         *wire.Event
	peerFINKnown bool
	rsts         []craft.Seq // seqs of the RSTs we sent
	sent         int         // segments we sent
	seenOut      int         // of them, seen by the capture
}

type oooSeg struct {
	seq  craft.Seq
	data []byte
	fin  bool
}

// New prepares our side of a connection over n, in CLOSED.
func New(n Net, cfg Config) *Conn {
	if cfg.Window == 0 {
		cfg.Window = 64240
	}
	if cfg.TTL == 0 {
		cfg.TTL = 64
	}
	if cfg.RTO <= 0 {
		cfg.RTO = time.Second
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = 3
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	c := &Conn{net: n, cfg: cfg, start: time.Now(), tsBase: rand.Uint32(), PeerWScale: -1, ourWScale: -1}
	c.ISN = craft.Seq(rand.Uint32())
	if cfg.ISN != nil {
		c.ISN = craft.Seq(*cfg.ISN)
	}
	c.SndUna, c.SndNxt = c.ISN, c.ISN
	c.Tracker.Init(rulebook.TrackerConfig{Record: true, ServerListens: true})
	return c
}

// setState moves our side along the RFC 9293 diagram. An arc the diagram
// does not have is a bug in this endpoint, not in the peer.
func (c *Conn) setState(ev rulebook.Event) {
	to, ok := rulebook.Step(c.State, ev)
	if !ok {
		panic("endpoint: " + c.State.String() + " cannot " + ev.String() + " (RFC 9293 3.3.2 has no such arc)")
	}
	c.State = to
}

// tsval is our timestamp clock: milliseconds since the endpoint started,
// from a random base.
func (c *Conn) tsval() uint32 { return c.tsBase + uint32(time.Since(c.start).Milliseconds()) }

// segment builds one of our segments with the current numbers.
func (c *Conn) segment(f craft.Flags, seq craft.Seq, payload []byte) craft.Segment {
	s := craft.Segment{TTL: c.cfg.TTL, TCP: craft.TCP{Seq: seq, Flags: f, Window: c.cfg.Window}, Payload: payload}
	if f&craft.ACK != 0 {
		s.TCP.Ack = c.RcvNxt
	}
	if f&craft.SYN == 0 && c.ourWScale >= 0 && c.PeerWScale >= 0 {
		s.TCP.Window = uint16(uint32(c.cfg.Window) >> uint(c.ourWScale))
	}
	if c.tsOK && f&craft.RST == 0 {
		s.TCP.Options = []craft.Option{craft.NOPOption(), craft.NOPOption(), craft.TimestampsOption(c.tsval(), c.tsRecent)}
	}
	return s
}

func (c *Conn) send(s *craft.Segment) error {
	if err := c.net.Send(s); err != nil {
		return err
	}
	c.sent++
	if end := s.TCP.Seq.Add(craft.SeqLen(s.TCP.Flags, len(s.Payload))); end.After(c.SndNxt) {
		c.SndNxt = end
	}
	return nil
}

// sendRST sends a RST of ours (told apart from our kernel's in the ladder).
func (c *Conn) sendRST(f craft.Flags, seq craft.Seq) error {
	r := c.segment(f, seq, nil)
	c.rsts = append(c.rsts, seq)
	return c.send(&r)
}

// Event is one captured packet of the connection, after the Tracker and
// the ladder saw it.
type Event struct {
	*wire.Event
	// Seg is the Tracker's view of a TCP segment (zero for ICMP), with its
	// notes: Seg.KeepAlive marks a keepalive probe.
	Seg rulebook.Seg
}

// next returns the next captured event, after feeding it to the tracker
// and the ladder. Errors are context errors or capture failures.
func (c *Conn) next(ctx context.Context) (Event, error) {
	w, err := c.net.Next(ctx)
	if err != nil {
		return Event{}, err
	}
	c.num++
	ev := Event{Event: w}
	if !w.Pkt.HasTCP {
		c.Ladder.ICMP(c.num, w.Time, ladder.PacketOf(&w.Pkt), [2]rulebook.State{c.Tracker.Side[rulebook.Client].State, c.Tracker.Side[rulebook.Server].State})
		return ev, nil
	}
	from := rulebook.Client
	if w.Dir == wire.In {
		from = rulebook.Server
	} else {
		c.seenOut++
	}
	ev.Seg = rulebook.SegOf(&w.Pkt, c.num, w.Time, from)
	c.Tracker.Observe(&ev.Seg)
	row := c.Ladder.Segment(&ev.Seg, &c.Tracker.Side, ladder.PacketOf(&w.Pkt), w.Pkt.TCP.Options)
	row.KernelRST = from == rulebook.Client && ev.Seg.Flags&craft.RST != 0 && !c.sentRST(ev.Seg.Seq)
	return ev, nil
}

// nextUntil is next with an absolute deadline.
func (c *Conn) nextUntil(ctx context.Context, deadline time.Time) (Event, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return c.next(ctx)
}

// sentRST tells our RSTs from the kernel's.
func (c *Conn) sentRST(seq craft.Seq) bool {
	for _, s := range c.rsts {
		if s == seq {
			return true
		}
	}
	return false
}

// PeerWindow is the window of the peer's last segment.
func (c *Conn) PeerWindow() uint16 { return c.peerWindow }

// PeerSynAck is the peer's SYN-ACK as captured (nil before one came).
func (c *Conn) PeerSynAck() *wire.Event { return c.peerSynAck }

// SACK and Timestamps report whether the handshake turned them on.
func (c *Conn) SACK() bool       { return c.sackOK }
func (c *Conn) Timestamps() bool { return c.tsOK }

// SYNOptions are the options our SYN offered.
func (c *Conn) SYNOptions() []craft.Option { return c.cfg.SYNOptions }

// LastSent is the capture time of the last segment of ours seen on the
// wire (zero before any).
func (c *Conn) LastSent() time.Time {
	for i := len(c.Tracker.Segs) - 1; i >= 0; i-- {
		if c.Tracker.Segs[i].From == rulebook.Client {
			return c.Tracker.Segs[i].Time
		}
	}
	return time.Time{}
}

// Drain handles what the capture still holds, without acknowledging it,
// until it has shown every segment we sent, or max passes.
func (c *Conn) Drain(max time.Duration) {
	deadline := time.Now().Add(max)
	for c.seenOut < c.sent {
		ev, err := c.nextUntil(context.Background(), deadline)
		if err != nil {
			return
		}
		_ = c.handle(ev, true)
	}
}
