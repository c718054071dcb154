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

// NgWriter writes frames to a pcapng file, each with an optional comment
// (opt_comment, Wireshark's frame.comment), one interface per link type.
// Like Writer it is atomic for regular files.
type NgWriter struct {
	f    *atomicfile.File
	w    *pcapgo.NgWriter
	intf map[int]int // link type -> interface id
	path string
}

// CreateNgFile starts a pcapng file at path.
func CreateNgFile(path string) (*NgWriter, error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("write capture: %w", err)
	}
	return &NgWriter{f: f, intf: map[int]int{}, path: path}, nil
}

func (w *NgWriter) iface(link int) (int, error) {
	if id, ok := w.intf[link]; ok {
		return id, nil
	}
	in := pcapgo.DefaultNgInterface
	in.Name, in.LinkType = fmt.Sprintf("link%d", link), layers.LinkType(link)
	var id int
	var err error
	if w.w == nil {
		opts := pcapgo.DefaultNgWriterOptions
		opts.SectionInfo.Application = "tcpprobe"
		w.w, err = pcapgo.NewNgWriterInterface(w.f, in, opts)
	} else {
		id, err = w.w.AddInterface(in)
	}
	if err != nil {
		return 0, fmt.Errorf("write capture: %w", err)
	}
	w.intf[link] = id
	return id, nil
}

// Write appends one frame with comment (none when empty).
func (w *NgWriter) Write(fr Frame, comment string) error {
	id, err := w.iface(fr.LinkType)
	if err != nil {
		return err
	}
	ci := gopacket.CaptureInfo{Timestamp: fr.Time, CaptureLength: len(fr.Data), Length: max(fr.Length, len(fr.Data)), InterfaceIndex: id}
	var opts pcapgo.NgPacketOptions
	if comment != "" {
		opts.Comments = []string{comment}
	}
	if err := w.w.WritePacketWithOptions(ci, fr.Data, opts); err != nil {
		return fmt.Errorf("write capture: %w", err)
	}
	return nil
}

// Close flushes the file and moves it into place. A file without frames
// still has its section header and an Ethernet interface.
func (w *NgWriter) Close() error {
	if w.w == nil {
		if _, err := w.iface(int(layers.LinkTypeEthernet)); err != nil {
			w.f.Abort()
			return err
		}
	}
	if err := w.w.Flush(); err != nil {
		w.f.Abort()
		return fmt.Errorf("write capture %s: %w", w.path, err)
	}
	if err := w.f.Commit(); err != nil {
		return fmt.Errorf("write capture: %w", err)
	}
	return nil
}

// Abort removes what was written (a regular file never appears).
func (w *NgWriter) Abort() { w.f.Abort() }
