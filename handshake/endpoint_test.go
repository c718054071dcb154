package handshake

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/wire"
)

// fakeNet records what the endpoint sends and plays back scripted peer
// segments: a unit test of the receiver logic without a network.
type fakeNet struct {
	sent []craft.Segment
	in   []*wire.Event
}

func (f *fakeNet) Send(s *craft.Segment) error {
	f.sent = append(f.sent, *s)
	return nil
}

func (f *fakeNet) Next(ctx context.Context) (*wire.Event, error) {
	if len(f.in) == 0 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	ev := f.in[0]
	f.in = f.in[1:]
	return ev, nil
}

var (
	us   = netip.MustParseAddrPort("198.18.0.1:40000")
	peer = netip.MustParseAddrPort("198.18.0.2:7")
)

// peerSeg builds an inbound event from the peer.
func peerSeg(t *testing.T, flags craft.Flags, seq, ack craft.Seq, payload string) *wire.Event {
	t.Helper()
	seg := craft.Segment{Src: peer.Addr(), Dst: us.Addr(), TCP: craft.TCP{SrcPort: peer.Port(), DstPort: us.Port(), Seq: seq, Ack: ack, Flags: flags, Window: 1000}, Payload: []byte(payload)}
	b := make([]byte, 256)
	n, err := seg.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	ev := &wire.Event{Time: time.Now(), Dir: wire.In, Raw: b[:n]}
	if err := ev.Pkt.Decode(ev.Raw); err != nil {
		t.Fatal(err)
	}
	return ev
}

// established returns an endpoint that completed a handshake with a peer
// whose ISN is 5000.
func established(t *testing.T) (*Endpoint, *fakeNet) {
	isn := uint32(1000)
	n := &fakeNet{}
	e := NewEndpoint(n, EndpointConfig{ISN: &isn})
	n.in = []*wire.Event{peerSeg(t, craft.SYN|craft.ACK, 5000, 1001, "")}
	out, err := e.Open(context.Background(), OpenConfig{})
	if err != nil || out != Open || e.State != Established || e.RcvNxt != 5001 {
		t.Fatalf("open: %v %v %v rcv %d", out, err, e.State, e.RcvNxt)
	}
	return e, n
}

func lastACK(t *testing.T, n *fakeNet) craft.Seq {
	t.Helper()
	s := n.sent[len(n.sent)-1]
	if s.TCP.Flags&craft.ACK == 0 {
		t.Fatalf("last segment %v is not an ACK", s.TCP.Flags)
	}
	return s.TCP.Ack
}

func TestEndpointACKsOutOfOrderAndRetransmittedData(t *testing.T) {
	e, n := established(t)
	steps := []struct {
		ev      *wire.Event
		wantAck craft.Seq
		what    string
	}{
		{peerSeg(t, craft.PSH|craft.ACK, 5001, 1001, "aaaa"), 5005, "in-order data"},
		{peerSeg(t, craft.PSH|craft.ACK, 5009, 1001, "cccc"), 5005, "a gap: duplicate ACK of what is in order"},
		{peerSeg(t, craft.PSH|craft.ACK, 5001, 1001, "aaaa"), 5005, "a retransmission of acknowledged data"},
		{peerSeg(t, craft.PSH|craft.ACK, 5005, 1001, "bbbb"), 5013, "the gap filled: cumulative ACK past the buffered segment"},
		{peerSeg(t, craft.FIN|craft.ACK, 5013, 1001, ""), 5014, "FIN consumes one sequence number"},
	}
	for _, s := range steps {
		if err := e.handle(s.ev, false); err != nil {
			t.Fatal(err)
		}
		if got := lastACK(t, n); got != s.wantAck {
			t.Errorf("%s: ack %d, want %d", s.what, got, s.wantAck)
		}
	}
	if string(e.Received) != "aaaabbbbcccc" || e.State != CloseWait || e.DupACKsSent != 1 {
		t.Errorf("received %q state %v dupacks %d", e.Received, e.State, e.DupACKsSent)
	}
}

func TestEndpointRejectsBadSynAck(t *testing.T) {
	isn := uint32(1000)
	n := &fakeNet{}
	e := NewEndpoint(n, EndpointConfig{ISN: &isn, Retries: 1, RTO: 10 * time.Millisecond})
	n.in = []*wire.Event{peerSeg(t, craft.SYN|craft.ACK, 5000, 1002, "")} // acks ISN+2
	out, err := e.Open(context.Background(), OpenConfig{})
	if err != nil || out != Filtered {
		t.Fatalf("outcome %v %v", out, err)
	}
	// RFC 9293 3.10.7.3: <SEQ=SEG.ACK><CTL=RST>.
	var rst *craft.Segment
	for i := range n.sent {
		if n.sent[i].TCP.Flags == craft.RST {
			rst = &n.sent[i]
		}
	}
	if rst == nil || rst.TCP.Seq != 1002 {
		t.Errorf("no RST with seq = SEG.ACK: %+v", n.sent)
	}
}

func TestEndpointRSTAcceptance(t *testing.T) {
	e, _ := established(t)
	// A RST not at RCV.NXT must not close the connection (RFC 5961 3.2).
	if err := e.handle(peerSeg(t, craft.RST, 5003, 0, ""), false); err != nil {
		t.Fatal(err)
	}
	if e.State != Established {
		t.Fatalf("out-of-window RST closed the connection")
	}
	if err := e.handle(peerSeg(t, craft.RST, 5001, 0, ""), false); err != nil {
		t.Fatal(err)
	}
	if e.State != Closed || e.PeerRSTs != 1 {
		t.Errorf("RST at RCV.NXT: state %v", e.State)
	}
	// Nothing more arrives: Wait returns at its deadline, not with an error.
	if err := e.Wait(context.Background(), 5*time.Millisecond, false); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Error(err)
	}
}
