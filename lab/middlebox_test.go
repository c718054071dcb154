//go:build linux

package lab

import (
	"strings"
	"testing"
)

func TestParseMiddlebox(t *testing.T) {
	for _, tt := range []struct {
		in      string
		hop     int
		forward int // rules in the forward hook
		pre     int // and in prerouting
		bad     bool
	}{
		{"2:mss=1200,strip=ts", 2, 2, 0, false},
		{"1:ecn=bleach,dscp=0", 1, 4, 0, false}, // IPv4 and IPv6 each
		{"3:portmap", 3, 0, 4, false},
		{"1:strip=sack,strip=ws", 1, 2, 0, false},
		{"0:mss=1200", 0, 0, 0, true},
		{"2", 0, 0, 0, true},
		{"2:mss=20", 0, 0, 0, true},
		{"2:strip=all", 0, 0, 0, true},
		{"2:ecn=ce", 0, 0, 0, true},
		{"2:dscp=64", 0, 0, 0, true},
		{"2:nat", 0, 0, 0, true},
	} {
		hop, actions, err := ParseMiddlebox(tt.in)
		if (err != nil) != tt.bad {
			t.Errorf("%q: error %v", tt.in, err)
			continue
		}
		if tt.bad {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("%q: a multi-line error", tt.in)
			}
			continue
		}
		fwd, pre, _ := middleboxRules(actions, "tcx0r", "198.19.0.1", "2001:db8::1")
		if hop != tt.hop || len(fwd) != tt.forward || len(pre) != tt.pre {
			t.Errorf("%q: hop %d, %d forward and %d prerouting rules %v %v", tt.in, hop, len(fwd), len(pre), fwd, pre)
		}
	}
}

// FuzzParseMiddlebox: any argument is read or refused with one line.
func FuzzParseMiddlebox(f *testing.F) {
	f.Add("2:mss=1200,strip=ts")
	f.Add("3:portmap")
	f.Add(":")
	f.Fuzz(func(t *testing.T, s string) {
		hop, actions, err := ParseMiddlebox(s)
		if err == nil && (hop < 1 || len(actions) == 0) {
			t.Fatalf("%q: hop %d actions %v", s, hop, actions)
		}
	})
}
