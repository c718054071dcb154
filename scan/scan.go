package scan

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/inject"
	"github.com/tcpprobe/tcpprobe/internal/rtt"
	"github.com/tcpprobe/tcpprobe/wire"
)

// Config describes a scan.
type Config struct {
	Targets  []netip.Addr
	Ports    []uint16
	Kind     Kind
	Flags    craft.Flags   // for KindCustom
	Rate     int           // probes per second
	Retries  int           // extra rounds for unanswered probes
	Wait     time.Duration // the longest wait for late replies after a round
	MinWait  time.Duration // the shortest (default 50 ms, nmap's -T5 --min-rtt-timeout)
	TTL      uint8
	SrcPort  uint16 // 0: an ephemeral port
	Write    string // pcap file of every reply captured
	Progress func(sent, total, answered int, elapsed time.Duration)
}

// Port is one port's verdict.
type Port struct {
	Addr   string  `json:"addr"`
	Port   uint16  `json:"port"`
	State  State   `json:"state"`
	Reason string  `json:"reason"`
	TTL    uint8   `json:"ttl,omitempty"`
	RTTms  float64 `json:"rtt_ms,omitempty"`
}

// Stats summarises a scan.
type Stats struct {
	Probes     int           `json:"probes"`
	Ports      int           `json:"ports"`
	Answered   int           `json:"answered"`
	NotScanned int           `json:"not_scanned,omitempty"` // ports never probed (interrupted)
	Ignored    int           `json:"ignored"`               // replies without a valid cookie
	Duplicates int           `json:"duplicates"`            // valid replies seen again
	Elapsed    time.Duration `json:"-"`
	ElapsedS   float64       `json:"elapsed_s"`
	Rate       float64       `json:"probes_per_s"`
}

type probeKey struct {
	dst  netip.Addr
	port uint16
}

type probeState struct {
	answered bool
	answer   Answer
	sentAt   int64
	sends    uint8 // probes sent, up to 255
	rtt      time.Duration
	ttl      uint8
}

// Scanner runs one scan.
type Scanner struct {
	cfg    Config
	k0, k1 uint64
	src    netip.Addr
	sport  uint16
	flags  craft.Flags
	mu     sync.Mutex
	// One state per probe, target-major; tIndex and pIndex find a
	// probe's index from a reply without hashing the whole key.
	states []probeState
	tIndex map[netip.Addr]int32
	pIndex []int32 // by port; -1: not scanned
	st     Stats
	frames []capture.Frame
	link   int
	rsts   *inject.Sender
	// For the end of a round: probes of the round still unanswered, when
	// the last valid reply came, and the smoothed RTT and its variation
	// (RFC 6298), all under mu.
	pending   int
	answered  int // probes answered so far (for Progress)
	lastReply time.Time
	rtt       rtt.Estimator
	lastSent  time.Time
}

// quietFor is how long the end of a round waits without a reply before it
// gives up on the unanswered probes: the retransmission timeout of RFC
// 6298 (SRTT + 4 RTTVAR) over the replies seen, at least MinWait, at most
// Wait.
func (s *Scanner) quietFor() time.Duration {
	rto, ok := s.rtt.RTO()
	if !ok {
		return s.cfg.Wait
	}
	return min(max(rto, s.cfg.MinWait), s.cfg.Wait)
}

