package main

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/lab/labtest"

	"github.com/tcpprobe/tcpprobe/keepalive"
	"github.com/tcpprobe/tcpprobe/lab"
	"github.com/tcpprobe/tcpprobe/rulebook"
)

// kaJSON runs 'tcpprobe keepalive --json ARGS' and decodes the result.
func kaJSON(t *testing.T, wantCode int, args ...string) keepalive.Result {
	t.Helper()
	return jsonResult[keepalive.Result](t, wantCode, "keepalive", args...)
}

// near reports whether got is within 10% or 100 ms of want (milliseconds).
func near(got, want float64) bool {
	return math.Abs(got-want) <= math.Max(want*0.1, 100)
}

// TestKeepaliveObserve measures the lab's keepalive server, answering and
// silent, in two configurations and on both stacks: the figures must follow
// the settings. Where the stacks differ, each is held to its own behaviour:
// after an answered probe Linux waits the longer of idle and interval,
// netstack the idle time; after its last unanswered probe Linux sends a
// RST, netstack closes silently (RFC 9293 3.10.8) and answers our next
// segment with one.
func TestKeepaliveObserve(t *testing.T) {
	t.Parallel()
	for i, c := range []struct {
		idle, intvl time.Duration
		count       int
	}{{2 * time.Second, time.Second, 3}, {time.Second, 2 * time.Second, 2}} {
		for _, st := range labStacks(50 + i) {
			t.Run(strconv.Itoa(i)+"/"+st.stack, func(t *testing.T) {
				t.Parallel()
				l := labtest.ForTest(t, lab.Config{Name: "ka" + strconv.Itoa(i) + st.suffix, Subnet: st.subnet, Stack: st.stack,
					KeepIdle: c.idle, KeepInterval: c.intvl, KeepCount: c.count})
				idle, intvl := float64(c.idle.Milliseconds()), float64(c.intvl.Milliseconds())
				gap := math.Max(idle, intvl)
				if st.stack == lab.StackGVisor {
					gap = idle
				}
				res := kaJSON(t, exitOK, "--observe", "--answers", "2", "--max-wait", "20s", target(l.Target4, lab.PortKeepalive))
				if len(res.Peer) != 2 || !near(res.IdleMs, idle) || !near(res.IntervalMs, gap) || !res.StillUp {
					t.Errorf("answering: idle %.0f ms, gap %.0f ms, %d probes, still up %v; want idle %.0f, gap %.0f", res.IdleMs, res.IntervalMs, len(res.Peer), res.StillUp, idle, gap)
				}
				wait := c.idle + time.Duration(c.count)*c.intvl + 3*time.Second
				res = kaJSON(t, exitOK, "--observe", "--silent", "--max-wait", wait.String(), target(l.Target6, lab.PortKeepalive))
				linux := st.stack == lab.StackLinux
				if !near(res.IdleMs, idle) || !near(res.IntervalMs, intvl) || res.Count != c.count || !res.GaveUp || res.RSTAfter != linux || res.SilentGiveUp == linux {
					t.Errorf("silent: idle %.0f interval %.0f count %d gave up %v, rst %v, silently %v; want %.0f %.0f %d, rst %v",
						res.IdleMs, res.IntervalMs, res.Count, res.GaveUp, res.RSTAfter, res.SilentGiveUp, idle, intvl, c.count, linux)
				}
				for _, v := range res.Rules {
					if id := rulebook.Rules[v.Rule].ID; strings.HasPrefix(id, "keepalive-") && id != "keepalive-ack" && v.Result != rulebook.Pass {
						t.Errorf("silent: rule %s %s %s", id, v.Result, v.Detail)
					}
				}
			})
		}
	}
}

// TestKeepaliveProbes sends our probes to the echo server of both stacks
// (with data in flight) and to socat.
func TestKeepaliveProbes(t *testing.T) {
	t.Parallel()
	for _, st := range labStacks(52) {
		t.Run(st.stack, func(t *testing.T) {
			t.Parallel()
			l := labtest.ForTest(t, lab.Config{Name: "kaprobe" + st.suffix, Subnet: st.subnet, Stack: st.stack})
			runs := [][]string{
				// Intervals above Linux's tcp_invalid_ratelimit (500 ms), which
				// limits the ACKs a peer sends for old segments.
				{"-c", "3", "-i", "600ms", "--data", "hello", target(l.Target4, lab.PortEcho)},
				{"-c", "2", "-i", "600ms", "--probe-bytes", "1", target(l.Target6, lab.PortEcho)},
			}
			if st.stack == lab.StackLinux {
				labtest.Start(t, l, 8082, "socat", "TCP6-LISTEN:8082,ipv6only=0,reuseaddr,fork", "EXEC:cat")
				runs = append(runs, []string{"-c", "2", "-i", "600ms", target(l.Target4, 8082)})
			}
			keepaliveProbes(t, runs)
		})
	}
}

func keepaliveProbes(t *testing.T, runs [][]string) {
	for _, args := range runs {
		res := kaJSON(t, exitOK, args...)
		if len(res.Probes) == 0 {
			t.Fatalf("%v: no probes", args)
		}
		for _, p := range res.Probes {
			if !p.Answered || !p.AckOK || !p.WindowOK || p.RTTms <= 0 {
				t.Errorf("%v: probe %+v", args, p)
			}
		}
		for _, v := range res.Rules {
			if v.Result == rulebook.Fail {
				t.Errorf("%v: rule %s failed: %s", args, rulebook.Rules[v.Rule].ID, v.Detail)
			}
		}
	}
}

// TestKeepaliveIdleSearch finds a middlebox idle timeout: conntrack in the
// lab forgets established flows after 3 s idle and drops what follows.
func TestKeepaliveIdleSearch(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "kaidle", Subnet: 53})
	if err := l.NS.Run("nft", "add", "rule", "inet", "tplab", "in", "ct", "state", "invalid", "drop"); err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"net.netfilter.nf_conntrack_tcp_timeout_established", "3"}, {"net.netfilter.nf_conntrack_tcp_loose", "0"}} {
		if err := l.NS.Sysctl(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	res := kaJSON(t, exitOK, "--idle-search", "1s..6s", "--tolerance", "1s", "--timeout", "300ms", target(l.Target4, lab.PortEcho))
	var lo, hi time.Duration
	for _, tr := range res.Trials {
		d := time.Duration(tr.IdleMs * float64(time.Millisecond))
		if tr.Answered && d > lo {
			lo = d
		}
		if !tr.Answered && (hi == 0 || d < hi) {
			hi = d
		}
	}
	if lo == 0 || hi == 0 || lo > 3*time.Second || hi < 3*time.Second || hi-lo > time.Second {
		t.Errorf("idle timeout bracket [%v, %v] (%s), want one of at most 1s around 3s; trials %+v", lo, hi, res.IdleTimeout, res.Trials)
	}
}
