// Package tsharktest runs tshark, an independent decoder, over a pcap file
// in tests and reports what it thinks of every frame's checksums.
package tsharktest

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Frame is tshark's verdict on one frame.
type Frame struct {
	Number    string
	IPStatus  string // ip.checksum.status: "1" good, "0" bad, "" no ipv4
	TCPStatus string // tcp.checksum.status
	ICMP      string // icmp.checksum.status or icmpv6.checksum.status
	Expert    string // _ws.expert.message, e.g. malformed-packet complaints
	Flags     string // tcp.flags.str
}

// Need returns the tshark binary or skips the test; under CI (CI=true) a
// missing tshark fails the test instead, since CI installs it.
func Need(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tshark not installed in CI")
		}
		t.Skip("tshark not installed")
	}
	return p
}

// Frames runs tshark with checksum validation on and returns one Frame per
// packet in file.
func Frames(t testing.TB, file string) []Frame {
	t.Helper()
	bin := Need(t)
	cmd := exec.Command(bin, "-n", "-r", file,
		"-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
		"-T", "fields", "-E", "separator=|", "-E", "occurrence=f",
		"-e", "frame.number", "-e", "ip.checksum.status", "-e", "tcp.checksum.status",
		"-e", "icmp.checksum.status", "-e", "_ws.expert.message", "-e", "tcp.flags.str",
		"-e", "icmpv6.checksum.status")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Logf("tshark stderr: %s", ee.Stderr)
	}
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var frames []Frame
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "|")
		for len(f) < 7 {
			f = append(f, "")
		}
		icmp := f[3]
		if icmp == "" {
			icmp = f[6]
		}
		frames = append(frames, Frame{Number: f[0], IPStatus: f[1], TCPStatus: f[2], ICMP: icmp, Expert: f[4], Flags: f[5]})
	}
	return frames
}

// AllValid fails the test unless tshark decodes want frames and finds every
// checksum it can check good and no malformed packet.
func AllValid(t testing.TB, file string, want int) {
	t.Helper()
	frames := Frames(t, file)
	if len(frames) != want {
		t.Fatalf("tshark read %d frames, want %d", len(frames), want)
	}
	for _, f := range frames {
		if f.IPStatus == "0" || f.TCPStatus == "0" || f.ICMP == "0" {
			t.Errorf("tshark: frame %s has a bad checksum (ip %q tcp %q icmp %q)", f.Number, f.IPStatus, f.TCPStatus, f.ICMP)
		}
		if f.TCPStatus == "" && f.ICMP == "" {
			t.Errorf("tshark: frame %s has neither tcp nor icmp checksum verdict", f.Number)
		}
		if strings.Contains(strings.ToLower(f.Expert), "malformed") {
			t.Errorf("tshark: frame %s: %s", f.Number, f.Expert)
		}
	}
}

// AnalysisFields are tshark's per-packet TCP analysis flags compared with
// tcpprobe's (tcp.analysis.<name>).
var AnalysisFields = []string{"retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
	"lost_segment", "duplicate_ack", "zero_window", "zero_window_probe", "keep_alive", "keep_alive_ack",
	"window_full", "window_update", "ack_lost_segment", "reused_ports"}

// Analysis runs tshark's two-pass TCP analysis (tshark -2) over file and
// returns, for every TCP frame by number, the analysis flags set (names
// of AnalysisFields).
func Analysis(t testing.TB, file string) map[int64][]string {
	t.Helper()
	args := []string{"-n", "-2", "-r", file, "-o", "tcp.relative_sequence_numbers:FALSE", "-o", "tcp.analyze_sequence_numbers:TRUE",
		"-o", "tcp.check_checksum:FALSE", "-Y", "tcp", "-T", "fields", "-E", "separator=|", "-e", "frame.number"}
	for _, f := range AnalysisFields {
		args = append(args, "-e", "tcp.analysis."+f)
	}
	cmd := exec.Command(Need(t), args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", file, err)
	}
	res := map[int64][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		cols := strings.Split(line, "|")
		num, err := strconv.ParseInt(cols[0], 10, 64)
		if err != nil {
			continue
		}
		var names []string
		for i, f := range AnalysisFields {
			if i+1 < len(cols) && cols[i+1] != "" {
				names = append(names, f)
			}
		}
		res[num] = names
	}
	return res
}

// Comments returns every frame's packet comment (frame.comment), by frame
// number, as tshark reads them from a pcapng file; frames without one are
// absent.
func Comments(t testing.TB, file string) map[int64]string {
	t.Helper()
	cmd := exec.Command(Need(t), "-n", "-r", file, "-T", "fields", "-E", "separator=|", "-e", "frame.number", "-e", "frame.comment")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", file, err)
	}
	res := map[int64]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		num, comment, _ := strings.Cut(line, "|")
		n, err := strconv.ParseInt(num, 10, 64)
		if err == nil && comment != "" {
			res[n] = comment
		}
	}
	return res
}
