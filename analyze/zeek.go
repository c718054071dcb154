package analyze

import (
	"github.com/tcpprobe/tcpprobe/craft"
)

// This file follows Zeek's TCP analysis: the endpoint state machine of
// TCPSessionAdapter::UpdateStateMachine, the history letters of
// update_history and TCP_Endpoint, the content gaps of TCP_Reassembler
// (AckReceived, Undelivered, Gap), connection reuse (IsReuse), the timers
// that remove a connection (attempt, close delay, reset), and conn_state
// of base/protocols/conn/main.zeek. Names follow Zeek's where they help a
// reader compare the two.

// zeekState is a TCP_ENDPOINT_* state of Zeek's TCP analyzer.
type zeekState uint8

const (
	zInactive zeekState = iota
	zSynSent
	zSynAckSent
	zPartial
	zEstablished
	zClosed
	zReset
)

// Zeek's history masks (TCP_Endpoint.h HIST_*); the responder's are
// shifted 16 bits up.
const (
	histSYN uint32 = 1 << iota
	histFIN
	histRST
	histFINRST
	histData
	histACK
	histMulti
)

// Scaled history counters: bad checksum, content gap, retransmission,
// zero window.
const (
	scChecksum = iota
	scGap
	scRxmit
	scWin0
	numScaled
)

var scaledLetters = [numScaled]byte{'c', 'g', 't', 'w'}

// Zeek's timers, in capture time (init-bare.zeek).
const (
	zeekAttemptDelay = 5e9 // tcp_attempt_delay
	zeekResetDelay   = 5e9 // tcp_reset_delay
)

// zeekEnd is one side of a connection as Zeek's TCP_Endpoint sees it.
type zeekEnd struct {
	state, prev               zeekState
	startSeq, lastSeq, ackSeq uint32 // absolute; relative numbers count from startSeq
	finCnt, rstCnt            uint32
	finSeq                    int64 // relative sequence number just past the FIN
	lastSYN, lastFIN, lastRST int64 // hist_last_*: a letter repeats only at a new seq
	didClose                  bool
	count, thresh             [numScaled]uint32 // ScaledHistoryEntry
	// The reassembler, as far as content gaps need it (relative seq).
	lastReassem, trimSeq int64
	blocks               []dataBlock // data above a hole, ordered by seq
}

type dataBlock struct{ seq, upper int64 }

// zeekConn is the Zeek view of one connection.
type zeekConn struct {
	e         [2]zeekEnd // by direction: 0 is the originator
	histSeen  uint32
	hist      [40]byte
	nhist     uint8
	partial   bool
	firstSeen uint8 // bit 0 orig, bit 1 resp
	lastTime  int64 // Conn()->LastTime(): not advanced once both sides closed
	missed    int64 // bytes in content gaps (content_gap events)
	removeAt  int64 // capture time Zeek's timers remove the connection (0: none)
	attemptAt int64 // the attempt timer (tcp_attempt_delay after the SYN)
}

func (z *zeekConn) init() {
	*z = zeekConn{}
	for d := range z.e {
		z.e[d].thresh = [numScaled]uint32{1, 1, 1, 1}
		z.e[d].lastReassem = 1
	}
}

func (z *zeekConn) addHist(b byte) {
	if int(z.nhist) < len(z.hist) {
		z.hist[z.nhist] = b
		z.nhist++
	}
}

// checkHistory records code (upper case for the originator) the first
// time mask is seen in direction dir; it reports whether it had been seen
// (Connection::CheckHistory).
func (z *zeekConn) checkHistory(dir int, mask uint32, code byte) bool {
	if dir == 1 {
		mask <<= 16
	}
	if z.histSeen&mask != 0 {
		return true
	}
	z.histSeen |= mask
	z.addHist(caseOf(dir, code))
	return false
}

func caseOf(dir int, code byte) byte {
	if dir == 0 && code >= 'a' {
		return code - ('a' - 'A')
	}
	if dir == 1 && code < 'a' {
		return code + ('a' - 'A')
	}
	return code
}

// scaled records letter k the 1st, 10th, 100th ... time
// (ScaledHistoryEntry).
func (z *zeekConn) scaled(dir, k int) {
	e := &z.e[dir]
	e.count[k]++
	if e.count[k] == e.thresh[k] {
		z.addHist(caseOf(dir, scaledLetters[k]))
		if e.thresh[k] <= 1e8 {
			e.thresh[k] *= 10
		}
	}
}

