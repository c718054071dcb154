// Package ladder is the segment-by-segment record of one connection: a row
// per packet with both ends' states after it, as the rulebook's Tracker
// inferred them. It is built once, by the same code, for a live probe
// (endpoint) and for a connection read from a capture (analyze); the
// report package draws it.
package ladder

import (
	"fmt"
	"strings"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/internal/rtt"
	"github.com/tcpprobe/tcpprobe/rulebook"
)

// Dir says which way a row's packet went.
type Dir uint8

// Directions: Out is ours (or the originator's), In the peer's.
const (
	Out Dir = iota
	In
)

func (d Dir) String() string {
	if d == Out {
		return "out"
	}
	return "in"
}

// MarshalText prints directions as "out" and "in" in JSON.
func (d Dir) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads "out" or "in".
func (d *Dir) UnmarshalText(b []byte) error {
	*d = Out
	if string(b) == "in" {
		*d = In
	}
	return nil
}

// Row is one line of a ladder diagram: a packet on the wire and both
// ends' states after it.
type Row struct {
	Num       int            `json:"num"`
	TimeMs    float64        `json:"time_ms"` // since the first row
	Dir       Dir            `json:"dir"`
	Packet    Packet         `json:"segment"`
	Flags     craft.Flags    `json:"-"`
	RelSeq    uint32         `json:"rel_seq"`
	RelAck    uint32         `json:"rel_ack"` // 0 without ACK
	Ours      rulebook.State `json:"our_state"`
	Peer      rulebook.State `json:"peer_state"`
	Notes     []string       `json:"notes,omitempty"`
	ICMP      bool           `json:"icmp,omitempty"`
	KernelRST bool           `json:"kernel_rst,omitempty"` // a RST from our kernel, not from us
	// WinShift is the sender's negotiated window scale (RFC 7323): the
	// window field counts units of 2^WinShift bytes (0: unscaled).
	WinShift uint8 `json:"win_shift,omitempty"`
	// RelOptions are the options with SACK edges relative to the
	// receiver's ISN, for a relative ladder.
	RelOptions []string  `json:"-"`
	Time       time.Time `json:"-"`
}

// Builder adds rows with times relative to the first.
type Builder struct {
	Rows  []Row
	first time.Time
}

func (b *Builder) row(num int, t time.Time, d Dir, p Packet) *Row {
	if b.first.IsZero() {
		b.first = t
	}
	b.Rows = append(b.Rows, Row{Num: num, TimeMs: rtt.Ms(t.Sub(b.first)), Dir: d, Packet: p, Time: t})
	return &b.Rows[len(b.Rows)-1]
}

// Segment adds the row of a TCP segment the Tracker has observed (so its
// StateAfter is set); sides are the Tracker's view of both ends (their
// ISNs give relative numbers, their window scales the real window), p the
// packet's view and opts its options (nil when not known). The client's
// segments go out.
func (b *Builder) Segment(s *rulebook.Seg, sides *[2]rulebook.Side, p Packet, opts []craft.Option) *Row {
	isn := [2]craft.Seq{sides[0].ISN, sides[1].ISN}
	d := Out
	if s.From == rulebook.Server {
		d = In
	}
	r := b.row(s.Num, s.Time, d, p)
	r.Flags = s.Flags
	r.RelSeq = uint32(s.Seq - isn[s.From])
	if s.Flags&craft.ACK != 0 {
		r.RelAck = uint32(s.Ack - isn[1-s.From])
	}
	r.Ours, r.Peer = s.StateAfter[rulebook.Client], s.StateAfter[rulebook.Server]
	r.Notes = s.Notes()
	// A SYN's window is never scaled; later ones are when both SYNs
	// offered the option (RFC 7323 2.2).
	if s.Flags&craft.SYN == 0 && sides[0].WScale >= 0 && sides[1].WScale >= 0 && sides[0].SawSYN && sides[1].SawSYN {
		r.WinShift = uint8(min(sides[s.From].WScale, 14))
	}
	r.RelOptions = relativeOptions(opts, isn[1-s.From])
	return r
}

// relativeOptions renders options with SACK block edges relative to base
// (the ISN of the side whose data they acknowledge).
func relativeOptions(opts []craft.Option, base craft.Seq) []string {
	var out []string
	for _, o := range opts {
		if o.Kind == craft.OptEOL {
			break
		}
		if o.Kind != craft.OptSACK || len(o.Data)%8 != 0 {
			out = append(out, o.String())
			continue
		}
		// As tcpdump writes it: "sack 2 {l:r} {l:r}".
		t := craft.TCP{Options: []craft.Option{o}}
		blocks := t.SACKBlocks(nil)
		var b strings.Builder
		fmt.Fprintf(&b, "sack %d", len(blocks))
		for _, blk := range blocks {
			fmt.Fprintf(&b, " {%d:%d}", uint32(blk.Left-base), uint32(blk.Right-base))
		}
		out = append(out, b.String())
	}
	return out
}

// ICMP adds the row of an ICMP error about the flow, with both ends'
// states unchanged by it.
func (b *Builder) ICMP(num int, t time.Time, p Packet, states [2]rulebook.State) *Row {
	r := b.row(num, t, In, p)
	r.ICMP = true
	r.Ours, r.Peer = states[rulebook.Client], states[rulebook.Server]
	return r
}

// PacketOfSeg is the view of a segment known only as a rulebook.Seg (no
// options), between the given endpoints.
func PacketOfSeg(s *rulebook.Seg, src, dst string) Packet {
	return Packet{Src: src, Dst: dst, TTL: s.TTL, Flags: s.Flags.String(), Seq: uint32(s.Seq), Ack: uint32(s.Ack), Window: s.Window, Len: s.Len}
}
