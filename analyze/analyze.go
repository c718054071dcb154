package analyze

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/rulebook"
)

// Config tunes an analysis.
type Config struct {
	Workers     int           // flow-table shards, one goroutine each (default 2)
	MaxFlows    int           // live connections kept per worker before the least recently used is flushed (default 16384)
	IdleTimeout time.Duration // a connection idle this long (capture time) is flushed (default 5m, Zeek's tcp_inactivity_timeout)
	// Stream, when > 0, records every segment of the connection with that
	// number (1-based, in order of first packet) for a ladder. Use one
	// worker for stable numbering.
	Stream int
	// OnPacket, when set, is called for every TCP packet with what the
	// analysis found (from the worker goroutines: it must be safe for
	// concurrent use; with one worker the calls come in frame order). The
	// PacketInfo is valid during the call only.
	OnPacket func(p *PacketInfo)
	// IgnoreChecksums analyzes segments with bad checksums like any other
	// (Zeek's -C; for captures taken with checksum offload).
	IgnoreChecksums bool
	// Progress, when set, is called by ReadFiles about every 64 Ki frames
	// from the reading goroutine with the bytes read of all files and
	// their total size.
	Progress func(read, total int64)
	// Filter, when set, drops frames it does not match.
	Filter func(data []byte, linkType int) bool
	// LocalAddrs, for a live capture, lists this machine's addresses: a
	// segment they sent is captured before the NIC fills in its checksum
	// (checksum offload), so its checksum is not verified.
	LocalAddrs map[netip.Addr]bool
	// Merge makes ReadFiles treat its files as one capture, merged by
	// timestamp (as mergecap), instead of one capture each.
	Merge bool
}

// Stats counts what the analysis read.
type Stats struct {
	Frames int64 `json:"frames"`
	TCP    int64 `json:"tcp"`
	Other  int64 `json:"other"`  // IP but not TCP
	NonIP  int64 `json:"non_ip"` // not IP (ARP, ...)
	// Unsupported counts frames of a link-layer type tcpprobe does not
	// read; UnsupportedLink is that type (the last one seen).
	Unsupported     int64                    `json:"unsupported_link"`
	UnsupportedLink int                      `json:"unsupported_link_type,omitempty"`
	Skipped         int64                    `json:"skipped"` // malformed or cut by the snap length before the TCP header
	Filtered        int64                    `json:"filtered"`
	Fragments       int64                    `json:"fragments"`
	BadChecksum     int64                    `json:"bad_checksum"`
	Unverified      int64                    `json:"checksum_not_verified"` // sent by this machine (LocalAddrs): offloaded
	BadIPChecksum   int64                    `json:"bad_ip_checksum"`       // dropped, as Zeek does
	Tunnelled       int64                    `json:"tunnelled"`             // of the TCP frames, those found inside a tunnel
	Conns           int64                    `json:"connections"`
	Evicted         int64                    `json:"evicted"` // flushed early because the flow table was full
	Expired         int64                    `json:"expired"` // flushed because idle longer than the timeout
	Counts          Counts                   `json:"anomalies"`
	RuleFails       [rulebook.NumRules]int64 `json:"rule_fails"`
	// ViolatingConns counts the connections that broke any rule.
	ViolatingConns int64 `json:"violating_connections"`
	First          int64 `json:"first_ns"` // capture time of the earliest frame, ns
	Last           int64 `json:"last_ns"`  // and of the latest
	// CutShort lists the files that ended early, in the order read.
	CutShort []CutShort `json:"cut_short,omitempty"`
}

// Analyzer runs analyses.
type Analyzer struct {
	cfg Config
}

// New returns an analyzer.
func New(cfg Config) *Analyzer {
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = 16384
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	return &Analyzer{cfg: cfg}
}

// Source yields frames: a capture.FileReader or a live capture.
type Source interface {
	Next() (capture.Frame, error)
}

// rawSource is a Source with a faster path that skips building a Frame.
type rawSource interface {
	NextRawWire() (data []byte, ts int64, orig, linkType int, err error)
}

// Run reads every frame from src, analyzes it and calls emit (from one
// goroutine, not the caller's) with every connection as it is finished. It
// returns when src is exhausted or ctx ends, after flushing every
// connection still open.
func (a *Analyzer) Run(ctx context.Context, src Source, emit func(*Conn)) (*Stats, error) {
	p := a.start(ctx, emit)
	err := p.feed(src)
	return p.wait(), err
}

