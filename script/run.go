package script

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/rulebook"
	"github.com/tcpprobe/tcpprobe/wire"
)

// Defaults of packetdrill's timing checks.
const (
	DefaultTolerance    = 4 * time.Millisecond // --tolerance_usecs=4000
	DefaultTolerancePct = 12.5                 // of the gap since the previous event
	// DefaultAnyWait bounds a "*" line (packetdrill waits without end; a
	// probe is bounded in time).
	DefaultAnyWait = 10 * time.Second
	// callWait bounds a call written without "...": it should return at
	// once; one still blocked after this fails its line.
	callWait = time.Second
)

// Config describes one run of a script against one target.
type Config struct {
	Script *Script
	Name   string // the script's file name, for the result
	Wire   wire.Config
	// Exec runs syscall lines (nil: a script with syscall lines is
	// refused unless NoSyscalls).
	Exec Calls
	// NoSyscalls skips syscall lines: the host's own application plays
	// its part.
	NoSyscalls bool
	// Shell runs a backquoted line on the target (nil: such lines are
	// skipped with a note, ShellNote when set).
	Shell     func(ctx context.Context, cmd string) error
	ShellNote string
	// Setup runs before the script (the target's sysctls, say).
	Setup func(ctx context.Context) error
	// Family names the run: "ipv4", "ipv6" or "ipv4-mapped-ipv6".
	Family       string
	Tolerance    time.Duration // 0: DefaultTolerance, or the script's --tolerance_usecs
	TolerancePct float64       // 0: DefaultTolerancePct
	AnyWait      time.Duration // 0: DefaultAnyWait
	ISN          *uint32       // our ISN (nil: random)
}

// Line statuses.
const (
	StatusPass    = "pass"
	StatusFail    = "fail"
	StatusSkipped = "skipped"
	StatusNotRun  = "not-run"
)

// LineResult is one line's outcome.
type LineResult struct {
	Line   int    `json:"line"`
	Text   string `json:"text"`
	Status string `json:"status"`
	// AtMs is when the event happened, in ms from the script's start.
	AtMs float64 `json:"at_ms"`
	// LateMs is how much later than the script's time it happened
	// (negative: earlier); for > lines and calls.
	LateMs float64 `json:"late_ms"`
	Seen   string  `json:"seen,omitempty"`
	Why    string  `json:"why,omitempty"`
}

// Result is a run's outcome.
type Result struct {
	Script   string             `json:"script"`
	Target   string             `json:"target"`
	Local    string             `json:"local"`
	Family   string             `json:"family"`
	Passed   bool               `json:"passed"`
	Lines    []LineResult       `json:"lines"`
	Notes    []string           `json:"notes,omitempty"`
	Verdicts []rulebook.Verdict `json:"verdicts"`
	// HostFailures are the rules the host's segments broke (they fail the
	// run); ScriptFailures those only our scripted segments broke.
	HostFailures   []string `json:"host_failures,omitempty"`
	ScriptFailures []string `json:"script_failures,omitempty"`
	// Frames is how many packets of the 4-tuple were captured.
	Packets int `json:"packets"`
}

// Failed is the first failing line, or nil.
func (r *Result) Failed() *LineResult {
	for i := range r.Lines {
		if r.Lines[i].Status == StatusFail {
			return &r.Lines[i]
		}
	}
	return nil
}

// Net is what a run needs from the wire: a wire.Session.
type Net interface {
	Send(*craft.Segment) error
	SendFragmented(*craft.Segment) ([]byte, error)
	SendDatagram([]byte) error
	Next(context.Context) (*wire.Event, error)
}

var _ Net = (*wire.Session)(nil)

type callDone struct {
	idx int
	res CallResult
}

type runner struct {
	cfg     Config
	net     Net
	res     *Result
	nums    Numbers
	tracker rulebook.Tracker
	weAre   rulebook.Role // our role: Client when our SYN comes first
	t0      time.Time
	base    time.Time // the previous event's actual time
	evs     chan *wire.Event
	calls   chan callDone
	pending int // index of a call in flight, -1 none
	pendEnd time.Time
	n       int
	lastAck craft.Seq // the peer's last ack: its RCV.NXT
	ackSeen bool
	sent    craft.Seq       // our SND.NXT
	from    []rulebook.Role // each captured segment's sender, by number-1
	lastIn  []byte          // the host's last segment, as an ICMP error quotes it
	held    []*wire.Event   // segments from the host that came while a call ran
	local   netip.Addr
	// cookieAsked is set once the target was asked for its TFO cookie.
	cookieAsked bool
}

