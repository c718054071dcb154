package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/tcpprobe/tcpprobe/lab"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcpprobe/tcpprobe/internal/netns"
)

// bin is the tcpprobe binary built once for the end-to-end tests.
var bin string

func TestMain(m *testing.M) {
	// Safety net: the binary refuses to probe anything but loopback and
	// lab interfaces.
	os.Setenv("TCPPROBE_LAB_ONLY", "1")
	dir, err := os.MkdirTemp("", "tcpprobe-test")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "tcpprobe")
	// The lab's second stack, beside the binary as scripts/demo.sh puts
	// it; labtest (in this process) finds it through TCPPROBE_NETSTACK.
	netstack := filepath.Join(dir, "tcpprobe-netstack")
	os.Setenv("TCPPROBE_NETSTACK", netstack)
	for _, b := range [][2]string{{bin, "."}, {netstack, "../tcpprobe-netstack"}} {
		if out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
			os.Stderr.Write(out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// labStack is one of the lab's TCP stacks for a table-driven live test.
type labStack struct {
	stack  string
	suffix string // for the lab's name
	subnet int
}

// labStacks lists the stacks a live test runs against: the Linux kernel on
// subnet, gVisor's netstack on subnet+100, each its own lab, in parallel.
func labStacks(subnet int) []labStack {
	return []labStack{{lab.StackLinux, "", subnet}, {lab.StackGVisor, "g", subnet + 100}}
}

type result struct {
	stdout, stderr string
	code           int
}

// tcpprobe runs the binary and returns its output and exit code.
func tcpprobe(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := result{stdout: o.String(), stderr: e.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("tcpprobe %v crashed:\n%s", args, r.stderr)
	}
	return r
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// TestBadInput checks that malformed input gets a one-line error and exit
// code 2, never a stack trace.
func TestBadInput(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"send"},
		{"send", "198.18.0.2"},
		{"send", "198.18.0.2:0"},
		{"send", "198.18.0.2:70000"},
		{"send", "::1:22"},
		{"send", "--bogus", "127.0.0.1:1"},
		{"send", "--flags", "SZ", "127.0.0.1:1"},
		{"send", "--opt", "mss=99999", "127.0.0.1:1"},
		{"send", "--count", "0", "127.0.0.1:1"},
		{"send", "-4", "[::1]:1"},
		{"send", "--data", "x", "--data-hex", "00", "127.0.0.1:1"},
		{"send", "--data-hex", "zz", "127.0.0.1:1"},
		{"nosuchcommand"},
		{"lab", "sideways"},
		{"lab", "--name", "BAD!", "status"},
	} {
		r := tcpprobe(t, args...)
		if r.code != exitUsage {
			t.Errorf("tcpprobe %v: exit %d, want %d (stderr %q)", args, r.code, exitUsage, r.stderr)
		}
		if lines := strings.Count(strings.TrimSpace(r.stderr), "\n"); r.stderr == "" || lines != 0 {
			t.Errorf("tcpprobe %v: stderr not one line: %q", args, r.stderr)
		}
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	r := tcpprobe(t, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "send") || !strings.Contains(r.stdout, "Exit codes") {
		t.Errorf("--help: %d %q", r.code, r.stdout)
	}
	for _, cmd := range []string{"send", "handshake", "keepalive", "scan", "trace", "analyze", "lab"} {
		r = tcpprobe(t, cmd, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "3    no answer") || !strings.Contains(r.stdout, "TCPPROBE_LAB_ONLY") {
			t.Errorf("%s --help: %d %q", cmd, r.code, r.stdout)
		}
		// Printed once, without pflag's noise: no "[=true|false]" on
		// booleans, no sentinel default next to the real one.
		if n := strings.Count(r.stdout, "Usage:"); n != 1 || strings.Contains(r.stdout, "[=true|false]") || strings.Contains(r.stdout, "(default -1)") || strings.Count(r.stdout, "(default") > strings.Count(r.stdout, "\n") {
			t.Errorf("%s --help: printed %d times or with pflag's noise:\n%s", cmd, n, r.stdout)
		}
	}
	if r := tcpprobe(t, "send", "--help"); !strings.Contains(r.stdout, "--flags") {
		t.Errorf("send --help lacks its flags: %q", r.stdout)
	}
}

// echoServer listens on addr (in this namespace) and echoes every
// connection until the test ends.
func echoServer(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln
}

// TestNoPrivilege runs tcpprobe without any capability: it must name the
// one it lacks and exit with code 4.
func TestNoPrivilege(t *testing.T) {
	needRoot(t)
	t.Parallel()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not installed")
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", bin, "send", "127.0.0.1:1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitPrivilege || !strings.Contains(stderr.String(), "missing CAP_") || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
		t.Errorf("unprivileged send: %v, stderr %q", err, stderr.String())
	}
}

// TestNoRoute probes from a namespace without routes: a clear error and
// exit code 3.
func TestNoRoute(t *testing.T) {
	needRoot(t)
	t.Parallel()
	ns, err := netns.Recreate("tpnoroute")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Delete() })
	cmd := ns.Command(bin, "send", "198.18.99.2:7")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitNoAnswer || !strings.Contains(stderr.String(), "no route") {
		t.Errorf("send without a route: %v, stderr %q", err, stderr.String())
	}
}

// jsonResult runs 'tcpprobe COMMAND --json ARGS', checks the exit code and
// decodes the one JSON object it prints.
func jsonResult[T any](t *testing.T, wantCode int, command string, args ...string) T {
	t.Helper()
	r := tcpprobe(t, append([]string{command, "--json"}, args...)...)
	if r.code != wantCode {
		t.Fatalf("%s %v: exit %d, want %d\n%.2000s%s", command, args, r.code, wantCode, r.stdout, r.stderr)
	}
	var res T
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("json: %v\n%.400s", err, r.stdout)
	}
	return res
}

// TestCompletionAndMan: the completion scripts parse in their shells and
// know every command's flags; the man page has every command and the
// exit codes; help CMD and --version answer.
func TestCompletionAndMan(t *testing.T) {
	t.Parallel()
	r := tcpprobe(t, "completion", "bash")
	if r.code != 0 || !strings.Contains(r.stdout, "--data-length") || !strings.Contains(r.stdout, "complete -o default -F _tcpprobe tcpprobe") {
		t.Fatalf("completion bash: %d %s", r.code, r.stdout)
	}
	script := filepath.Join(t.TempDir(), "c.bash")
	os.WriteFile(script, []byte(r.stdout), 0o644)
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Errorf("bash -n: %v %s", err, out)
	}
	if r := tcpprobe(t, "completion", "fish"); r.code != 0 || !strings.Contains(r.stdout, "__fish_seen_subcommand_from scan") {
		t.Errorf("completion fish: %d %s", r.code, r.stdout)
	}
	if r := tcpprobe(t, "completion", "tcsh"); r.code != exitUsage {
		t.Errorf("completion tcsh: exit %d", r.code)
	}
	r = tcpprobe(t, "man")
	for _, want := range []string{".TH TCPPROBE 1", ".SS analyze", ".SS trace", ".SH EXIT STATUS", "130"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
	if r := tcpprobe(t, "help", "scan"); r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: tcpprobe scan") {
		t.Errorf("help scan: %d %q", r.code, r.stdout)
	}
	if r := tcpprobe(t, "--version"); r.code != 0 || !strings.HasPrefix(r.stdout, "tcpprobe ") || r.stdout == "tcpprobe dev\n" || !strings.Contains(r.stdout, "go1.") {
		t.Errorf("--version: %q", r.stdout)
	}
}
