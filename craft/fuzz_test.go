package craft

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// FuzzPacketDecode feeds arbitrary bytes to the decoder: it must never
// panic, never read past the input and keep its reported lengths inside it.
func FuzzPacketDecode(f *testing.F) {
	f.Add(synV4)    // 198.18.0.1.40000 > 198.18.0.2.80: Flags [S], mss 1460,sackOK,TS,nop,wscale 7
	f.Add(synAckV6) // 2001:db8::2.80 > 2001:db8::1.40000: Flags [S.E], mss 1440,nop,nop,sackOK,nop,wscale 7
	var b [1500]byte
	n, _ := BuildICMPError(b[:], netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.1"), 3, 3, 0, synV4)
	f.Add(bytes.Clone(b[:n])) // ICMP port unreachable quoting the SYN
	n, _ = BuildICMPError(b[:], netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 2, 0, 1280, synAckV6)
	f.Add(bytes.Clone(b[:n]))                 // ICMPv6 packet too big quoting the SYN-ACK
	f.Add([]byte{0x45})                       // one byte of IPv4
	f.Add([]byte{0x60, 0, 0, 0, 0, 8, 0, 64}) // IPv6 header cut short, hop-by-hop next
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Packet
		if err := p.Decode(data); err != nil {
			return
		}
		if p.HasTCP {
			if len(p.Payload) > len(data) || len(p.TCP.Options) > MaxOptions {
				t.Fatalf("payload %d options %d from %d bytes", len(p.Payload), len(p.TCP.Options), len(data))
			}
			for _, o := range p.TCP.Options {
				_ = o.String()
			}
			_ = p.TCP.SACKBlocks(nil)
		}
		if p.HasICMP {
			_ = p.ICMP.Describe()
		}
		_ = p.ChecksumOK(nil)
		// Decoding twice into the same value gives the same result.
		var q Packet
		_ = q.Decode(data)
		_ = q.Decode(data)
		if q.HasTCP != p.HasTCP || q.TCP.Seq != p.TCP.Seq || len(q.TCP.Options) != len(p.TCP.Options) || q.Proto != p.Proto {
			t.Fatal("second decode differs")
		}
	})
}

// FuzzRoundTrip encodes a segment built from fuzzed fields and decodes it
// again: every field must come back and the checksum must verify.
func FuzzRoundTrip(f *testing.F) {
	// v6, sport, dport, seq, ack, flags, window, ttl, options (raw TLV bytes), payload
	f.Add(false, uint16(40000), uint16(80), uint32(1000), uint32(0), uint16(SYN), uint16(64240), uint8(64), []byte{2, 4, 5, 180, 4, 2}, []byte(nil))
	f.Add(true, uint16(80), uint16(40000), uint32(0xffffffff), uint32(1001), uint16(SYN|ACK), uint16(65160), uint8(1), []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, []byte("data"))
	f.Add(false, uint16(1), uint16(2), uint32(5), uint32(6), uint16(0x1ff), uint16(0), uint8(255), []byte{99, 3, 7}, []byte{0})
	f.Fuzz(func(t *testing.T, v6 bool, sp, dp uint16, sq, ak uint32, fl, win uint16, ttl uint8, rawOpts, payload []byte) {
		opts := optionsFromTLV(rawOpts)
		if OptionsLen(opts) > 40 || len(payload) > 1400 {
			return
		}
		seg := Segment{Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"), TTL: ttl,
			TCP:     TCP{SrcPort: sp, DstPort: dp, Seq: Seq(sq), Ack: Seq(ak), Flags: Flags(fl & 0x1ff), Window: win, Options: opts},
			Payload: payload}
		if v6 {
			seg.Src, seg.Dst = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
		}
		var b [2048]byte
		n, err := seg.Encode(b[:])
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		if err := p.Decode(b[:n]); err != nil {
			t.Fatal(err)
		}
		got := p.TCP
		if !p.HasTCP || got.SrcPort != sp || got.DstPort != dp || got.Seq != Seq(sq) || got.Ack != Seq(ak) ||
			got.Flags != Flags(fl&0x1ff) || got.Window != win || p.TTL() != ttl || !bytes.Equal(p.Payload, payload) {
			t.Fatalf("round trip: %+v", got)
		}
		if !p.ChecksumOK(nil) {
			t.Fatal("checksum does not verify")
		}
		for i, o := range opts {
			if i >= len(got.Options) {
				if o.Kind == OptEOL {
					break
				}
				t.Fatalf("option %d lost", i)
			}
			if got.Options[i].Kind != o.Kind || !bytes.Equal(got.Options[i].Data, o.Data) {
				t.Fatalf("option %d: %v, want %v", i, got.Options[i], o)
			}
			if o.Kind == OptEOL {
				break
			}
		}
	})
}

// optionsFromTLV turns fuzz bytes into well-formed options.
func optionsFromTLV(b []byte) []Option {
	var out []Option
	for len(b) > 0 {
		k := OptionKind(b[0])
		if k == OptEOL || k == OptNOP {
			out = append(out, Option{Kind: k})
			b = b[1:]
			continue
		}
		if len(b) < 2 {
			break
		}
		l := min(int(b[1])%16, len(b)-2)
		out = append(out, Option{Kind: k, Data: b[2 : 2+l]})
		b = b[2+l:]
	}
	return out
}

