package rulebook

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
		Len: p.PayloadLen, Window: p.TCP.Window, TTL: p.TTL()}
	o := p.TCP.Offers()
	s.MSS, s.WScale, s.SACKOK, s.HasTS, s.TSval, s.TSecr = o.MSS, o.WScale, o.SACKOK, o.HasTS, o.TSVal, o.TSEcr
	return s
}

// SeqLen is the sequence space the segment occupies (craft.SeqLen).
func (s *Seg) SeqLen() uint32 { return craft.SeqLen(s.Flags, s.Len) }
