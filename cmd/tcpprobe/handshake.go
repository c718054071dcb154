package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/endpoint"
	"github.com/tcpprobe/tcpprobe/handshake"
	"github.com/tcpprobe/tcpprobe/internal/rtt"
	"github.com/tcpprobe/tcpprobe/report"
)

func init() {
	register(command{name: "handshake", summary: "open and close a connection by hand, checking every step against RFC 9293", run: runHandshake})
}

func runHandshake(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("handshake", "HOST:PORT", `Walk HOST:PORT through a whole TCP connection by hand: our SYN (our ISN and
options), the SYN-ACK, our ACK (optionally with data), request/response
exchanges, then a four-way teardown. Prints a ladder of every segment with both
ends' states, the rulebook's verdicts and a summary. Experiments:
  --drop third-ack   withhold the third ACK and record the peer's SYN-ACK
                     retransmissions (why two segments are not enough)
  --drop final-ack   in an active close, withhold the last ACK and record the
                     peer's FIN retransmissions from LAST_ACK (why TIME_WAIT exists)`, stdout)
	var o probeOpts
	isn := fs.Int64("isn", -1, "our initial sequence number (default random)")
	preset := fs.String("syn-opts", "linux", "SYN options as a stack sends them: linux, windows, bsd or none")
	fs.StringVar(&o.opts, "opt", "", "SYN options instead of the preset, e.g. mss=1460,sackok,ws=7,ts")
	fs.Uint8Var(&o.ttl, "ttl", 64, "IPv4 TTL / IPv6 hop limit of our segments")
	fs.Uint16VarP(&o.window, "win", "w", 64240, "our receive window")
	fs.Uint16VarP(&o.sport, "sport", "s", 0, "source port (default: a free ephemeral port)")
	fs.BoolVarP(&o.v4, "ipv4", "4", false, "resolve HOST to IPv4")
	fs.BoolVarP(&o.v6, "ipv6", "6", false, "resolve HOST to IPv6")
	retries := fs.Int("retries", 3, "retransmissions of our SYN, data and FIN")
	rto := fs.DurationP("timeout", "t", time.Second, "first retransmission timeout (doubles each retry)")
	data := fs.StringP("data", "d", "", `data carried by the third segment of the handshake; \r \n \t \\ \xHH are escapes`)
	dataHex := fs.String("data-hex", "", "the third segment's data as hex")
	dataFile := fs.String("data-file", "", "the third segment's data from a file")
	sends := fs.StringArray("send", nil, "data to send after the handshake, waiting --reply-wait for answers (repeatable; escapes as --data)")
	replyWait := fs.Duration("reply-wait", 300*time.Millisecond, "how long to wait for the peer's answer to data")
	closeMode := fs.String("close", "active", "teardown: active (our FIN first), passive (wait for the peer's FIN), rst, none")
	closeData := fs.String("close-data", "", "passive close: data we still send in CLOSE_WAIT")
	timeWait := fs.String("time-wait", "2s", "how long we stay in TIME_WAIT; 2msl means 60s as Linux")
	passiveWait := fs.Duration("passive-wait", 5*time.Second, "how long to wait for the peer's FIN")
	probeTW := fs.Duration("probe-time-wait", 0, "when the peer closed first: measure its TIME_WAIT for at most this long (an old segment each second, without flags so that it restarts no timer, or an ACK if those go unanswered, until TIME_WAIT no longer answers)")
	drop := fs.String("drop", "", "experiment: third-ack or final-ack")
	observe := fs.Duration("observe", 10*time.Second, "how long the experiment watches the peer's retransmissions")
	count := fs.IntP("count", "c", 1, "connections in a row (1-100000), with RTT statistics")
	interval := fs.DurationP("interval", "i", 0, "time between connections")
	jsonOut := fs.Bool("json", false, "print the result as one JSON object (per connection)")
	write := fs.String("write", "", "write every segment both ways to this pcap file")
	absolute := fs.BoolP("absolute", "S", false, "absolute sequence numbers in the ladder (tcpdump's -S)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("want one target HOST:PORT, got %d arguments", fs.NArg())
	}
	if o.v4 && o.v6 {
		return usageErr("-4 and -6 exclude each other")
	}
	cfg := handshake.RunConfig{SYNPreset: *preset, ReplyWait: *replyWait, Observe: *observe,
		Close:         endpoint.CloseConfig{Mode: endpoint.CloseMode(*closeMode), PassiveWait: *passiveWait, Data: []byte(*closeData), Observe: *observe},
		ProbeTimeWait: *probeTW}
	switch cfg.Close.Mode {
	case endpoint.CloseActive, endpoint.ClosePassive, endpoint.CloseRST, endpoint.CloseLeave:
	default:
		return usageErr("--close %q: want active, passive, rst or none", *closeMode)
	}
	if _, err := handshake.SYNPreset(*preset, 1460); err != nil {
		return usageErr("--syn-opts: %v", err)
	}
	switch *drop {
	case "":
	case "third-ack":
		cfg.DropThirdACK = true
	case "final-ack":
		if cfg.Close.Mode != endpoint.CloseActive {
			return usageErr("--drop final-ack needs --close active")
		}
		cfg.Close.DropFinalACK = true
	default:
		return usageErr("--drop %q: want third-ack or final-ack", *drop)
	}
	if *timeWait == "2msl" {
		cfg.Close.TimeWait = 60 * time.Second
	} else {
		d, err := time.ParseDuration(*timeWait)
		if err != nil || d < 0 || d > 10*time.Minute {
			return usageErr("--time-wait %q: want a duration up to 10m, or 2msl", *timeWait)
		}
		cfg.Close.TimeWait = d
	}
	var b bounds
	b.int("retries", *retries, 0, 10)
	b.dur("timeout", *rto, time.Millisecond, time.Minute)
	b.int("count", *count, 1, 100000)
	b.dur("interval", *interval, 0, 0)
	b.dur("observe", *observe, time.Millisecond, time.Hour)
	b.dur("reply-wait", *replyWait, 0, time.Hour)
	b.dur("passive-wait", *passiveWait, 0, time.Hour)
	b.dur("probe-time-wait", *probeTW, 0, 10*time.Minute)
	if err := b.err(); err != nil {
		return err
	}
	if *closeData != "" && cfg.Close.Mode != endpoint.ClosePassive {
		return usageErr("--close-data is sent in CLOSE_WAIT: it needs --close passive")
	}
	if fs.Changed("isn") && (*isn < 0 || *isn > 0xffffffff) {
		return usageErr("--isn %d: must be 0-4294967295", *isn)
	}
	if *isn >= 0 {
		v := uint32(*isn)
		cfg.Endpoint.ISN = &v
	}
	if o.opts != "" {
		opts, err := craft.ParseOptions(o.opts, 0)
		if err != nil {
			return usageErr("%v", err)
		}
		cfg.Endpoint.SYNOptions = opts
	}
	cfg.Endpoint.TTL, cfg.Endpoint.Window, cfg.Endpoint.Retries, cfg.Endpoint.RTO = o.ttl, o.window, *retries, *rto
	if *retries == 0 {
		cfg.Endpoint.Retries = endpoint.NoRetry
	}
	if o.ttl == 0 {
		return usageErr("--ttl 0: a handshake's segments would die at the first hop (send --ttl 0 sends single segments with TTL 0)")
	}
	var err error
	n := 0
	for _, v := range []string{*data, *dataHex, *dataFile} {
		if v != "" {
			n++
		}
	}
	switch {
	case n > 1:
		return usageErr("give at most one of --data, --data-hex, --data-file")
	case *dataHex != "":
		if cfg.Data, err = craft.ParseHex(*dataHex); err != nil {
			return usageErr("--data-hex: %v", err)
		}
	case *dataFile != "":
		if cfg.Data, err = os.ReadFile(*dataFile); err != nil {
			return usageErr("--data-file: %v", err)
		}
	default:
		cfg.Data = unescape(*data)
	}
	for _, s := range *sends {
		cfg.Sends = append(cfg.Sends, unescape(s))
	}
	target, err := parseTarget(ctx, fs.Arg(0), o.v4, o.v6)
	if err != nil {
		return err
	}
	cfg.Target, cfg.SrcPort = target, o.sport
	st := styleFor(fs, stdout)
	st.Absolute = *absolute

	var rtts []time.Duration
	var worst = exitOK
	// One session serves every connection: a new source port each time,
	// the same capture, guard table and raw socket.
	sess, err := handshake.OpenSession(cfg, *count > 1)
	if err != nil {
		return err
	}
	defer sess.Close()
	if err := handshake.ResolveSYNOptions(&cfg, sess); err != nil {
		return err
	}
	ran := 0
	for i := 0; i < *count; i++ {
		if i > 0 && !pause(ctx, *interval) {
			break
		}
		c := cfg
		if *write != "" && *count > 1 {
			c.Write = fmt.Sprintf("%s.%d", *write, i+1)
		} else {
			c.Write = *write
		}
		if i > 0 {
			if err := sess.Rebind(); err != nil {
				return err
			}
		}
		res, err := handshake.RunOn(ctx, sess, c)
		if res == nil {
			return err
		}
		switch {
		case ctx.Err() != nil:
			res.Error = "interrupted"
		case err != nil:
			res.Error = err.Error()
		}
		code := handshakeExit(res)
		if code > worst || (code == exitFailed && worst == exitNoAnswer) {
			worst = code
		}
		if res.Outcome != "" {
			ran++ // a connection interrupted before any answer is not counted
		}
		if res.Outcome == endpoint.Open {
			rtts = append(rtts, time.Duration(res.HandshakeMs*float64(time.Millisecond)))
		}
		switch {
		case *jsonOut:
			json.NewEncoder(stdout).Encode(res)
		case *count > 1:
			fmt.Fprintf(stdout, "conn %d: %s\n", i+1, res)
		default:
			report.Handshake(stdout, res, st)
		}
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
	if *count > 1 && !*jsonOut {
		fmt.Fprintf(stdout, "--- %v tcpprobe handshake statistics ---\n%s\n", target, rtt.Stats(ran, rtts).Line())
	}
	if worst != exitOK {
		return silent{worst}
	}
	return nil
}

// handshakeExit maps a result to the exit code: 0 every rule passed; 1 a
// rule failed or the connection was refused; 3 no answer.
func handshakeExit(r *handshake.Result) int {
	switch {
	case r.Failed, r.Error != "", r.Outcome == endpoint.Refused:
		return exitFailed
	case r.Outcome == endpoint.Filtered, r.Outcome == endpoint.Unreachable:
		return exitNoAnswer
	}
	return exitOK
}
