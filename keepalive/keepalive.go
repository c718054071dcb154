// Package keepalive checks TCP keepalive against a live host over a
// connection held by hand (endpoint.Conn): it sends keepalive probes
// (seq = SND.NXT-1, RFC 9293 3.8.4) and checks their ACKs, measures a
// peer's own keepalive timers while answering or staying silent like a
// crashed client, and finds a middlebox's idle timeout by bisection.
package keepalive

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/endpoint"
	"github.com/tcpprobe/tcpprobe/handshake"
	"github.com/tcpprobe/tcpprobe/internal/rtt"
	"github.com/tcpprobe/tcpprobe/ladder"
	"github.com/tcpprobe/tcpprobe/rulebook"
	"github.com/tcpprobe/tcpprobe/wire"
)

// Linux's defaults (net.ipv4.tcp_keepalive_time, _intvl, _probes).
const (
	LinuxIdle     = 7200 * time.Second
	LinuxInterval = 75 * time.Second
	LinuxProbes   = 9
)

// Probe is one keepalive probe we sent and its answer.
type Probe struct {
	N        int     `json:"n"`
	Seq      uint32  `json:"seq"`
	Bytes    int     `json:"bytes"`
	Answered bool    `json:"answered"`
	Ack      uint32  `json:"ack,omitempty"`
	AckOK    bool    `json:"ack_ok"`    // ack = SND.NXT
	WindowOK bool    `json:"window_ok"` // window unchanged
	RTTms    float64 `json:"rtt_ms,omitempty"`
}

// PeerProbe is a keepalive probe the peer sent.
type PeerProbe struct {
	N        int     `json:"n"`
	AtMs     float64 `json:"at_ms"` // since our last segment before the idle period
	GapMs    float64 `json:"gap_ms"`
	Answered bool    `json:"answered"`
	Bytes    int     `json:"bytes"`
}

// Result is a keepalive check's outcome.
type Result struct {
	Target  string           `json:"target"`
	Local   string           `json:"local"`
	Mode    string           `json:"mode"` // "probe", "observe", "observe-silent", "idle-search"
	Outcome endpoint.Outcome `json:"outcome"`
	Probes  []Probe          `json:"probes,omitempty"`
	Peer    []PeerProbe      `json:"peer_probes,omitempty"`
	// Measured peer timers (observe mode).
	IdleMs     float64 `json:"idle_ms,omitempty"`
	IntervalMs float64 `json:"interval_ms,omitempty"`
	Count      int     `json:"count,omitempty"` // unanswered probes before giving up
	RSTAfter   bool    `json:"rst_after,omitempty"`
	GaveUp     bool    `json:"gave_up,omitempty"`
	// SilentGiveUp: the peer closed without a RST of its own (found by a
	// probe of ours that it answered with one).
	SilentGiveUp bool `json:"silent_give_up,omitempty"`
	StillUp      bool `json:"still_up,omitempty"` // answering mode: connection alive at the end
	// NoPeerProbe says observe mode saw no keepalive probe at all.
	NoPeerProbe bool `json:"no_peer_probe,omitempty"`
	// Idle search.
	Trials      []Trial            `json:"trials,omitempty"`
	IdleTimeout string             `json:"idle_timeout,omitempty"` // "between A and B"
	Ladder      []ladder.Row       `json:"ladder"`
	Rules       []rulebook.Verdict `json:"rules"`
	Failed      bool               `json:"failed"`
	Note        string             `json:"note,omitempty"`
}

// Trial is one step of an idle search.
type Trial struct {
	IdleMs   float64 `json:"idle_ms"`
	Answered bool    `json:"answered"`
}

// Config describes a keepalive check.
type Config struct {
	Target     handshake.RunConfig // target, options, data; Close is used at the end
	Count      int                 // probes to send (probe mode)
	Interval   time.Duration       // between our probes
	ProbeBytes int                 // 0 or 1
	Timeout    time.Duration       // wait for each answer
	Silent     bool                // observe: do not answer the peer's probes
	MaxWait    time.Duration       // observe: give up after this long
	// Idle search: the bracket [SearchMin, SearchMax], stopping when it is
	// narrower than Tolerance or the idle time spent passes Budget.
	SearchMin, SearchMax time.Duration
	Tolerance, Budget    time.Duration
}

func open(ctx context.Context, rc handshake.RunConfig) (*wire.Session, *endpoint.Conn, endpoint.Outcome, error) {
	sess, err := handshake.OpenSession(rc, false)
	if err != nil {
		return nil, nil, "", err
	}
	e, err := handshake.NewConn(sess, rc)
	if err != nil {
		sess.Close()
		return nil, nil, "", err
	}
	fail := func(err error) (*wire.Session, *endpoint.Conn, endpoint.Outcome, error) {
		e.Abort() // nothing stays open on the target
		sess.Close()
		return nil, nil, "", err
	}
	out, err := e.Open(ctx, endpoint.OpenConfig{Data: rc.Data})
	if err != nil {
		return fail(err)
	}
	if out == endpoint.Open && len(rc.Data) > 0 {
		if err := e.Wait(ctx, rc.ReplyWait, false); err != nil {
			return fail(err)
		}
	}
	return sess, e, out, nil
}

