package analyze

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
)

// TestZeekConnStateTable holds conn_state() of main.zeek: each row is the
// two endpoints' states (and, where it decides, the history).
func TestZeekConnStateTable(t *testing.T) {
	for _, tc := range []struct {
		orig, resp zeekState
		hist       string
		want       string
	}{
		{zSynSent, zInactive, "S", "S0"},
		{zSynSent, zReset, "Sr", "REJ"},
		{zEstablished, zEstablished, "ShAD", "S1"},
		{zClosed, zClosed, "ShADadFf", "SF"},
		{zClosed, zEstablished, "ShADaF", "S2"},
		{zEstablished, zClosed, "ShADaf", "S3"},
		{zReset, zEstablished, "ShADR", "RSTO"},
		{zReset, zInactive, "SR", "RSTOS0"},
		{zReset, zInactive, "^SR", "RSTOS0"},
		{zReset, zInactive, "SAR", "OTH"}, // not RSTOS0: A between S and R
		{zEstablished, zReset, "ShADr", "RSTR"},
		{zPartial, zReset, "Dr", "RSTRH"},
		{zClosed, zInactive, "SF", "SH"},
		{zInactive, zClosed, "hf", "SHR"},
		{zPartial, zPartial, "Dd", "OTH"},
	} {
		var c conn
		c.z.init()
		c.z.e[0].state, c.z.e[1].state = tc.orig, tc.resp
		for _, b := range []byte(tc.hist) {
			c.z.addHist(b)
		}
		if got := c.zeekConnState(); got != tc.want {
			t.Errorf("%v/%v %s: %s, want %s", tc.orig, tc.resp, tc.hist, got, tc.want)
		}
	}
}

// TestHistoryScaling: t, w, c, g are recorded the 1st, 10th, 100th ...
// time; a and d once per direction.
func TestHistoryScaling(t *testing.T) {
	var z zeekConn
	z.init()
	for i := 0; i < 120; i++ {
		z.scaled(0, scRxmit)
	}
	z.checkHistory(1, histData, 'D')
	z.checkHistory(1, histData, 'D')
	if got := string(z.hist[:z.nhist]); got != "TTTd" {
		t.Errorf("history %q, want TTTd (1st, 10th, 100th retransmission, then one d)", got)
	}
}

func TestFlowKeyAndShardAreSymmetric(t *testing.T) {
	a, b := netip.MustParseAddrPort("198.18.0.1:40000"), netip.MustParseAddrPort("198.18.0.2:80")
	if keyOf(a, b) != keyOf(b, a) {
		t.Error("keyOf depends on direction")
	}
	mk := func(src, dst netip.AddrPort) []byte {
		seg := craft.Segment{Src: src.Addr(), Dst: dst.Addr(), TTL: 64, TCP: craft.TCP{SrcPort: src.Port(), DstPort: dst.Port(), Flags: craft.ACK}}
		buf := make([]byte, 128)
		n, _ := seg.Encode(buf)
		return buf[:n]
	}
	h1, ok1 := shardOf(mk(a, b))
	h2, ok2 := shardOf(mk(b, a))
	if !ok1 || !ok2 || h1 != h2 {
		t.Errorf("shard %d/%d (%v %v)", h1, h2, ok1, ok2)
	}
	a6, b6 := netip.MustParseAddrPort("[2001:db8::1]:1"), netip.MustParseAddrPort("[2001:db8::2]:2")
	h1, _ = shardOf(mk(a6, b6))
	h2, _ = shardOf(mk(b6, a6))
	if h1 != h2 {
		t.Error("ipv6 shard depends on direction")
	}
	// The same flow with a hop-by-hop, a destination options or an atomic
	// fragment header lands on the same worker (they are the same
	// connection, whatever --workers says).
	plain := mk(a6, b6)
	for _, ext := range []struct {
		name  string
		proto byte
		hdr   []byte
	}{
		{"hop-by-hop", 0, []byte{6, 0, 1, 4, 0, 0, 0, 0}},
		{"destination options", 60, []byte{6, 0, 1, 4, 0, 0, 0, 0}},
		{"atomic fragment", 44, []byte{6, 0, 0, 0, 0, 0, 0, 1}},
	} {
		pkt := append(append(append([]byte{}, plain[:40]...), ext.hdr...), plain[40:]...)
		pkt[6] = ext.proto
		binary.BigEndian.PutUint16(pkt[4:], binary.BigEndian.Uint16(plain[4:])+8)
		if h, ok := shardOf(pkt); !ok || h != h1 {
			t.Errorf("%s: shard %d (%v), want %d as without it", ext.name, h, ok, h1)
		}
	}
}

