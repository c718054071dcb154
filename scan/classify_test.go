package scan

import (
	"testing"

	"github.com/tcpprobe/tcpprobe/craft"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		kind  Kind
		a     Answer
		want  State
		sent  craft.Flags
		cause string
	}{
		{KindSYN, Answer{Flags: craft.SYN | craft.ACK}, Open, 0, "syn-ack"},
		{KindSYN, Answer{Flags: craft.SYN}, Open, 0, "syn"},
		{KindSYN, Answer{Flags: craft.RST | craft.ACK}, Closed, 0, "reset"},
		{KindSYN, Answer{None: true}, Filtered, 0, "no-response"},
		{KindSYN, Answer{ICMP: true, ICMPType: 3, ICMPCode: 3}, Filtered, 0, "icmp-unreach type 3 code 3"},
		{KindSYN, Answer{ICMP: true, V6: true, ICMPType: 1, ICMPCode: 4}, Filtered, 0, "icmp6-unreach type 1 code 4"},
		{KindFIN, Answer{None: true}, OpenFiltered, 0, "no-response"},
		{KindFIN, Answer{ICMP: true, ICMPType: 3, ICMPCode: 13}, Filtered, 0, "icmp-unreach type 3 code 13"},
		{KindFIN, Answer{ICMP: true, ICMPType: 3, ICMPCode: 4}, OpenFiltered, 0, "no-response"}, // fragmentation needed: not about the port
		{KindNULL, Answer{Flags: craft.RST | craft.ACK}, Closed, 0, "reset"},
		{KindXmas, Answer{None: true}, OpenFiltered, 0, "no-response"},
		{KindACK, Answer{Flags: craft.RST}, Unfiltered, 0, "reset"},
		{KindACK, Answer{None: true}, Filtered, 0, "no-response"},
		{KindWindow, Answer{Flags: craft.RST, Window: 512}, Open, 0, "reset win 512"},
		{KindWindow, Answer{Flags: craft.RST}, Closed, 0, "reset win 0"},
		{KindCustom, Answer{Flags: craft.SYN | craft.ACK}, Open, craft.SYN | craft.ECE, "syn-ack"},
		{KindCustom, Answer{None: true}, OpenFiltered, craft.FIN | craft.URG, "no-response"},
	} {
		st, reason := Classify(tc.kind, tc.sent, tc.a)
		if st != tc.want || reason != tc.cause {
			t.Errorf("%s %+v: %s (%s), want %s (%s)", tc.kind, tc.a, st, reason, tc.want, tc.cause)
		}
	}
}

func TestParsePorts(t *testing.T) {
	p, err := ParsePorts("22,80,8000-8002,80")
	if err != nil || len(p) != 5 || p[0] != 22 || p[4] != 8002 {
		t.Errorf("%v %v", p, err)
	}
	if all, _ := ParsePorts("-"); len(all) != 65535 || all[65534] != 65535 {
		t.Error("-p- is not every port")
	}
	for _, bad := range []string{"0", "70000", "5-3", "x", ""} {
		if _, err := ParsePorts(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"22,80", "1-1024", "-", "8000-8100,9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ports, err := ParsePorts(s)
		if err != nil {
			return
		}
		for i, p := range ports {
			if p == 0 || i > 0 && ports[i-1] >= p {
				t.Fatalf("ports not sorted, unique and non-zero: %v", ports[:min(len(ports), 10)])
			}
		}
	})
}