func finish(res *Result, e *endpoint.Conn, sess *wire.Session, rc handshake.RunConfig) error {
	e.Drain(100 * time.Millisecond)
	res.Local = sess.Local.String()
	res.Ladder = e.Ladder.Rows
	res.Rules = e.Tracker.Verdicts()
	res.Failed = e.Tracker.Failed()
	if rc.Write != "" {
		return sess.WritePcap(rc.Write)
	}
	return nil
}

// ProbePeer opens a connection and sends cfg.Count keepalive probes, each
// expected to be answered by an ACK with ack = SND.NXT and an unchanged
// window, then closes.
func ProbePeer(ctx context.Context, cfg Config) (*Result, error) {
	return onConnection(ctx, cfg, "probe", func(res *Result, e *endpoint.Conn) error {
		return probe(ctx, cfg, res, e)
	})
}

// onConnection opens a connection by hand for a check in mode, runs body
// on it when it opened, and fills in the ladder, the rules and the pcap.
func onConnection(ctx context.Context, cfg Config, mode string, body func(*Result, *endpoint.Conn) error) (*Result, error) {
	res := &Result{Target: cfg.Target.Target.String(), Mode: mode}
	sess, e, out, err := open(ctx, cfg.Target)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	res.Outcome = out
	if out == endpoint.Open {
		err = body(res, e)
	}
	if ctx.Err() != nil {
		// Interrupted: reset what we opened by hand before the guard goes.
		e.Abort()
	}
	if err != nil {
		return res, err
	}
	return res, finish(res, e, sess, cfg.Target)
}

func probe(ctx context.Context, cfg Config, res *Result, e *endpoint.Conn) error {
	e.Tracker.SetKeepAliveIdle(cfg.Interval / 2)
	// The window to compare with: the peer's last window after the
	// handshake (a SYN-ACK's window is never scaled, later ones may be).
	lastWin := uint16(0)
	if len(cfg.Target.Data) > 0 {
		lastWin = e.PeerWindow()
	}
	for i := 1; i <= cfg.Count && ctx.Err() == nil; i++ {
		if err := e.Wait(ctx, cfg.Interval, false); err != nil {
			return err
		}
		if e.State != rulebook.Established {
			res.Note = "connection left ESTABLISHED: " + e.State.String()
			break
		}
		p, err := e.SendKeepAlive(ctx, cfg.ProbeBytes > 0, cfg.Timeout)
		if err != nil {
			return err
		}
		pr := Probe{N: i, Seq: p.Seq, Bytes: cfg.ProbeBytes, Answered: p.Answered, Ack: p.Ack,
			AckOK: p.Answered && p.Ack == uint32(e.SndNxt), WindowOK: p.Answered && (lastWin == 0 || p.Window == lastWin), RTTms: p.RTTms}
		if p.Answered {
			lastWin = p.Window
		}
		res.Probes = append(res.Probes, pr)
		if !p.Answered && cfg.Interval < 600*time.Millisecond {
			res.Note = "probes less than 500 ms apart may go unanswered: Linux rate-limits ACKs to old segments (net.ipv4.tcp_invalid_ratelimit)"
		}
	}
	if _, err := e.Close(ctx, cfg.Target.Close); err != nil && !errors.Is(err, context.Canceled) {
		res.Note = err.Error()
	}
	return nil
}

// Observe opens a connection, goes idle and records the peer's own
// keepalive probes: answered (the peer's idle timer restarts after each
// answer) or, with cfg.Silent, unanswered like a crashed client (the
// peer's interval and probe count, and its RST when it gives up).
func Observe(ctx context.Context, cfg Config) (*Result, error) {
	mode := "observe"
	if cfg.Silent {
		mode = "observe-silent"
	}
	return onConnection(ctx, cfg, mode, func(res *Result, e *endpoint.Conn) error {
		return observe(ctx, cfg, res, e)
	})
}

