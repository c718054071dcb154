package scan

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/guard"
	"github.com/tcpprobe/tcpprobe/inject"
	"github.com/tcpprobe/tcpprobe/wire"
)

// TraceConfig describes a TCP SYN traceroute.
type TraceConfig struct {
	Target  netip.AddrPort
	MaxHops int           // default 30
	Probes  int           // per hop, default 3
	Wait    time.Duration // per hop, default 1s
	SrcPort uint16
}

// HopProbe is one probe's answer at a hop.
type HopProbe struct {
	From  string  `json:"from,omitempty"`
	RTTms float64 `json:"rtt_ms,omitempty"`
	What  string  `json:"what"` // "time-exceeded", "syn-ack", "rst", an ICMP description, or "timeout"
}

// Hop is one TTL's answers.
type Hop struct {
	TTL    int        `json:"ttl"`
	Probes []HopProbe `json:"probes"`
	Final  bool       `json:"final,omitempty"` // the target answered
}

// Trace sends SYNs with TTL (hop limit) 1, 2, ... and records who answers
// each: routers with ICMP time exceeded, the target with SYN-ACK or RST.
func Trace(ctx context.Context, cfg TraceConfig) ([]Hop, error) {
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
	rt, err := inject.RouteTo(dst)
	if err != nil {
		return nil, err
	}
	if err := wire.CheckLabOnly(rt); err != nil {
		return nil, err
	}
	// One source port per probe of a hop, as traceroute varies its ports:
	// a second SYN on a 4-tuple the target holds half-open would be
	// answered differently from the first.
	g, err := guard.New()
	if err != nil {
		return nil, err
	}
	defer g.Close()
	locals := make([]netip.AddrPort, cfg.Probes)
	portFilter := ""
	for p := range locals {
		want := uint16(0)
		if cfg.SrcPort != 0 {
			want = cfg.SrcPort + uint16(p)
		}
		res, err := inject.ReservePort(rt.Src, want)
		if err != nil {
			return nil, err
		}
		defer res.Close()
		locals[p] = netip.AddrPortFrom(rt.Src, res.Port)
		if err := g.DropRST(locals[p], cfg.Target); err != nil {
			return nil, err
		}
		if p > 0 {
			portFilter += " or "
		}
		portFilter += fmt.Sprintf("dst port %d", res.Port)
	}
	local := locals[0]
	filter := fmt.Sprintf("(tcp and src host %s and src port %d and (%s)) or (icmp and dst host %s) or (icmp6 and dst host %[4]s)",
		dst, cfg.Target.Port(), portFilter, local.Addr())
	live, err := capture.OpenLive(rt.Iface, filter)
	if err != nil {
		return nil, err
	}
	defer live.Close()
	sender, err := inject.NewSender(dst.Is6())
	if err != nil {
		return nil, err
	}
	defer sender.Close()

	base := craft.Seq(rand.Uint32())
	seqOf := func(ttl, probe int) craft.Seq { return base + craft.Seq(ttl*16+probe) }
	var hops []Hop
	var buf [128]byte
	for ttl := 1; ttl <= cfg.MaxHops && ctx.Err() == nil; ttl++ {
		hop := Hop{TTL: ttl, Probes: make([]HopProbe, cfg.Probes)}
		sent := make([]time.Time, cfg.Probes)
		for p := 0; p < cfg.Probes; p++ {
			hop.Probes[p].What = "timeout"
			seg := craft.Segment{Src: local.Addr(), Dst: dst, TTL: uint8(ttl),
				TCP: craft.TCP{SrcPort: locals[p].Port(), DstPort: cfg.Target.Port(), Seq: seqOf(ttl, p), Flags: craft.SYN, Window: 1024,
					Options: []craft.Option{craft.MSSOption(1460)}}}
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
			off, err := craft.IPOffset(f.LinkType, f.Data)
			if err != nil || pkt.Decode(f.Data[off:]) != nil {
				continue
			}
			var seq craft.Seq
			var hp HopProbe
			switch {
			case pkt.HasICMP && pkt.ICMP.Quote.Valid && ours(locals, pkt.ICMP.Quote.SrcPort) && pkt.ICMP.Quote.Dst == dst:
				seq = pkt.ICMP.Quote.Seq
				hp.What = pkt.ICMP.Describe()
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
					// Reset the half-open connection ourselves.
					r := craft.Segment{Src: local.Addr(), Dst: dst, TCP: craft.TCP{SrcPort: pkt.TCP.DstPort, DstPort: cfg.Target.Port(), Seq: pkt.TCP.Ack, Flags: craft.RST}}
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
			hp.RTTms = float64(f.Time.Sub(sent[d]).Microseconds()) / 1000
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
	return hops, ctx.Err()
}

func ours(locals []netip.AddrPort, port uint16) bool {
	for _, l := range locals {
		if l.Port() == port {
			return true
		}
	}
	return false
}
