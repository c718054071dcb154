package analyze

import (
	"net/netip"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/rulebook"
)

// Zeek's endpoint states (TCP_ENDPOINT_* in its TCP analyzer).
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

// dirState is Wireshark's per-direction sequence analysis state
// (tcp_analyze_seq_info in packet-tcp.c).
type dirState struct {
	nextseq         craft.Seq // 0: unknown
	nextTime        int64
	maxSeqToBeAcked craft.Seq
	lastack         craft.Seq
	lastackTime     int64
	window          uint16
	hasWin          bool
	winScale        int8 // -1: unknown, -2: no scaling
	dupacks         int
	lastFlags       Flag
}

// conn is one connection being analyzed.
type conn struct {
	key        flowKey
	orig, resp netip.AddrPort
	flipped    bool
	first      int64 // ns since the epoch
	last       int64
	firstNum   int64
	lastNum    int64
	tr         rulebook.Tracker
	ws         [2]dirState
	zs         [2]zeekState
	hist       [32]byte
	nhist      uint8
	histSeen   [2]uint32 // letters seen, bit (letter - 'a')
	scaled     [2][4]uint32
	complete   uint8
	pkts       [2]int64
	bytes      [2]int64
	ipBytes    [2]int64
	missed     int64
	counts     Counts
	synTime    int64
	synAckTime int64
	ackTime    int64
	irtt       int64 // SYN to first ACK, for the out-of-order threshold
	reused     bool
	evicted    bool
	sawSYN     bool
	closed     bool // both FINs or a RST seen: a new SYN starts a new connection
	prev, next *conn
	stream     bool // record segments for a ladder
	gen        uint32
	done       bool // finished and handed back
}

// pkt is one decoded TCP packet handed to a connection.
type pkt struct {
	num     int64
	ts      int64
	p       *craft.Packet
	ipLen   int
	badSum  bool
	fromSrc netip.AddrPort
}

// Wireshark completeness bits (tcp.completeness).
const (
	compSYN    = 1
	compSYNACK = 2
	compACK    = 4
	compDATA   = 8
	compFIN    = 16
	compRST    = 32
)

func (c *conn) init(k flowKey, pk *pkt, stream bool) {
	// A reused conn keeps its tracker's slices (Init empties them).
	tr, gen := c.tr, c.gen+1
	*c = conn{key: k, stream: stream, tr: tr, gen: gen}
	c.tr.Init(rulebook.TrackerConfig{Record: stream, Transitions: true})
	t := &pk.p.TCP
	src := pk.fromSrc
	dst := netip.AddrPortFrom(pk.p.Dst(), t.DstPort)
	c.orig, c.resp = src, dst
	switch {
	case t.Flags&craft.SYN != 0 && t.Flags&craft.ACK != 0:
		// The SYN was missed: the sender of the SYN-ACK is the responder
		// (Zeek's history marks the flip with '^').
		c.orig, c.resp, c.flipped = dst, src, true
	case t.Flags&craft.SYN == 0 && likelyServer(src.Port()) && !likelyServer(dst.Port()):
		c.orig, c.resp, c.flipped = dst, src, true
	}
	if c.flipped {
		c.addHist('^')
	}
	if t.Flags&craft.SYN == 0 {
		// Mid-stream: both ends are taken to be synchronized.
		c.tr.Init(rulebook.TrackerConfig{Record: stream, Transitions: true, MidStream: true})
	}
	c.ws[0].winScale, c.ws[1].winScale = -1, -1
	c.first, c.firstNum = pk.ts, pk.num
}

// likelyServer approximates Zeek's likely_server_ports for a capture that
// starts mid-connection: well-known ports.
func likelyServer(p uint16) bool { return p > 0 && p < 1024 }

func (c *conn) addHist(b byte) {
	if int(c.nhist) < len(c.hist) {
		c.hist[c.nhist] = b
		c.nhist++
	}
}

