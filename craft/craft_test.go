package craft

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// 198.18.0.1.40000 > 198.18.0.2.80: Flags [S], seq 1000, win 64240,
// options [mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7], length 0
// (IPv4 DF, id 0x1234, ttl 64)
var synV4 = []byte{
	0x45, 0x00, 0x00, 0x3c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x9c, 0x60,
	0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02,
	0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00,
	0xa0, 0x02, 0xfa, 0xf0, 0x20, 0x0b, 0x00, 0x00,
	0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x64,
	0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
}

// 2001:db8::2.80 > 2001:db8::1.40000: Flags [S.E], seq 5000, ack 1001,
// win 65160, options [mss 1440,nop,nop,sackOK,nop,wscale 7], length 0
// (flowlabel 0x12345, hlim 64)
var synAckV6 = []byte{
	0x60, 0x01, 0x23, 0x45, 0x00, 0x20, 0x06, 0x40,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
	0x00, 0x50, 0x9c, 0x40, 0x00, 0x00, 0x13, 0x88, 0x00, 0x00, 0x03, 0xe9,
	0x80, 0x52, 0xfe, 0x88, 0x60, 0xd6, 0x00, 0x00,
	0x02, 0x04, 0x05, 0xa0, 0x01, 0x01, 0x04, 0x02, 0x01, 0x03, 0x03, 0x07,
}

func synV4Segment() Segment {
	return Segment{
		Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"), TTL: 64, ID: 0x1234, DF: true,
		TCP: TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, Flags: SYN, Window: 64240,
			Options: []Option{MSSOption(1460), SACKPermittedOption(), TimestampsOption(100, 0), NOPOption(), WindowScaleOption(7)}},
	}
}

func synAckV6Segment() Segment {
	return Segment{
		Src: netip.MustParseAddr("2001:db8::2"), Dst: netip.MustParseAddr("2001:db8::1"), TTL: 64, FlowLabel: 0x12345,
		TCP: TCP{SrcPort: 80, DstPort: 40000, Seq: 5000, Ack: 1001, Flags: SYN | ACK | ECE, Window: 65160,
			Options: []Option{MSSOption(1440), NOPOption(), NOPOption(), SACKPermittedOption(), NOPOption(), WindowScaleOption(7)}},
	}
}

