package craft

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// TestFragment cuts a 3000-byte segment for a 1500-byte link, IPv4 and
// IPv6, and puts the fragments together again: each fits, offsets follow,
// the last has no more-fragments flag, IPv4 header checksums hold, and the
// reassembled payload is the original.
func TestFragment(t *testing.T) {
	for _, a := range [][2]string{{"198.18.0.1", "198.18.0.2"}, {"2001:db8::1", "2001:db8::2"}} {
		seg := Segment{Src: netip.MustParseAddr(a[0]), Dst: netip.MustParseAddr(a[1]), TTL: 64, ID: 7,
			TCP: TCP{SrcPort: 1, DstPort: 2, Seq: 3, Flags: ACK | PSH, Window: 100}, Payload: bytes.Repeat([]byte("0123456789"), 300)}
		b := make([]byte, MaxPacket)
		n, err := seg.Encode(b)
		if err != nil {
			t.Fatal(err)
		}
		d := b[:n]
		frags, err := Fragment(d, 1500, 0x1234)
		if err != nil {
			t.Fatal(err)
		}
		if len(frags) != 3 {
			t.Fatalf("%s: %d fragments", a[0], len(frags))
		}
		var whole []byte
		v6 := seg.Src.Is6()
		for i, f := range frags {
			if len(f) > 1500 {
				t.Errorf("fragment %d: %d bytes", i, len(f))
			}
			var off int
			var more bool
			var data []byte
			if v6 {
				h := f[IPv6HeaderSize:]
				if f[6] != ipv6Fragment || h[0] != ProtoTCP || binary.BigEndian.Uint32(h[4:]) != 0x1234 {
					t.Errorf("fragment %d: header %x", i, f[:IPv6HeaderSize+8])
				}
				m := binary.BigEndian.Uint16(h[2:])
				off, more, data = int(m&^7), m&1 != 0, h[8:]
			} else {
				if Checksum(f[:20]) != 0 || binary.BigEndian.Uint16(f[4:]) != 0x1234 {
					t.Errorf("fragment %d: bad header %x", i, f[:20])
				}
				ff := binary.BigEndian.Uint16(f[6:])
				off, more, data = int(ff&0x1fff)*8, ff&0x2000 != 0, f[20:]
			}
			if off != len(whole) || more != (i < len(frags)-1) {
				t.Errorf("fragment %d: offset %d more %v (have %d bytes)", i, off, more, len(whole))
			}
			whole = append(whole, data...)
		}
		hl := 20
		if v6 {
			hl = IPv6HeaderSize
		}
		if !bytes.Equal(whole, d[hl:]) {
			t.Errorf("%s: reassembled payload differs", a[0])
		}
		if fs, err := Fragment(d[:1000], 1500, 1); err != nil || len(fs) != 1 {
			t.Errorf("a datagram that fits: %d, %v", len(fs), err)
		}
	}
}

func FuzzFragment(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, 28)
	f.Add(make([]byte, 100), 60)
	f.Fuzz(func(t *testing.T, d []byte, mtu int) {
		if mtu < 0 || mtu > 70000 {
			return
		}
		frags, err := Fragment(d, mtu, 9)
		if err != nil {
			return
		}
		for _, fr := range frags {
			if len(frags) > 1 && len(fr) > mtu {
				t.Fatalf("fragment of %d bytes for mtu %d", len(fr), mtu)
			}
		}
	})
}
