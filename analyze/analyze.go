package analyze

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/handshake"
)

// Config tunes an analysis.
type Config struct {
	Workers     int           // flow-table shards, one goroutine each (default 2)
	MaxFlows    int           // live connections kept per worker before the least recently used is flushed (default 16384)
	IdleTimeout time.Duration // a connection idle this long (capture time) is flushed (default 5m, Zeek's tcp_inactivity_timeout)
	CloseDelay  time.Duration // a closed (FIN both ways, or RST) connection is flushed this long after (default 5s, Zeek's tcp_close_delay)
	// Stream, when > 0, records every segment of the connection with that
	// number (1-based, in order of first packet) for a ladder. Use one
	// worker for stable numbering.
	Stream int
	// OnPacket, when set, is called for every TCP packet with its analysis
	// flags (from the worker goroutines: it must be safe for concurrent use).
	OnPacket func(num int64, f Flag)
	// IgnoreChecksums analyzes segments with bad checksums like any other
	// (Zeek's -C; for captures taken with checksum offload).
	IgnoreChecksums bool
	// Progress, when set, is called about every 64 Ki frames from the
	// reading goroutine with the frames read so far.
	Progress func(frames int64)
	// Filter, when set, drops frames it does not match.
	Filter func(data []byte, linkType int) bool
}

// Stats counts what the analysis read.
type Stats struct {
	Frames      int64  `json:"frames"`
	TCP         int64  `json:"tcp"`
	Other       int64  `json:"other"`   // IP but not TCP
	NonIP       int64  `json:"non_ip"`  // not IP, or a link type we do not read
	Skipped     int64  `json:"skipped"` // malformed or cut by the snap length before the TCP header
	Filtered    int64  `json:"filtered"`
	Fragments   int64  `json:"fragments"`
	BadChecksum int64  `json:"bad_checksum"`
	Conns       int64  `json:"connections"`
	Evicted     int64  `json:"evicted"` // flushed early because the flow table was full
	Expired     int64  `json:"expired"` // flushed because idle longer than the timeout
	Counts      Counts `json:"anomalies"`
	RuleFails   [handshake.NumRules]int64
	First, Last int64 // capture time, ns
}

// flowKey identifies a connection independent of direction: the endpoint
// that sorts first is a.
type flowKey struct {
	a, b netip.AddrPort
}

func keyOf(src, dst netip.AddrPort) flowKey {
	if src.Addr().Less(dst.Addr()) || src.Addr() == dst.Addr() && src.Port() < dst.Port() {
		return flowKey{src, dst}
	}
	return flowKey{dst, src}
}

// shardOf hashes the 4-tuple of an IP datagram symmetrically, without a
// full decode. ok is false for anything but TCP over IPv4/IPv6 with its
// ports in the capture.
func shardOf(ip []byte) (h uint32, ok bool) {
	if len(ip) < 20 {
		return 0, false
	}
	var a, b uint64
	var off int
	switch ip[0] >> 4 {
	case 4:
		if ip[9] != craft.ProtoTCP {
			return 0, false
		}
		a, b = uint64(binary.BigEndian.Uint32(ip[12:])), uint64(binary.BigEndian.Uint32(ip[16:]))
		off = int(ip[0]&0xf) * 4
	case 6:
		if len(ip) < 40 || ip[6] != craft.ProtoTCP {
			return 0, false // extension headers take the slow path
		}
		a = binary.BigEndian.Uint64(ip[8:]) ^ binary.BigEndian.Uint64(ip[16:])
		b = binary.BigEndian.Uint64(ip[24:]) ^ binary.BigEndian.Uint64(ip[32:])
		off = 40
	default:
		return 0, false
	}
	if len(ip) < off+4 {
		return 0, false
	}
	a = a<<16 | uint64(binary.BigEndian.Uint16(ip[off:]))
	b = b<<16 | uint64(binary.BigEndian.Uint16(ip[off+2:]))
	return uint32(mix(a) ^ mix(b)), true
}

// mix is a 64-bit finalizer (from SplitMix64).
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// Analyzer runs analyses.
type Analyzer struct {
	cfg Config
}

// New returns an analyzer.
func New(cfg Config) *Analyzer {
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = 16384
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.CloseDelay <= 0 {
		cfg.CloseDelay = 5 * time.Second
	}
	return &Analyzer{cfg: cfg}
}

// Source yields frames: a capture.FileReader or a live capture.
type Source interface {
	Next() (capture.Frame, error)
}

// rawSource is a Source with a faster path that skips building a Frame.
type rawSource interface {
	NextRaw() (data []byte, ts int64, linkType int, err error)
}

