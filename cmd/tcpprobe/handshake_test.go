package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/lab/labtest"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/endpoint"
	"github.com/tcpprobe/tcpprobe/handshake"
	"github.com/tcpprobe/tcpprobe/inject"
	"github.com/tcpprobe/tcpprobe/internal/tsharktest"
	"github.com/tcpprobe/tcpprobe/lab"
	"github.com/tcpprobe/tcpprobe/rulebook"
)

// hsJSON runs 'tcpprobe handshake --json ARGS' and decodes the result.
func hsJSON(t *testing.T, wantCode int, args ...string) handshake.Result {
	t.Helper()
	return jsonResult[handshake.Result](t, wantCode, "handshake", args...)
}

func rule(t *testing.T, res handshake.Result, id string) string {
	t.Helper()
	for _, v := range res.Rules {
		if rulebook.Rules[v.Rule].ID == id {
			return v.Result.String()
		}
	}
	t.Fatalf("no rule %s", id)
	return ""
}

func failedRules(res handshake.Result) []string {
	var out []string
	for _, v := range res.Rules {
		if v.Result == rulebook.Fail {
			out = append(out, rulebook.Rules[v.Rule].ID+": "+v.Detail)
		}
	}
	return out
}

// TestHandshakeEcho walks a connection to the echo server over IPv4 and
// IPv6: data in the third segment, an active close, TIME_WAIT.
func TestHandshakeEcho(t *testing.T) {
	t.Parallel()
	for _, st := range labStacks(20) {
		t.Run(st.stack, func(t *testing.T) {
			t.Parallel()
			handshakeEcho(t, labtest.ForTest(t, lab.Config{Name: "hsecho" + st.suffix, Subnet: st.subnet, Stack: st.stack}))
		})
	}
}

func handshakeEcho(t *testing.T, l *lab.Lab) {
	for _, a := range []netip.Addr{l.Target4, l.Target6} {
		pcap := filepath.Join(t.TempDir(), "hs.pcap")
		res := hsJSON(t, exitOK, "--data", "hello", "--send", "again", "--time-wait", "300ms", "--write", pcap, target(a, lab.PortEcho))
		if res.Outcome != endpoint.Open || res.ReceivedText != "helloagain" || res.OurState != rulebook.Closed {
			t.Errorf("%v: outcome %v received %q our state %v", a, res.Outcome, res.ReceivedText, res.OurState)
		}
		if f := res.CloseForm; f != rulebook.CloseThreeSegment && f != rulebook.CloseFourSegment {
			t.Errorf("%v: close form %v", a, f)
		}
		for _, id := range []string{"syn-ack-acks-isn", "ack-acks-peer-isn", "seq-after-syn", "data-advances-ack", "fin-acked", "final-ack", "legal-transitions", "options-offered", "tsecr-echoes"} {
			if got := rule(t, res, id); got != "pass" {
				t.Errorf("%v: rule %s %s", a, id, got)
			}
		}
		if res.KernelRSTs == 0 {
			t.Errorf("%v: the guard dropped no kernel RST (our kernel should have tried to reset the SYN-ACK)", a)
		}
		if res.Close == nil || res.Close.TimeWaitMs < 290 {
			t.Errorf("%v: TIME_WAIT not kept: %+v", a, res.Close)
		}
		tsharktest.AllValid(t, pcap, len(tsharktest.Frames(t, pcap)))
		// The handshake RTT is what tshark computes from the same kernel
		// timestamps: SYN to SYN-ACK.
		if got, want := res.HandshakeMs, tsharkSynToSynAck(t, pcap); math.Abs(got-want) > 0.002 {
			t.Errorf("%v: handshake rtt %.3f ms, tshark %.3f ms", a, got, want)
		}
	}
}

func tsharkSynToSynAck(t *testing.T, pcap string) float64 {
	t.Helper()
	out, err := exec.Command(tsharktest.Need(t), "-n", "-r", pcap, "-T", "fields", "-e", "frame.time_epoch", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack").Output()
	if err != nil {
		t.Fatal(err)
	}
	var syn, synack float64
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		ts, _ := strconv.ParseFloat(f[0], 64)
		switch {
		case f[1] == "1" && f[2] == "0" && syn == 0:
			syn = ts
		case f[1] == "1" && f[2] == "1" && synack == 0:
			synack = ts
		}
	}
	if syn == 0 || synack == 0 {
		t.Fatalf("tshark found no SYN/SYN-ACK:\n%s", out)
	}
	return (synack - syn) * 1000
}

func TestHandshakeCloses(t *testing.T) {
	t.Parallel()
	for _, st := range labStacks(21) {
		t.Run(st.stack, func(t *testing.T) {
			t.Parallel()
			handshakeCloses(t, labtest.ForTest(t, lab.Config{Name: "hsclose" + st.suffix, Subnet: st.subnet, Stack: st.stack}))
		})
	}
}

