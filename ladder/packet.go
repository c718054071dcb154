package ladder

import (
	"fmt"
	"strings"

	"github.com/tcpprobe/tcpprobe/craft"
)

// Packet is the JSON view of one captured TCP segment or ICMP error.
type Packet struct {
	Src     string   `json:"src"`
	Dst     string   `json:"dst"`
	TTL     uint8    `json:"ttl"`
	Flags   string   `json:"flags,omitempty"`
	Seq     uint32   `json:"seq"`
	Ack     uint32   `json:"ack"`
	Window  uint16   `json:"window"`
	Len     int      `json:"len"`
	Options []string `json:"options,omitempty"`
	ICMP    *ICMP    `json:"icmp,omitempty"`
	IPv6    bool     `json:"ipv6,omitempty"` // TTL is the hop limit, ICMP is ICMPv6
}

// ICMP is the JSON form of an ICMP error about a probe.
type ICMP struct {
	Type        uint8  `json:"type"`
	Code        uint8  `json:"code"`
	Description string `json:"description"`
	From        string `json:"from"`
	MTU         uint32 `json:"mtu,omitempty"`
}

// PacketOf describes a decoded packet.
func PacketOf(p *craft.Packet) Packet {
	s := Packet{Src: p.Src().String(), Dst: p.Dst().String(), TTL: p.TTL(), IPv6: p.Version == 6}
	if p.HasTCP {
		s.Src = joinHostPort(p.Src().String(), p.TCP.SrcPort)
		s.Dst = joinHostPort(p.Dst().String(), p.TCP.DstPort)
		s.Flags = p.TCP.Flags.String()
		s.Seq, s.Ack, s.Window, s.Len = uint32(p.TCP.Seq), uint32(p.TCP.Ack), p.TCP.Window, p.PayloadLen
		s.Options = Options(p.TCP.Options)
	}
	if p.HasICMP {
		s.ICMP = &ICMP{Type: p.ICMP.Type, Code: p.ICMP.Code, Description: p.ICMP.Describe(), From: p.Src().String(), MTU: p.ICMP.MTU()}
	}
	return s
}

// Options renders TCP options as tcpdump does, without trailing EOL padding.
func Options(opts []craft.Option) []string {
	var out []string
	for _, o := range opts {
		if o.Kind == craft.OptEOL {
			break
		}
		out = append(out, o.String())
	}
	return out
}

func joinHostPort(h string, p uint16) string {
	if strings.Contains(h, ":") {
		return fmt.Sprintf("[%s]:%d", h, p)
	}
	return fmt.Sprintf("%s:%d", h, p)
}

// Line renders a segment on one line:
// "SYN,ACK seq=1 ack=2 win=65160 ttl=64 len=0 opts=[mss 1460,sackOK]".
func (s Packet) Line() string {
	icmp, ttl := "ICMP", "ttl"
	if s.IPv6 {
		icmp, ttl = "ICMPv6", "hlim" // tcpdump's names
	}
	if s.ICMP != nil {
		return fmt.Sprintf("%s %s from %s (type %d code %d) %s=%d", icmp, s.ICMP.Description, s.ICMP.From, s.ICMP.Type, s.ICMP.Code, ttl, s.TTL)
	}
	l := fmt.Sprintf("%s seq=%d ack=%d win=%d %s=%d len=%d", s.Flags, s.Seq, s.Ack, s.Window, ttl, s.TTL, s.Len)
	if len(s.Options) > 0 {
		l += " opts=[" + strings.Join(s.Options, ",") + "]"
	}
	return l
}
