package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/conform"
	"github.com/tcpprobe/tcpprobe/handshake"
	"github.com/tcpprobe/tcpprobe/report"
)

func init() {
	register(command{name: "conform", summary: "bring a live host into each TCP state and judge its answer to every kind of segment (RFC 9293 3.10.7, RFC 5961)", run: runConform})
}

func runConform(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("conform", "HOST:PORT[,PORT...]", `The RFC 9293 "SEGMENT ARRIVES" grid of a live host: for each state of the
peer (LISTEN, SYN_RECEIVED, ESTABLISHED, FIN_WAIT_2, LAST_ACK, CLOSING,
TIME_WAIT) a fresh connection is driven there by hand, one probe segment is
sent (SYNs with a new, the same or an in-window sequence number, an
unsolicited SYN-ACK, RSTs exact, in and out of the window, ACKs of unsent,
old or seen data, data in, before and beyond the window, urgent data, data
with an old timestamp, a FIN with and without data, a segment without
flags), the answer is judged by RFC 9293 3.10.7 with RFC 5961's challenge
ACKs and RFC 7323's PAWS, and a follow-up segment shows whether the peer
kept the connection. Every connection ends with a RST. The ports say which
states are reachable: one that closes first after a greeting reaches
FIN_WAIT_2, CLOSING and TIME_WAIT, one that closes after our FIN reaches
LAST_ACK. Verdicts: pass, allowed (a choice the RFCs leave
open), fail (a MUST broken), unreachable.`, stdout)
	states := fs.String("states", "", "comma-separated peer states to test (default all)")
	probes := fs.String("probes", "", "comma-separated probes to test (default all)")
	parallel := fs.Int("parallel", 4, "cells tested at once, each on its own connection (1-32)")
	window := fs.Duration("window", 300*time.Millisecond, "how long the replies to a probe are collected")
	preset := fs.String("syn-opts", "linux", "SYN options preset: linux, windows, bsd, none")
	v4 := fs.BoolP("ipv4", "4", false, "resolve HOST to IPv4")
	v6 := fs.BoolP("ipv6", "6", false, "resolve HOST to IPv6")
	jsonOut := fs.Bool("json", false, "print one JSON object per cell")
	write := fs.String("write", "", "write every packet of every cell's connection to this pcap file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("want one target HOST:PORT[,PORT...], got %d arguments", fs.NArg())
	}
	host, portList, err := net.SplitHostPort(fs.Arg(0))
	if err != nil {
		return usageErr("invalid target %q: want HOST:PORT[,PORT...], e.g. 198.18.0.2:13,7", fs.Arg(0))
	}
	var ports []uint16
	for _, p := range strings.Split(portList, ",") {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return usageErr("invalid port %q in %q: want 1-65535", p, fs.Arg(0))
		}
		if !slices.Contains(ports, uint16(n)) {
			ports = append(ports, uint16(n))
		}
	}
	var b bounds
	b.int("parallel", *parallel, 1, 32)
	b.dur("window", *window, 10*time.Millisecond, 5*time.Second)
	if err := b.err(); err != nil {
		return err
	}
	pick := func(flag, list string, all []string) ([]string, error) {
		if list == "" {
			return nil, nil
		}
		var out []string
		for _, x := range strings.Split(list, ",") {
			x = strings.TrimSpace(x)
			if flag == "states" {
				x = strings.ToUpper(x)
			}
			if !slices.Contains(all, x) {
				return nil, usageErr("--%s %q: want some of %s", flag, x, strings.Join(all, ","))
			}
			out = append(out, x)
		}
		return out, nil
	}
	cfg := conform.Config{Ports: ports, Parallel: *parallel, Window: *window}
	if cfg.States, err = pick("states", *states, conform.States); err != nil {
		return err
	}
	if cfg.Probes, err = pick("probes", *probes, conform.Probes); err != nil {
		return err
	}
	if _, err := handshake.SYNPreset(*preset, 1460); err != nil {
		return usageErr("--syn-opts: %v", err)
	}
	target, err := parseTarget(ctx, net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(int(ports[0]))), *v4, *v6)
	if err != nil {
		return err
	}
	cfg.Target = handshake.RunConfig{Target: target, SYNPreset: *preset}
	if *write != "" {
		cfg.Capture = &conform.Capture{}
	}
	res, err := conform.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if cfg.Capture != nil {
		if err := capture.WriteFile(*write, cfg.Capture.LinkType, cfg.Capture.Sorted()); err != nil {
			return err
		}
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		for i := range res.Cells {
			if err := enc.Encode(&res.Cells[i]); err != nil {
				return err
			}
		}
	} else {
		report.Conform(stdout, res, styleFor(fs, stdout))
	}
	if res.Failed {
		return silent{exitFailed}
	}
	return nil
}
