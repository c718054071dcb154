package handshake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/endpoint"
	"github.com/tcpprobe/tcpprobe/internal/rtt"
	"github.com/tcpprobe/tcpprobe/ladder"
	"github.com/tcpprobe/tcpprobe/rulebook"
	"github.com/tcpprobe/tcpprobe/wire"
)

// RunConfig describes one hand-made connection.
type RunConfig struct {
	Target   netip.AddrPort
	SrcPort  uint16
	Endpoint endpoint.Config
	// SYNPreset names the SYN options when Endpoint.SYNOptions is nil.
	SYNPreset    string
	Data         []byte   // carried by the third segment
	Sends        [][]byte // request/response exchanges after the handshake
	ReplyWait    time.Duration
	DropThirdACK bool
	Observe      time.Duration // how long the experiments watch the peer
	// ProbeTimeWait, after a close the peer began, measures its TIME_WAIT
	// for at most this long (0: not measured).
	ProbeTimeWait time.Duration
	Close         endpoint.CloseConfig
	Write         string // pcap file of every segment
}

// Negotiated is what the handshake settled.
type Negotiated struct {
	OurMSS      uint16   `json:"our_mss"`
	PeerMSS     uint16   `json:"peer_mss"`
	OurWScale   int8     `json:"our_wscale"`  // -1: none
	PeerWScale  int8     `json:"peer_wscale"` // -1: none
	SACK        bool     `json:"sack"`
	Timestamps  bool     `json:"timestamps"`
	PeerOptions []string `json:"peer_options"`
}

// Result is the outcome of one hand-made connection.
type Result struct {
	Target        string                    `json:"target"`
	Local         string                    `json:"local"`
	Iface         string                    `json:"iface"`
	Outcome       endpoint.Outcome          `json:"outcome"`
	ICMP          *ladder.ICMP              `json:"icmp,omitempty"`
	ISN           uint32                    `json:"isn"`
	PeerISN       uint32                    `json:"peer_isn,omitempty"`
	HandshakeMs   float64                   `json:"handshake_rtt_ms,omitempty"`
	SYNRetries    int                       `json:"syn_retransmissions"`
	Negotiated    *Negotiated               `json:"negotiated,omitempty"`
	PeerTTL       uint8                     `json:"peer_ttl,omitempty"`
	InitialTTL    uint8                     `json:"peer_initial_ttl_guess,omitempty"`
	Hops          int                       `json:"hops_guess,omitempty"`
	SentBytes     int                       `json:"sent_bytes"`
	Received      int                       `json:"received_bytes"`
	ReceivedText  string                    `json:"received_text,omitempty"`
	HalfCloseData int                       `json:"half_close_bytes,omitempty"`
	SynAckRetrans *endpoint.Retransmissions `json:"synack_retransmissions,omitempty"`
	Close         *endpoint.CloseReport     `json:"close,omitempty"`
	PeerTimeWait  *endpoint.TimeWaitProbe   `json:"peer_time_wait,omitempty"`
	CloseForm     rulebook.CloseForm        `json:"close_form"`
	CloseBy       string                    `json:"close_by,omitempty"`
	OurState      rulebook.State            `json:"our_state"`
	PeerState     rulebook.State            `json:"peer_state"`
	ReACKedFINs   int                       `json:"fins_reacked_in_time_wait,omitempty"`
	KernelRSTs    uint64                    `json:"kernel_rsts_dropped"`
	Ladder        []ladder.Row              `json:"ladder"`
	Rules         []rulebook.Verdict        `json:"rules"`
	Transitions   []TransitionJSON          `json:"transitions"`
	Failed        bool                      `json:"failed"`
	Error         string                    `json:"error,omitempty"`
}

// TransitionJSON is a state change in the result.
type TransitionJSON struct {
	Num  int            `json:"num"`
	Side string         `json:"side"` // "ours" or "peer"
	From rulebook.State `json:"from"`
	To   rulebook.State `json:"to"`
}

// Run opens a session to cfg.Target, walks the connection through its
// life as cfg says and returns the result with every rule's verdict. An
// error means the probe itself could not run (privilege, route, capture).
func Run(ctx context.Context, cfg RunConfig) (*Result, error) {
	sess, err := OpenSession(cfg, false)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	return RunOn(ctx, sess, cfg)
}

// OpenSession opens the wire session Run uses; reusable sessions serve
// many connections in a row (RunOn after sess.Rebind).
func OpenSession(cfg RunConfig, reusable bool) (*wire.Session, error) {
	return wire.Open(wire.Config{Remote: cfg.Target, SrcPort: cfg.SrcPort, Guard: true, Record: true, Reusable: reusable})
}