func (e *zeekEnd) setState(s zeekState) {
	if s != e.state {
		e.prev, e.state = e.state, s
	}
}

// rel is seq relative to the endpoint's start (Zeek's wrap counting
// reduced to one 32-bit space, as a capture's connection rarely wraps).
func (e *zeekEnd) rel(seq uint32) int64 { return int64(int32(seq - e.startSeq)) }

// flip swaps the roles of the two sides (Connection::FlipRoles): the
// history's letters change case and it starts with '^'.
func (z *zeekConn) flip() {
	z.e[0], z.e[1] = z.e[1], z.e[0]
	z.histSeen = z.histSeen>>16 | z.histSeen<<16
	z.firstSeen = z.firstSeen>>1&1 | z.firstSeen<<1&2
	z.partial = false
	h := z.hist[:z.nhist]
	for i, b := range h {
		switch {
		case b >= 'a' && b <= 'z':
			h[i] = b - ('a' - 'A')
		case b >= 'A' && b <= 'Z':
			h[i] = b + ('a' - 'A')
		}
	}
	if len(h) == 0 || h[0] != '^' {
		if int(z.nhist) == len(z.hist) {
			z.nhist--
		}
		copy(z.hist[1:], z.hist[:z.nhist])
		z.hist[0] = '^'
		z.nhist++
	}
}

// zeekSegLen is the sequence space a segment takes for Zeek: a RST's data
// is not part of the stream (get_segment_len).
func zeekSegLen(f craft.Flags, n int) uint32 {
	l := craft.SeqLen(f, n)
	if f&craft.RST != 0 {
		l -= uint32(n)
	}
	return l
}

// zeekPacket is TCPSessionAdapter::Process for one segment (its checksum
// already verified) from direction dir at capture time ts. It reports
// whether the roles flipped.
func (c *conn) zeekPacket(dir int, pk *pkt) (flipped bool) {
	z := &c.z
	if c.zflip {
		dir = 1 - dir // Zeek swapped the roles after a SYN-ACK came before its SYN
	}
	if f := pk.p.TCP.Flags; z.e[0].state == zSynAckSent && z.e[1].state == zInactive &&
		f&(craft.SYN|craft.FIN|craft.RST) == 0 && (f&craft.ACK != 0 || pk.p.PayloadLen > 0) {
		// The connection began with a SYN-ACK, and an ACK or data follows:
		// no stealth scan, so the SYN-ACK's sender is the responder
		// (Zeek's PR #2191).
		z.flip()
		c.zflip = !c.zflip
		dir = 1 - dir
	}
	t := &pk.p.TCP
	f := t.Flags
	n := pk.p.PayloadLen
	e, peer := &z.e[dir], &z.e[1-dir]

	// SetPartialStatus.
	if dir == 0 && z.firstSeen&1 == 0 {
		z.partial = f&craft.SYN == 0 || f&craft.ACK != 0
	} else if dir == 1 && z.firstSeen&2 == 0 && !z.partial {
		z.partial = f&craft.SYN == 0
	}
	z.firstSeen |= 1 << dir

	seq, ack := uint32(t.Seq), uint32(t.Ack)
	segLen := zeekSegLen(f, n)
	end := seq + segLen
	zeekInitEndpoint(e, f, seq, end)
	relSeq := e.rel(seq)
	underflow := relSeq < 0

	z.updateHistory(dir, f, relSeq, n)
	// update_window: a zero window matters unless it comes with or after
	// a RST, or after the peer's FIN.
	if t.Window == 0 && f&craft.RST == 0 && peer.state != zClosed && e.state != zReset {
		z.scaled(dir, scWin0)
	}
	if !e.didClose || !peer.didClose {
		z.lastTime = pk.ts
	}
	if f&craft.FIN != 0 {
		e.finCnt++
		e.finSeq = relSeq + int64(segLen)
	}
	if f&craft.RST != 0 {
		e.rstCnt++
	}
	var relAck int64
	if f&craft.ACK != 0 {
		if peer.state == zInactive {
			relAck = 1
			peer.startSeq, peer.ackSeq, peer.lastSeq = ack-1, ack-1, ack-1 // init_peer
		} else if relAck = peer.rel(ack); relAck < 0 {
			relAck = 0 // TCP_ack_underflow_or_misorder
		} else if f&craft.RST == 0 && int32(ack-peer.ackSeq) > 0 && !(ack == 0 && int32(ack-peer.ackSeq) > zeekTooLargeSeqDelta) {
			peer.ackSeq = ack // update_ack_seq
		}
	}
	if zeekUpdateLastSeq(e, end, f, n) {
		z.scaled(dir, scRxmit) // DidRxmit
	}

	doClose, flipped := c.zeekStateMachine(dir, pk)
	if flipped {
		dir = 1 - dir
		e, peer = &z.e[dir], &z.e[1-dir]
	}
	if f&craft.ACK != 0 {
		z.ackReceived(1-dir, relAck)
	}
	relData := relSeq
	if f&craft.SYN != 0 {
		relData++
	}
	if n > 0 && f&craft.RST == 0 && !underflow {
		e.dataSent(relData, int64(n), peer)
	}
	if doClose {
		z.connectionClosed(dir, pk.ts)
	}
	if z.attemptAt != 0 && z.e[1].state != zInactive {
		z.attemptAt = 0 // answered: the attempt timer will do nothing
	}
	return flipped
}

