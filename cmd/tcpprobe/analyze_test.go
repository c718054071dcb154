package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/tcpprobe/tcpprobe/lab/labtest"

	"github.com/tcpprobe/tcpprobe/analyze"
	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/internal/testpaths"
	"github.com/tcpprobe/tcpprobe/internal/tsharktest"
	"github.com/tcpprobe/tcpprobe/lab"
)

func TestAnalyzeCommand(t *testing.T) {
	t.Parallel()
	dir := testpaths.ZeekPcaps(t)
	httpGet := filepath.Join(dir, "http-get.pcap")
	r := tcpprobe(t, "analyze", httpGet)
	if r.code != 0 || !strings.Contains(r.stdout, "ShADadFf") || !strings.Contains(r.stdout, "14 frames (14 TCP") {
		t.Errorf("table: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = tcpprobe(t, "analyze", "--json", httpGet, filepath.Join(dir, "tcp-syn-then-rst.pcap"))
	var conns []analyze.Conn
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var c analyze.Conn
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("json line: %v: %s", err, sc.Text())
		}
		conns = append(conns, c)
	}
	if len(conns) != 2 || r.code != 0 {
		t.Fatalf("json: %d connections, exit %d: %s", len(conns), r.code, r.stderr)
	}
	out := filepath.Join(t.TempDir(), "conn.log")
	r = tcpprobe(t, "analyze", "--format", "zeek", "-o", out, httpGet)
	b, err := os.ReadFile(out)
	if r.code != 0 || err != nil || !strings.Contains(string(b), "#fields\tts\tuid\tid.orig_h") || !strings.Contains(string(b), "\tSF\t") || !strings.HasSuffix(strings.TrimSpace(string(b)), strings.TrimSpace(string(b)[strings.LastIndex(string(b), "#close"):])) {
		t.Errorf("zeek log (%d, %v):\n%s", r.code, err, b)
	}
	r = tcpprobe(t, "analyze", "--stream", "1", httpGet)
	if r.code != 0 || !strings.Contains(r.stdout, "ESTABLISHED") || !strings.Contains(r.stdout, "orig states: CLOSED -> SYN_SENT -> ESTABLISHED") {
		t.Errorf("stream: %d\n%s", r.code, r.stdout)
	}
	// Standard input, read in chunks like a file: the same connection.
	cmd := exec.Command(bin, "analyze", "--json", "-")
	f, err := os.Open(httpGet)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdin = f
	stdin, err := cmd.Output()
	var c analyze.Conn
	if err != nil || json.Unmarshal(stdin, &c) != nil || c.History != "ShADadFf" || c.OrigPkts+c.RespPkts != 14 {
		t.Errorf("stdin: %v %s", err, stdin)
	}
	r = tcpprobe(t, "analyze", "-f", "tcp port 9999", httpGet)
	if r.code != 0 || !strings.Contains(r.stdout, "0 connections") {
		t.Errorf("filter: %d\n%s", r.code, r.stdout)
	}
}

// TestAnalyzeBadInput: truncated and corrupt captures and bad flags give a
// one-line error and exit code 2.
func TestAnalyzeBadInput(t *testing.T) {
	t.Parallel()
	dir := testpaths.ZeekPcaps(t)
	raw, err := os.ReadFile(filepath.Join(dir, "http-get.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	files := map[string][]byte{
		"truncated.pcap": raw[:len(raw)-10],
		"text.pcap":      []byte("this is not a capture\n"),
		"empty.pcap":     nil,
		"badhdr.pcap":    append(append([]byte{}, raw[:24]...), 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f),
	}
	for name, data := range files {
		p := filepath.Join(tmp, name)
		os.WriteFile(p, data, 0o644)
		r := tcpprobe(t, "analyze", p)
		if r.code != exitUsage || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stderr == "" {
			t.Errorf("%s: exit %d, stderr %q", name, r.code, r.stderr)
		}
	}
	// The connections read before the damage are still written.
	r := tcpprobe(t, "analyze", "--json", filepath.Join(tmp, "truncated.pcap"))
	var c analyze.Conn
	if r.code != exitUsage || json.Unmarshal([]byte(r.stdout), &c) != nil || c.History == "" {
		t.Errorf("truncated, --json: exit %d, stdout %q", r.code, r.stdout)
	}
	for _, args := range [][]string{{"analyze"}, {"analyze", filepath.Join(tmp, "missing.pcap")}, {"analyze", "--format", "xml", filepath.Join(dir, "tcp-syn.pcap")}, {"analyze", "-f", "not a filter((", filepath.Join(dir, "tcp-syn.pcap")}} {
		if r := tcpprobe(t, args...); r.code != exitUsage || r.stderr == "" {
			t.Errorf("%v: exit %d %q", args, r.code, r.stderr)
		}
	}
}

// TestAnalyzeLive analyzes a live capture on a lab interface while a real
// connection runs.
func TestAnalyzeLive(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "anlive", Subnet: 43})
	cmd := exec.Command(bin, "analyze", "--json", "-i", l.HostIface, "--duration", "2s")
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the capture is open
	c, err := net.Dial("tcp", netip.AddrPortFrom(l.Target4, lab.PortEcho).String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("live"))
	io.ReadFull(c, make([]byte, 4))
	c.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("analyze -i: %v", err)
	}
	var conn analyze.Conn
	if err := json.Unmarshal([]byte(strings.TrimSpace(out.String())), &conn); err != nil {
		t.Fatalf("%v: %q", err, out.String())
	}
	if conn.ConnState != "SF" || conn.Handshake != analyze.HSComplete || conn.OrigBytes != 4 || conn.RespBytes != 4 {
		t.Errorf("live connection: %+v", conn)
	}
}

