package capture

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Writer writes frames to a pcap file with nanosecond timestamps. The file
// appears under its name only when Close succeeds (written to a temporary
// file in the same directory, then renamed), so a reader never sees half a
// capture.
type Writer struct {
	f    *os.File
	bw   *bufio.Writer
	w    *pcapgo.Writer
	path string
	link int
}

// CreateFile starts a pcap file at path for frames of linkType.
func CreateFile(path string, linkType int) (*Writer, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("write capture: %w", err)
	}
	bw := bufio.NewWriter(f)
	w := pcapgo.NewWriterNanos(bw)
	if err := w.WriteFileHeader(65535, layers.LinkType(linkType)); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("write capture: %w", err)
	}
	return &Writer{f: f, bw: bw, w: w, path: path, link: linkType}, nil
}

// LinkType is the link-layer type the file was created for.
func (w *Writer) LinkType() int { return w.link }

// Write appends one frame.
func (w *Writer) Write(fr Frame) error {
	n := fr.Length
	if n < len(fr.Data) {
		n = len(fr.Data)
	}
	ci := gopacket.CaptureInfo{Timestamp: fr.Time, CaptureLength: len(fr.Data), Length: n}
	if err := w.w.WritePacket(ci, fr.Data); err != nil {
		return fmt.Errorf("write capture: %w", err)
	}
	return nil
}

// Close flushes the file and moves it into place.
func (w *Writer) Close() error {
	err := w.bw.Flush()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(w.f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(w.f.Name(), w.path)
	}
	if err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("write capture %s: %w", w.path, err)
	}
	return nil
}

// Abort discards the file.
func (w *Writer) Abort() {
	w.f.Close()
	os.Remove(w.f.Name())
}
