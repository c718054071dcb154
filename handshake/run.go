package handshake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/report"
	"github.com/tcpprobe/tcpprobe/wire"
)

// RunConfig describes one hand-made connection.
type RunConfig struct {
	Target   netip.AddrPort
	SrcPort  uint16
	Endpoint EndpointConfig
	// SYNPreset names the SYN options when Endpoint.SYNOptions is nil.
	SYNPreset    string
	Data         []byte   // carried by the third segment
	Sends        [][]byte // request/response exchanges after the handshake
	ReplyWait    time.Duration
	DropThirdACK bool
	Observe      time.Duration // how long the experiments watch the peer
	Close        CloseConfig
	Write        string // pcap file of every segment
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
	Target        string           `json:"target"`
	Local         string           `json:"local"`
	Iface         string           `json:"iface"`
	Outcome       Outcome          `json:"outcome"`
	ICMP          *report.ICMP     `json:"icmp,omitempty"`
	ISN           uint32           `json:"isn"`
	PeerISN       uint32           `json:"peer_isn,omitempty"`
	HandshakeMs   float64          `json:"handshake_rtt_ms,omitempty"`
	SYNRetries    int              `json:"syn_retransmissions"`
	Negotiated    *Negotiated      `json:"negotiated,omitempty"`
	PeerTTL       uint8            `json:"peer_ttl,omitempty"`
	InitialTTL    uint8            `json:"peer_initial_ttl_guess,omitempty"`
	Hops          int              `json:"hops_guess,omitempty"`
	SentBytes     int              `json:"sent_bytes"`
	Received      int              `json:"received_bytes"`
	ReceivedText  string           `json:"received_text,omitempty"`
	HalfCloseData int              `json:"half_close_bytes,omitempty"`
	SynAckRetrans *Retransmissions `json:"synack_retransmissions,omitempty"`
	Close         *CloseReport     `json:"close,omitempty"`
	CloseForm     CloseForm        `json:"close_form"`
	CloseBy       string           `json:"close_by,omitempty"`
	OurState      State            `json:"our_state"`
	PeerState     State            `json:"peer_state"`
	ReACKedFINs   int              `json:"fins_reacked_in_time_wait,omitempty"`
	KernelRSTs    uint64           `json:"kernel_rsts_dropped"`
	Ladder        []Row            `json:"ladder"`
	Rules         []report.Verdict `json:"rules"`
	Transitions   []TransitionJSON `json:"transitions"`
	Failed        bool             `json:"failed"`
	Error         string           `json:"error,omitempty"`
}