func handshakeCloses(t *testing.T, l *lab.Lab) {
	// The server closes first: CLOSE_WAIT, LAST_ACK.
	res := hsJSON(t, exitOK, "--close", "passive", target(l.Target4, lab.PortCloseFirst))
	if res.Close == nil || !res.Close.PeerClosedFirst || res.CloseBy != "peer" || res.ReceivedText != strings.TrimSuffix(lab.Greeting, "\r\n")+"\n" || res.OurState != rulebook.Closed {
		t.Errorf("passive close: %+v, by %s, received %q, ours %v", res.Close, res.CloseBy, res.ReceivedText, res.OurState)
	}
	if res.PeerState != rulebook.TimeWait {
		t.Errorf("passive close: peer state %v, want TIME_WAIT", res.PeerState)
	}
	// Half-close: the peer keeps sending after our FIN.
	res = hsJSON(t, exitOK, "--send", "bye", "--time-wait", "100ms", target(l.Target6, lab.PortHalfClose))
	if res.HalfCloseData != lab.HalfCloseLines*len("line 1 after your FIN\r\n") || rule(t, res, "final-ack") != "pass" {
		t.Errorf("half-close: %d bytes after our FIN (%q), rules %v", res.HalfCloseData, res.ReceivedText, failedRules(res))
	}
	// Abort with RST.
	res = hsJSON(t, exitOK, "--close", "rst", target(l.Target4, lab.PortEcho))
	if res.CloseForm != rulebook.CloseReset || res.CloseBy != "ours" || rule(t, res, "rst-acceptable") != "pass" {
		t.Errorf("rst: %v by %s, rules %v", res.CloseForm, res.CloseBy, failedRules(res))
	}
	// Withhold the final ACK: the peer retransmits its FIN from LAST_ACK.
	res = hsJSON(t, exitOK, "--drop", "final-ack", "--observe", "1500ms", "--time-wait", "100ms", target(l.Target4, lab.PortEcho))
	x := res.Close.FINRetransmissions
	if x == nil || x.Count < 2 || !res.Close.PeerClosedConfirmed {
		t.Errorf("drop final-ack: %+v, confirmed %v", x, res.Close.PeerClosedConfirmed)
	}
}

func TestHandshakeUnanswered(t *testing.T) {
	t.Parallel()
	for _, st := range labStacks(22) {
		t.Run(st.stack, func(t *testing.T) {
			t.Parallel()
			handshakeUnanswered(t, labtest.ForTest(t, lab.Config{Name: "hsno" + st.suffix, Subnet: st.subnet, Stack: st.stack}))
		})
	}
}

func handshakeUnanswered(t *testing.T, l *lab.Lab) {
	res := hsJSON(t, exitFailed, target(l.Target4, lab.PortClosed))
	if res.Outcome != endpoint.Refused || rule(t, res, "rst-to-syn") != "pass" {
		t.Errorf("closed port: %v %v", res.Outcome, failedRules(res))
	}
	if l.Stack == lab.StackLinux { // netdev ingress cannot reject: no ICMP from the gvisor lab
		res = hsJSON(t, exitNoAnswer, target(l.Target6, lab.PortRejected))
		if res.Outcome != endpoint.Unreachable || res.ICMP == nil || res.ICMP.Description != "port unreachable" {
			t.Errorf("rejected port: %v %+v", res.Outcome, res.ICMP)
		}
	}
	res = hsJSON(t, exitNoAnswer, "--retries", "2", "--timeout", "100ms", target(l.Target4, lab.PortDropped))
	if res.Outcome != endpoint.Filtered || res.SYNRetries != 2 {
		t.Errorf("dropped port: %v after %d SYN retransmissions", res.Outcome, res.SYNRetries)
	}
}

