package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/lab/labtest"

	"github.com/tcpprobe/tcpprobe/analyze"
	"github.com/tcpprobe/tcpprobe/internal/testpaths"
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