// batchSize is how many frames go to a worker at once.
const (
	batchFrames = 512
	arenaSize   = 512 << 10
	batchesPer  = 8
)

type frameMeta struct {
	num    int64
	ts     int64
	off    int32
	n      int32
	origIP int32 // IP length per the header is taken from the datagram; this is the captured length
}

type batch struct {
	meta  []frameMeta
	arena []byte
	end   bool
}

// Run reads every frame from src, analyzes it and calls emit (from one
// goroutine, not the caller's) with every connection as it is finished. It
// returns when src is exhausted or ctx ends, after flushing every
// connection still open.
func (a *Analyzer) Run(ctx context.Context, src Source, emit func(*Conn)) (*Stats, error) {
	n := a.cfg.Workers
	work := make([]chan *batch, n)
	free := make([]chan *batch, n)
	workers := make([]*worker, n)
	// Finished connections go to one emitting goroutine, so that
	// formatting output (JSON, tables) runs beside the analysis instead of
	// stalling the workers.
	results := make(chan *Conn, 4096)
	emitted := make(chan struct{})
	go func() {
		defer close(emitted)
		for c := range results {
			emit(c)
		}
	}()
	safeEmit := func(c *Conn) { results <- c }
	var wg sync.WaitGroup
	for i := range n {
		work[i] = make(chan *batch, batchesPer)
		free[i] = make(chan *batch, batchesPer)
		for range batchesPer {
			free[i] <- &batch{meta: make([]frameMeta, 0, batchFrames), arena: make([]byte, 0, arenaSize)}
		}
		workers[i] = newWorker(a.cfg, safeEmit)
		wg.Add(1)
		go func(w *worker, in, out chan *batch) {
			defer wg.Done()
			for b := range in {
				w.process(b)
				b.meta, b.arena = b.meta[:0], b.arena[:0]
				out <- b
			}
			w.flushAll()
		}(workers[i], work[i], free[i])
	}
	st := &Stats{}
	cur := make([]*batch, n)
	for i := range n {
		cur[i] = <-free[i]
	}
	var readErr error
	var frameNum int64
	raw, _ := src.(rawSource)
	for {
		if frameNum&0xffff == 0 {
			if ctx.Err() != nil {
				readErr = ctx.Err()
				break
			}
			if a.cfg.Progress != nil && frameNum > 0 {
				a.cfg.Progress(frameNum)
			}
		}
		var data []byte
		var ts int64
		var link int
		var err error
		if raw != nil {
			data, ts, link, err = raw.NextRaw()
		} else {
			var f capture.Frame
			f, err = src.Next()
			data, ts, link = f.Data, f.Time.UnixNano(), f.LinkType
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		frameNum++
		if st.First == 0 {
			st.First = ts
		}
		st.Last = ts
		if a.cfg.Filter != nil && !a.cfg.Filter(data, link) {
			st.Filtered++
			continue
		}
		off, err := craft.IPOffset(link, data)
		if err != nil {
			st.NonIP++
			continue
		}
		ip := data[off:]
		h, ok := shardOf(ip)
		if !ok {
			h = 0 // rare cases (IPv6 extension headers, non-TCP) go to worker 0
		}
		i := int(h % uint32(n))
		b := cur[i]
		if len(b.meta) == batchFrames || len(b.arena)+len(ip) > cap(b.arena) {
			work[i] <- b
			b = <-free[i]
			cur[i] = b
		}
		if len(ip) > cap(b.arena) {
			st.Skipped++
			continue
		}
		start := len(b.arena)
		b.arena = append(b.arena, ip...)
		b.meta = append(b.meta, frameMeta{num: frameNum, ts: ts, off: int32(start), n: int32(len(ip))})
	}
	for i := range n {
		if len(cur[i].meta) > 0 {
			work[i] <- cur[i]
		}
		close(work[i])
	}
	wg.Wait()
	close(results)
	<-emitted
	st.Frames = frameNum
	for _, w := range workers {
		st.TCP += w.st.TCP
		st.Other += w.st.Other
		st.Skipped += w.st.Skipped
		st.Fragments += w.st.Fragments
		st.BadChecksum += w.st.BadChecksum
		st.Conns += w.st.Conns
		st.Evicted += w.st.Evicted
		st.Expired += w.st.Expired
		st.Counts.Merge(&w.st.Counts)
		for r := range st.RuleFails {
			st.RuleFails[r] += w.st.RuleFails[r]
		}
	}
	return st, readErr
}

// ReadFiles analyzes each file in turn ("-" is standard input), as one
// capture: connections spanning files are joined. progress, when not nil,
// receives the bytes read and the total size.
func (a *Analyzer) ReadFiles(ctx context.Context, paths []string, emit func(*Conn)) (*Stats, error) {
	return a.ReadFilesProgress(ctx, paths, emit, nil)
}

// ReadFilesProgress is ReadFiles with a progress callback (bytes read of
// total), called with Config.Progress's rhythm.
func (a *Analyzer) ReadFilesProgress(ctx context.Context, paths []string, emit func(*Conn), progress func(read, total int64)) (*Stats, error) {
	ms := &multiSource{paths: paths}
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			ms.total += fi.Size()
		}
	}
	defer ms.close()
	if progress != nil {
		prev := a.cfg.Progress
		a.cfg.Progress = func(n int64) {
			if prev != nil {
				prev(n)
			}
			progress(ms.read(), ms.total)
		}
		defer func() { a.cfg.Progress = prev }()
	}
	return a.Run(ctx, ms, emit)
}

