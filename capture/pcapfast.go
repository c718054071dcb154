package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// pcapReader reads classic pcap files with a large buffer and no copy per
// packet: the analyzer's hot path. Frame data is valid until the next call.
type pcapReader struct {
	r       io.Reader
	buf     []byte
	off     int // start of unread data in buf
	end     int // end of valid data in buf
	order   binary.ByteOrder
	nano    bool
	link    int
	snaplen uint32
	eof     bool
	err     error // a corrupt record found by readChunk, returned on the next call
	name    string
}

// maxFrame bounds one record's captured length: larger is corruption.
const maxFrame = 256 << 10

func newPcapReader(r io.Reader, name string) (*pcapReader, error) {
	p := &pcapReader{r: r, buf: make([]byte, 512<<10), name: name}
	if err := p.fill(24); err != nil {
		return nil, fmt.Errorf("%s: pcap header: %w", name, err)
	}
	h := p.buf[:24]
	switch {
	case binary.LittleEndian.Uint32(h) == magicPcapMicro:
		p.order = binary.LittleEndian
	case binary.LittleEndian.Uint32(h) == magicPcapNano:
		p.order, p.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(h) == magicPcapMicro:
		p.order = binary.BigEndian
	case binary.BigEndian.Uint32(h) == magicPcapNano:
		p.order, p.nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("%s: %w", name, ErrFormat)
	}
	p.snaplen = p.order.Uint32(h[16:])
	p.link = int(p.order.Uint32(h[20:]) & 0x0fffffff)
	p.off = 24
	return p, nil
}

// fill makes at least n bytes available from off.
func (p *pcapReader) fill(n int) error {
	if p.end-p.off >= n {
		return nil
	}
	if p.off > 0 {
		copy(p.buf, p.buf[p.off:p.end])
		p.end -= p.off
		p.off = 0
	}
	if n > len(p.buf) {
		nb := make([]byte, n)
		copy(nb, p.buf[:p.end])
		p.buf = nb
	}
	for p.end < n {
		if p.eof {
			if p.end == 0 {
				return io.EOF
			}
			return io.ErrUnexpectedEOF
		}
		m, err := p.r.Read(p.buf[p.end:])
		p.end += m
		if err == io.EOF {
			p.eof = true
		} else if err != nil {
			return err
		}
	}
	return nil
}

func (p *pcapReader) next() (Frame, error) {
	data, ts, orig, err := p.nextRaw()
	if err != nil {
		return Frame{}, err
	}
	return Frame{Time: time.Unix(0, ts), Data: data, Length: orig, LinkType: p.link}, nil
}

// nextRaw returns the next record's data, its timestamp in nanoseconds
// since the epoch and its original length, without building a Frame.
func (p *pcapReader) nextRaw() ([]byte, int64, int, error) {
	if err := p.fill(16); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, 0, io.EOF
		}
		return nil, 0, 0, fmt.Errorf("%s: truncated file: %w", p.name, err)
	}
	h := p.buf[p.off : p.off+16]
	ts := p.stamp(h)
	incl := p.order.Uint32(h[8:])
	orig := p.order.Uint32(h[12:])
	if incl > maxFrame {
		return nil, 0, 0, fmt.Errorf("%s: corrupt record: captured length %d", p.name, incl)
	}
	if err := p.fill(16 + int(incl)); err != nil {
		return nil, 0, 0, fmt.Errorf("%s: truncated file: %w", p.name, io.ErrUnexpectedEOF)
	}
	data := p.buf[p.off+16 : p.off+16+int(incl) : p.off+16+int(incl)]
	p.off += 16 + int(incl)
	return data, ts, int(orig), nil
}

// MinChunk is the smallest buffer ReadChunk accepts: one record of the
// largest size read.
const MinChunk = maxFrame + 16

