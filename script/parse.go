// Package script reads packetdrill scripts and runs them against a live
// host: `<` lines are segments tcpprobe injects, `>` lines segments the
// host must send, syscall lines run on the lab target (see Executor).
// The parser is pure; run.go drives the wire.
package script

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tcpprobe/tcpprobe/craft"
)

// TimeKind says how a line's time is written.
type TimeKind uint8

// The forms of packetdrill's event_time.
const (
	TimeAbs   TimeKind = iota // "0.100": seconds from the script's start
	TimeRel                   // "+0.100": seconds after the previous event
	TimeAny                   // "*": any time
	TimeRange                 // "0.1~0.2" or "+0.1~+0.2": a window
)

// Time is an event's time; Start and End are seconds (End for TimeRange).
type Time struct {
	Kind       TimeKind
	Start, End float64
	// RelEnd is set for "+a~+b": the window's end is relative too.
	RelEnd bool
}

// Kind is what a line does.
type Kind uint8

// The kinds of script lines.
const (
	KindPacket  Kind = iota // "<" or ">" TCP segment
	KindSyscall             // socket(...) = 3
	KindShell               // `command`
	KindCode                // %{ python }%: skipped
	KindICMP                // "< icmp unreachable frag_needed mtu 1200"
)

// Line is one event of a script.
type Line struct {
	Num  int    // 1-based line in the file
	Text string // the event as written, on one line
	Time Time
	Kind Kind
	Pkt  *Packet
	Call *Call
	ICMP *ICMPLine
	// Shell is the command of a KindShell line.
	Shell string
}

// ECN codepoints of "[ect0]" and friends; ECNAny when the line has none.
const (
	ECNAny   = -1
	ECNNot   = 0
	ECNECT1  = 1
	ECNECT0  = 2
	ECNCE    = 3
	ECNECT01 = 4 // "[ect01]": either ECT codepoint (checked lines only)
)

// Packet is a TCP segment line, numbers relative as the script writes
// them: Seq is relative to the sender's ISN, Ack to the receiver's.
type Packet struct {
	// Out is a segment the host under test sends (">").
	Out   bool
	ECN   int
	Flags craft.Flags
	Seq   uint32
	End   uint32
	Len   int
	// Ack is set when the line has "ack N".
	Ack    uint32
	HasAck bool
	Win    uint16
	HasWin bool
	Urg    uint16
	HasUrg bool
	// AnyOptions is "<...>": options are not checked.
	AnyOptions bool
	// Options as written; SACK edges and TS ecr are mapped when used.
	Options []craft.Option
}

// ICMPLine is an ICMP error we send ("<" only): it quotes the host's last
// segment, with Seq (relative to the host's ISN) when the line gives
// "[start:end(len)]".
type ICMPLine struct {
	Type, Code string
	MTU        uint32
	HasSeq     bool
	Seq        uint32
}

// icmpCodes are the ICMP errors a line can name, as packetdrill spells
// them: unreachable's codes, and time_exceeded.
var icmpCodes = map[string][]string{
	"unreachable":   {"net_unreachable", "host_unreachable", "protocol_unreachable", "port_unreachable", "frag_needed", "source_route_failed"},
	"time_exceeded": {"ttl_exceeded", "reassembly_time_exceeded"},
}