// ResolveSYNOptions turns cfg.SYNPreset into SYN options with the MSS of
// the session's interface, once: callers running many connections on one
// session call it before the first.
func ResolveSYNOptions(cfg *RunConfig, sess *wire.Session) error {
	if cfg.Endpoint.SYNOptions != nil || cfg.SYNPreset == "" {
		return nil
	}
	opts, err := SYNPreset(cfg.SYNPreset, mssFor(sess.Route.Iface, cfg.Target.Addr().Is6()))
	if err != nil {
		return err
	}
	cfg.Endpoint.SYNOptions = opts
	return nil
}

// NewConn prepares our side of a connection on sess as cfg says.
func NewConn(sess *wire.Session, cfg RunConfig) (*endpoint.Conn, error) {
	if err := ResolveSYNOptions(&cfg, sess); err != nil {
		return nil, err
	}
	return endpoint.New(sess, cfg.Endpoint), nil
}

// RunOn is Run over an open session.
func RunOn(ctx context.Context, sess *wire.Session, cfg RunConfig) (*Result, error) {
	e, err := NewConn(sess, cfg)
	if err != nil {
		return nil, err
	}
	res, err := drive(ctx, e, cfg)
	if ctx.Err() != nil {
		// Interrupted: reset what we opened by hand before the guard goes.
		if aerr := e.Abort(); aerr != nil && err == nil {
			err = aerr
		}
	}
	// Let the capture deliver our last segments before the ladder and
	// the pcap are made.
	e.Drain(100 * time.Millisecond)
	finishResult(res, e, sess)
	if cfg.Write != "" {
		if werr := sess.WritePcap(cfg.Write); werr != nil && err == nil {
			err = werr
		}
	}
	return res, err
}

func drive(ctx context.Context, e *endpoint.Conn, cfg RunConfig) (*Result, error) {
	res := &Result{Target: cfg.Target.String(), ISN: uint32(e.ISN)}
	outcome, err := e.Open(ctx, endpoint.OpenConfig{DropThirdACK: cfg.DropThirdACK, Data: cfg.Data})
	if err != nil {
		return res, err
	}
	res.Outcome = outcome
	if outcome != endpoint.Open && outcome != endpoint.SimulOpen {
		return res, nil
	}
	if cfg.DropThirdACK {
		res.SynAckRetrans, err = e.ObserveSynAckRetransmissions(ctx, cfg.Observe)
		return res, err
	}
	if len(cfg.Data) > 0 {
		res.SentBytes += len(cfg.Data)
		// The third segment carried data: wait for it to be acknowledged,
		// resending it if the ACK does not come.
		if err := e.AwaitThirdSegmentData(ctx, cfg.Data); err != nil {
			return res, err
		}
		if err := e.Wait(ctx, cfg.ReplyWait, false); err != nil {
			return res, err
		}
	}
	for _, d := range cfg.Sends {
		res.SentBytes += len(d)
		if err := e.SendData(ctx, d); err != nil {
			return res, err
		}
		if err := e.Wait(ctx, cfg.ReplyWait, false); err != nil {
			return res, err
		}
	}
	cr, err := e.Close(ctx, cfg.Close)
	res.Close = &cr
	if errors.Is(err, endpoint.ErrPeerReset) {
		err = nil
	}
	if err == nil && cfg.ProbeTimeWait > 0 && cr.PeerClosedFirst {
		res.PeerTimeWait, err = e.ProbeTimeWait(ctx, time.Second, cfg.ProbeTimeWait)
	}
	return res, err
}

func finishResult(res *Result, e *endpoint.Conn, sess *wire.Session) {
	t := &e.Tracker
	res.Local = sess.Local.String()
	res.Iface = sess.Route.Iface
	res.PeerISN = uint32(e.PeerISN)
	res.Received = len(e.Received)
	res.ReceivedText = printable(e.Received, 200)
	res.HalfCloseData = e.HalfClosed
	res.ReACKedFINs = e.ReACKedFINs
	res.KernelRSTs = sess.GuardDropped()
	if e.ICMP != nil {
		res.ICMP = ladder.PacketOf(&e.ICMP.Pkt).ICMP
	}
	synRTT(res, e)
	if res.PeerTTL > 0 {
		res.InitialTTL, res.Hops = guessInitialTTL(res.PeerTTL)
	}
	if sa := e.PeerSynAck(); sa != nil {
		res.Negotiated = negotiated(e, &sa.Pkt.TCP)
	}
	form, by := t.CloseForm()
	res.CloseForm = form
	if form != rulebook.CloseNone {
		res.CloseBy = "ours"
		if by == rulebook.Server {
			res.CloseBy = "peer"
		}
	}
	res.OurState, res.PeerState = e.State, t.Side[rulebook.Server].State
	if res.Close != nil && res.Close.Mode == endpoint.CloseLeave {
		// Said after the capture showed everything, so that it agrees
		// with the final states.
		res.Close.Note = "left the peer in " + res.PeerState.String()
	}
	switch res.Outcome {
	case endpoint.Refused, endpoint.Unreachable:
		res.PeerState = rulebook.Closed
	case endpoint.Filtered:
		res.PeerState = rulebook.Unknown
	}
	res.Ladder = e.Ladder.Rows
	if res.Outcome == endpoint.Filtered || res.Outcome == endpoint.Unreachable {
		// The Tracker took the silent peer to listen; the ladder says what
		// the summary says instead.
		for i := range res.Ladder {
			res.Ladder[i].Peer = res.PeerState
		}
	}
	res.Rules = t.Verdicts()
	res.Failed = t.Failed()
	for _, tr := range t.Trans {
		side := "ours"
		if tr.Role == rulebook.Server {
			side = "peer"
		}
		res.Transitions = append(res.Transitions, TransitionJSON{Num: tr.Num, Side: side, From: tr.From, To: tr.To})
	}
}

