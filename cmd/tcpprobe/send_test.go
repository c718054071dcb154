package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/lab/labtest"

	"github.com/tcpprobe/tcpprobe/internal/tsharktest"
	"github.com/tcpprobe/tcpprobe/lab"
	"github.com/tcpprobe/tcpprobe/send"
)

func target(a netip.Addr, port int) string { return netip.AddrPortFrom(a, uint16(port)).String() }

// TestSendLab probes every kind of lab port over IPv4 and IPv6 and checks
// the answer and exit code.
func TestSendLab(t *testing.T) {
	t.Parallel()
	for _, st := range labStacks(10) {
		t.Run(st.stack, func(t *testing.T) {
			t.Parallel()
			sendLab(t, labtest.ForTest(t, lab.Config{Name: "send" + st.suffix, Subnet: st.subnet, Stack: st.stack}))
		})
	}
}

func sendLab(t *testing.T, l *lab.Lab) {
	for _, a := range []netip.Addr{l.Target4, l.Target6} {
		t.Run(a.String(), func(t *testing.T) {
			r := tcpprobe(t, "send", "--json", "--opt", "mss=1460,sackok,ts,nop,ws=7", target(a, lab.PortEcho))
			if r.code != exitOK {
				t.Fatalf("open port: exit %d: %s", r.code, r.stderr)
			}
			var res send.Result
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
				t.Fatalf("json: %v: %q", err, r.stdout)
			}
			if res.Status != "reply" || res.Reply.Flags != "SYN,ACK" || res.Reply.Ack != res.Sent.Seq+1 || res.RTTMs <= 0 {
				t.Errorf("open port: %+v", res)
			}
			opts := strings.Join(res.Reply.Options, ",")
			for _, want := range []string{"mss ", "sackOK", "TS val", "wscale"} {
				if !strings.Contains(opts, want) {
					t.Errorf("SYN-ACK options %q lack %q", opts, want)
				}
			}
			if !res.KernelRST {
				t.Error("without --guard our kernel's RST was not reported")
			}

			r = tcpprobe(t, "send", target(a, lab.PortClosed))
			if r.code != exitOK || !strings.Contains(r.stdout, "RST,ACK seq=0") {
				t.Errorf("closed port: exit %d: %s", r.code, r.stdout)
			}
			r = tcpprobe(t, "send", target(a, lab.PortRejected))
			switch {
			case l.Stack == lab.StackGVisor:
				if r.code != exitOK || !strings.Contains(r.stdout, "RST,ACK seq=0") { // netdev ingress cannot reject
					t.Errorf("port 3 on gvisor: exit %d: %s", r.code, r.stdout)
				}
			case r.code != exitNoAnswer || !strings.Contains(r.stdout, "port unreachable from "+a.String()):
				t.Errorf("rejected port: exit %d: %s", r.code, r.stdout)
			}
			r = tcpprobe(t, "send", "--timeout", "300ms", target(a, lab.PortDropped))
			if r.code != exitNoAnswer || !strings.Contains(r.stdout, "no reply") {
				t.Errorf("dropped port: exit %d: %s", r.code, r.stdout)
			}
		})
	}
}

// TestSendLoopback probes a listener on 127.0.0.1 and ::1.
func TestSendLoopback(t *testing.T) {
	needRoot(t)
	t.Parallel()
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		ln := echoServer(t, addr)
		r := tcpprobe(t, "send", "--guard", "-c", "2", "-i", "50ms", ln.Addr().String())
		if r.code != exitOK || strings.Count(r.stdout, "SYN,ACK") != 1 || !strings.Contains(r.stdout, "2 sent, 2 answered") {
			t.Errorf("%s: exit %d\n%s%s", addr, r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout, "our kernel reset") {
			t.Errorf("%s: --guard did not keep our kernel's RST off the wire:\n%s", addr, r.stdout)
		}
	}
}

// TestSendWritePcap saves a probe and its answer; tshark must read every
// frame with valid checksums.
func TestSendWritePcap(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "write", Subnet: 11})
	for _, a := range []netip.Addr{l.Target4, l.Target6} {
		path := filepath.Join(t.TempDir(), "probe.pcap")
		r := tcpprobe(t, "send", "--guard", "--flags", "S", "--opt", "mss=1400,sackok,ts,ws=3", "--data", "hello", "--write", path, target(a, lab.PortEcho))
		if r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		frames := tsharktest.Frames(t, path)
		if len(frames) < 2 {
			t.Fatalf("%d frames in %s", len(frames), path)
		}
		tsharktest.AllValid(t, path, len(frames))
	}
}

