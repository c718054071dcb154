package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// pcapngfast.go: pcapng read the way classic pcap is (pcapfast.go): whole
// blocks straight into large buffers, walked in place. The reader keeps
// the section's byte order and interface table. A buffer ends before a
// new section, and an interface block only appends to the table, so the
// table as the buffer's last block left it serves every packet in it; its Records walker carries it (each packet's
// link type and clock come from its interface). Blocks without packets
// are walked over.

// Block types (pcapng, draft-ietf-opsawg-pcapng section 4).
const (
	ngSHB = 0x0a0d0d0a // section header
	ngIDB = 1          // interface description
	ngPB  = 2          // packet (obsolete)
	ngSPB = 3          // simple packet
	ngEPB = 6          // enhanced packet

	ngByteOrderMagic = 0x1a2b3c4d
	ngMaxIfaces      = 1 << 16
)

// maxBlock bounds a block without packets (decryption secrets, name
// resolution, custom blocks), which may be larger than a buffer.
const maxBlock = 1 << 30

func isPacketBlock(typ uint32) bool { return typ == ngEPB || typ == ngPB || typ == ngSPB }

// ngIface is what a packet needs of its interface: the link type and how
// its timestamps count.
type ngIface struct {
	link   int
	snap   uint32
	mask   uint64 // timestamp units per second
	up     uint64 // nanoseconds of a remainder: rem*up/down
	down   uint64
	offset uint64 // if_tsoffset, seconds
}

// ns converts a timestamp in the interface's units to nanoseconds since
// the epoch, with the arithmetic of gopacket's pcapng reader (so that the
// two agree to the nanosecond).
func (f *ngIface) ns(ts uint64) int64 {
	switch f.mask { // the common clocks, divided by constants
	case 1e6:
		return int64(ts/1e6+f.offset)*1e9 + int64(ts%1e6*1e3)
	case 1e9:
		return int64(ts/1e9+f.offset)*1e9 + int64(ts%1e9)
	}
	return int64(ts/f.mask+f.offset)*1e9 + int64(ts%f.mask*f.up/f.down)
}

type ngReader struct {
	stream
	big    byteOrder
	ifaces []ngIface // the section's interfaces; entries are only appended
	frames []byte    // the buffer of next/nextRaw
	recs   Records   // the records of frames not yet returned
}

func newNgReader(r io.Reader, name string) (*ngReader, error) {
	p := &ngReader{stream: newStream(r, name)}
	if err := p.fill(12); err != nil {
		return nil, fmt.Errorf("%s: pcapng section header: %w", name, io.ErrUnexpectedEOF)
	}
	if _, err := p.section(p.buf[:p.end]); err != nil {
		return nil, err
	}
	return p, nil
}

// section reads the section header block at the start of b (at least 12
// bytes): its byte order and length. A new section has no interfaces.
// need is the block's length; the block is whole when len(b) >= need.
func (p *ngReader) section(b []byte) (need int, err error) {
	switch {
	case binary.BigEndian.Uint32(b[8:]) == ngByteOrderMagic:
		p.big = true
	case binary.LittleEndian.Uint32(b[8:]) == ngByteOrderMagic:
		p.big = false
	default:
		return 0, fmt.Errorf("%s: pcapng: bad byte-order magic in a section header", p.name)
	}
	n := int(p.big.u32(b[4:]))
	if n < 28 || n > maxFrame {
		return 0, fmt.Errorf("%s: corrupt pcapng section header: length %d", p.name, n)
	}
	if len(b) >= 16 {
		if major, minor := p.big.u16(b[12:]), p.big.u16(b[14:]); major != 1 || minor != 0 && minor != 2 {
			return 0, fmt.Errorf("%s: pcapng version %d.%d: not supported", p.name, major, minor)
		}
	}
	p.ifaces = nil
	return n, nil
}

