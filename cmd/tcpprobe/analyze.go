package main

import (
	"bufio"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tcpprobe/tcpprobe/analyze"
	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/internal/atomicfile"
	"github.com/tcpprobe/tcpprobe/internal/hugepages"
	"github.com/tcpprobe/tcpprobe/internal/privilege"
	"github.com/tcpprobe/tcpprobe/report"
)

func init() {
	register(command{name: "analyze", summary: "reconstruct and judge every TCP connection in pcap/pcapng captures", run: runAnalyze})
}

func runAnalyze(ctx context.Context, args []string, stdout io.Writer) error {
	live := false
	err := analyzeCommand(ctx, args, stdout, &live)
	if live && ctx.Err() != nil {
		return stoppedByUser{err} // Ctrl-C ends a live capture, as tcpdump's
	}
	return err
}

func analyzeCommand(ctx context.Context, args []string, stdout io.Writer, live *bool) error {
	fs := newFlags("analyze", "FILE... | -i IFACE", `Reconstruct every TCP connection in pcap or pcapng captures (gzip too; '-'
reads standard input) and judge it with the same rulebook as 'handshake':
handshake and teardown, both ends' states, rule violations with packet numbers,
Wireshark-style analysis counts, Zeek's conn_state and history, Wireshark's
completeness bits.`, stdout)
	filter := fs.StringP("filter", "f", "", "BPF filter applied to every frame")
	iface := fs.StringP("iface", "i", "", "analyze a live capture on this interface instead of files")
	duration := fs.Duration("duration", 0, "with -i: stop after this long (default: until Ctrl-C)")
	format := fs.String("format", "table", "output: table, json (one object per connection), zeek (conn.log), packets (one JSON object per TCP packet, as --packets)")
	packets := fs.Bool("packets", false, "one JSON object per TCP packet (file, frame, conn, dir, relative seq/ack, flags, tshark's analysis flags), in frame order")
	jsonOut := fs.Bool("json", false, "same as --format json")
	stream := fs.Int("stream", 0, "print the ladder of connection N (in order of first packet)")
	out := fs.StringP("output", "o", "", "write the output to this file (atomically) instead of standard output")
	workers := fs.Int("workers", runtime.NumCPU(), "analysis goroutines (flows are sharded by hash)")
	maxFlows := fs.Int("max-flows", 16384, "open connections kept per worker before the least recently used is flushed")
	idle := fs.Duration("idle-timeout", 5*time.Minute, "flush a connection idle this long (capture time)")
	noSum := fs.BoolP("ignore-checksums", "C", false, "analyze segments with bad checksums like others (captures taken with checksum offload), as zeek -C")
	merge := fs.Bool("merge", false, "read several files as one capture, merged by timestamp (as mergecap); default: each file is its own capture")
	failOn := fs.String("fail-on", "violation", "exit 1 when: violation (a connection broke a rule) or never")
	writeNg := fs.String("write-pcapng", "", "also write the capture to this pcapng file with tcpprobe's verdict on every TCP packet as its comment (Wireshark: frame.comment)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *jsonOut {
		*format = "json"
	}
	if *packets {
		*format = "packets"
	}
	switch *format {
	case "table", "json", "zeek", "packets":
	default:
		return usageErr("--format %q: want table, json, zeek or packets", *format)
	}
	if (*iface == "") == (fs.NArg() == 0) {
		return usageErr("give capture files or -i IFACE (not both)")
	}
	*live = *iface != "" && *duration == 0
	var b bounds
	b.int("workers", *workers, 1, 64)
	b.int("max-flows", *maxFlows, 1, 1<<24)
	b.int("stream", *stream, 0, 1<<30)
	b.dur("idle-timeout", *idle, time.Millisecond, 0)
	b.dur("duration", *duration, 0, 0)
	if err := b.err(); err != nil {
		return err
	}
	if *stream > 0 && *format != "table" {
		return usageErr("--stream draws one connection's ladder: it goes with the table output, not --format %s", *format)
	}
	if *stream > 0 {
		*workers = 1 // stable connection numbering
	}
	switch *failOn {
	case "violation", "never":
	default:
		return usageErr("--fail-on %q: want violation or never", *failOn)
	}
	if *writeNg != "" {
		switch {
		case *iface != "":
			return usageErr("--write-pcapng annotates capture files, not a live capture (save it with dumpcap or tcpdump -w first)")
		case *merge:
			return usageErr("--write-pcapng writes the files one after the other: it does not go with --merge")
		case slices.Contains(fs.Args(), "-"):
			return usageErr("--write-pcapng reads the capture twice: name a file, not standard input")
		}
		*workers = 1 // packets are reported in frame order
	}
	cfg := analyze.Config{Workers: *workers, MaxFlows: *maxFlows, IdleTimeout: *idle, Stream: *stream, IgnoreChecksums: *noSum, Merge: *merge}
	if *filter != "" {
		f, err := capture.CompileFilter(*filter)
		if err != nil {
			return usageErr("%v", err)
		}
		cfg.Filter = f
	}
	var inputSize int64 // of the files named; standard input counts as nothing
	for _, p := range fs.Args() {
		if p == "-" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			if looksLikeFilter(p) {
				return usageErr("%v (a capture filter goes in -f, as in: analyze -f '%s' FILE)", err, p)
			}
			return usageErr("%v", err)
		}
		if fi.IsDir() {
			return usageErr("%s is a directory: name the capture files in it", p)
		}
		inputSize += fi.Size()
	}

	var ann *annotator
	if *writeNg != "" {
		var err error
		if ann, err = newAnnotator(*writeNg, fs.Args()); err != nil {
			return usageErr("--write-pcapng: %v", err)
		}
		defer ann.abort() // after finish, nothing is left to remove
		cfg.OnPacket = ann.packet
	}
	var dst io.Writer = stdout
	var atomicOut *atomicfile.File
	if *out != "" {
		var err error
		if atomicOut, err = atomicfile.Create(*out); err != nil {
			return usageErr("--output: %v", err)
		}
		defer atomicOut.Abort()
		dst = atomicOut
	}
	// One write per connection would cost a system call each; live mode
	// flushes after every connection so that a pipe sees them as they end.
	w := bufio.NewWriterSize(dst, 256<<10)
	flushEach := *iface != ""
	// The table keeps at most maxRows connections (the earliest are kept
	// when there are more); the summary counts every connection.
	const maxRows = 10000
	var kept report.LatestFirst
	summary := report.NewConnSummary()
	var zw *report.ZeekWriter
	var line []byte
	var streamConn *analyze.Conn
	if *format == "packets" {
		// One worker: packets are reported in frame order.
		cfg.Workers = 1
		files := fs.Args()
		annotate := cfg.OnPacket
		cfg.OnPacket = func(p *analyze.PacketInfo) {
			if annotate != nil {
				annotate(p)
			}
			file := ""
			if p.File < len(files) {
				file = files[p.File]
			}
			line = appendPacketJSON(line[:0], file, p)
			w.Write(line)
		}
	}
	emit := func(c *analyze.Conn) {
		if c.Ladder != nil {
			streamConn = c
		}
		switch *format {
		case "packets":
			analyze.Release(c)
		case "json":
			line = append(c.AppendJSON(line[:0]), '\n')
			w.Write(line)
			analyze.Release(c)
		case "zeek":
			if zw == nil {
				zw = report.NewZeekWriter(w, time.Now())
			}
			zw.Write(c)
			analyze.Release(c)
		default:
			summary.Add(c)
			if len(kept) < maxRows {
				heap.Push(&kept, c)
			} else if kept[0].FirstPacket > c.FirstPacket {
				analyze.Release(kept[0])
				kept[0] = c
				heap.Fix(&kept, 0)
			} else {
				analyze.Release(c) // a --stream connection (with its ladder) is kept
			}
		}
		if flushEach {
			w.Flush()
		}
	}
	if inputSize >= 64<<20 {
		// A large capture fills a large heap: fault it in 2 MB pages.
		hugepages.Prefer(256 << 20)
	}
	if *iface == "" && isTerminal(os.Stderr) {
		cfg.Progress = func(read, total int64) {
			if total > 0 {
				fmt.Fprintf(os.Stderr, "\r%3.0f%%  %d of %d MB  ", 100*float64(read)/float64(total), read>>20, total>>20)
			}
		}
		defer fmt.Fprint(os.Stderr, "\r\033[K")
	}
	if *iface != "" && !*noSum {
		cfg.LocalAddrs = localAddrs()
	}
	a := analyze.New(cfg)
	var st *analyze.Stats
	var err error
	started := time.Now()
	if *iface != "" {
		st, err = analyzeLive(ctx, a, *iface, *duration, emit)
	} else {
		st, err = a.ReadFiles(ctx, fs.Args(), emit)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		w.Flush() // the connections before the damage
		var pe *privilege.Error
		if errors.As(err, &pe) {
			return err // exit 4, naming the capability, as every command
		}
		return withCode(exitUsage, err)
	}
	elapsed := time.Since(started)
	if ann != nil {
		if err := ann.finish(); err != nil {
			return err
		}
	}
	switch *format {
	case "zeek":
		if zw == nil {
			zw = report.NewZeekWriter(w, time.Now())
		}
		if err := zw.Close(time.Now()); err != nil {
			return err
		}
	case "table":
		conns := []*analyze.Conn(kept)
		order := map[string]int{}
		for i, f := range fs.Args() {
			if _, ok := order[f]; !ok {
				order[f] = i
			}
		}
		sort.Slice(conns, func(i, j int) bool {
			if fi, fj := order[conns[i].File], order[conns[j].File]; fi != fj {
				return fi < fj
			}
			return conns[i].FirstPacket < conns[j].FirstPacket
		})
		if *stream > 0 {
			if streamConn == nil {
				return usageErr("--stream %d: the capture has %d connections", *stream, st.Conns)
			}
			report.Stream(w, streamConn)
		} else {
			report.ConnTable(w, conns, len(fs.Args()) > 1 && !*merge, styleFor(fs, stdout))
			if summary.Total > len(conns) {
				fmt.Fprintf(w, "(%d more connections not listed: use --json or --format zeek for all)\n", summary.Total-len(conns))
			}
		}
		report.AnalyzeSummary(w, st, summary, elapsed)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if atomicOut != nil {
		if err := atomicOut.Commit(); err != nil {
			return err
		}
	}
	if st.TCP > 0 && st.BadChecksum*2 > st.TCP && !*noSum {
		fmt.Fprintf(os.Stderr, "tcpprobe analyze: %d of %d TCP packets had bad checksums, likely checksum offload where the capture was taken: use -C\n", st.BadChecksum, st.TCP)
	}
	for _, c := range st.CutShort {
		fmt.Fprintf(os.Stderr, "tcpprobe analyze: %s: capture cut short after frame %d: every whole packet before was analyzed (%s)\n", c.File, c.After, c.Reason)
	}
	if len(st.CutShort) > 0 {
		return silent{exitUsage}
	}
	if *failOn == "violation" && st.Violations() > 0 {
		return silent{exitFailed}
	}
	return nil
}

