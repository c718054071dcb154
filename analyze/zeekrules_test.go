package analyze

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
)

// A scripted conversation between a client (198.18.0.1:40000) and a server
// (198.18.0.2:80, a likely server port), fed packet by packet through a
// worker, as a capture would be.
type step struct {
	at        time.Duration // capture time since the start
	fromSrv   bool
	flags     craft.Flags
	seq, ack  uint32 // relative to ISNs 1000 (client) and 5000 (server)
	n         int    // payload bytes
	badIPSum  bool   // corrupt the IPv4 header checksum
	tso       bool   // IPv4 total length 0, as captured before TSO
	absSeq    bool   // seq is absolute
	srcPort   uint16 // override the client's port (0: 40000)
	serverPrt uint16 // override the server's port (0: 80)
	win       uint16 // the window (0: 1000, unless zeroWin)
	zeroWin   bool   // a window of 0
	wsOpt     bool   // a window scale option of ws
	ws        uint8
	isnC      uint32 // the client's ISN (0: 1000)
	isnS      uint32 // the server's (0: 5000)
}

func c(at time.Duration, f craft.Flags, seq, ack uint32, n int) step {
	return step{at: at, flags: f, seq: seq, ack: ack, n: n}
}

func s(at time.Duration, f craft.Flags, seq, ack uint32, n int) step {
	return step{at: at, fromSrv: true, flags: f, seq: seq, ack: ack, n: n}
}

const (
	syn    = craft.SYN
	synack = craft.SYN | craft.ACK
	ack    = craft.ACK
	psh    = craft.PSH | craft.ACK
	fin    = craft.FIN | craft.ACK
	rst    = craft.RST
	rstack = craft.RST | craft.ACK
	ms     = time.Millisecond
)

func runSteps(t *testing.T, steps []step) []*Conn { return runStepsEach(t, steps, nil) }

// stepFlags runs steps and returns each packet's Wireshark analysis flags.
func stepFlags(t *testing.T, steps []step) []Flag {
	t.Helper()
	var flags []Flag
	runStepsEach(t, steps, func(p *PacketInfo) { flags = append(flags, p.Analysis) })
	return flags
}

// runStepsEach is runSteps with onPacket (when set) called for every packet.
func runStepsEach(t *testing.T, steps []step, onPacket func(*PacketInfo)) []*Conn {
	t.Helper()
	var out []*Conn
	w := newWorker(Config{MaxFlows: 64, IdleTimeout: 5 * time.Minute, OnPacket: onPacket}, func(c *Conn) { out = append(out, c) })
	for i, st := range steps {
		w.packet(int64(i+1), stepsBase+int64(st.at), st.packet(t))
	}
	w.flushAll()
	slices.SortFunc(out, func(a, b *Conn) int { return int(a.FirstPacket - b.FirstPacket) })
	return out
}

// stepsBase is the capture time of a conversation's start, ns.
var stepsBase = time.Unix(1700000000, 0).UnixNano()

// packet is the IPv4 datagram of the step.
func (st step) packet(t testing.TB) []byte {
	cp, sp := uint16(40000), uint16(80)
	if st.srcPort != 0 {
		cp = st.srcPort
	}
	if st.serverPrt != 0 {
		sp = st.serverPrt
	}
	win := uint16(1000)
	if st.win != 0 || st.zeroWin {
		win = st.win
	}
	seg := craft.Segment{Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"), TTL: 64,
		TCP: craft.TCP{SrcPort: cp, DstPort: sp, Flags: st.flags, Window: win}, Payload: make([]byte, st.n)}
	if st.wsOpt {
		seg.TCP.Options = []craft.Option{craft.WindowScaleOption(st.ws)}
	}
	isn, peer := uint32(1000), uint32(5000)
	if st.isnC != 0 {
		isn = st.isnC
	}
	if st.isnS != 0 {
		peer = st.isnS
	}
	if st.fromSrv {
		seg.Src, seg.Dst = seg.Dst, seg.Src
		seg.TCP.SrcPort, seg.TCP.DstPort = sp, cp
		isn, peer = peer, isn
	}
	seg.TCP.Seq = craft.Seq(isn + st.seq)
	if st.absSeq {
		seg.TCP.Seq = craft.Seq(st.seq)
	}
	if st.flags&craft.ACK != 0 {
		seg.TCP.Ack = craft.Seq(peer + st.ack)
	}
	ip := make([]byte, 60+st.n)
	n, err := seg.Encode(ip)
	if err != nil {
		t.Fatal(err)
	}
	ip = ip[:n]
	if st.badIPSum {
		ip[10] ^= 0xff
	}
	if st.tso {
		binary.BigEndian.PutUint16(ip[2:], 0)
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], ^ipv4Sum(ip[:20]))
	}
	return ip
}

