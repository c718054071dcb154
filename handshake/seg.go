package handshake

import (
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
)

// Role names the two ends of a connection.
type Role uint8

// Client sent the first SYN (or, without a SYN, the first segment seen);
// Server is the other end.
const (
	Client Role = 0
	Server Role = 1
)

func (r Role) String() string {
	if r == Client {
		return "client"
	}
	return "server"
}

// MarshalText prints roles by name in JSON.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Seg is one TCP segment of a connection, in the form the Tracker needs.
// It is a plain value: building one does not allocate.
type Seg struct {
	Num    int // packet or segment number, quoted as evidence
	Time   time.Time
	From   Role
	Flags  craft.Flags
	Seq    craft.Seq
	Ack    craft.Seq
	Len    int // payload length
	Window uint16
	TTL    uint8
	// Options (of any segment; MSS/WS/SACK-permitted matter in SYNs).
	MSS    uint16 // 0: none
	WScale int8   // -1: none
	SACKOK bool
	HasTS  bool
	TSval  uint32
	TSecr  uint32
	// Set by the Tracker.
	Retrans     bool     // carries only sequence space already seen
	KeepAlive   bool     // a keepalive probe: seq = SND.NXT-1, 0 or 1 byte
	StateAfter  [2]State // both ends' states after this segment
	Annotations uint16   // bit set of Note values
}

// Note is a remark the Tracker attaches to a segment.
type Note uint16

// Notes on segments.
const (
	NoteRetransmission Note = 1 << iota
	NoteKeepAlive
	NoteKeepAliveACK
	NoteFINInTimeWait // the peer's FIN again while we are in TIME_WAIT
	NoteDataAfterFIN  // data received after we sent our FIN (half-close)
	NoteChallengeACK
	NoteZeroWindow
	NoteGap // the segment starts beyond anything seen: earlier data was not captured
)

var noteNames = [...]string{"retransmission", "keep-alive", "keep-alive ACK", "FIN again in TIME_WAIT", "data in half-close", "challenge ACK", "zero window", "previous segment not seen"}

// Notes returns the names of the segment's notes.
func (s *Seg) Notes() []string {
	var out []string
	for i, n := range noteNames {
		if s.Annotations&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// SegOf fills a Seg from a decoded TCP packet.
func SegOf(p *craft.Packet, num int, t time.Time, from Role) Seg {
	s := Seg{Num: num, Time: t, From: from, Flags: p.TCP.Flags, Seq: p.TCP.Seq, Ack: p.TCP.Ack,
		Len: p.PayloadLen, Window: p.TCP.Window, TTL: p.TTL(), WScale: -1}
	for _, o := range p.TCP.Options {
		switch o.Kind {
		case craft.OptMSS:
			if len(o.Data) == 2 {
				s.MSS = uint16(o.Data[0])<<8 | uint16(o.Data[1])
			}
		case craft.OptWindowScale:
			if len(o.Data) == 1 {
				s.WScale = int8(min(o.Data[0], 127))
			}
		case craft.OptSACKPermitted:
			s.SACKOK = true
		case craft.OptTimestamps:
			if len(o.Data) == 8 {
				d := o.Data
				s.HasTS = true
				s.TSval = uint32(d[0])<<24 | uint32(d[1])<<16 | uint32(d[2])<<8 | uint32(d[3])
				s.TSecr = uint32(d[4])<<24 | uint32(d[5])<<16 | uint32(d[6])<<8 | uint32(d[7])
			}
		}
	}
	return s
}

// consumed is the sequence space a segment takes: its length, plus one for
// SYN and one for FIN (RFC 9293 section 3.4).
func (s *Seg) consumed() uint32 {
	n := uint32(s.Len)
	if s.Flags&craft.SYN != 0 {
		n++
	}
	if s.Flags&craft.FIN != 0 {
		n++
	}
	return n
}