// parseICMP reads "< [1:1(0)] icmp unreachable frag_needed mtu 1200".
func parseICMP(s string) (*ICMPLine, error) {
	if s[0] == '>' {
		return nil, fmt.Errorf("> icmp lines are not supported: tcpprobe sends ICMP errors, it does not check the host's")
	}
	m := &ICMPLine{}
	rest := strings.TrimSpace(s[1:])
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nil, fmt.Errorf("unterminated [ in %q", s)
		}
		var p Packet
		if err := p.parseSeq(strings.TrimSpace(rest[1:end])); err != nil {
			return nil, fmt.Errorf("quoted segment: %w", err)
		}
		m.HasSeq, m.Seq = true, p.Seq
		rest = strings.TrimSpace(rest[end+1:])
	}
	f := strings.Fields(rest)
	if len(f) < 2 || f[0] != "icmp" {
		return nil, fmt.Errorf("%q: want < icmp TYPE [CODE] [mtu N]", s)
	}
	codes, ok := icmpCodes[f[1]]
	if !ok {
		return nil, fmt.Errorf("ICMP type %q: want unreachable or time_exceeded", f[1])
	}
	m.Type, f = f[1], f[2:]
	m.Code = codes[0]
	if len(f) > 0 && f[0] != "mtu" {
		found := false
		for _, c := range codes {
			found = found || c == f[0]
		}
		if !found {
			return nil, fmt.Errorf("ICMP %s code %q: want one of %s", m.Type, f[0], strings.Join(codes, ", "))
		}
		m.Code, f = f[0], f[1:]
	}
	if len(f) > 0 {
		if len(f) != 2 || f[0] != "mtu" || m.Code != "frag_needed" {
			return nil, fmt.Errorf("%q: only frag_needed takes mtu N", s)
		}
		v, err := strconv.ParseUint(f[1], 10, 16)
		if err != nil || v < 68 {
			return nil, fmt.Errorf("mtu %q: want 68..65535", f[1])
		}
		m.MTU = uint32(v)
	}
	return m, nil
}

// Call is a syscall line: name(args) = Ret [ERRNO (note)], started at the
// line's time and, with End set ("...T"), returning T after the base.
type Call struct {
	Name  string
	Args  []string
	Ret   int64
	Errno string
	// HasEnd marks a blocking call written "+t...T".
	HasEnd bool
	End    float64
}

// SupportedCalls are the syscalls a script may make on the lab target.
var SupportedCalls = []string{"socket", "bind", "listen", "accept", "connect", "read", "recv", "write", "send",
	"shutdown", "close", "setsockopt", "getsockopt", "fcntl"}

// Script is a parsed file.
type Script struct {
	// Options are the "--name=value" lines before the events.
	Options map[string]string
	Lines   []Line
}

// ParseError names the line a problem is on.
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Parse reads a script. Comments (// and /* */) are dropped; an event that
// spans lines (open parentheses or braces) is joined.
func Parse(src string) (*Script, error) {
	s := &Script{Options: map[string]string{}}
	events, err := splitEvents(src)
	if err != nil {
		return nil, err
	}
	for _, ev := range events {
		text := ev.text
		if strings.HasPrefix(text, "--") {
			if len(s.Lines) > 0 {
				return nil, &ParseError{ev.line, "options (--name=value) must come before the first event"}
			}
			name, val, _ := strings.Cut(text[2:], "=")
			s.Options[strings.TrimSpace(name)] = strings.TrimSpace(val)
			continue
		}
		l, err := parseEvent(text)
		if err != nil {
			return nil, &ParseError{ev.line, err.Error()}
		}
		l.Num = ev.line
		s.Lines = append(s.Lines, l)
	}
	return s, nil
}

type rawEvent struct {
	line int
	text string
}

// splitEvents removes comments and cuts the source into events: one per
// line, joined while parentheses or braces are open; a %{ }% block or a
// backquoted command is one event wherever its newlines are.
func splitEvents(src string) ([]rawEvent, error) {
	var out []rawEvent
	var cur strings.Builder
	line, start, depth := 1, 0, 0
	flush := func() {
		t := strings.Join(strings.Fields(cur.String()), " ")
		if t != "" {
			out = append(out, rawEvent{start, t})
		}
		cur.Reset()
		depth = 0
	}
	begin := func() {
		if strings.TrimSpace(cur.String()) == "" {
			start = line
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\n':
			line++
			if depth <= 0 {
				flush()
			} else {
				cur.WriteByte(' ')
			}
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
			i--
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, &ParseError{line, "unterminated /* comment"}
			}
			line += strings.Count(src[i:i+2+end+2], "\n")
			i += 2 + end + 1
			cur.WriteByte(' ')
		case strings.HasPrefix(src[i:], "%{"):
			begin()
			end := strings.Index(src[i:], "}%")
			if end < 0 {
				return nil, &ParseError{line, "unterminated %{ code block"}
			}
			line += strings.Count(src[i:i+end], "\n")
			cur.WriteString("%{}%")
			i += end + 1
		case c == '`' || c == '"':
			begin()
			end := strings.IndexByte(src[i+1:], c)
			if end < 0 {
				return nil, &ParseError{line, "unterminated " + string(c)}
			}
			q := src[i : i+1+end+1]
			line += strings.Count(q, "\n")
			cur.WriteString(strings.ReplaceAll(q, "\n", " "))
			i += end + 1
		default:
			if c != ' ' && c != '\t' && c != '\r' {
				begin()
			}
			switch c {
			case '(', '{':
				depth++
			case ')', '}':
				depth--
			}
			cur.WriteByte(c)
		}
	}
	if depth > 0 {
		return nil, &ParseError{start, "unbalanced parentheses or braces"}
	}
	flush()
	return out, nil
}