func ipv4Sum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// handshake is a client's SYN, the SYN-ACK and the third ACK.
func handshake() []step {
	return []step{c(0, syn, 0, 0, 0), s(1*ms, synack, 0, 1, 0), c(2*ms, ack, 1, 1, 0)}
}

func then(a []step, b ...step) []step { return append(append([]step(nil), a...), b...) }

type want struct{ state, history string }

func check(t *testing.T, name string, got []*Conn, wants ...want) {
	t.Helper()
	if len(got) != len(wants) {
		var gs []string
		for _, c := range got {
			gs = append(gs, c.ConnState+" "+c.History)
		}
		t.Errorf("%s: %d connections %v, want %d %v", name, len(got), gs, len(wants), wants)
		return
	}
	for i, w := range wants {
		if got[i].ConnState != w.state || got[i].History != w.history {
			t.Errorf("%s: connection %d is %s %s, want %s %s", name, i+1, got[i].ConnState, got[i].History, w.state, w.history)
		}
	}
}

// TestZeekRules holds, rule by rule, the semantics read from Zeek's TCP
// analyzer (issue 11's list): each case names the rule it pins down.
func TestZeekRules(t *testing.T) {
	closed := then(handshake(), c(3*ms, fin, 1, 1, 0), s(4*ms, ack, 1, 2, 0), s(5*ms, fin, 1, 2, 0), c(6*ms, ack, 2, 2, 0))
	cases := []struct {
		name  string
		steps []step
		want  []want
	}{
		// 1. A RST after both FINs leaves SF; so does a FIN after the
		// peer's FIN and RST.
		{"rst after both fins", then(closed, c(7*ms, rst, 2, 0, 0)), []want{{"SF", "ShAFafR"}}},
		{"fin after the peer's fin and rst", then(handshake(), s(3*ms, fin, 1, 1, 0), s(4*ms, rst, 2, 0, 0), c(5*ms, fin, 1, 2, 0)),
			[]want{{"SF", "ShAfrF"}}},
		// 2. SYN and SYN-ACK only: S1.
		{"syn and syn-ack", handshake()[:2], []want{{"S1", "Sh"}}},
		// 3. An originator waiting for the SYN-ACK is not promoted by its
		// own ACKs and data: S0.
		{"syn ack data, silent responder", []step{c(0, syn, 0, 0, 0), c(1*ms, ack, 1, 1, 0), c(2*ms, psh, 1, 1, 10)}, []want{{"S0", "SAD"}}},
		// 4. A bad IPv4 header checksum drops the packet outright: no c,
		// not counted.
		{"bad ip header checksum", then(handshake()[:1], step{at: 1 * ms, fromSrv: true, flags: synack, ack: 1, badIPSum: true}), []want{{"S0", "S"}}},
		// 5. IPv4 total length 0 (TSO): the length comes from the capture.
		{"tso", then(handshake(), step{at: 3 * ms, flags: psh, seq: 1, ack: 1, n: 3000, tso: true}, s(4*ms, ack, 1, 3001, 0)),
			[]want{{"S1", "ShADa"}}},
		// 6. The close delay runs on capture time: 5 s after both FINs a
		// new packet (here a late SYN with a new ISN) is a new connection.
		{"close delay", then(closed, step{at: 6 * time.Second, flags: syn, seq: 77777, absSeq: true}), []want{{"SF", "ShAFaf"}, {"S0", "S"}}},
		// 7. 5 s after an unanswered SYN the connection is gone: the same
		// SYN again starts another.
		{"attempt timer", []step{c(0, syn, 0, 0, 0), c(6*time.Second, syn, 0, 0, 0)}, []want{{"S0", "S"}, {"S0", "S"}}},
		{"syn retransmitted within 5 s", []step{c(0, syn, 0, 0, 0), c(3*time.Second, syn, 0, 0, 0)}, []want{{"S0", "S"}}},
		// 8. Once a side has closed, any SYN starts a new connection, even
		// with the same ISN.
		{"syn after close", then(handshake(), c(3*ms, fin, 1, 1, 0), c(4*ms, syn, 0, 0, 0)), []want{{"S2", "ShAF"}, {"S0", "S"}}},
		// 9. A content gap is a hole the peer acknowledges while it is
		// unfilled, once per hole, on an established connection.
		{"content gap", then(handshake(), c(3*ms, psh, 1, 1, 100), c(4*ms, psh, 201, 1, 100), s(5*ms, ack, 1, 301, 0), s(6*ms, ack, 1, 301, 0)),
			[]want{{"S1", "ShADaG"}}},
		// (Zeek counts data below its highest sequence number as a
		// retransmission: T, but no gap.)
		{"hole filled before the ack", then(handshake(), c(3*ms, psh, 201, 1, 100), c(4*ms, psh, 1, 1, 200), s(5*ms, ack, 1, 301, 0)),
			[]want{{"S1", "ShADTa"}}},
		// 10. The responder of a connection seen without its SYN is guessed
		// from Zeek's likely server ports, not "any port below 1024".
		{"mid-stream from port 80", []step{s(0, psh, 1, 1, 10), c(1*ms, ack, 1, 11, 0)}, []want{{"OTH", "^dA"}}},
		{"mid-stream from port 900", []step{{at: 0, fromSrv: true, flags: psh, seq: 1, ack: 1, n: 10, serverPrt: 900}, {at: 1 * ms, flags: ack, seq: 1, ack: 11, serverPrt: 900}},
			[]want{{"OTH", "Da"}}},
		// 11. S, H, F and R repeat at a new sequence number; SYN+FIN is Q;
		// RSTOS0 and RSTRH follow the history.
		{"fin again at a new seq", then(handshake(), c(3*ms, fin, 1, 1, 0), c(4*ms, fin, 5, 1, 0)), []want{{"S2", "ShAFF"}}},
		{"fin retransmitted", then(handshake(), c(3*ms, fin, 1, 1, 0), c(4*ms, fin, 1, 1, 0)), []want{{"S2", "ShAF"}}},
		{"syn+fin", []step{c(0, craft.SYN|craft.FIN, 0, 0, 0)}, []want{{"SH", "Q"}}},
		{"rstos0", []step{c(0, syn, 0, 0, 0), c(1*ms, rst, 1, 0, 0)}, []want{{"RSTOS0", "SR"}}},
		{"rstrh", []step{s(0, synack, 0, 1, 0), s(1*ms, rst, 1, 0, 0)}, []want{{"RSTRH", "^hr"}}},
		{"rej", []step{c(0, syn, 0, 0, 0), s(1*ms, rstack, 0, 1, 0)}, []want{{"REJ", "Sr"}}},
	}
	for _, tc := range cases {
		check(t, tc.name, runSteps(t, tc.steps), tc.want...)
	}
}

