package analyze

import (
	"strings"
	"sync"
	"time"

	"github.com/tcpprobe/tcpprobe/internal/rtt"
	"github.com/tcpprobe/tcpprobe/ladder"
	"github.com/tcpprobe/tcpprobe/rulebook"
)

// Conn is the analysis of one connection.
type Conn struct {
	UID         string             `json:"uid"`
	File        string             `json:"file,omitempty"` // the capture file (ReadFiles without Merge)
	Start       time.Time          `json:"ts"`
	DurationS   float64            `json:"duration"`
	Orig        string             `json:"orig"`
	Resp        string             `json:"resp"`
	OrigPkts    int64              `json:"orig_pkts"`
	RespPkts    int64              `json:"resp_pkts"`
	OrigBytes   int64              `json:"orig_bytes"`
	RespBytes   int64              `json:"resp_bytes"`
	OrigIPBytes int64              `json:"orig_ip_bytes"`
	RespIPBytes int64              `json:"resp_ip_bytes"`
	MissedBytes int64              `json:"missed_bytes"`
	FirstPacket int64              `json:"first_packet"`
	LastPacket  int64              `json:"last_packet"`
	Handshake   string             `json:"handshake"`
	SynRTTms    float64            `json:"syn_synack_ms,omitempty"`
	AckRTTms    float64            `json:"synack_ack_ms,omitempty"`
	Close       string             `json:"close"`
	CloseBy     string             `json:"close_by,omitempty"`
	OrigStates  []string           `json:"orig_states"`
	RespStates  []string           `json:"resp_states"`
	Violations  []rulebook.Verdict `json:"violations,omitempty"`
	Anomalies   Counts             `json:"anomalies"`
	ConnState   string             `json:"conn_state"`
	History     string             `json:"history"`
	Complete    int                `json:"completeness"`
	PortReuse   bool               `json:"port_reuse,omitempty"`
	Tunnel      string             `json:"tunnel,omitempty"` // the encapsulations around its packets: "gre", "mpls,vxlan"
	Evicted     bool               `json:"evicted,omitempty"`
	Ladder      []ladder.Row       `json:"ladder,omitempty"`
	OrigAddr    [2]string          `json:"-"`
	fileIdx     int
	RespAddr    [2]string `json:"-"`
}

// Handshake outcomes.
const (
	HSComplete   = "complete"     // SYN, SYN-ACK, ACK
	HSRefused    = "refused"      // SYN answered by RST
	HSNoAnswer   = "no-answer"    // SYN only
	HSNoACK      = "no-ack"       // SYN, SYN-ACK, no third ACK
	HSSynAckOnly = "syn-ack-only" // the SYN was not captured
	HSMidStream  = "mid-stream"   // no SYN seen
)

func (c *conn) handshakeOutcome() string {
	switch {
	case c.complete&(compSYN|compSYNACK|compACK) == compSYN|compSYNACK|compACK:
		return HSComplete
	case c.complete&compSYN != 0 && c.complete&compSYNACK == 0 && c.complete&compRST != 0:
		return HSRefused
	case c.complete&compSYN != 0 && c.complete&compSYNACK == 0:
		return HSNoAnswer
	case c.complete&(compSYN|compSYNACK) == compSYN|compSYNACK:
		return HSNoACK
	case c.complete&compSYNACK != 0:
		return HSSynAckOnly
	}
	return HSMidStream
}

// conns recycles results handed back with Release.
var conns = sync.Pool{New: func() any { return new(Conn) }}

// Release hands a connection's result back after emit is done with it,
// for reuse: the caller must not touch c afterwards. Optional; it saves
// memory on large captures.
func Release(c *Conn) {
	if c == nil || c.Ladder != nil {
		return
	}
	orig, resp, viol := c.OrigStates[:0], c.RespStates[:0], c.Violations[:0]
	*c = Conn{OrigStates: orig, RespStates: resp, Violations: viol}
	conns.Put(c)
}

// splitAddrPort splits "addr:port" or "[addr]:port" without copying.
func splitAddrPort(s string) [2]string {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return [2]string{s, ""}
	}
	host := s[:i]
	if len(host) >= 2 && host[0] == '[' {
		host = host[1 : len(host)-1]
	}
	return [2]string{host, s[i+1:]}
}

