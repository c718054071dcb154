package capture

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tcpprobe/tcpprobe/internal/testpaths"
)

// FuzzFileReader reads arbitrary bytes as a capture file: no panic, no
// unbounded allocation, and every error is a single line.
func FuzzFileReader(f *testing.F) {
	// Seeds: a real pcap and a real pcapng, whole and cut in half.
	for _, name := range []string{"tcp-syn.pcap", "tcp-retransmit-timeout.pcapng"} {
		if b, err := os.ReadFile(filepath.Join(testpaths.SharedPcapsOrEmpty(), name)); err == nil {
			f.Add(b)
			f.Add(b[:len(b)/2])
		}
	}
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1}) // a pcap magic and nothing else
	f.Add([]byte{0x1f, 0x8b, 0, 0})       // a gzip magic and garbage
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewFileReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			if bytes.ContainsRune([]byte(err.Error()), '\n') {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		for i := 0; i < 10000; i++ {
			fr, err := r.Next()
			if err != nil {
				if err != io.EOF && bytes.ContainsRune([]byte(err.Error()), '\n') {
					t.Fatalf("multi-line error %q", err)
				}
				return
			}
			if len(fr.Data) > maxFrame {
				t.Fatalf("frame of %d bytes", len(fr.Data))
			}
		}
	})
}
