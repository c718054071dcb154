package analyze

import (
	"net/netip"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/rulebook"
)

// timedConn is a connection with one of Zeek's removal timers running
// (gen tells a reused conn from the one queued).
type timedConn struct {
	c   *conn
	gen uint32
}

// worker owns one shard of the flow table.
type worker struct {
	id    int // shard id
	cfg   Config
	emit  func(*Conn)
	flows map[flowKey]*conn
	head  *conn // most recently used
	tail  *conn // least recently used
	pkt   craft.Packet
	st    Stats
	// nextSweep is the capture time of the next expiry sweep: the flow
	// table is swept on the capture's clock (once a second of it, more
	// often with shorter timeouts). Whether a packet still belongs to a
	// connection is decided from the packet's own time (expired), so the
	// result does not depend on how packets are spread over workers.
	nextSweep int64
	file      int // index of the capture file being read
	info      PacketInfo
	order     int // connections started, for Stream
	now       int64
	cache     [64]*conn
	// failCounts holds each rule's failures before the packet, for
	// PacketInfo.Violated.
	failCounts [rulebook.NumRules]uint32
	free       []*conn // finished connections, reused: a conn is large
	slab       []conn  // connections not yet handed out
	// timedQ lists the connections whose removal timers run, for the
	// sweep.
	timedQ []timedConn
	// wsPrev keeps the Wireshark conversation of connections Zeek's timers
	// ended, for a later connection on the same ports (bounded).
	wsPrev map[flowKey]*endedConv
	// wsOld lists wsPrev's entries as they came (nearly in capture-time
	// order), so that the sweep forgets the old ones without walking the
	// map; a lookup checks an entry's age itself.
	wsOld []keptConv
}

type keptConv struct {
	k flowKey
	e *endedConv
}

// endedConv is the Wireshark conversation of an ended connection.
type endedConv struct {
	conv wsConv
	last int64 // capture time of the connection's last packet
}

func newWorker(cfg Config, emit func(*Conn)) *worker {
	return &worker{cfg: cfg, emit: emit, flows: make(map[flowKey]*conn, 1024), wsPrev: map[flowKey]*endedConv{}}
}

// processChunk analyzes the records of c that the reader listed for this
// worker's shard.
func (w *worker) processChunk(c *chunk) {
	recs := c.recs
	for _, r := range c.idx[w.id] {
		recs.Seek(int(r.off))
		d, ts, orig, _ := recs.NextWire()
		w.packetIn(c.base+int64(r.num), ts, d[r.ipOff:], orig-int(r.ipOff), r.enc)
	}
}

func (w *worker) process(b *batch) {
	for i := range b.meta {
		m := &b.meta[i]
		w.packetIn(m.num, m.ts, b.arena[m.off:m.off+m.n], int(m.wire), m.enc)
	}
}

// packet analyzes one IP datagram that was not inside a tunnel.
func (w *worker) packet(num, ts int64, ip []byte) { w.packetIn(num, ts, ip, len(ip), 0) }

