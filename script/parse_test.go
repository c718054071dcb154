package script

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tcpprobe/tcpprobe/craft"
)

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Time
		err  bool
	}{
		{"0", Time{Kind: TimeAbs}, false},
		{"+0", Time{Kind: TimeRel}, false},
		{"+.1", Time{Kind: TimeRel, Start: .1}, false},
		{"1.5", Time{Kind: TimeAbs, Start: 1.5}, false},
		{"*", Time{Kind: TimeAny}, false},
		{"0.1~0.2", Time{Kind: TimeRange, Start: .1, End: .2}, false},
		{"+.2~+.5", Time{Kind: TimeRange, Start: .2, End: .5, RelEnd: true}, false},
		{"+.2~.5", Time{}, true},  // mixed forms
		{"0.5~0.1", Time{}, true}, // ends before it starts
		{"-1", Time{}, true},
		{"abc", Time{}, true},
		{"1e3", Time{}, true},
		{"NaN", Time{}, true},
	} {
		got, err := parseTime(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("%q: err %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if !tc.err && got != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParsePacket(t *testing.T) {
	p, err := parsePacket("> [ect0] S. 0:0(0) ack 1 win 65535 urg 3 <mss 1460,sackOK,TS val 100 ecr 7,nop,wscale 7>")
	if err != nil {
		t.Fatal(err)
	}
	want := &Packet{Out: true, ECN: ECNECT0, Flags: craft.SYN | craft.ACK, Ack: 1, HasAck: true, Win: 65535, HasWin: true, Urg: 3, HasUrg: true,
		Options: []craft.Option{craft.MSSOption(1460), craft.SACKPermittedOption(), craft.TimestampsOption(100, 7), craft.NOPOption(), craft.WindowScaleOption(7)}}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got %+v\nwant %+v", p, want)
	}
	p, err = parsePacket("< P. 1:1001(1000) ack 1 <nop,nop,sack 1:10 20:30,FO 0a0b0c0d>")
	if err != nil {
		t.Fatal(err)
	}
	if p.Out || p.Seq != 1 || p.End != 1001 || p.Len != 1000 || p.HasWin || len(p.Options) != 4 ||
		!reflect.DeepEqual(p.Options[2], craft.SACKOption(craft.SACKBlock{Left: 1, Right: 10}, craft.SACKBlock{Left: 20, Right: 30})) ||
		!reflect.DeepEqual(p.Options[3].Data, []byte{10, 11, 12, 13}) {
		t.Errorf("got %+v", p)
	}
	if p, err := parsePacket("> . 1:1(0) ack 1 <...>"); err != nil || !p.AnyOptions {
		t.Errorf("<...>: %+v %v", p, err)
	}
	if p, err := parsePacket("< - 0:0(0)"); err != nil || p.Flags != 0 {
		t.Errorf("-: %+v %v", p, err)
	}
	for _, bad := range []string{
		"< S 0:0(1)",           // length disagrees
		"< S 0:0",              // no length
		"< X 0:0(0)",           // unknown flag
		"< SS 0:0(0)",          // flag twice
		"< S 0:0(0) foo 1",     // unknown field
		"< S 0:0(0) win 70000", // window too big
		"< S 0:0(0) <mss>",     // mss without value
		"< S 0:0(0) <bogus 1>", // unknown option
		"< S 0:0(0) <TS val 1>",
		"< S 0:0(0) <sack 1:2 3:4 5:6 7:8 9:10>",
		"< S 0:0(0) <nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop>",
		"< [ect9] S 0:0(0)",
		"< icmp unreachable",
		"< udp (10)",
		"< S 0:70000(70000)",
	} {
		if _, err := parsePacket(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseCall(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Call
	}{
		{"socket(..., SOCK_STREAM, IPPROTO_TCP) = 3", Call{Name: "socket", Args: []string{"...", "SOCK_STREAM", "IPPROTO_TCP"}, Ret: 3}},
		{"setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0", Call{Name: "setsockopt", Args: []string{"3", "SOL_SOCKET", "SO_LINGER", "{onoff=1, linger=0}", "8"}}},
		{"read(4, ..., 1000) = -1 EAGAIN (Resource temporarily unavailable)", Call{Name: "read", Args: []string{"4", "...", "1000"}, Ret: -1, Errno: "EAGAIN"}},
		{"...0.100 read(4, ..., 2000) = 2000", Call{Name: "read", Args: []string{"4", "...", "2000"}, Ret: 2000, HasEnd: true, End: 0.1}},
		{"fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0", Call{Name: "fcntl", Args: []string{"3", "F_SETFL", "O_RDWR|O_NONBLOCK"}}},
		{"close(4) = 0", Call{Name: "close", Args: []string{"4"}}},
		{"getpid() = 0x10", Call{Name: "getpid", Ret: 16}},
	} {
		got, err := parseCall(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%q: %+v, want %+v", tc.in, *got, tc.want)
		}
	}
	for _, bad := range []string{"close(4)", "close(4) = x", "close(4 = 0", "clo se(4) = 0", "close(4) = -1 bad", "close(4) = -1 EBADF trailing", "= 3"} {
		if _, err := parseCall(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestParseScript reads a whole script: options, comments of both kinds,
// a call spread over lines, a shell line, a code block, and the line
// numbers of each event.
func TestParseScript(t *testing.T) {
	src := `--tolerance_usecs=10000
// a comment
/* a block
   comment */
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET,
      SO_REUSEADDR, [1], 4) = 0
` + "+0 `sysctl -q net.ipv4.tcp_sack=1`" + `
+0 < S 0:0(0) win 32792 <mss 1000>   // trailing comment
* > S. 0:0(0) ack 1 <...>
+0 %{ assert tcpi_ca_state == 0
}%
`
	s, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	if s.Options["tolerance_usecs"] != "10000" {
		t.Errorf("options %v", s.Options)
	}
	var kinds []Kind
	var nums []int
	for _, l := range s.Lines {
		kinds, nums = append(kinds, l.Kind), append(nums, l.Num)
	}
	if want := []Kind{KindSyscall, KindSyscall, KindShell, KindPacket, KindPacket, KindCode}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
	if want := []int{5, 6, 8, 9, 10, 11}; !reflect.DeepEqual(nums, want) {
		t.Errorf("lines %v, want %v", nums, want)
	}
	if s.Lines[2].Shell != "sysctl -q net.ipv4.tcp_sack=1" || len(s.Lines[1].Call.Args) != 5 || s.Lines[4].Time.Kind != TimeAny {
		t.Errorf("%+v", s.Lines)
	}
	if s, err := Parse("+0...0.100 read(4, ..., 2000) = 2000"); err != nil || !s.Lines[0].Call.HasEnd || s.Lines[0].Call.End != 0.1 || s.Lines[0].Time.Kind != TimeRel {
		t.Errorf("blocking call: %+v %v", s, err)
	}
	for _, bad := range []string{
		"0 socket(", "/* open", "0 `open", "0 < S 0:0(0)\n--late=1", "0", "0 nothing", "+.1...x read(4, ..., 1) = 1", "* ...0.1 read(4, ..., 1) = 1",
	} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q: no error", bad)
		} else if !strings.HasPrefix(err.Error(), "line ") {
			t.Errorf("%q: %v does not name the line", bad, err)
		}
	}
}

// TestCorpusParses keeps the project's scripts readable.
func TestCorpusParses(t *testing.T) {
	files, _ := filepath.Glob("../testdata/scripts/*.pkt")
	more, _ := filepath.Glob("../testdata/scripts/*/*.pkt")
	files = append(files, more...)
	if len(files) < 10 {
		t.Fatalf("%d scripts", len(files))
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(string(src)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../testdata/scripts/*.pkt")
	for _, file := range files {
		if src, err := os.ReadFile(file); err == nil {
			f.Add(string(src))
		}
	}
	f.Add("0 < S 0:0(0) <mss 1460,sack 1:2,FO,TS val 1 ecr 2>\n+.1~+.2 > [ect01] S. 0:0(0) ack 1 <...>")
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Parse(src)
		if err != nil {
			return
		}
		for _, l := range s.Lines {
			switch l.Kind {
			case KindPacket:
				if l.Pkt == nil || l.Pkt.End-l.Pkt.Seq != uint32(l.Pkt.Len) {
					t.Fatalf("line %d: %+v", l.Num, l.Pkt)
				}
				if !l.Pkt.Out && !l.Pkt.AnyOptions && craft.OptionsLen(l.Pkt.Options) > 40 {
					t.Fatalf("line %d: options too long", l.Num)
				}
			case KindSyscall:
				if l.Call == nil || l.Call.Name == "" {
					t.Fatalf("line %d: %+v", l.Num, l.Call)
				}
			}
		}
	})
}

func TestParseICMP(t *testing.T) {
	s, err := Parse("0 < icmp unreachable frag_needed mtu 1200\n+0 < [1:1001(1000)] icmp unreachable port_unreachable\n+0 < icmp time_exceeded\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []ICMPLine{
		{Type: "unreachable", Code: "frag_needed", MTU: 1200},
		{Type: "unreachable", Code: "port_unreachable", HasSeq: true, Seq: 1},
		{Type: "time_exceeded", Code: "ttl_exceeded"},
	}
	for i, l := range s.Lines {
		if l.Kind != KindICMP || *l.ICMP != want[i] {
			t.Errorf("line %d: %+v, want %+v", i, l.ICMP, want[i])
		}
	}
	for _, bad := range []string{
		"0 > icmp unreachable", "0 < icmp echo", "0 < icmp unreachable bogus", "0 < icmp unreachable port_unreachable mtu 1200",
		"0 < icmp unreachable frag_needed mtu 10", "0 < [1:2(3)] icmp unreachable", "0 < icmp",
	} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
