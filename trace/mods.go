package trace

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/tcpprobe/tcpprobe/craft"
)

// Mod is one header field that differs between the probe we sent and the
// copy of it a router quoted in its ICMP error: a middlebox on the path
// before that router changed it.
type Mod struct {
	Field string `json:"field"` // "ip.dscp", "ip.ecn", "ip.id", "ip.df", "ip.len", "ip.src", "ip.dst", "ip6.flow", "tcp.sport", ..., "tcp.opt.mss", "tcp.opts.layout"
	Sent  string `json:"sent"`  // "" when the field was added
	Seen  string `json:"seen"`  // "" when the field was removed
}

// String is the short form of the trace output: "mss 1460->1200",
// "removed wscale", "added opt-30".
func (m Mod) String() string {
	name := m.Field
	for _, p := range []string{"tcp.opt.", "tcp.", "ip6.", "ip."} {
		if len(name) > len(p) && name[:len(p)] == p {
			name = name[len(p):]
			break
		}
	}
	switch {
	case m.Sent == "":
		return "added " + name
	case m.Seen == "":
		return "removed " + name
	}
	return name + " " + m.Sent + "->" + m.Seen
}

// Diff compares the IP datagram we sent with a router's quote of it. The
// fields routers change on every packet (TTL, hop limit, checksums) are
// left out. partial says the quote stopped inside the TCP header (RFC
// 792's minimum is 8 bytes: ports and sequence number only); what was not
// quoted is not compared. Both must be IPv4 or IPv6 with TCP and no IPv6
// extension headers, as our probes are; anything else compares nothing.
func Diff(sent, quoted []byte) (mods []Mod, partial bool) {
	if len(sent) < 1 || len(quoted) < 1 || sent[0]>>4 != quoted[0]>>4 {
		return nil, true
	}
	add := func(field string, a, b any) {
		sa, sb := fmt.Sprint(a), fmt.Sprint(b)
		if sa != sb {
			mods = append(mods, Mod{Field: field, Sent: sa, Seen: sb})
		}
	}
	var st, qt []byte // the TCP headers
	switch sent[0] >> 4 {
	case 4:
		if len(sent) < 20 || len(quoted) < 20 {
			return nil, true
		}
		sh, qh := int(sent[0]&0x0f)*4, int(quoted[0]&0x0f)*4
		if len(sent) < sh || len(quoted) < qh || sh < 20 || qh < 20 {
			return nil, true
		}
		add("ip.dscp", sent[1]>>2, quoted[1]>>2)
		add("ip.ecn", ecnName(sent[1]&3), ecnName(quoted[1]&3))
		add("ip.id", binary.BigEndian.Uint16(sent[4:]), binary.BigEndian.Uint16(quoted[4:]))
		add("ip.df", sent[6]&0x40 != 0, quoted[6]&0x40 != 0)
		add("ip.len", binary.BigEndian.Uint16(sent[2:]), binary.BigEndian.Uint16(quoted[2:]))
		add("ip.src", addr(sent[12:16]), addr(quoted[12:16]))
		add("ip.dst", addr(sent[16:20]), addr(quoted[16:20]))
		st, qt = sent[sh:], quoted[qh:]
	case 6:
		if len(sent) < 40 || len(quoted) < 40 {
			return nil, true
		}
		tc := func(b []byte) byte { return b[0]<<4 | b[1]>>4 }
		add("ip.dscp", tc(sent)>>2, tc(quoted)>>2)
		add("ip.ecn", ecnName(tc(sent)&3), ecnName(tc(quoted)&3))
		flow := func(b []byte) uint32 { return binary.BigEndian.Uint32(b) & 0xfffff }
		add("ip6.flow", flow(sent), flow(quoted))
		add("ip.len", binary.BigEndian.Uint16(sent[4:]), binary.BigEndian.Uint16(quoted[4:]))
		add("ip.src", addr(sent[8:24]), addr(quoted[8:24]))
		add("ip.dst", addr(sent[24:40]), addr(quoted[24:40]))
		st, qt = sent[40:], quoted[40:]
	default:
		return nil, true
	}
	if len(st) < 20 || len(qt) < 8 {
		return mods, true
	}
	add("tcp.sport", binary.BigEndian.Uint16(st), binary.BigEndian.Uint16(qt))
	add("tcp.dport", binary.BigEndian.Uint16(st[2:]), binary.BigEndian.Uint16(qt[2:]))
	add("tcp.seq", binary.BigEndian.Uint32(st[4:]), binary.BigEndian.Uint32(qt[4:]))
	if len(qt) < 20 {
		return mods, true
	}
	add("tcp.ack", binary.BigEndian.Uint32(st[8:]), binary.BigEndian.Uint32(qt[8:]))
	add("tcp.off", st[12]>>4, qt[12]>>4)
	add("tcp.flags", uint16(st[12]&1)<<8|uint16(st[13]), uint16(qt[12]&1)<<8|uint16(qt[13]))
	add("tcp.win", binary.BigEndian.Uint16(st[14:]), binary.BigEndian.Uint16(qt[14:]))
	add("tcp.urg", binary.BigEndian.Uint16(st[18:]), binary.BigEndian.Uint16(qt[18:]))
	so, qo := int(st[12]>>4)*4, int(qt[12]>>4)*4
	if so < 20 || qo < 20 || len(st) < so {
		return mods, partial
	}
	if len(qt) < qo {
		qo, partial = len(qt), true // the options were cut: compare what is whole
	}
	sopts, qopts := options(st[20:so]), options(qt[20:qo])
	for _, s := range sopts {
		q, ok := findOpt(qopts, s.kind)
		switch {
		case !ok && !partial:
			mods = append(mods, Mod{Field: "tcp.opt." + optName(s.kind), Sent: optValue(s), Seen: ""})
		case ok:
			add("tcp.opt."+optName(s.kind), optValue(s), optValue(q))
		}
	}
	for _, q := range qopts {
		if _, ok := findOpt(sopts, q.kind); !ok {
			mods = append(mods, Mod{Field: "tcp.opt." + optName(q.kind), Sent: "", Seen: optValue(q)})
		}
	}
	if !partial && !bytes.Equal(st[20:so], qt[20:qo]) && len(mods) == 0 {
		mods = append(mods, Mod{Field: "tcp.opts.layout", Sent: fmt.Sprintf("%x", st[20:so]), Seen: fmt.Sprintf("%x", qt[20:qo])})
	}
	return mods, partial
}

