package script

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/tcpprobe/tcpprobe/craft"
)

// Numbers maps a script's relative numbers to the wire's, as packetdrill
// does: sequence numbers against each side's ISN (ours chosen, the peer's
// learned from its SYN), the peer's TS clock against the script's values.
// It is pure: the runner feeds it what it sent and saw.
type Numbers struct {
	OurISN       craft.Seq
	PeerISN      craft.Seq
	PeerISNKnown bool
	tsOffset     uint32 // the peer's TSval minus the script's, once known
	tsKnown      bool
	peerTS       uint32 // the peer's latest TSval on the wire
	peerTSSeen   bool
	// Cookie maps a script's TCP Fast Open cookie to the one the target
	// gave for the real 4-tuple (nil: cookies are sent as written).
	Cookie func([]byte) []byte
}

// DefaultWindow is the window of a "<" line without "win".
const DefaultWindow = 65535

// Build makes the segment a "<" line sends.
func (n *Numbers) Build(p *Packet) (craft.Segment, error) {
	if p.Out {
		return craft.Segment{}, fmt.Errorf("a > line is the peer's to send")
	}
	s := craft.Segment{TTL: 64, TCP: craft.TCP{Seq: n.OurISN.Add(p.Seq), Flags: p.Flags, Window: DefaultWindow}}
	switch p.ECN {
	case ECNAny, ECNNot:
	case ECNECT01:
		return s, fmt.Errorf("[ect01] is a pattern for > lines; send ect0 or ect1")
	default:
		s.TOS = uint8(p.ECN)
	}
	if p.HasAck {
		if !n.PeerISNKnown && p.Ack != 0 {
			return s, fmt.Errorf("ack %d: the peer's ISN is not known yet (no SYN from it so far)", p.Ack)
		}
		s.TCP.Ack = n.PeerISN.Add(p.Ack)
	}
	if p.HasWin {
		s.TCP.Window = p.Win
	}
	if p.HasUrg {
		s.TCP.Urgent = p.Urg
	}
	if p.AnyOptions {
		return s, fmt.Errorf("<...> is a pattern for > lines; write the options to send")
	}
	for _, o := range p.Options {
		s.TCP.Options = append(s.TCP.Options, n.mapOption(o, false))
	}
	s.Payload = make([]byte, p.Len)
	return s, nil
}

// mapOption turns a script option into the wire's: SACK edges against the
// ISN of the side whose data they cover, a TS ecr against the peer's clock
// on "<" lines, a Fast Open cookie through Cookie.
func (n *Numbers) mapOption(o craft.Option, out bool) craft.Option {
	switch o.Kind {
	case craft.OptSACK:
		base := n.PeerISN // our SACK blocks cover the peer's data
		if out {
			base = n.OurISN
		}
		d := make([]byte, len(o.Data))
		for i := 0; i+4 <= len(d); i += 4 {
			binary.BigEndian.PutUint32(d[i:], uint32(base.Add(binary.BigEndian.Uint32(o.Data[i:]))))
		}
		return craft.Option{Kind: o.Kind, Data: d}
	case craft.OptTimestamps:
		if out || len(o.Data) != 8 {
			return o
		}
		val, ecr := binary.BigEndian.Uint32(o.Data), binary.BigEndian.Uint32(o.Data[4:])
		switch {
		case ecr == 0:
		case n.tsKnown:
			ecr += n.tsOffset
		case n.peerTSSeen:
			// No > line wrote the peer's TSval (<...>): echo the latest,
			// as a real TCP would (TS.Recent).
			ecr = n.peerTS
		}
		return craft.TimestampsOption(val, ecr)
	case craft.OptFastOpen:
		if n.Cookie != nil && len(o.Data) > 0 {
			return craft.FastOpenOption(n.Cookie(o.Data))
		}
	}
	return o
}