// TestInterruptRemovesGuard interrupts a long probe with SIGINT and SIGTERM:
// its nftables table must be gone when it exits.
func TestInterruptRemovesGuard(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "intr", Subnet: 12})
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		cmd := exec.Command(bin, "send", "--guard", "-c", "1000", "-i", "50ms", "-t", "50ms", target(l.Target4, lab.PortDropped))
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The banner is printed once the guard and capture are in place.
		if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		table := fmt.Sprintf("tcpprobe_%d_", cmd.Process.Pid)
		if !strings.Contains(nftTables(t), table) {
			t.Errorf("%v: no guard table %s* while probing", sig, table)
		}
		cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v: tcpprobe did not stop", sig)
		}
		if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
			t.Errorf("%v: exit %d, want %d", sig, code, exitInterrupted)
		}
		if tabs := nftTables(t); strings.Contains(tabs, table) {
			t.Errorf("%v: table left behind:\n%s", sig, tabs)
		}
	}
}

func nftTables(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "tables").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list tables: %v %s", err, out)
	}
	return string(out)
}

// TestLabCommand drives 'tcpprobe lab' as a user would.
func TestLabCommand(t *testing.T) {
	needRoot(t)
	t.Parallel()
	args := []string{"--name", "clitest", "--subnet", "13"}
	t.Cleanup(func() { tcpprobe(t, append([]string{"lab", "down"}, args...)...) })
	r := tcpprobe(t, append([]string{"lab", "up"}, args...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "198.18.13.2") || !strings.Contains(r.stdout, "servers running") {
		t.Fatalf("lab up: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r = tcpprobe(t, append([]string{"lab", "up"}, args...)...); r.code != 0 || !strings.Contains(r.stdout, "already up") {
		t.Errorf("second lab up: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r = tcpprobe(t, "send", "198.18.13.2:"+strconv.Itoa(lab.PortEcho)); r.code != 0 || !strings.Contains(r.stdout, "SYN,ACK") {
		t.Errorf("probe of the CLI lab: %d %s", r.code, r.stdout)
	}
	// Another lab on the same subnet is refused, naming the one that holds it.
	if r = tcpprobe(t, "lab", "up", "--name", "clitwo", "--subnet", "13"); r.code != exitUsage || !strings.Contains(r.stderr, "tpclitest") {
		t.Errorf("second lab on subnet 13: %d %s %s", r.code, r.stdout, r.stderr)
	}
	// A veth taken down and up loses its IPv6 address: status says so,
	// up repairs it.
	exec.Command("ip", "link", "set", "tpclitest", "down").Run()
	exec.Command("ip", "link", "set", "tpclitest", "up").Run()
	if r = tcpprobe(t, append([]string{"lab", "status"}, args...)...); r.code != exitNoAnswer || !strings.Contains(r.stdout, "2001:db8:13::1 is missing") {
		t.Errorf("status of a broken lab: %d %s", r.code, r.stdout)
	}
	if r = tcpprobe(t, append([]string{"lab", "up"}, args...)...); r.code != 0 || !strings.Contains(r.stdout, "repairing") {
		t.Errorf("lab up on a broken lab: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r = tcpprobe(t, append([]string{"lab", "status"}, args...)...); r.code != 0 {
		t.Errorf("status after the repair: %d %s", r.code, r.stdout)
	}
	if r = tcpprobe(t, append([]string{"lab", "down"}, args...)...); r.code != 0 {
		t.Errorf("lab down: %d %s", r.code, r.stderr)
	}
	if r = tcpprobe(t, append([]string{"lab", "status"}, args...)...); r.code != exitNoAnswer || !strings.Contains(r.stdout, "not up") {
		t.Errorf("status after down: %d %s", r.code, r.stdout)
	}
	if out, _ := exec.Command("pgrep", "-f", "lab serve --name clitest").Output(); len(out) > 0 {
		t.Errorf("lab server still running: %s", out)
	}
}
