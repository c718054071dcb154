package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/internal/testpaths"
	"github.com/tcpprobe/tcpprobe/internal/tsharktest"
)

func countFrames(t *testing.T, r *FileReader) (n, tcp int) {
	t.Helper()
	var p craft.Packet
	for {
		f, err := r.Next()
		if err == io.EOF {
			return n, tcp
		}
		if err != nil {
			t.Fatalf("frame %d: %v", n+1, err)
		}
		n++
		off, err := craft.IPOffset(f.LinkType, f.Data)
		if err == nil && p.Decode(f.Data[off:]) == nil && p.HasTCP {
			tcp++
		}
	}
}

// TestSharedCaptures reads pcap and pcapng files and counts their frames;
// the counts are tshark's for the same files.
func TestSharedCaptures(t *testing.T) {
	dir := testpaths.ZeekPcaps(t)
	for _, tc := range []struct {
		file       string
		frames     int
		tcpFrames  int
		wantLink   int
		wantFormat string
	}{
		{"tcp-syn.pcap", 1, 1, craft.LinkEthernet, "pcap"},
		{"http-get.pcap", 14, 14, craft.LinkEthernet, "pcap"},
		{"tcp-retransmit-timeout.pcapng", 0, 0, 0, "pcapng"},
		{"tcp-http-on-irc-port-missing-syn.pcapng", 0, 0, 0, "pcapng"},
		{"chksums-ip6-tcp-good-chksum.pcap", 0, 0, 0, "pcap"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r, err := OpenFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if (r.ng != nil) != (tc.wantFormat == "pcapng") {
				t.Errorf("format detection: pcapng=%v", r.ng != nil)
			}
			n, tcp := countFrames(t, r)
			want := tc.frames
			if want == 0 {
				want = tsharkCount(t, filepath.Join(dir, tc.file), "")
				tc.tcpFrames = tsharkCount(t, filepath.Join(dir, tc.file), "tcp")
			}
			if n != want || tcp != tc.tcpFrames {
				t.Errorf("read %d frames (%d tcp), want %d (%d tcp)", n, tcp, want, tc.tcpFrames)
			}
			if tc.wantLink != 0 && r.LinkType() != tc.wantLink {
				t.Errorf("link type %d, want %d", r.LinkType(), tc.wantLink)
			}
		})
	}
}

// tsharkCount asks tshark how many frames (matching filter) a file holds.
func tsharkCount(t *testing.T, file, filter string) int {
	t.Helper()
	frames := tsharktest.Frames(t, file)
	if filter == "" {
		return len(frames)
	}
	n := 0
	for _, f := range frames {
		if f.TCPStatus != "" {
			n++
		}
	}
	return n
}