func (c *conn) result() *Conn {
	r := conns.Get().(*Conn)
	orig, resp := c.orig.String(), c.resp.String()
	*r = Conn{
		UID:         uid(c.first, orig, resp),
		fileIdx:     c.file,
		Start:       time.Unix(0, c.first).UTC(),
		DurationS:   float64(c.last-c.first) / 1e9,
		Orig:        orig,
		Resp:        resp,
		OrigPkts:    c.pkts[0],
		RespPkts:    c.pkts[1],
		OrigBytes:   c.bytes[0],
		RespBytes:   c.bytes[1],
		OrigIPBytes: c.ipBytes[0],
		RespIPBytes: c.ipBytes[1],
		MissedBytes: c.z.missed,
		FirstPacket: c.firstNum,
		LastPacket:  c.lastNum,
		Handshake:   c.handshakeOutcome(),
		Anomalies:   c.counts,
		ConnState:   c.zeekConnState(),
		History:     string(c.z.hist[:c.z.nhist]),
		Complete:    int(c.complete),
		PortReuse:   c.reused,
		Tunnel:      c.enc.String(),
		Evicted:     c.evicted,
		OrigAddr:    splitAddrPort(orig),
		RespAddr:    splitAddrPort(resp),
		OrigStates:  r.OrigStates[:0],
		RespStates:  r.RespStates[:0],
		Violations:  r.Violations[:0],
	}
	if c.synTime != 0 && c.synAckTime > c.synTime {
		r.SynRTTms = rtt.Ms(time.Duration(c.synAckTime - c.synTime))
	}
	if c.synAckTime != 0 && c.ackTime > c.synAckTime {
		r.AckRTTms = rtt.Ms(time.Duration(c.ackTime - c.synAckTime))
	}
	form, by := c.tr.CloseForm()
	r.Close = form.String()
	if form != rulebook.CloseNone {
		r.CloseBy = "orig"
		if by == rulebook.Server {
			r.CloseBy = "resp"
		}
	}
	init := [2]rulebook.State{rulebook.Closed, rulebook.Closed}
	if c.handshakeOutcome() == HSMidStream {
		init = [2]rulebook.State{rulebook.Established, rulebook.Established}
	}
	if r.OrigStates == nil {
		r.OrigStates, r.RespStates = make([]string, 0, 8), make([]string, 0, 8)
	}
	r.OrigStates = append(r.OrigStates, init[0].String())
	r.RespStates = append(r.RespStates, init[1].String())
	for _, t := range c.tr.Trans {
		if t.Role == rulebook.Client {
			r.OrigStates = append(r.OrigStates, t.To.String())
		} else {
			r.RespStates = append(r.RespStates, t.To.String())
		}
	}
	for i := range rulebook.NumRules {
		v := c.tr.Verdict(rulebook.RuleID(i))
		if v.Result == rulebook.Fail {
			r.Violations = append(r.Violations, *v)
		}
	}
	if len(r.Violations) == 0 {
		r.Violations = nil // omitted from JSON
	}
	if c.stream {
		r.Ladder = c.ladder()
	}
	if c.zflip {
		// Zeek swapped the roles after the connection began: present the
		// connection as Zeek does.
		r.Orig, r.Resp = r.Resp, r.Orig
		r.OrigAddr, r.RespAddr = r.RespAddr, r.OrigAddr
		r.OrigPkts, r.RespPkts = r.RespPkts, r.OrigPkts
		r.OrigBytes, r.RespBytes = r.RespBytes, r.OrigBytes
		r.OrigIPBytes, r.RespIPBytes = r.RespIPBytes, r.OrigIPBytes
		r.OrigStates, r.RespStates = r.RespStates, r.OrigStates
		switch r.CloseBy {
		case "orig":
			r.CloseBy = "resp"
		case "resp":
			r.CloseBy = "orig"
		}
		r.UID = uid(c.first, r.Orig, r.Resp)
	}
	return r
}

// ladder draws the recorded segments (--stream), with the originator on
// the left.
func (c *conn) ladder() []ladder.Row {
	var b ladder.Builder
	orig, resp := c.orig.String(), c.resp.String()
	for i := range c.tr.Segs {
		s := &c.tr.Segs[i]
		src, dst := orig, resp
		if s.From == rulebook.Server {
			src, dst = resp, orig
		}
		b.Segment(s, &c.tr.Side, ladder.PacketOfSeg(s, src, dst), nil)
	}
	return b.Rows
}

// uidNow is the uid the connection has so far (for per-packet output).
func (c *conn) uidNow() string {
	if c.uid == "" {
		c.uid = uid(c.first, c.orig.String(), c.resp.String())
	}
	return c.uid
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// uid is a Zeek-style connection identifier: "C" and 17 base-62 digits
// from a hash (FNV-1a) of the start time and both endpoints.
func uid(first int64, orig, resp string) string {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := 7; i >= 0; i-- {
		h = (h ^ uint64(byte(first>>(8*i)))) * prime
	}
	for _, s := range [2]string{orig, resp} {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * prime
		}
	}
	var out [18]byte
	out[0] = 'C'
	for i := 0; i < 17; i++ {
		out[i+1] = base62[h%62]
		h = h/62 + uint64(i)*2654435761
	}
	return string(out[:])
}
