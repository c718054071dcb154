package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/tcpprobe/tcpprobe/endpoint"
	"github.com/tcpprobe/tcpprobe/handshake"
	"github.com/tcpprobe/tcpprobe/keepalive"
	"github.com/tcpprobe/tcpprobe/report"
)

func init() {
	register(command{name: "keepalive", summary: "send keepalive probes on a hand-made connection, or measure a peer's keepalive timers", run: runKeepalive})
}

func runKeepalive(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("keepalive", "HOST:PORT", `Keepalive checks on a connection opened by hand.
  (default)        send --count probes with seq = SND.NXT-1 every --interval; each
                   must be answered by an ACK with ack = SND.NXT, window unchanged
  --observe        go idle and measure the peer's own keepalive: answering each
                   probe (its idle time), or with --silent like a crashed client
                   (idle, interval, probe count, and whether it resets)
  --idle-search A..B  find by bisection the longest idle time after which a
                   probe is still answered (a NAT or load balancer's idle timeout)
Linux defaults for comparison: idle 7200 s, interval 75 s, 9 probes.`, stdout)
	count := fs.IntP("count", "c", 3, "probes to send (1-1000)")
	interval := fs.DurationP("interval", "i", time.Second, "idle time before each probe")
	probeBytes := fs.Int("probe-bytes", 0, "probe payload: 0 or 1 byte")
	timeout := fs.DurationP("timeout", "t", time.Second, "wait for each answer")
	observe := fs.Bool("observe", false, "measure the peer's keepalive instead of sending ours")
	silent := fs.Bool("silent", false, "with --observe: never answer, like a crashed client")
	answers := fs.Int("answers", 3, "with --observe: answered probes to record")
	maxWait := fs.Duration("max-wait", 2*time.Minute, "with --observe: stop waiting after this long")
	search := fs.String("idle-search", "", "MIN..MAX: bisect the path's idle timeout, e.g. 1s..30s")
	tolerance := fs.Duration("tolerance", time.Second, "with --idle-search: stop when the bracket is this narrow")
	budget := fs.Duration("budget", 5*time.Minute, "with --idle-search: total idle time allowed")
	data := fs.StringP("data", "d", "", "data carried by the third segment")
	preset := fs.String("syn-opts", "linux", "SYN options preset: linux, windows, bsd, none")
	closeMode := fs.String("close", "active", "teardown after the check: active, rst, none")
	timeWait := fs.Duration("time-wait", 500*time.Millisecond, "TIME_WAIT after an active close")
	v4 := fs.BoolP("ipv4", "4", false, "resolve HOST to IPv4")
	v6 := fs.BoolP("ipv6", "6", false, "resolve HOST to IPv6")
	jsonOut := fs.Bool("json", false, "print the result as one JSON object")
	write := fs.String("write", "", "write every segment to this pcap file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("want one target HOST:PORT, got %d arguments", fs.NArg())
	}
	var b bounds
	b.int("count", *count, 1, 1000)
	b.int("probe-bytes", *probeBytes, 0, 1)
	b.int("answers", *answers, 1, 1000)
	b.dur("interval", *interval, time.Millisecond, 0)
	b.dur("timeout", *timeout, time.Millisecond, 0)
	b.dur("max-wait", *maxWait, time.Millisecond, 0)
	if err := b.err(); err != nil {
		return err
	}
	if *observe && *search != "" {
		return usageErr("--observe and --idle-search are two different checks: choose one")
	}
	if *silent && !*observe {
		return usageErr("--silent goes with --observe")
	}
	switch *closeMode {
	case "active", "rst", "none":
	default:
		return usageErr("--close %q: want active, rst or none", *closeMode)
	}
	if _, err := handshake.SYNPreset(*preset, 1460); err != nil {
		return usageErr("--syn-opts: %v", err)
	}
	var smin, smax time.Duration
	if *search != "" {
		a, b, ok := strings.Cut(*search, "..")
		var e1, e2 error
		smin, e1 = time.ParseDuration(a)
		smax, e2 = time.ParseDuration(b)
		if !ok || e1 != nil || e2 != nil || smin <= 0 || smax <= smin || smax > time.Hour {
			return usageErr("--idle-search %q: want MIN..MAX, e.g. 1s..30s", *search)
		}
	}
	target, err := parseTarget(ctx, fs.Arg(0), *v4, *v6)
	if err != nil {
		return err
	}
	cfg := keepalive.Config{
		Target: handshake.RunConfig{Target: target, SYNPreset: *preset, Data: []byte(*data), ReplyWait: 300 * time.Millisecond, Write: *write,
			Close: endpoint.CloseConfig{Mode: endpoint.CloseMode(*closeMode), TimeWait: *timeWait, PassiveWait: time.Second}},
		Count: *count, Interval: *interval, ProbeBytes: *probeBytes, Timeout: *timeout, Silent: *silent, MaxWait: *maxWait,
		SearchMin: smin, SearchMax: smax, Tolerance: *tolerance, Budget: *budget,
	}
	var res *keepalive.Result
	switch {
	case *search != "":
		res, err = keepalive.IdleSearch(ctx, cfg)
	case *observe:
		cfg.Count = *answers
		res, err = keepalive.Observe(ctx, cfg)
	default:
		res, err = keepalive.ProbePeer(ctx, cfg)
	}
	if res == nil {
		return err
	}
	if err != nil {
		res.Note = err.Error()
	}
	if *jsonOut {
		json.NewEncoder(stdout).Encode(res)
	} else {
		report.Keepalive(stdout, res, styleFor(fs, stdout))
	}
	return keepaliveExit(res)
}

func keepaliveExit(r *keepalive.Result) error {
	switch r.Outcome {
	case endpoint.Refused:
		return silent{exitFailed}
	case endpoint.Filtered, endpoint.Unreachable:
		return silent{exitNoAnswer}
	}
	if r.Failed {
		return silent{exitFailed}
	}
	if r.NoPeerProbe {
		return silent{exitNoAnswer}
	}
	for _, p := range r.Probes {
		if !p.Answered || !p.AckOK {
			return silent{exitFailed}
		}
	}
	return nil
}