// TestZeekMissedBytesAndRetransmissions: missed_bytes counts the hole (and
// does not wrap), 't' comes from data that brings nothing new.
func TestZeekMissedBytesAndRetransmissions(t *testing.T) {
	got := runSteps(t, then(handshake(), c(3*ms, psh, 1, 1, 100), c(4*ms, psh, 2901, 1, 100), s(5*ms, ack, 1, 3001, 0),
		c(6*ms, psh, 2901, 1, 100)))
	if len(got) != 1 || got[0].MissedBytes != 2800 || !strings.Contains(got[0].History, "T") || !strings.Contains(got[0].History, "G") {
		t.Errorf("got %+v", got)
	}
}

// TestRetransmittedSYN: the handshake RTT runs from the SYN that the SYN-ACK
// answers (the last one), so a retransmitted SYN neither inflates it nor
// turns a later retransmission into "out-of-order" through a huge initial
// RTT.
func TestRetransmittedSYN(t *testing.T) {
	got := runSteps(t, []step{c(0, syn, 0, 0, 0), c(1000*ms, syn, 0, 0, 0), s(1001*ms, synack, 0, 1, 0), c(1002*ms, ack, 1, 1, 0),
		c(1003*ms, psh, 1, 1, 100), c(1203*ms, psh, 1, 1, 100)})
	if len(got) != 1 {
		t.Fatalf("%d connections", len(got))
	}
	cn := got[0]
	if cn.SynRTTms != 1 {
		t.Errorf("SYN to SYN-ACK = %v ms, want 1", cn.SynRTTms)
	}
	if r, o := cn.Anomalies.Get(FlagRetransmission), cn.Anomalies.Get(FlagOutOfOrder); r != 2 || o != 0 {
		t.Errorf("retransmissions %d (want 2: the SYN and the data), out-of-order %d (want 0)", r, o)
	}
}