// Check refuses what a run cannot do before anything is sent.
func Check(cfg *Config) error {
	for _, l := range cfg.Script.Lines {
		if l.Kind != KindSyscall || cfg.NoSyscalls {
			continue
		}
		if cfg.Exec == nil {
			return fmt.Errorf("line %d: %s(...) needs the target to run it: against the lab, the executor does; against another host, --no-syscalls skips syscall lines", l.Num, l.Call.Name)
		}
		if !slices.Contains(SupportedCalls, l.Call.Name) {
			return fmt.Errorf("line %d: syscall %s is not supported (%s)", l.Num, l.Call.Name, strings.Join(SupportedCalls, ", "))
		}
	}
	if v, ok := cfg.Script.Options["tolerance_usecs"]; ok {
		if _, err := strconv.ParseUint(v, 10, 32); err != nil {
			return fmt.Errorf("--tolerance_usecs=%s: want microseconds", v)
		}
	}
	return nil
}

// Run opens a session to cfg.Wire.Remote and runs the script on it.
func Run(ctx context.Context, cfg Config) (*Result, *wire.Session, error) {
	if err := Check(&cfg); err != nil {
		return nil, nil, err
	}
	if cfg.Setup != nil {
		if err := cfg.Setup(ctx); err != nil {
			return nil, nil, err
		}
	}
	cfg.Wire.Guard = true
	s, err := wire.Open(cfg.Wire)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Exec != nil {
		cfg.Exec.SetPeer(s.Local)
	}
	res, err := runOn(ctx, cfg, s)
	if res != nil {
		res.Local = s.Local.String()
	}
	return res, s, err
}

// runOn runs the script over n (Run checked it), stopping at the first
// failing line as packetdrill does; what the script left open on the
// target is aborted.
func runOn(ctx context.Context, cfg Config, n Net) (*Result, error) {
	if cfg.Tolerance == 0 {
		cfg.Tolerance = DefaultTolerance
		if v, ok := cfg.Script.Options["tolerance_usecs"]; ok {
			us, _ := strconv.ParseUint(v, 10, 32)
			cfg.Tolerance = time.Duration(us) * time.Microsecond
		}
	}
	if cfg.TolerancePct == 0 {
		cfg.TolerancePct = DefaultTolerancePct
	}
	if cfg.AnyWait == 0 {
		cfg.AnyWait = DefaultAnyWait
	}
	r := &runner{cfg: cfg, net: n, pending: -1,
		res:   &Result{Script: cfg.Name, Target: cfg.Wire.Remote.String(), Family: cfg.Family},
		evs:   make(chan *wire.Event, 256),
		calls: make(chan callDone, 1)}
	isn := rand.Uint32()
	if cfg.ISN != nil {
		isn = *cfg.ISN
	}
	r.nums.OurISN, r.sent = craft.Seq(isn), craft.Seq(isn)
	r.weAre = rulebook.Client
	for _, l := range cfg.Script.Lines {
		if l.Kind == KindPacket && l.Pkt.Flags&craft.SYN != 0 {
			if l.Pkt.Out {
				r.weAre = rulebook.Server
			}
			break
		}
	}
	r.tracker.Init(rulebook.TrackerConfig{Record: true, ServerListens: true})
	for name := range cfg.Script.Options {
		if name != "tolerance_usecs" {
			r.res.Notes = append(r.res.Notes, "option --"+name+" is not used by tcpprobe")
		}
	}
	for _, l := range cfg.Script.Lines {
		r.res.Lines = append(r.res.Lines, LineResult{Line: l.Num, Text: l.Text, Status: StatusNotRun})
	}
	pumpCtx, stop := context.WithCancel(ctx)
	pumpDone := make(chan struct{})
	go r.pump(pumpCtx, pumpDone)
	err := r.run(ctx)
	r.cleanup()
	stop()
	<-pumpDone
	r.res.Verdicts = r.tracker.Verdicts()
	r.blame()
	r.res.Packets = r.n
	r.res.Passed = err == nil && r.res.Failed() == nil && len(r.res.HostFailures) == 0
	return r.res, err
}

