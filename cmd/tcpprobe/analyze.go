package main

import (
	"bufio"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/tcpprobe/tcpprobe/analyze"
	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/report"
	"github.com/tcpprobe/tcpprobe/rulebook"
)

func init() {
	register(command{name: "analyze", summary: "reconstruct and judge every TCP connection in pcap/pcapng captures", run: runAnalyze})
}

func runAnalyze(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("analyze", "FILE... | -i IFACE", `Reconstruct every TCP connection in pcap or pcapng captures (gzip too; '-'
reads standard input) and judge it with the same rulebook as 'handshake':
handshake and teardown, both ends' states, rule violations with packet numbers,
Wireshark-style analysis counts, Zeek's conn_state and history, Wireshark's
completeness bits.`, stdout)
	filter := fs.StringP("filter", "f", "", "BPF filter applied to every frame")
	iface := fs.StringP("iface", "i", "", "analyze a live capture on this interface instead of files")
	duration := fs.Duration("duration", 0, "with -i: stop after this long (default: until Ctrl-C)")
	format := fs.String("format", "table", "output: table, json (one object per connection), zeek (conn.log)")
	jsonOut := fs.Bool("json", false, "same as --format json")
	stream := fs.Int("stream", 0, "print the ladder of connection N (in order of first packet)")
	out := fs.StringP("output", "o", "", "write the output to this file (atomically) instead of standard output")
	workers := fs.Int("workers", runtime.NumCPU(), "analysis goroutines (flows are sharded by hash)")
	maxFlows := fs.Int("max-flows", 16384, "open connections kept per worker before the least recently used is flushed")
	idle := fs.Duration("idle-timeout", 5*time.Minute, "flush a connection idle this long (capture time)")
	noSum := fs.BoolP("ignore-checksums", "C", false, "analyze segments with bad checksums like others (captures taken with checksum offload), as zeek -C")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *jsonOut {
		*format = "json"
	}
	switch *format {
	case "table", "json", "zeek":
	default:
		return usageErr("--format %q: want table, json or zeek", *format)
	}
	if (*iface == "") == (fs.NArg() == 0) {
		return usageErr("give capture files or -i IFACE (not both)")
	}
	if *workers < 1 || *workers > 64 || *maxFlows < 1 || *stream < 0 {
		return usageErr("--workers takes 1-64, --max-flows at least 1, --stream N >= 0")
	}
	if *stream > 0 {
		*workers = 1 // stable connection numbering
	}
	cfg := analyze.Config{Workers: *workers, MaxFlows: *maxFlows, IdleTimeout: *idle, Stream: *stream, IgnoreChecksums: *noSum}
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
			return usageErr("%v", err)
		}
		inputSize += fi.Size()
	}

	var dst io.Writer = stdout
	var atomicOut *atomicFile
	if *out != "" {
		var err error
		if atomicOut, err = createAtomic(*out); err != nil {
			return err
		}
		defer atomicOut.abort()
		dst = atomicOut
	}
	// One write per connection would cost a system call each; live mode
	// flushes after every connection so that a pipe sees them as they end.
	w := bufio.NewWriterSize(dst, 256<<10)
	flushEach := *iface != ""
	// The table keeps at most maxRows connections (the earliest are kept
	// when there are more); the summary counts every connection.
	const maxRows = 10000
	var kept latestFirst
	summary := newConnSummary()
	var zw *analyze.ZeekWriter
	var line []byte
	var streamConn *analyze.Conn
	emit := func(c *analyze.Conn) {
		if c.Ladder != nil {
			streamConn = c
		}
		switch *format {
		case "json":
			line = append(c.AppendJSON(line[:0]), '\n')
			w.Write(line)
			analyze.Release(c)
		case "zeek":
			if zw == nil {
				zw = analyze.NewZeekWriter(w, time.Now())
			}
			zw.Write(c)
			analyze.Release(c)
		default:
			summary.add(c)
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
		analyze.PreferHugePages(256 << 20)
	}
	a := analyze.New(cfg)
	var st *analyze.Stats
	var err error
	started := time.Now()
	if *iface != "" {
		st, err = analyzeLive(ctx, a, *iface, *duration, emit)
	} else {
		var progress func(read, total int64)
		if isTerminal(os.Stderr) {
			progress = func(read, total int64) {
				if total > 0 {
					fmt.Fprintf(os.Stderr, "\r%3.0f%%  %d of %d MB  ", 100*float64(read)/float64(total), read>>20, total>>20)
				}
			}
			defer fmt.Fprint(os.Stderr, "\r\033[K")
		}
		st, err = a.ReadFilesProgress(ctx, fs.Args(), emit, progress)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		w.Flush() // the connections before the damage
		return withCode(exitUsage, err)
	}
	elapsed := time.Since(started)
	switch *format {
	case "zeek":
		if zw == nil {
			zw = analyze.NewZeekWriter(w, time.Now())
		}
		if err := zw.Close(time.Now()); err != nil {
			return err
		}
	case "table":
		conns := []*analyze.Conn(kept)
		sort.Slice(conns, func(i, j int) bool { return conns[i].FirstPacket < conns[j].FirstPacket })
		if *stream > 0 {
			if streamConn == nil {
				return usageErr("--stream %d: the capture has %d connections", *stream, st.Conns)
			}
			printStream(w, streamConn)
		} else {
			printConnTable(w, conns)
			if summary.total > len(conns) {
				fmt.Fprintf(w, "(%d more connections not listed: use --json or --format zeek for all)\n", summary.total-len(conns))
			}
		}
		printAnalyzeSummary(w, st, summary, elapsed)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if atomicOut != nil {
		if err := atomicOut.commit(); err != nil {
			return err
		}
	}
	return nil
}

func analyzeLive(ctx context.Context, a *analyze.Analyzer, iface string, d time.Duration, emit func(*analyze.Conn)) (*analyze.Stats, error) {
	live, err := capture.OpenLiveWith(iface, "tcp", capture.LiveOptions{BufferSize: 32 << 20})
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

func printConnTable(w io.Writer, conns []*analyze.Conn) {
	fmt.Fprintf(w, "%-4s %-10s %-44s %-6s %-12s %-12s %-13s %7s %9s %9s  %s\n",
		"#", "start", "orig -> resp", "zeek", "history", "handshake", "close", "pkts", "bytes", "rtt ms", "anomalies / violations")
	var t0 time.Time
	for i, c := range conns {
		if i == 0 {
			t0 = c.Start
		}
		rtt := "-"
		if c.SynRTTms > 0 {
			rtt = fmt.Sprintf("%.3f", c.SynRTTms+c.AckRTTms)
		}
		var notes []string
		for j := range analyze.NumFlags {
			if n := c.Anomalies[j]; n > 0 {
				notes = append(notes, fmt.Sprintf("%s=%d", analyze.FlagName(j), n))
			}
		}
		for _, v := range c.Violations {
			notes = append(notes, "FAIL:"+rulebook.Rules[v.Rule].ID)
		}
		closeForm := c.Close
		if c.CloseBy != "" && c.Close != "none" {
			closeForm += "/" + c.CloseBy
		}
		fmt.Fprintf(w, "%-4d %-10.3f %-44s %-6s %-12s %-12s %-13s %7d %9d %9s  %s\n", i+1, c.Start.Sub(t0).Seconds(),
			c.Orig+" -> "+c.Resp, c.ConnState, c.History, c.Handshake, closeForm, c.OrigPkts+c.RespPkts,
			c.OrigBytes+c.RespBytes, rtt, strings.Join(notes, " "))
	}
}

func printStream(w io.Writer, c *analyze.Conn) {
	fmt.Fprintf(w, "connection %s: %s -> %s, %s, zeek %s %s\n\n", c.UID, c.Orig, c.Resp, c.Handshake, c.ConnState, c.History)
	report.Ladder(w, c.Ladder, report.Style{Left: "orig", Right: "resp"})
	fmt.Fprintln(w, "\nrule violations:")
	if len(c.Violations) == 0 {
		fmt.Fprintln(w, "  none")
	}
	report.Rules(w, c.Violations, report.Style{})
	fmt.Fprintf(w, "\norig states: %s\nresp states: %s\n\n", strings.Join(c.OrigStates, " -> "), strings.Join(c.RespStates, " -> "))
}

// connSummary counts connections by outcome without keeping them.
type connSummary struct {
	total    int
	outcomes map[string]int
	states   map[string]int
}

func newConnSummary() *connSummary {
	return &connSummary{outcomes: map[string]int{}, states: map[string]int{}}
}

func (s *connSummary) add(c *analyze.Conn) {
	s.total++
	s.outcomes[c.Handshake]++
	s.states[c.ConnState]++
}

// latestFirst is a heap of connections with the one that began last on
// top, so the table keeps the earliest ones.
type latestFirst []*analyze.Conn

func (h latestFirst) Len() int           { return len(h) }
func (h latestFirst) Less(i, j int) bool { return h[i].FirstPacket > h[j].FirstPacket }
func (h latestFirst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *latestFirst) Push(x any)        { *h = append(*h, x.(*analyze.Conn)) }
func (h *latestFirst) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

func printAnalyzeSummary(w io.Writer, st *analyze.Stats, sum *connSummary, elapsed time.Duration) {
	fmt.Fprintf(w, "\n%s\n", st)
	rate := float64(st.Frames) / elapsed.Seconds()
	fmt.Fprintf(w, "analyzed in %v (%.0f packets/s)\n", elapsed.Round(time.Millisecond), rate)
	fmt.Fprintf(w, "handshakes: %s\n", joinCounts(sum.outcomes))
	fmt.Fprintf(w, "zeek conn_state: %s\n", joinCounts(sum.states))
	var an []string
	for j := range analyze.NumFlags {
		if n := st.Counts[j]; n > 0 {
			an = append(an, fmt.Sprintf("%s %d", analyze.FlagName(j), n))
		}
	}
	if len(an) > 0 {
		fmt.Fprintf(w, "anomalies (packets): %s\n", strings.Join(an, ", "))
	}
	var rf []string
	for r, n := range st.RuleFails {
		if n > 0 {
			rf = append(rf, fmt.Sprintf("%s %d", rulebook.Rules[r].ID, n))
		}
	}
	if len(rf) > 0 {
		fmt.Fprintf(w, "rule violations (connections): %s\n", strings.Join(rf, ", "))
	}
	if st.Evicted > 0 {
		fmt.Fprintf(w, "flow table full: %d connections flushed early\n", st.Evicted)
	}
}

func joinCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// atomicFile is an output file that appears under its name only on commit.
type atomicFile struct {
	*os.File
	path string
	done bool
}

func createAtomic(path string) (*atomicFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, err
	}
	return &atomicFile{File: f, path: path}, nil
}

func (a *atomicFile) commit() error {
	if err := a.File.Close(); err != nil {
		return err
	}
	os.Chmod(a.File.Name(), 0o644)
	a.done = true
	return os.Rename(a.File.Name(), a.path)
}

func (a *atomicFile) abort() {
	if !a.done {
		a.File.Close()
		os.Remove(a.File.Name())
	}
}
