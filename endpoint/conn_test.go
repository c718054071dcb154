package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/internal/packettest"
	"github.com/tcpprobe/tcpprobe/rulebook"
	"github.com/tcpprobe/tcpprobe/wire"
)

// fakeNet records what the endpoint sends and plays back scripted peer
// segments: a unit test of the receiver logic without a network. Like a
// capture, it shows our own segments too, before what the peer sends.
type fakeNet struct {
	sent []*craft.Packet // decoded, as the capture shows them
	echo []*wire.Event
	in   []*wire.Event
}

func (f *fakeNet) Send(s *craft.Segment) error {
	seg := *s
	seg.Src, seg.Dst, seg.TCP.SrcPort, seg.TCP.DstPort = us.Addr(), peer.Addr(), us.Port(), peer.Port()
	b := make([]byte, craft.MaxPacket)
	n, err := seg.Encode(b)
	if err != nil {
		return err
	}
	ev := &wire.Event{Time: time.Now(), Dir: wire.Out, Raw: b[:n]}
	if err := ev.Pkt.Decode(ev.Raw); err != nil {
		return err
	}
	f.echo = append(f.echo, ev)
	f.sent = append(f.sent, &ev.Pkt)
	return nil
}

func (f *fakeNet) Next(ctx context.Context) (*wire.Event, error) {
	if len(f.echo) > 0 {
		ev := f.echo[0]
		f.echo = f.echo[1:]
		return ev, nil
	}
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
func established(t *testing.T) (*Conn, *fakeNet) {
	isn := uint32(1000)
	n := &fakeNet{}
	e := New(n, Config{ISN: &isn})
	n.in = []*wire.Event{peerSeg(t, craft.SYN|craft.ACK, 5000, 1001, "")}
	out, err := e.Open(context.Background(), OpenConfig{})
	if err != nil || out != Open || e.State != rulebook.Established || e.RcvNxt != 5001 {
		t.Fatalf("open: %v %v %v rcv %d", out, err, e.State, e.RcvNxt)
	}
	return e, n
}

// last is the last segment we sent.
func (f *fakeNet) last() *craft.Packet { return f.sent[len(f.sent)-1] }

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
		if err := e.handle(Event{Event: s.ev}, false); err != nil {
			t.Fatal(err)
		}
		t.Run(s.what, func(t *testing.T) {
			packettest.CheckTCP(t, n.last(), packettest.Flags(craft.ACK), packettest.Ack(s.wantAck))
		})
	}
	if string(e.Received) != "aaaabbbbcccc" || e.State != rulebook.CloseWait || e.DupACKsSent != 1 {
		t.Errorf("received %q state %v dupacks %d", e.Received, e.State, e.DupACKsSent)
	}
}

func TestEndpointRejectsBadSynAck(t *testing.T) {
	isn := uint32(1000)
	n := &fakeNet{}
	e := New(n, Config{ISN: &isn, Retries: 1, RTO: 10 * time.Millisecond})
	n.in = []*wire.Event{peerSeg(t, craft.SYN|craft.ACK, 5000, 1002, "")} // acks ISN+2
	out, err := e.Open(context.Background(), OpenConfig{})
	if err != nil || out != Filtered {
		t.Fatalf("outcome %v %v", out, err)
	}
	// RFC 9293 3.10.7.3: <SEQ=SEG.ACK><CTL=RST>.
	var rst *craft.Packet
	for _, p := range n.sent {
		if p.TCP.Flags&craft.RST != 0 {
			rst = p
		}
	}
	if rst == nil {
		t.Fatal("no RST sent")
	}
	packettest.CheckTCP(t, rst, packettest.Flags(craft.RST), packettest.Seq(1002))
}

func TestEndpointRSTAcceptance(t *testing.T) {
	e, _ := established(t)
	// A RST not at RCV.NXT must not close the connection (RFC 5961 3.2).
	if err := e.handle(Event{Event: peerSeg(t, craft.RST, 5003, 0, "")}, false); err != nil {
		t.Fatal(err)
	}
	if e.State != rulebook.Established {
		t.Fatalf("out-of-window RST closed the connection")
	}
	if err := e.handle(Event{Event: peerSeg(t, craft.RST, 5001, 0, "")}, false); err != nil {
		t.Fatal(err)
	}
	if e.State != rulebook.Closed || e.PeerRSTs != 1 {
		t.Errorf("RST at RCV.NXT: state %v", e.State)
	}
	// Nothing more arrives: Wait returns at its deadline, not with an error.
	if err := e.Wait(context.Background(), 5*time.Millisecond, false); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Error(err)
	}
}

// TestStateChangesFollowTheDiagram: our endpoint moves only along the RFC
// 9293 diagram; an arc the diagram lacks is our bug and says so.
func TestStateChangesFollowTheDiagram(t *testing.T) {
	e, _ := established(t)
	if err := e.handle(Event{Event: peerSeg(t, craft.FIN|craft.ACK, 5001, 1001, "")}, false); err != nil {
		t.Fatal(err)
	}
	if e.State != rulebook.CloseWait {
		t.Fatalf("state after the peer's FIN: %v", e.State)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "CLOSE_WAIT cannot receive ACK of SYN") {
			t.Errorf("missing arc did not panic with its name: %v", r)
		}
	}()
	e.setState(rulebook.EvRecvACKSYN)
}

// TestPeerKeepAliveAnswered: a peer's keepalive probe (seq = RCV.NXT-1, no
// data) gets an ACK of RCV.NXT, unless we stay silent on purpose.
func TestPeerKeepAliveAnswered(t *testing.T) {
	for _, silent := range []bool{false, true} {
		e, n := established(t)
		before := len(n.sent)
		n.in = []*wire.Event{peerSeg(t, craft.ACK, 5000, 1001, "")}
		var probes int
		err := e.Receive(context.Background(), time.Now().Add(20*time.Millisecond), silent, func(ev Event) bool {
			if ev.Seg.KeepAlive {
				probes++
			}
			return false
		})
		if err != nil || probes != 1 {
			t.Fatalf("silent=%v: %v, %d probes seen", silent, err, probes)
		}
		answered := len(n.sent) > before
		if answered == silent {
			t.Errorf("silent=%v: answered=%v", silent, answered)
		}
		if answered {
			packettest.CheckTCP(t, n.last(), packettest.Flags(craft.ACK), packettest.Seq(1001), packettest.Ack(5001))
		}
	}
}