type multiSource struct {
	paths []string
	cur   *capture.FileReader
	done  int64 // bytes of the files finished
	total int64
}

func (m *multiSource) read() int64 {
	if m.cur == nil {
		return m.done
	}
	n, _ := m.cur.Progress()
	return m.done + n
}

func (m *multiSource) Next() (capture.Frame, error) {
	for {
		if m.cur == nil {
			if len(m.paths) == 0 {
				return capture.Frame{}, io.EOF
			}
			r, err := capture.OpenFile(m.paths[0])
			if err != nil {
				return capture.Frame{}, err
			}
			m.cur, m.paths = r, m.paths[1:]
		}
		f, err := m.cur.Next()
		if errors.Is(err, io.EOF) {
			m.cur.Close()
			m.cur = nil
			continue
		}
		return f, err
	}
}

func (m *multiSource) NextRaw() ([]byte, int64, int, error) {
	for {
		if m.cur == nil {
			if len(m.paths) == 0 {
				return nil, 0, 0, io.EOF
			}
			r, err := capture.OpenFile(m.paths[0])
			if err != nil {
				return nil, 0, 0, err
			}
			m.cur, m.paths = r, m.paths[1:]
		}
		d, ts, link, err := m.cur.NextRaw()
		if errors.Is(err, io.EOF) {
			_, size := m.cur.Progress()
			m.done += size
			m.cur.Close()
			m.cur = nil
			continue
		}
		return d, ts, link, err
	}
}

func (m *multiSource) close() {
	if m.cur != nil {
		m.cur.Close()
	}
}

type closedConn struct {
	c   *conn
	gen uint32
	at  int64
}

// worker owns one shard of the flow table.
type worker struct {
	cfg   Config
	emit  func(*Conn)
	flows map[flowKey]*conn
	head  *conn // most recently used
	tail  *conn // least recently used
	pkt   craft.Packet
	st    Stats
	seen  int64
	order int // connections started, for Stream
	now   int64
	cache [64]*conn
	free  []*conn // finished connections, reused: a conn is large
	slab  []conn  // connections not yet handed out
	// closedQ lists connections in the order they closed, to flush them
	// CloseDelay later (gen tells a reused conn from the one queued).
	closedQ []closedConn
}

func newWorker(cfg Config, emit func(*Conn)) *worker {
	return &worker{cfg: cfg, emit: emit, flows: make(map[flowKey]*conn, 1024)}
}

func (w *worker) process(b *batch) {
	for i := range b.meta {
		m := &b.meta[i]
		w.packet(m.num, m.ts, b.arena[m.off:m.off+m.n])
	}
}