// localAddrs are this machine's addresses: segments they send are
// captured before checksum offload fills in the checksum.
func localAddrs() map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			m[p.Addr().Unmap()] = true
		}
	}
	return m
}

// looksLikeFilter tells a tcpdump-style filter given as a file name.
func looksLikeFilter(arg string) bool {
	for _, w := range []string{"tcp", "udp", "port", "host", "net", "src", "dst", "and", "or", "not", "ip", "ip6"} {
		if arg == w || strings.HasPrefix(arg, w+" ") {
			return true
		}
	}
	return false
}

// liveFilter keeps TCP and the tunnels analyze looks inside (IP-in-IP,
// 6in4, GRE, VXLAN, Geneve, GTP-U, Teredo; MPLS, PPPoE, PBB and LLC by
// EtherType, which does not shift the filter's offsets as "mpls" would).
const liveFilter = "tcp or ip proto 4 or ip proto 41 or ip proto 47 or ip6 proto 4 or ip6 proto 41 or ip6 proto 47 or " +
	"udp port 4789 or udp port 6081 or udp port 2152 or udp port 3544 or " +
	"ether proto 0x8847 or ether proto 0x8848 or ether proto 0x8864 or ether proto 0x88e7 or llc"

func analyzeLive(ctx context.Context, a *analyze.Analyzer, iface string, d time.Duration, emit func(*analyze.Conn)) (*analyze.Stats, error) {
	opts := capture.LiveOptions{BufferSize: 32 << 20}
	live, err := capture.OpenLiveWith(iface, liveFilter, opts)
	if err != nil {
		// A link type without Ethernet's fields: TCP and IP tunnels only.
		live, err = capture.OpenLiveWith(iface, "tcp or ip proto 4 or ip proto 41 or ip proto 47 or udp", opts)
	}
	if err != nil {
		return nil, err
	}
	defer live.Close()
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	src := liveSource{ctx: ctx, live: live}
	st, err := a.Run(ctx, src, emit)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = nil
	}
	return st, err
}

