package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/report"
	"github.com/tcpprobe/tcpprobe/scan"
)

func init() {
	register(command{name: "scan", summary: "probe many ports at once and classify them as nmap does, accepting only replies with the probe's cookie", run: runScan})
}

func runScan(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("scan", "TARGETS...", `Probe the ports of hosts, addresses or CIDR blocks (at most a /16) and
classify each: open (SYN-ACK), closed (RST), filtered (no answer after the
retries, or ICMP unreachable), unfiltered (ACK scan RST), open|filtered
(FIN/NULL/Xmas with no answer), each with its reason. Every probe's ISN is a
SipHash of its 4-tuple under a secret of the run: replies without it are
ignored and counted. Open ports are reset with a RST of our own.`, stdout)
	portsArg := fs.StringP("ports", "p", "1-1024", "ports: 22,80,8000-8100, or - for all")
	kind := fs.String("kind", "syn", "probe: syn, fin, null, xmas, ack, window")
	flagsArg := fs.String("flags", "", "probe with any TCP flags instead of --kind (e.g. SEC)")
	rate := fs.Int("rate", 2000, "probes per second")
	retries := fs.Int("retries", 1, "extra rounds for unanswered probes")
	wait := fs.Duration("wait", time.Second, "wait at most this long for late replies after each round; it ends sooner once every probe is answered, or when no reply came for the RTT-based timeout (SRTT + 4 RTTVAR, at least --min-wait)")
	minWait := fs.Duration("min-wait", 50*time.Millisecond, "shortest wait for late replies after each round")
	ttl := fs.Uint8("ttl", 64, "TTL / hop limit of the probes")
	sport := fs.Uint16("sport", 0, "source port (default: a free ephemeral port)")
	openOnly := fs.Bool("open", false, "show only open ports")
	v6 := fs.BoolP("ipv6", "6", false, "resolve names to IPv6")
	jsonOut := fs.Bool("json", false, "one JSON object per port, then a summary object")
	write := fs.String("write", "", "write every probe and reply to this pcap file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageErr("give at least one target")
	}
	var b bounds
	b.int("rate", *rate, 1, 10_000_000)
	b.int("retries", *retries, 0, 10)
	b.dur("wait", *wait, time.Millisecond, 0)
	b.dur("min-wait", *minWait, time.Millisecond, 0)
	if err := b.err(); err != nil {
		return err
	}
	ports, err := scan.ParsePorts(*portsArg)
	if err != nil {
		return usageErr("%v", err)
	}
	cfg := scan.Config{Ports: ports, Kind: scan.Kind(*kind), Rate: *rate, Retries: *retries, Wait: *wait, MinWait: *minWait, TTL: *ttl, SrcPort: *sport, Write: *write}
	if *flagsArg != "" {
		f, err := craft.ParseFlags(*flagsArg)
		if err != nil {
			return usageErr("%v", err)
		}
		cfg.Kind, cfg.Flags = scan.KindCustom, f
	} else if _, err := scan.FlagsOf(cfg.Kind); err != nil {
		return usageErr("%v", err)
	}
	if cfg.Targets, err = scan.ParseTargets(ctx, fs.Args(), *v6); err != nil {
		return usageErr("%v", err)
	}
	for _, t := range cfg.Targets[min(1, len(cfg.Targets)):] {
		if t.Is6() != cfg.Targets[0].Is6() {
			return usageErr("targets mix IPv4 and IPv6 (%v, %v): scan them separately", cfg.Targets[0], t)
		}
	}
	if isTerminal(os.Stderr) && !*jsonOut {
		cfg.Progress = func(sent, total, answered int, el time.Duration) {
			r := float64(sent) / el.Seconds()
			eta := time.Duration(float64(total-sent)/r) * time.Second
			fmt.Fprintf(os.Stderr, "\r%d/%d probes, %d answered, %.0f probes/s, ETA %v   ", sent, total, answered, r, eta.Round(time.Second))
		}
	}
	res, st, err := scan.Run(ctx, cfg)
	if cfg.Progress != nil {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	if res == nil {
		return err
	}
	bw := bufio.NewWriterSize(stdout, 256<<10)
	defer bw.Flush()
	stdout = bw
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		for _, p := range res {
			if !*openOnly || p.State == scan.Open {
				enc.Encode(p)
			}
		}
		enc.Encode(st)
	} else {
		report.Scan(stdout, res, st, *openOnly)
	}
	if err != nil {
		return err
	}
	if st.Answered == 0 && cfg.Kind == scan.KindSYN {
		return silent{exitNoAnswer}
	}
	return nil
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
