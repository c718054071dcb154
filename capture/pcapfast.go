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
	stream
	order   binary.ByteOrder
	nano    bool
	extra   int // record header bytes past the 16 standard ones (8 in Kuznetsov's modified pcap)
	link    int
	snaplen uint32
}

// maxFrame bounds one record's captured length: larger is corruption.
const maxFrame = 256 << 10

func newPcapReader(r io.Reader, name string) (*pcapReader, error) {
	p := &pcapReader{stream: newStream(r, name)}
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
	case binary.LittleEndian.Uint32(h) == magicPcapModified:
		// Kuznetsov's patched libpcap (old Red Hat tcpdump): each record
		// header adds the interface index, protocol and packet type, as
		// libpcap reads them.
		p.order, p.extra = binary.LittleEndian, 8
	case binary.BigEndian.Uint32(h) == magicPcapModified:
		p.order, p.extra = binary.BigEndian, 8
	default:
		return nil, fmt.Errorf("%s: %w", name, ErrFormat)
	}
	p.snaplen = p.order.Uint32(h[16:])
	p.link = int(p.order.Uint32(h[20:]) & 0x0fffffff)
	p.off = 24
	return p, nil
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
	hl := 16 + p.extra
	if err := p.fill(hl); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, 0, io.EOF
		}
		return nil, 0, 0, fmt.Errorf("%s: truncated file: %w", p.name, err)
	}
	h := p.buf[p.off : p.off+hl]
	ts := p.stamp(h)
	incl := p.order.Uint32(h[8:])
	orig := p.order.Uint32(h[12:])
	if incl > maxFrame {
		return nil, 0, 0, fmt.Errorf("%s: corrupt record: captured length %d", p.name, incl)
	}
	if err := p.fill(hl + int(incl)); err != nil {
		return nil, 0, 0, fmt.Errorf("%s: truncated file: %w", p.name, io.ErrUnexpectedEOF)
	}
	data := p.buf[p.off+hl : p.off+hl+int(incl) : p.off+hl+int(incl)]
	p.off += hl + int(incl)
	return data, ts, int(orig), nil
}

// MinChunk is the smallest buffer ReadChunk accepts: one record of the
// largest size read.
const MinChunk = maxFrame + 24

// readChunk fills dst with whole records, reading the file straight into
// it, and returns how many bytes and records it holds. A record cut by
// the end of dst stays for the next call.
func (p *pcapReader) readChunk(dst []byte) (c Chunk, err error) {
	n, fromBuf, err := p.startChunk(dst)
	if err != nil {
		return c, err
	}
	off, frames, last, hl := 0, 0, 0, 16+p.extra
	for off+hl <= n {
		incl := int(p.order.Uint32(dst[off+8:]))
		if incl > maxFrame {
			p.err = fmt.Errorf("%s: corrupt record: captured length %d", p.name, incl)
			break
		}
		if off+hl+incl > n {
			break
		}
		last = off
		off += hl + incl
		frames++
	}
	if err := p.endChunk(dst, off, n, fromBuf, frames > 0); err != nil {
		return c, err
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
	Data  []byte
	off   int
	big   byteOrder
	nano  bool
	extra int // record header bytes past 16
	link  int // the link type of the record NextWire returned last
	// pcapng: blocks, and the interface table they refer to
	ng     bool
	ifaces []ngIface
}

// Link is the link type of the record returned last.
func (r *Records) Link() int { return r.link }

// Offset is where the next record starts in Data; Seek goes back (or on)
// to such an offset, so that NextWire returns that record again.
func (r *Records) Offset() int { return r.off }

// Seek sets the offset NextWire reads from (one Offset returned).
func (r *Records) Seek(off int) { r.off = off }

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
	hl := 16 + r.extra
	if r.off+hl > len(r.Data) {
		return nil, 0, 0, false
	}
	h := r.Data[r.off : r.off+hl]
	var sec, frac int64
	var incl int
	if r.big {
		sec, frac, incl, orig = int64(binary.BigEndian.Uint32(h)), int64(binary.BigEndian.Uint32(h[4:])), int(binary.BigEndian.Uint32(h[8:])), int(binary.BigEndian.Uint32(h[12:]))
	} else {
		sec, frac, incl, orig = int64(binary.LittleEndian.Uint32(h)), int64(binary.LittleEndian.Uint32(h[4:])), int(binary.LittleEndian.Uint32(h[8:])), int(binary.LittleEndian.Uint32(h[12:]))
	}
	start := r.off + hl
	if incl > len(r.Data)-start {
		return nil, 0, 0, false
	}
	r.off = start + incl
	if !r.nano {
		frac *= 1000
	}
	return r.Data[start:r.off:r.off], sec*1e9 + frac, orig, true
}
