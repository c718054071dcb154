package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// Frame is one captured packet. Data is only valid until the next read
// from the same source unless the source documents otherwise.
type Frame struct {
	Time     time.Time
	Data     []byte
	Length   int // original length on the wire
	LinkType int
}

// FileReader reads frames from a pcap or pcapng file.
type FileReader struct {
	fast   *pcapReader
	ng     *ngReader
	closer io.Closer
	link   int
	name   string
	read   *countingReader
	size   int64
}

// countingReader counts the bytes read from a file, for progress reports.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// ErrFormat means the input is not a pcap or pcapng file.
var ErrFormat = errors.New("not a pcap or pcapng file")

// Magic numbers (pcap: tcpdump.org; pcapng: section header block type).
const (
	magicPcapMicro    = 0xa1b2c3d4
	magicPcapNano     = 0xa1b23c4d
	magicPcapModified = 0xa1b2cd34 // Kuznetsov's patched libpcap
	magicPcapngBlock  = 0x0a0d0d0a
)

// OpenFile opens a pcap or pcapng file, or standard input for "-". The
// format is taken from the magic number, and gzip is undone first.
func OpenFile(path string) (*FileReader, error) {
	var f io.ReadCloser = os.Stdin
	name := "standard input"
	var size int64
	if path != "-" {
		file, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		if fi, err := file.Stat(); err == nil {
			size = fi.Size()
		}
		f, name = file, path
	}
	cr := &countingReader{r: f}
	r, err := NewFileReader(cr, name)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer, r.read, r.size = f, cr, size
	return r, nil
}

// NewFileReader reads a pcap or pcapng stream from rd; name is used in
// errors.
func NewFileReader(rd io.Reader, name string) (*FileReader, error) {
	br := bufio.NewReaderSize(rd, 64<<10)
	head, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (file too short)", name, ErrFormat)
	}
	if head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		br = bufio.NewReaderSize(gz, 64<<10)
		if head, err = br.Peek(4); err != nil {
			return nil, fmt.Errorf("%s: %w (file too short)", name, ErrFormat)
		}
	}
	r := &FileReader{name: name}
	le, be := binary.LittleEndian.Uint32(head), binary.BigEndian.Uint32(head)
	switch {
	case le == magicPcapngBlock:
		// Mixed link types: with dumpcap -i any -i eth0 each interface has
		// its own, and gopacket would drop every frame not of the first's.
		ng, err := newNgReader(br, name)
		if err != nil {
			return nil, err
		}
		r.ng = ng
	case le == magicPcapMicro || le == magicPcapNano || be == magicPcapMicro || be == magicPcapNano ||
		le == magicPcapModified || be == magicPcapModified:
		pr, err := newPcapReader(br, name)
		if err != nil {
			return nil, err
		}
		r.fast, r.link = pr, pr.link
	default:
		return nil, fmt.Errorf("%s: %w (magic %08x)", name, ErrFormat, be)
	}
	return r, nil
}

// LinkType is the file's link-layer type; for pcapng, that of the
// current section's first interface (once read), as each packet may have
// its own (Records.Link, Frame.LinkType).
func (r *FileReader) LinkType() int {
	if r.ng != nil {
		if len(r.ng.ifaces) > 0 {
			return r.ng.ifaces[0].link
		}
		return 0
	}
	return r.link
}

// Next returns the next frame, io.EOF at the end, or an error for a
// truncated or corrupt file. The frame's Data is valid until the next call.
func (r *FileReader) Next() (Frame, error) {
	data, ts, orig, link, err := r.NextRawWire()
	if err != nil {
		return Frame{}, err
	}
	return Frame{Time: time.Unix(0, ts), Data: data, Length: orig, LinkType: link}, nil
}

// NextRaw is Next without building a Frame: the data (valid until the
// next call), the timestamp in nanoseconds since the epoch and the link
// type. It is the analyzer's fast path.
func (r *FileReader) NextRaw() ([]byte, int64, int, error) {
	d, ts, _, link, err := r.NextRawWire()
	return d, ts, link, err
}

// NextRawWire is NextRaw with the frame's original length (on the wire).
func (r *FileReader) NextRawWire() (data []byte, ts int64, orig, link int, err error) {
	if r.fast != nil {
		d, ts, orig, err := r.fast.nextRaw()
		return d, ts, orig, r.link, err
	}
	return r.ng.nextRaw()
}

// Chunked reports whether ReadChunk works: pcap and pcapng (also
// gzipped).
func (r *FileReader) Chunked() bool { return r.fast != nil || r.ng != nil }

// ReadChunk fills dst (at least MinChunk bytes) with whole records read
// straight from the file, for callers that hand buffers of many packets
// to several goroutines; it says what it read, and returns io.EOF after
// the last record. Walk the records with Records(dst[:c.N]) before the
// next call. A pcapng buffer holds blocks of one interface table: it may
// hold no packet at all.
func (r *FileReader) ReadChunk(dst []byte) (c Chunk, err error) {
	if r.ng != nil {
		return r.ng.readChunk(dst)
	}
	return r.fast.readChunk(dst)
}

// Records returns a walker over the records in data, as the last
// ReadChunk filled it.
func (r *FileReader) Records(data []byte) Records {
	if r.ng != nil {
		return r.ng.records(data)
	}
	return Records{Data: data, big: r.fast.order == binary.BigEndian, nano: r.fast.nano, extra: r.fast.extra, link: r.link}
}

// Progress returns how many bytes of the file were read and its size (0
// when unknown, as for standard input). Safe to call from any goroutine.
func (r *FileReader) Progress() (read, size int64) {
	if r.read == nil {
		return 0, 0
	}
	return r.read.n.Load(), r.size
}

// Close closes the underlying file.
func (r *FileReader) Close() error {
	if r.closer != nil && r.closer != os.Stdin {
		return r.closer.Close()
	}
	return nil
}
