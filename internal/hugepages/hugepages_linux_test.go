//go:build !race

// The race detector allocates differently: this test is about the plain
// runtime.

package hugepages

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// vmFlags returns the VmFlags of the mapping that holds addr.
func vmFlags(t *testing.T, addr uintptr) string {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := strings.Cut(strings.Fields(line)[0], "-"); ok && !strings.HasSuffix(line, ":") && !strings.Contains(lo, ":") {
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = uintptr(a) <= addr && addr < uintptr(b)
				continue
			}
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return line
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return ""
}

// TestPrefer checks that heap memory allocated after
// Prefer lies in a range advised for huge pages (VmFlags "hg"),
// where THP is in madvise mode: it relies on the Go runtime growing the
// heap into the freed range, which this test would notice changing. As in
// the command, the heap must be young: the check runs in a new process.
func TestPrefer(t *testing.T) {
	if !thpAdvised() {
		t.Skip("transparent huge pages not in madvise mode")
	}
	if os.Getenv("TCPPROBE_HUGE_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPrefer$", "-test.v")
		cmd.Env = append(os.Environ(), "TCPPROBE_HUGE_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestPrefer") {
			t.Errorf("in a new process: %v\n%s", err, out)
		}
		return
	}
	Prefer(256 << 20)
	hits := 0
	var keep [][]byte
	for range 16 {
		b := make([]byte, 4<<20)
		b[0] = 1
		keep = append(keep, b)
		if strings.Contains(vmFlags(t, uintptr(unsafe.Pointer(&b[0]))), " hg") {
			hits++
		}
	}
	if hits < 12 {
		t.Errorf("%d of 16 new 4 MB objects lie in memory advised for huge pages", hits)
	}
	_ = keep
}