// zeekInitEndpoint is init_endpoint: where an endpoint's relative
// numbering starts, and when a SYN restarts it.
func zeekInitEndpoint(e *zeekEnd, f craft.Flags, seq, last uint32) {
	restart := func() { e.startSeq, e.ackSeq, e.lastSeq = seq, seq, last }
	switch e.state {
	case zInactive:
		if f&craft.SYN != 0 {
			e.ackSeq, e.startSeq = seq, seq
		} else {
			// A partial connection: numbered as though a SYN was seen.
			e.ackSeq, e.startSeq = seq-1, seq-1
			last = seq
		}
		e.lastSeq = last
	case zSynSent, zSynAckSent:
		if f&craft.SYN != 0 && seq != e.startSeq {
			restart() // SYN_seq_jump
		}
	case zEstablished, zPartial:
		if f&craft.SYN != 0 {
			restart()
		}
	case zReset:
		if f&craft.SYN != 0 && e.prev == zInactive {
			restart()
		}
	}
}

// updateHistory is update_history: S, H, F and R again only at a new
// sequence number; D and A once; Q and I for several control flags.
func (z *zeekConn) updateHistory(dir int, f craft.Flags, relSeq int64, n int) {
	e := &z.e[dir]
	bits := 0
	for _, b := range [...]craft.Flags{craft.SYN, craft.FIN, craft.RST} {
		if f&b != 0 {
			bits++
		}
	}
	switch {
	case bits > 1:
		if f&craft.FIN != 0 && f&craft.RST != 0 {
			z.checkHistory(dir, histFINRST, 'I')
		} else {
			z.checkHistory(dir, histMulti, 'Q')
		}
	case f&craft.SYN != 0:
		code := byte('S')
		if f&craft.ACK != 0 {
			code = 'H'
		}
		if z.checkHistory(dir, histSYN, code) && relSeq != e.lastSYN {
			z.addHist(caseOf(dir, code))
		}
		e.lastSYN = relSeq
	case f&craft.FIN != 0:
		// A FIN's sequence number comes after its data.
		if z.checkHistory(dir, histFIN, 'F') && relSeq+int64(n) != e.lastFIN {
			z.addHist(caseOf(dir, 'F'))
		}
		e.lastFIN = relSeq + int64(n)
	case f&craft.RST != 0:
		if z.checkHistory(dir, histRST, 'R') && relSeq != e.lastRST {
			z.addHist(caseOf(dir, 'R'))
		}
		e.lastRST = relSeq
	case n > 0:
		z.checkHistory(dir, histData, 'D')
	case f&craft.ACK != 0:
		z.checkHistory(dir, histACK, 'A')
	}
}

const zeekTooLargeSeqDelta = 1 << 20

// zeekUpdateLastSeq is update_last_seq: it advances the side's last
// sequence number, and reports a retransmission (data that brings
// nothing new).
func zeekUpdateLastSeq(e *zeekEnd, last uint32, f craft.Flags, n int) (rxmit bool) {
	d := int32(last - e.lastSeq)
	switch {
	case f&(craft.SYN|craft.RST) != 0 && (d > zeekTooLargeSeqDelta || d < -zeekTooLargeSeqDelta):
	case f&craft.FIN != 0 && e.lastSeq == e.startSeq+1:
		e.lastSeq = last // a SYN and a FIN only: trust the FIN
	case e.state == zReset:
	case d > 0:
		e.lastSeq = last
	case n > 0:
		return true
	}
	return false
}