// ReadFiles analyzes each file as its own capture, in turn ("-" is
// standard input): connections never span files, frames are numbered from
// 1 in each, and each result names its file (Conn.File). With
// Config.Merge the files are one capture instead, merged by timestamp as
// mergecap does. A file cut short (a killed tcpdump, a damaged last
// record) is analyzed to its last whole packet and listed in
// Stats.CutShort; the next file is still read. Config.Progress, when set,
// receives the bytes read and the total size.
func (a *Analyzer) ReadFiles(ctx context.Context, paths []string, emit func(*Conn)) (*Stats, error) {
	var total, done int64
	for _, path := range paths {
		if fi, err := os.Stat(path); err == nil {
			total += fi.Size()
		}
	}
	p := a.start(ctx, emit)
	p.files = paths
	var cur *capture.FileReader
	if a.cfg.Progress != nil {
		p.onProgress = func() {
			read := done
			if cur != nil {
				n, _ := cur.Progress()
				read += n
			}
			a.cfg.Progress(read, total)
		}
	}
	if a.cfg.Merge && len(paths) > 1 {
		err := p.feedMerged(paths)
		return p.wait(), err
	}
	for i, path := range paths {
		var err error
		if cur, err = capture.OpenFile(path); err != nil {
			p.wait()
			return &p.st, err
		}
		if i > 0 {
			p.newFile(i)
		}
		if cur.Chunked() && a.cfg.Filter == nil {
			err = p.feedChunks(cur)
		} else {
			err = p.feed(cur)
		}
		_, size := cur.Progress()
		done += size
		cur.Close()
		cur = nil
		if err != nil {
			if ctx.Err() != nil {
				return p.wait(), err
			}
			p.st.CutShort = append(p.st.CutShort, CutShort{File: path, After: p.frames - p.fileBase, Reason: err.Error()})
		}
	}
	return p.wait(), nil
}

// Violations is how many connections broke at least one rule.
func (s *Stats) Violations() int64 { return s.ViolatingConns }

// PacketInfo is one TCP packet's analysis, in the terms tshark uses: the
// frame number (1-based in its file), the Wireshark conversation's
// relative numbers and the analysis flags.
type PacketInfo struct {
	File     int         // index in ReadFiles' list (0 for Run)
	Frame    int64       // 1-based, as tshark numbers frames
	Conn     string      // the connection's uid
	Orig     bool        // sent by the connection's originator
	Seq, Ack uint32      // relative to each direction's base sequence number
	Flags    craft.Flags // TCP flags
	Analysis Flag
	// Both ends' states after the packet, as the rulebook infers them.
	OrigState, RespState rulebook.State
	// Violated has bit r set for every rule r (rulebook.RuleID) this
	// packet broke.
	Violated uint32
}

// CutShort is a capture file that ended inside a record, or with a
// damaged one: every whole packet before it was analyzed.
type CutShort struct {
	File   string `json:"file"`
	After  int64  `json:"after_frame"` // the last whole frame read
	Reason string `json:"reason"`
}

// String describes the stats in one line.
func (s *Stats) String() string {
	d := time.Duration(s.Last - s.First)
	conns := "connections"
	if s.Conns == 1 {
		conns = "connection"
	}
	// Every frame read is in exactly one of the first buckets.
	tcp := strconv.FormatInt(s.TCP, 10) + " TCP"
	if s.Tunnelled > 0 {
		tcp += fmt.Sprintf(" of which %d tunnelled", s.Tunnelled)
	}
	out := fmt.Sprintf("%d frames (%s, %d other IP, %d IP fragments without a TCP header, %d not IP, %d skipped, %d filtered out",
		s.Frames, tcp, s.Other, s.Fragments, s.NonIP, s.Skipped, s.Filtered)
	if s.BadIPChecksum > 0 {
		out += fmt.Sprintf(", %d dropped for a bad IPv4 header checksum", s.BadIPChecksum)
	}
	if s.Unsupported > 0 {
		out += fmt.Sprintf(", %d of unsupported link type %d", s.Unsupported, s.UnsupportedLink)
	}
	return out + fmt.Sprintf("; %d TCP with bad checksums) over %v, %d %s", s.BadChecksum, d.Round(time.Millisecond), s.Conns, conns)
}