// TestWiresharkRulesFromRandomConversations pins the rules of tshark 4.0
// that the random conversations (wsrandom_test.go) found, one case each;
// tshark gave these flags on the same packets.
func TestWiresharkRulesFromRandomConversations(t *testing.T) {
	rstFirst := step{fromSrv: true, flags: rstack, seq: 1, ack: 1, isnC: 111111}
	for _, tc := range []struct {
		name  string
		steps []step
		frame int // 1-based
		want  Flag
	}{
		{"an ACK past everything sent is flagged", then(handshake(), c(3*ms, psh, 1, 1, 100), s(4*ms, ack, 1, 201, 0)), 5, FlagACKedUnseen},
		{"once, until the other side's ACK moves", then(handshake(), c(3*ms, psh, 1, 1, 100), s(4*ms, ack, 1, 201, 0),
			c(5*ms, psh, 101, 1, 100), s(6*ms, ack, 1, 301, 0)), 7, 0},
		{"and again once it moved", then(handshake(), c(3*ms, psh, 1, 1, 100), s(4*ms, ack, 1, 201, 0),
			s(5*ms, psh, 1, 201, 10), c(6*ms, psh, 101, 11, 100), s(7*ms, ack, 11, 301, 0)), 8, FlagACKedUnseen},
		{"an ACK past a hole is flagged every time", then(handshake(), c(3*ms, psh, 1, 1, 100), c(4*ms, psh, 201, 1, 100), s(5*ms, ack, 1, 301, 0),
			c(6*ms, psh, 401, 1, 100), s(7*ms, ack, 1, 501, 0)), 8, FlagACKedUnseen},
		{"a retransmission answering it within 20 ms is fast", then(handshake(), c(3*ms, psh, 1, 1, 100), s(4*ms, fin, 1, 101, 0),
			c(50*ms, psh, 101, 1, 100), s(51*ms, fin, 1, 209, 0)), 7, FlagRetransmission | FlagFastRetransmission | FlagACKedUnseen},
		{"past a hole it is not", then(handshake(), c(3*ms, psh, 1, 1, 100), s(4*ms, fin, 1, 101, 0),
			c(50*ms, psh, 101, 1, 100), c(60*ms, psh, 301, 1, 100), s(61*ms, fin, 1, 401, 0)), 8, FlagRetransmission | FlagACKedUnseen},
		{"a SYN after a lone RST reuses the ports", []step{rstFirst, c(1*ms, syn, 0, 0, 0), s(2*ms, synack, 0, 1, 0)}, 2, FlagPortReuse},
		{"its SYN-ACK does not", []step{rstFirst, c(1*ms, syn, 0, 0, 0), s(2*ms, synack, 0, 1, 0)}, 3, 0},
		{"a SYN-ACK's window is not scaled", []step{{flags: syn, wsOpt: true, ws: 4}, {at: 1 * ms, fromSrv: true, flags: synack, ack: 1, wsOpt: true, ws: 5},
			c(2*ms, ack, 1, 1, 0), c(3*ms, psh, 1, 1, 1000)}, 4, FlagWindowFull},
	} {
		flags := stepFlags(t, tc.steps)
		if got := flags[tc.frame-1] &^ (FlagBadChecksum | FlagChallengeACK); got != tc.want {
			t.Errorf("%s: frame %d has %v, want %v", tc.name, tc.frame, got.Names(), tc.want.Names())
		}
	}
}
