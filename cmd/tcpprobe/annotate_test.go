package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tcpprobe/tcpprobe/internal/testpaths"
	"github.com/tcpprobe/tcpprobe/internal/tsharktest"
)

// TestWritePcapng: --write-pcapng rewrites the capture frame for frame
// (tshark reads the same frames and analyzes them the same), and every TCP
// packet carries a comment that tshark reads back with what --packets says
// of it and the rules it broke.
func TestWritePcapng(t *testing.T) {
	t.Parallel()
	dir := testpaths.ZeekPcaps(t)
	for _, files := range [][]string{
		{"tcp-fin_retransmission.pcap"},                       // rule violations
		{"tcp-http-on-irc-port-missing-syn.pcapng"},           // pcapng in
		{"tcp-retransmit-fast009.pcap", "tcp-syn.pcap"},       // two files, one after the other
		{"chksums-ip6-tcp-good-chksum.pcap", "http-get.pcap"}, // IPv6, then IPv4
	} {
		t.Run(strings.Join(files, "+"), func(t *testing.T) {
			t.Parallel()
			var paths []string
			for _, f := range files {
				paths = append(paths, filepath.Join(dir, f))
			}
			out := filepath.Join(t.TempDir(), "annotated.pcapng")
			r := tcpprobe(t, append([]string{"analyze", "-C", "--fail-on", "never", "--write-pcapng", out}, paths...)...)
			if r.code != exitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			comments := tsharktest.Comments(t, out)
			annotated := tsharktest.Analysis(t, out)
			var frames []int64 // of the annotated file: the inputs' frames in order
			base := int64(0)
			for _, p := range paths {
				theirs := tsharktest.Analysis(t, p)
				ours := packetLines(t, p)
				n := int64(len(readFrames(t, p)))
				for f := int64(1); f <= n; f++ {
					frames = append(frames, base+f)
					c, commented := comments[base+f]
					want, isTCP := ours[f]
					if commented != isTCP {
						t.Errorf("%s frame %d: comment %q, TCP %v", filepath.Base(p), f, c, isTCP)
						continue
					}
					if !isTCP {
						continue
					}
					if !strings.HasPrefix(c, "tcpprobe C") || !strings.Contains(c, " | orig ") {
						t.Errorf("%s frame %d: comment %q", filepath.Base(p), f, c)
					}
					for _, name := range want {
						if !strings.Contains(c, name) {
							t.Errorf("%s frame %d: comment %q lacks %s", filepath.Base(p), f, c, name)
						}
					}
					if !slices.Equal(sorted(annotated[base+f]), sorted(theirs[f])) {
						t.Errorf("%s frame %d: tshark analyzes it as %v in the annotated file, %v in the original", filepath.Base(p), f, annotated[base+f], theirs[f])
					}
				}
				base += n
			}
			if got := int64(len(readFrames(t, out))); got != base {
				t.Errorf("%d frames written, %d read", got, base)
			}
			if len(comments) == 0 {
				t.Fatal("no comments")
			}
			if files[0] == "tcp-fin_retransmission.pcap" && !strings.Contains(comments[2], "violates seq-after-syn (RFC 9293 3.4)") {
				t.Errorf("frame 2: %q", comments[2])
			}
		})
	}

	// Refusals: a live capture, standard input, --merge; the output path is
	// checked before any work.
	http := filepath.Join(dir, "http-get.pcap")
	for _, args := range [][]string{
		{"-i", "lo", "--duration", "1s"},
		{"-"},
		{"--merge", http, http},
		{"--write-pcapng", "/nonexistent/dir/x.pcapng", http},
	} {
		a := append([]string{"analyze", "--write-pcapng", filepath.Join(t.TempDir(), "x.pcapng")}, args...)
		if r := tcpprobe(t, a...); r.code != exitUsage || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d %q", args, r.code, r.stderr)
		}
	}
}