// TestAnalyzeAsANewUserWould covers what a new user hit in a day: several
// files, a cut-short capture, an empty pcapng, outputs that are not regular
// files, a directory or a filter given as a file, and the exit codes.
func TestAnalyzeAsANewUserWould(t *testing.T) {
	t.Parallel()
	dir := testpaths.ZeekPcaps(t)
	httpGet, syn := filepath.Join(dir, "http-get.pcap"), filepath.Join(dir, "tcp-syn.pcap")
	tmp := t.TempDir()

	// Two files are two captures: a file column, no negative times, no
	// connection merged across them.
	r := tcpprobe(t, "analyze", httpGet, syn)
	if r.code != exitOK || !strings.Contains(r.stdout, "http-get.pcap ") || !strings.Contains(r.stdout, "tcp-syn.pcap ") || strings.Contains(r.stdout, "-0.") || !strings.Contains(r.stdout, "2 connections") {
		t.Errorf("two files: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := tcpprobe(t, "analyze", "--merge", httpGet, httpGet); !strings.Contains(r.stdout, "1 connection\n") {
		t.Errorf("--merge of a file with itself: %s", r.stdout)
	}

	// Cut short: the table of what was read, one warning, exit 2.
	raw, _ := os.ReadFile(httpGet)
	cut := filepath.Join(tmp, "cut.pcap")
	os.WriteFile(cut, raw[:len(raw)-10], 0o644)
	r = tcpprobe(t, "analyze", cut)
	if r.code != exitUsage || !strings.Contains(r.stdout, "ShADad") || !strings.Contains(r.stderr, "cut short after frame 13") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("cut short: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// An empty pcapng (a section header and an interface, no packets).
	var ng bytes.Buffer
	if w, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	} else {
		w.Flush()
	}
	empty := filepath.Join(tmp, "empty.pcapng")
	os.WriteFile(empty, ng.Bytes(), 0o644)
	if r := tcpprobe(t, "analyze", empty); r.code != exitOK || !strings.Contains(r.stdout, "0 frames") {
		t.Errorf("empty pcapng: exit %d %s%s", r.code, r.stdout, r.stderr)
	}

	// Outputs: /dev/null stays a device, a FIFO is written in place.
	if r := tcpprobe(t, "analyze", "-o", os.DevNull, httpGet); r.code != exitOK {
		t.Errorf("-o /dev/null: exit %d %s", r.code, r.stderr)
	}
	if fi, err := os.Stat(os.DevNull); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("/dev/null was replaced: %v", fi.Mode())
	}
	fifo := filepath.Join(tmp, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() { b, _ := os.ReadFile(fifo); got <- b }()
	if r := tcpprobe(t, "analyze", "--json", "-o", fifo, httpGet); r.code != exitOK {
		t.Errorf("-o FIFO: exit %d %s", r.code, r.stderr)
	}
	if b := <-got; !strings.Contains(string(b), "ShADadFf") {
		t.Errorf("FIFO reader got %q", b)
	}
	if fi, _ := os.Lstat(fifo); fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("FIFO replaced: %v", fi.Mode())
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"analyze", "-o", tmp, httpGet}, "is a directory"},
		{[]string{"analyze", tmp}, "is a directory"},
		{[]string{"analyze", httpGet, "tcp port 80"}, "goes in -f"},
	} {
		if r := tcpprobe(t, c.args...); r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q (want %q)", c.args, r.code, r.stderr, c.want)
		}
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 3 {
		t.Errorf("temporary files left in %s: %v", tmp, ents)
	}

	// A rule violation fails the run (a CI job can gate on it) unless
	// --fail-on never.
	bad := filepath.Join(dir, "tcp-ssh-dups.pcap")
	if r := tcpprobe(t, "analyze", bad); r.code != exitFailed {
		t.Errorf("violations: exit %d, want %d", r.code, exitFailed)
	}
	if r := tcpprobe(t, "analyze", "--fail-on", "never", bad); r.code != exitOK {
		t.Errorf("--fail-on never: exit %d", r.code)
	}
}

