package analyze

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"
	"sync/atomic"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
)

// pipeline.go: how frames travel from the reader to the workers, in
// batches copied out of the source or in shared chunks of whole records.

// A worker takes frames in batches copied out of the source, or, for pcap
// and pcapng files, in chunks of whole records read straight from the
// file, shared by all workers: the reading goroutine lists each worker's
// records (its shard) in the chunk.
const (
	batchFrames = 512
	arenaSize   = 512 << 10
	batchesPer  = 8
	chunkSize   = 1 << 20
	chunks      = 6
)

type frameMeta struct {
	num  int64
	ts   int64
	off  int32
	n    int32
	wire int32 // the datagram's bytes on the wire (the frame's original length past the link layer)
	enc  craft.Encaps
}

type batch struct {
	meta  []frameMeta
	arena []byte
}

type chunk struct {
	buf  []byte
	recs capture.Records // (each record's link type comes from its walker)
	base int64           // frames before this chunk's first
	refs atomic.Int32
	// idx lists, for each worker, the records of its shard: the reader
	// walks the chunk once, so that a worker touches only its own frames.
	idx [][]recRef
}

// recRef is a record of a chunk for one worker: where it starts, its
// number in the chunk (from 1), where its IP datagram starts and the
// encapsulations around it.
type recRef struct {
	off   uint32
	num   uint32
	ipOff uint16
	enc   craft.Encaps
}

// job is a batch for one worker, a chunk shared by all, or (neither) the
// boundary of a capture file: every connection is finished, and what
// follows belongs to file.
type job struct {
	b    *batch
	c    *chunk
	file int
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
	fileBase   int64 // frames before the current file
	files      []string
	onProgress func() // ReadFiles' progress report
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
			if len(p.files) > 0 && !a.cfg.Merge {
				c.File = p.files[c.fileIdx]
			}
			emit(c)
		}
	}()
	safeEmit := func(c *Conn) { p.results <- c }
	for i := range n {
		p.work[i] = make(chan job, batchesPer+chunks)
		p.free[i] = make(chan *batch, batchesPer)
		w := newWorker(a.cfg, safeEmit)
		w.id = i
		p.workers[i] = w
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range p.work[i] {
				if j.b == nil && j.c == nil {
					w.flushAll() // a new capture begins: nothing carries over
					w.forgetConvs()
					w.file, w.nextSweep = j.file, 0
					continue
				}
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
	if p.onProgress != nil && p.frames > 0 {
		p.onProgress()
	}
}

// stamp widens the capture's time span (files may come in any order).
func (p *pipeline) stamp(first, last int64) {
	if p.st.First == 0 || first < p.st.First {
		p.st.First = first
	}
	if last > p.st.Last {
		p.st.Last = last
	}
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
		var orig, link int
		var err error
		if raw != nil {
			data, ts, orig, link, err = raw.NextRawWire()
		} else {
			var f capture.Frame
			f, err = src.Next()
			data, ts, orig, link = f.Data, f.Time.UnixNano(), f.Length, f.LinkType
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
		off, enc, err := craft.Decap(link, data)
		if err != nil {
			p.st.nonIP(err, link)
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
		b.meta = append(b.meta, frameMeta{num: p.frames - p.fileBase, ts: ts, off: int32(start), n: int32(len(ip)), wire: int32(orig - off), enc: enc})
	}
}

// newFile starts capture file i: every worker finishes the connections of
// the one before, and frames are numbered from 1 again (as tshark does).
func (p *pipeline) newFile(i int) {
	for w := range p.work {
		p.flushBatch(w)
		p.work[w] <- job{file: i}
	}
	p.fileBase = p.frames
}

// feedChunks reads a pcap or pcapng file in chunks that the workers share,
// each listed by shard (demux).
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
		c.recs, c.base = r.Records(c.buf[:info.N]), p.frames-p.fileBase
		demux(c, len(p.workers), &p.st)
		c.refs.Store(int32(len(p.workers)))
		for _, w := range p.work {
			w <- job{c: c}
		}
		prev := p.frames
		p.frames += int64(info.Frames)
		if info.Frames > 0 {
			p.stamp(info.First, info.Last)
		}
		if prev>>16 != p.frames>>16 {
			p.progress()
		}
	}
}

