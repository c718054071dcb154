package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpprobe/tcpprobe/analyze"
	"github.com/tcpprobe/tcpprobe/lab/labtest"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/lab"
	"github.com/tcpprobe/tcpprobe/scan"
)

type scanOut struct {
	ports map[uint16]scan.Port
	stats scan.Stats
}

func scanJSON(t *testing.T, wantCode int, args ...string) scanOut {
	t.Helper()
	r := tcpprobe(t, append([]string{"scan", "--json"}, args...)...)
	if r.code != wantCode {
		t.Fatalf("scan %v: exit %d, want %d: %s", args, r.code, wantCode, r.stderr)
	}
	out := scanOut{ports: map[uint16]scan.Port{}}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var p scan.Port
		if strings.Contains(sc.Text(), `"probes"`) {
			json.Unmarshal(sc.Bytes(), &out.stats)
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		out.ports[p.Port] = p
	}
	return out
}

var labOpen = map[uint16]bool{lab.PortEcho: true, lab.PortDiscard: true, lab.PortCloseFirst: true, lab.PortHalfClose: true, lab.PortKeepalive: true, lab.PortHold: true}

// TestScanAllPorts scans every port of a lab host over IPv4 and IPv6: it
// must find exactly the open set, and every other state with its reason.
func TestScanAllPorts(t *testing.T) {
	t.Parallel()
	for _, st := range labStacks(60) {
		t.Run(st.stack, func(t *testing.T) {
			t.Parallel()
			scanAllPorts(t, labtest.ForTest(t, lab.Config{Name: "scanall" + st.suffix, Subnet: st.subnet, Stack: st.stack}))
		})
	}
}

func scanAllPorts(t *testing.T, l *lab.Lab) {
	for _, a := range []string{l.Target4.String(), l.Target6.String()} {
		out := scanJSON(t, exitOK, "-p", "-", "--rate", "50000", "--wait", "300ms", a)
		if len(out.ports) != 65535 {
			t.Fatalf("%s: %d ports reported", a, len(out.ports))
		}
		for port, p := range out.ports {
			want, reason := scan.Closed, "reset"
			switch {
			case labOpen[port]:
				want, reason = scan.Open, "syn-ack"
			case port == lab.PortDropped, port == lab.PortFullQueue: // a full accept queue drops the SYN
				want, reason = scan.Filtered, "no-response"
			case port == lab.PortRejected && l.Stack == lab.StackGVisor:
				// netdev ingress cannot reject: netstack answers RST.
			case port == lab.PortRejected:
				want = scan.Filtered
				reason = "icmp-unreach type 3 code 3"
				if strings.Contains(a, ":") {
					reason = "icmp6-unreach type 1 code 4"
				}
			}
			if p.State != want || p.Reason != reason {
				t.Errorf("%s port %d: %s (%s), want %s (%s)", a, port, p.State, p.Reason, want, reason)
			}
		}
		if out.stats.Ignored != 0 {
			t.Errorf("%s: %d replies ignored", a, out.stats.Ignored)
		}
	}
	if l.Stack != lab.StackLinux {
		return
	}
	// No half-open connection is left on the target's kernel.
	ss, err := l.NS.Output("ss", "-tn", "state", "syn-recv")
	if err != nil || strings.Count(ss, "\n") > 1 {
		t.Errorf("half-open connections left on the target:\n%s %v", ss, err)
	}
}

// TestScanKinds checks the RFC 793 answers of both stacks to FIN, NULL,
// Xmas and ACK probes (RFC 9293 3.10.7.1: a segment without RST to a
// closed port gets a RST; RFC 9293 3.10.7.2: in LISTEN one without SYN or
// ACK is dropped, an ACK gets a RST).
func TestScanKinds(t *testing.T) {
	t.Parallel()
	for _, st := range labStacks(61) {
		t.Run(st.stack, func(t *testing.T) {
			t.Parallel()
			scanKinds(t, labtest.ForTest(t, lab.Config{Name: "scankind" + st.suffix, Subnet: st.subnet, Stack: st.stack}))
		})
	}
}