// parseEvent reads "time action".
func parseEvent(text string) (Line, error) {
	l := Line{Text: text}
	rest := text
	if strings.HasPrefix(rest, "`") {
		l.Time = Time{Kind: TimeRel}
	} else {
		var err error
		var tok string
		tok, rest = cutField(rest)
		if t, end, ok := strings.Cut(tok, "..."); ok {
			// "+0...0.100 read(...)": the end belongs to the call.
			tok, rest = t, "..."+end+" "+rest
		}
		if l.Time, err = parseTime(tok); err != nil {
			return l, err
		}
	}
	rest = strings.TrimSpace(rest)
	switch {
	case rest == "":
		return l, fmt.Errorf("%q: an event needs an action after its time", text)
	case strings.HasPrefix(rest, "`"):
		if !strings.HasSuffix(rest, "`") || len(rest) < 2 {
			return l, fmt.Errorf("shell command: unterminated `")
		}
		l.Kind, l.Shell = KindShell, rest[1:len(rest)-1]
		return l, nil
	case rest == "%{}%":
		l.Kind = KindCode
		return l, nil
	case (rest[0] == '<' || rest[0] == '>') && isICMP(rest):
		m, err := parseICMP(rest)
		if err != nil {
			return l, err
		}
		l.Kind, l.ICMP = KindICMP, m
		return l, nil
	case rest[0] == '<' || rest[0] == '>':
		p, err := parsePacket(rest)
		if err != nil {
			return l, err
		}
		l.Kind, l.Pkt = KindPacket, p
		return l, nil
	}
	c, err := parseCall(rest)
	if err != nil {
		return l, err
	}
	if c.HasEnd && l.Time.Kind != TimeAbs && l.Time.Kind != TimeRel {
		return l, fmt.Errorf("a blocking call (...) needs a plain start time")
	}
	l.Kind, l.Call = KindSyscall, c
	return l, nil
}

// isICMP tells an ICMP line ("< icmp ...", "< [1:1(0)] icmp ...").
func isICMP(s string) bool {
	for _, f := range strings.Fields(s[1:])[:min(3, len(strings.Fields(s[1:])))] {
		if f == "icmp" {
			return true
		}
	}
	return false
}