// zeekStateMachine is UpdateStateMachine; it returns whether the side
// closed (ConnectionClosed follows) and whether the roles flipped.
func (c *conn) zeekStateMachine(dir int, pk *pkt) (doClose, flipped bool) {
	z := &c.z
	f := pk.p.TCP.Flags
	e, peer := &z.e[dir], &z.e[1-dir]
	n := pk.p.PayloadLen
	switch e.state {
	case zInactive:
		if f&craft.SYN != 0 {
			if dir == 0 {
				if f&craft.ACK != 0 {
					e.setState(zSynAckSent)
				} else {
					e.setState(zSynSent)
				}
				z.attemptAt = pk.ts + zeekAttemptDelay
			} else {
				if f&craft.ACK == 0 && peer.state == zSynAckSent && uint32(pk.p.TCP.Seq) == e.startSeq {
					// A SYN-ACK seen before its SYN: flip the roles and
					// establish the connection.
					z.flip()
					c.zflip = !c.zflip
					flipped = true
					dir = 1 - dir
					e, peer = &z.e[dir], &z.e[1-dir]
					peer.setState(zEstablished)
					z.firstSeen |= 1
				}
				if peer.state == zSynSent {
					peer.setState(zEstablished)
				}
				e.setState(zEstablished)
			}
		}
		doClose = e.finOrReset(f)
		if e.state == zInactive {
			switch {
			case dir == 1 && n == 0 && z.e[0].state == zSynSent:
				// An ACK of the SYN before the SYN-ACK: not partial.
			case f&craft.ACK != 0 && peer.state == zEstablished:
				// The SYN was missed, the SYN-ACK seen: established.
				e.setState(zEstablished)
				z.partial = false
			default:
				e.setState(zPartial)
			}
		}
	case zSynSent, zSynAckSent:
		doClose = e.finOrReset(f)
	case zEstablished, zPartial:
		if f&craft.SYN != 0 && e.state == zPartial && peer.state == zInactive && f&craft.ACK == 0 {
			e.setState(zSynSent) // SYN_after_partial
		}
		if f&craft.FIN != 0 && f&craft.RST == 0 {
			e.setState(zClosed)
			if peer.state == zReset && peer.prev == zClosed {
				// The peer's FIN was followed by a RST: a normal close.
				peer.setState(zClosed)
			}
			doClose = true
		}
		if f&craft.RST != 0 {
			e.setState(zReset)
			doClose = true
		}
	case zClosed:
		// After both FINs a RST changes nothing.
		if f&craft.RST != 0 && peer.state != zClosed {
			e.setState(zReset)
			if !e.didClose {
				doClose = true // RST after FIN
			}
			z.removeAt = pk.ts + zeekResetDelay // ResetTimer
		}
	}
	return doClose, flipped
}

// finOrReset moves a side that is not yet established to CLOSED on a FIN
// and to RESET on a RST; it reports whether the side closed.
func (e *zeekEnd) finOrReset(f craft.Flags) bool {
	if f&craft.FIN != 0 {
		e.setState(zClosed)
	}
	if f&craft.RST != 0 {
		e.setState(zReset)
	}
	return f&(craft.FIN|craft.RST) != 0
}

// connectionClosed is ConnectionClosed: once both sides are done (or one
// reset, or the other never spoke) the connection is removed
// tcp_close_delay later.
func (z *zeekConn) connectionClosed(dir int, ts int64) {
	e, peer := &z.e[dir], &z.e[1-dir]
	if e.didClose {
		return
	}
	e.didClose = true
	if e.state == zReset || peer.didClose || peer.state == zInactive {
		z.removeAt = z.lastTime + zeekCloseDelay
	}
}

// zeekCloseDelay is tcp_close_delay.
const zeekCloseDelay = 5e9

// isClosed is TCPSessionAdapter::IsClosed: either side closed.
func (z *zeekConn) isClosed() bool { return z.e[0].didClose || z.e[1].didClose }

// dataSent is the reassembler's DataSent for data [seq, seq+n) of this
// side (relative numbers): what the peer already acknowledged is
// dropped, the rest joins the blocks; contiguous data is delivered.
func (e *zeekEnd) dataSent(seq, n int64, peer *zeekEnd) {
	if ack := e.rel(e.ackSeq); seq < ack {
		if seq+n <= ack {
			return // delivered and acknowledged already
		}
		n -= ack - seq
		seq = ack
	}
	upper := seq + n
	if upper <= e.trimSeq {
		return
	}
	seq = max(seq, e.trimSeq)
	if seq <= e.lastReassem {
		// In order (or overlapping what was delivered).
		e.lastReassem = max(e.lastReassem, upper)
		e.deliverBlocks()
		return
	}
	e.insertBlock(dataBlock{seq, upper})
}