// histOnce records a history letter once per direction (upper case for
// the originator).
func (c *conn) histOnce(dir int, letter byte) {
	bit := uint32(1) << (letter - 'a')
	if c.histSeen[dir]&bit != 0 {
		return
	}
	c.histSeen[dir] |= bit
	if dir == 0 {
		letter -= 'a' - 'A'
	}
	c.addHist(letter)
}

// histScaled records c, g, t, w the 1st, 10th, 100th, ... time (Zeek's
// ScaledHistoryEntry).
func (c *conn) histScaled(dir, idx int, letter byte) {
	c.scaled[dir][idx]++
	n := c.scaled[dir][idx]
	for th := uint32(1); th <= n; th *= 10 {
		if n == th {
			if dir == 0 {
				letter -= 'a' - 'A'
			}
			c.addHist(letter)
			return
		}
		if th > 1e8 {
			return
		}
	}
}

// observe analyzes one packet of the connection and returns its flags.
func (c *conn) observe(pk *pkt) Flag {
	p := pk.p
	t := &p.TCP
	dir := 0
	if pk.fromSrc != c.orig {
		dir = 1
	}
	c.last, c.lastNum = pk.ts, pk.num
	c.pkts[dir]++
	c.ipBytes[dir] += int64(pk.ipLen)
	if pk.badSum {
		// Zeek records the bad checksum and ignores the packet.
		c.histScaled(dir, 0, 'c')
		c.counts.add(FlagBadChecksum)
		return FlagBadChecksum
	}
	flags := c.wireshark(dir, pk)
	c.zeek(dir, pk, flags)
	role := rulebook.Client
	if dir == 1 {
		role = rulebook.Server
	}
	seg := rulebook.SegOf(p, int(pk.num), time.Unix(0, pk.ts), role)
	c.tr.Observe(&seg)
	f := t.Flags
	if f&craft.SYN != 0 {
		if f&craft.ACK == 0 {
			c.complete |= compSYN
			if c.synTime == 0 {
				c.synTime = pk.ts
			}
			c.sawSYN = true
		} else {
			c.complete |= compSYNACK
			if c.synAckTime == 0 {
				c.synAckTime = pk.ts
			}
		}
	} else if f&craft.ACK != 0 && c.complete&(compSYN|compSYNACK) == compSYN|compSYNACK && dir == 0 {
		if c.complete&compACK == 0 {
			c.ackTime = pk.ts
			if c.synTime != 0 {
				c.irtt = pk.ts - c.synTime
			}
		}
		c.complete |= compACK
	}
	if p.PayloadLen > 0 {
		c.complete |= compDATA
		c.bytes[dir] += int64(p.PayloadLen)
	}
	if f&craft.FIN != 0 {
		c.complete |= compFIN
	}
	if f&craft.RST != 0 {
		c.complete |= compRST
		c.closed = true
	}
	if c.tr.Side[0].FIN && c.tr.Side[1].FIN {
		c.closed = true
	}
	c.counts.add(flags)
	return flags
}

