package craft

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// OptionKind is a TCP option kind (IANA "TCP Option Kind Numbers").
type OptionKind uint8

// TCP option kinds.
const (
	OptEOL           OptionKind = 0
	OptNOP           OptionKind = 1
	OptMSS           OptionKind = 2  // RFC 9293
	OptWindowScale   OptionKind = 3  // RFC 7323
	OptSACKPermitted OptionKind = 4  // RFC 2018
	OptSACK          OptionKind = 5  // RFC 2018
	OptTimestamps    OptionKind = 8  // RFC 7323
	OptMD5           OptionKind = 19 // RFC 2385
	OptUserTimeout   OptionKind = 28 // RFC 5482
	OptAuth          OptionKind = 29 // RFC 5925
	OptMPTCP         OptionKind = 30 // RFC 8684
	OptFastOpen      OptionKind = 34 // RFC 7413
	OptExperimental  OptionKind = 254
)

// MaxOptions is the most options a TCP header can hold (40 bytes of NOPs).
const MaxOptions = 40

// Option is one TCP option. Data is the option's value without the kind
// and length bytes; for EOL and NOP it is empty. When decoding, Data
// aliases the decoded buffer.
type Option struct {
	Kind OptionKind
	Data []byte
}

// Len is the option's encoded length.
func (o Option) Len() int {
	if o.Kind == OptEOL || o.Kind == OptNOP {
		return 1
	}
	return 2 + len(o.Data)
}

// MSSOption returns a maximum segment size option.
func MSSOption(mss uint16) Option {
	return Option{Kind: OptMSS, Data: binary.BigEndian.AppendUint16(nil, mss)}
}

// WindowScaleOption returns a window scale option with shift count s.
func WindowScaleOption(s uint8) Option { return Option{Kind: OptWindowScale, Data: []byte{s}} }

// SACKPermittedOption returns a SACK-permitted option.
func SACKPermittedOption() Option { return Option{Kind: OptSACKPermitted, Data: []byte{}} }

// NOPOption returns a no-operation option.
func NOPOption() Option { return Option{Kind: OptNOP} }

// EOLOption returns an end-of-option-list option.
func EOLOption() Option { return Option{Kind: OptEOL} }

// TimestampsOption returns a timestamps option.
func TimestampsOption(val, ecr uint32) Option {
	d := make([]byte, 8)
	binary.BigEndian.PutUint32(d, val)
	binary.BigEndian.PutUint32(d[4:], ecr)
	return Option{Kind: OptTimestamps, Data: d}
}

// SACKBlock is one left/right edge pair of a SACK option.
type SACKBlock struct{ Left, Right Seq }

// SACKOption returns a SACK option with up to four blocks.
func SACKOption(blocks ...SACKBlock) Option {
	d := make([]byte, 0, 8*len(blocks))
	for _, b := range blocks {
		d = binary.BigEndian.AppendUint32(d, uint32(b.Left))
		d = binary.BigEndian.AppendUint32(d, uint32(b.Right))
	}
	return Option{Kind: OptSACK, Data: d}
}

// FastOpenOption returns a TCP Fast Open option carrying cookie (empty for a
// cookie request).
func FastOpenOption(cookie []byte) Option {
	return Option{Kind: OptFastOpen, Data: append([]byte{}, cookie...)}
}

// OptionsLen is the encoded length of opts padded to a multiple of four.
func OptionsLen(opts []Option) int {
	n := 0
	for _, o := range opts {
		n += o.Len()
	}
	return (n + 3) &^ 3
}

// encodeOptions writes opts into b (which is OptionsLen(opts) long) and pads
// the rest with EOL (zero) bytes.
func encodeOptions(b []byte, opts []Option) {
	i := 0
	for _, o := range opts {
		b[i] = byte(o.Kind)
		if o.Kind == OptEOL || o.Kind == OptNOP {
			i++
			continue
		}
		b[i+1] = byte(2 + len(o.Data))
		copy(b[i+2:], o.Data)
		i += 2 + len(o.Data)
	}
	clear(b[i:])
}

// String renders the option as tcpdump does: "mss 1460", "sackOK",
// "TS val 1 ecr 0", "wscale 7", "nop", "sack 1 {10:20}", "tfo cookie 0a0b",
// "unknown-99 0102".
func (o Option) String() string {
	d := o.Data
	switch o.Kind {
	case OptEOL:
		return "eol"
	case OptNOP:
		return "nop"
	case OptMSS:
		if len(d) == 2 {
			return "mss " + strconv.Itoa(int(binary.BigEndian.Uint16(d)))
		}
	case OptWindowScale:
		if len(d) == 1 {
			return "wscale " + strconv.Itoa(int(d[0]))
		}
	case OptSACKPermitted:
		if len(d) == 0 {
			return "sackOK"
		}
	case OptTimestamps:
		if len(d) == 8 {
			return fmt.Sprintf("TS val %d ecr %d", binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:]))
		}
	case OptSACK:
		if len(d)%8 == 0 {
			var b strings.Builder
			fmt.Fprintf(&b, "sack %d", len(d)/8)
			for i := 0; i < len(d); i += 8 {
				fmt.Fprintf(&b, " {%d:%d}", binary.BigEndian.Uint32(d[i:]), binary.BigEndian.Uint32(d[i+4:]))
			}
			return b.String()
		}
	case OptFastOpen:
		if len(d) == 0 {
			return "tfo cookiereq"
		}
		return fmt.Sprintf("tfo cookie %x", d)
	}
	return fmt.Sprintf("unknown-%d %x", o.Kind, d)
}