// blame splits the rulebook's failures: a rule broken only by segments
// the script made us send is the script's doing, not the host's.
func (r *runner) blame() {
	for i := range r.res.Verdicts {
		v := &r.res.Verdicts[i]
		if v.Result != rulebook.Fail {
			continue
		}
		ours := len(v.Evidence()) > 0
		for _, num := range v.Evidence() {
			if num < 1 || num > len(r.from) || r.from[num-1] != r.weAre {
				ours = false
			}
		}
		id := rulebook.Rules[v.Rule].ID
		if ours {
			r.res.ScriptFailures = append(r.res.ScriptFailures, id)
		} else {
			r.res.HostFailures = append(r.res.HostFailures, id)
		}
	}
}

// pump moves captured events to the run loop.
func (r *runner) pump(ctx context.Context, done chan struct{}) {
	defer close(done)
	for {
		ev, err := r.net.Next(ctx)
		if err != nil {
			close(r.evs)
			return
		}
		select {
		case r.evs <- ev:
		case <-ctx.Done():
			close(r.evs)
			return
		}
	}
}

// errStop ends a run at a failed line (the line says why).
var errStop = errors.New("stopped at a failed line")

func (r *runner) run(ctx context.Context) error {
	r.t0 = time.Now()
	r.base = r.t0
	for i, l := range r.cfg.Script.Lines {
		err := r.line(ctx, i, &l)
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	if r.pending >= 0 {
		if err := r.awaitCall(ctx, r.pendEnd.Add(callWait)); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// window is when a line's event may happen: [lo, hi] around at.
func (r *runner) window(t Time) (at, lo, hi time.Time) {
	tol := func(at time.Time) time.Duration {
		d := time.Duration(float64(at.Sub(r.base)) * r.cfg.TolerancePct / 100)
		return max(d, r.cfg.Tolerance)
	}
	switch t.Kind {
	case TimeAny:
		return r.base, r.base, r.base.Add(r.cfg.AnyWait)
	case TimeRange:
		from := r.t0
		if t.RelEnd {
			from = r.base
		}
		lo, hi = from.Add(secs(t.Start)), from.Add(secs(t.End))
		return lo, lo.Add(-r.cfg.Tolerance), hi.Add(tol(hi))
	case TimeAbs:
		at = r.t0.Add(secs(t.Start))
	default:
		at = r.base.Add(secs(t.Start))
	}
	d := tol(at)
	return at, at.Add(-d), at.Add(d)
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *runner) fail(i int, why string) error {
	r.res.Lines[i].Status, r.res.Lines[i].Why = StatusFail, why
	return errStop
}

func (r *runner) line(ctx context.Context, i int, l *Line) error {
	lr := &r.res.Lines[i]
	at, lo, hi := r.window(l.Time)
	switch l.Kind {
	case KindCode:
		lr.Status, lr.Why = StatusSkipped, "%{ }% blocks (TCP_INFO checks) are not evaluated"
		return nil
	case KindShell:
		if err := r.idle(ctx, i, at); err != nil {
			return err
		}
		if r.cfg.Shell == nil {
			lr.Status, lr.Why = StatusSkipped, "shell lines run only in the lab target"
			if r.cfg.ShellNote != "" {
				lr.Why = r.cfg.ShellNote
			}
			return nil
		}
		if err := r.cfg.Shell(ctx, l.Shell); err != nil {
			return r.fail(i, err.Error())
		}
		lr.Status, r.base = StatusPass, time.Now()
		return nil
	case KindSyscall:
		if r.cfg.NoSyscalls || r.cfg.Exec == nil {
			lr.Status, lr.Why = StatusSkipped, "--no-syscalls"
			return nil
		}
		if r.pending >= 0 {
			if err := r.awaitCall(ctx, r.pendEnd.Add(callWait)); err != nil {
				return err
			}
		}
		if err := r.idle(ctx, i, at); err != nil {
			return err
		}
		c := l.Call
		start := time.Now()
		lr.AtMs = ms(start.Sub(r.t0))
		r.pending, r.pendEnd = i, start
		if c.HasEnd {
			from := r.t0
			if l.Time.Kind == TimeRel {
				from = r.base
			}
			r.pendEnd = from.Add(secs(c.End))
		}
		go func() { r.calls <- callDone{i, r.cfg.Exec.Exec(c)} }()
		r.base = start
		if c.HasEnd {
			return nil
		}
		return r.awaitCall(ctx, start.Add(callWait))
	}
	if l.Kind == KindICMP {
		if err := r.idle(ctx, i, at); err != nil {
			return err
		}
		b, err := r.icmp(l.ICMP)
		if err != nil {
			return r.fail(i, err.Error())
		}
		now := time.Now()
		if err := r.net.SendDatagram(b); err != nil {
			return fmt.Errorf("line %d: send: %w", l.Num, err)
		}
		lr.Status, lr.AtMs, r.base = StatusPass, ms(now.Sub(r.t0)), now
		return nil
	}
	p := l.Pkt
	if !p.Out {
		if err := r.idle(ctx, i, at); err != nil {
			return err
		}
		if !r.cookieAsked && hasCookie(p) {
			if err := r.askCookie(ctx); err != nil {
				return err
			}
		}
		seg, err := r.nums.Build(p)
		if err != nil {
			return r.fail(i, err.Error())
		}
		now := time.Now() // before the send: an answer is never earlier
		if err := r.net.Send(&seg); err != nil {
			if !errors.Is(err, syscall.EMSGSIZE) {
				return fmt.Errorf("line %d: send: %w", l.Num, err)
			}
			// Larger than the link (packetdrill's tun device takes any
			// size): IP fragments, which the host reassembles. The rulebook
			// sees the segment whole, not the fragments captured.
			whole, err := r.net.SendFragmented(&seg)
			if err != nil {
				return r.fail(i, fmt.Sprintf("a %d-byte segment does not fit the link and could not be fragmented: %v", p.Len, err))
			}
			ev := &wire.Event{Time: now, Dir: wire.Out, Raw: whole}
			if ev.Pkt.Decode(whole) == nil {
				r.observe(ev)
			}
			lr.Why = "sent as IP fragments: larger than the link's MTU"
		}
		if end := seg.TCP.Seq.Add(craft.SeqLen(seg.TCP.Flags, len(seg.Payload))); end.After(r.sent) {
			r.sent = end
		}
		lr.Status, lr.AtMs, r.base = StatusPass, ms(now.Sub(r.t0)), now
		return nil
	}
	ev, err := r.wait(ctx, hi)
	if err != nil {
		return err
	}
	if ev == nil {
		lr.AtMs = ms(at.Sub(r.t0))
		return r.fail(i, fmt.Sprintf("no segment from the peer by %+.1f ms", ms(hi.Sub(at))))
	}
	lr.AtMs, lr.LateMs = ms(ev.Time.Sub(r.t0)), ms(ev.Time.Sub(at))
	if l.Time.Kind == TimeRange && !ev.Time.Before(at) && !ev.Time.After(hi) {
		lr.LateMs = 0
	}
	diff := r.nums.Check(p, &ev.Pkt)
	lr.Seen = Describe(">", &ev.Pkt, &r.nums) // with the ISN it may just have taught
	if len(diff) > 0 {
		return r.fail(i, joinDiff(diff))
	}
	if ev.Time.Before(lo) {
		return r.fail(i, fmt.Sprintf("%.1f ms early", ms(at.Sub(ev.Time))))
	}
	lr.Status, r.base = StatusPass, ev.Time
	return nil
}

func joinDiff(d []string) string {
	s := d[0]
	for _, x := range d[1:] {
		s += "; " + x
	}
	return s
}

func hasCookie(p *Packet) bool {
	for _, o := range p.Options {
		if o.Kind == craft.OptFastOpen && len(o.Data) > 0 {
			return true
		}
	}
	return false
}

// askCookie gets the target's TCP Fast Open cookie for this 4-tuple before
// the first < line that carries one: a script's cookie was computed by
// its server for packetdrill's addresses, so it is replaced by the one the
// target gives us (a SYN with an empty FO option, answered by a SYN-ACK
// with the cookie; then a RST), as packetdrill maps sequence numbers.
func (r *runner) askCookie(ctx context.Context) error {
	r.cookieAsked = true
	seq := craft.Seq(rand.Uint32())
	syn := craft.Segment{TTL: 64, TCP: craft.TCP{Seq: seq, Flags: craft.SYN, Window: DefaultWindow,
		Options: []craft.Option{craft.MSSOption(1460), craft.FastOpenOption(nil)}}}
	if err := r.net.Send(&syn); err != nil {
		return fmt.Errorf("TFO cookie request: %w", err)
	}
	var cookie []byte
	answered := false
	deadline := time.After(time.Second)
	quiet := time.NewTimer(time.Hour)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
		case <-quiet.C:
		case ev, ok := <-r.evs:
			if !ok {
				return errors.New("capture closed")
			}
			t := &ev.Pkt.TCP
			if ev.Dir == wire.In && ev.Pkt.HasTCP && t.Flags == craft.SYN|craft.ACK && t.Ack == seq+1 && !answered {
				answered = true
				if c, ok := t.FastOpenCookie(); ok && len(c) > 0 {
					cookie = append([]byte(nil), c...)
				}
				rst := craft.Segment{TTL: 64, TCP: craft.TCP{Seq: seq + 1, Flags: craft.RST}}
				r.net.Send(&rst)
			}
			if answered {
				quiet.Reset(20 * time.Millisecond) // until our RST and any echo of it are by
			}
			continue
		}
		break
	}
	if cookie == nil {
		r.res.Notes = append(r.res.Notes, "the target gave no TCP Fast Open cookie for this 4-tuple: the script's cookies are sent as written")
		return nil
	}
	r.nums.Cookie = func([]byte) []byte { return cookie }
	r.res.Notes = append(r.res.Notes, fmt.Sprintf("TCP Fast Open: the target's cookie for this 4-tuple is %x; it replaces the script's cookies", cookie))
	return nil
}

// icmp builds the error an ICMP line sends: from us to the host, quoting
// the host's last segment (its seq set when the line gives one), with
// ICMPv6's type and code on an IPv6 flow.
func (r *runner) icmp(m *ICMPLine) ([]byte, error) {
	if len(r.lastIn) == 0 {
		return nil, errors.New("nothing to quote: the host has sent no segment yet")
	}
	quote := append([]byte(nil), r.lastIn...)
	var p craft.Packet
	if err := p.Decode(quote); err != nil || !p.HasTCP {
		return nil, errors.New("the host's last packet is not a TCP segment")
	}
	v6 := p.Version == 6
	if m.HasSeq {
		off := int(quote[0]&0x0f) * 4
		if v6 {
			off = craft.IPv6HeaderSize
		}
		binary.BigEndian.PutUint32(quote[off+4:], uint32(r.nums.PeerISN.Add(m.Seq)))
	}
	var typ, code uint8
	var rest uint32
	switch {
	case m.Type == "time_exceeded":
		typ, code = 11, 0
		if v6 {
			typ = 3
		}
		if m.Code == "reassembly_time_exceeded" {
			code = 1
		}
	case v6 && m.Code == "frag_needed":
		typ, rest = 2, m.MTU // Packet Too Big
	case v6:
		c, ok := map[string]uint8{"net_unreachable": 0, "host_unreachable": 3, "port_unreachable": 4, "source_route_failed": 5}[m.Code]
		if !ok {
			return nil, fmt.Errorf("ICMPv6 has no %s", m.Code)
		}
		typ, code = 1, c
	default:
		typ = 3
		code = map[string]uint8{"net_unreachable": 0, "host_unreachable": 1, "protocol_unreachable": 2, "port_unreachable": 3, "frag_needed": 4, "source_route_failed": 5}[m.Code]
		rest = m.MTU
	}
	var b [craft.MaxPacket]byte
	n, err := craft.BuildICMPError(b[:], r.local, p.Src(), typ, code, rest, quote)
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}

// idle waits until t; a segment from the peer meanwhile is unexpected and
// fails line i, as in packetdrill.
func (r *runner) idle(ctx context.Context, i int, t time.Time) error {
	ev, err := r.wait(ctx, t)
	if err != nil {
		return err
	}
	if ev != nil {
		r.res.Lines[i].Seen = Describe(">", &ev.Pkt, &r.nums)
		return r.fail(i, "unexpected segment from the peer before this line")
	}
	return nil
}

// wait returns the next segment or ICMP error from the peer before
// deadline (nil at the deadline), feeding every captured packet to the
// rulebook and checking a call that returns meanwhile.
func (r *runner) wait(ctx context.Context, deadline time.Time) (*wire.Event, error) {
	if len(r.held) > 0 {
		ev := r.held[0]
		r.held = r.held[1:]
		return ev, nil
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, nil
		case d := <-r.calls:
			if err := r.callReturned(d); err != nil {
				return nil, err
			}
		case ev, ok := <-r.evs:
			if !ok {
				return nil, errors.New("capture closed")
			}
			r.observe(ev)
			if ev.Dir == wire.In {
				return ev, nil
			}
		}
	}
}