func TestEncodeVectors(t *testing.T) {
	for _, tc := range []struct {
		name string
		seg  Segment
		want []byte
	}{
		{"syn v4", synV4Segment(), synV4},
		{"syn-ack v6", synAckV6Segment(), synAckV6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b [256]byte
			n, err := tc.seg.Encode(b[:])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b[:n], tc.want) {
				t.Fatalf("encoded\n% x\nwant\n% x", b[:n], tc.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short v4", synV4[:19]},
		{"ihl too small", append([]byte{0x44}, synV4[1:]...)},
		{"tcp data offset beyond packet", func() []byte { b := bytes.Clone(synV4); b[32] = 0xf0; return b }()},
		{"tcp data offset below 5", func() []byte { b := bytes.Clone(synV4); b[32] = 0x40; return b }()},
		{"v6 short", synAckV6[:39]},
		{"not ip", []byte{0x20, 0, 0, 0}},
	} {
		var p Packet
		if err := p.Decode(tc.b); err == nil {
			t.Errorf("%s: decoded without error", tc.name)
		}
	}
}

func TestTruncatedPayload(t *testing.T) {
	seg := synV4Segment()
	seg.TCP.Flags = PSH | ACK
	seg.Payload = []byte("hello world")
	var b [256]byte
	n, _ := seg.Encode(b[:])
	var p Packet
	if err := p.Decode(b[:n-5]); err != nil {
		t.Fatal(err)
	}
	if !p.Truncated || p.PayloadLen != 11 || string(p.Payload) != "hello " {
		t.Errorf("truncated=%v len=%d payload=%q", p.Truncated, p.PayloadLen, p.Payload)
	}
	// Ethernet padding after the datagram is not payload.
	padded := append(bytes.Clone(b[:n]), 0, 0, 0, 0)
	if err := p.Decode(padded); err != nil || string(p.Payload) != "hello world" || p.Truncated {
		t.Errorf("padding taken as payload: %q %v", p.Payload, err)
	}
}

func TestChecksumDetectsCorruption(t *testing.T) {
	b := bytes.Clone(synV4)
	var p Packet
	if err := p.Decode(b); err != nil || !p.ChecksumOK(b[:20]) {
		t.Fatal("good packet fails checksum")
	}
	b[len(b)-1] ^= 0x40
	_ = p.Decode(b)
	if p.ChecksumOK(b[:20]) {
		t.Error("corrupted tcp option passes checksum")
	}
	b = bytes.Clone(synV4)
	b[8] = 1 // ttl
	_ = p.Decode(b)
	if p.ChecksumOK(b[:20]) {
		t.Error("corrupted ip header passes checksum")
	}
	// An address the TCP checksum did not cover (its pseudo-header), with
	// the IPv4 header's own checksum not asked for.
	for _, i := range []int{12, 15, 16, 19} {
		b = bytes.Clone(synV4)
		b[i] ^= 0x10
		_ = p.Decode(b)
		if p.ChecksumOK(nil) {
			t.Errorf("address byte %d changed: the tcp checksum passes", i)
		}
	}
}

func TestICMPQuote(t *testing.T) {
	for _, tc := range []struct {
		name       string
		quoted     []byte
		from, to   string
		typ, code  uint8
		rest       uint32
		wantDesc   string
		wantSeq    Seq
		wantSrcPrt uint16
	}{
		{"v4 port unreachable", synV4, "198.18.0.2", "198.18.0.1", ICMPv4Unreachable, ICMPv4CodePortUnreach, 0, "port unreachable", 1000, 40000},
		{"v4 frag needed", synV4[:28], "198.18.0.254", "198.18.0.1", ICMPv4Unreachable, ICMPv4CodeFragNeeded, 1400, "fragmentation needed (mtu 1400)", 1000, 40000},
		{"v4 ttl exceeded", synV4[:28], "198.18.0.254", "198.18.0.1", ICMPv4TimeExceeded, 0, 0, "time exceeded in transit", 1000, 40000},
		{"v6 port unreachable", synAckV6, "2001:db8::1", "2001:db8::2", ICMPv6Unreachable, ICMPv6CodePortUnrch, 0, "port unreachable", 5000, 80},
		{"v6 too big", synAckV6, "2001:db8::fe", "2001:db8::2", ICMPv6PacketTooBig, 0, 1280, "packet too big (mtu 1280)", 5000, 80},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b [1500]byte
			n, err := BuildICMPError(b[:], netip.MustParseAddr(tc.from), netip.MustParseAddr(tc.to), tc.typ, tc.code, tc.rest, tc.quoted)
			if err != nil {
				t.Fatal(err)
			}
			var p Packet
			if err := p.Decode(b[:n]); err != nil {
				t.Fatal(err)
			}
			if !p.HasICMP || !p.ICMP.Quote.Valid || !p.ChecksumOK(nil) {
				t.Fatalf("icmp=%v quote=%+v checksum=%v", p.HasICMP, p.ICMP.Quote, p.ChecksumOK(nil))
			}
			q := p.ICMP.Quote
			if q.Seq != tc.wantSeq || q.SrcPort != tc.wantSrcPrt || q.Proto != ProtoTCP {
				t.Errorf("quote %+v", q)
			}
			if got := p.ICMP.Describe(); got != tc.wantDesc {
				t.Errorf("describe %q, want %q", got, tc.wantDesc)
			}
			if len(tc.quoted) >= 34 && !q.HasAck {
				t.Error("quote long enough for flags but HasAck false")
			}
		})
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		in          string
		want        Flags
		long, short string
	}{
		{"SA", SYN | ACK, "SYN,ACK", "S."},
		{"syn,ack", SYN | ACK, "SYN,ACK", "S."},
		{"S.", SYN | ACK, "SYN,ACK", "S."},
		{"FIN", FIN, "FIN", "F"},
		{"FPU", FIN | PSH | URG, "FIN,PSH,URG", "FPU"},
		{"none", 0, "none", "none"},
		{"SEC", SYN | ECE | CWR, "SYN,ECE,CWR", "SEW"},
		{"AE", NS, "NS", "N"},
		{"rst+ack", RST | ACK, "RST,ACK", "R."},
	} {
		f, err := ParseFlags(tc.in)
		if err != nil || f != tc.want {
			t.Errorf("ParseFlags(%q) = %v, %v; want %v", tc.in, f, err, tc.want)
			continue
		}
		if f.String() != tc.long || f.Short() != tc.short {
			t.Errorf("%q: String %q Short %q", tc.in, f.String(), f.Short())
		}
	}
	for _, bad := range []string{"SZ", "syn,bogus", "1"} {
		if _, err := ParseFlags(bad); err == nil {
			t.Errorf("ParseFlags(%q) accepted", bad)
		}
	}
}