func (w *worker) packet(num, ts int64, ip []byte) {
	p := &w.pkt
	if err := p.Decode(ip); err != nil {
		w.st.Skipped++
		return
	}
	if p.Fragment && !p.HasTCP {
		w.st.Fragments++
		return
	}
	if !p.HasTCP {
		w.st.Other++
		return
	}
	w.st.TCP++
	w.now = ts
	src := netip.AddrPortFrom(p.Src(), p.TCP.SrcPort)
	dst := netip.AddrPortFrom(p.Dst(), p.TCP.DstPort)
	pk := pkt{num: num, ts: ts, p: p, ipLen: len(ip), fromSrc: src}
	if p.Version == 4 {
		pk.ipLen = int(p.IPv4.TotalLen)
	} else {
		pk.ipLen = craft.IPv6HeaderSize + int(p.IPv6.PayloadLen)
	}
	pk.badSum = !w.cfg.IgnoreChecksums && !p.ChecksumOK(ip)
	if pk.badSum {
		w.st.BadChecksum++
	}
	// A small direct-mapped cache in front of the flow table: packets of
	// one connection come in runs.
	slot := &w.cache[int(src.Port()^dst.Port())&(len(w.cache)-1)]
	c := *slot
	var k flowKey
	if c != nil && !c.done && (c.orig == src && c.resp == dst || c.orig == dst && c.resp == src) {
		k = c.key
	} else {
		k = keyOf(src, dst)
		c = w.flows[k]
	}
	if c != nil && c.closed && p.TCP.Flags&craft.SYN != 0 && p.TCP.Flags&craft.ACK == 0 && !pk.badSum &&
		(!c.tr.Side[0].SawSYN || p.TCP.Seq != c.tr.Side[0].ISN) {
		// A new SYN on a finished connection's ports: port reuse.
		w.finish(c)
		c = nil
		w.start(k, &pk).reused = true
		c = w.flows[k]
	}
	if c == nil {
		c = w.start(k, &pk)
	} else {
		w.touch(c)
	}
	*slot = c
	wasClosed := c.closed
	f := c.observe(&pk)
	if c.closed && !wasClosed {
		w.closedQ = append(w.closedQ, closedConn{c, c.gen, ts})
	}
	if c.reused && c.pkts[0]+c.pkts[1] == 1 {
		f |= FlagPortReuse
		c.counts.add(FlagPortReuse)
	}
	if w.cfg.OnPacket != nil {
		w.cfg.OnPacket(num, f)
	}
	w.seen++
	if w.seen&0x3fff == 0 {
		w.expire()
	}
}

func (w *worker) start(k flowKey, pk *pkt) *conn {
	if len(w.flows) >= w.cfg.MaxFlows && w.tail != nil {
		t := w.tail
		t.evicted = true
		w.st.Evicted++
		w.finish(t)
	}
	var c *conn
	if n := len(w.free); n > 0 {
		c, w.free = w.free[n-1], w.free[:n-1]
	} else {
		if len(w.slab) == 0 {
			w.slab = make([]conn, 64) // one allocation for many connections
		}
		c, w.slab = &w.slab[0], w.slab[1:]
	}
	w.order++
	c.init(k, pk, w.cfg.Stream > 0 && w.order == w.cfg.Stream)
	w.flows[k] = c
	w.pushFront(c)
	w.st.Conns++
	return c
}

func (w *worker) pushFront(c *conn) {
	c.prev, c.next = nil, w.head
	if w.head != nil {
		w.head.prev = c
	}
	w.head = c
	if w.tail == nil {
		w.tail = c
	}
}

func (w *worker) unlink(c *conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		w.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		w.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

func (w *worker) touch(c *conn) {
	if w.head == c {
		return
	}
	w.unlink(c)
	w.pushFront(c)
}

// expire flushes connections idle longer than the timeout, and closed
// ones older than the close delay (capture time).
func (w *worker) expire() {
	closeLimit := w.now - int64(w.cfg.CloseDelay)
	n := 0
	for ; n < len(w.closedQ) && w.closedQ[n].at < closeLimit; n++ {
		q := w.closedQ[n]
		if q.c.gen == q.gen && q.c.closed && !q.c.done && q.c.last < closeLimit {
			w.finish(q.c)
		}
	}
	w.closedQ = append(w.closedQ[:0], w.closedQ[n:]...)
	limit := w.now - int64(w.cfg.IdleTimeout)
	for w.tail != nil && w.tail.last < limit {
		w.st.Expired++
		w.finish(w.tail)
	}
}

func (w *worker) finish(c *conn) {
	c.done = true
	w.unlink(c)
	if w.flows[c.key] == c {
		delete(w.flows, c.key)
	}
	out := c.result()
	w.st.Counts.Merge(&c.counts)
	for r := range w.st.RuleFails {
		if c.tr.Verdict(handshake.RuleID(r)) == handshake.Fail {
			w.st.RuleFails[r]++
		}
	}
	w.emit(out)
	if len(w.free) < 1024 {
		w.free = append(w.free, c)
	}
}

func (w *worker) flushAll() {
	for w.tail != nil {
		w.finish(w.tail)
	}
}

// String describes the stats in one line.
func (s *Stats) String() string {
	d := time.Duration(s.Last - s.First)
	return fmt.Sprintf("%d frames (%d TCP, %d other IP, %d not IP, %d skipped, %d bad checksum) over %v, %d connections",
		s.Frames, s.TCP, s.Other, s.NonIP, s.Skipped, s.BadChecksum, d.Round(time.Millisecond), s.Conns)
}
