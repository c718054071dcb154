package endpoint

import (
	"context"
	"errors"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/rulebook"
	"github.com/tcpprobe/tcpprobe/wire"
)

// Outcome classifies the answer to our SYN.
type Outcome string

// Outcomes of Open.
const (
	Open        Outcome = "open"              // SYN-ACK
	Refused     Outcome = "refused"           // RST
	Unreachable Outcome = "unreachable"       // ICMP error
	Filtered    Outcome = "filtered"          // no answer
	SimulOpen   Outcome = "simultaneous-open" // a bare SYN came back
)

// OpenConfig says how to open.
type OpenConfig struct {
	DropThirdACK bool   // do not send the third segment
	Data         []byte // carried by the third segment
}

// Open sends our SYN (retransmitted with exponential backoff) and
// classifies the answer; on a SYN-ACK it sends the third segment.
func (c *Conn) Open(ctx context.Context, oc OpenConfig) (Outcome, error) {
	syn := craft.Segment{TTL: c.cfg.TTL, TCP: craft.TCP{Seq: c.ISN, Flags: craft.SYN, Window: c.cfg.Window}}
	for _, o := range c.cfg.SYNOptions {
		switch o.Kind {
		case craft.OptTimestamps:
			o = craft.TimestampsOption(c.tsval(), 0)
		case craft.OptWindowScale:
			if len(o.Data) == 1 {
				c.ourWScale = int8(min(o.Data[0], 14))
			}
		}
		syn.TCP.Options = append(syn.TCP.Options, o)
	}
	synEnd := c.ISN.Add(1)
	rto := c.cfg.RTO
	for try := 0; try <= c.cfg.Retries; try++ {
		c.setState(rulebook.EvSendSYN)
		if err := c.send(&syn); err != nil {
			return "", err
		}
		deadline := time.Now().Add(rto)
		for {
			ev, err := c.nextUntil(ctx, deadline)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					break
				}
				return "", err
			}
			if ev.Dir == wire.Out {
				continue
			}
			if ev.Pkt.HasICMP {
				if ev.Pkt.ICMP.Quote.Seq == c.ISN {
					c.ICMP = ev.Event
					c.setState(rulebook.EvAbort) // RFC 1122 4.2.3.9: a hard error aborts
					return Unreachable, nil
				}
				continue
			}
			t := &ev.Pkt.TCP
			switch {
			case t.Flags&craft.RST != 0:
				if t.Flags&craft.ACK != 0 && t.Ack == synEnd {
					c.PeerRSTs++
					c.setState(rulebook.EvRST) // 3.10.7.3: connection refused
					return Refused, nil
				}
			case t.Flags.Has(craft.SYN|craft.ACK) && t.Ack != synEnd:
				// RFC 9293 3.10.7.3: an unacceptable ACK in SYN_SENT is
				// answered by <SEQ=SEG.ACK><CTL=RST> and dropped.
				rst := craft.Segment{TTL: c.cfg.TTL, TCP: craft.TCP{Seq: t.Ack, Flags: craft.RST}}
				c.rsts = append(c.rsts, t.Ack)
				if err := c.net.Send(&rst); err != nil {
					return "", err
				}
			case t.Flags.Has(craft.SYN|craft.ACK) && t.Ack == synEnd:
				c.synAcked(ev.Event)
				if oc.DropThirdACK {
					return Open, nil
				}
				ack := c.segment(craft.ACK, c.SndNxt, nil)
				if len(oc.Data) > 0 {
					ack = c.segment(craft.PSH|craft.ACK, c.SndNxt, oc.Data)
				}
				if err := c.send(&ack); err != nil {
					return "", err
				}
				return Open, nil
			case t.Flags&craft.SYN != 0 && t.Flags&craft.ACK == 0:
				// Simultaneous open (or a split handshake): RFC 9293
				// 3.10.7.3 answers with SYN,ACK.
				c.PeerISN, c.RcvNxt = t.Seq, t.Seq.Add(1)
				c.setState(rulebook.EvRecvSYN)
				sa := c.segment(craft.SYN|craft.ACK, c.ISN, nil)
				sa.TCP.Options = syn.TCP.Options
				if err := c.send(&sa); err != nil {
					return "", err
				}
				return SimulOpen, nil
			}
		}
		rto *= 2
	}
	c.setState(rulebook.EvAbort) // RFC 9293 3.8.3: we gave up retransmitting
	return Filtered, nil
}

// synAcked takes the peer's SYN-ACK: its ISN, options and window.
func (c *Conn) synAcked(ev *wire.Event) {
	t := &ev.Pkt.TCP
	c.peerSynAck = ev
	c.peerWindow = t.Window
	c.PeerISN, c.RcvNxt = t.Seq, t.Seq.Add(1)
	c.SndUna = t.Ack
	c.PeerMSS, _ = t.MSS()
	if ws, ok := t.WindowScale(); ok {
		c.PeerWScale = int8(ws)
	} else {
		c.ourWScale = -1 // not negotiated: neither side scales
	}
	c.sackOK = t.SACKPermitted()
	if v, _, ok := t.Timestamps(); ok {
		for _, o := range c.cfg.SYNOptions {
			if o.Kind == craft.OptTimestamps {
				c.tsOK, c.tsRecent = true, v
			}
		}
	}
	c.setState(rulebook.EvRecvSYNACK)
}