// optionUsage says what each option of ParseOptions takes, for errors.
var optionUsage = map[string]string{
	"mss": "mss=N takes 0-65535", "ws": "ws=N takes a shift count 0-255 (RFC 7323 allows up to 14)",
	"wscale": "wscale=N takes a shift count 0-255 (RFC 7323 allows up to 14)",
	"sackok": "sackok takes no value", "sack_perm": "sack_perm takes no value", "sackperm": "sackperm takes no value",
	"sack": "sack=L:R[/L:R...] takes up to 4 blocks of 32-bit edges",
	"ts":   "ts takes no value or VAL:ECR (32-bit numbers)", "timestamp": "timestamp takes no value or VAL:ECR", "timestamps": "timestamps takes no value or VAL:ECR",
	"nop": "nop takes no value", "eol": "eol takes no value",
	"tfo": "tfo takes no value (a cookie request) or HEX (the cookie)", "fastopen": "fastopen takes no value or HEX",
	"raw": "raw=KIND[:HEX] with KIND 0-255 and the data in hex",
}

// ParseOptions parses a comma-separated option list as accepted by the
// command line: "mss=1460,sackok,ws=7,ts,nop,eol,sack=1:2/3:4,ts=100:0,
// tfo,tfo=0a0b0c0d,raw=254:beef". ts without a value uses tsval (the
// caller's clock) and ecr 0.
func ParseOptions(s string, tsval uint32) ([]Option, error) {
	var out []Option
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, item := range strings.Split(s, ",") {
		name, val, hasVal := strings.Cut(strings.TrimSpace(item), "=")
		bad := &ParseError{What: "tcp option", Input: item, Why: optionUsage[strings.ToLower(name)]}
		if bad.Why == "" {
			bad.Why = "unknown option (known: mss, ws, sackok, sack, ts, nop, eol, tfo, raw)"
		}
		switch strings.ToLower(name) {
		case "mss":
			v, err := strconv.ParseUint(val, 10, 16)
			if err != nil || !hasVal {
				return nil, bad
			}
			out = append(out, MSSOption(uint16(v)))
		case "ws", "wscale":
			v, err := strconv.ParseUint(val, 10, 8)
			if err != nil || !hasVal {
				return nil, bad
			}
			out = append(out, WindowScaleOption(uint8(v)))
		case "sackok", "sack_perm", "sackperm":
			if hasVal {
				return nil, bad
			}
			out = append(out, SACKPermittedOption())
		case "sack":
			var blocks []SACKBlock
			for _, p := range strings.Split(val, "/") {
				l, r, ok := strings.Cut(p, ":")
				lv, e1 := strconv.ParseUint(l, 10, 32)
				rv, e2 := strconv.ParseUint(r, 10, 32)
				if !ok || e1 != nil || e2 != nil {
					return nil, bad
				}
				blocks = append(blocks, SACKBlock{Seq(lv), Seq(rv)})
			}
			if len(blocks) > 4 {
				return nil, bad
			}
			out = append(out, SACKOption(blocks...))
		case "ts", "timestamp", "timestamps":
			v, e := tsval, uint32(0)
			if hasVal {
				a, b, ok := strings.Cut(val, ":")
				av, e1 := strconv.ParseUint(a, 10, 32)
				bv, e2 := strconv.ParseUint(b, 10, 32)
				if !ok || e1 != nil || e2 != nil {
					return nil, bad
				}
				v, e = uint32(av), uint32(bv)
			}
			out = append(out, TimestampsOption(v, e))
		case "nop":
			out = append(out, NOPOption())
		case "eol":
			out = append(out, EOLOption())
		case "tfo", "fastopen":
			var c []byte
			if hasVal {
				var err error
				if c, err = parseHex(val); err != nil {
					return nil, bad
				}
			}
			out = append(out, FastOpenOption(c))
		case "raw":
			k, hexd, ok := strings.Cut(val, ":")
			kv, err := strconv.ParseUint(k, 10, 8)
			if err != nil {
				return nil, bad
			}
			var d []byte
			if ok {
				if d, err = parseHex(hexd); err != nil {
					return nil, bad
				}
			}
			out = append(out, Option{Kind: OptionKind(kv), Data: d})
		default:
			return nil, bad
		}
	}
	if OptionsLen(out) > 40 {
		return nil, fmt.Errorf("tcp options too long: %d bytes, at most 40", OptionsLen(out))
	}
	return out, nil
}

func parseHex(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.ReplaceAll(s, ":", ""), "0x")
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("odd hex length")
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		out[i] = byte(v)
	}
	return out, nil
}

// ParseHex decodes hex digits, with optional 0x prefix and ':' separators.
func ParseHex(s string) ([]byte, error) {
	b, err := parseHex(s)
	if err != nil {
		return nil, &ParseError{What: "hex", Input: s}
	}
	return b, nil
}
