package analyze

import (
	"net/netip"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
)

// dirState is Wireshark's per-direction sequence analysis state
// (tcp_analyze_seq_info in packet-tcp.c).
type dirState struct {
	nextseq         craft.Seq // 0: unknown
	nextTime        int64
	maxSeqToBeAcked craft.Seq
	lastack         craft.Seq
	lastackTime     int64
	window          uint16
	hasWin          bool
	winSYN          bool   // window was a SYN's: never scaled (RFC 7323 2.2)
	winScale        int8   // -1: unknown, -2: no scaling
	dupacks         uint32 // duplicate ACKs in a row; all ones (C's -1) after an ACK of unseen data
	lastFlags       Flag
}

// wsConv is a Wireshark conversation: the sequence analysis of both
// directions. It can outlive a connection as Zeek counts them (Zeek's
// timers end a connection where Wireshark's conversation goes on), so a
// new connection on the same ports inherits it unless Wireshark would
// start a new conversation (port reuse).
type wsConv struct {
	d       [2]dirState
	irtt    int64 // SYN to first ACK, for the out-of-order threshold
	base    [2]craft.Seq
	baseSet [2]bool        // TCP_S_BASE_SEQ_SET
	orig    netip.AddrPort // the sender of direction 0
}

func (w *wsConv) init(orig netip.AddrPort) {
	*w = wsConv{orig: orig}
	w.d[0].winScale, w.d[1].winScale = -1, -1
}

// reuses reports whether a segment from src starts a new Wireshark
// conversation: a SYN, or a SYN-ACK, whose sequence number is not the base
// of its direction (packet-tcp.c: TCP port numbers reused).
func (w *wsConv) reuses(src netip.AddrPort, t *craft.TCP) bool {
	if t.Flags&craft.SYN == 0 {
		return false
	}
	d := 0
	if src != w.orig {
		d = 1
	}
	return w.baseSet[d] && t.Seq != w.base[d]
}

// orientTo makes direction 0 the one sent by orig.
func (w *wsConv) orientTo(orig netip.AddrPort) {
	if w.orig != orig {
		w.d[0], w.d[1] = w.d[1], w.d[0]
		w.base[0], w.base[1] = w.base[1], w.base[0]
		w.baseSet[0], w.baseSet[1] = w.baseSet[1], w.baseSet[0]
		w.orig = orig
	}
}

// wireshark is tcp_analyze_sequence_number of packet-tcp.c: the analysis
// flags of one segment in direction dir.
func (c *conn) wireshark(dir int, pk *pkt) Flag {
	ws := &c.wsc
	fwd, rev := &ws.d[dir], &ws.d[1-dir]
	if t := &pk.p.TCP; !ws.baseSet[dir] {
		ws.base[dir], ws.baseSet[dir] = t.Seq, true
		if t.Flags&craft.SYN == 0 {
			ws.base[dir]-- // numbered as though a SYN was seen
		}
	}
	if t := &pk.p.TCP; !ws.baseSet[1-dir] && t.Flags&craft.ACK != 0 {
		// The other side's numbers start where this ACK says (its ISN
		// is the ACK less one), as in Wireshark: a later SYN of that
		// side with another sequence number reuses the ports.
		ws.base[1-dir], ws.baseSet[1-dir] = t.Ack-1, true
	}
	p := pk.p
	t := &p.TCP
	seq, ack := t.Seq, t.Ack
	seglen := uint32(pk.wsLen)
	var fl Flag

	if t.Flags&craft.SYN != 0 {
		if ws, ok := t.WindowScale(); ok {
			fwd.winScale = int8(ws)
		} else {
			fwd.winScale = -2
		}
		if t.Flags&craft.ACK != 0 && (fwd.winScale == -2 || rev.winScale == -2) {
			// Scaling is on only when both SYNs carried the option.
			fwd.winScale, rev.winScale = -2, -2
		}
	}

	fl |= windowFlags(fwd, rev, t, seglen)
	if ack != fwd.lastack {
		fwd.dupacks = 0
	}
	if rev.maxSeqToBeAcked != 0 && ack.After(rev.maxSeqToBeAcked) && t.Flags&craft.ACK != 0 {
		// An ACK of data the capture lacks, as tshark 4.0 (this project's
		// machines) decides it:
		if rev.maxSeqToBeAcked.LessThan(rev.nextseq) {
			// a hole in what the other side sent: flagged, and the
			// hole forgotten;
			fl |= FlagACKedUnseen
			rev.maxSeqToBeAcked = rev.nextseq
		} else {
			// beyond all it sent: flagged once until the other side's
			// own ACK moves, its duplicate-ACK count set to C's -1 (an
			// unsigned all ones) as the mark. That count also makes a
			// retransmission answering the ACK within 20 ms a "fast
			// retransmission" in tshark, and so here.
			if rev.dupacks == 0 {
				fl |= FlagACKedUnseen
			}
			rev.dupacks = ^uint32(0)
		}
	}
	if seglen > 0 || t.Flags&(craft.SYN|craft.FIN) != 0 {
		notAdvanced := fwd.nextseq != 0 && seq.LessThan(fwd.nextseq)
		if seglen > 1 && fwd.nextseq-1 == seq {
			notAdvanced = false // new data after a zero window probe
		}
		ooo := int64(3 * time.Millisecond)
		if ws.irtt > 0 {
			ooo = ws.irtt
		}
		synfin := uint32(0)
		if t.Flags&(craft.SYN|craft.FIN) != 0 {
			synfin = 1
		}
		switch {
		case fl&FlagKeepAlive != 0:
		case seglen > 0 && rev.lastack != 0 && !seq.Add(seglen).After(rev.lastack):
			fl |= FlagSpuriousRetransmission | FlagRetransmission
		case notAdvanced && rev.dupacks >= 2 && rev.lastack == seq && pk.ts-rev.lastackTime < int64(20*time.Millisecond):
			fl |= FlagFastRetransmission | FlagRetransmission
		case notAdvanced && pk.ts-fwd.nextTime < ooo && fwd.nextseq != seq.Add(seglen+synfin):
			fl |= FlagOutOfOrder
		case notAdvanced:
			fl |= FlagRetransmission
		}
	}
	next := seq.Add(seglen)
	if t.Flags&(craft.SYN|craft.FIN) != 0 {
		next++
	}
	if next.After(fwd.nextseq) || fwd.nextseq == 0 {
		if fl&FlagZeroWindowProbe == 0 {
			fwd.nextseq, fwd.nextTime = next, pk.ts
		}
	}
	if seq == fwd.maxSeqToBeAcked || fwd.maxSeqToBeAcked == 0 {
		if fl&FlagZeroWindowProbe == 0 {
			fwd.maxSeqToBeAcked = fwd.nextseq
		}
	}
	fwd.window, fwd.hasWin, fwd.winSYN = t.Window, true, t.Flags&craft.SYN != 0
	fwd.lastack, fwd.lastackTime = ack, pk.ts
	fwd.lastFlags = fl
	return fl
}

