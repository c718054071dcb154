package scan

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/guard"
	"github.com/tcpprobe/tcpprobe/inject"
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
	Ignored    int           `json:"ignored"`    // replies without a valid cookie
	Duplicates int           `json:"duplicates"` // valid replies seen again
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
	pending      int
	lastReply    time.Time
	srtt, rttvar time.Duration
	haveRTT      bool
	lastSent     time.Time
}

// quietFor is how long the end of a round waits without a reply before it
// gives up on the unanswered probes: the retransmission timeout of RFC
// 6298 (SRTT + 4 RTTVAR) over the replies seen, at least MinWait, at most
// Wait.
func (s *Scanner) quietFor() time.Duration {
	if !s.haveRTT {
		return s.cfg.Wait
	}
	return min(max(s.srtt+4*s.rttvar, s.cfg.MinWait), s.cfg.Wait)
}

// sample folds one reply's RTT into the smoothed RTT (RFC 6298 2.2, 2.3).
func (s *Scanner) sample(rtt time.Duration) {
	if !s.haveRTT {
		s.srtt, s.rttvar, s.haveRTT = rtt, rtt/2, true
		return
	}
	d := s.srtt - rtt
	if d < 0 {
		d = -d
	}
	s.rttvar = (3*s.rttvar + d) / 4
	s.srtt = (7*s.srtt + rtt) / 8
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

// cookie is the probe's ISN: SipHash-2-4 of the 4-tuple under the run's
// secret.
func (s *Scanner) cookie(dst netip.Addr, dport uint16) craft.Seq {
	var b [36]byte
	src16, dst16 := s.src.As16(), dst.As16()
	copy(b[:], src16[:])
	copy(b[16:], dst16[:])
	binary.BigEndian.PutUint16(b[32:], s.sport)
	binary.BigEndian.PutUint16(b[34:], dport)
	return craft.Seq(siphash24(s.k0, s.k1, b[:]))
}

// expectedAck is what a valid RST or SYN-ACK acknowledges for a probe
// without ACK: the cookie plus what the probe consumed.
func (s *Scanner) consumed() uint32 {
	return wire.Consumed(s.flags, 0)
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
	rt, err := inject.RouteTo(cfg.Targets[0])
	if err != nil {
		return nil, nil, err
	}
	if err := wire.CheckLabOnly(rt); err != nil {
		return nil, nil, err
	}
	s := &Scanner{cfg: cfg, k0: rand.Uint64(), k1: rand.Uint64(), src: rt.Src, flags: flags}
	s.index()
	res, err := inject.ReservePort(rt.Src, cfg.SrcPort)
	if err != nil {
		return nil, nil, err
	}
	defer res.Close()
	s.sport = res.Port
	g, err := guard.New()
	if err != nil {
		return nil, nil, err
	}
	defer g.Close()
	if err := g.DropRSTFrom(netip.AddrPortFrom(s.src, s.sport)); err != nil {
		return nil, nil, err
	}
	filter := fmt.Sprintf("(tcp dst port %d and dst host %s) or (icmp and dst host %[2]s and icmp[0] == 3) or (icmp6 and dst host %[2]s and ip6[40] == 1)", s.sport, s.src)
	live, err := capture.OpenLiveWith(rt.Iface, filter, capture.LiveOptions{BufferSize: 32 << 20})
	if err != nil {
		return nil, nil, err
	}
	defer live.Close()
	s.link = live.LinkType()
	sender, err := inject.NewSender(v6)
	if err != nil {
		return nil, nil, err
	}
	defer sender.Close()
	s.rsts = sender

	rctx, stopRecv := context.WithCancel(context.Background())
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		s.receive(rctx, live)
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
			port := Port{Addr: t.String(), Port: p, State: state, Reason: reason}
			if ps.answered {
				port.TTL = ps.ttl
				port.RTTms = float64(ps.rtt.Microseconds()) / 1000
				s.st.Answered++
			}
			out = append(out, port)
		}
	}
	if cfg.Write != "" {
		if err := wire.WriteFrames(cfg.Write, s.link, s.frames); err != nil {
			return out, &s.st, err
		}
	}
	if ctx.Err() != nil {
		return out, &s.st, ctx.Err()
	}
	return out, &s.st, nil
}

// batchSize is how many probes go to the kernel in one sendmmsg call.
const batchSize = 64