// TestDropThirdACK measures the lab's SYN-ACK retransmissions with two
// different tcp_synack_retries settings: the count must follow the sysctl
// and the intervals double; and netstack's.
func TestDropThirdACK(t *testing.T) {
	t.Parallel()
	for _, retries := range []int{1, 2} {
		t.Run(strconv.Itoa(retries), func(t *testing.T) {
			t.Parallel()
			l := labtest.ForTest(t, lab.Config{Name: fmt.Sprintf("hs3ack%d", retries), Subnet: 22 + retries, SynAckRetries: retries})
			// Linux gives up 2^retries seconds after the last retransmission.
			observe := time.Duration(1<<(retries+1))*time.Second + 500*time.Millisecond
			res := hsJSON(t, exitOK, "--drop", "third-ack", "--observe", observe.String(), target(l.Target4, lab.PortEcho))
			x := res.SynAckRetrans
			if x == nil || x.Count != retries {
				t.Fatalf("SYN-ACK retransmissions %+v, want %d", x, retries)
			}
			for i, iv := range x.IntervalsMs {
				want := float64(int(1000) << i)
				if iv < want*0.9 || iv > want*1.2 {
					t.Errorf("interval %d: %.0f ms, want about %.0f", i, iv, want)
				}
			}
			if retries == 2 && math.Abs(x.Backoff-2) > 0.2 {
				t.Errorf("backoff %.2f, want 2", x.Backoff)
			}
			if x.RSTAfter {
				t.Error("Linux gave up with a RST; it drops the request silently")
			}
		})
	}
	// gVisor's netstack has no SYN-ACK retries setting: in 8 s it sends
	// three, 1, 2 and 4 s apart (RFC 6298 5.5 doubling), and no RST.
	t.Run("gvisor", func(t *testing.T) {
		t.Parallel()
		l := labtest.ForTest(t, lab.Config{Name: "hs3ackg", Subnet: 125, Stack: lab.StackGVisor})
		res := hsJSON(t, exitOK, "--drop", "third-ack", "--observe", "7500ms", target(l.Target4, lab.PortEcho))
		x := res.SynAckRetrans
		if x == nil || x.Count != 3 || x.RSTAfter {
			t.Fatalf("SYN-ACK retransmissions %+v, want 3 and no RST", x)
		}
		for i, iv := range x.IntervalsMs {
			if want := float64(int(1000) << i); iv < want*0.9 || iv > want*1.2 {
				t.Errorf("interval %d: %.0f ms, want about %.0f", i, iv, want)
			}
		}
	})
}

// TestHandshakeLoopback probes a server on 127.0.0.1 and ::1.
func TestHandshakeLoopback(t *testing.T) {
	needRoot(t)
	t.Parallel()
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		ln := echoServer(t, addr)
		res := hsJSON(t, exitOK, "--data", "ping", "--time-wait", "100ms", ln.Addr().String())
		if res.ReceivedText != "ping" || res.Iface != "lo" {
			t.Errorf("%s: received %q via %s, failed %v", addr, res.ReceivedText, res.Iface, failedRules(res))
		}
	}
}

// TestHandshakeThirdPartyPeers uses nginx (an HTTP/1.0 request: the server
// closes first) and socat (an echo) as peers inside the lab.
func TestHandshakeThirdPartyPeers(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "hs3rd", Subnet: 25})
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`daemon off; master_process off; pid %[1]s/nginx.pid; error_log stderr;
events {}
http {
	access_log off;
	client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
	server { listen 8080; listen [::]:8080; location / { return 200 "hello from nginx\n"; } }
}
`, dir)), 0o644)
	labtest.Start(t, l, 8080, "nginx", "-p", dir, "-c", conf)
	labtest.Start(t, l, 8081, "socat", "TCP6-LISTEN:8081,ipv6only=0,reuseaddr,fork", "EXEC:cat")
	for _, a := range []netip.Addr{l.Target4, l.Target6} {
		res := hsJSON(t, exitOK, "--send", "GET / HTTP/1.0\r\n\r\n", "--close", "passive", target(a, 8080))
		if !strings.Contains(res.ReceivedText, "hello from nginx") || res.CloseBy != "peer" {
			t.Errorf("nginx on %v: %q, close by %s, failed %v", a, res.ReceivedText, res.CloseBy, failedRules(res))
		}
		res = hsJSON(t, exitOK, "--data", "ping", "--time-wait", "100ms", target(a, 8081))
		if res.ReceivedText != "ping" {
			t.Errorf("socat on %v: %q, failed %v", a, res.ReceivedText, failedRules(res))
		}
	}
}

// TestHandshakeCount opens several connections in a row.
func TestHandshakeCount(t *testing.T) {
	t.Parallel()
	for _, st := range labStacks(26) {
		t.Run(st.stack, func(t *testing.T) {
			t.Parallel()
			handshakeCount(t, labtest.ForTest(t, lab.Config{Name: "hscount" + st.suffix, Subnet: st.subnet, Stack: st.stack}))
		})
	}
}