type liveSource struct {
	ctx  context.Context
	live *capture.Live
}

func (s liveSource) Next() (capture.Frame, error) {
	f, err := s.live.Next(s.ctx)
	if err != nil && s.ctx.Err() != nil {
		return f, io.EOF
	}
	return f, err
}

// appendPacketJSON writes one --packets line: what tshark -2 would say of
// the packet, to diff against
//
//	tshark -2 -T fields -e frame.number -e tcp.analysis.flags ...
func appendPacketJSON(b []byte, file string, p *analyze.PacketInfo) []byte {
	dir := "resp"
	if p.Orig {
		dir = "orig"
	}
	b = append(b, `{"file":`...)
	b = strconv.AppendQuote(b, file)
	b = append(b, `,"frame":`...)
	b = strconv.AppendInt(b, p.Frame, 10)
	b = append(b, `,"conn":"`...)
	b = append(b, p.Conn...)
	b = append(b, `","dir":"`...)
	b = append(b, dir...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, uint64(p.Seq), 10)
	b = append(b, `,"ack":`...)
	b = strconv.AppendUint(b, uint64(p.Ack), 10)
	b = append(b, `,"flags":"`...)
	b = append(b, p.Flags.String()...)
	b = append(b, `","analysis":[`...)
	for i, n := range p.Analysis.Names() {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, n)
	}
	return append(b, "]}\n"...)
}
