package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcpprobe/tcpprobe/internal/tsharktest"
	"github.com/tcpprobe/tcpprobe/lab"
	"github.com/tcpprobe/tcpprobe/lab/labtest"
	"github.com/tcpprobe/tcpprobe/script"
)

// scriptRuns runs tcpprobe script --json and returns one result per run.
func scriptRuns(t *testing.T, wantCode int, args ...string) []script.Result {
	t.Helper()
	r := tcpprobe(t, append([]string{"script", "--json"}, args...)...)
	var out []script.Result
	var failed []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var res script.Result
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			if r.code == wantCode {
				t.Fatalf("%v: %.300s", err, line)
			}
			break
		}
		out = append(out, res)
		if f := res.Failed(); f != nil {
			failed = append(failed, fmt.Sprintf("%s (%s) line %d %q: %s (seen %s)", res.Script, res.Family, f.Line, f.Text, f.Why, f.Seen))
		}
		if len(res.HostFailures) > 0 {
			failed = append(failed, fmt.Sprintf("%s (%s): host broke %v", res.Script, res.Family, res.HostFailures))
		}
	}
	if r.code != wantCode {
		t.Fatalf("script %v: exit %d, want %d\n%s\n%s", args, r.code, wantCode, strings.Join(failed, "\n"), r.stderr)
	}
	return out
}

// serverOpen is a script's listening socket and an accepted connection.
const serverOpen = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <...>
+0 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
`

// scriptTolerance widens packetdrill's 4 ms for the suite: the lab tests
// run in parallel on one machine, and a loaded scheduler delays a kernel
// ACK by a few milliseconds (the scripts' own windows stay as written).
const scriptTolerance = "25ms"

// gvisorTolerance is wider still for the gvisor lab: netstack runs its
// timers in a user-space process that the parallel suite starves at times
// (a keepalive probe due at +1 s came 25 ms late once in a full run).
const gvisorTolerance = "100ms"

// TestScriptCorpus runs the project's scripts against the Linux lab with
// the executor playing the server (or client) application: handshake,
// data, a lost segment retransmitted, active, passive and simultaneous
// close, RSTs, keepalive, SACK, timestamps and window scaling, each over
// IPv4, IPv6 and IPv4-mapped IPv6. Every line of every run must pass and
// the host must break no rule.
func TestScriptCorpus(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "script", Subnet: 171})
	to := target(l.Target4, 8080)
	runs := scriptRuns(t, exitOK, "--ip", "all", "--tolerance", scriptTolerance, "../../testdata/scripts", to)
	runs = append(runs, scriptRuns(t, exitOK, "--ip", "4,mapped", "--tolerance", scriptTolerance, "../../testdata/scripts/ipv4", to)...)
	files, _ := filepath.Glob("../../testdata/scripts/*.pkt")
	v4only, _ := filepath.Glob("../../testdata/scripts/ipv4/*.pkt")
	if want := 3*len(files) + 2*len(v4only); len(runs) != want || len(files) < 9 {
		t.Fatalf("%d runs of %d scripts, want %d", len(runs), len(files), want)
	}
	fams := map[string]int{}
	for _, r := range runs {
		fams[r.Family]++
		if !r.Passed || len(r.HostFailures) > 0 {
			t.Errorf("%s (%s): passed %v, host broke %v", r.Script, r.Family, r.Passed, r.HostFailures)
		}
		for _, l := range r.Lines {
			if l.Status != script.StatusPass {
				t.Errorf("%s (%s) line %d %q: %s %s (seen %s)", r.Script, r.Family, l.Line, l.Text, l.Status, l.Why, l.Seen)
			}
		}
		if r.Packets < 3 {
			t.Errorf("%s (%s): %d packets captured", r.Script, r.Family, r.Packets)
		}
	}
	if fams["ipv4"] == 0 || fams["ipv6"] == 0 || fams["ipv4-mapped-ipv6"] == 0 {
		t.Errorf("families %v", fams)
	}
}

// TestScriptFailure: a > line the host does not match fails with what was
// seen and why, the lines after it are not run, the exit code is 1, and
// the connection and listener the script opened are gone from the target
// afterwards (the executor aborts its sockets, tcpprobe resets the flow).
func TestScriptFailure(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "scriptf", Subnet: 172})
	f := filepath.Join(t.TempDir(), "wrong.pkt")
	os.WriteFile(f, []byte(serverOpen+`+0 < P. 1:11(10) ack 1 win 257