// FuzzParseOptions checks the command-line option parser never panics and
// that what it accepts fits in a TCP header.
func FuzzParseOptions(f *testing.F) {
	f.Add("mss=1460,sackok,ws=7,ts")
	f.Add("sack=1:2/3:4,nop,eol")
	f.Add("tfo=0a0b0c0d,raw=254:f989")
	f.Add("ts=1:2")
	f.Fuzz(func(t *testing.T, s string) {
		opts, err := ParseOptions(s, 1)
		if err != nil {
			return
		}
		if OptionsLen(opts) > 40 {
			t.Fatalf("accepted %d bytes of options", OptionsLen(opts))
		}
		var tcp TCP
		tcp.Options = opts
		var b [64]byte
		if _, err := tcp.Encode(b[:]); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseFlags checks that whatever ParseFlags accepts prints back to
// the same flags.
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{"SA", "syn,ack", "S.", "FPU", "none", "AE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := ParseFlags(s)
		if err != nil {
			return
		}
		back, err := ParseFlags(fl.String())
		if err != nil || back != fl {
			t.Fatalf("%q -> %v -> %v (%v)", s, fl, back, err)
		}
	})
}

// FuzzIPOffset checks link-layer parsing stays within the frame.
func FuzzIPOffset(f *testing.F) {
	f.Add(LinkEthernet, append([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x00}, synV4...))
	f.Add(LinkSLL2, append([]byte{0x86, 0xdd}, make([]byte, 18)...))
	f.Add(LinkNull, []byte{2, 0, 0, 0})
	f.Add(LinkRadiotap, []byte{0, 0, 8, 0, 0, 0, 0, 0, 0x88, 0x82, 0, 0, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0xaa, 0xaa, 3, 0, 0, 0, 8, 0, 0x45})
	f.Add(LinkNFLOG, []byte{2, 0, 0, 1, 8, 0, 10, 0, 'a', 'b', 'c', 0, 24, 0, 9, 0, 0x45})
	f.Add(LinkARCNET, []byte{1, 2, 212, 0xff, 0xff, 0xff, 212, 0, 0, 1, 0x45})
	f.Add(LinkARCNETLx, []byte{1, 2, 0, 0, 240, 0x45})
	f.Add(LinkFDDI, append(append([]byte{0x50}, make([]byte, 12)...), 0xaa, 0xaa, 3, 0, 0, 0, 0x08, 0x00))
	f.Fuzz(func(t *testing.T, lt int, b []byte) {
		off, err := IPOffset(lt, b)
		if err == nil && off > len(b) {
			t.Fatalf("offset %d beyond %d bytes", off, len(b))
		}
	})
}

// sum16 is the plain definition, 16 bits at a time; tests compare sum with it.
func sum16(b []byte) uint16 {
	var s uint32
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		s = (s >> 16) + (s & 0xffff)
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return fold(s)
}

// FuzzChecksum compares the word-wise checksum with the 16-bit definition.
func FuzzChecksum(f *testing.F) {
	f.Add(uint32(0), synV4)
	f.Add(uint32(0xffffffff), []byte{0xff, 0xff, 0xff})
	f.Add(uint32(0x1234), []byte{})
	f.Add(uint32(0xfffe), bytes.Repeat([]byte{0xff}, 77))
	f.Fuzz(func(t *testing.T, s uint32, b []byte) {
		got := fold(sum(s, b))
		want := fold(uint32(fold(s)) + uint32(sum16(b)))
		if got != want && !(got == 0xffff && want == 0) && !(got == 0 && want == 0xffff) {
			t.Fatalf("sum %#x, 16-bit sum %#x", got, want)
		}
	})
}

// FuzzIPv4HeaderChecksum compares IPv4ChecksumOK (unrolled for 20-byte
// headers) and the IPv4 pseudo-header sum with the 16-bit definition.
func FuzzIPv4HeaderChecksum(f *testing.F) {
	f.Add(synV4[:20], uint8(6), uint16(40))
	f.Add(bytes.Repeat([]byte{0xff}, 24), uint8(17), uint16(0xffff))
	f.Add(append([]byte{0x46}, make([]byte, 23)...), uint8(0), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, proto uint8, n uint16) {
		want := false
		if len(b) >= IPv4MinHeader {
			if hl := int(b[0]&0x0f) * 4; hl >= IPv4MinHeader && hl <= len(b) {
				want = sum16(b[:hl]) == 0xffff
			}
		}
		if got := IPv4ChecksumOK(b); got != want {
			t.Fatalf("IPv4ChecksumOK %v, the definition %v", got, want)
		}
		if len(b) < 8 {
			return
		}
		src, dst := netip.AddrFrom4([4]byte(b[:4])), netip.AddrFrom4([4]byte(b[4:8]))
		pseudo := append(append(append([]byte(nil), b[:8]...), 0, proto), byte(n>>8), byte(n))
		if got, want := fold(pseudoSum(src, dst, proto, int(n))), sum16(pseudo); got != want && !(got == 0xffff && want == 0) && !(got == 0 && want == 0xffff) {
			t.Fatalf("pseudo-header sum %#x, the definition %#x", got, want)
		}
	})
}