func TestSeq(t *testing.T) {
	for _, tc := range []struct {
		a, b Seq
		less bool
	}{
		{1, 2, true}, {2, 1, false}, {0xffffff00, 0x10, true}, {0x10, 0xffffff00, false}, {5, 5, false},
	} {
		if got := tc.a.LessThan(tc.b); got != tc.less {
			t.Errorf("%d < %d = %v", tc.a, tc.b, got)
		}
	}
	if Seq(0xffffffff).Add(2) != 1 || Seq(1).Sub(0xffffffff) != 2 {
		t.Error("wrapping arithmetic")
	}
	if !Seq(3).InWindow(0xfffffffe, 10) || Seq(20).InWindow(0xfffffffe, 10) {
		t.Error("InWindow across the wrap")
	}
}

func TestParseOptions(t *testing.T) {
	opts, err := ParseOptions("mss=1460,sackok,ws=7,ts,nop,sack=1:2,tfo=0a0b,raw=99:be,eol", 77)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range opts {
		got = append(got, o.String())
	}
	want := []string{"mss 1460", "sackOK", "wscale 7", "TS val 77 ecr 0", "nop", "sack 1 {1:2}", "tfo cookie 0a0b", "unknown-99 be", "eol"}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("option %d: %q, want %q", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"mss", "mss=70000", "ws=x", "bogus", "sack=1", "ts=1", "raw=300", "sack=1:2/3:4/5:6/7:8/9:10", "ts,ts,ts,ts,ts"} {
		if _, err := ParseOptions(bad, 0); err == nil {
			t.Errorf("ParseOptions(%q) accepted", bad)
		}
	}
}

func TestLinkOffsets(t *testing.T) {
	eth := append([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x81, 0x00, 0, 5, 0x08, 0x00}, synV4...)
	for _, tc := range []struct {
		lt   int
		b    []byte
		want int
		ok   bool
	}{
		{LinkEthernet, eth, 18, true},
		{LinkEthernet, append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x06}, synV4...), 0, false},
		{LinkRaw, synV4, 0, true},
		{LinkNull, append([]byte{2, 0, 0, 0}, synV4...), 4, true},
		{LinkLoop, append([]byte{0, 0, 0, 2}, synV4...), 4, true},
		{LinkSLL, append(make([]byte, 14), append([]byte{0x86, 0xdd}, synAckV6...)...), 16, true},
		{LinkSLL2, append([]byte{0x08, 0x00}, make([]byte, 18)...), 20, true},
		{LinkEthernet, eth[:10], 0, false},
		// ARCNET (as tshark reads it): BSD's with RFC 1201, an exception
		// packet and RFC 1051; Linux's with its 2-byte offset; IPv6; ARP
		// is not IP; cut headers.
		{LinkARCNET, append([]byte{1, 2, 212, 0, 0, 1}, synV4...), 6, true},
		{LinkARCNET, append([]byte{1, 2, 212, 0xff, 0xff, 0xff, 212, 0, 0, 1}, synV4...), 10, true},
		{LinkARCNET, append([]byte{1, 2, 240}, synV4...), 3, true},
		{LinkARCNETLx, append([]byte{1, 2, 0, 0, 240}, synV4...), 5, true},
		{LinkARCNETLx, append([]byte{1, 2, 0, 0, 212, 0, 0, 1}, synV4...), 8, true},
		{LinkARCNETLx, append([]byte{1, 2, 0, 0, 196, 0, 0, 1}, synAckV6...), 8, true},
		{LinkARCNETLx, append([]byte{1, 2, 0, 0, 212, 0xff, 0, 1}, synV4...), 8, true}, // no exception packets in Linux's
		{LinkARCNET, append([]byte{1, 2, 241}, synV4...), 0, false},
		{LinkARCNET, []byte{1, 2, 212, 0xff, 0xff}, 0, false},
		{LinkARCNETLx, []byte{1, 2, 0}, 0, false},
		// NFLOG: the header, a prefix TLV, then the payload TLV; in the
		// other byte order too; no payload; a zero-length TLV.
		{LinkNFLOG, append([]byte{2, 0, 0, 1, 8, 0, 10, 0, 'a', 'b', 'c', 0, 24, 0, 9, 0}, synV4...), 16, true},
		{LinkNFLOG, append([]byte{10, 0, 0, 1, 0, 8, 0, 10, 'a', 'b', 'c', 0, 0, 24, 0, 9}, synAckV6...), 16, true},
		{LinkNFLOG, []byte{2, 0, 0, 1, 8, 0, 10, 0, 'a', 'b', 'c', 0}, 0, false},
		{LinkNFLOG, []byte{2, 0, 0, 1, 0, 0, 0, 0}, 0, false},
		// IEEE 802.11 data frames: plain, QoS, four addresses, QoS with HT
		// control, behind radiotap; not IP: protected, a later fragment,
		// a beacon, an A-MSDU, no LLC/SNAP.
		{Link80211, append(wifi(0x08, 0x01, 0), synV4...), 32, true},
		{Link80211, append(wifi(0x88, 0x01, 0, 0, 0), synV4...), 34, true},
		{Link80211, append(wifi(0x08, 0x03, 0, make([]byte, 6)...), synV4...), 38, true},
		{Link80211, append(wifi(0x88, 0x82, 0, 0, 0, 0, 0, 0, 0), synV4...), 38, true},
		{LinkRadiotap, append(append([]byte{0, 0, 8, 0, 0, 0, 0, 0}, wifi(0x08, 0x02, 0)...), synV4...), 40, true},
		{Link80211, append(wifi(0x08, 0x41, 0), synV4...), 0, false},
		{Link80211, append(wifi(0x08, 0x01, 1), synV4...), 0, false},
		{Link80211, append(wifi(0x80, 0x00, 0), synV4...), 0, false},
		{Link80211, append(wifi(0x88, 0x01, 0, 0x80, 0), synV4...), 0, false},
		{Link80211, append(wifi(0x08, 0x01, 0)[:24], synV4...), 0, false},
		{LinkRadiotap, []byte{1, 0, 8, 0}, 0, false},
		{999, synV4, 0, false},
	} {
		off, err := IPOffset(tc.lt, tc.b)
		if (err == nil) != tc.ok || off != tc.want {
			t.Errorf("link %d: off %d err %v; want %d ok %v", tc.lt, off, err, tc.want, tc.ok)
		}
	}
}