// windowFlags are Wireshark's flags that compare a segment with the
// window and the last ACK: zero window (probe), lost segment, keep-alive
// (ACK), window update and full, duplicate ACK, in packet-tcp.c's order.
func windowFlags(fwd, rev *dirState, t *craft.TCP, seglen uint32) Flag {
	seq, ack, win := t.Seq, t.Ack, t.Window
	synfinrst := t.Flags&(craft.SYN|craft.FIN|craft.RST) != 0
	var fl Flag
	if seglen == 1 && seq == fwd.nextseq && rev.hasWin && rev.window == 0 {
		return FlagZeroWindowProbe
	}
	if win == 0 && !synfinrst {
		fl |= FlagZeroWindow
	}
	if fwd.nextseq != 0 && seq.After(fwd.nextseq) && t.Flags&craft.RST == 0 {
		fl |= FlagLostSegment
	}
	if seglen <= 1 && seq == fwd.nextseq-1 && !synfinrst {
		fl |= FlagKeepAlive
	}
	if seglen == 0 && win != 0 && win != fwd.window && seq == fwd.nextseq && ack == fwd.lastack && !synfinrst {
		fl |= FlagWindowUpdate
	}
	if seglen > 0 && rev.winScale != -1 && !synfinrst {
		shift := uint(0)
		if rev.winScale > 0 && !rev.winSYN {
			shift = uint(rev.winScale)
		}
		if seq.Add(seglen) == rev.lastack.Add(uint32(rev.window)<<shift) {
			fl |= FlagWindowFull
		}
	}
	if seglen == 0 && win != 0 && win == fwd.window && seq == fwd.nextseq && ack == fwd.lastack && rev.lastFlags&FlagKeepAlive != 0 && !synfinrst {
		return fl | FlagKeepAliveACK
	}
	if seglen == 0 && win == 0 && win == fwd.window && seq == fwd.nextseq && ack == fwd.lastack && rev.lastFlags&FlagZeroWindowProbe != 0 && !synfinrst {
		return fl // zero window probe ACK
	}
	if seglen == 0 && win != 0 && win == fwd.window && seq == fwd.nextseq && ack == fwd.lastack && !synfinrst {
		if fwd.dupacks == ^uint32(0) {
			fwd.dupacks = 1 // (a duplicate after an ACK of unseen data, as Wireshark counts it)
		} else {
			fwd.dupacks++
		}
		fl |= FlagDuplicateACK
	}
	return fl
}