// insertBlock keeps out-of-order data, merged with its neighbours.
func (e *zeekEnd) insertBlock(b dataBlock) {
	i := 0
	for i < len(e.blocks) && e.blocks[i].upper < b.seq {
		i++
	}
	j := i
	for j < len(e.blocks) && e.blocks[j].seq <= b.upper {
		b.seq, b.upper = min(b.seq, e.blocks[j].seq), max(b.upper, e.blocks[j].upper)
		j++
	}
	e.blocks = append(e.blocks[:i], append([]dataBlock{b}, e.blocks[j:]...)...)
}

// deliverBlocks moves blocks that now touch the delivered stream into it.
func (e *zeekEnd) deliverBlocks() {
	k := 0
	for k < len(e.blocks) && e.blocks[k].seq <= e.lastReassem {
		e.lastReassem = max(e.lastReassem, e.blocks[k].upper)
		k++
	}
	e.blocks = e.blocks[:copy(e.blocks, e.blocks[k:])]
}

// clean is is_clean: established, or closed after being established.
func (e *zeekEnd) clean() bool {
	return e.state == zEstablished || e.state == zClosed && e.prev == zEstablished
}

// ackReceived is the reassembler's AckReceived for side d: the peer
// acknowledged up to seq; data below it never seen is a content gap,
// reported (history g, missed_bytes) only while both sides are cleanly
// established or closing.
func (z *zeekConn) ackReceived(d int, seq int64) {
	e, peer := &z.e[d], &z.e[1-d]
	if e.finCnt > 0 && seq >= e.finSeq {
		seq = e.finSeq - 1
	}
	if seq <= e.trimSeq {
		return
	}
	if seq > e.lastReassem {
		z.undelivered(d, seq, e.clean() && peer.clean())
	}
	// TrimToSeq: blocks below seq are done with.
	k := 0
	for k < len(e.blocks) && e.blocks[k].upper <= seq {
		k++
	}
	e.blocks = e.blocks[:copy(e.blocks, e.blocks[k:])]
	e.trimSeq = seq
}

// undelivered is Undelivered: every hole below upTo is a gap.
func (z *zeekConn) undelivered(d int, upTo int64, report bool) {
	e := &z.e[d]
	if upTo <= 2 && z.partial {
		// A partial connection's faked start: not a gap.
		return
	}
	gap := func(n int64) {
		if report && n > 0 {
			z.scaled(d, scGap)
			z.missed += n
		}
	}
	for len(e.blocks) > 0 && e.blocks[0].seq < upTo {
		b := e.blocks[0]
		if b.seq > e.lastReassem {
			gap(b.seq - e.lastReassem)
		}
		e.lastReassem = max(e.lastReassem, b.upper)
		e.blocks = e.blocks[:copy(e.blocks, e.blocks[1:])]
	}
	if upTo > e.lastReassem {
		gap(upTo - e.lastReassem)
		e.lastReassem = upTo
	}
}

// zeekIsReuse is IsReuse: does this SYN (or, for a half connection, this
// SYN-ACK) start a new connection on the 4-tuple? Once either side has
// closed, any SYN does; before, a SYN with a new initial sequence number.
func (c *conn) zeekIsReuse(t *craft.TCP) bool {
	z := &c.z
	if t.Flags&craft.SYN == 0 {
		return false
	}
	origEnd := &z.e[0]
	if t.Flags&craft.ACK != 0 {
		if z.e[0].state != zInactive {
			return false // not a half connection
		}
		origEnd = &z.e[1]
	}
	if z.isClosed() {
		return true
	}
	if uint32(t.Seq) == origEnd.startSeq {
		return false
	}
	if t.Flags&craft.ACK == 0 && origEnd.state == zSynAckSent && z.e[1].state == zInactive && uint32(t.Seq) == z.e[1].startSeq {
		return false // a SYN and SYN-ACK seen in the wrong order
	}
	return true
}

// zeekRemoved reports whether Zeek would have removed the connection by
// capture time ts: its close-delay or reset timer ran out, or its attempt
// timer found the responder still silent.
func (c *conn) zeekRemoved(ts int64) bool {
	z := &c.z
	if z.removeAt != 0 && ts > z.removeAt {
		return true
	}
	if z.attemptAt != 0 && ts > z.attemptAt {
		if (z.e[0].state == zSynSent || z.e[0].state == zSynAckSent) && z.e[1].state == zInactive {
			return true
		}
		z.attemptAt = 0 // answered: the timer did nothing
	}
	return false
}