func handshakeCount(t *testing.T, l *lab.Lab) {
	r := tcpprobe(t, "handshake", "-c", "5", "--time-wait", "0s", target(l.Target4, lab.PortDiscard))
	if r.code != exitOK || strings.Count(r.stdout, "all rules passed") != 5 || !strings.Contains(r.stdout, "5 sent, 5 answered, 0.0% loss, rtt min/avg/max/mdev") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestMisbehavingPeer answers our SYNs from inside the lab with crafted
// SYN-ACKs that break rules: the right rule must fail, and the exit code
// must say so.
func TestMisbehavingPeer(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "hsliar", Subnet: 27})
	startLiar(t, l, 9998, func(syn *craft.Packet, sa *craft.Segment) { sa.TCP.Ack = syn.TCP.Seq + 2 })
	startLiar(t, l, 9999, func(syn *craft.Packet, sa *craft.Segment) {
		sa.TCP.Options = []craft.Option{craft.MSSOption(1460), craft.SACKPermittedOption()}
	})
	res := hsJSON(t, exitFailed, "--retries", "0", "--timeout", "300ms", target(l.Target4, 9998))
	if rule(t, res, "syn-ack-acks-isn") != "fail" {
		t.Errorf("SYN-ACK acking ISN+2: rules %v", failedRules(res))
	}
	res = hsJSON(t, exitFailed, "--syn-opts", "none", "--close", "rst", target(l.Target4, 9999))
	if rule(t, res, "options-offered") != "fail" || rule(t, res, "syn-ack-acks-isn") != "pass" {
		t.Errorf("unoffered SACK: rules %v", failedRules(res))
	}
}

// startLiar answers SYNs to port inside the lab with a SYN-ACK that lie
// may alter; the target's own kernel RSTs for that port are dropped.
func startLiar(t *testing.T, l *lab.Lab, port uint16, lie func(*craft.Packet, *craft.Segment)) {
	t.Helper()
	rules := fmt.Sprintf("add chain inet tplab out%[1]d { type filter hook output priority 0; }\nadd rule inet tplab out%[1]d meta mark != %#x tcp sport %[1]d tcp flags rst drop\n", port, inject.Mark)
	cmd := l.NS.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	var live *capture.Live
	var sender *inject.Sender
	err := l.NS.Do(func() (err error) {
		if live, err = capture.OpenLive("eth0", fmt.Sprintf("tcp dst port %d and tcp[13] & 0x12 == 0x02", port)); err != nil {
			return err
		}
		sender, err = inject.NewSender(false)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done; live.Close(); sender.Close() })
	go func() {
		defer close(done)
		var p craft.Packet
		var b [256]byte
		for {
			f, err := live.Next(ctx)
			if err != nil {
				return
			}
			off, err := craft.IPOffset(f.LinkType, f.Data)
			if err != nil || p.Decode(f.Data[off:]) != nil || !p.HasTCP {
				continue
			}
			sa := craft.Segment{Src: p.Dst(), Dst: p.Src(), TTL: 64, TCP: craft.TCP{SrcPort: p.TCP.DstPort, DstPort: p.TCP.SrcPort,
				Seq: 777000, Ack: p.TCP.Seq + 1, Flags: craft.SYN | craft.ACK, Window: 1000, Options: []craft.Option{craft.MSSOption(1460)}}}
			lie(&p, &sa)
			if n, err := sa.Encode(b[:]); err == nil {
				sender.Send(b[:n], sa.Dst)
			}
		}
	}()
}

// TestPeerTimeWaitAndFullQueue measures, on both stacks, how long the peer
// holds TIME_WAIT after closing first (RFC 9293's 2 MSL: Linux and
// netstack both use 60 s; the probes must not restart the timer, or it
// would never end) and how a port whose accept queue is full answers a
// SYN (Linux and netstack drop it: no answer).
func TestPeerTimeWaitAndFullQueue(t *testing.T) {
	t.Parallel()
	for _, st := range labStacks(154) {
		t.Run(st.stack, func(t *testing.T) {
			t.Parallel()
			l := labtest.ForTest(t, lab.Config{Name: "twfq" + st.suffix, Subnet: st.subnet, Stack: st.stack})
			r := tcpprobe(t, "handshake", "--json", "--retries", "1", "--timeout", "300ms", target(l.Target4, lab.PortFullQueue))
			var full handshake.Result
			if err := json.Unmarshal([]byte(r.stdout), &full); err != nil || r.code != exitNoAnswer || full.Outcome != endpoint.Filtered || full.SYNRetries != 1 {
				t.Errorf("SYN to the full queue: exit %d, %+v %v", r.code, full.Outcome, err)
			}
			r = tcpprobe(t, "handshake", "--json", "--close", "passive", "--probe-time-wait", "80s", target(l.Target4, lab.PortCloseFirst))
			var res handshake.Result
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.PeerTimeWait == nil {
				t.Fatalf("exit %d: %v\n%.2000s", r.code, err, r.stdout)
			}
			tw := res.PeerTimeWait
			if !tw.Ended || tw.LastHeldMs < 55000 || tw.EndedMs > 66000 || tw.EndedMs-tw.LastHeldMs > 1500 {
				t.Errorf("TIME_WAIT: %+v, want it held about 60 s", tw)
			}
			if f := failedRules(res); len(f) > 0 {
				t.Errorf("rules failed: %v", f)
			}
		})
	}
}