// demux walks chunk c once and lists the records of each of n workers in
// c.idx; the frames that are not IP are counted in st.
func demux(c *chunk, n int, st *Stats) {
	if len(c.idx) != n {
		c.idx = make([][]recRef, n)
	}
	for i := range c.idx {
		c.idx[i] = c.idx[i][:0]
	}
	recs := c.recs
	for num := uint32(1); ; num++ {
		off := recs.Offset()
		d, _, _, ok := recs.NextWire()
		if !ok {
			return
		}
		link := recs.Link() // (pcapng: each interface its own)
		ipOff, enc, err := craft.Decap(link, d)
		if err != nil {
			st.nonIP(err, link)
			continue
		}
		if ipOff > math.MaxUint16 { // (no link or tunnel header is that long)
			st.Skipped++
			continue
		}
		i := shard(d[ipOff:], uint32(n))
		c.idx[i] = append(c.idx[i], recRef{off: uint32(off), num: num, ipOff: uint16(ipOff), enc: enc})
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
		st.Unsupported += w.st.Unsupported
		if w.st.UnsupportedLink != 0 {
			st.UnsupportedLink = w.st.UnsupportedLink
		}
		st.Skipped += w.st.Skipped
		st.Fragments += w.st.Fragments
		st.BadChecksum += w.st.BadChecksum
		st.Unverified += w.st.Unverified
		st.BadIPChecksum += w.st.BadIPChecksum
		st.Tunnelled += w.st.Tunnelled
		st.Conns += w.st.Conns
		st.ViolatingConns += w.st.ViolatingConns
		st.Evicted += w.st.Evicted
		st.Expired += w.st.Expired
		st.Counts.Merge(&w.st.Counts)
		for r := range st.RuleFails {
			st.RuleFails[r] += w.st.RuleFails[r]
		}
	}
	return st
}

// feedMerged reads several files as one capture, frame by frame in
// timestamp order (mergecap's merge). A file that ends early drops out
// and is listed in Stats.CutShort.
func (p *pipeline) feedMerged(paths []string) error {
	m := &mergeSource{}
	defer m.close()
	for i, path := range paths {
		r, err := capture.OpenFile(path)
		if err != nil {
			return err
		}
		m.readers = append(m.readers, &mergeInput{r: r, path: path, file: i})
	}
	if err := m.init(); err != nil {
		return err
	}
	err := p.feed(m)
	p.st.CutShort = append(p.st.CutShort, m.cut...)
	return err
}

// mergeInput is one file of a merge with its next frame held back.
type mergeInput struct {
	r      *capture.FileReader
	path   string
	file   int
	frames int64
	next   capture.Frame
	buf    []byte
	done   bool
}

func (in *mergeInput) advance(m *mergeSource) {
	f, err := in.r.Next()
	if err != nil {
		in.done = true
		if !errors.Is(err, io.EOF) {
			m.cut = append(m.cut, CutShort{File: in.path, After: in.frames, Reason: err.Error()})
		}
		return
	}
	in.frames++
	in.buf = append(in.buf[:0], f.Data...)
	f.Data = in.buf
	in.next = f
}

// mergeSource yields the frames of several files in timestamp order (the
// earlier file first on a tie).
type mergeSource struct {
	readers []*mergeInput
	cut     []CutShort
	last    *mergeInput
}

func (m *mergeSource) init() error {
	for _, in := range m.readers {
		in.advance(m)
	}
	return nil
}

// Next returns the earliest held-back frame and reads its file's next one.
func (m *mergeSource) Next() (capture.Frame, error) {
	if m.last != nil {
		m.last.advance(m)
		m.last = nil
	}
	var best *mergeInput
	for _, in := range m.readers {
		if !in.done && (best == nil || in.next.Time.Before(best.next.Time)) {
			best = in
		}
	}
	if best == nil {
		return capture.Frame{}, io.EOF
	}
	m.last = best
	return best.next, nil
}

func (m *mergeSource) close() {
	for _, in := range m.readers {
		in.r.Close()
	}
}

// nonIP counts a frame whose IP header could not be found.
func (s *Stats) nonIP(err error, link int) {
	if errors.Is(err, craft.ErrUnsupportedLink) {
		s.Unsupported++
		s.UnsupportedLink = link
		return
	}
	s.NonIP++
}
