package analyze

import (
	"context"
	"encoding/json"
	"os"
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
	run := func(frames bool) ([]string, map[[2]int64]Flag, *Stats) {
		var mu sync.Mutex
		var conns []string
		flags := map[[2]int64]Flag{}
		cfg := Config{Workers: 3, OnPacket: func(p *PacketInfo) {
			mu.Lock()
			flags[[2]int64{int64(p.File), p.Frame}] = p.Analysis
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

// TestWorkersDoNotChangeResults analyzes every test capture with 1, 2 and
// 3 workers: the connections (as JSON, in any order) and the per-packet
// flags must be the same.
func TestWorkersDoNotChangeResults(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testpaths.ZeekPcaps(t), "*.pcap*"))
	slices.Sort(files)
	run := func(workers int) ([]string, map[[2]int64]Flag) {
		var mu sync.Mutex
		var conns []string
		flags := map[[2]int64]Flag{}
		cfg := Config{Workers: workers, OnPacket: func(p *PacketInfo) {
			mu.Lock()
			flags[[2]int64{int64(p.File), p.Frame}] = p.Analysis
			mu.Unlock()
		}}
		if _, err := New(cfg).ReadFiles(context.Background(), files, func(c *Conn) {
			b, _ := json.Marshal(c)
			conns = append(conns, string(b))
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(conns)
		return conns, flags
	}
	c1, f1 := run(1)
	for _, n := range []int{2, 3} {
		cn, fn := run(n)
		if !slices.Equal(c1, cn) {
			for i := range min(len(c1), len(cn)) {
				if c1[i] != cn[i] {
					t.Fatalf("%d workers: %d connections (1 worker: %d); first difference:\n%s\n%s", n, len(cn), len(c1), c1[i], cn[i])
				}
			}
			t.Fatalf("%d workers: %d connections, 1 worker: %d", n, len(cn), len(c1))
		}
		for k, f := range f1 {
			if fn[k] != f {
				t.Errorf("%d workers: file %d frame %d: %v, 1 worker: %v", n, k[0], k[1], fn[k], f)
			}
		}
	}
}

// TestFilesAreSeparateCaptures: the same capture read twice in one run
// gives every connection twice, each naming its file, frames numbered
// from 1 in each; with Merge the two copies are one capture.
func TestFilesAreSeparateCaptures(t *testing.T) {
	f := filepath.Join(testpaths.ZeekPcaps(t), "http-get.pcap")
	var conns []*Conn
	st, err := New(Config{Workers: 2}).ReadFiles(context.Background(), []string{f, f}, func(c *Conn) { conns = append(conns, c) })
	if err != nil || len(conns) != 2 || st.Frames != 28 {
		t.Fatalf("%v: %d connections, %d frames", err, len(conns), st.Frames)
	}
	for _, c := range conns {
		if c.File != f || c.FirstPacket != 1 || c.History != "ShADadFf" || c.OrigPkts+c.RespPkts != 14 {
			t.Errorf("connection %s: file %q first packet %d history %s", c.UID, c.File, c.FirstPacket, c.History)
		}
	}
	conns = nil
	if _, err := New(Config{Workers: 2, Merge: true}).ReadFiles(context.Background(), []string{f, f}, func(c *Conn) { conns = append(conns, c) }); err != nil {
		t.Fatal(err)
	}
	if len(conns) != 1 || conns[0].OrigPkts+conns[0].RespPkts != 28 || conns[0].File != "" {
		t.Errorf("merged: %d connections (want 1 of 28 packets): %+v", len(conns), conns)
	}
}

// TestCutShortCaptureIsAnalyzed: a capture cut inside its last record is
// analyzed to the last whole packet, reported in Stats.CutShort, and the
// next file is still read.
func TestCutShortCaptureIsAnalyzed(t *testing.T) {
	src := filepath.Join(testpaths.ZeekPcaps(t), "http-get.pcap")
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	os.WriteFile(cut, raw[:len(raw)-10], 0o644)
	for _, workers := range []int{1, 2} {
		var conns []*Conn
		st, err := New(Config{Workers: workers}).ReadFiles(context.Background(), []string{cut, src}, func(c *Conn) { conns = append(conns, c) })
		if err != nil || len(st.CutShort) != 1 || st.CutShort[0].File != cut || st.CutShort[0].After != 13 || len(conns) != 2 || st.Frames != 27 {
			t.Errorf("%d workers: %v, cut %+v, %d connections, %d frames", workers, err, st.CutShort, len(conns), st.Frames)
		}
	}
}