// SawPeer notes what every segment from the peer shows of its clock.
func (n *Numbers) SawPeer(got *craft.Packet) {
	if !got.HasTCP {
		return
	}
	if v, _, ok := got.TCP.Timestamps(); ok {
		n.peerTS, n.peerTSSeen = v, true
	}
}

// Check compares a segment the peer sent with a ">" line and returns what
// differs (nil: it matches). A SYN teaches the peer's ISN first; a TS
// option teaches its clock's offset (its val is not checked, as
// packetdrill by default).
func (n *Numbers) Check(p *Packet, got *craft.Packet) []string {
	if !got.HasTCP {
		return []string{"not a TCP segment"}
	}
	t := &got.TCP
	if t.Flags&craft.SYN != 0 {
		n.PeerISN, n.PeerISNKnown = t.Seq-craft.Seq(p.Seq), true
	}
	var diff []string
	if t.Flags != p.Flags {
		diff = append(diff, fmt.Sprintf("flags %s, want %s", flagText(t.Flags), flagText(p.Flags)))
	}
	if want := n.PeerISN.Add(p.Seq); t.Seq != want {
		diff = append(diff, fmt.Sprintf("seq %d, want %d", uint32(t.Seq-n.PeerISN), p.Seq))
	}
	if got.PayloadLen != p.Len {
		diff = append(diff, fmt.Sprintf("length %d, want %d", got.PayloadLen, p.Len))
	}
	if p.HasAck && t.Flags&craft.ACK != 0 && t.Ack != n.OurISN.Add(p.Ack) {
		diff = append(diff, fmt.Sprintf("ack %d, want %d", uint32(t.Ack-n.OurISN), p.Ack))
	}
	if p.HasWin && t.Window != p.Win {
		diff = append(diff, fmt.Sprintf("win %d, want %d", t.Window, p.Win))
	}
	if p.HasUrg && t.Urgent != p.Urg {
		diff = append(diff, fmt.Sprintf("urg %d, want %d", t.Urgent, p.Urg))
	}
	if p.ECN != ECNAny {
		ecn := int(ecnOf(got) & 3)
		if ok := ecn == p.ECN || p.ECN == ECNECT01 && (ecn == ECNECT0 || ecn == ECNECT1); !ok {
			diff = append(diff, fmt.Sprintf("ECN %s, want %s", ecnName(ecn), ecnName(p.ECN)))
		}
	}
	if !p.AnyOptions {
		if d := n.checkOptions(p.Options, t.Options); d != "" {
			diff = append(diff, d)
		}
	}
	if sv, _, ok := (&craft.TCP{Options: p.Options}).Timestamps(); ok {
		if gv, _, ok := t.Timestamps(); ok {
			n.tsOffset, n.tsKnown = gv-sv, true
		}
	}
	return diff
}

func (n *Numbers) checkOptions(want, got []craft.Option) string {
	// EOL padding to the 4-byte boundary is encoding, not an option.
	for len(got) > 0 && got[len(got)-1].Kind == craft.OptEOL {
		got = got[:len(got)-1]
	}
	for len(want) > 0 && want[len(want)-1].Kind == craft.OptEOL {
		want = want[:len(want)-1]
	}
	mismatch := func() string {
		return fmt.Sprintf("options <%s>, want <%s>", optionsText(got, n, true), optionsText(want, nil, true))
	}
	if len(want) != len(got) {
		return mismatch()
	}
	for i, w := range want {
		g := got[i]
		if g.Kind != w.Kind {
			return mismatch()
		}
		if w.Kind == craft.OptTimestamps {
			// val is the peer's clock (not checked); ecr echoes ours.
			if len(g.Data) != 8 || !bytes.Equal(g.Data[4:], w.Data[4:]) {
				return mismatch()
			}
			continue
		}
		if !bytes.Equal(g.Data, n.mapOption(w, true).Data) {
			return mismatch()
		}
	}
	return ""
}