// readChunk fills dst with whole records, reading the file straight into
// it, and returns how many bytes and records it holds. A record cut by
// the end of dst stays for the next call.
func (p *pcapReader) readChunk(dst []byte) (c Chunk, err error) {
	if p.err != nil {
		return c, p.err
	}
	if len(dst) < MinChunk {
		return c, fmt.Errorf("%s: chunk buffer of %d bytes is smaller than a record can be", p.name, len(dst))
	}
	var n, frames, last int
	n = copy(dst, p.buf[p.off:p.end])
	p.off += n
	fromBuf := p.off < p.end // dst holds nothing but buffered bytes
	if !fromBuf {
		p.off, p.end = 0, 0
		for n < len(dst) && !p.eof {
			m, rerr := p.r.Read(dst[n:])
			n += m
			if rerr == io.EOF {
				p.eof = true
			} else if rerr != nil {
				p.err = fmt.Errorf("%s: %w", p.name, rerr)
				break
			}
		}
	}
	off := 0
	for off+16 <= n {
		incl := int(p.order.Uint32(dst[off+8:]))
		if incl > maxFrame {
			p.err = fmt.Errorf("%s: corrupt record: captured length %d", p.name, incl)
			break
		}
		if off+16+incl > n {
			break
		}
		last = off
		off += 16 + incl
		frames++
	}
	if p.err == nil {
		rest := dst[off:n]
		if fromBuf {
			p.off -= len(rest)
		} else {
			p.end = copy(p.buf, rest)
		}
		if frames == 0 && p.eof {
			// Nothing more will come (a buffer always holds a record).
			if len(rest) == 0 {
				return c, io.EOF
			}
			p.err = fmt.Errorf("%s: truncated file: %w", p.name, io.ErrUnexpectedEOF)
			p.off, p.end = 0, 0
		}
	}
	if frames == 0 && p.err != nil {
		return c, p.err
	}
	return Chunk{N: off, Frames: frames, First: p.stamp(dst), Last: p.stamp(dst[last:])}, nil
}

// stamp is the timestamp of the record header h, ns since the epoch.
func (p *pcapReader) stamp(h []byte) int64 {
	sec, frac := int64(p.order.Uint32(h)), int64(p.order.Uint32(h[4:]))
	if !p.nano {
		frac *= 1000
	}
	return sec*1e9 + frac
}

// Chunk describes what ReadChunk put in a buffer.
type Chunk struct {
	N, Frames   int   // bytes and records
	First, Last int64 // the first and last record's timestamps, ns since the epoch
}

// Records walks the whole records ReadChunk put in a buffer.
type Records struct {
	Data []byte
	off  int
	big  bool
	nano bool
	link int // the link type of the record NextWire returned last
	// pcapng: blocks, and the interface table they refer to
	ng     bool
	ifaces []ngIface
}

// Link is the link type of the record returned last.
func (r *Records) Link() int { return r.link }

// Next returns the next record's data and timestamp (ns since the
// epoch); ok is false at the end.
func (r *Records) Next() (data []byte, ts int64, ok bool) {
	data, ts, _, ok = r.NextWire()
	return data, ts, ok
}

// NextWire is Next with the record's original length: how long the frame
// was on the wire.
func (r *Records) NextWire() (data []byte, ts int64, orig int, ok bool) {
	if r.ng {
		return r.nextBlock()
	}
	if r.off+16 > len(r.Data) {
		return nil, 0, 0, false
	}
	h := r.Data[r.off : r.off+16]
	var sec, frac int64
	var incl int
	if r.big {
		sec, frac, incl, orig = int64(binary.BigEndian.Uint32(h)), int64(binary.BigEndian.Uint32(h[4:])), int(binary.BigEndian.Uint32(h[8:])), int(binary.BigEndian.Uint32(h[12:]))
	} else {
		sec, frac, incl, orig = int64(binary.LittleEndian.Uint32(h)), int64(binary.LittleEndian.Uint32(h[4:])), int(binary.LittleEndian.Uint32(h[8:])), int(binary.LittleEndian.Uint32(h[12:]))
	}
	start := r.off + 16
	if incl > len(r.Data)-start {
		return nil, 0, 0, false
	}
	r.off = start + incl
	if !r.nano {
		frac *= 1000
	}
	return r.Data[start:r.off:r.off], sec*1e9 + frac, orig, true
}
