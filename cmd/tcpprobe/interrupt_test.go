package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/lab"
	"github.com/tcpprobe/tcpprobe/lab/labtest"
)

// established counts the target's ESTABLISHED connections on port, as the
// target's own kernel reports them (ss in the lab namespace).
func established(t *testing.T, l *lab.Lab, port int) int {
	t.Helper()
	out, err := l.NS.Output("ss", "-Htn", "state", "established", "( sport = :"+strconv.Itoa(port)+" )")
	if err != nil {
		t.Fatalf("ss: %v %s", err, out)
	}
	return len(strings.Fields(out)) / 4 // ss -H prints 4 columns a connection
}

// TestInterruptResetsConnections interrupts commands that hold a hand-made
// connection open: the target must not keep it ESTABLISHED, the exit code
// is 130 and stderr says "interrupted".
func TestInterruptResetsConnections(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "intrst", Subnet: 15})
	for _, tc := range []struct {
		name string
		port int
		args []string
	}{
		{"keepalive probes", lab.PortKeepalive, []string{"keepalive", "-c", "100", "-i", "1s"}},
		{"handshake waiting for replies", lab.PortDiscard, []string{"handshake", "--send", "x", "--reply-wait", "30s"}},
		{"idle search", lab.PortKeepalive, []string{"keepalive", "--idle-search", "20s..40s"}},
	} {
		args := append(tc.args, target(l.Target4, tc.port))
		cmd := exec.Command(bin, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for established(t, l, tc.port) == 0 {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("%s: the connection never appeared on the target", tc.name)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%s: did not stop after SIGINT", tc.name)
		}
		if code := cmd.ProcessState.ExitCode(); code != exitInterrupted || !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("%s: exit %d, stderr %q; want %d and \"interrupted\"", tc.name, code, stderr.String(), exitInterrupted)
		}
		time.Sleep(50 * time.Millisecond)
		if n := established(t, l, tc.port); n != 0 {
			t.Errorf("%s: %d connection(s) left ESTABLISHED on the target after Ctrl-C", tc.name, n)
		}
	}
}

// TestInterruptConform interrupts conform in the middle of its grid, with
// cells opening, probing and closing at once: exit 130, and the target
// holds no connection of ours in any state but TIME_WAIT (which the grid
// creates on purpose and the RFC leaves to expire), half-open ones included.
func TestInterruptConform(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "intconf", Subnet: 142})
	for _, after := range []time.Duration{300 * time.Millisecond, 1500 * time.Millisecond} {
		cmd := exec.Command(bin, "conform", "--parallel", "4", target(l.Target4, lab.PortCloseFirst)+",7")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(after)
		cmd.Process.Signal(syscall.SIGINT)
		if err := cmd.Wait(); cmd.ProcessState.ExitCode() != exitInterrupted || !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("after %v: %v, stderr %q", after, err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
		// The full-queue port's connections are the lab's own.
		out, err := l.NS.Output("ss", "-Htan", "exclude", "listening", "exclude", "time-wait", "sport", "!= :11")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != "" {
			t.Errorf("after an interrupt at %v the target still holds:\n%s", after, out)
		}
	}
}

// TestInterruptScript interrupts a script while a blocking read waits on
// the target: exit 130, the results so far printed, and nothing of the
// run left on the target (its sockets aborted, the flow reset).
func TestInterruptScript(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "intscr", Subnet: 179})
	f := filepath.Join(t.TempDir(), "long.pkt")
	os.WriteFile(f, []byte(serverOpen+`+0...5 read(4, ..., 10) = 10
* > P. 1:2(1) ack 1
`), 0o644)
	cmd := exec.Command(bin, "script", f, target(l.Target4, 8080))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); cmd.ProcessState.ExitCode() != exitInterrupted || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("%v, stderr %q", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "accept(3, ..., ...) = 4") {
		t.Errorf("no results printed:\n%s", stdout.String())
	}
	time.Sleep(50 * time.Millisecond)
	if out, err := l.NS.Output("ss", "-Htan", "sport = :8080 or dport = :8080"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("left on the target: %q %v", out, err)
	}
}