// observe feeds a captured packet to the rulebook.
func (r *runner) observe(ev *wire.Event) {
	if ev.Dir == wire.Out && ev.Pkt.Fragment {
		return // a fragment of ours: the rulebook saw the segment whole
	}
	r.n++
	if !ev.Pkt.HasTCP {
		return
	}
	from := r.weAre
	if ev.Dir == wire.In {
		from = 1 - r.weAre
		r.nums.SawPeer(&ev.Pkt)
		r.lastIn = append(r.lastIn[:0], ev.Raw...)
		r.local = ev.Pkt.Dst()
		if ev.Pkt.TCP.Flags&craft.ACK != 0 {
			r.lastAck, r.ackSeen = ev.Pkt.TCP.Ack, true
		}
	}
	seg := rulebook.SegOf(&ev.Pkt, r.n, ev.Time, from)
	r.tracker.Observe(&seg)
	r.from = append(r.from, from)
}

// awaitCall waits for the call in flight until deadline.
func (r *runner) awaitCall(ctx context.Context, deadline time.Time) error {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for r.pending >= 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return r.fail(r.pending, fmt.Sprintf("did not return within %.0f ms", ms(deadline.Sub(r.base))))
		case d := <-r.calls:
			if err := r.callReturned(d); err != nil {
				return err
			}
		case ev, ok := <-r.evs:
			if !ok {
				return errors.New("capture closed")
			}
			r.observe(ev)
			if ev.Dir == wire.In {
				// What the call made the host send (a FIN after close, data
				// after write) may arrive before the call's return does: it
				// is the next line's to match.
				r.held = append(r.held, ev)
			}
		}
	}
	return nil
}

