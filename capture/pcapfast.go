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
	name    string
}

// maxFrame bounds one record's captured length: larger is corruption.
const maxFrame = 256 << 10

func newPcapReader(r io.Reader, name string) (*pcapReader, error) {
	p := &pcapReader{r: r, buf: make([]byte, 4<<20), name: name}
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
	sec := int64(p.order.Uint32(h))
	frac := int64(p.order.Uint32(h[4:]))
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
	if !p.nano {
		frac *= 1000
	}
	return data, sec*1e9 + frac, int(orig), nil
}