// TransitionJSON is a state change in the result.
type TransitionJSON struct {
	Num  int    `json:"num"`
	Side string `json:"side"` // "ours" or "peer"
	From State  `json:"from"`
	To   State  `json:"to"`
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

// NewEndpointFor prepares our side of a connection on sess as cfg says.
func NewEndpointFor(sess *wire.Session, cfg RunConfig) (*Endpoint, error) {
	if err := ResolveSYNOptions(&cfg, sess); err != nil {
		return nil, err
	}
	return NewEndpoint(sess, cfg.Endpoint), nil
}

// RunOn is Run over an open session.
func RunOn(ctx context.Context, sess *wire.Session, cfg RunConfig) (*Result, error) {
	e, err := NewEndpointFor(sess, cfg)
	if err != nil {
		return nil, err
	}
	res, err := drive(ctx, e, cfg)
	// Let the capture deliver our last segments before the ladder and
	// the pcap are made.
	e.drain(100 * time.Millisecond)
	finishResult(res, e, sess)
	if cfg.Write != "" {
		if werr := sess.WritePcap(cfg.Write); werr != nil && err == nil {
			err = werr
		}
	}
	return res, err
}

func drive(ctx context.Context, e *Endpoint, cfg RunConfig) (*Result, error) {
	res := &Result{Target: cfg.Target.String(), ISN: uint32(e.ISN)}
	outcome, err := e.Open(ctx, OpenConfig{DropThirdACK: cfg.DropThirdACK, Data: cfg.Data})
	if err != nil {
		return res, err
	}
	res.Outcome = outcome
	if outcome != Open && outcome != SimulOpen {
		return res, nil
	}
	if cfg.DropThirdACK {
		res.SynAckRetrans, err = e.ObserveSynAckRetransmissions(ctx, cfg.Observe)
		return res, err
	}
	if len(cfg.Data) > 0 {
		res.SentBytes += len(cfg.Data)
		want := e.SndNxt
		// The third segment carried data: wait for it to be acknowledged,
		// resending it if the ACK does not come.
		seq := want - craft.Seq(len(cfg.Data))
		if err := e.sendReliablyAfterFirst(ctx, func() craft.Segment { return e.segment(craft.PSH|craft.ACK, seq, cfg.Data) }, want); err != nil {
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
	if errors.Is(err, errPeerReset) {
		err = nil
	}
	return res, err
}

// sendReliablyAfterFirst waits for want to be acknowledged, sending the
// segment again only after a timeout (the first copy is already out).
func (e *Endpoint) sendReliablyAfterFirst(ctx context.Context, mk func() craft.Segment, want craft.Seq) error {
	if err := e.waitAcked(ctx, want, e.rto()); err != nil {
		return err
	}
	if !want.After(e.SndUna) {
		return nil
	}
	return e.sendReliably(ctx, mk, want)
}

func finishResult(res *Result, e *Endpoint, sess *wire.Session) {
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
		s := report.SegmentOf(&e.ICMP.Pkt)
		res.ICMP = s.ICMP
	}
	// Handshake RTT and SYN retransmissions from the kernel's timestamps.
	var lastSYN time.Time
	for _, r := range e.Rows {
		if r.Dir == "out" && r.Segment.Flags == "SYN" {
			if !lastSYN.IsZero() {
				res.SYNRetries++
			}
			lastSYN = r.Time
		}
		if r.Dir == "in" && !lastSYN.IsZero() && res.HandshakeMs == 0 && (r.Segment.Flags == "SYN,ACK" || r.ICMP || r.Segment.Flags == "RST,ACK") {
			res.HandshakeMs = report.Ms(r.Time.Sub(lastSYN))
			res.PeerTTL = r.Segment.TTL
		}
	}
	if res.PeerTTL > 0 {
		res.InitialTTL, res.Hops = guessInitialTTL(res.PeerTTL)
	}
	if e.peerSynAck != nil {
		p := &e.peerSynAck.Pkt.TCP
		n := &Negotiated{PeerMSS: e.PeerMSS, PeerWScale: e.PeerWScale, OurWScale: -1, SACK: e.sackOK, Timestamps: e.tsOK, PeerOptions: report.Options(p.Options)}
		for _, o := range e.cfg.SYNOptions {
			switch {
			case o.Kind == craft.OptMSS && len(o.Data) == 2:
				n.OurMSS = uint16(o.Data[0])<<8 | uint16(o.Data[1])
			case o.Kind == craft.OptWindowScale && len(o.Data) == 1 && e.PeerWScale >= 0:
				n.OurWScale = int8(o.Data[0])
			}
		}
		n.SACK = n.SACK && hasOpt(e.cfg.SYNOptions, craft.OptSACKPermitted)
		if e.PeerWScale >= 0 && n.OurWScale < 0 {
			n.PeerWScale = -1
		}
		res.Negotiated = n
	}
	form, by := t.CloseForm()
	res.CloseForm = form
	if form != CloseNone {
		res.CloseBy = "ours"
		if by == Server {
			res.CloseBy = "peer"
		}
	}
	res.OurState, res.PeerState = e.State, t.Side[Server].State
	if res.Outcome == Refused || res.Outcome == Unreachable || res.Outcome == Filtered {
		res.PeerState = Closed
		if res.Outcome == Filtered {
			res.PeerState = State(255)
		}
	}
	res.Ladder = e.Rows
	for _, v := range t.Verdicts() {
		res.Rules = append(res.Rules, v.Report())
		if v.Result == Fail {
			res.Failed = true
		}
	}
	for _, tr := range t.Trans {
		side := "ours"
		if tr.Role == Server {
			side = "peer"
		}
		res.Transitions = append(res.Transitions, TransitionJSON{Num: tr.Num, Side: side, From: tr.From, To: tr.To})
	}
}

func hasOpt(opts []craft.Option, k craft.OptionKind) bool {
	for _, o := range opts {
		if o.Kind == k {
			return true
		}
	}
	return false
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
	case Open, SimulOpen:
		verdict := "all rules passed"
		if r.Failed {
			n := 0
			for _, v := range r.Rules {
				if v.Result == "fail" {
					n++
				}
			}
			verdict = fmt.Sprintf("%d rule(s) FAILED", n)
		}
		return fmt.Sprintf("%s: %s in %.3f ms, close %s, %s", r.Target, r.Outcome, r.HandshakeMs, r.CloseForm, verdict)
	case Unreachable:
		return fmt.Sprintf("%s: unreachable (%s)", r.Target, r.ICMP.Description)
	}
	return fmt.Sprintf("%s: %s", r.Target, r.Outcome)
}