// iface reads an interface description block b (whole).
func (p *ngReader) iface(b []byte) error {
	if len(b) < 20 {
		return fmt.Errorf("%s: corrupt pcapng interface block: length %d", p.name, len(b))
	}
	if len(p.ifaces) >= ngMaxIfaces {
		return fmt.Errorf("%s: pcapng: more than %d interfaces", p.name, ngMaxIfaces)
	}
	f := ngIface{link: int(p.big.u16(b[8:])), snap: p.big.u32(b[12:])}
	resol := uint8(0)
	opts := b[16 : len(b)-4]
	for len(opts) >= 4 {
		code, n := p.big.u16(opts), int(p.big.u16(opts[2:]))
		if code == 0 || 4+n > len(opts) {
			break
		}
		v := opts[4 : 4+n]
		switch {
		case code == 9 && n >= 1: // if_tsresol
			resol = v[0]
		case code == 14 && n >= 8: // if_tsoffset
			if p.big {
				f.offset = binary.BigEndian.Uint64(v)
			} else {
				f.offset = binary.LittleEndian.Uint64(v)
			}
		}
		opts = opts[min(len(opts), 4+(n+3)&^3):]
	}
	if resol == 0 {
		resol = 6 // microseconds, also for an explicit 10^0 (as gopacket)
	}
	exp := resol & 0x7f
	if exp > 63 {
		return fmt.Errorf("%s: pcapng: timestamp resolution %#x not supported", p.name, resol)
	}
	if resol&0x80 != 0 {
		f.mask = 1 << exp
	} else {
		f.mask = 1
		for range exp {
			f.mask *= 10
		}
	}
	f.up, f.down = 1, 1
	if f.mask < 1e9 {
		f.up = 1e9 / f.mask
	} else {
		f.down = f.mask / 1e9
	}
	// Appended in place: a buffer handed out holds the table's first
	// entries only, which never change (a new section starts a new table).
	p.ifaces = append(p.ifaces, f)
	return nil
}

// packet checks a packet block b (whole) against the interface table and
// returns its interface and captured length.
func (p *ngReader) packet(typ uint32, b []byte) error {
	var id, incl, hdr int
	switch typ {
	case ngEPB:
		if len(b) < 32 {
			return fmt.Errorf("%s: corrupt pcapng packet block: length %d", p.name, len(b))
		}
		id, incl, hdr = int(p.big.u32(b[8:])), int(p.big.u32(b[20:])), 28
	case ngPB:
		if len(b) < 32 {
			return fmt.Errorf("%s: corrupt pcapng packet block: length %d", p.name, len(b))
		}
		id, incl, hdr = int(p.big.u16(b[8:])), int(p.big.u32(b[20:])), 28
	case ngSPB:
		if len(b) < 16 {
			return fmt.Errorf("%s: corrupt pcapng packet block: length %d", p.name, len(b))
		}
		id, hdr = 0, 12
		incl = min(int(p.big.u32(b[8:])), len(b)-16)
	}
	if id >= len(p.ifaces) {
		return fmt.Errorf("%s: corrupt pcapng packet block: interface %d of %d", p.name, id, len(p.ifaces))
	}
	if incl < 0 || hdr+incl > len(b)-4 {
		return fmt.Errorf("%s: corrupt pcapng packet block: captured length %d in a block of %d", p.name, incl, len(b))
	}
	return nil
}

// readChunk fills dst with whole blocks (as pcapReader.readChunk) that
// share one interface table, and returns how many bytes and packets it
// holds.
func (p *ngReader) readChunk(dst []byte) (c Chunk, err error) {
	n, fromBuf, err := p.startChunk(dst)
	if err != nil {
		return c, err
	}
	off, frames, firstAt, lastAt := 0, 0, 0, 0
	big := p.big
	ifaces := p.ifaces
walk:
	for off+12 <= n {
		b := dst[off:n]
		typ := p.big.u32(b)
		if typ == ngSHB && off > 0 {
			break // a new section (byte order, interfaces): the next buffer
		}
		var size int
		if typ == ngSHB {
			if size, err = p.section(b); err != nil {
				p.err = err
				break
			}
			big, ifaces = p.big, p.ifaces
		} else {
			size = int(p.big.u32(b[4:]))
			if size < 12 || size > maxFrame && (typ == ngIDB || isPacketBlock(typ)) || size > maxBlock {
				p.err = fmt.Errorf("%s: corrupt pcapng block: length %d", p.name, size)
				break
			}
		}
		if size > len(b) {
			if size > MinChunk && !isPacketBlock(typ) && typ != ngIDB && typ != ngSHB {
				// A block without packets larger than any buffer (TLS
				// secrets, say): what is here is walked over, the rest
				// is skipped in the file.
				p.skip = int64(size - len(b))
				off = n
			}
			break // cut by the end of dst
		}
		b = b[:size]
		switch typ {
		case ngIDB:
			if err := p.iface(b); err != nil {
				p.err = err
				break walk
			}
			ifaces = p.ifaces
		case ngEPB, ngPB, ngSPB:
			if err := p.packet(typ, b); err != nil {
				p.err = err
				break walk
			}
			if frames == 0 {
				firstAt = off
			}
			lastAt = off
			frames++
		}
		off += size
	}
	p.recs = Records{big: big, ng: true, ifaces: ifaces}
	if err := p.endChunk(dst, off, n, fromBuf, off > 0); err != nil {
		return c, err
	}
	c = Chunk{N: off, Frames: frames}
	if frames > 0 {
		c.First = p.recs.blockTime(p.big.u32(dst[firstAt:]), dst[firstAt:])
		c.Last = p.recs.blockTime(p.big.u32(dst[lastAt:]), dst[lastAt:])
	}
	return c, nil
}

