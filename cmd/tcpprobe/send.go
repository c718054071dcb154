package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/internal/rtt"
	"github.com/tcpprobe/tcpprobe/report"
	"github.com/tcpprobe/tcpprobe/send"
	"github.com/tcpprobe/tcpprobe/wire"
)

func init() {
	register(command{name: "send", summary: "send single hand-made packets and print the replies (hping3/nping style)", run: runSend})
}

// probeOpts are the packet fields shared by send and the other probing
// commands.
type probeOpts struct {
	flags         string
	seq, ack      int64
	window        uint16
	ttl           uint8
	id            uint16
	df            bool
	tos           uint8
	opts          string
	data, dataHex string
	dataFile      string
	dataLen       int
	source, iface string
	sport         uint16
	v4, v6        bool
	payload       []byte
	tcpFlags      craft.Flags
	tcpOpts       []craft.Option
}

func runSend(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("send", "HOST:PORT", "Send hand-made TCP segments to HOST:PORT and print what answers: a TCP segment\n(flags, seq, ack, window, options, TTL, RTT from kernel timestamps), an ICMP\nerror, or nothing.", stdout)
	var o probeOpts
	fs.StringVarP(&o.flags, "flags", "F", "S", "TCP flags: letters SFRPAUECN (\"SA\"), tcpdump's \"S.\", or names \"syn,ack\"")
	fs.Int64Var(&o.seq, "seq", -1, "sequence number (default random)")
	fs.Int64Var(&o.ack, "ack", -1, "acknowledgment number (default 0, random when the ACK flag is set)")
	fs.Uint16VarP(&o.window, "win", "w", 64240, "window")
	fs.Uint8Var(&o.ttl, "ttl", 64, "IPv4 TTL / IPv6 hop limit")
	fs.Uint16Var(&o.id, "id", 0, "IPv4 ID (0: the kernel picks one)")
	fs.BoolVar(&o.df, "df", false, "set IPv4 don't-fragment")
	fs.Uint8Var(&o.tos, "tos", 0, "IPv4 TOS / IPv6 traffic class")
	fs.StringVar(&o.opts, "opt", "", "TCP options, e.g. mss=1460,sackok,ws=7,ts,nop,sack=L:R,tfo,raw=KIND:HEX")
	fs.StringVarP(&o.data, "data", "d", "", `payload text; \r \n \t \\ \xHH are escapes`)
	fs.IntVar(&o.dataLen, "data-length", 0, "a random payload of this many bytes (nmap's --data-length)")
	fs.StringVar(&o.dataHex, "data-hex", "", "payload as hex")
	fs.StringVar(&o.dataFile, "data-file", "", "payload from a file")
	fs.Uint16VarP(&o.sport, "sport", "s", 0, "source port (default: a free ephemeral port)")
	fs.StringVarP(&o.source, "source", "a", "", "source address: one of the route interface's (default: the kernel's choice)")
	fs.StringVarP(&o.iface, "interface", "I", "", "check that the route leaves through this interface")
	fs.BoolVarP(&o.v4, "ipv4", "4", false, "resolve HOST to IPv4")
	fs.BoolVarP(&o.v6, "ipv6", "6", false, "resolve HOST to IPv6")
	count := fs.IntP("count", "c", 1, "number of probes (1-100000)")
	interval := fs.DurationP("interval", "i", time.Second, "time between probes")
	timeout := fs.DurationP("timeout", "t", time.Second, "how long to wait for each reply")
	guardRST := fs.Bool("guard", false, "drop our kernel's RST to the reply (nftables) for the probe's life")
	write := fs.String("write", "", "write every packet sent and received to this pcap file")
	jsonOut := fs.Bool("json", false, "print one JSON object per probe")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("want one target HOST:PORT, got %d arguments", fs.NArg())
	}
	var b bounds
	b.int("count", *count, 1, 100000)
	b.dur("interval", *interval, 0, 0)
	b.dur("timeout", *timeout, time.Millisecond, time.Hour)
	if err := b.err(); err != nil {
		return err
	}
	for _, name := range []string{"seq", "ack"} {
		if v, _ := fs.GetInt64(name); fs.Changed(name) && (v < 0 || v > 0xffffffff) {
			return usageErr("--%s %d: must be 0-4294967295", name, v)
		}
	}
	if err := o.finish(); err != nil {
		return err
	}
	target, err := parseTarget(ctx, fs.Arg(0), o.v4, o.v6)
	if err != nil {
		return err
	}
	wc, err := o.wireConfig(target)
	if err != nil {
		return err
	}
	wc.Guard, wc.Record = *guardRST, *write != ""
	sess, err := wire.Open(wc)
	if err != nil {
		return err
	}
	defer sess.Close()

	var rtts []time.Duration
	st := styleFor(fs, stdout)
	enc := json.NewEncoder(stdout)
	if !*jsonOut {
		fmt.Fprintf(stdout, "TCPPROBE %v -> %v (%s): flags %s, %d probe(s)\n", sess.Local, sess.Remote, sess.Route.Iface, o.tcpFlags, *count)
	}
	tcpReplies, sent := 0, 0
	for i := 0; i < *count; i++ {
		if i > 0 && !pause(ctx, *interval) {
			break
		}
		res, err := send.One(ctx, sess, o.segment(), i+1, *timeout)
		if err != nil {
			return err
		}
		if ctx.Err() != nil && res.Status == send.NoReply {
			break // interrupted while waiting: not a lost probe
		}
		sent++
		if res.Status == send.Reply {
			tcpReplies++
		}
		if res.Status != send.NoReply {
			rtts = append(rtts, res.RTT)
		}
		if *jsonOut {
			enc.Encode(res)
		} else {
			report.SendLine(stdout, &res, *timeout, st)
		}
	}
	stats := rtt.Stats(sent, rtts)
	if !*jsonOut {
		fmt.Fprintf(stdout, "--- %v tcpprobe statistics ---\n%s\n", sess.Remote, stats.Line())
	}
	if *write != "" {
		// Give the capture a moment to deliver the last frames.
		time.Sleep(20 * time.Millisecond)
		if err := sess.WritePcap(*write); err != nil {
			return err
		}
	}
	if tcpReplies == 0 {
		return silent{exitNoAnswer} // nothing, or only ICMP errors: unreachable
	}
	return nil
}