func ecnOf(p *craft.Packet) uint8 {
	if p.Version == 6 {
		return p.IPv6.TrafficClass
	}
	return p.IPv4.TOS
}

func ecnName(e int) string {
	for k, v := range ecnNames {
		if v == e {
			return k
		}
	}
	return "?"
}

// flagText writes flags as packetdrill does: "S.", "P.", "F.", "R", ".".
func flagText(f craft.Flags) string {
	if f == 0 {
		return "-"
	}
	var b strings.Builder
	for i, bit := range flagBits {
		if f&bit != 0 {
			b.WriteByte(flagLetters[i])
		}
	}
	return b.String()
}

// Describe writes a captured segment as a script line would, with numbers
// relative to the ISNs (n nil: absolute). dir is "<" or ">".
func Describe(dir string, got *craft.Packet, n *Numbers) string {
	if !got.HasTCP {
		if got.HasICMP {
			return dir + " icmp"
		}
		return dir + " ?"
	}
	t := &got.TCP
	var seqBase, ackBase craft.Seq
	if n != nil {
		seqBase, ackBase = n.PeerISN, n.OurISN
		if dir == "<" {
			seqBase, ackBase = n.OurISN, n.PeerISN
		}
	}
	seq := uint32(t.Seq - seqBase)
	var b strings.Builder
	b.WriteString(dir)
	b.WriteByte(' ')
	if e := int(ecnOf(got) & 3); e != ECNNot {
		b.WriteString("[" + ecnName(e) + "] ")
	}
	fmt.Fprintf(&b, "%s %d:%d(%d)", flagText(t.Flags), seq, seq+uint32(got.PayloadLen), got.PayloadLen)
	if t.Flags&craft.ACK != 0 {
		fmt.Fprintf(&b, " ack %d", uint32(t.Ack-ackBase))
	}
	fmt.Fprintf(&b, " win %d", t.Window)
	if t.Urgent != 0 {
		fmt.Fprintf(&b, " urg %d", t.Urgent)
	}
	if len(t.Options) > 0 {
		b.WriteString(" <" + optionsText(t.Options, n, dir == ">") + ">")
	}
	return b.String()
}

// optionsText writes options in script syntax; with n, SACK edges are
// made relative (out: they cover our data).
func optionsText(opts []craft.Option, n *Numbers, out bool) string {
	parts := make([]string, 0, len(opts))
	for _, o := range opts {
		d := o.Data
		switch {
		case o.Kind == craft.OptNOP:
			parts = append(parts, "nop")
		case o.Kind == craft.OptEOL:
			parts = append(parts, "eol")
		case o.Kind == craft.OptMSS && len(d) == 2:
			parts = append(parts, "mss "+strconv.Itoa(int(binary.BigEndian.Uint16(d))))
		case o.Kind == craft.OptWindowScale && len(d) == 1:
			parts = append(parts, "wscale "+strconv.Itoa(int(d[0])))
		case o.Kind == craft.OptSACKPermitted:
			parts = append(parts, "sackOK")
		case o.Kind == craft.OptTimestamps && len(d) == 8:
			parts = append(parts, fmt.Sprintf("TS val %d ecr %d", binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:])))
		case o.Kind == craft.OptSACK && len(d)%8 == 0:
			var base craft.Seq
			if n != nil {
				base = n.PeerISN
				if out {
					base = n.OurISN
				}
			}
			s := "sack"
			for i := 0; i+8 <= len(d); i += 8 {
				s += fmt.Sprintf(" %d:%d", binary.BigEndian.Uint32(d[i:])-uint32(base), binary.BigEndian.Uint32(d[i+4:])-uint32(base))
			}
			parts = append(parts, s)
		case o.Kind == craft.OptFastOpen:
			if len(d) == 0 {
				parts = append(parts, "FO")
			} else {
				parts = append(parts, fmt.Sprintf("FO %x", d))
			}
		default:
			parts = append(parts, o.String())
		}
	}
	return strings.Join(parts, ",")
}