// wireshark computes the tcp.analysis flags of a segment as Wireshark's
// tcp_analyze_sequence_number does, check for check and in the same order,
// so that the counts agree with tshark's. A zero nextseq or maxseqtobeacked
// means "unknown" there, and so here.
func (c *conn) wireshark(dir int, pk *pkt) Flag {
	fwd, rev := &c.ws[dir], &c.ws[1-dir]
	p := pk.p
	t := &p.TCP
	seq, ack, win := t.Seq, t.Ack, t.Window
	seglen := uint32(p.PayloadLen)
	synfinrst := t.Flags&(craft.SYN|craft.FIN|craft.RST) != 0
	var fl Flag

	if t.Flags&craft.SYN != 0 {
		if ws, ok := t.WindowScale(); ok {
			fwd.winScale = int8(ws)
		} else {
			fwd.winScale = -2
		}
		if t.Flags&craft.ACK != 0 && (fwd.winScale == -2 || rev.winScale == -2) {
			// Scaling is on only when both SYNs carried the option.
			fwd.winScale, rev.winScale = -2, -2
		}
	}

	func() {
		if seglen == 1 && seq == fwd.nextseq && rev.hasWin && rev.window == 0 {
			fl |= FlagZeroWindowProbe
			return
		}
		if win == 0 && !synfinrst {
			fl |= FlagZeroWindow
		}
		if fwd.nextseq != 0 && seq.After(fwd.nextseq) && t.Flags&craft.RST == 0 {
			fl |= FlagLostSegment
		}
		if seglen <= 1 && seq == fwd.nextseq-1 && !synfinrst {
			fl |= FlagKeepAlive
		}
		if seglen == 0 && win != 0 && win != fwd.window && seq == fwd.nextseq && ack == fwd.lastack && !synfinrst {
			fl |= FlagWindowUpdate
		}
		if seglen > 0 && rev.winScale != -1 && !synfinrst {
			shift := uint(0)
			if rev.winScale > 0 {
				shift = uint(rev.winScale)
			}
			if seq.Add(seglen) == rev.lastack.Add(uint32(rev.window)<<shift) {
				fl |= FlagWindowFull
			}
		}
		if seglen == 0 && win != 0 && win == fwd.window && seq == fwd.nextseq && ack == fwd.lastack && rev.lastFlags&FlagKeepAlive != 0 && !synfinrst {
			fl |= FlagKeepAliveACK
			return
		}
		if seglen == 0 && win == 0 && win == fwd.window && seq == fwd.nextseq && ack == fwd.lastack && rev.lastFlags&FlagZeroWindowProbe != 0 && !synfinrst {
			return // zero window probe ACK
		}
		if seglen == 0 && win != 0 && win == fwd.window && seq == fwd.nextseq && ack == fwd.lastack && !synfinrst {
			if fwd.dupacks == -1 {
				fwd.dupacks = 1 // neutralizes an "ACKed unseen segment"
			} else {
				fwd.dupacks++
			}
			fl |= FlagDuplicateACK
		}
	}()
	if ack != fwd.lastack {
		fwd.dupacks = 0
	}
	if rev.maxSeqToBeAcked != 0 && ack.After(rev.maxSeqToBeAcked) && t.Flags&craft.ACK != 0 {
		if rev.maxSeqToBeAcked.After(rev.nextseq) {
			rev.maxSeqToBeAcked = rev.nextseq
			fl |= FlagACKedUnseen
		} else {
			// One report per lost segment, even while the other side only
			// sends pure ACKs.
			if rev.dupacks == 0 {
				fl |= FlagACKedUnseen
			}
			rev.dupacks = -1
		}
	}
	if seglen > 0 || t.Flags&(craft.SYN|craft.FIN) != 0 {
		notAdvanced := fwd.nextseq != 0 && seq.LessThan(fwd.nextseq)
		if seglen > 1 && fwd.nextseq-1 == seq {
			notAdvanced = false // new data after a zero window probe
		}
		ooo := int64(3 * time.Millisecond)
		if c.irtt > 0 {
			ooo = c.irtt
		}
		synfin := uint32(0)
		if t.Flags&(craft.SYN|craft.FIN) != 0 {
			synfin = 1
		}
		switch {
		case fl&FlagKeepAlive != 0:
		case seglen > 0 && rev.lastack != 0 && !seq.Add(seglen).After(rev.lastack):
			fl |= FlagSpuriousRetransmission | FlagRetransmission
		case notAdvanced && rev.dupacks >= 2 && rev.lastack == seq && pk.ts-rev.lastackTime < int64(20*time.Millisecond):
			fl |= FlagFastRetransmission | FlagRetransmission
		case notAdvanced && pk.ts-fwd.nextTime < ooo && fwd.nextseq != seq.Add(seglen+synfin):
			fl |= FlagOutOfOrder
		case notAdvanced:
			fl |= FlagRetransmission
		}
	}
	next := seq.Add(seglen)
	if t.Flags&(craft.SYN|craft.FIN) != 0 {
		next++
	}
	if next.After(fwd.nextseq) || fwd.nextseq == 0 {
		if fl&FlagZeroWindowProbe == 0 {
			fwd.nextseq, fwd.nextTime = next, pk.ts
		}
	}
	if seq == fwd.maxSeqToBeAcked || fwd.maxSeqToBeAcked == 0 {
		if fl&FlagZeroWindowProbe == 0 {
			fwd.maxSeqToBeAcked = fwd.nextseq
		}
	}
	fwd.window, fwd.hasWin = win, true
	fwd.lastack, fwd.lastackTime = ack, pk.ts
	fwd.lastFlags = fl
	return fl
}