func cutField(s string) (string, string) {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// parseTime reads "*", "0.1", "+.1", "0.1~0.2", "+0~+0.1"; a syscall's
// "...T" end stays with the call.
func parseTime(tok string) (Time, error) {
	if tok == "*" {
		return Time{Kind: TimeAny}, nil
	}
	if a, b, ok := strings.Cut(tok, "~"); ok {
		t0, err := parseTime(a)
		if err != nil {
			return Time{}, err
		}
		t1, err := parseTime(b)
		if err != nil {
			return Time{}, err
		}
		if t0.Kind == TimeRange || t0.Kind == TimeAny || t1.Kind == TimeRange || t1.Kind == TimeAny || (t0.Kind == TimeRel) != (t1.Kind == TimeRel) {
			return Time{}, fmt.Errorf("time %q: write a~b or +a~+b", tok)
		}
		if t1.Start < t0.Start {
			return Time{}, fmt.Errorf("time %q: the window ends before it starts", tok)
		}
		return Time{Kind: TimeRange, Start: t0.Start, End: t1.Start, RelEnd: t0.Kind == TimeRel}, nil
	}
	rel := strings.HasPrefix(tok, "+")
	num := strings.TrimPrefix(tok, "+")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || v > 1e6 || strings.ContainsAny(num, "eEnNxX") {
		return Time{}, fmt.Errorf("time %q: want seconds like 0, +.1, 1.5 or *", tok)
	}
	k := TimeAbs
	if rel {
		k = TimeRel
	}
	return Time{Kind: k, Start: v}, nil
}

var ecnNames = map[string]int{"noecn": ECNNot, "ect1": ECNECT1, "ect0": ECNECT0, "ce": ECNCE, "ect01": ECNECT01}

// parsePacket reads "< [ect0] S. 0:0(0) ack 1 win 65535 urg 0 <options>".
func parsePacket(s string) (*Packet, error) {
	p := &Packet{Out: s[0] == '>', ECN: ECNAny}
	rest := strings.TrimSpace(s[1:])
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nil, fmt.Errorf("unterminated [ in %q", s)
		}
		e, ok := ecnNames[strings.TrimSpace(rest[1:end])]
		if !ok {
			return nil, fmt.Errorf("ECN codepoint %q: want noecn, ect0, ect1, ect01 or ce", rest[1:end])
		}
		p.ECN = e
		rest = strings.TrimSpace(rest[end+1:])
	}
	tok, rest := cutField(rest)
	if strings.ToLower(tok) == "udp" {
		return nil, fmt.Errorf("udp lines are not supported (TCP segments and ICMP errors only)")
	}
	f, err := parseFlags(tok)
	if err != nil {
		return nil, err
	}
	p.Flags = f
	tok, rest = cutField(rest)
	if err := p.parseSeq(tok); err != nil {
		return nil, err
	}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
		if rest[0] == '<' {
			end := strings.LastIndexByte(rest, '>')
			if end < 0 || strings.TrimSpace(rest[end+1:]) != "" {
				return nil, fmt.Errorf("options: want <...> at the end of the line")
			}
			if err := p.parseOptions(rest[1:end]); err != nil {
				return nil, err
			}
			break
		}
		var key, val string
		key, rest = cutField(rest)
		val, rest = cutField(rest)
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s %q: want a number", key, val)
		}
		switch key {
		case "ack":
			p.Ack, p.HasAck = uint32(n), true
		case "win":
			if n > 65535 {
				return nil, fmt.Errorf("win %d: the field has 16 bits", n)
			}
			p.Win, p.HasWin = uint16(n), true
		case "urg":
			if n > 65535 {
				return nil, fmt.Errorf("urg %d: the field has 16 bits", n)
			}
			p.Urg, p.HasUrg = uint16(n), true
		default:
			return nil, fmt.Errorf("unknown packet field %q (want ack, win, urg or <options>)", key)
		}
	}
	return p, nil
}

// flagLetters are packetdrill's flag letters, in the order it writes
// them, and flagBits the flags they stand for.
const flagLetters = "SFRPUEWN."

var flagBits = [...]craft.Flags{craft.SYN, craft.FIN, craft.RST, craft.PSH, craft.URG, craft.ECE, craft.CWR, craft.NS, craft.ACK}

