package scan

import (
	"context"
	"time"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
)

// receive matches captured replies to probes by their cookie.
func (s *Scanner) receive(ctx context.Context, live *capture.Live) {
	var p craft.Packet
	var rst [craft.IPv6HeaderSize + craft.TCPMinHeader]byte
	for {
		f, err := live.Next(ctx)
		if err != nil {
			return
		}
		if s.cfg.Write != "" {
			s.mu.Lock()
			s.frames = append(s.frames, f)
			s.mu.Unlock()
		}
		off, err := craft.IPOffset(f.LinkType, f.Data)
		if err != nil || p.Decode(f.Data[off:]) != nil {
			continue
		}
		var k probeKey
		var a Answer
		switch {
		case p.HasTCP && p.TCP.SrcPort == s.sport && p.Src() == s.src:
			continue // one of our probes (captured for --write)
		case p.HasTCP && p.TCP.DstPort == s.sport:
			k = probeKey{p.Src(), p.TCP.SrcPort}
			a = Answer{Flags: p.TCP.Flags, Window: p.TCP.Window}
		case p.HasICMP && p.ICMP.Quote.Valid && p.ICMP.Quote.SrcPort == s.sport && p.ICMP.Quote.Src == s.src:
			k = probeKey{p.ICMP.Quote.Dst, p.ICMP.Quote.DstPort}
			a = Answer{ICMP: true, ICMPType: p.ICMP.Type, ICMPCode: p.ICMP.Code, V6: p.ICMP.V6}
		default:
			continue
		}
		s.mu.Lock()
		var st *probeState
		if i, ok := s.find(k); ok {
			st = &s.states[i]
		}
		valid := st != nil && s.valid(&p, k)
		switch {
		case !valid:
			s.st.Ignored++
		case st.answered:
			s.st.Duplicates++
		default:
			st.answered, st.answer, st.ttl = true, a, p.TTL()
			s.answered++
			if st.sentAt > 0 {
				st.rtt = time.Duration(f.Time.UnixNano() - st.sentAt)
				if st.sends == 1 {
					s.rtt.Sample(st.rtt) // Karn: not from a probe sent again
				}
			}
			s.pending--
			s.lastReply = time.Now()
		}
		s.mu.Unlock()
		// Leave no half-open connection: reset an answering SYN-ACK
		// ourselves, with the sequence number it expects.
		if valid && a.Flags.Has(craft.SYN|craft.ACK) && s.rsts != nil {
			seg := craft.Segment{Src: s.src, Dst: k.dst, TTL: s.cfg.TTL,
				TCP: craft.TCP{SrcPort: s.sport, DstPort: k.port, Seq: p.TCP.Ack, Flags: craft.RST}}
			if n, err := seg.Encode(rst[:]); err == nil {
				s.rsts.Send(rst[:n], k.dst)
			}
		}
	}
}