func TestGzipAndStdinStyleReader(t *testing.T) {
	dir := testpaths.ZeekPcaps(t)
	raw, err := os.ReadFile(filepath.Join(dir, "http-get.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	r, err := NewFileReader(&gz, "http-get.pcap.gz")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := countFrames(t, r); n != 14 {
		t.Errorf("gzip: %d frames, want 14", n)
	}
}

func TestBadFiles(t *testing.T) {
	dir := testpaths.ZeekPcaps(t)
	raw, err := os.ReadFile(filepath.Join(dir, "http-get.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"empty", nil, "not a pcap"},
		{"bad magic", []byte("GET / HTTP/1.1\r\n\r\n"), "not a pcap"},
		{"header only, cut", raw[:10], "pcap"},
		{"cut mid-packet", raw[:len(raw)-7], "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewFileReader(bytes.NewReader(tc.data), tc.name)
			if err == nil {
				for {
					_, err = r.Next()
					if err != nil {
						break
					}
				}
				if err == io.EOF {
					err = nil
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
	if _, err := OpenFile(filepath.Join(t.TempDir(), "missing.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestWriterRoundTrip writes crafted frames, reads them back with our
// reader (nanosecond timestamps intact) and has tshark check them.
func TestWriterRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.pcap")
	w, err := CreateFile(path, craft.LinkRaw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("file visible before Close")
	}
	base := time.Unix(1700000000, 123456789)
	var want [][]byte
	for i := range 3 {
		seg := craft.Segment{Src: mustAddr("198.18.0.1"), Dst: mustAddr("198.18.0.2"),
			TCP: craft.TCP{SrcPort: 40000, DstPort: 80, Seq: craft.Seq(i), Flags: craft.ACK, Window: 100}, Payload: []byte("x")}
		b := make([]byte, 100)
		n, err := seg.Encode(b)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, b[:n])
		if err := w.Write(Frame{Time: base.Add(time.Duration(i) * time.Microsecond), Data: b[:n], Length: n}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := range want {
		f, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Data, want[i]) || !f.Time.Equal(base.Add(time.Duration(i)*time.Microsecond)) || f.LinkType != craft.LinkRaw {
			t.Errorf("frame %d: %v %x", i, f.Time, f.Data)
		}
	}
	tsharktest.AllValid(t, path, len(want))
}

// TestPcapngMixedLinkTypesAndEmpty: a pcapng whose interfaces have
// different link types (dumpcap -i any -i eth0) yields every frame with
// its own link type; a section header alone is a capture of no packets.
func TestPcapngMixedLinkTypesAndEmpty(t *testing.T) {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeRaw, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	ip := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}
	eth := append([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 8, 0}, ip...)
	now := time.Unix(1700000000, 0)
	for i := 0; i < 3; i++ {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: now, CaptureLength: len(eth), Length: len(eth), InterfaceIndex: 0}, eth)
		w.WritePacket(gopacket.CaptureInfo{Timestamp: now, CaptureLength: len(ip), Length: len(ip), InterfaceIndex: raw}, ip)
	}
	w.Flush()
	shb := buf.Bytes()[:binary.LittleEndian.Uint32(buf.Bytes()[4:])]
	r, err := NewFileReader(bytes.NewReader(buf.Bytes()), "mixed")
	if err != nil {
		t.Fatal(err)
	}
	links := map[int]int{}
	for {
		f, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		links[f.LinkType]++
	}
	if links[craft.LinkEthernet] != 3 || links[int(layers.LinkTypeRaw)] != 3 {
		t.Errorf("frames by link type %v, want 3 Ethernet and 3 raw", links)
	}
	r, err = NewFileReader(bytes.NewReader(shb), "section header only")
	if err != nil {
		t.Fatalf("a section header alone: %v", err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("a section header alone: %v, want io.EOF", err)
	}
}

// TestModifiedPcap: a capture in Kuznetsov's modified pcap format (magic
// a1b2cd34, 24-byte record headers; old Red Hat tcpdump) reads to the same
// frames as the classic file it was made from, by frames and in chunks,
// and tshark reads the same number of TCP packets from it.
func TestModifiedPcap(t *testing.T) {
	src := filepath.Join(testpaths.ZeekPcaps(t), "tcp-retransmit-fast009.pcap")
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint32(orig) != magicPcapMicro {
		t.Fatal("the source is not a little-endian microsecond pcap")
	}
	mod := append([]byte(nil), orig[:24]...)
	binary.LittleEndian.PutUint32(mod, magicPcapModified)
	for off := 24; off+16 <= len(orig); {
		incl := int(binary.LittleEndian.Uint32(orig[off+8:]))
		mod = append(mod, orig[off:off+16]...)
		mod = append(mod, 2, 0, 0, 0, 0x08, 0x00, 0, 0) // ifindex, protocol (IPv4), packet type, padding
		mod = append(mod, orig[off+16:off+16+incl]...)
		off += 16 + incl
	}
	want, werr := ourFrames(t, orig, MinChunk)
	got, err := ourFrames(t, mod, MinChunk, 1<<20) // by frames and in chunks, which must agree
	if werr != io.EOF || err != io.EOF || len(want) == 0 || len(got) != len(want) {
		t.Fatalf("%d frames (%v), the classic file %d (%v)", len(got), err, len(want), werr)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("frame %d: %v, the classic file %v", i+1, got[i], want[i])
		}
	}
	path := filepath.Join(t.TempDir(), "modified.pcap")
	if err := os.WriteFile(path, mod, 0o644); err != nil {
		t.Fatal(err)
	}
	if n, m := tsharkCount(t, path, "tcp"), tsharkCount(t, src, "tcp"); n != m {
		t.Errorf("tshark reads %d TCP packets, %d from the classic file", n, m)
	}
}