// waitLate waits after a round until every probe is answered, or replies
// have stopped for quietFor, or the configured wait has passed.
func (s *Scanner) waitLate(ctx context.Context) {
	deadline := time.Now().Add(s.cfg.Wait)
	for {
		s.mu.Lock()
		pending := s.pending
		last := s.lastSent
		if s.lastReply.After(last) {
			last = s.lastReply
		}
		until := last.Add(s.quietFor())
		s.mu.Unlock()
		now := time.Now()
		if pending == 0 || !now.Before(until) || !now.Before(deadline) {
			return
		}
		t := time.NewTimer(min(until.Sub(now), deadline.Sub(now), 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// index sets up the probe states and the lookup tables.
func (s *Scanner) index() {
	s.states = make([]probeState, len(s.cfg.Targets)*len(s.cfg.Ports))
	s.pIndex = make([]int32, 1<<16)
	for i := range s.pIndex {
		s.pIndex[i] = -1
	}
	for i, p := range s.cfg.Ports {
		s.pIndex[p] = int32(i)
	}
	s.tIndex = make(map[netip.Addr]int32, len(s.cfg.Targets))
	for i, t := range s.cfg.Targets {
		s.tIndex[t] = int32(i)
	}
}

// key is probe i's target and port.
func (s *Scanner) key(i int32) probeKey {
	n := int32(len(s.cfg.Ports))
	return probeKey{s.cfg.Targets[i/n], s.cfg.Ports[i%n]}
}

// find is the index of the probe to k's target and port.
func (s *Scanner) find(k probeKey) (int, bool) {
	pi := s.pIndex[k.port]
	if pi < 0 {
		return 0, false
	}
	ti, ok := s.tIndex[k.dst]
	if !ok {
		return 0, false
	}
	return int(ti)*len(s.cfg.Ports) + int(pi), true
}

// Run scans every target port and returns the verdicts, in target and
// port order.
func Run(ctx context.Context, cfg Config) ([]Port, *Stats, error) {
	if len(cfg.Targets) == 0 || len(cfg.Ports) == 0 {
		return nil, nil, errors.New("nothing to scan")
	}
	flags := cfg.Flags
	if cfg.Kind != KindCustom {
		var err error
		if flags, err = FlagsOf(cfg.Kind); err != nil {
			return nil, nil, err
		}
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 1000
	}
	if cfg.Wait <= 0 {
		cfg.Wait = time.Second
	}
	if cfg.MinWait <= 0 {
		cfg.MinWait = 50 * time.Millisecond
	}
	if cfg.TTL == 0 {
		cfg.TTL = 64
	}
	v6 := cfg.Targets[0].Is6()
	for _, t := range cfg.Targets {
		if t.Is6() != v6 {
			return nil, nil, errors.New("targets mix IPv4 and IPv6: scan them separately")
		}
	}
	s := &Scanner{cfg: cfg, k0: rand.Uint64(), k1: rand.Uint64(), flags: flags}
	s.index()
	m, err := wire.OpenMany(wire.ManyConfig{Dst: cfg.Targets[0], SrcPort: cfg.SrcPort, BufferSize: 32 << 20, Loopback: anyLocal(cfg.Targets),
		Filter: func(src netip.Addr, ports []uint16) string { return capture.ScanFilter(src, ports[0], cfg.Write != "") }})
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	s.src, s.sport = m.Locals[0].Addr(), m.Locals[0].Port()
	live, sender := m.Live, m.Sender
	s.link = live.LinkType()
	s.rsts = sender

	rctx, stopRecv := context.WithCancel(context.Background())
	recvDone := make(chan struct{})
	var recvWG sync.WaitGroup
	for _, l := range []*capture.Live{live, m.Loop} {
		if l != nil {
			recvWG.Add(1)
			go func() {
				defer recvWG.Done()
				s.receive(rctx, l)
			}()
		}
	}
	go func() {
		recvWG.Wait()
		close(recvDone)
	}()

	start := time.Now()
	total := len(s.states)
	sentTotal := 0
	for round := 0; round <= cfg.Retries && ctx.Err() == nil; round++ {
		var todo []int32
		s.mu.Lock()
		for i := range s.states {
			if !s.states[i].answered {
				todo = append(todo, int32(i))
			}
		}
		s.mu.Unlock()
		if len(todo) == 0 {
			break
		}
		rand.Shuffle(len(todo), func(i, j int) { todo[i], todo[j] = todo[j], todo[i] })
		s.mu.Lock()
		s.pending = len(todo)
		s.mu.Unlock()
		if err := s.sendAll(ctx, sender, todo, &sentTotal, total, start); err != nil {
			stopRecv()
			<-recvDone
			return nil, nil, err
		}
		s.waitLate(ctx)
	}
	stopRecv()
	<-recvDone
	s.st.Probes = sentTotal
	s.st.Ports = total
	s.st.Elapsed = time.Since(start)
	s.st.ElapsedS = s.st.Elapsed.Seconds()
	s.st.Rate = float64(sentTotal) / s.st.Elapsed.Seconds()
	out := make([]Port, 0, total)
	for ti, t := range cfg.Targets {
		for pi, p := range cfg.Ports {
			ps := &s.states[ti*len(cfg.Ports)+pi]
			a := ps.answer
			if !ps.answered {
				a = Answer{None: true}
			}
			state, reason := Classify(cfg.Kind, flags, a)
			if ps.sends == 0 {
				// Interrupted before this probe left: no verdict.
				state, reason = NotScanned, "not-sent"
				s.st.NotScanned++
			}
			port := Port{Addr: t.String(), Port: p, State: state, Reason: reason}
			if ps.answered {
				port.TTL = ps.ttl
				port.RTTms = rtt.Ms(ps.rtt)
				s.st.Answered++
			}
			out = append(out, port)
		}
	}
	if cfg.Write != "" {
		if err := capture.WriteFile(cfg.Write, s.link, s.frames); err != nil {
			return out, &s.st, err
		}
	}
	if ctx.Err() != nil {
		return out, &s.st, ctx.Err()
	}
	return out, &s.st, nil
}

// anyLocal reports whether a target is an address of this machine: its
// replies travel over lo, which must be captured too.
func anyLocal(targets []netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	local := map[netip.Addr]bool{}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			local[p.Addr().Unmap()] = true
		}
	}
	for _, t := range targets {
		if local[t.Unmap()] || t.IsLoopback() {
			return true
		}
	}
	return false
}
