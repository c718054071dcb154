package conform

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/endpoint"
	"github.com/tcpprobe/tcpprobe/handshake"
	"github.com/tcpprobe/tcpprobe/ladder"
	"github.com/tcpprobe/tcpprobe/wire"
)

// Config says what to test.
type Config struct {
	// Target is the host (Target.Target's address; its port is ignored)
	// and our side's settings.
	Target   handshake.RunConfig
	Ports    []uint16
	States   []string      // nil: all
	Probes   []string      // nil: all
	Parallel int           // cells at once (default 1)
	Window   time.Duration // how long the replies to a probe are collected (default 300ms)
	// Capture, when set, keeps every packet of every cell's connection.
	Capture *Capture
}

// Capture collects the packets of the grid's connections, from parallel
// cells, for a pcap file.
type Capture struct {
	mu       sync.Mutex
	Frames   []capture.Frame
	LinkType int
}

func (c *Capture) add(s *wire.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Frames = append(c.Frames, s.Frames()...)
	c.LinkType = s.LinkType()
}

// Sorted returns the frames in time order.
func (c *Capture) Sorted() []capture.Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.Frames)
	slices.SortStableFunc(out, func(a, b capture.Frame) int { return a.Time.Compare(b.Time) })
	return out
}

// PortInfo is what conform learned of a port before the grid.
type PortInfo struct {
	Port        uint16 `json:"port"`
	Open        bool   `json:"open"`
	SpeaksFirst bool   `json:"speaks_first"`
	ClosesFirst bool   `json:"closes_first"`
	// HoldsAfterFIN: after our FIN it kept the connection (CLOSE_WAIT)
	// for a while instead of closing.
	HoldsAfterFIN bool `json:"holds_after_fin"`
}

// Sent is the probe segment, its numbers relative to each side's ISN.
type Sent struct {
	Flags string `json:"flags"`
	Seq   int64  `json:"seq"`
	Ack   int64  `json:"ack,omitempty"`
	Len   int    `json:"len,omitempty"`
}

// Cell is one state-by-probe answer.
type Cell struct {
	State    string          `json:"state"`
	Probe    string          `json:"probe"`
	Port     uint16          `json:"port,omitempty"`
	Sent     *Sent           `json:"sent,omitempty"`
	Replies  []ladder.Packet `json:"replies"`
	Reply    string          `json:"reply"`
	After    string          `json:"after"`
	Expected string          `json:"expected"`
	RFC      string          `json:"rfc"`
	Verdict  string          `json:"verdict"`
	Note     string          `json:"note,omitempty"`
	Ladder   []ladder.Row    `json:"ladder,omitempty"` // of a failed cell

	peerFIN     craft.Seq // LAST_ACK: the peer's FIN, which it retransmits
	peerFINSeen bool
}

// Result is the whole grid.
type Result struct {
	Target string     `json:"target"`
	Ports  []PortInfo `json:"ports"`
	Cells  []Cell     `json:"cells"`
	Failed bool       `json:"failed"`
}