// synRTT counts our SYN retransmissions and measures the handshake RTT
// from the last SYN to the first answer (SYN-ACK, RST or ICMP), with the
// kernel's capture timestamps.
func synRTT(res *Result, e *endpoint.Conn) {
	var lastSYN time.Time
	for i := range e.Tracker.Segs {
		s := &e.Tracker.Segs[i]
		if s.From == rulebook.Client && s.Flags == craft.SYN {
			if !lastSYN.IsZero() {
				res.SYNRetries++
			}
			lastSYN = s.Time
		}
		if s.From == rulebook.Server && !lastSYN.IsZero() && (s.Flags == craft.SYN|craft.ACK || s.Flags == craft.RST|craft.ACK) {
			res.HandshakeMs, res.PeerTTL = rtt.Ms(s.Time.Sub(lastSYN)), s.TTL
			return
		}
	}
	if e.ICMP != nil && !lastSYN.IsZero() {
		res.HandshakeMs, res.PeerTTL = rtt.Ms(e.ICMP.Time.Sub(lastSYN)), e.ICMP.Pkt.TTL()
	}
}

// negotiated is what our SYN and the peer's SYN-ACK settled.
func negotiated(e *endpoint.Conn, sa *craft.TCP) *Negotiated {
	n := &Negotiated{PeerMSS: e.PeerMSS, PeerWScale: e.PeerWScale, OurWScale: -1, SACK: e.SACK(), Timestamps: e.Timestamps(), PeerOptions: ladder.Options(sa.Options)}
	ours := craft.TCP{Options: e.SYNOptions()}
	n.OurMSS, _ = ours.MSS()
	if ws, ok := ours.WindowScale(); ok && e.PeerWScale >= 0 {
		n.OurWScale = int8(ws)
	}
	n.SACK = n.SACK && ours.SACKPermitted()
	if e.PeerWScale >= 0 && n.OurWScale < 0 {
		n.PeerWScale = -1
	}
	return n
}

// guessInitialTTL returns the smallest common initial TTL (32, 64, 128,
// 255) at or above ttl, and the hops between.
func guessInitialTTL(ttl uint8) (uint8, int) {
	for _, init := range []uint8{32, 64, 128, 255} {
		if ttl <= init {
			return init, int(init - ttl)
		}
	}
	return 255, 0
}

// mssFor is the MSS our SYN offers: the interface MTU less the IP and TCP
// headers, as Linux computes it.
func mssFor(iface string, v6 bool) uint16 {
	mtu := 1500
	if ifi, err := net.InterfaceByName(iface); err == nil && ifi.MTU > 0 {
		mtu = ifi.MTU
	}
	hdr := 40
	if v6 {
		hdr = 60
	}
	return uint16(min(max(mtu-hdr, 536), 65495))
}

func printable(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	out := make([]rune, 0, len(b))
	for _, c := range b {
		if c >= 32 && c < 127 || c == '\n' || c == '\t' {
			out = append(out, rune(c))
		} else if c == '\r' {
			continue
		} else {
			out = append(out, '.')
		}
	}
	return string(out)
}

// String summarises the result in one line, for --count runs.
func (r *Result) String() string {
	switch r.Outcome {
	case endpoint.Open, endpoint.SimulOpen:
		verdict := "all rules passed"
		if r.Failed {
			n := 0
			for _, v := range r.Rules {
				if v.Result == rulebook.Fail {
					n++
				}
			}
			verdict = fmt.Sprintf("%d rule(s) FAILED", n)
		}
		return fmt.Sprintf("%s: %s in %.3f ms, close %s, %s", r.Target, r.Outcome, r.HandshakeMs, r.CloseForm, verdict)
	case endpoint.Unreachable:
		return fmt.Sprintf("%s: unreachable (%s)", r.Target, r.ICMP.Description)
	}
	return fmt.Sprintf("%s: %s", r.Target, r.Outcome)
}
