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
	"sync/atomic"
	"time"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/rulebook"
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
	RuleFails   [rulebook.NumRules]int64
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

// shard is the worker, of n, that analyzes the IP datagram ip. The rare
// datagrams shardOf cannot place (IPv6 extension headers, not TCP) go to
// worker 0.
func shard(ip []byte, n uint32) uint32 {
	h, ok := shardOf(ip)
	if !ok {
		return 0
	}
	return h % n
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

// A worker takes frames in batches copied out of the source, or, for
// classic pcap files, in chunks of whole records read straight from the
// file that every worker walks, each picking the frames of its shard.
const (
	batchFrames = 512
	arenaSize   = 512 << 10
	batchesPer  = 8
	chunkSize   = 1 << 20
	chunks      = 6
)

type frameMeta struct {
	num int64
	ts  int64
	off int32
	n   int32
}

type batch struct {
	meta  []frameMeta
	arena []byte
}

type chunk struct {
	buf  []byte
	recs capture.Records
	link int
	base int64 // frames before this chunk's first
	refs atomic.Int32
}

// job is a batch for one worker or a chunk shared by all.
type job struct {
	b *batch
	c *chunk
}

// pipeline is one analysis: workers, their queues and the emitter.
type pipeline struct {
	a          *Analyzer
	ctx        context.Context
	work       []chan job
	free       []chan *batch
	freeChunks chan *chunk
	workers    []*worker
	cur        []*batch
	wg         sync.WaitGroup
	results    chan *Conn
	emitted    chan struct{}
	st         Stats
	frames     int64
}

func (a *Analyzer) start(ctx context.Context, emit func(*Conn)) *pipeline {
	n := a.cfg.Workers
	p := &pipeline{a: a, ctx: ctx, work: make([]chan job, n), free: make([]chan *batch, n),
		workers: make([]*worker, n), cur: make([]*batch, n),
		// Finished connections go to one emitting goroutine, so that
		// formatting output (JSON, tables) runs beside the analysis
		// instead of stalling the workers.
		results: make(chan *Conn, 4096), emitted: make(chan struct{})}
	go func() {
		defer close(p.emitted)
		for c := range p.results {
			emit(c)
		}
	}()
	safeEmit := func(c *Conn) { p.results <- c }
	for i := range n {
		p.work[i] = make(chan job, batchesPer+chunks)
		p.free[i] = make(chan *batch, batchesPer)
		w := newWorker(a.cfg, safeEmit)
		w.id, w.of = i, n
		p.workers[i] = w
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range p.work[i] {
				if j.c != nil {
					w.processChunk(j.c)
					if j.c.refs.Add(-1) == 0 {
						p.freeChunks <- j.c
					}
					continue
				}
				w.process(j.b)
				j.b.meta, j.b.arena = j.b.meta[:0], j.b.arena[:0]
				select {
				case p.free[i] <- j.b:
				default: // more batches than the pool keeps
				}
			}
			w.flushAll()
		}()
	}
	return p
}

// batchFor returns worker i's current batch, with room for an IP datagram
// of n bytes.
func (p *pipeline) batchFor(i, n int) *batch {
	b := p.cur[i]
	if b == nil {
		select {
		case b = <-p.free[i]:
		default:
			b = &batch{meta: make([]frameMeta, 0, batchFrames), arena: make([]byte, 0, arenaSize)}
		}
		p.cur[i] = b
	}
	if len(b.meta) == batchFrames || len(b.arena)+n > cap(b.arena) {
		p.flushBatch(i)
		return p.batchFor(i, n)
	}
	return b
}

func (p *pipeline) flushBatch(i int) {
	if b := p.cur[i]; b != nil && len(b.meta) > 0 {
		p.work[i] <- job{b: b}
		p.cur[i] = nil
	}
}

func (p *pipeline) progress() {
	if p.a.cfg.Progress != nil && p.frames > 0 {
		p.a.cfg.Progress(p.frames)
	}
}

func (p *pipeline) stamp(first, last int64) {
	if p.st.First == 0 {
		p.st.First = first
	}
	p.st.Last = last
}

