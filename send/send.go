// Package send is the workload behind `tcpprobe send`: one hand-made
// segment at a time (hping3/nping style) on a wire.Session, and the reply
// that answers it, matched by the RFC 9293 rules for what a reply
// acknowledges.
package send

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/internal/rtt"
	"github.com/tcpprobe/tcpprobe/ladder"
	"github.com/tcpprobe/tcpprobe/wire"
)

// Status says what answered a probe.
type Status string

// Statuses of a probe.
const (
	Reply   Status = "reply"
	ICMP    Status = "icmp"
	NoReply Status = "no_reply"
)

// Result is one probe's outcome, the JSON object printed per probe.
type Result struct {
	Probe  int            `json:"probe"`
	Target string         `json:"target"`
	Sent   ladder.Packet  `json:"sent"`
	Status Status         `json:"status"`
	Reply  *ladder.Packet `json:"reply,omitempty"`
	RTTMs  float64        `json:"rtt_ms,omitempty"`
	// KernelRST is set when our own kernel reset the flow (no guard).
	KernelRST bool `json:"kernel_rst,omitempty"`
	// Note explains a reply that does not acknowledge the probe itself,
	// such as a challenge ACK (RFC 5961) to a SYN on a half-open flow.
	Note string `json:"note,omitempty"`
	// RTT is the round trip from the kernel's timestamps of the probe and
	// the reply (0 without a reply).
	RTT time.Duration `json:"-"`
}

// Answers reports whether the inbound packet p answers the probe seg, by
// the RFC 9293 rules for what a reply acknowledges: an ACK of what the
// probe consumed, a RST with seq = our ack (probe with ACK) or ack = our
// seq + consumed (probe without), any segment acking our seq space, or an
// ICMP error quoting the probe's sequence number.
func Answers(p *craft.Packet, seg *craft.Segment) bool {
	if p.HasICMP {
		return p.ICMP.Quote.Seq == seg.TCP.Seq
	}
	next := seg.TCP.Seq.Add(craft.SeqLen(seg.TCP.Flags, len(seg.Payload)))
	t := &p.TCP
	if t.Flags&craft.RST != 0 && t.Flags&craft.ACK == 0 {
		return seg.TCP.Flags&craft.ACK != 0 && t.Seq == seg.TCP.Ack
	}
	if t.Flags&craft.ACK != 0 {
		return t.Ack.InWindow(seg.TCP.Seq, uint32(next-seg.TCP.Seq)+1)
	}
	return t.Flags&craft.SYN != 0 // a bare SYN: simultaneous open
}

// isChallengeACK reports a bare ACK without data: what a peer sends for a
// segment it will not accept on a flow it holds (RFC 5961 section 4).
func isChallengeACK(p *craft.Packet) bool {
	return p.HasTCP && p.TCP.Flags&^(craft.PSH|craft.ECE|craft.CWR) == craft.ACK && p.PayloadLen == 0
}

// One sends seg as probe number n on sess and waits up to timeout for the
// packet that answers it. Running out of time is not an error: the result
// says no_reply.
func One(ctx context.Context, sess *wire.Session, seg craft.Segment, n int, timeout time.Duration) (Result, error) {
	sentAt := time.Now()
	if err := sess.Send(&seg); err != nil {
		return Result{}, err
	}
	res := Result{Probe: n, Target: sess.Remote.String(), Status: NoReply}
	var b [craft.MaxPacket]byte
	if l, err := seg.Encode(b[:]); err == nil {
		var p craft.Packet
		if p.Decode(b[:l]) == nil {
			res.Sent = ladder.PacketOf(&p)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ev, err := sess.Next(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return res, nil
			}
			return res, err
		}
		if ev.Dir == wire.Out {
			if ev.Pkt.HasTCP && ev.Pkt.TCP.Seq == seg.TCP.Seq && ev.Pkt.TCP.Flags == seg.TCP.Flags {
				sentAt = ev.Time // the kernel's timestamp of our probe
			} else if ev.Pkt.HasTCP && ev.Pkt.TCP.Flags&craft.RST != 0 && res.Reply != nil {
				res.KernelRST = true
			}
			if res.Reply != nil && res.KernelRST {
				return res, nil
			}
			continue
		}
		if res.Reply != nil {
			continue
		}
		if !Answers(&ev.Pkt, &seg) {
			if !isChallengeACK(&ev.Pkt) {
				continue
			}
			res.Note = fmt.Sprintf("acknowledges %d, not this probe: a challenge ACK (RFC 5961) from a peer that holds an earlier state of this flow", ev.Pkt.TCP.Ack)
		}
		reply := ladder.PacketOf(&ev.Pkt)
		res.Reply = &reply
		res.Status = Reply
		if ev.Pkt.HasICMP {
			res.Status = ICMP
		}
		res.RTT = ev.Time.Sub(sentAt)
		res.RTTMs = rtt.Ms(res.RTT)
		// Linger briefly to see whether our kernel resets the flow.
		if ev.Pkt.HasTCP && ev.Pkt.TCP.Flags.Has(craft.SYN|craft.ACK) {
			res.KernelRST = kernelResets(ctx, sess)
		}
		return res, nil
	}
}

// kernelResets watches the flow for 30 ms for a RST of our own kernel.
func kernelResets(ctx context.Context, sess *wire.Session) bool {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	for {
		ev, err := sess.Next(ctx)
		if err != nil {
			return false
		}
		if ev.Dir == wire.Out && ev.Pkt.HasTCP && ev.Pkt.TCP.Flags&craft.RST != 0 {
			return true
		}
	}
}