// Run learns the ports, then fills every selected cell of the grid, each
// on a fresh connection torn down with a RST.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Parallel < 1 {
		cfg.Parallel = 1
	}
	if cfg.Window <= 0 {
		cfg.Window = 300 * time.Millisecond
	}
	states, probes := cfg.States, cfg.Probes
	if states == nil {
		states = States
	}
	if probes == nil {
		probes = Probes
	}
	res := &Result{Target: cfg.Target.Target.Addr().String()}
	for _, p := range cfg.Ports {
		pi, err := learn(ctx, cfg, p)
		if err != nil {
			return nil, err
		}
		res.Ports = append(res.Ports, pi)
	}
	for _, st := range States {
		if !slices.Contains(states, st) {
			continue
		}
		port, why := portFor(st, res.Ports)
		for _, pr := range Probes {
			if !slices.Contains(probes, pr) {
				continue
			}
			c := Cell{State: st, Probe: pr, Port: port, Replies: []ladder.Packet{}}
			rule := Expect(st, pr)
			switch {
			case rule == nil:
				c.Verdict = NotApplied
			case port == 0:
				c.Verdict, c.Note = Unreachable, why
			default:
				c.Expected, c.RFC = rule.Expected, rule.RFC
			}
			res.Cells = append(res.Cells, c)
		}
	}
	sem := make(chan struct{}, cfg.Parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range res.Cells {
		c := &res.Cells[i]
		if c.Verdict != "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := runCell(ctx, cfg, c)
			if err == nil && (c.Verdict == Fail || c.Verdict == Unreachable) {
				// A live peer's timers can put a segment of its own into
				// the window: a cell fails only when a fresh connection
				// fails it again.
				first := *c
				*c = Cell{State: first.State, Probe: first.Probe, Port: first.Port, Replies: []ladder.Packet{},
					Expected: first.Expected, RFC: first.RFC}
				err = runCell(ctx, cfg, c)
				if c.Verdict == first.Verdict {
					c.Note = strings.TrimPrefix(c.Note+"; confirmed by a second try", "; ")
				} else {
					c.Note = strings.TrimPrefix(c.Note+"; a first try gave "+first.Reply+", "+first.After+" ("+first.Verdict+")", "; ")
				}
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return res, firstErr
	}
	for _, c := range res.Cells {
		if c.Verdict == Fail {
			res.Failed = true
		}
	}
	return res, nil
}

// portFor picks the port that brings the peer into state, or says why
// none does.
func portFor(state string, ports []PortInfo) (uint16, string) {
	for _, p := range ports {
		if !p.Open {
			continue
		}
		switch state {
		case FinWait2, Closing, TimeWait:
			if p.ClosesFirst {
				return p.Port, ""
			}
		case CloseWait:
			if p.HoldsAfterFIN {
				return p.Port, ""
			}
		case LastAck:
			if !p.ClosesFirst && !p.HoldsAfterFIN {
				return p.Port, ""
			}
		default:
			if !p.ClosesFirst {
				return p.Port, ""
			}
		}
	}
	switch state {
	case FinWait2, Closing, TimeWait:
		return 0, "no given port closes first (a server that sends a greeting and closes reaches it)"
	case CloseWait:
		return 0, "no given port holds the connection after our FIN (a server that stays open after reading the end reaches it)"
	case LastAck:
		return 0, "no given port closes after our FIN (an echo server reaches it)"
	case Listen, SynReceived:
		for _, p := range ports {
			if p.Open {
				return p.Port, ""
			}
		}
	}
	return 0, "no given port is open and holds the connection"
}

// session opens a fresh connection's session and endpoint to port; close
// closes the session.
func session(cfg Config, port uint16) (*wire.Session, *endpoint.Conn, error) {
	rc := cfg.Target
	rc.Target = netip.AddrPortFrom(rc.Target.Addr(), port)
	rc.SrcPort = 0
	sess, err := handshake.OpenSession(rc, false)
	if err != nil {
		return nil, nil, err
	}
	e, err := handshake.NewConn(sess, rc)
	if err != nil {
		sess.Close()
		return nil, nil, err
	}
	return sess, e, nil
}

// learn connects to port and watches it: does it speak first, close first?
func learn(ctx context.Context, cfg Config, port uint16) (PortInfo, error) {
	pi := PortInfo{Port: port}
	sess, e, err := session(cfg, port)
	if err != nil {
		return pi, err
	}
	defer sess.Close()
	out, err := e.Open(ctx, endpoint.OpenConfig{})
	if err != nil || out != endpoint.Open {
		return pi, err
	}
	pi.Open = true
	evs, err := e.Collect(ctx, 500*time.Millisecond)
	for _, ev := range evs {
		if !ev.Pkt.HasTCP {
			continue
		}
		if ev.Pkt.PayloadLen > 0 {
			pi.SpeaksFirst = true
		}
		if ev.Pkt.TCP.Flags&craft.FIN != 0 {
			pi.ClosesFirst = true
		}
	}
	if err == nil && !pi.ClosesFirst {
		// Our FIN: does it close at once (LAST_ACK) or hold (CLOSE_WAIT)?
		fin := e.SndNxt
		if err := e.Inject(craft.FIN|craft.ACK, fin, e.RcvNxt, nil); err != nil {
			return pi, err
		}
		evs, err = e.Collect(ctx, 300*time.Millisecond)
		pi.HoldsAfterFIN = true
		for _, ev := range evs {
			if ev.Pkt.HasTCP && ev.Pkt.TCP.Flags&(craft.FIN|craft.RST) != 0 {
				pi.HoldsAfterFIN = false
			}
		}
		// The endpoint does not know of the FIN sent by hand: the RST that
		// ends the connection goes at the peer's RCV.NXT, past it.
		e.Inject(craft.RST, fin.Add(1), 0, nil)
	}
	e.Abort()
	e.Drain(50 * time.Millisecond)
	return pi, err
}

// far is a quarter of the sequence space: beyond any receive window.
const far = 1 << 30

// runCell brings a fresh connection into the cell's state, sends the probe,
// classifies the answer and finds out whether the connection survived.
func runCell(ctx context.Context, cfg Config, c *Cell) error {
	sess, e, err := session(cfg, c.Port)
	if err != nil {
		return err
	}
	defer sess.Close()
	if cfg.Capture != nil {
		defer cfg.Capture.add(sess) // after the closing RST below
	}
	defer func() {
		e.Abort() // nothing of ours stays open on the target
		e.Drain(50 * time.Millisecond)
	}()
	base, ackSent, err := reach(ctx, e, c.State, c) // base: the peer's RCV.NXT
	if err != nil || c.Verdict == Unreachable {
		return err
	}
	if c.State != Listen {
		// A quiet moment: what the peer still sends about reaching the
		// state (a window update, a late ACK) is not an answer to the probe.
		if _, err := e.Collect(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	flags, seq, ack, payload := probeSegment(e, c.State, c.Probe, base, ackSent)
	if err := e.InjectWith(flags, seq, ack, payload, probeMod(c.Probe, len(payload))); err != nil {
		return err
	}
	c.Sent = &Sent{Flags: flags.String(), Seq: int64(int32(seq - e.ISN)), Len: len(payload)}
	if flags&craft.ACK != 0 {
		c.Sent.Ack = int64(int32(ack - e.PeerISN))
	}
	evs, err := e.Collect(ctx, cfg.Window)
	if err != nil {
		return err
	}
	c.Reply = classify(e, c, evs)
	c.After, err = followUp(ctx, e, c, base, ackSent, cfg.Window)
	if err != nil {
		return err
	}
	if flags&craft.SYN != 0 && c.Reply == ReplySynAck {
		// The SYN opened a connection (from LISTEN, or reopened one from
		// TIME_WAIT): leave nothing half-open behind.
		e.Inject(craft.RST, seq.Add(1), 0, nil)
	}
	switch {
	case c.State == Listen:
	default:
		// Our endpoint does not know of the segments sent by hand: reset
		// at the peer's RCV.NXT, and past a probe it may have taken.
		e.Inject(craft.RST, base, 0, nil)
		if n := craft.SeqLen(flags, len(payload)); seq == base && n > 0 {
			e.Inject(craft.RST, base.Add(n), 0, nil)
		}
	}
	rule := Expect(c.State, c.Probe)
	c.Verdict = rule.Judge(c.Reply, c.After)
	if c.Verdict == Fail {
		e.Drain(50 * time.Millisecond)
		c.Ladder = e.Ladder.Rows
	}
	return nil
}

// reach drives the connection into state; it returns the last ACK the peer
// saw from us (what ack-dup repeats). A state it cannot reach marks the
// cell unreachable.
func reach(ctx context.Context, e *endpoint.Conn, state string, c *Cell) (base, ackSent craft.Seq, err error) {
	unreachable := func(why string) (craft.Seq, craft.Seq, error) {
		c.Verdict, c.Note = Unreachable, why
		return 0, 0, nil
	}
	if state == Listen {
		return e.ISN, craft.Seq(rand.Uint32()), nil
	}
	out, err := e.Open(ctx, endpoint.OpenConfig{DropThirdACK: state == SynReceived})
	if err != nil {
		return 0, 0, err
	}
	if out != endpoint.Open {
		return unreachable(fmt.Sprintf("port %d: %s", c.Port, out))
	}
	switch state {
	case SynReceived:
		return e.SndNxt, e.RcvNxt, nil
	case Established:
		if err := e.Wait(ctx, 100*time.Millisecond, false); err != nil { // a greeting, ACKed
			return 0, 0, err
		}
	case CloseWait:
		// Our FIN, acknowledged; the peer's application holds: CLOSE_WAIT.
		fin, evs, err := sendFIN(ctx, e, 100*time.Millisecond)
		if err != nil {
			return 0, 0, err
		}
		acked := false
		for _, ev := range evs {
			if !ev.Pkt.HasTCP {
				continue
			}
			if ev.Pkt.TCP.Flags&(craft.FIN|craft.RST) != 0 {
				return unreachable(fmt.Sprintf("port %d closed after our FIN", c.Port))
			}
			acked = acked || ev.Pkt.TCP.Ack == fin.Add(1)
		}
		if !acked {
			return unreachable(fmt.Sprintf("port %d did not acknowledge our FIN", c.Port))
		}
		return fin.Add(1), e.RcvNxt, nil
	case FinWait2:
		if err := e.Wait(ctx, 2*time.Second, true); err != nil { // its FIN, ACKed
			return 0, 0, err
		}
		if !e.PeerFINKnown() {
			return unreachable(fmt.Sprintf("port %d did not close first within 2s", c.Port))
		}
	case LastAck:
		// Our FIN, sent by hand so that our endpoint never ACKs the
		// peer's FIN: it stays in LAST_ACK, retransmitting it.
		fin, evs, err := sendFIN(ctx, e, 500*time.Millisecond)
		if err != nil {
			return 0, 0, err
		}
		c.notePeerFIN(evs, fin.Add(1), false)
		if !c.peerFINSeen {
			return unreachable(fmt.Sprintf("port %d did not close after our FIN", c.Port))
		}
		// Acknowledge what it sent before its FIN (a half-closing server
		// sends data after our FIN), not the FIN: only the FIN is left to
		// retransmit.
		if err := e.Inject(craft.ACK, fin.Add(1), c.peerFIN, nil); err != nil {
			return 0, 0, err
		}
		return fin.Add(1), c.peerFIN, nil // its FIN is not acknowledged
	case Closing:
		// Its FIN arrives (a close-first port) and ours crosses it: our FIN
		// acknowledges its data, not its FIN, so the peer goes from
		// FIN_WAIT_1 to CLOSING (RFC 9293 3.6, simultaneous close). It
		// acknowledges our FIN and keeps retransmitting its own.
		deadline := time.Now().Add(2 * time.Second)
		for !c.peerFINSeen && time.Now().Before(deadline) {
			evs, err := e.Collect(ctx, 100*time.Millisecond)
			if err != nil {
				return 0, 0, err
			}
			c.notePeerFIN(evs, 0, true)
		}
		if !c.peerFINSeen {
			return unreachable(fmt.Sprintf("port %d did not close first within 2s", c.Port))
		}
		fin := e.SndNxt
		if err := e.Inject(craft.FIN|craft.ACK, fin, c.peerFIN, nil); err != nil {
			return 0, 0, err
		}
		return fin.Add(1), c.peerFIN, nil
	case TimeWait:
		if err := e.Wait(ctx, 2*time.Second, true); err != nil {
			return 0, 0, err
		}
		if !e.PeerFINKnown() {
			return unreachable(fmt.Sprintf("port %d did not close first within 2s", c.Port))
		}
		if _, err := e.Close(ctx, endpoint.CloseConfig{Mode: endpoint.ClosePassive, PassiveWait: time.Second}); err != nil {
			return 0, 0, err
		}
	}
	return e.SndNxt, e.RcvNxt, nil
}

// sendFIN sends our FIN by hand (at SND.NXT, acknowledging RCV.NXT) and
// collects what answers it for d; fin is the FIN's sequence number.
func sendFIN(ctx context.Context, e *endpoint.Conn, d time.Duration) (fin craft.Seq, evs []endpoint.Event, err error) {
	fin = e.SndNxt
	if err := e.Inject(craft.FIN|craft.ACK, fin, e.RcvNxt, nil); err != nil {
		return 0, nil, err
	}
	evs, err = e.Collect(ctx, d)
	return fin, evs, err
}

// notePeerFIN records the sequence number of the peer's first FIN among
// evs (the FIN's own, after any data it carries); unless anyAck, only a
// FIN that acknowledges ack counts.
func (c *Cell) notePeerFIN(evs []endpoint.Event, ack craft.Seq, anyAck bool) {
	for _, ev := range evs {
		t := &ev.Pkt.TCP
		if !c.peerFINSeen && ev.Pkt.HasTCP && t.Flags&craft.FIN != 0 && (anyAck || t.Ack == ack) {
			c.peerFIN, c.peerFINSeen = t.Seq.Add(uint32(ev.Pkt.PayloadLen)), true
		}
	}
}

// probeSegment builds the probe: flags, seq, ack, payload.
func probeSegment(e *endpoint.Conn, state, probe string, base, ackSent craft.Seq) (craft.Flags, craft.Seq, craft.Seq, []byte) {
	data := []byte("conform\r\n")
	switch probe {
	case "syn":
		return craft.SYN, base.Add(far), 0, nil
	case "syn-same":
		return craft.SYN, e.ISN, 0, nil
	case "rst-exact":
		return craft.RST, base, 0, nil
	case "rst-in-window":
		return craft.RST, base.Add(1), 0, nil
	case "rst-out-of-window":
		return craft.RST, base.Add(far), 0, nil
	case "ack-new":
		return craft.ACK, base, ackSent.Add(0x10000), nil
	case "ack-dup":
		return craft.ACK, base, ackSent, nil
	case "data-in-window":
		return craft.PSH | craft.ACK, base, ackSent, data
	case "data-old":
		return craft.PSH | craft.ACK, base.Add(^uint32(999)), ackSent, data
	case "data-beyond-window":
		return craft.PSH | craft.ACK, base.Add(far), ackSent, data
	case "fin":
		if state == CloseWait || state == LastAck || state == Closing || state == TimeWait {
			base = base.Add(^uint32(0)) // our FIN again
		}
		return craft.FIN | craft.ACK, base, ackSent, nil
	case "no-flags":
		return 0, base, 0, nil
	case "syn-in-window":
		return craft.SYN, base.Add(1), 0, nil
	case "syn-ack-unsolicited":
		return craft.SYN | craft.ACK, base.Add(far), ackSent, nil
	case "ack-old":
		return craft.ACK, base, ackSent - far, nil // far below SND.UNA - MAX.SND.WND
	case "fin-data":
		return craft.FIN | craft.PSH | craft.ACK, base, ackSent, data
	case "urg":
		return craft.URG | craft.PSH | craft.ACK, base, ackSent, data
	case "ts-old":
		return craft.PSH | craft.ACK, base, ackSent, data
	}
	panic("conform: unknown probe " + probe)
}

// probeMod is what a probe changes beyond flags, numbers and payload: the
// urgent pointer (the last byte of the data is urgent, RFC 6093), or a
// TSval 100 s older than the one the peer holds (PAWS, RFC 7323 5).
func probeMod(probe string, n int) func(*craft.Segment) {
	switch probe {
	case "urg":
		return func(s *craft.Segment) { s.TCP.Urgent = uint16(n) }
	case "ts-old":
		return func(s *craft.Segment) {
			for i, o := range s.TCP.Options {
				if o.Kind == craft.OptTimestamps && len(o.Data) == 8 {
					val := binary.BigEndian.Uint32(o.Data) - 100000
					s.TCP.Options[i] = craft.TimestampsOption(val, binary.BigEndian.Uint32(o.Data[4:]))
				}
			}
		}
	}
	return nil
}

// replyRank orders replies when the peer sent several: the most telling
// one names the answer.
var replyRank = map[string]int{ReplyNone: 0, ReplyACK: 1, ReplyChallengeACK: 1, ReplyData: 2, ReplySynAck: 3, ReplyRST: 4, ReplyICMP: 5}

// classify names the peer's answer. Retransmissions of its own FIN (in
// LAST_ACK) are its timers, not an answer.
func classify(e *endpoint.Conn, c *Cell, evs []endpoint.Event) string {
	reply := ReplyNone
	for _, ev := range evs {
		c.Replies = append(c.Replies, ladder.PacketOf(&ev.Pkt))
		r := ReplyNone
		switch {
		case ev.Pkt.HasICMP:
			r = ReplyICMP
		case !ev.Pkt.HasTCP:
			continue
		default:
			t := &ev.Pkt.TCP
			switch {
			case c.peerFINSeen && t.Flags&craft.FIN != 0 && t.Seq.Add(uint32(ev.Pkt.PayloadLen)) == c.peerFIN:
				continue // its FIN again (with the data before it, coalesced)
			case t.Flags&craft.RST != 0:
				r = ReplyRST
			case t.Flags.Has(craft.SYN | craft.ACK):
				r = ReplySynAck
			case ev.Pkt.PayloadLen > 0:
				r = ReplyData
			case t.Flags&craft.ACK != 0:
				r = ReplyACK
				if strings.HasPrefix(c.Probe, "syn") || strings.HasPrefix(c.Probe, "rst-") { // an ACK answering a SYN or a RST
					r = ReplyChallengeACK
				}
			}
		}
		if replyRank[r] > replyRank[reply] {
			reply = r
		}
	}
	return reply
}

// followUp finds out whether the peer kept the connection: a segment it
// must answer, an old ACK (like a keepalive probe) or, in SYN_RECEIVED,
// the withheld third ACK. A live connection answers with an ACK or says
// nothing; a connection the peer dropped answers with a RST.
func followUp(ctx context.Context, e *endpoint.Conn, c *Cell, base, ackSent craft.Seq, window time.Duration) (string, error) {
	switch {
	case c.State == Listen:
		return AfterUnknown, nil
	case c.Reply == ReplyRST:
		return AfterDropped, nil
	}
	if c.State == SynReceived {
		if err := e.Inject(craft.ACK, base, e.RcvNxt, nil); err != nil {
			return "", err
		}
		return followUpAnswer(ctx, e, c, window, AfterKept) // the third ACK was taken
	}
	if c.Reply != ReplyNone {
		// Linux limits the ACKs it sends to unacceptable segments to
		// one per 500 ms per connection (tcp_invalid_ratelimit).
		time.Sleep(550 * time.Millisecond)
	}
	old := func() error { return e.Inject(craft.ACK, base.Add(^uint32(0)), ackSent, nil) }
	if err := old(); err != nil {
		return "", err
	}
	after, err := followUpAnswer(ctx, e, c, window, AfterUnknown)
	if err != nil || after != AfterUnknown {
		return after, err
	}
	// A live connection owes the old ACK an ACK: silence is a rate limit
	// (an answer after a pause tells) or a connection gone without a word.
	time.Sleep(600 * time.Millisecond)
	if err := old(); err != nil {
		return "", err
	}
	after, err = followUpAnswer(ctx, e, c, window, AfterUnknown)
	switch {
	case err != nil:
	case after == AfterKept:
		c.Note = strings.TrimPrefix(c.Note+"; the follow-up was answered only after a pause: the peer rate-limits its ACKs to unacceptable segments", "; ")
	case after == AfterUnknown:
		c.Note = strings.TrimPrefix(c.Note+"; no answer to the follow-up, twice: rate-limited, or the connection is gone without a RST", "; ")
	}
	return after, err
}

// followUpAnswer reads the peer's answer to the follow-up: RST dropped, an
// ACK kept, else after.
func followUpAnswer(ctx context.Context, e *endpoint.Conn, c *Cell, window time.Duration, after string) (string, error) {
	evs, err := e.Collect(ctx, window)
	if err != nil {
		return "", err
	}
	for _, ev := range evs {
		if !ev.Pkt.HasTCP || (c.peerFINSeen && ev.Pkt.TCP.Seq.Add(uint32(ev.Pkt.PayloadLen)) == c.peerFIN && ev.Pkt.TCP.Flags&craft.FIN != 0 && ev.Pkt.TCP.Flags&craft.RST == 0) {
			continue
		}
		switch f := ev.Pkt.TCP.Flags; {
		case f&craft.RST != 0:
			return AfterDropped, nil
		case f&craft.ACK != 0:
			after = AfterKept
		}
	}
	return after, nil
}
