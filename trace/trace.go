// Package trace is the workload behind `tcpprobe trace`: a TCP SYN
// traceroute (tcptraceroute style). SYNs with TTL (hop limit) 1, 2, ...
// are answered by routers with ICMP time exceeded, quoting our header, and
// by the target with SYN-ACK or RST.
package trace

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/internal/rtt"
	"github.com/tcpprobe/tcpprobe/wire"
)

// Config describes a TCP SYN traceroute.
type Config struct {
	Target  netip.AddrPort
	MaxHops int           // default 30
	Probes  int           // per hop, default 3
	Wait    time.Duration // per hop, default 1s
	SrcPort uint16
	// Mods compares every router's quote with the probe as it left, field
	// by field (Diff). The probes then carry something to rewrite: Linux's
	// SYN options (MSS 1460, SACK-permitted, timestamps, window scale 7),
	// DSCP AF11 and ECT(0).
	Mods bool
	// Options replace the probes' TCP options (nil: the default for Mods,
	// or MSS 1460 alone); TOS their TOS / traffic class byte (DSCP and ECN;
	// HasTOS set); ECN makes each probe an ECN-setup SYN (ECE and CWR,
	// RFC 3168 6.1.1).
	Options []craft.Option
	TOS     uint8
	HasTOS  bool
	ECN     bool
	// Write is a pcap file for every probe and every answer captured.
	Write string
}

// HopProbe is one probe's answer at a hop.
type HopProbe struct {
	From  string  `json:"from,omitempty"`
	RTTms float64 `json:"rtt_ms,omitempty"`
	What  string  `json:"what"` // "time-exceeded", "syn-ack", "rst", an ICMP description, or "timeout"
	// Mods are the fields the quote shows changed (with Config.Mods);
	// Partial says the router quoted only part of the TCP header.
	Mods    []Mod `json:"mods,omitempty"`
	Partial bool  `json:"partial,omitempty"`
	// AfterLastQuote compares a SYN-ACK with the last router's quote (or,
	// with no router on the path, with the probe): options the quote still
	// carried that the SYN-ACK lacks, an MSS below the quoted one. A
	// middlebox after the last quoting hop, or the server's own choice.
	AfterLastQuote []Mod `json:"after_last_quote,omitempty"`
}

// Hop is one TTL's answers.
type Hop struct {
	TTL    int        `json:"ttl"`
	Probes []HopProbe `json:"probes"`
	Final  bool       `json:"final,omitempty"` // the target answered
}

