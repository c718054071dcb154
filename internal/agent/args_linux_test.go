package agent

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

func TestInt(t *testing.T) {
	for in, want := range map[string]int64{
		"3": 3, "0x10": 16, "[1]": 1, " [ 7 ] ": 7, "SOCK_STREAM": unix.SOCK_STREAM,
		"O_RDWR|O_NONBLOCK": unix.O_RDWR | unix.O_NONBLOCK, "SOL_SOCKET": unix.SOL_SOCKET, "-1": -1,
	} {
		if got, err := Int(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "SO_BOGUS", "3|x", "[", "1.5"} {
		if _, err := Int(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestLinger(t *testing.T) {
	for in, want := range map[string][2]int32{"{onoff=1, linger=0}": {1, 0}, "{l_onoff=0,l_linger=5}": {0, 5}} {
		if on, l, err := Linger(in); err != nil || on != want[0] || l != want[1] {
			t.Errorf("%q: %d %d %v", in, on, l, err)
		}
	}
	for _, bad := range []string{"{onoff=1}", "{onoff=x, linger=0}", "{a=1, b=2}", "1"} {
		if _, _, err := Linger(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzArgs(f *testing.F) {
	f.Add("SOCK_STREAM|SOCK_NONBLOCK")
	f.Add("{onoff=1, linger=0}")
	f.Fuzz(func(t *testing.T, s string) {
		// What reads, reads the same inside brackets (setsockopt's [1]),
		// and a linger read writes back to itself.
		if v, err := Int(s); err == nil {
			if w, err := Int("[" + s + "]"); err != nil || w != v {
				t.Fatalf("%q is %d, [%s] is %d %v", s, v, s, w, err)
			}
		}
		if on, l, err := Linger(s); err == nil {
			if on2, l2, err := Linger(fmt.Sprintf("{onoff=%d, linger=%d}", on, l)); err != nil || on2 != on || l2 != l {
				t.Fatalf("%q: %d %d, written back %d %d %v", s, on, l, on2, l2, err)
			}
		}
	})
}