func (s *Scanner) sendAll(ctx context.Context, sender *inject.Sender, todo []int32, sent *int, total int, start time.Time) error {
	batch := inject.NewBatch(batchSize)
	bufs := make([][craft.IPv6HeaderSize + craft.TCPMaxHeader]byte, batchSize)
	interval := time.Second / time.Duration(s.cfg.Rate)
	next := time.Now()
	lastProgress := time.Now()
	for i := 0; i < len(todo); {
		if ctx.Err() != nil {
			return nil
		}
		// Rate: as many probes as the elapsed time allows, at most a batch.
		now := time.Now()
		if now.Before(next) {
			time.Sleep(next.Sub(now))
			now = time.Now()
		}
		n := min(batchSize, len(todo)-i, max(1, int(now.Sub(next)/interval)+1))
		s.mu.Lock()
		for j := 0; j < n; j++ {
			k := s.key(todo[i+j])
			seg := s.probe(k)
			l, err := seg.Encode(bufs[j][:])
			if err != nil {
				s.mu.Unlock()
				return err
			}
			batch.Add(bufs[j][:l], k.dst)
			if st := &s.states[todo[i+j]]; st.sentAt == 0 {
				st.sentAt = now.UnixNano()
				st.sends = 1
			} else if st.sends < 255 {
				st.sends++
			}
		}
		s.mu.Unlock()
		if err := sender.SendBatch(batch); err != nil {
			return err
		}
		s.mu.Lock()
		s.lastSent = time.Now()
		s.mu.Unlock()
		i += n
		*sent += n
		next = next.Add(time.Duration(n) * interval)
		if s.cfg.Progress != nil && time.Since(lastProgress) > 200*time.Millisecond {
			lastProgress = time.Now()
			s.mu.Lock()
			answered := s.st.Answered
			s.mu.Unlock()
			s.cfg.Progress(*sent, total, answered, time.Since(start))
		}
	}
	return nil
}

// probe builds the probe for k.
func (s *Scanner) probe(k probeKey) craft.Segment {
	c := s.cookie(k.dst, k.port)
	seg := craft.Segment{Src: s.src, Dst: k.dst, TTL: s.cfg.TTL,
		TCP: craft.TCP{SrcPort: s.sport, DstPort: k.port, Seq: c, Flags: s.flags, Window: 1024}}
	if s.flags&craft.ACK != 0 {
		seg.TCP.Ack = c
	}
	if s.flags&craft.SYN != 0 {
		seg.TCP.Options = []craft.Option{craft.MSSOption(1460)}
	}
	return seg
}

// receive matches captured replies to probes by their cookie.
func (s *Scanner) receive(ctx context.Context, live *capture.Live) {
	var p craft.Packet
	var rst [craft.IPv6HeaderSize + craft.TCPMinHeader]byte
	for {
		f, err := live.Next(ctx)
		if err != nil {
			return
		}
		if s.cfg.Write != "" {
			s.mu.Lock()
			s.frames = append(s.frames, f)
			s.mu.Unlock()
		}
		off, err := craft.IPOffset(f.LinkType, f.Data)
		if err != nil || p.Decode(f.Data[off:]) != nil {
			continue
		}
		var k probeKey
		var a Answer
		switch {
		case p.HasTCP && p.TCP.DstPort == s.sport:
			k = probeKey{p.Src(), p.TCP.SrcPort}
			a = Answer{Flags: p.TCP.Flags, Window: p.TCP.Window}
		case p.HasICMP && p.ICMP.Quote.Valid && p.ICMP.Quote.SrcPort == s.sport && p.ICMP.Quote.Src == s.src:
			k = probeKey{p.ICMP.Quote.Dst, p.ICMP.Quote.DstPort}
			a = Answer{ICMP: true, ICMPType: p.ICMP.Type, ICMPCode: p.ICMP.Code, V6: p.ICMP.V6}
		default:
			continue
		}
		s.mu.Lock()
		var st *probeState
		if i, ok := s.find(k); ok {
			st = &s.states[i]
		}
		valid := st != nil && s.valid(&p, k)
		switch {
		case !valid:
			s.st.Ignored++
		case st.answered:
			s.st.Duplicates++
		default:
			st.answered, st.answer, st.ttl = true, a, p.TTL()
			if st.sentAt > 0 {
				st.rtt = time.Duration(f.Time.UnixNano() - st.sentAt)
				if st.sends == 1 {
					s.sample(st.rtt) // Karn: not from a probe sent again
				}
			}
			s.pending--
			s.lastReply = time.Now()
		}
		s.mu.Unlock()
		// Leave no half-open connection: reset an answering SYN-ACK
		// ourselves, with the sequence number it expects.
		if valid && a.Flags.Has(craft.SYN|craft.ACK) && s.rsts != nil {
			seg := craft.Segment{Src: s.src, Dst: k.dst, TTL: s.cfg.TTL,
				TCP: craft.TCP{SrcPort: s.sport, DstPort: k.port, Seq: p.TCP.Ack, Flags: craft.RST}}
			if n, err := seg.Encode(rst[:]); err == nil {
				s.rsts.Send(rst[:n], k.dst)
			}
		}
	}
}

// valid checks a reply against the probe's cookie (RFC 9293 3.10.7.1 for
// the RST's numbers).
func (s *Scanner) valid(p *craft.Packet, k probeKey) bool {
	c := s.cookie(k.dst, k.port)
	if p.HasICMP {
		return p.ICMP.Quote.Seq == c
	}
	t := &p.TCP
	switch {
	case t.Flags&craft.SYN != 0 && t.Flags&craft.ACK != 0:
		return t.Ack == c.Add(s.consumed())
	case t.Flags&craft.SYN != 0:
		return s.flags&craft.SYN != 0 // a bare SYN carries no ack to check
	case t.Flags&craft.RST != 0:
		if s.flags&craft.ACK != 0 {
			return t.Seq == c // <SEQ=SEG.ACK><CTL=RST>
		}
		return t.Flags&craft.ACK != 0 && t.Ack == c.Add(s.consumed())
	}
	return false
}
