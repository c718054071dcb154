package craft

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// TCP header field offsets (RFC 9293 section 3.1).
const (
	tcpSrcPort   = 0
	tcpDstPort   = 2
	tcpSeq       = 4
	tcpAck       = 8
	tcpDataOff   = 12
	tcpFlags     = 13
	tcpWindow    = 14
	tcpChecksum  = 16
	tcpUrgent    = 18
	TCPMinHeader = 20
	TCPMaxHeader = 60
)

// TCP is a TCP header. On encode, Options is written in order and padded
// with EOL to a four-byte boundary; DataOffset and Checksum are computed.
// On decode, Options points into an array inside the TCP value (so decoding
// does not allocate) and each option's Data aliases the decoded buffer;
// copying a decoded TCP value shares that array.
type TCP struct {
	SrcPort, DstPort uint16
	Seq, Ack         Seq
	DataOffset       uint8 // header length in 32-bit words
	Flags            Flags
	Window           uint16
	Checksum         uint16
	Urgent           uint16
	Options          []Option
	// OptionsMalformed is set by Decode when option parsing stopped at an
	// option whose length was impossible; the options before it are kept.
	OptionsMalformed bool

	optBuf [MaxOptions]Option
}

// HeaderLen is the encoded header length in bytes.
func (t *TCP) HeaderLen() int { return TCPMinHeader + OptionsLen(t.Options) }

// Encode writes the header into b followed by nothing; the checksum field is
// left zero (see BuildTCP4/BuildTCP6 and SetChecksum). It returns the header
// length.
func (t *TCP) Encode(b []byte) (int, error) {
	hl := t.HeaderLen()
	if hl > TCPMaxHeader {
		return 0, errors.New("tcp options longer than 40 bytes")
	}
	if len(b) < hl {
		return 0, ErrBufTooSmall
	}
	t.DataOffset = uint8(hl / 4)
	binary.BigEndian.PutUint16(b[tcpSrcPort:], t.SrcPort)
	binary.BigEndian.PutUint16(b[tcpDstPort:], t.DstPort)
	binary.BigEndian.PutUint32(b[tcpSeq:], uint32(t.Seq))
	binary.BigEndian.PutUint32(b[tcpAck:], uint32(t.Ack))
	b[tcpDataOff] = t.DataOffset<<4 | uint8(t.Flags>>8&1)
	b[tcpFlags] = uint8(t.Flags)
	binary.BigEndian.PutUint16(b[tcpWindow:], t.Window)
	b[tcpChecksum], b[tcpChecksum+1] = 0, 0
	binary.BigEndian.PutUint16(b[tcpUrgent:], t.Urgent)
	encodeOptions(b[TCPMinHeader:hl], t.Options)
	return hl, nil
}

// SetChecksum computes the checksum of the encoded segment seg (header and
// payload) with the pseudo-header of src and dst, and stores it in seg and t.
func (t *TCP) SetChecksum(seg []byte, src, dst netip.Addr) {
	seg[tcpChecksum], seg[tcpChecksum+1] = 0, 0
	t.Checksum = TransportChecksum(src, dst, ProtoTCP, seg)
	binary.BigEndian.PutUint16(seg[tcpChecksum:], t.Checksum)
}

// Decode parses the TCP header at the start of b and returns its length.
// Every field is overwritten. A malformed option ends option parsing and
// sets OptionsMalformed; it is not an error.
func (t *TCP) Decode(b []byte) (int, error) {
	t.SrcPort, t.DstPort, t.Seq, t.Ack = 0, 0, 0, 0
	t.DataOffset, t.Flags, t.Window, t.Checksum, t.Urgent = 0, 0, 0, 0, 0
	t.Options, t.OptionsMalformed = t.optBuf[:0], false
	if len(b) < TCPMinHeader {
		return 0, ErrShort
	}
	t.SrcPort = binary.BigEndian.Uint16(b[tcpSrcPort:])
	t.DstPort = binary.BigEndian.Uint16(b[tcpDstPort:])
	t.Seq = Seq(binary.BigEndian.Uint32(b[tcpSeq:]))
	t.Ack = Seq(binary.BigEndian.Uint32(b[tcpAck:]))
	t.DataOffset = b[tcpDataOff] >> 4
	t.Flags = Flags(b[tcpFlags]) | Flags(b[tcpDataOff]&1)<<8
	t.Window = binary.BigEndian.Uint16(b[tcpWindow:])
	t.Checksum = binary.BigEndian.Uint16(b[tcpChecksum:])
	t.Urgent = binary.BigEndian.Uint16(b[tcpUrgent:])
	hl := int(t.DataOffset) * 4
	if hl < TCPMinHeader || hl > len(b) {
		return 0, ErrHeaderLen
	}
	t.decodeOptions(b[TCPMinHeader:hl])
	return hl, nil
}

