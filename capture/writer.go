package capture

import (
	"bufio"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/tcpprobe/tcpprobe/internal/atomicfile"
)

// Writer writes frames to a pcap file with nanosecond timestamps. A
// regular file appears under its name only when Close succeeds, so a
// reader never sees half a capture; a device or FIFO is written in place
// (internal/atomicfile).
type Writer struct {
	f    *atomicfile.File
	bw   *bufio.Writer
	w    *pcapgo.Writer
	path string
	link int
}

// CreateFile starts a pcap file at path for frames of linkType.
func CreateFile(path string, linkType int) (*Writer, error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("write capture: %w", err)
	}
	bw := bufio.NewWriter(f)
	w := pcapgo.NewWriterNanos(bw)
	if err := w.WriteFileHeader(65535, layers.LinkType(linkType)); err != nil {
		f.Abort()
		return nil, fmt.Errorf("write capture: %w", err)
	}
	return &Writer{f: f, bw: bw, w: w, path: path, link: linkType}, nil
}

// WriteFile writes frames to a pcap file at path, all or nothing.
func WriteFile(path string, linkType int, frames []Frame) error {
	w, err := CreateFile(path, linkType)
	if err != nil {
		return err
	}
	for _, f := range frames {
		if err := w.Write(f); err != nil {
			w.Abort()
			return err
		}
	}
	return w.Close()
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
	if err := w.bw.Flush(); err != nil {
		w.f.Abort()
		return fmt.Errorf("write capture %s: %w", w.path, err)
	}
	if err := w.f.Commit(); err != nil {
		return fmt.Errorf("write capture: %w", err)
	}
	return nil
}

// Abort discards the file.
func (w *Writer) Abort() { w.f.Abort() }