// TestGopacketAgrees decodes our encoded packets with gopacket, an
// independent implementation, and compares every field.
func TestGopacketAgrees(t *testing.T) {
	for _, seg := range crossCheckSegments() {
		var b [2048]byte
		n, err := seg.Encode(b[:])
		if err != nil {
			t.Fatal(err)
		}
		first := layers.LayerTypeIPv4
		if seg.Src.Is6() {
			first = layers.LayerTypeIPv6
		}
		pkt := gopacket.NewPacket(b[:n], first, gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("gopacket: %v", el.Error())
		}
		tl, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok {
			t.Fatal("gopacket found no tcp layer")
		}
		want := seg.TCP
		if uint16(tl.SrcPort) != want.SrcPort || uint16(tl.DstPort) != want.DstPort || tl.Seq != uint32(want.Seq) ||
			tl.Ack != uint32(want.Ack) || tl.Window != want.Window || tl.Urgent != want.Urgent || tl.DataOffset != want.DataOffset {
			t.Errorf("gopacket header %+v, want %+v", tl, want)
		}
		gf := Flags(0)
		for _, f := range []struct {
			on bool
			f  Flags
		}{{tl.FIN, FIN}, {tl.SYN, SYN}, {tl.RST, RST}, {tl.PSH, PSH}, {tl.ACK, ACK}, {tl.URG, URG}, {tl.ECE, ECE}, {tl.CWR, CWR}, {tl.NS, NS}} {
			if f.on {
				gf |= f.f
			}
		}
		if gf != want.Flags {
			t.Errorf("gopacket flags %v, want %v", gf, want.Flags)
		}
		var gopts []layers.TCPOption
		for _, o := range tl.Options {
			if o.OptionType != layers.TCPOptionKindEndList {
				gopts = append(gopts, o)
			}
		}
		var ours []Option
		for _, o := range want.Options {
			if o.Kind != OptEOL {
				ours = append(ours, o)
			}
		}
		if len(gopts) != len(ours) {
			t.Fatalf("gopacket sees %d options, we encoded %d", len(gopts), len(ours))
		}
		for i, o := range ours {
			if uint8(gopts[i].OptionType) != uint8(o.Kind) || (o.Kind != OptNOP && !bytes.Equal(gopts[i].OptionData, o.Data)) {
				t.Errorf("option %d: gopacket %v, ours %v", i, gopts[i], o)
			}
		}
		if !bytes.Equal(tl.Payload, seg.Payload) {
			t.Errorf("payload %q, want %q", tl.Payload, seg.Payload)
		}
		// gopacket recomputes the checksum: it must equal ours.
		if seg.Src.Is4() {
			ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			if err := tl.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
			if ip.TTL != seg.TTL || ip.Id != seg.ID || (ip.Flags&layers.IPv4DontFragment != 0) != seg.DF || ip.TOS != seg.TOS {
				t.Errorf("gopacket ipv4 %+v", ip)
			}
		} else {
			ip := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			if err := tl.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
			if ip.HopLimit != seg.TTL || ip.FlowLabel != seg.FlowLabel || ip.TrafficClass != seg.TOS {
				t.Errorf("gopacket ipv6 %+v", ip)
			}
		}
		// With our checksum in place, gopacket's sum over the segment must
		// come out as zero.
		if c, err := tl.ComputeChecksum(); err != nil || c != 0 || tl.Checksum != seg.TCP.Checksum {
			t.Errorf("gopacket finds checksum %#04x invalid (residue %#04x, %v)", tl.Checksum, c, err)
		}
	}
}

