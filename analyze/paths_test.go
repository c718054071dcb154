package analyze

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/tcpprobe/tcpprobe/internal/testpaths"
)

// TestChunkAndFramePathsAgree analyzes every shared capture (classic pcap
// and pcapng mixed, as one run) twice: classic pcap files in shared
// chunks, and every file frame by frame (a filter that keeps everything
// forces that path). Connections, per-packet flags and totals must be
// identical. The chunked run hands every result back with Release, so a
// reused result that kept anything of its last connection shows too.
func TestChunkAndFramePathsAgree(t *testing.T) {
	dir := testpaths.ZeekPcaps(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	slices.Sort(files)
	if len(files) < 10 {
		t.Fatalf("only %d shared captures", len(files))
	}
	run := func(frames bool) ([]string, map[int64]Flag, *Stats) {
		var mu sync.Mutex
		var conns []string
		flags := map[int64]Flag{}
		cfg := Config{Workers: 3, OnPacket: func(num int64, f Flag) {
			mu.Lock()
			flags[num] = f
			mu.Unlock()
		}}
		if frames {
			cfg.Filter = func([]byte, int) bool { return true }
		}
		st, err := New(cfg).ReadFiles(context.Background(), files, func(c *Conn) {
			b, _ := json.Marshal(c)
			conns = append(conns, string(b))
			if !frames {
				Release(c)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(conns)
		return conns, flags, st
	}
	c1, f1, s1 := run(false)
	c2, f2, s2 := run(true)
	if len(c1) < 25 || len(f1) < 1000 {
		t.Fatalf("only %d connections and %d packets", len(c1), len(f1))
	}
	if !slices.Equal(c1, c2) {
		t.Errorf("connections differ: %d chunked, %d by frame", len(c1), len(c2))
		for i := range min(len(c1), len(c2)) {
			if c1[i] != c2[i] {
				t.Fatalf("first difference:\n%s\n%s", c1[i], c2[i])
			}
		}
	}
	if len(f1) != len(f2) {
		t.Errorf("flags for %d packets chunked, %d by frame", len(f1), len(f2))
	}
	for n, f := range f1 {
		if f2[n] != f {
			t.Errorf("packet %d: %v chunked, %v by frame", n, f, f2[n])
		}
	}
	b1, _ := json.Marshal(s1)
	b2, _ := json.Marshal(s2)
	if string(b1) != string(b2) || s1.First != s2.First || s1.Last != s2.Last || s1.NonIP != s2.NonIP {
		t.Errorf("stats differ:\n%s\n%s", b1, b2)
	}
}
