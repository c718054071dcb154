package trace

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"

	"github.com/tcpprobe/tcpprobe/craft"
)

// probe encodes a trace SYN as --mods sends it.
func probe(t *testing.T, src, dst string) []byte {
	t.Helper()
	seg := craft.Segment{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), TTL: 3, TOS: 10<<2 | 2, ID: 77,
		TCP: craft.TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, Flags: craft.SYN, Window: 1024,
			Options: []craft.Option{craft.MSSOption(1460), craft.SACKPermittedOption(), craft.TimestampsOption(5, 0), craft.NOPOption(), craft.WindowScaleOption(7)}}}
	b := make([]byte, 128)
	n, err := seg.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

func TestDiff(t *testing.T) {
	v4 := probe(t, "198.18.0.1", "198.19.72.2")
	v6 := probe(t, "2001:db8::1", "2001:db8::2")
	tcp4 := 20 // where TCP starts
	tests := []struct {
		name    string
		sent    []byte
		change  func(q []byte) []byte
		want    []string
		partial bool
	}{
		{"unchanged, TTL and checksums aside", v4, func(q []byte) []byte { q[8] = 1; q[10] ^= 0xff; q[tcp4+16] ^= 0xff; return q }, nil, false},
		{"mss clamped", v4, func(q []byte) []byte { binary.BigEndian.PutUint16(q[tcp4+22:], 1200); return q }, []string{"mss 1460->1200"}, false},
		{"sackok stripped to NOPs", v4, func(q []byte) []byte { q[tcp4+24], q[tcp4+25] = 1, 1; return q }, []string{"removed sackok"}, false},
		{"dscp and ecn bleached", v4, func(q []byte) []byte { q[1] = 0; return q }, []string{"dscp 10->0", "ecn ect0->not-ect"}, false},
		{"nat", v4, func(q []byte) []byte {
			copy(q[12:16], []byte{198, 18, 9, 9})
			binary.BigEndian.PutUint16(q[tcp4:], 61000)
			return q
		}, []string{"src 198.18.0.1->198.18.9.9", "sport 40000->61000"}, false},
		{"an option replaced", v4, func(q []byte) []byte { q[tcp4+24] = 30; return q }, []string{"removed sackok", "added opt-30"}, false},
		{"rfc 792 minimum quote", v4, func(q []byte) []byte { binary.BigEndian.PutUint16(q[tcp4+2:], 81); return q[:tcp4+8] }, []string{"dport 80->81"}, true},
		{"options cut", v4, func(q []byte) []byte { binary.BigEndian.PutUint16(q[tcp4+22:], 1300); return q[:tcp4+24] }, []string{"mss 1460->1300"}, true},
		{"ipv6 traffic class", v6, func(q []byte) []byte { q[0], q[1] = 0x60, q[1]&0x0f; return q }, []string{"dscp 10->0", "ecn ect0->not-ect"}, false},
		{"ipv6 wscale", v6, func(q []byte) []byte { q[40+39] = 9; return q }, []string{"wscale 7->9"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.change(slices.Clone(tt.sent))
			mods, partial := Diff(tt.sent, q)
			var got []string
			for _, m := range mods {
				got = append(got, m.String())
			}
			if !slices.Equal(got, tt.want) || partial != tt.partial {
				t.Errorf("got %v partial %v, want %v partial %v", got, partial, tt.want, tt.partial)
			}
		})
	}
}

// FuzzDiff: any quote compares without a panic, and every change names its
// field and differs.
func FuzzDiff(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 40}, []byte{0x45, 1, 0, 40})
	f.Add(make([]byte, 60), make([]byte, 28))
	f.Fuzz(func(t *testing.T, sent, quoted []byte) {
		mods, _ := Diff(sent, quoted)
		for _, m := range mods {
			if m.Field == "" || m.Sent == m.Seen {
				t.Fatalf("mod %+v", m)
			}
		}
	})
}

// TestAfterQuote: the SYN-ACK lacks options the last quote carried, or
// offers a lower MSS; what it has or offers higher is no change; a cut
// quote compares nothing.
func TestAfterQuote(t *testing.T) {
	q := probe(t, "198.18.0.1", "198.19.72.2")
	q6 := probe(t, "2001:db8::1", "2001:db8::2")
	synack := func(opts ...craft.Option) *craft.TCP {
		return &craft.TCP{Flags: craft.SYN | craft.ACK, Options: opts}
	}
	all := []craft.Option{craft.MSSOption(1460), craft.SACKPermittedOption(), craft.TimestampsOption(9, 5), craft.NOPOption(), craft.WindowScaleOption(7)}
	for _, tc := range []struct {
		name  string
		quote []byte
		sa    *craft.TCP
		want  []string
	}{
		{"same", q, synack(all...), nil},
		{"higher mss", q, synack(craft.MSSOption(9000), craft.SACKPermittedOption(), craft.TimestampsOption(9, 5), craft.WindowScaleOption(7)), nil},
		{"clamped, stripped", q, synack(craft.MSSOption(1200), craft.SACKPermittedOption()), []string{"removed ts", "removed wscale", "mss 1460->1200"}},
		{"ipv6", q6, synack(craft.MSSOption(1440)), []string{"removed sackok", "removed ts", "removed wscale", "mss 1460->1440"}},
		{"no options", q, synack(), []string{"removed sackok", "removed ts", "removed wscale"}},
		{"cut quote", q[:30], synack(), nil},
		{"empty quote", nil, synack(), nil},
	} {
		var got []string
		for _, m := range AfterQuote(tc.quote, tc.sa) {
			got = append(got, m.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