func crossCheckSegments() []Segment {
	a4, b4 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	a6, b6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	return []Segment{
		synV4Segment(),
		synAckV6Segment(),
		{Src: a4, Dst: b4, TTL: 3, TOS: 0x10, ID: 7, TCP: TCP{SrcPort: 1, DstPort: 65535, Seq: 0xffffffff, Ack: 0x80000000, Flags: FIN | SYN | RST | PSH | ACK | URG | ECE | CWR | NS, Window: 0, Urgent: 9}, Payload: []byte("xmas")},
		{Src: a4, Dst: b4, TTL: 255, TCP: TCP{SrcPort: 5, DstPort: 6, Flags: ACK, Window: 501, Options: []Option{NOPOption(), NOPOption(), SACKOption(SACKBlock{1, 2}, SACKBlock{3, 4}, SACKBlock{5, 6})}}, Payload: bytes.Repeat([]byte{0xab}, 1001)},
		{Src: a6, Dst: b6, TTL: 1, TCP: TCP{SrcPort: 443, DstPort: 50000, Flags: SYN, Options: []Option{FastOpenOption([]byte{1, 2, 3, 4, 5, 6, 7, 8}), {Kind: 99, Data: []byte{0xde, 0xad}}, EOLOption()}}, Payload: []byte("GET / HTTP/1.0\r\n\r\n")},
		{Src: a6, Dst: b6, TTL: 64, TCP: TCP{SrcPort: 1, DstPort: 2}},
	}
}