// callReturned checks a call's result against its line.
func (r *runner) callReturned(d callDone) error {
	r.pending = -1
	l := &r.cfg.Script.Lines[d.idx]
	lr := &r.res.Lines[d.idx]
	c, res := l.Call, d.res
	lr.Seen = fmt.Sprintf("= %d", res.Ret)
	if res.Errno != "" {
		lr.Seen += " " + res.Errno
	}
	took := res.End.Sub(res.Start)
	lr.Seen += fmt.Sprintf(" after %.1f ms", ms(took))
	if res.Err != nil {
		return r.fail(d.idx, res.Err.Error())
	}
	if res.Ret != c.Ret || res.Errno != c.Errno {
		want := fmt.Sprintf("= %d", c.Ret)
		if c.Errno != "" {
			want += " " + c.Errno
		}
		return r.fail(d.idx, "returned "+lr.Seen+", want "+want)
	}
	if c.HasEnd {
		lr.LateMs = ms(res.End.Sub(r.pendEnd))
		tol := max(r.cfg.Tolerance, time.Duration(float64(r.pendEnd.Sub(res.Start))*r.cfg.TolerancePct/100))
		if lr.LateMs > ms(tol) || -lr.LateMs > ms(tol) {
			return r.fail(d.idx, fmt.Sprintf("returned %+.1f ms from the script's time", lr.LateMs))
		}
	}
	lr.Status = StatusPass
	return nil
}

// cleanup aborts what the script left open on the target (its sockets
// end with RSTs), and resets a connection the script left synchronized
// with a RST at the peer's RCV.NXT.
func (r *runner) cleanup() {
	if r.cfg.Exec != nil {
		r.cfg.Exec.Abort()
		if r.pending >= 0 {
			if lr := &r.res.Lines[r.pending]; lr.Status == StatusNotRun {
				lr.Why = "still blocked when the run stopped"
			}
			select {
			case <-r.calls:
			case <-time.After(callWait):
			}
		}
		r.cfg.Exec.Close()
	}
	if !r.nums.PeerISNKnown {
		return
	}
	seq := r.sent
	if r.ackSeen {
		seq = r.lastAck
	}
	rst := craft.Segment{TTL: 64, TCP: craft.TCP{Seq: seq, Flags: craft.RST}}
	r.net.Send(&rst)
}
