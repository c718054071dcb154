package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/report"
	"github.com/tcpprobe/tcpprobe/trace"
)

func init() {
	register(command{name: "trace", summary: "TCP SYN traceroute: the hops to HOST:PORT and how the target answers", run: runTrace})
}

func runTrace(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("trace", "HOST[:PORT]", `Send SYNs to HOST:PORT with TTL (hop limit) 1, 2, ... and print who answers
each: routers with ICMP time exceeded, the target with SYN-ACK (open) or RST
(closed). The target's SYN-ACK is reset by us. PORT defaults to 80, as in
tcptraceroute.`, stdout)
	maxHops := fs.IntP("max-hops", "m", 30, "largest TTL")
	probes := fs.IntP("queries", "q", 3, "probes per hop")
	wait := fs.DurationP("wait", "w", time.Second, "wait for each hop's answers")
	sport := fs.Uint16P("sport", "s", 0, "source port")
	v4 := fs.BoolP("ipv4", "4", false, "resolve HOST to IPv4")
	v6 := fs.BoolP("ipv6", "6", false, "resolve HOST to IPv6")
	jsonOut := fs.Bool("json", false, "one JSON object per hop")
	write := fs.String("write", "", "write every probe and answer to this pcap file")
	mods := fs.Bool("mods", false, "compare each router's quote of our SYN with the SYN as it left: which hop rewrites MSS, options, DSCP/ECN, addresses or ports")
	opt := fs.String("opt", "", "the probes' TCP options, as send's --opt (default with --mods: mss=1460,sackok,ts,nop,ws=7; else mss=1460)")
	tos := fs.Int("tos", -1, "the probes' TOS / traffic class byte, DSCP<<2|ECN (default with --mods: 42, DSCP AF11 and ECT(0); else 0)")
	ecn := fs.Bool("ecn", false, "send ECN-setup SYNs (ECE and CWR, RFC 3168)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("want one target HOST[:PORT]")
	}
	var b bounds
	b.int("max-hops", *maxHops, 1, 255)
	b.int("queries", *probes, 1, 10)
	b.dur("wait", *wait, time.Millisecond, 0)
	b.int("tos", *tos, -1, 255)
	if err := b.err(); err != nil {
		return err
	}
	cfg := trace.Config{MaxHops: *maxHops, Probes: *probes, Wait: *wait, SrcPort: *sport, Mods: *mods, Write: *write,
		TOS: uint8(max(*tos, 0)), HasTOS: *tos >= 0, ECN: *ecn}
	if *opt != "" {
		var err error
		if cfg.Options, err = craft.ParseOptions(*opt, uint32(time.Now().UnixMilli())); err != nil {
			return usageErr("--opt: %v", err)
		}
	}
	target, err := parseTargetOrPort(ctx, fs.Arg(0), 80, *v4, *v6)
	if err != nil {
		return err
	}
	if !*jsonOut {
		fmt.Fprintf(stdout, "traceroute to %s (tcp syn), %d hops max\n", target, *maxHops)
	}
	cfg.Target = target
	hops, err := trace.Run(ctx, cfg)
	enc := json.NewEncoder(stdout)
	seen := map[string]bool{} // changes already reported at an earlier hop
	for _, h := range hops {
		if *jsonOut {
			enc.Encode(h)
			continue
		}
		report.Hop(stdout, h)
		if *mods {
			report.HopMods(stdout, h, seen)
		}
	}
	if err != nil {
		return err
	}
	if len(hops) == 0 || !hops[len(hops)-1].Final {
		return silent{exitNoAnswer}
	}
	return nil
}