// records is the walker for the blocks the last readChunk returned.
func (p *ngReader) records(data []byte) Records {
	r := p.recs
	r.Data = data
	return r
}

// nextRaw returns the next packet's data (valid until the next call),
// timestamp, original length and link type.
func (p *ngReader) nextRaw() ([]byte, int64, int, int, error) {
	for {
		if d, ts, orig, ok := p.recs.NextWire(); ok {
			return d, ts, orig, p.recs.link, nil
		}
		if p.frames == nil {
			p.frames = make([]byte, MinChunk)
		}
		c, err := p.readChunk(p.frames)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, 0, 0, 0, io.EOF
			}
			return nil, 0, 0, 0, err
		}
		p.recs = p.records(p.frames[:c.N])
	}
}

// blockTime is a packet block's timestamp, ns since the epoch (0 for a
// simple packet block, which has none).
func (r *Records) blockTime(typ uint32, b []byte) int64 {
	if typ == ngSPB {
		return 0
	}
	var id uint32
	if typ == ngEPB {
		id = r.big.u32(b[8:])
	} else {
		id = uint32(r.big.u16(b[8:]))
	}
	return r.ifaces[id].ns(uint64(r.big.u32(b[12:]))<<32 | uint64(r.big.u32(b[16:])))
}

// nextBlock is NextWire over pcapng blocks: it walks over blocks without
// packets (readChunk has checked every block).
func (r *Records) nextBlock() (data []byte, ts int64, orig int, ok bool) {
	for r.off+12 <= len(r.Data) {
		b := r.Data[r.off:]
		typ := r.big.u32(b)
		size := int(r.big.u32(b[4:]))
		if size < 12 || size > len(b) {
			return nil, 0, 0, false
		}
		b = b[:size]
		r.off += size
		var id, incl, hdr int
		switch typ {
		case ngEPB:
			id, incl, orig, hdr = int(r.big.u32(b[8:])), int(r.big.u32(b[20:])), int(r.big.u32(b[24:])), 28
		case ngPB:
			id, incl, orig, hdr = int(r.big.u16(b[8:])), int(r.big.u32(b[20:])), int(r.big.u32(b[24:])), 28
		case ngSPB:
			orig, hdr = int(r.big.u32(b[8:])), 12
			incl = min(orig, size-16)
			if snap := int(r.ifaces[0].snap); snap != 0 && incl > snap {
				incl = snap
			}
		default:
			continue
		}
		if id >= len(r.ifaces) || incl < 0 || hdr+incl > size {
			return nil, 0, 0, false // (readChunk refuses such a block)
		}
		r.link = r.ifaces[id].link
		return b[hdr : hdr+incl : hdr+incl], r.blockTime(typ, b), orig, true
	}
	return nil, 0, 0, false
}

// byteOrder is a section's (or file's) byte order: true for big-endian.
type byteOrder bool

func (o byteOrder) u32(b []byte) uint32 {
	if o {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (o byteOrder) u16(b []byte) uint16 {
	if o {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}