// TestAnalyzeLiveLoopback: on lo (checksum offload: our own segments are
// captured with partial checksums) a plain connection is SF, not "OTH Cc".
func TestAnalyzeLiveLoopback(t *testing.T) {
	needRoot(t)
	t.Parallel()
	ln := echoServer(t, "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	cmd := exec.Command(bin, "analyze", "--json", "-i", "lo", "--duration", "2s", "-f", fmt.Sprintf("tcp port %d", port))
	var out, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the capture is open
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("loop"))
	io.ReadFull(c, make([]byte, 4))
	c.Close()
	cmd.Wait()
	var conn analyze.Conn
	if err := json.Unmarshal([]byte(strings.TrimSpace(out.String())), &conn); err != nil {
		t.Fatalf("%v: %q %s", err, out.String(), stderr.String())
	}
	if conn.ConnState != "SF" || strings.ContainsAny(conn.History, "Cc") || conn.OrigBytes != 4 || conn.RespBytes != 4 {
		t.Errorf("live loopback connection: %s %s, %d/%d bytes (stderr %q)", conn.ConnState, conn.History, conn.OrigBytes, conn.RespBytes, stderr.String())
	}
}

// TestPacketsAgreeWithTshark diffs `analyze --packets` against tshark -2,
// packet by packet, on every capture of testdata: the per-packet output is
// what a user diffs against tshark, so it is what CI checks.
func TestPacketsAgreeWithTshark(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join(testpaths.ZeekPcaps(t), "*.pcap*"))
	if len(files) < 30 {
		t.Fatalf("only %d captures", len(files))
	}
	total, agree := 0, 0
	for _, f := range files {
		theirs := tsharktest.Analysis(t, f)
		ours := packetLines(t, f)
		for frame, want := range theirs {
			total++
			got := ours[frame]
			slices.Sort(got)
			slices.Sort(want)
			if slices.Equal(got, want) {
				agree++
			} else if total-agree <= 10 {
				t.Logf("%s frame %d: ours %v, tshark %v", filepath.Base(f), frame, got, want)
			}
		}
	}
	pct := 100 * float64(agree) / float64(total)
	t.Logf("--packets agrees with tshark -2 on every analysis flag of %.2f%% of %d TCP packets", pct, total)
	if pct < 99.9 {
		t.Errorf("agreement %.2f%%, want at least 99.9%%", pct)
	}
}

// TestBadChecksumsAnalyzedAsTshark: in a capture taken on a sender with
// checksum offload, its own segments carry wrong TCP checksums. Zeek (and
// analyze without -C) sets them aside for conn_state, but Wireshark checks
// no TCP checksum by default: its sequence analysis takes them as any
// other, and so does ours (a segment it skipped would make the peer's
// ACKs look like ACKs of unseen data). Every originator segment of two
// captures gets a wrong checksum; the per-packet flags stay those of the
// intact capture and agree with tshark's on the altered one.
func TestBadChecksumsAnalyzedAsTshark(t *testing.T) {
	t.Parallel()
	tsharktest.Need(t)
	for _, name := range []string{"http-get.pcap", "dns-edns-tcp-keepalive.pcap", "tcp-ctu-64702-888.pcap"} { // IPv4 header checksums intact
		src := filepath.Join(testpaths.ZeekPcaps(t), name)
		frames := readFrames(t, src)
		var orig netip.Addr
		bad := 0
		for _, f := range frames {
			off, err := craft.IPOffset(f.LinkType, f.Data)
			var p craft.Packet
			if err != nil || p.Decode(f.Data[off:]) != nil || !p.HasTCP || p.Version != 4 {
				continue
			}
			if !orig.IsValid() {
				orig = p.Src()
			}
			if p.Src() == orig {
				tcp := off + int(f.Data[off]&0x0f)*4
				f.Data[tcp+16] ^= 0xff // the TCP checksum
				bad++
			}
		}
		out := filepath.Join(t.TempDir(), name)
		if err := capture.WriteFile(out, frames[0].LinkType, frames); err != nil {
			t.Fatal(err)
		}
		plain := packetLines(t, src)
		r := tcpprobe(t, "analyze", "--packets", "--fail-on", "never", out) // checksums checked
		if r.code != exitOK || strings.TrimSpace(r.stdout) == "" {
			t.Fatalf("%s: exit %d, %d bytes out, %s", name, r.code, len(r.stdout), r.stderr)
		}
		flagged := 0
		theirs := tsharktest.Analysis(t, out)
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var p struct {
				Frame    int64    `json:"frame"`
				Analysis []string `json:"analysis"`
			}
			if err := json.Unmarshal([]byte(line), &p); err != nil {
				t.Fatal(err)
			}
			got := slices.DeleteFunc(p.Analysis, func(s string) bool {
				if s == "bad_checksum" {
					flagged++
					return true
				}
				return false
			})
			want := plain[p.Frame]
			slices.Sort(got)
			slices.Sort(want)
			tw := slices.Clone(theirs[p.Frame])
			slices.Sort(tw)
			if !slices.Equal(got, want) || !slices.Equal(got, tw) {
				t.Errorf("%s frame %d: %v with bad checksums, %v intact, tshark %v", name, p.Frame, got, want, tw)
			}
		}
		if bad == 0 || flagged != bad {
			t.Errorf("%s: %d checksums spoiled, %d flagged", name, bad, flagged)
		}
	}
}