func observe(ctx context.Context, cfg Config, res *Result, e *endpoint.Conn) error {
	e.Drain(100 * time.Millisecond)
	start := e.LastSent()
	last := start
	wantAnswered := cfg.Count
	if wantAnswered <= 0 {
		wantAnswered = 3
	}
	// The receiver answers the peer's probes (RFC 9293 3.10.7.4) unless
	// we stay silent like a crashed client; the Tracker marks them.
	err := e.Receive(ctx, time.Now().Add(cfg.MaxWait), cfg.Silent, func(ev endpoint.Event) bool {
		if ev.Dir != wire.In || !ev.Pkt.HasTCP {
			return false
		}
		if ev.Seg.Flags&craft.RST != 0 {
			res.RSTAfter, res.GaveUp = true, true
			return true
		}
		if !ev.Seg.KeepAlive {
			return false
		}
		res.Peer = append(res.Peer, PeerProbe{N: len(res.Peer) + 1, AtMs: rtt.Ms(ev.Time.Sub(start)), GapMs: rtt.Ms(ev.Time.Sub(last)), Answered: !cfg.Silent, Bytes: ev.Seg.Len})
		last = ev.Time
		if !cfg.Silent && len(res.Peer) >= wantAnswered {
			res.StillUp = true
			return true
		}
		return false
	})
	if err != nil {
		return err
	}
	if len(res.Peer) > 0 {
		// Silent: the gaps are the peer's interval between unanswered
		// probes. Answering: the gaps are its idle time again (the longer
		// of idle and interval on Linux).
		res.IdleMs = res.Peer[0].AtMs
		if len(res.Peer) > 1 {
			sum := 0.0
			for _, p := range res.Peer[1:] {
				sum += p.GapMs
			}
			res.IntervalMs = math.Round(sum/float64(len(res.Peer)-1)*1000) / 1000
		}
		if cfg.Silent {
			res.Count = len(res.Peer)
		}
	}
	switch {
	case len(res.Peer) == 0 && !res.GaveUp:
		res.NoPeerProbe = true
		res.Note = fmt.Sprintf("no keepalive probe from the peer within %v (--max-wait): its keepalive is off or its idle time longer", cfg.MaxWait)
		e.Close(ctx, cfg.Target.Close)
	case cfg.Silent && !res.GaveUp: // it probed (the case above) and sent no RST
		// No RST by now: has the peer closed silently (as RFC 9293 3.10.8
		// closes on a timeout, and gVisor's netstack does)? A probe of our
		// own tells: a closed connection answers it with a RST.
		if _, err := e.SendKeepAlive(ctx, false, cfg.Timeout); err != nil {
			return err
		}
		if e.State == rulebook.Closed {
			res.GaveUp, res.SilentGiveUp = true, true
			e.Tracker.KeepAliveClosedSilently(rulebook.Server, 0)
			res.Note = "the peer gave up without a RST: it answered our probe after its last one with a RST"
			break
		}
		res.Note = fmt.Sprintf("the peer had not given up after %v (--max-wait)", cfg.MaxWait)
		e.Tracker.KeepAliveGaveUp(rulebook.Server, 0)
	case !cfg.Silent && res.StillUp:
		e.Close(ctx, cfg.Target.Close)
	}
	return nil
}

// IdleSearch finds, by bisection between cfg.SearchMin and SearchMax, the
// longest idle period after which a keepalive probe is still answered: the
// idle timeout of a NAT, firewall or load balancer on the path. Each trial
// opens a new connection, stays idle, then probes. It stops when the
// bracket is narrower than cfg.Tolerance or cfg.Budget (total idle time)
// is spent.
func IdleSearch(ctx context.Context, cfg Config) (*Result, error) {
	lowest, highest, tol, budget := cfg.SearchMin, cfg.SearchMax, cfg.Tolerance, cfg.Budget
	res := &Result{Target: cfg.Target.Target.String(), Mode: "idle-search", Outcome: endpoint.Open}
	lo, hi := lowest, highest // lo: known answered (or untested), hi: known unanswered (or untested)
	loOK, hiBad := false, false
	spent := time.Duration(0)
	try := func(idle time.Duration) (bool, error) {
		spent += idle
		sess, e, out, err := open(ctx, cfg.Target)
		if err != nil {
			return false, err
		}
		defer sess.Close()
		if out != endpoint.Open {
			res.Outcome = out
			return false, fmt.Errorf("target not open: %s", out)
		}
		defer func() {
			if ctx.Err() != nil {
				e.Abort() // interrupted: leave nothing open on the target
			}
		}()
		if err := e.Wait(ctx, idle, false); err != nil {
			return false, err
		}
		p, err := e.SendKeepAlive(ctx, cfg.ProbeBytes > 0, cfg.Timeout)
		if err != nil {
			return false, err
		}
		res.Trials = append(res.Trials, Trial{IdleMs: rtt.Ms(idle), Answered: p.Answered})
		if p.Answered {
			e.Close(ctx, endpoint.CloseConfig{Mode: endpoint.CloseRST})
		}
		return p.Answered, nil
	}
	// The ends first: max answered means no timeout below max.
	ok, err := try(highest)
	if err != nil {
		return res, err
	}
	if ok {
		res.IdleTimeout = fmt.Sprintf("above %v (a probe after %v idle was answered)", highest, highest)
		return res, nil
	}
	hiBad = true
	for hi-lo > tol && spent < budget && ctx.Err() == nil {
		mid := lo + (hi-lo)/2
		ok, err := try(mid)
		if err != nil {
			return res, err
		}
		if ok {
			lo, loOK = mid, true
		} else {
			hi = mid
		}
	}
	switch {
	case loOK && hiBad:
		res.IdleTimeout = fmt.Sprintf("between %v and %v", lo, hi)
	case hiBad:
		res.IdleTimeout = fmt.Sprintf("below %v", hi)
	}
	return res, nil
}
