package craft

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/tcpprobe/tcpprobe/internal/tsharktest"
)

// TestTsharkValidatesChecksums writes every cross-check segment and a few
// ICMP errors to a raw-IP pcap and has tshark verify all checksums.
func TestTsharkValidatesChecksums(t *testing.T) {
	tsharktest.Need(t)
	path := filepath.Join(t.TempDir(), "craft.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		t.Fatal(err)
	}
	n := 0
	write := func(b []byte) {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(n)*1000), CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			t.Fatal(err)
		}
		n++
	}
	var buf [2048]byte
	for _, seg := range crossCheckSegments() {
		l, err := seg.Encode(buf[:])
		if err != nil {
			t.Fatal(err)
		}
		write(buf[:l])
	}
	l, _ := BuildICMPError(buf[:], netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.1"), ICMPv4Unreachable, ICMPv4CodePortUnreach, 0, synV4)
	write(buf[:l])
	l, _ = BuildICMPError(buf[:], netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), ICMPv6Unreachable, ICMPv6CodePortUnrch, 0, synAckV6)
	write(buf[:l])
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	tsharktest.AllValid(t, path, n)
}