// finish validates and converts the packet options.
func (o *probeOpts) finish() error {
	var err error
	if o.v4 && o.v6 {
		return usageErr("-4 and -6 exclude each other")
	}
	if o.tcpFlags, err = craft.ParseFlags(o.flags); err != nil {
		return usageErr("%v", err)
	}
	if o.tcpOpts, err = craft.ParseOptions(o.opts, uint32(time.Now().UnixMilli())); err != nil {
		return usageErr("%v", err)
	}
	for _, opt := range o.tcpOpts {
		if ws, ok := (&craft.TCP{Options: []craft.Option{opt}}).WindowScale(); ok && ws > 14 {
			fmt.Fprintf(os.Stderr, "tcpprobe: warning: --opt ws=%d: RFC 7323 caps the shift count at 14 (a receiver uses 14); sent as given\n", ws)
		}
	}
	n := 0
	for _, s := range []string{o.data, o.dataHex, o.dataFile} {
		if s != "" {
			n++
		}
	}
	if o.dataLen != 0 {
		n++
	}
	if n > 1 {
		return usageErr("give at most one of --data, --data-hex, --data-file, --data-length")
	}
	switch {
	case o.dataLen < 0 || o.dataLen > 1400:
		return usageErr("--data-length %d: must be 0-1400", o.dataLen)
	case o.dataLen > 0:
		o.payload = make([]byte, o.dataLen)
		for i := range o.payload {
			o.payload[i] = byte(rand.Uint32())
		}
	case o.data != "":
		o.payload = unescape(o.data)
	case o.dataHex != "":
		if o.payload, err = craft.ParseHex(o.dataHex); err != nil {
			return usageErr("--data-hex: %v", err)
		}
	case o.dataFile != "":
		if o.payload, err = os.ReadFile(o.dataFile); err != nil {
			return usageErr("--data-file: %v", err)
		}
	}
	if len(o.payload) > 1400 {
		return usageErr("payload of %d bytes: at most 1400", len(o.payload))
	}
	return nil
}

// wireConfig turns --source and --interface into a wire.Config for target.
func (o *probeOpts) wireConfig(target netip.AddrPort) (wire.Config, error) {
	wc := wire.Config{Remote: target, SrcPort: o.sport, Iface: o.iface}
	if o.source != "" {
		a, err := netip.ParseAddr(o.source)
		if err != nil {
			return wc, usageErr("--source %q: not an IP address", o.source)
		}
		if a.Unmap().Is4() != target.Addr().Is4() {
			return wc, usageErr("--source %v and the target %v are of different IP versions", a, target.Addr())
		}
		wc.Source = a
	}
	return wc, nil
}

// segment builds probe number i.
func (o *probeOpts) segment() craft.Segment {
	seq := craft.Seq(rand.Uint32())
	if o.seq >= 0 {
		seq = craft.Seq(o.seq)
	}
	var ack craft.Seq
	switch {
	case o.ack >= 0:
		ack = craft.Seq(o.ack)
	case o.tcpFlags&craft.ACK != 0:
		ack = craft.Seq(rand.Uint32())
	}
	return craft.Segment{TTL: o.ttl, TOS: o.tos, ID: o.id, DF: o.df,
		TCP:     craft.TCP{Seq: seq, Ack: ack, Flags: o.tcpFlags, Window: o.window, Options: o.tcpOpts},
		Payload: o.payload}
}