// synthPcap writes n single-SYN flows (distinct source ports and hosts).
func synthPcap(t testing.TB, n int) []byte {
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	w.WriteFileHeader(65535, layers.LinkTypeRaw)
	pkt := make([]byte, 128)
	base := time.Unix(1700000000, 0)
	for i := 0; i < n; i++ {
		src := netip.AddrFrom4([4]byte{198, 18, byte(i >> 16), byte(i >> 8)})
		seg := craft.Segment{Src: src, Dst: netip.MustParseAddr("198.19.0.1"),
			TCP: craft.TCP{SrcPort: uint16(1024 + i%50000), DstPort: 80, Seq: craft.Seq(i), Flags: craft.SYN, Window: 1000}}
		l, _ := seg.Encode(pkt)
		if err := w.WritePacket(ciAt(base.Add(time.Duration(i)*time.Microsecond), l), pkt[:l]); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestFlowTableIsBounded feeds many one-packet flows through a small flow
// table: every flow must still be reported, the excess flushed early.
func TestFlowTableIsBounded(t *testing.T) {
	const flows = 20000
	r, err := capture.NewFileReader(bytes.NewReader(synthPcap(t, flows)), "synthetic")
	if err != nil {
		t.Fatal(err)
	}
	var got int
	a := New(Config{Workers: 2, MaxFlows: 1000})
	st, err := a.Run(context.Background(), r, func(c *Conn) {
		got++
		if c.ConnState != "S0" || c.Handshake != HSNoAnswer {
			t.Fatalf("flow %s: %s %s", c.Orig, c.ConnState, c.Handshake)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != flows || st.Conns != flows || st.Evicted < flows-2*1000 {
		t.Errorf("reported %d of %d flows, %d evicted", got, flows, st.Evicted)
	}
}

// TestIdleTimeoutFlushes checks that connections idle longer than the
// timeout (in capture time) are flushed during the run.
func TestIdleTimeoutFlushes(t *testing.T) {
	r, _ := capture.NewFileReader(bytes.NewReader(synthPcap(t, 40000)), "synthetic")
	var evicted, total int
	a := New(Config{Workers: 1, IdleTimeout: time.Millisecond, MaxFlows: 100000})
	st, err := a.Run(context.Background(), r, func(c *Conn) {
		total++
		if c.Evicted {
			evicted++
		}
	})
	if err != nil || total != 40000 || evicted != 0 || st.Evicted != 0 || st.Expired < 30000 {
		t.Errorf("total %d evicted %d expired %d (%v)", total, evicted, st.Expired, err)
	}
}

// FuzzAnalyzePacket feeds arbitrary IP datagrams to a worker: it must not
// panic, and the connection it reports must be consistent.
func FuzzAnalyzePacket(f *testing.F) {
	seg := craft.Segment{Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"),
		TCP: craft.TCP{SrcPort: 1, DstPort: 2, Seq: 5, Flags: craft.SYN, Options: []craft.Option{craft.MSSOption(1460), craft.WindowScaleOption(7)}}}
	b := make([]byte, 128)
	n, _ := seg.Encode(b)
	f.Add(b[:n], b[:n]) // a SYN, twice
	seg.TCP.Flags, seg.Payload = craft.PSH|craft.ACK, []byte("data")
	m, _ := seg.Encode(b)
	f.Add(b[:n], b[:m]) // SYN then data without a handshake
	f.Fuzz(func(t *testing.T, p1, p2 []byte) {
		var out []*Conn
		w := newWorker(Config{MaxFlows: 4, IdleTimeout: time.Minute}, func(c *Conn) { out = append(out, c) })
		w.packet(1, 1, p1)
		w.packet(2, 2, p2)
		w.packet(3, 3, p1)
		w.flushAll()
		for _, c := range out {
			if c.OrigPkts+c.RespPkts == 0 || c.ConnState == "" || len(c.OrigStates) == 0 {
				t.Fatalf("inconsistent connection %+v", c)
			}
		}
	})
}

func ciAt(t time.Time, n int) gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: t, CaptureLength: n, Length: n}
}

func buildSeg() []byte {
	seg := craft.Segment{Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"),
		TCP: craft.TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, Ack: 1, Flags: craft.ACK | craft.PSH, Window: 500,
			Options: []craft.Option{craft.NOPOption(), craft.NOPOption(), craft.TimestampsOption(1, 2)}}, Payload: make([]byte, 200)}
	b := make([]byte, 512)
	n, _ := seg.Encode(b)
	return b[:n]
}

// TestPacketPathDoesNotAllocate: once a connection exists, its packets
// (decode, checksum, flow lookup, rulebook, Wireshark and Zeek analysis)
// allocate nothing, whether handed one by one or walked in a chunk.
func TestPacketPathDoesNotAllocate(t *testing.T) {
	w := newWorker(Config{MaxFlows: 1000, IdleTimeout: 1 << 62}, func(*Conn) {})
	seg := buildSeg()
	var i int64
	w.packet(0, 0, seg)
	if n := testing.AllocsPerRun(1000, func() {
		i++
		w.packet(i, i, seg)
	}); n != 0 {
		t.Errorf("%.1f allocations per packet", n)
	}
	r, err := capture.NewFileReader(bytes.NewReader(synthPcap(t, 1)), "one")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, capture.MinChunk)
	info, err := r.ReadChunk(buf)
	if err != nil || info.Frames != 1 {
		t.Fatal(info, err)
	}
	c := &chunk{buf: buf}
	var st Stats
	if n := testing.AllocsPerRun(1000, func() {
		c.recs = r.Records(buf[:info.N])
		demux(c, 1, &st)
		w.processChunk(c)
	}); n != 0 {
		t.Errorf("%.1f allocations per chunk (walked by the reader, analyzed by the worker)", n)
	}
	if w.st.TCP < 2000 {
		t.Errorf("only %d packets analyzed", w.st.TCP)
	}
}