// feed reads every frame of src into batches.
func (p *pipeline) feed(src Source) error {
	cfg := &p.a.cfg
	n := uint32(len(p.workers))
	raw, _ := src.(rawSource)
	for {
		if p.frames&0xffff == 0 {
			if err := p.ctx.Err(); err != nil {
				return err
			}
			p.progress()
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
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		p.frames++
		p.stamp(ts, ts)
		if cfg.Filter != nil && !cfg.Filter(data, link) {
			p.st.Filtered++
			continue
		}
		off, err := craft.IPOffset(link, data)
		if err != nil {
			p.st.NonIP++
			continue
		}
		ip := data[off:]
		if len(ip) > arenaSize {
			p.st.Skipped++
			continue
		}
		i := int(shard(ip, n))
		b := p.batchFor(i, len(ip))
		start := len(b.arena)
		b.arena = append(b.arena, ip...)
		b.meta = append(b.meta, frameMeta{num: p.frames, ts: ts, off: int32(start), n: int32(len(ip))})
	}
}

// feedChunks reads a classic pcap file in chunks that every worker walks.
func (p *pipeline) feedChunks(r *capture.FileReader) error {
	for i := range p.cur {
		p.flushBatch(i) // frames before these stay in order
	}
	if p.freeChunks == nil {
		p.freeChunks = make(chan *chunk, chunks)
		for range chunks {
			p.freeChunks <- &chunk{buf: make([]byte, chunkSize)}
		}
	}
	for {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		c := <-p.freeChunks
		info, err := r.ReadChunk(c.buf)
		if err != nil {
			p.freeChunks <- c
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		c.recs, c.link, c.base = r.Records(c.buf[:info.N]), r.LinkType(), p.frames
		c.refs.Store(int32(len(p.workers)))
		for _, w := range p.work {
			w <- job{c: c}
		}
		prev := p.frames
		p.frames += int64(info.Frames)
		p.stamp(info.First, info.Last)
		if prev>>16 != p.frames>>16 {
			p.progress()
		}
	}
}

// wait flushes what is queued, lets the workers finish and returns the
// totals.
func (p *pipeline) wait() *Stats {
	for i := range p.work {
		p.flushBatch(i)
		close(p.work[i])
	}
	p.wg.Wait()
	close(p.results)
	<-p.emitted
	st := &p.st
	st.Frames = p.frames
	for _, w := range p.workers {
		st.TCP += w.st.TCP
		st.Other += w.st.Other
		st.NonIP += w.st.NonIP
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
	return st
}

// Run reads every frame from src, analyzes it and calls emit (from one
// goroutine, not the caller's) with every connection as it is finished. It
// returns when src is exhausted or ctx ends, after flushing every
// connection still open.
func (a *Analyzer) Run(ctx context.Context, src Source, emit func(*Conn)) (*Stats, error) {
	p := a.start(ctx, emit)
	err := p.feed(src)
	return p.wait(), err
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
	var total, done int64
	for _, path := range paths {
		if fi, err := os.Stat(path); err == nil {
			total += fi.Size()
		}
	}
	var cur *capture.FileReader
	if progress != nil {
		prev := a.cfg.Progress
		a.cfg.Progress = func(n int64) {
			if prev != nil {
				prev(n)
			}
			read := done
			if cur != nil {
				n, _ := cur.Progress()
				read += n
			}
			progress(read, total)
		}
		defer func() { a.cfg.Progress = prev }()
	}
	p := a.start(ctx, emit)
	var err error
	for _, path := range paths {
		cur, err = capture.OpenFile(path)
		if err != nil {
			break
		}
		if cur.Chunked() && a.cfg.Filter == nil {
			err = p.feedChunks(cur)
		} else {
			err = p.feed(cur)
		}
		_, size := cur.Progress()
		done += size
		cur.Close()
		cur = nil
		if err != nil {
			break
		}
	}
	return p.wait(), err
}

type closedConn struct {
	c   *conn
	gen uint32
	at  int64
}

// worker owns one shard of the flow table.
type worker struct {
	id, of int // shard id and count
	cfg    Config
	emit   func(*Conn)
	flows  map[flowKey]*conn
	head   *conn // most recently used
	tail   *conn // least recently used
	pkt    craft.Packet
	st     Stats
	seen   int64
	order  int // connections started, for Stream
	now    int64
	cache  [64]*conn
	free   []*conn // finished connections, reused: a conn is large
	slab   []conn  // connections not yet handed out
	// closedQ lists connections in the order they closed, to flush them
	// CloseDelay later (gen tells a reused conn from the one queued).
	closedQ []closedConn
}

func newWorker(cfg Config, emit func(*Conn)) *worker {
	return &worker{cfg: cfg, emit: emit, flows: make(map[flowKey]*conn, 1024)}
}

// processChunk walks every record of c and analyzes those of its shard;
// worker 0 counts the frames that are not IP.
func (w *worker) processChunk(c *chunk) {
	recs := c.recs
	num := c.base
	of := uint32(w.of)
	for {
		d, ts, ok := recs.Next()
		if !ok {
			return
		}
		num++
		off, err := craft.IPOffset(c.link, d)
		if err != nil {
			if w.id == 0 {
				w.st.NonIP++
			}
			continue
		}
		ip := d[off:]
		if shard(ip, of) == uint32(w.id) {
			w.packet(num, ts, ip)
		}
	}
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
		if c.tr.Result(rulebook.RuleID(r)) == rulebook.Fail {
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