func (t *TCP) decodeOptions(o []byte) {
	if len(o) == 12 && o[0] == byte(OptNOP) && o[1] == byte(OptNOP) && o[2] == byte(OptTimestamps) && o[3] == 10 {
		// NOP, NOP, timestamps: the options of nearly every segment
		// after a handshake between Linux, BSD, macOS or Windows hosts.
		t.optBuf[0] = Option{Kind: OptNOP}
		t.optBuf[1] = Option{Kind: OptNOP}
		t.optBuf[2] = Option{Kind: OptTimestamps, Data: o[4:12:12]}
		t.Options = t.optBuf[:3]
		return
	}
	n := 0
	for i := 0; i < len(o) && n < MaxOptions; {
		k := OptionKind(o[i])
		switch k {
		case OptEOL:
			t.optBuf[n] = Option{Kind: k}
			t.Options = t.optBuf[:n+1]
			return
		case OptNOP:
			t.optBuf[n] = Option{Kind: k}
			n++
			i++
		default:
			if i+1 >= len(o) || o[i+1] < 2 || i+int(o[i+1]) > len(o) {
				t.OptionsMalformed = true
				t.Options = t.optBuf[:n]
				return
			}
			l := int(o[i+1])
			t.optBuf[n] = Option{Kind: k, Data: o[i+2 : i+l : i+l]}
			n++
			i += l
		}
	}
	t.Options = t.optBuf[:n]
}

// find returns the first option of kind k with the expected data length (or
// any length when want < 0).
func (t *TCP) find(k OptionKind, want int) ([]byte, bool) {
	for _, o := range t.Options {
		if o.Kind == k && (want < 0 || len(o.Data) == want) {
			return o.Data, true
		}
	}
	return nil, false
}

// MSS returns the maximum segment size option's value.
func (t *TCP) MSS() (uint16, bool) {
	d, ok := t.find(OptMSS, 2)
	if !ok {
		return 0, false
	}
	return binary.BigEndian.Uint16(d), true
}

// WindowScale returns the window scale option's shift count.
func (t *TCP) WindowScale() (uint8, bool) {
	d, ok := t.find(OptWindowScale, 1)
	if !ok {
		return 0, false
	}
	return d[0], true
}

// SACKPermitted reports whether the SACK-permitted option is present.
func (t *TCP) SACKPermitted() bool {
	_, ok := t.find(OptSACKPermitted, 0)
	return ok
}

// Timestamps returns the timestamps option's TSval and TSecr.
func (t *TCP) Timestamps() (val, ecr uint32, ok bool) {
	d, ok := t.find(OptTimestamps, 8)
	if !ok {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:]), true
}

// SACKBlocks appends the blocks of the first SACK option to dst.
func (t *TCP) SACKBlocks(dst []SACKBlock) []SACKBlock {
	d, ok := t.find(OptSACK, -1)
	if !ok {
		return dst
	}
	for i := 0; i+8 <= len(d); i += 8 {
		dst = append(dst, SACKBlock{Seq(binary.BigEndian.Uint32(d[i:])), Seq(binary.BigEndian.Uint32(d[i+4:]))})
	}
	return dst
}

// FastOpenCookie returns the TCP Fast Open option's cookie (empty for a
// cookie request).
func (t *TCP) FastOpenCookie() ([]byte, bool) { return t.find(OptFastOpen, -1) }

// Offers are the options a connection negotiates or echoes, read in one
// pass: the hot path of the analyzer reads them for every segment. Each
// value is the first option of its kind with a valid length, as the
// single accessors (MSS, WindowScale, SACKPermitted, Timestamps) return.
type Offers struct {
	MSS          uint16 // 0: none
	WScale       int8   // -1: none (shift counts above 127 are clamped)
	SACKOK       bool
	HasTS        bool
	TSVal, TSEcr uint32
}

// Offers returns the segment's MSS, window scale, SACK-permitted and
// timestamps options.
func (t *TCP) Offers() Offers {
	o := Offers{WScale: -1}
	var seen uint8
	for _, op := range t.Options {
		switch {
		case op.Kind == OptMSS && len(op.Data) == 2 && seen&1 == 0:
			o.MSS, seen = binary.BigEndian.Uint16(op.Data), seen|1
		case op.Kind == OptWindowScale && len(op.Data) == 1 && seen&2 == 0:
			o.WScale, seen = int8(min(op.Data[0], 127)), seen|2
		case op.Kind == OptSACKPermitted && len(op.Data) == 0:
			o.SACKOK = true
		case op.Kind == OptTimestamps && len(op.Data) == 8 && !o.HasTS:
			o.HasTS, o.TSVal, o.TSEcr = true, binary.BigEndian.Uint32(op.Data), binary.BigEndian.Uint32(op.Data[4:])
		}
	}
	return o
}
