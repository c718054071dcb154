package craft

import "strings"

// Flags holds the nine TCP control bits (RFC 9293 section 3.1, RFC 3168 for
// ECE/CWR, RFC 3540 / AccECN for NS, also called AE).
type Flags uint16

// The TCP control bits, in their wire positions.
const (
	FIN Flags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
	NS // the former ECN-nonce bit, now AE (accurate ECN)
)

var flagNames = [...]struct {
	f     Flags
	name  string
	short byte
}{
	{SYN, "SYN", 'S'}, {FIN, "FIN", 'F'}, {RST, "RST", 'R'}, {PSH, "PSH", 'P'},
	{URG, "URG", 'U'}, {ECE, "ECE", 'E'}, {CWR, "CWR", 'W'}, {NS, "NS", 'N'},
	{ACK, "ACK", '.'},
}

// Has reports whether every bit of m is set in f.
func (f Flags) Has(m Flags) bool { return f&m == m }

// String returns the flags as "SYN,ACK"; no flags is "none".
func (f Flags) String() string {
	if f == 0 {
		return "none"
	}
	var b strings.Builder
	for _, n := range flagNames {
		if f&n.f != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(n.name)
		}
	}
	return b.String()
}

// Short returns the flags in tcpdump's form: "S." for SYN,ACK, "none" for 0.
func (f Flags) Short() string {
	if f == 0 {
		return "none"
	}
	var b [9]byte
	n := 0
	for _, fl := range flagNames {
		if f&fl.f != 0 {
			b[n] = fl.short
			n++
		}
	}
	return string(b[:n])
}

// ParseFlags accepts names separated by commas ("SYN,ACK", "syn+ack"), a
// single name ("FIN"), tcpdump's letters ("S.") or hping-style letters
// ("SA"): S F R P A U E C N, with X for ECE and Y for CWR as in hping3.
// "none" or "" is no flag.
func ParseFlags(s string) (Flags, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "none") {
		return 0, nil
	}
	if g, ok := flagWord(strings.ToUpper(s)); ok {
		return g, nil
	}
	var f Flags
	if strings.ContainsAny(s, ",+| ") {
		for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '+' || r == '|' || r == ' ' }) {
			g, ok := flagWord(strings.ToUpper(w))
			if !ok {
				return 0, &ParseError{What: "tcp flag", Input: w}
			}
			f |= g
		}
		return f, nil
	}
	for _, r := range s {
		switch r {
		case 'S', 's':
			f |= SYN
		case 'F', 'f':
			f |= FIN
		case 'R', 'r':
			f |= RST
		case 'P', 'p':
			f |= PSH
		case 'A', 'a', '.':
			f |= ACK
		case 'U', 'u':
			f |= URG
		case 'E', 'e', 'X', 'x':
			f |= ECE
		case 'C', 'c', 'W', 'w', 'Y', 'y':
			f |= CWR
		case 'N', 'n':
			f |= NS
		default:
			return 0, &ParseError{What: "tcp flags", Input: s}
		}
	}
	return f, nil
}

func flagWord(w string) (Flags, bool) {
	if w == "AE" {
		return NS, true
	}
	for _, n := range flagNames {
		if n.name == w {
			return n.f, true
		}
	}
	return 0, false
}

// ParseError reports input that could not be parsed.
type ParseError struct {
	What, Input string
	Why         string // what the input should look like (may be empty)
}

func (e *ParseError) Error() string {
	msg := "invalid " + e.What + ": " + quote(e.Input)
	if e.Why != "" {
		msg += ": " + e.Why
	}
	return msg
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return "\"" + s + "\""
}