+0 > . 1:1(0) ack 5
+0 read(4, ..., 100) = 10
`), 0o644)
	runs := scriptRuns(t, exitFailed, "--tolerance", scriptTolerance, f, target(l.Target4, 8080))
	r := runs[0]
	if r.Passed || len(r.Lines) != 11 {
		t.Fatalf("%+v", r)
	}
	bad := r.Lines[9]
	if bad.Status != script.StatusFail || bad.Why != "ack 11, want 5" || !strings.HasPrefix(bad.Seen, "> . 1:1(0) ack 11") {
		t.Errorf("line 10: %+v", bad)
	}
	if r.Lines[10].Status != script.StatusNotRun || r.Lines[8].Status != script.StatusPass {
		t.Errorf("lines 9 and 11: %+v %+v", r.Lines[8], r.Lines[10])
	}
	// An unsupported call is refused before anything is sent.
	poll := filepath.Join(t.TempDir(), "poll.pkt")
	os.WriteFile(poll, []byte("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 poll([{fd=3, events=POLLIN}], 1, 0) = 0\n"), 0o644)
	if r := tcpprobe(t, "script", poll, target(l.Target4, 8080)); r.code != exitUsage || !strings.Contains(r.stderr, "line 2: syscall poll is not supported") {
		t.Errorf("poll: exit %d, %s", r.code, r.stderr)
	}
	out, err := l.NS.Output("ss", "-Htan", "sport = :8080 or dport = :8080")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "" {
		t.Errorf("left on the target:\n%s", out)
	}
}

// TestScriptRemote: a script without syscall lines runs against any
// listening port, here the lab's echo port on both stacks; a script with
// syscall lines is refused against a host that is not a Linux lab target
// unless --no-syscalls skips them.
func TestScriptRemote(t *testing.T) {
	t.Parallel()
	for _, st := range labStacks(153) {
		t.Run(st.stack, func(t *testing.T) {
			t.Parallel()
			l := labtest.ForTest(t, lab.Config{Name: "scriptr" + st.suffix, Subnet: st.subnet, Stack: st.stack})
			pcap := filepath.Join(t.TempDir(), "runs.pcap")
			packets := 0
			for _, r := range scriptRuns(t, exitOK, "--ip", "all", "--no-syscalls", "--write", pcap, "--tolerance", scriptTolerance, "../../testdata/scripts/remote", target(l.Target4, lab.PortEcho)) {
				if !r.Passed {
					t.Errorf("%s (%s): %+v", r.Script, r.Family, r.Lines)
				}
				packets += r.Packets
			}
			// --write keeps every run's packets (and the closing RSTs), each
			// with checksums tshark finds good.
			tsharktest.Need(t)
			frames := len(tsharktest.Frames(t, pcap))
			if packets < 16 || frames < packets {
				t.Errorf("%d frames written for %d packets seen", frames, packets)
			}
			tsharktest.AllValid(t, pcap, frames)
			if st.stack == lab.StackGVisor {
				// netstack's agent makes the calls it has; one it lacks fails its line.
				f := filepath.Join(t.TempDir(), "getsockopt.pkt")
				os.WriteFile(f, []byte("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 getsockopt(3, SOL_SOCKET, SO_REUSEADDR, [0], [4]) = 0\n"), 0o644)
				runs := scriptRuns(t, exitFailed, f, target(l.Target4, 8080))
				if bad := runs[0].Failed(); bad == nil || bad.Line != 2 || !strings.Contains(bad.Why, "not supported by the gvisor agent") {
					t.Errorf("getsockopt on netstack: %+v", bad)
				}
			}
		})
	}
}

// TestScriptUsage: bad scripts and arguments are one-line errors with
// exit 2, before anything is sent.
func TestScriptUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pkt")
	os.WriteFile(bad, []byte("0 < S 0:0(0)\n+0 > S. 0:0(5) ack 1\n"), 0o644)
	sys := filepath.Join(dir, "sys.pkt")
	os.WriteFile(sys, []byte("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{bad, "127.0.0.1:9"}, "line 2: sequence"},
		{[]string{sys, "127.0.0.1:9"}, "--no-syscalls"},
		{[]string{dir + "/none.pkt", "127.0.0.1:9"}, "no such file"},
		{[]string{t.TempDir(), "127.0.0.1:9"}, "no *.pkt"},
		{[]string{"--ip", "5", sys, "127.0.0.1:9"}, "--ip"},
		{[]string{"--ip", "6", "--no-syscalls", sys, "127.0.0.1:9"}, "not an address of that family"},
		{[]string{"-D", "1X=2", sys, "127.0.0.1:9"}, "--define"},
		{[]string{sys}, "want a script"},
	} {
		r := tcpprobe(t, append([]string{"script"}, tc.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, %q; want 2 and %q on one line", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// TestScriptPacketdrillDefaults: scripts written for packetdrill's
// settings (window scale 8 from its 15 MB receive buffer, MSS 1460 over
// IPv6 too) pass once --packetdrill-defaults has set them on the lab
// target, and fail on the lab's own settings. The blocking read checks
// packetdrill's "..." timing, the non-blocking one an errno.
func TestScriptPacketdrillDefaults(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "scriptd", Subnet: 174})
	dir, to := "../../testdata/scripts/packetdrill", target(l.Target4, 8080)
	if out, _ := l.NS.Output("sysctl", "-n", "net.ipv4.tcp_rmem"); !strings.Contains(out, "15728640") {
		r := scriptRuns(t, exitFailed, "--tolerance", scriptTolerance, dir, to)
		if f := r[0].Failed(); f == nil || !strings.Contains(f.Why, "wscale") {
			t.Errorf("without the defaults: %+v", f)
		}
	}
	runs := scriptRuns(t, exitOK, "--packetdrill-defaults", "--ip", "all", "--tolerance", scriptTolerance, dir, to)
	files, _ := filepath.Glob(dir + "/*.pkt")
	if len(runs) != 3*len(files) || len(files) < 2 {
		t.Fatalf("%d runs of %d scripts", len(runs), len(files))
	}
	cookies := 0
	for _, r := range runs {
		if !r.Passed {
			t.Errorf("%s (%s): %+v", r.Script, r.Family, r.Failed())
		}
		// The Fast Open script's placeholder cookie only passes (SYN data
		// acknowledged) once replaced by the target's cookie.
		if r.Script == "fastopen-server.pkt" && len(r.Notes) == 1 && strings.Contains(r.Notes[0], "it replaces the script's cookies") {
			cookies++
		}
	}
	if cookies != 3 {
		t.Errorf("%d Fast Open runs with the target's cookie, want 3", cookies)
	}
	if out, _ := l.NS.Output("sysctl", "-n", "net.ipv4.tcp_rmem"); strings.Join(strings.Fields(out), " ") != "4096 540000 15728640" {
		t.Errorf("tcp_rmem %q after --packetdrill-defaults", out)
	}
}

// TestScriptGVisor runs the corpus against the gvisor lab, its syscall
// lines made by tcpprobe-netstack's agent on netstack's own endpoints, and
// holds what netstack does differently from Linux. With packetdrill's
// customary listen(3, 1), netstack answers a SYN with a SYN cookie as soon
// as one connection is half-open; without timestamps such a SYN-ACK
// carries MSS alone, so the connection has no window scale (257-byte
// window: data.pkt), no SACK (sack.pkt), no RTT sample (first RTO 1 s:
// retransmit.pkt), and the listener takes a stray ACK as a cookie instead
// of resetting it (close-passive.pkt). With listen(3, 10) all of that
// goes, and two differences stay: netstack's segments keep 36 bytes of
// the peer's MSS free (for SACK blocks), 964 bytes for an MSS of 1000,
// and it does not negotiate ECN.
func TestScriptGVisor(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "scriptg", Subnet: 175, Stack: lab.StackGVisor})
	to := target(l.Target4, 8080)
	failsAt := func(runs []script.Result, want map[string]string) {
		t.Helper()
		for _, r := range runs {
			f := r.Failed()
			got := ""
			if f != nil {
				got = fmt.Sprintf("%d: %s", f.Line, f.Why)
			}
			if w := want[r.Script]; !strings.HasPrefix(got, w) || (w == "") != (got == "") {
				t.Errorf("%s (%s): failed at %q, want %q", r.Script, r.Family, got, w)
			}
			if len(r.HostFailures) > 0 {
				t.Errorf("%s (%s): host broke %v", r.Script, r.Family, r.HostFailures)
			}
		}
	}
	runs := scriptRuns(t, exitFailed, "--ip", "all", "--tolerance", gvisorTolerance, "../../testdata/scripts", to)
	files, _ := filepath.Glob("../../testdata/scripts/*.pkt")
	if len(runs) != 3*len(files) {
		t.Fatalf("%d runs", len(runs))
	}
	failsAt(runs, map[string]string{
		"close-passive.pkt": "27: no segment from the peer",
		"ecn.pkt":           "12: flags S., want SE.", // netstack does not negotiate ECN
		"data.pkt":          "18: length 257, want 300",
		"retransmit.pkt":    "17: no segment from the peer",
		"sack.pkt":          "15: options <>, want <nop,nop,sack 101:201>",
	})
	dir := t.TempDir()
	for _, f := range files {
		src, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(strings.ReplaceAll(string(src), "listen(3, 1)", "listen(3, 10)")), 0o644)
	}
	failsAt(scriptRuns(t, exitFailed, "--ip", "all", "--tolerance", gvisorTolerance, dir, to), map[string]string{
		"data.pkt": "23: length 964, want 1000",
		"ecn.pkt":  "12: flags S., want SE.",
	})
}