// zeekConnState is conn_state() of base/protocols/conn/main.zeek.
func (c *conn) zeekConnState() string {
	z := &c.z
	os, rs := z.e[0].state, z.e[1].state
	oInactive := os == zInactive || os == zPartial
	rInactive := rs == zInactive || rs == zPartial
	switch {
	case rs == zReset:
		if os == zSynSent || os == zSynAckSent || (os == zReset && c.zeekSize(0) == 0 && c.zeekSize(1) == 0) {
			return "REJ"
		}
		if oInactive {
			return "RSTRH"
		}
		return "RSTR"
	case os == zReset:
		if rInactive {
			if rstos0(z.hist[:z.nhist]) {
				return "RSTOS0"
			}
			return "OTH"
		}
		return "RSTO"
	case rs == zClosed && os == zClosed:
		return "SF"
	case os == zClosed:
		if rInactive {
			return "SH"
		}
		return "S2"
	case rs == zClosed:
		if oInactive {
			return "SHR"
		}
		return "S3"
	case os == zSynSent && rs == zInactive:
		return "S0"
	case os == zEstablished && rs == zEstablished:
		return "S1"
	}
	return "OTH"
}

// rstos0 matches the history against /^\^?S[^HAFGIQ]*R.*/ (main.zeek): an
// originator's SYN, then its RST, with nothing of an established
// connection between.
func rstos0(h []byte) bool {
	if len(h) > 0 && h[0] == '^' {
		h = h[1:]
	}
	if len(h) == 0 || h[0] != 'S' {
		return false
	}
	for _, b := range h[1:] {
		switch b {
		case 'R':
			return true
		case 'H', 'A', 'F', 'G', 'I', 'Q':
			return false
		}
	}
	return false
}

// zeekSize is TCP_Endpoint::Size: the bytes a side sent, from its
// sequence numbers (without SYN and FIN).
func (c *conn) zeekSize(d int) int64 {
	e, peer := &c.z.e[d], &c.z.e[1-d]
	if e.prev == zSynSent && e.state == zReset && peer.state == zInactive && e.ackSeq != e.startSeq {
		return 0 // a half-open connection found and aborted
	}
	last, ack := e.rel(e.lastSeq), e.rel(e.ackSeq)
	size := max(last, ack)
	if size > 0 {
		size--
	}
	if e.finCnt > 0 && size > 0 {
		size--
	}
	return max(size, 0)
}

// likelyServerPorts are the ports Zeek's default scripts add to
// likely_server_ports (each protocol analyzer's well-known ports): a
// connection seen without its SYN is flipped so that such a port is the
// responder's.
var likelyServerPorts = func() map[uint16]bool {
	m := map[uint16]bool{}
	for _, p := range []uint16{
		21, 2811, // FTP
		22,      // SSH
		25, 587, // SMTP
		53,                                        // DNS
		80, 81, 631, 1080, 3128, 8000, 8080, 8888, // HTTP
		88,       // Kerberos
		110,      // POP3
		135,      // DCE-RPC
		139, 445, // SMB
		143,       // IMAP
		389, 3268, // LDAP
		443, 563, 585, 614, 636, 989, 990, 992, 993, 995, 5223, // SSL/TLS
		502,        // Modbus
		1883,       // MQTT
		3306,       // MySQL
		3389,       // RDP
		5222, 5269, // XMPP
		5432,                         // PostgreSQL
		5900, 5901, 5902, 5903, 5904, // VNC (RFB)
		6379,                   // Redis
		6666, 6667, 6668, 6669, // IRC
		20000, // DNP3
	} {
		m[p] = true
	}
	return m
}()

// zeekFlipsNew is WantConnection's guess of the true responder for a
// connection whose first packet is not a plain SYN: the sender is the
// responder when its port is a likely server port and the other is not;
// when both are, only for a non-SYN packet from the lower port.
func zeekFlipsNew(f craft.Flags, src, dst uint16) bool {
	if f&craft.SYN != 0 && f&craft.ACK == 0 {
		return false
	}
	if !likelyServerPorts[src] {
		return false
	}
	if likelyServerPorts[dst] {
		return f&craft.SYN == 0 && src < dst
	}
	return true
}
