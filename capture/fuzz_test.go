package capture

import (
	"bytes"
	"encoding/binary"
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
		if b, err := os.ReadFile(filepath.Join(testpaths.ZeekPcapsOrEmpty(), name)); err == nil {
			f.Add(b)
			f.Add(b[:len(b)/2])
		}
	}
	ip := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}
	ng := (&ngFile{}).section(binary.BigEndian).iface(101, 0, 9, 0).epb(0, 5, ip, 20, "c").iface(1, 64, 0x94, 7).epb(1, 6, ip[:9], 20, "")
	f.Add(ng.section(binary.LittleEndian).iface(101, 0, 0, 0).pb(0, 7, ip).spb(ip).b)
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1})                                                // a pcap magic and nothing else
	f.Add(append([]byte{0x34, 0xcd, 0xb2, 0xa1, 2, 0, 4, 0}, make([]byte, 16+24+20)...)) // modified pcap, one record
	f.Add([]byte{0x1f, 0x8b, 0, 0})                                                      // a gzip magic and garbage
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewFileReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			if bytes.ContainsRune([]byte(err.Error()), '\n') {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if r.Chunked() {
			chunkedMatchesNext(t, data)
		}
		if r.ng != nil {
			pcapngMatchesGopacket(t, data)
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

// chunkedMatchesNext checks that ReadChunk and Records give the records
// Next gives, and fail when Next fails.
func chunkedMatchesNext(t *testing.T, data []byte) {
	a, _ := NewFileReader(bytes.NewReader(data), "fuzz")
	b, _ := NewFileReader(bytes.NewReader(data), "fuzz")
	buf := make([]byte, MinChunk)
	for range 100 {
		c, err := b.ReadChunk(buf)
		if err != nil {
			_, nerr := a.Next()
			if (err == io.EOF) != (nerr == io.EOF) || nerr == nil {
				t.Fatalf("chunked: %v, Next: %v", err, nerr)
			}
			return
		}
		recs := b.Records(buf[:c.N])
		for i := 0; ; i++ {
			d, ts, ok := recs.Next()
			if !ok {
				if i != c.Frames {
					t.Fatalf("walked %d records of %d", i, c.Frames)
				}
				break
			}
			f, err := a.Next()
			if err != nil || !bytes.Equal(f.Data, d) || f.Time.UnixNano() != ts {
				t.Fatalf("record %d: Next %v", i, err)
			}
		}
	}
}

// pcapngMatchesGopacket: where gopacket's pcapng reader reads data to its
// end, ours gives the same frames (a simple packet block's missing time
// aside) and ends too.
func pcapngMatchesGopacket(t *testing.T, data []byte) {
	want, werr := gopacketFrames(data)
	if werr != io.EOF {
		return
	}
	got, err := ourFrames(t, data, MinChunk)
	if err != io.EOF || len(got) != len(want) {
		t.Fatalf("%d frames (%v), gopacket %d", len(got), err, len(want))
	}
	for i := range got {
		if want[i].ts < 0 && got[i].ts == 0 { // a simple packet block
			want[i].ts = 0
		}
		if got[i] != want[i] {
			t.Fatalf("frame %d: %v, gopacket %v", i, got[i], want[i])
		}
	}
}