func scanKinds(t *testing.T, l *lab.Lab) {
	ports := "1,7,9,13,19,100,7200"
	for _, kind := range []string{"fin", "null", "xmas"} {
		out := scanJSON(t, exitOK, "--kind", kind, "-p", ports, "--wait", "300ms", l.Target4.String())
		for port, p := range out.ports {
			want := scan.Closed
			if labOpen[port] {
				want = scan.OpenFiltered
			}
			if p.State != want {
				t.Errorf("%s port %d: %s (%s), want %s", kind, port, p.State, p.Reason, want)
			}
		}
	}
	out := scanJSON(t, exitOK, "--kind", "ack", "-p", ports, "--wait", "300ms", l.Target4.String())
	for port, p := range out.ports {
		if p.State != scan.Unfiltered {
			t.Errorf("ack port %d: %s (%s), want unfiltered", port, p.State, p.Reason)
		}
	}
}

// TestScanIgnoresSpoofedReplies answers probes to a port with SYN-ACKs
// whose ack is not the probe's cookie + 1: they must be ignored and
// counted, and the port reported filtered.
func TestScanIgnoresSpoofedReplies(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "scanspoof", Subnet: 62})
	startLiar(t, l, 9997, func(syn *craft.Packet, sa *craft.Segment) { sa.TCP.Ack = syn.TCP.Seq + 2 })
	// The liar answers from user space, later than a kernel: a fixed wait.
	out := scanJSON(t, exitOK, "-p", "7,9997", "--retries", "1", "--wait", "300ms", "--min-wait", "300ms", l.Target4.String())
	if p := out.ports[9997]; p.State != scan.Filtered || out.stats.Ignored < 2 {
		t.Errorf("port 9997: %s (%s), %d ignored; want filtered and the spoofed SYN-ACKs ignored", p.State, p.Reason, out.stats.Ignored)
	}
	if p := out.ports[7]; p.State != scan.Open {
		t.Errorf("port 7: %s", p.State)
	}
}

// TestScanOwnAddressInRange: our own address answers the same whether it
// is scanned alone or inside a range (its replies travel over lo).
func TestScanOwnAddressInRange(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "scself", Subnet: 14})
	host := l.Host4.String()
	ln := echoServer(t, net.JoinHostPort(host, "0"))
	open := ln.Addr().(*net.TCPAddr).Port
	ports := fmt.Sprintf("1,%d", open)
	states := func(args ...string) map[string]scan.State {
		r := tcpprobe(t, append([]string{"scan", "--json", "-p", ports, "--wait", "300ms"}, args...)...)
		if r.code != exitOK {
			t.Fatalf("scan %v: exit %d: %s", args, r.code, r.stderr)
		}
		out := map[string]scan.State{}
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var p scan.Port
			if json.Unmarshal([]byte(line), &p) == nil && p.Addr != "" {
				out[fmt.Sprintf("%s:%d", p.Addr, p.Port)] = p.State
			}
		}
		return out
	}
	alone := states(host)
	inRange := states(netip.PrefixFrom(l.Host4, 30).Masked().String())
	for _, port := range []string{"1", strconv.Itoa(open)} {
		k := host + ":" + port
		if alone[k] == "" || alone[k] != inRange[k] {
			t.Errorf("%s: %q alone, %q in a range", k, alone[k], inRange[k])
		}
	}
	if alone[host+":"+strconv.Itoa(open)] != scan.Open {
		t.Errorf("our listener on %s:%d: %q, want open", host, open, alone[host+":"+strconv.Itoa(open)])
	}
}

// TestScanWriteBothDirections: --write saves our probes and the replies.
func TestScanWriteBothDirections(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "scwrite", Subnet: 16})
	out := filepath.Join(t.TempDir(), "scan.pcap")
	if r := tcpprobe(t, "scan", "-p", "1,7", "--wait", "300ms", "--write", out, l.Target4.String()); r.code != exitOK {
		t.Fatalf("scan --write: %d %s", r.code, r.stderr)
	}
	r := tcpprobe(t, "analyze", "--json", "--fail-on", "never", out)
	var probes, replies int
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var c analyze.Conn
		if json.Unmarshal([]byte(line), &c) == nil {
			probes += int(c.OrigPkts)
			replies += int(c.RespPkts)
		}
	}
	if probes < 2 || replies < 2 {
		t.Errorf("pcap holds %d probes and %d replies, want both directions", probes, replies)
	}
}
