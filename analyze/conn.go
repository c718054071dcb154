package analyze

import (
	"net/netip"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/rulebook"
)

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
	wsc        wsConv   // Wireshark's conversation (may span Zeek connections)
	z          zeekConn // Zeek's view: endpoint states, history, gaps, timers
	zflip      bool     // Zeek swapped the roles after a SYN-ACK came before its SYN
	complete   uint8
	pkts       [2]int64
	bytes      [2]int64
	ipBytes    [2]int64
	counts     Counts
	synTime    int64
	synAckTime int64
	ackTime    int64
	reused     bool
	evicted    bool
	enc        craft.Encaps // the tunnels its packets came in
	sawSYN     bool
	file       int    // index of its capture file
	uid        string // for per-packet output, made on demand
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
	wsLen   int // the TCP payload length Wireshark counts (see packetIn)
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
	c.z.init()
	if zeekFlipsNew(t.Flags, src.Port(), dst.Port()) {
		// Without its SYN, the connection's responder is guessed from the
		// ports, as Zeek does; the history marks the flip with '^'.
		c.orig, c.resp, c.flipped = dst, src, true
		c.z.addHist('^')
	}
	if t.Flags&craft.SYN == 0 {
		// Mid-stream: both ends are taken to be synchronized.
		c.tr.Init(rulebook.TrackerConfig{Record: stream, Transitions: true, MidStream: true})
	}
	c.wsc.init(c.orig)
	c.first, c.firstNum = pk.ts, pk.num
}

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
		zd := dir
		if c.zflip {
			zd = 1 - dir
		}
		c.z.scaled(zd, scChecksum)
		// Wireshark checks no TCP checksum by default: its sequence
		// analysis takes the packet as any other.
		flags := c.wireshark(dir, pk) | FlagBadChecksum
		c.counts.add(flags)
		return flags
	}
	flags := c.wireshark(dir, pk)
	c.zeekPacket(dir, pk)
	role := rulebook.Client
	if dir == 1 {
		role = rulebook.Server
	}
	seg := rulebook.SegOf(p, int(pk.num), time.Unix(0, pk.ts), role)
	c.tr.Observe(&seg)
	if seg.Annotations&uint16(rulebook.NoteChallengeACK) != 0 {
		flags |= FlagChallengeACK
	}
	f := t.Flags
	if f&craft.SYN != 0 {
		if f&craft.ACK == 0 {
			c.complete |= compSYN
			// The SYN-ACK acknowledges the last SYN: a retransmitted SYN
			// restarts the handshake clock (tshark's most recent SYN too).
			if c.synAckTime == 0 || c.synTime == 0 {
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
				c.wsc.irtt = pk.ts - c.synTime
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
	}
	c.counts.add(flags)
	return flags
}

// wireshark computes the tcp.analysis flags of a segment as Wireshark's
// tcp_analyze_sequence_number does, check for check and in the same order,
// so that the counts agree with tshark's. A zero nextseq or maxseqtobeacked
// means "unknown" there, and so here.

// failureCounts copies every rule's failure count into to.
func (c *conn) failureCounts(to *[rulebook.NumRules]uint32) {
	for r := range to {
		to[r] = c.tr.Verdict(rulebook.RuleID(r)).Failures
	}
}

// violatedSince returns the rules (one bit each) whose failure count grew
// since failureCounts wrote before.
func (c *conn) violatedSince(before *[rulebook.NumRules]uint32) uint32 {
	var v uint32
	for r := range before {
		if c.tr.Verdict(rulebook.RuleID(r)).Failures != before[r] {
			v |= 1 << r
		}
	}
	return v
}
