package analyze

import (
	"github.com/tcpprobe/tcpprobe/craft"
)

// Zeek's endpoint states (TCP_ENDPOINT_* in its TCP analyzer).
type zeekState uint8

const (
	zInactive zeekState = iota
	zSynSent
	zSynAckSent
	zPartial
	zEstablished
	zClosed
	zReset
)

// likelyServer approximates Zeek's likely_server_ports for a capture that
// starts mid-connection: well-known ports.
func likelyServer(p uint16) bool { return p > 0 && p < 1024 }

func (c *conn) addHist(b byte) {
	if int(c.nhist) < len(c.hist) {
		c.hist[c.nhist] = b
		c.nhist++
	}
}

// histOnce records a history letter once per direction (upper case for
// the originator).
func (c *conn) histOnce(dir int, letter byte) {
	bit := uint32(1) << (letter - 'a')
	if c.histSeen[dir]&bit != 0 {
		return
	}
	c.histSeen[dir] |= bit
	if dir == 0 {
		letter -= 'a' - 'A'
	}
	c.addHist(letter)
}

// histScaled records c, g, t, w the 1st, 10th, 100th, ... time (Zeek's
// ScaledHistoryEntry).
func (c *conn) histScaled(dir, idx int, letter byte) {
	c.scaled[dir][idx]++
	n := c.scaled[dir][idx]
	for th := uint32(1); th <= n; th *= 10 {
		if n == th {
			if dir == 0 {
				letter -= 'a' - 'A'
			}
			c.addHist(letter)
			return
		}
		if th > 1e8 {
			return
		}
	}
}

// observe analyzes one packet of the connection and returns its flags.
// zeek updates Zeek's endpoint states and history for a segment.
func (c *conn) zeek(dir int, pk *pkt, fl Flag) {
	t := &pk.p.TCP
	f := t.Flags
	e, peer := &c.zs[dir], &c.zs[1-dir]
	n := pk.p.PayloadLen
	if f&craft.SYN != 0 {
		if f&craft.ACK != 0 {
			c.histOnce(dir, 'h')
			if *e == zInactive || *e == zSynSent {
				*e = zSynAckSent
			}
		} else {
			c.histOnce(dir, 's')
			if *e == zInactive {
				*e = zSynSent
			}
		}
		if f&(craft.FIN|craft.RST) != 0 {
			c.histOnce(dir, 'q')
		}
	}
	if f&craft.FIN != 0 {
		c.histOnce(dir, 'f')
	}
	if f&craft.RST != 0 {
		c.histOnce(dir, 'r')
	}
	if n > 0 {
		c.histOnce(dir, 'd')
	} else if f&craft.ACK != 0 && f&(craft.SYN|craft.FIN|craft.RST) == 0 {
		c.histOnce(dir, 'a')
	}
	if t.Window == 0 && f&(craft.SYN|craft.FIN|craft.RST) == 0 {
		c.histScaled(dir, 3, 'w')
	}
	if n > 0 && fl&(FlagRetransmission|FlagSpuriousRetransmission) != 0 {
		c.histScaled(dir, 2, 't')
	}
	if fl&FlagLostSegment != 0 || fl&FlagACKedUnseen != 0 {
		// Data the reassembler never saw: a content gap in the direction
		// that sent (or should have sent) it.
		gapDir := dir
		if fl&FlagLostSegment == 0 {
			gapDir = 1 - dir
			c.missed += int64(t.Ack - c.ws[1-dir].nextseq)
		} else {
			c.missed += int64(t.Seq - c.ws[dir].nextseq)
		}
		c.histScaled(gapDir, 1, 'g')
	}
	switch {
	case f&craft.RST != 0:
		*e = zReset
	case f&craft.FIN != 0:
		*e = zClosed
	case f&craft.SYN == 0 && (f&craft.ACK != 0 || n > 0):
		switch *e {
		case zInactive:
			if *peer == zSynAckSent || *peer == zSynSent && dir == 1 {
				*e = zEstablished
			} else {
				*e = zPartial
			}
		case zSynSent, zSynAckSent:
			*e = zEstablished
		}
		if *e == zEstablished && (*peer == zSynAckSent || *peer == zSynSent) {
			*peer = zEstablished
		}
	}
}

// zeekConnState is Zeek's conn_state for the connection
// (base/protocols/conn/main.zeek, conn_state()).
func (c *conn) zeekConnState() string {
	os, rs := c.zs[0], c.zs[1]
	oInactive := os == zInactive || os == zPartial
	rInactive := rs == zInactive || rs == zPartial
	switch {
	case rs == zReset:
		if os == zSynSent || os == zSynAckSent || (os == zReset && c.bytes[0] == 0 && c.bytes[1] == 0) {
			return "REJ"
		}
		if oInactive {
			return "RSTRH"
		}
		return "RSTR"
	case os == zReset:
		if rInactive {
			return "RSTOS0"
		}
		return "RSTO"
	case rs == zClosed && os == zClosed:
		return "SF"
	case os == zClosed:
		if rInactive {
			return "SH"
		}
		return "S2"
	case rs == zClosed:
		if oInactive {
			return "SHR"
		}
		return "S3"
	case os == zSynSent && rs == zInactive:
		return "S0"
	case os == zEstablished && rs == zEstablished:
		return "S1"
	}
	return "OTH"
}
