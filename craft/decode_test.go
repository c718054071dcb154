package craft_test

import (
	"net/netip"
	"testing"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/internal/packettest"
)

// These tests assert with the shared packettest checkers, so they live in
// the external test package (packettest imports craft).

func TestDecodeVectors(t *testing.T) {
	var p craft.Packet
	if err := p.Decode(craft.SynV4); err != nil {
		t.Fatal(err)
	}
	packettest.CheckTCP(t, &p, packettest.Src("198.18.0.1"), packettest.Dst("198.18.0.2"), packettest.Ports(40000, 80), packettest.Seq(1000), packettest.Flags(craft.SYN), packettest.Window(64240), packettest.MSS(1460), packettest.WScale(7), packettest.SACKOK(true), packettest.TS(100, 0), packettest.ChecksumOK())
	if p.IPv4.ID != 0x1234 || p.IPv4.Flags != craft.IPv4DontFragment || p.TTL() != 64 {
		t.Errorf("ipv4 fields: %+v", p.IPv4)
	}
	if err := p.Decode(craft.SynAckV6); err != nil {
		t.Fatal(err)
	}
	packettest.CheckTCP(t, &p, packettest.Src("2001:db8::2"), packettest.Dst("2001:db8::1"), packettest.Ports(80, 40000), packettest.Seq(5000), packettest.Ack(1001), packettest.Flags(craft.SYN|craft.ACK|craft.ECE), packettest.MSS(1440), packettest.WScale(7), packettest.SACKOK(true), packettest.NoTS(), packettest.ChecksumOK())
	if p.IPv6.FlowLabel != 0x12345 || p.IPv6.HopLimit != 64 {
		t.Errorf("ipv6 fields: %+v", p.IPv6)
	}
	if got := len(p.TCP.Options); got != 6 {
		t.Errorf("options: %d, want 6", got)
	}
}

// TestDecodeResets decodes a packet with options and then one without into
// the same value: nothing of the first may survive.
func TestDecodeResets(t *testing.T) {
	var p craft.Packet
	if err := p.Decode(craft.SynV4); err != nil {
		t.Fatal(err)
	}
	s := craft.Segment{Src: netip.MustParseAddr("198.18.0.2"), Dst: netip.MustParseAddr("198.18.0.1"),
		TCP: craft.TCP{SrcPort: 80, DstPort: 40000, Seq: 1, Ack: 1001, Flags: craft.RST | craft.ACK}}
	var b [128]byte
	n, _ := s.Encode(b[:])
	if err := p.Decode(b[:n]); err != nil {
		t.Fatal(err)
	}
	packettest.CheckTCP(t, &p, packettest.Ports(80, 40000), packettest.Flags(craft.RST|craft.ACK), packettest.NoMSS(), packettest.NoTS(), packettest.SACKOK(false))
	if len(p.TCP.Options) != 0 || p.IPv4.Options != nil || p.TCP.OptionsMalformed {
		t.Errorf("stale fields after second decode: %+v", p.TCP.Options)
	}
}

func TestMalformedOptionKeepsSegment(t *testing.T) {
	// mss, then a timestamps option claiming 12 bytes in a 4-byte rest.
	seg := craft.Segment{Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"),
		TCP: craft.TCP{SrcPort: 1, DstPort: 2, Flags: craft.SYN, Options: []craft.Option{craft.MSSOption(536), {Kind: craft.OptTimestamps, Data: []byte{1, 2}}}}}
	var b [128]byte
	n, err := seg.Encode(b[:])
	if err != nil {
		t.Fatal(err)
	}
	b[20+20+5] = 12 // corrupt the timestamps length
	var p craft.Packet
	if err := p.Decode(b[:n]); err != nil {
		t.Fatalf("segment discarded for a bad option: %v", err)
	}
	if !p.TCP.OptionsMalformed {
		t.Error("OptionsMalformed not set")
	}
	packettest.CheckTCP(t, &p, packettest.MSS(536), packettest.Flags(craft.SYN))
}
