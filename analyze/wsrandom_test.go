package analyze

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/internal/tsharktest"
)

// wsrandom_test.go: Wireshark's per-packet flags on conversations made at
// random to reach the corners captures seldom show (holes the peer ACKs,
// ACKs beyond everything sent, retransmissions just inside and outside
// tshark's 3 ms and 20 ms thresholds, duplicate ACKs, keep-alives, window
// updates, zero windows and their probes, FINs and RSTs again), compared
// with tshark's packet by packet.

// randomConversation is one client's connection to the server, numbered
// port, starting at time start.
func randomConversation(r *rand.Rand, port uint16, start time.Duration) []step {
	type side struct {
		snd    uint32 // next new byte
		ack    uint32 // what it acknowledges of the other side
		win    uint16
		zero   bool
		sent   []uint32 // starts of segments sent, for retransmissions
		lens   []int
		finned bool
	}
	var cl, sv side
	cl.snd, sv.snd = 1, 1
	cl.ack, sv.ack = 1, 1
	cl.win, sv.win = 1000, 1000
	at := start
	var out []step
	// ISNs anywhere, a fifth of them just below the wrap of the sequence
	// space.
	isn := func() uint32 {
		if r.IntN(5) == 0 {
			return ^uint32(0) - uint32(r.IntN(20000))
		}
		return 1 + r.Uint32N(1<<31)
	}
	isnC, isnS := isn(), isn()
	add := func(srv bool, f craft.Flags, seq, ack uint32, n int, me *side) *step {
		out = append(out, step{at: at, fromSrv: srv, flags: f, seq: seq, ack: ack, n: n, srcPort: port, win: me.win, zeroWin: me.zero, isnC: isnC, isnS: isnS})
		return &out[len(out)-1]
	}
	if r.IntN(8) != 0 { // sometimes the capture starts mid-connection
		// Window scaling offered by both, one or none.
		wsC, wsS := r.IntN(3) != 0, r.IntN(3) != 0
		for range 1 + r.IntN(2) { // a SYN retransmitted now and then
			s := add(false, syn, 0, 0, 0, &cl)
			s.wsOpt, s.ws = wsC, uint8(r.IntN(15))
			at += time.Duration(r.IntN(2000)) * time.Microsecond
		}
		s := add(true, synack, 0, 1, 0, &sv)
		s.wsOpt, s.ws = wsS, uint8(r.IntN(15))
		at += time.Duration(r.IntN(2000)) * time.Microsecond
		add(false, ack, 1, 1, 0, &cl)
	}
	events := 10 + r.IntN(50)
	for range events {
		// Gaps: often tiny (out-of-order and fast-retransmission windows),
		// sometimes long.
		switch r.IntN(4) {
		case 0:
			at += time.Duration(r.IntN(3000)) * time.Microsecond
		case 1:
			at += time.Duration(r.IntN(25)) * time.Millisecond
		default:
			at += time.Duration(r.IntN(300)) * time.Millisecond
		}
		srv := r.IntN(3) == 0
		me, peer := &cl, &sv
		if srv {
			me, peer = &sv, &cl
		}
		switch k := r.IntN(20); {
		case k < 7: // new data, sometimes after bytes the capture lost
			if r.IntN(6) == 0 {
				me.snd += uint32(1 + r.IntN(1500))
			}
			n := 1 + r.IntN(1460)
			if r.IntN(5) == 0 {
				n = 1 + r.IntN(3)
			}
			me.sent, me.lens = append(me.sent, me.snd), append(me.lens, n)
			add(srv, psh, me.snd, me.ack, n, me)
			me.snd += uint32(n)
		case k < 9: // a segment again
			if len(me.sent) == 0 {
				continue
			}
			i := r.IntN(len(me.sent))
			add(srv, psh, me.sent[i], me.ack, me.lens[i], me)
		case k < 14: // an ACK: all, part, the same again, or beyond what was sent
			switch r.IntN(6) {
			case 0, 1, 2:
				me.ack = peer.snd
			case 3:
				if len(peer.sent) > 0 {
					me.ack = peer.sent[r.IntN(len(peer.sent))]
				}
			case 4: // a duplicate
			case 5:
				me.ack = peer.snd + uint32(1+r.IntN(3000))
			}
			add(srv, ack, me.snd, me.ack, 0, me)
		case k < 16: // the window moves, closes or opens
			switch r.IntN(3) {
			case 0:
				me.zero, me.win = true, 0
			default:
				me.zero, me.win = false, uint16(500+r.IntN(60000))
			}
			add(srv, ack, me.snd, me.ack, 0, me)
		case k < 17: // a keep-alive or a zero-window probe
			n := r.IntN(2)
			if peer.zero {
				add(srv, psh, me.snd, me.ack, 1, me)
				continue
			}
			add(srv, ack, me.snd-1, me.ack, n, me)
		case k < 19: // FIN (again)
			if !me.finned {
				me.finned = true
				add(srv, fin, me.snd, me.ack, 0, me)
				me.snd++
				continue
			}
			add(srv, fin, me.snd-1, me.ack, 0, me)
		default: // RST now and then ends it
			if r.IntN(3) == 0 {
				add(srv, rstack, me.snd, me.ack, 0, me)
				return out
			}
		}
	}
	return out
}

// TestWiresharkFlagsOnRandomConversations: for each of four seeds, 300
// random conversations in one capture, every packet's analysis flags
// equal to tshark's (about 33,000 packets).
func TestWiresharkFlagsOnRandomConversations(t *testing.T) {
	t.Parallel()
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			flagsAgreeOnRandomConversations(t, seed)
		})
	}
}

func flagsAgreeOnRandomConversations(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 2026))
	var steps []step
	at := time.Duration(0)
	for i := range 300 {
		port := uint16(20000 + i)
		if i > 0 && r.IntN(8) == 0 {
			port = steps[len(steps)-1].srcPort // the ports again: a new connection (port reuse)
		}
		conv := randomConversation(r, port, at)
		steps = append(steps, conv...)
		at = conv[len(conv)-1].at + time.Millisecond
	}
	var ours [][]string
	runStepsEach(t, steps, func(p *PacketInfo) {
		names := slices.DeleteFunc(p.Analysis.Names(), func(n string) bool { return n == "bad_checksum" || n == "challenge_ack" })
		ours = append(ours, names)
	})
	frames := make([]capture.Frame, len(steps))
	for i, st := range steps {
		ip := st.packet(t)
		frames[i] = capture.Frame{Time: time.Unix(0, stepsBase+int64(st.at)), Data: ip, Length: len(ip), LinkType: craft.LinkRaw}
	}
	path := filepath.Join(t.TempDir(), "random.pcap")
	if err := capture.WriteFile(path, craft.LinkRaw, frames); err != nil {
		t.Fatal(err)
	}
	theirs := tsharktest.Analysis(t, path)
	if len(theirs) != len(steps) || len(ours) != len(steps) {
		t.Fatalf("%d packets, tshark analyzed %d, we %d", len(steps), len(theirs), len(ours))
	}
	differ := 0
	for i := range steps {
		want := theirs[int64(i+1)]
		slices.Sort(want)
		got := ours[i]
		slices.Sort(got)
		if !slices.Equal(got, want) {
			differ++
			if differ <= 10 {
				t.Errorf("frame %d (port %d): ours [%s], tshark [%s]", i+1, steps[i].srcPort, strings.Join(got, " "), strings.Join(want, " "))
			}
		}
	}
	t.Logf("%d packets of 300 random conversations: %d differ from tshark", len(steps), differ)
}