func TestEncodeDoesNotAllocate(t *testing.T) {
	seg := synV4Segment()
	seg.Payload = []byte("payload")
	seg6 := synAckV6Segment()
	var b [256]byte
	if n := testing.AllocsPerRun(100, func() { _, _ = seg.Encode(b[:]); _, _ = seg6.Encode(b[:]) }); n != 0 {
		t.Errorf("encode allocates %.1f times", n)
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	var p Packet
	var b [256]byte
	icmpLen, _ := BuildICMPError(b[:], netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.1"), 3, 3, 0, synV4)
	if n := testing.AllocsPerRun(100, func() {
		_ = p.Decode(synV4)
		_ = p.Decode(synAckV6)
		_ = p.Decode(b[:icmpLen])
		_, _ = p.TCP.MSS()
	}); n != 0 {
		t.Errorf("decode allocates %.1f times", n)
	}
}

func BenchmarkEncodeSYN(b *testing.B) {
	seg := synV4Segment()
	var buf [256]byte
	b.ReportAllocs()
	for b.Loop() {
		if _, err := seg.Encode(buf[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSYN(b *testing.B) {
	var p Packet
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Decode(synV4); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGopacketDecodeSYN(b *testing.B) {
	var ip layers.IPv4
	var tcp layers.TCP
	var payload gopacket.Payload
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeIPv4, &ip, &tcp, &payload)
	decoded := make([]gopacket.LayerType, 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		_ = parser.DecodeLayers(synV4, &decoded)
	}
}

func BenchmarkChecksum1460(b *testing.B) {
	buf := make([]byte, 1460)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Checksum(buf)
	}
}

func TestSeqLenAndTSAfter(t *testing.T) {
	for _, c := range []struct {
		f    Flags
		n    int
		want uint32
	}{{SYN, 0, 1}, {SYN | FIN, 10, 12}, {ACK, 0, 0}, {FIN | ACK, 5, 6}, {PSH | ACK, 1460, 1460}} {
		if got := SeqLen(c.f, c.n); got != c.want {
			t.Errorf("SeqLen(%v, %d) = %d, want %d", c.f, c.n, got, c.want)
		}
	}
	if !TSAfter(1, 0xffffffff) || TSAfter(0xffffffff, 1) || TSAfter(5, 5) {
		t.Error("TSAfter does not wrap like sequence numbers")
	}
}

// TestOffersAgreesWithAccessors: the one-pass reader returns what the
// single accessors return, on real and odd option lists.
func TestOffersAgreesWithAccessors(t *testing.T) {
	lists := [][]Option{
		nil,
		{MSSOption(1460), SACKPermittedOption(), TimestampsOption(7, 9), NOPOption(), WindowScaleOption(7)},
		{WindowScaleOption(200), MSSOption(536), MSSOption(1200), TimestampsOption(1, 2), TimestampsOption(3, 4)},
		{{Kind: OptMSS, Data: []byte{1}}, {Kind: OptTimestamps, Data: []byte{1, 2}}, {Kind: OptSACKPermitted, Data: []byte{0}}},
	}
	for i, opts := range lists {
		tcp := TCP{Options: opts}
		o := tcp.Offers()
		mss, _ := tcp.MSS()
		ws, wsOK := tcp.WindowScale()
		v, e, tsOK := tcp.Timestamps()
		wantWS := int8(-1)
		if wsOK {
			wantWS = int8(min(ws, 127))
		}
		if o.MSS != mss || o.WScale != wantWS || o.SACKOK != tcp.SACKPermitted() || o.HasTS != tsOK || o.TSVal != v || o.TSEcr != e {
			t.Errorf("list %d: Offers %+v, accessors mss %d ws %d sack %v ts %v %d %d", i, o, mss, wantWS, tcp.SACKPermitted(), tsOK, v, e)
		}
	}
}

// TestDecodeOptionsCommonLayout: the NOP, NOP, timestamps layout (read by
// a shortcut) decodes as the general loop decodes it, and near misses take
// the loop.
func TestDecodeOptionsCommonLayout(t *testing.T) {
	ts := []byte{1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9}
	var a, b TCP
	a.decodeOptions(ts)
	b.decodeOptions(append(append([]byte(nil), ts...), 0, 0, 0, 0)[:12]) // the same bytes, another backing array
	if len(a.Options) != 3 || a.Options[0].Kind != OptNOP || a.Options[1].Kind != OptNOP || a.Options[2].Kind != OptTimestamps {
		t.Fatalf("options %v", a.Options)
	}
	if v, e, ok := a.Timestamps(); !ok || v != 7 || e != 9 {
		t.Errorf("timestamps %d %d %v", v, e, ok)
	}
	if o := a.Offers(); !o.HasTS || o.TSVal != 7 || o.TSEcr != 9 || o.WScale != -1 {
		t.Errorf("offers %+v", o)
	}
	if len(b.Options) != 3 || string(b.Options[2].Data) != string(ts[4:]) || cap(a.Options[2].Data) != 8 {
		t.Errorf("options %v, data capacity %d", b.Options, cap(a.Options[2].Data))
	}
	// A timestamps option of another length is malformed either way.
	bad := append([]byte(nil), ts...)
	bad[3] = 11
	var c TCP
	c.decodeOptions(bad)
	if !c.OptionsMalformed || len(c.Options) != 2 {
		t.Errorf("a 11-byte timestamps option in 10 bytes: %v malformed %v", c.Options, c.OptionsMalformed)
	}
}

// wifi is an IEEE 802.11 header with frame control fc0 fc1, fragment number
// frag, extra bytes after the 24-byte header (a fourth address, QoS and HT
// control) and LLC/SNAP for IPv4.
func wifi(fc0, fc1, frag byte, extra ...byte) []byte {
	h := make([]byte, 24)
	h[0], h[1], h[22] = fc0, fc1, frag
	h = append(h, extra...)
	return append(h, 0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00)
}