func addr(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a
}

func ecnName(e byte) string {
	return [...]string{"not-ect", "ect1", "ect0", "ce"}[e&3]
}

type opt struct {
	kind byte
	data []byte
}

// options lists the options other than NOP and EOL, stopping at a
// malformed one.
func options(b []byte) []opt {
	var out []opt
	for i := 0; i < len(b); {
		switch b[i] {
		case 0:
			return out
		case 1:
			i++
			continue
		}
		if i+1 >= len(b) || b[i+1] < 2 || i+int(b[i+1]) > len(b) {
			return out
		}
		out = append(out, opt{b[i], b[i+2 : i+int(b[i+1])]})
		i += int(b[i+1])
	}
	return out
}

func findOpt(os []opt, k byte) (opt, bool) {
	i := slices.IndexFunc(os, func(o opt) bool { return o.kind == k })
	if i < 0 {
		return opt{}, false
	}
	return os[i], true
}

func optName(k byte) string {
	switch k {
	case 2:
		return "mss"
	case 3:
		return "wscale"
	case 4:
		return "sackok"
	case 5:
		return "sack"
	case 8:
		return "ts"
	case 34:
		return "tfo"
	}
	return fmt.Sprintf("opt-%d", k)
}

func optValue(o opt) string {
	switch {
	case o.kind == 2 && len(o.data) == 2:
		return fmt.Sprint(binary.BigEndian.Uint16(o.data))
	case o.kind == 3 && len(o.data) == 1:
		return fmt.Sprint(o.data[0])
	case o.kind == 8 && len(o.data) == 8:
		return fmt.Sprintf("%d/%d", binary.BigEndian.Uint32(o.data), binary.BigEndian.Uint32(o.data[4:]))
	case len(o.data) == 0:
		return "on"
	}
	return fmt.Sprintf("%x", o.data)
}

// AfterQuote compares the options of a SYN as last quoted (an IP datagram,
// or the probe itself when no router quoted it) with the SYN-ACK that
// answered: SACK-permitted, timestamps or window scale that the quote
// still carried and the SYN-ACK lacks, and an MSS below the quoted one.
// Either a middlebox after the last quoting hop changed the SYN (or the
// SYN-ACK), or the server chose so: the report says both.
func AfterQuote(quote []byte, synack *craft.TCP) []Mod {
	if len(quote) < 1 {
		return nil
	}
	off := int(quote[0]&0x0f) * 4
	if quote[0]>>4 == 6 {
		off = craft.IPv6HeaderSize
	}
	if len(quote) < off {
		return nil
	}
	var q craft.TCP
	if _, err := q.Decode(quote[off:]); err != nil {
		return nil
	}
	var mods []Mod
	for _, o := range []struct {
		field string
		has   func(t *craft.TCP) bool
	}{
		{"tcp.opt.sackok", func(t *craft.TCP) bool { return t.SACKPermitted() }},
		{"tcp.opt.ts", func(t *craft.TCP) bool { _, _, ok := t.Timestamps(); return ok }},
		{"tcp.opt.wscale", func(t *craft.TCP) bool { _, ok := t.WindowScale(); return ok }},
	} {
		if o.has(&q) && !o.has(synack) {
			mods = append(mods, Mod{Field: o.field, Sent: "present"})
		}
	}
	if qm, ok := q.MSS(); ok {
		if sm, ok := synack.MSS(); ok && sm < qm {
			mods = append(mods, Mod{Field: "tcp.opt.mss", Sent: fmt.Sprint(qm), Seen: fmt.Sprint(sm)})
		}
	}
	return mods
}