// zeek updates Zeek's endpoint states and history for a segment.
func (c *conn) zeek(dir int, pk *pkt, fl Flag) {
	t := &pk.p.TCP
	f := t.Flags
	e, peer := &c.zs[dir], &c.zs[1-dir]
	n := pk.p.PayloadLen
	if f&craft.SYN != 0 {
		if f&craft.ACK != 0 {
			c.histOnce(dir, 'h')
			if *e == zInactive || *e == zSynSent {
				*e = zSynAckSent
			}
		} else {
			c.histOnce(dir, 's')
			if *e == zInactive {
				*e = zSynSent
			}
		}
		if f&(craft.FIN|craft.RST) != 0 {
			c.histOnce(dir, 'q')
		}
	}
	if f&craft.FIN != 0 {
		c.histOnce(dir, 'f')
	}
	if f&craft.RST != 0 {
		c.histOnce(dir, 'r')
	}
	if n > 0 {
		c.histOnce(dir, 'd')
	} else if f&craft.ACK != 0 && f&(craft.SYN|craft.FIN|craft.RST) == 0 {
		c.histOnce(dir, 'a')
	}
	if t.Window == 0 && f&(craft.SYN|craft.FIN|craft.RST) == 0 {
		c.histScaled(dir, 3, 'w')
	}
	if n > 0 && fl&(FlagRetransmission|FlagSpuriousRetransmission) != 0 {
		c.histScaled(dir, 2, 't')
	}
	if fl&FlagLostSegment != 0 || fl&FlagACKedUnseen != 0 {
		// Data the reassembler never saw: a content gap in the direction
		// that sent (or should have sent) it.
		gapDir := dir
		if fl&FlagLostSegment == 0 {
			gapDir = 1 - dir
			c.missed += int64(t.Ack - c.ws[1-dir].nextseq)
		} else {
			c.missed += int64(t.Seq - c.ws[dir].nextseq)
		}
		c.histScaled(gapDir, 1, 'g')
	}
	switch {
	case f&craft.RST != 0:
		*e = zReset
	case f&craft.FIN != 0:
		*e = zClosed
	case f&craft.SYN == 0 && (f&craft.ACK != 0 || n > 0):
		switch *e {
		case zInactive:
			if *peer == zSynAckSent || *peer == zSynSent && dir == 1 {
				*e = zEstablished
			} else {
				*e = zPartial
			}
		case zSynSent, zSynAckSent:
			*e = zEstablished
		}
		if *e == zEstablished && (*peer == zSynAckSent || *peer == zSynSent) {
			*peer = zEstablished
		}
	}
}

// zeekConnState is Zeek's conn_state for the connection
// (base/protocols/conn/main.zeek, conn_state()).
func (c *conn) zeekConnState() string {
	os, rs := c.zs[0], c.zs[1]
	oInactive := os == zInactive || os == zPartial
	rInactive := rs == zInactive || rs == zPartial
	switch {
	case rs == zReset:
		if os == zSynSent || os == zSynAckSent || (os == zReset && c.bytes[0] == 0 && c.bytes[1] == 0) {
			return "REJ"
		}
		if oInactive {
			return "RSTRH"
		}
		return "RSTR"
	case os == zReset:
		if rInactive {
			return "RSTOS0"
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
