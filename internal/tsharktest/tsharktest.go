// Package tsharktest runs tshark, an independent decoder, over a pcap file
// in tests and reports what it thinks of every frame's checksums.
package tsharktest

import (
	"os"
	"os/exec"
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