// packetIn analyzes the IP datagram ip, found inside the encapsulations enc;
// wire is how many of its bytes the frame had on the wire (its original
// length), which the snap length may have cut to len(ip).
func (w *worker) packetIn(num, ts int64, ip []byte, wire int, enc craft.Encaps) {
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
	if p.Version == 4 && !w.cfg.IgnoreChecksums && !craft.IPv4ChecksumOK(ip[:int(p.IPv4.IHL)*4]) {
		// Zeek drops a datagram whose IPv4 header checksum is wrong
		// outright: no connection, no history letter.
		w.st.BadIPChecksum++
		return
	}
	w.st.TCP++
	if enc != 0 {
		w.st.Tunnelled++
	}
	w.now = ts
	src := netip.AddrPortFrom(p.Src(), p.TCP.SrcPort)
	dst := netip.AddrPortFrom(p.Dst(), p.TCP.DstPort)
	pk := pkt{num: num, ts: ts, p: p, ipLen: len(ip), fromSrc: src}
	if p.Version == 4 {
		if !p.TSO {
			pk.ipLen = int(p.IPv4.TotalLen)
		}
	} else {
		pk.ipLen = craft.IPv6HeaderSize + int(p.IPv6.PayloadLen)
	}
	pk.wsLen = p.PayloadLen
	if p.Truncated && wire >= len(ip) && wire < pk.ipLen { // (an unknown original length is below len(ip))
		// Cut on the wire, not by the snap length: Wireshark counts the
		// TCP bytes the frame had, not those the IP header claims.
		pk.wsLen = max(0, p.PayloadLen-(pk.ipLen-wire))
	}
	switch {
	case w.cfg.IgnoreChecksums:
	case w.cfg.LocalAddrs != nil && w.cfg.LocalAddrs[src.Addr()]:
		w.st.Unverified++ // its checksum is the NIC's to fill in
	default:
		pk.badSum = !p.ChecksumOK(nil) // the TCP checksum (the IP header's was checked)
	}
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
	// Wireshark's conversation: the live connection's, or the last one
	// on these ports that Zeek's timers ended.
	var conv *wsConv
	if c != nil {
		conv = &c.wsc
	} else if prev, ok := w.wsPrev[k]; ok {
		delete(w.wsPrev, k)
		if prev.last >= ts-int64(w.cfg.IdleTimeout) {
			conv = &prev.conv
		}
	}
	portReuse := conv != nil && !pk.badSum && conv.reuses(src, &p.TCP)
	var carry *wsConv // a conversation that goes on in a new connection
	split := false
	switch {
	case c == nil:
	case w.expired(c, ts):
		// The connection ended before this packet (idle, or removed by
		// one of Zeek's timers): the packet starts a new one.
		split = true
	case !pk.badSum && c.zeekIsReuse(&p.TCP):
		// A SYN that starts a new connection on these ports (Zeek's
		// IsReuse).
		split = true
	}
	if split {
		if !portReuse {
			saved := c.wsc
			carry = &saved
		}
		w.finish(c)
		c = nil
	} else if c == nil && conv != nil && !portReuse {
		saved := *conv
		carry = &saved
	}
	if c == nil {
		c = w.start(k, &pk)
		if carry != nil {
			carry.orientTo(c.orig)
			c.wsc = *carry
		}
	} else {
		w.touch(c)
		if portReuse {
			c.wsc.init(c.orig) // Wireshark starts over; Zeek goes on
		}
	}
	c.reused = c.reused || portReuse
	c.enc |= enc
	*slot = c
	timed := c.z.removeAt != 0 || c.z.attemptAt != 0
	if w.cfg.OnPacket != nil {
		c.failureCounts(&w.failCounts)
	}
	f := c.observe(&pk)
	if !timed && (c.z.removeAt != 0 || c.z.attemptAt != 0) {
		w.timedQ = append(w.timedQ, timedConn{c, c.gen})
	}
	if portReuse {
		f |= FlagPortReuse
		c.counts.add(FlagPortReuse)
	}
	if w.cfg.OnPacket != nil {
		w.info = PacketInfo{File: w.file, Frame: num, Conn: c.uidNow(), Flags: p.TCP.Flags, Analysis: f, Orig: src == c.orig,
			OrigState: c.tr.Side[rulebook.Client].State, RespState: c.tr.Side[rulebook.Server].State}
		w.info.Violated = c.violatedSince(&w.failCounts)
		d := 0
		if !w.info.Orig {
			d = 1
		}
		w.info.Seq = uint32(p.TCP.Seq - c.wsc.base[d])
		if p.TCP.Flags&craft.ACK != 0 {
			w.info.Ack = uint32(p.TCP.Ack - c.wsc.base[1-d])
		}
		w.cfg.OnPacket(&w.info)
	}
	if ts >= w.nextSweep {
		w.expire()
		w.nextSweep = ts + int64(min(time.Second, w.cfg.IdleTimeout))
	}
}

// keepConv remembers the Wireshark conversation of a connection Zeek's
// timers end, for a later connection on its ports; the memory is bounded
// by the flow table's size.
func (w *worker) keepConv(c *conn) {
	if len(w.wsPrev) >= w.cfg.MaxFlows {
		w.forgetConvs()
	}
	if len(w.wsOld) >= 2*w.cfg.MaxFlows {
		// Entries a lookup took out of wsPrev are still listed: drop them
		// (amortized: the list at least halves).
		n := 0
		for _, o := range w.wsOld {
			if w.wsPrev[o.k] == o.e {
				w.wsOld[n] = o
				n++
			}
		}
		clear(w.wsOld[n:])
		w.wsOld = w.wsOld[:n]
	}
	e := &endedConv{conv: c.wsc, last: c.last}
	w.wsPrev[c.key] = e
	w.wsOld = append(w.wsOld, keptConv{c.key, e})
}

// forgetConvs empties wsPrev.
func (w *worker) forgetConvs() {
	clear(w.wsPrev)
	clear(w.wsOld)
	w.wsOld = w.wsOld[:0]
}

// expired reports whether c had ended by capture time ts: idle longer
// than the timeout, or removed by one of Zeek's timers (close delay,
// reset, an unanswered attempt).
func (w *worker) expired(c *conn, ts int64) bool {
	if c.last < ts-int64(w.cfg.IdleTimeout) {
		w.st.Expired++
		return true
	}
	return c.zeekRemoved(ts)
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
	c.file = w.file
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

// expire flushes the connections Zeek's timers removed by now, and those
// idle longer than the timeout (capture time).
func (w *worker) expire() {
	n := 0
	for _, q := range w.timedQ {
		switch {
		case q.c.gen != q.gen || q.c.done:
		case q.c.zeekRemoved(w.now):
			w.keepConv(q.c)
			w.finish(q.c)
		case q.c.z.removeAt != 0 || q.c.z.attemptAt != 0:
			w.timedQ[n] = q // still timed
			n++
		}
	}
	w.timedQ = w.timedQ[:n]
	limit := w.now - int64(w.cfg.IdleTimeout)
	for w.tail != nil && w.tail.last < limit {
		w.st.Expired++
		w.finish(w.tail)
	}
	n = 0
	for n < len(w.wsOld) && w.wsOld[n].e.last < limit {
		if o := w.wsOld[n]; w.wsPrev[o.k] == o.e {
			delete(w.wsPrev, o.k)
		}
		n++
	}
	if n > 0 {
		m := copy(w.wsOld, w.wsOld[n:])
		clear(w.wsOld[m:])
		w.wsOld = w.wsOld[:m]
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
	if c.tr.Failed() {
		w.st.ViolatingConns++
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
