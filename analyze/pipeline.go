package analyze

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
)

// pipeline.go: how frames travel from the reader to the workers, in
// batches copied out of the source or in shared chunks of whole records.

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
	if p.onProgress != nil && p.frames > 0 {
		p.onProgress()
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