// Run sends SYNs with TTL (hop limit) 1, 2, ... and records who answers
// each: routers with ICMP time exceeded, the target with SYN-ACK or RST.
func Run(ctx context.Context, cfg Config) ([]Hop, error) {
	if cfg.MaxHops <= 0 {
		cfg.MaxHops = 30
	}
	if cfg.Probes <= 0 {
		cfg.Probes = 3
	}
	if cfg.Wait <= 0 {
		cfg.Wait = time.Second
	}
	dst := cfg.Target.Addr()
	// One source port per probe of a hop, as traceroute varies its ports:
	// a second SYN on a 4-tuple the target holds half-open would be
	// answered differently from the first.
	filter := capture.TraceFilter
	if cfg.Mods || cfg.Write != "" {
		filter = capture.TraceModsFilter // our probes too
	}
	m, err := wire.OpenMany(wire.ManyConfig{Dst: dst, Ports: cfg.Probes, SrcPort: cfg.SrcPort, GuardTo: cfg.Target, Immediate: true,
		Filter: func(src netip.Addr, ports []uint16) string { return filter(src, ports, cfg.Target) }})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	locals, live, sender := m.Locals, m.Live, m.Sender
	local := locals[0]

	base := craft.Seq(rand.Uint32())
	seqOf := func(ttl, probe int) craft.Seq { return base + craft.Seq(ttl*16+probe) }
	var hops []Hop
	var buf [128]byte
	opts := []craft.Option{craft.MSSOption(1460)}
	var tos uint8
	if cfg.Mods {
		opts = []craft.Option{craft.MSSOption(1460), craft.SACKPermittedOption(), craft.TimestampsOption(rand.Uint32(), 0), craft.NOPOption(), craft.WindowScaleOption(7)}
		tos = 10<<2 | 2 // DSCP AF11, ECT(0)
	}
	if cfg.Options != nil {
		opts = cfg.Options
	}
	if cfg.HasTOS {
		tos = cfg.TOS
	}
	flags := craft.SYN
	if cfg.ECN {
		flags |= craft.ECE | craft.CWR
	}
	var lastQuote []byte             // the latest router quote, for the SYN-ACK's comparison
	asSent := map[craft.Seq][]byte{} // each probe as it left, from the capture
	var frames []capture.Frame       // for cfg.Write
	for ttl := 1; ttl <= cfg.MaxHops && ctx.Err() == nil; ttl++ {
		hop := Hop{TTL: ttl, Probes: make([]HopProbe, cfg.Probes)}
		sent := make([]time.Time, cfg.Probes)
		for p := 0; p < cfg.Probes; p++ {
			hop.Probes[p].What = "timeout"
			seg := craft.Segment{Src: local.Addr(), Dst: dst, TTL: uint8(ttl), TOS: tos, ID: uint16(seqOf(ttl, p)) | 1,
				TCP: craft.TCP{SrcPort: locals[p].Port(), DstPort: cfg.Target.Port(), Seq: seqOf(ttl, p), Flags: flags, Window: 1024,
					Options: opts}}
			n, err := seg.Encode(buf[:])
			if err != nil {
				return hops, err
			}
			sent[p] = time.Now()
			if err := sender.Send(buf[:n], dst); err != nil {
				return hops, err
			}
		}
		answered := 0
		deadline := time.Now().Add(cfg.Wait)
		var pkt craft.Packet
		for answered < cfg.Probes {
			wctx, cancel := context.WithDeadline(ctx, deadline)
			f, err := live.Next(wctx)
			cancel()
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
					break
				}
				return hops, err
			}
			if cfg.Write != "" {
				frames = append(frames, capture.Frame{Time: f.Time, Data: slices.Clone(f.Data), Length: f.Length, LinkType: f.LinkType})
			}
			off, err := craft.IPOffset(f.LinkType, f.Data)
			if err != nil || pkt.Decode(f.Data[off:]) != nil {
				continue
			}
			var seq craft.Seq
			var hp HopProbe
			switch {
			case pkt.HasTCP && pkt.Src() == local.Addr() && pkt.Dst() == dst && pkt.TCP.Flags == flags:
				if cfg.Mods {
					asSent[pkt.TCP.Seq] = slices.Clone(f.Data[off:])
				}
				continue // one of our probes
			case pkt.HasICMP && pkt.ICMP.Quote.Valid && pkt.ICMP.Quote.Dst == dst:
				// Matched by sequence number, not by the quoted ports: a NAT
				// on the path rewrites those.
				seq = pkt.ICMP.Quote.Seq
				hp.What = pkt.ICMP.Describe()
				if cfg.Mods {
					if sent, ok := asSent[seq]; ok {
						hp.Mods, hp.Partial = Diff(sent, pkt.ICMP.Body)
						if !hp.Partial {
							lastQuote = slices.Clone(pkt.ICMP.Body)
						}
					}
				}
				if (!pkt.ICMP.V6 && pkt.ICMP.Type == craft.ICMPv4TimeExceeded) || (pkt.ICMP.V6 && pkt.ICMP.Type == craft.ICMPv6TimeExceeded) {
					hp.What = "time-exceeded"
				} else {
					hop.Final = true
				}
			case pkt.HasTCP && pkt.TCP.Flags&craft.ACK != 0:
				seq = pkt.TCP.Ack - 1
				hop.Final = true
				hp.What = "rst"
				if pkt.TCP.Flags&craft.SYN != 0 {
					hp.What = "syn-ack"
					if cfg.Mods {
						before := lastQuote
						if before == nil {
							before = asSent[pkt.TCP.Ack-1]
						}
						hp.AfterLastQuote = AfterQuote(before, &pkt.TCP)
					}
					// Reset the half-open connection ourselves.
					r := craft.Segment{Src: local.Addr(), Dst: dst, TTL: 64, TCP: craft.TCP{SrcPort: pkt.TCP.DstPort, DstPort: cfg.Target.Port(), Seq: pkt.TCP.Ack, Flags: craft.RST}}
					if n, err := r.Encode(buf[:]); err == nil {
						sender.Send(buf[:n], dst)
					}
				}
			default:
				continue
			}
			d := int(seq - seqOf(ttl, 0))
			if d < 0 || d >= cfg.Probes {
				continue // an answer to an earlier hop's probe
			}
			hp.From = pkt.Src().String()
			hp.RTTms = rtt.Ms(f.Time.Sub(sent[d]))
			if hop.Probes[d].What == "timeout" {
				hop.Probes[d] = hp
				answered++
			}
		}
		hops = append(hops, hop)
		if hop.Final {
			break
		}
	}
	if cfg.Write != "" && len(frames) > 0 {
		if err := capture.WriteFile(cfg.Write, frames[0].LinkType, frames); err != nil {
			return hops, err
		}
	}
	return hops, ctx.Err()
}