// parseFlags reads packetdrill's flag letters: S F R P U E W N and "." for
// ACK; "-" is no flags.
func parseFlags(tok string) (craft.Flags, error) {
	if tok == "-" {
		return 0, nil
	}
	if tok == "" {
		return 0, fmt.Errorf("missing TCP flags")
	}
	var f craft.Flags
	for _, c := range tok {
		i := strings.IndexRune(flagLetters, c)
		if i < 0 {
			return 0, fmt.Errorf("TCP flags %q: want letters of SFRPUEWN and . for ACK", tok)
		}
		b := flagBits[i]
		if f&b != 0 {
			return 0, fmt.Errorf("TCP flags %q: %c twice", tok, c)
		}
		f |= b
	}
	return f, nil
}

// parseSeq reads "start:end(len)"; end-start must equal len.
func (p *Packet) parseSeq(tok string) error {
	a, rest, ok1 := strings.Cut(tok, ":")
	b, rest, ok2 := strings.Cut(rest, "(")
	l, rest, ok3 := strings.Cut(rest, ")")
	if !ok1 || !ok2 || !ok3 || rest != "" {
		return fmt.Errorf("sequence %q: want start:end(length)", tok)
	}
	start, err1 := strconv.ParseUint(a, 10, 32)
	end, err2 := strconv.ParseUint(b, 10, 32)
	n, err3 := strconv.ParseUint(l, 10, 32)
	if err1 != nil || err2 != nil || err3 != nil {
		return fmt.Errorf("sequence %q: want numbers", tok)
	}
	if uint32(end)-uint32(start) != uint32(n) {
		return fmt.Errorf("sequence %q: %d-%d is not %d", tok, end, start, n)
	}
	if n > 65000 {
		return fmt.Errorf("sequence %q: a segment of %d bytes does not fit a datagram", tok, n)
	}
	p.Seq, p.End, p.Len = uint32(start), uint32(end), int(n)
	return nil
}

// parseOptions reads "mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7",
// "sack 1:10 20:30", "FO abcd", "eol" or "...".
func (p *Packet) parseOptions(s string) error {
	s = strings.TrimSpace(s)
	if s == "..." {
		p.AnyOptions = true
		return nil
	}
	p.Options = []craft.Option{}
	if s == "" {
		return nil
	}
	total := 0
	for _, part := range strings.Split(s, ",") {
		f := strings.Fields(part)
		if len(f) == 0 {
			return fmt.Errorf("options %q: empty option", s)
		}
		var o craft.Option
		num := func(i int, bits int) (uint64, error) {
			if i >= len(f) {
				return 0, fmt.Errorf("option %q: missing value", part)
			}
			return strconv.ParseUint(f[i], 10, bits)
		}
		want := 1
		switch f[0] {
		case "nop":
			o = craft.NOPOption()
		case "eol":
			o = craft.EOLOption()
		case "sackOK":
			o = craft.SACKPermittedOption()
		case "mss":
			v, err := num(1, 16)
			if err != nil {
				return fmt.Errorf("option %q: %w", part, err)
			}
			o, want = craft.MSSOption(uint16(v)), 2
		case "wscale":
			v, err := num(1, 8)
			if err != nil {
				return fmt.Errorf("option %q: %w", part, err)
			}
			o, want = craft.WindowScaleOption(uint8(v)), 2
		case "TS":
			if len(f) != 5 || f[1] != "val" || f[3] != "ecr" {
				return fmt.Errorf("option %q: want TS val N ecr N", part)
			}
			v, err1 := num(2, 32)
			e, err2 := num(4, 32)
			if err1 != nil || err2 != nil {
				return fmt.Errorf("option %q: want TS val N ecr N", part)
			}
			o, want = craft.TimestampsOption(uint32(v), uint32(e)), 5
		case "sack":
			var blocks []craft.SACKBlock
			for _, b := range f[1:] {
				l, r, ok := strings.Cut(b, ":")
				lv, err1 := strconv.ParseUint(l, 10, 32)
				rv, err2 := strconv.ParseUint(r, 10, 32)
				if !ok || err1 != nil || err2 != nil {
					return fmt.Errorf("option %q: want sack L:R ...", part)
				}
				blocks = append(blocks, craft.SACKBlock{Left: craft.Seq(lv), Right: craft.Seq(rv)})
			}
			if len(blocks) == 0 || len(blocks) > 4 {
				return fmt.Errorf("option %q: 1 to 4 SACK blocks", part)
			}
			o, want = craft.SACKOption(blocks...), len(f)
		case "FO":
			var cookie []byte
			if len(f) > 1 {
				c, err := craft.ParseHex(f[1])
				if err != nil {
					return fmt.Errorf("option %q: cookie: %w", part, err)
				}
				cookie = c
			}
			o, want = craft.FastOpenOption(cookie), len(f)
			if len(f) > 2 {
				return fmt.Errorf("option %q: want FO or FO cookie", part)
			}
		default:
			return fmt.Errorf("option %q is not supported (mss, wscale, sackOK, sack, TS, nop, eol, FO)", part)
		}
		if len(f) != want {
			return fmt.Errorf("option %q: unexpected %q", part, strings.Join(f[want:], " "))
		}
		total += o.Len()
		p.Options = append(p.Options, o)
	}
	if total > 40 {
		return fmt.Errorf("options %q: %d bytes, a TCP header holds 40", s, total)
	}
	return nil
}

// parseCall reads "...T name(args) = ret [ERRNO (note)]".
func parseCall(s string) (*Call, error) {
	c := &Call{}
	if strings.HasPrefix(s, "...") {
		tok, rest := cutField(s[3:])
		v, err := strconv.ParseFloat(tok, 64)
		if err != nil || v < 0 || v > 1e6 {
			return nil, fmt.Errorf("blocking call end %q: want seconds", tok)
		}
		c.HasEnd, c.End, s = true, v, strings.TrimSpace(rest)
	}
	open := strings.IndexByte(s, '(')
	if open <= 0 {
		return nil, fmt.Errorf("%q: want a packet (< or >), a syscall name(args) = ret, or a `command`", s)
	}
	c.Name = strings.TrimSpace(s[:open])
	for _, r := range c.Name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return nil, fmt.Errorf("syscall name %q", c.Name)
		}
	}
	depth, close := 0, -1
	for i := open; i < len(s) && close < 0; i++ {
		switch s[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 {
				close = i
			}
		case '"':
			if j := strings.IndexByte(s[i+1:], '"'); j >= 0 {
				i += j + 1
			}
		}
	}
	if close < 0 {
		return nil, fmt.Errorf("%s: unbalanced parentheses", c.Name)
	}
	c.Args = splitArgs(s[open+1 : close])
	rest := strings.TrimSpace(s[close+1:])
	if !strings.HasPrefix(rest, "=") {
		return nil, fmt.Errorf("%s(...): want = return value", c.Name)
	}
	tok, rest := cutField(rest[1:])
	v, err := strconv.ParseInt(tok, 0, 64)
	if err != nil {
		return nil, fmt.Errorf("%s(...) = %q: want a number", c.Name, tok)
	}
	c.Ret = v
	tok, rest = cutField(rest)
	if tok != "" {
		if !strings.HasPrefix(tok, "E") {
			return nil, fmt.Errorf("%s(...) = %d %q: want an errno name such as EAGAIN", c.Name, v, tok)
		}
		c.Errno = tok
		if r := strings.TrimSpace(rest); r != "" && !(strings.HasPrefix(r, "(") && strings.HasSuffix(r, ")")) {
			return nil, fmt.Errorf("%s(...): unexpected %q after the errno", c.Name, r)
		}
	}
	return c, nil
}

// splitArgs cuts at top-level commas.
func splitArgs(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case '"':
			if j := strings.IndexByte(s[i+1:], '"'); j >= 0 {
				i += j + 1
			}
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if t := strings.TrimSpace(s[start:]); t != "" || len(out) > 0 {
		out = append(out, t)
	}
	return out
}
