package report

import (
	"container/heap"
	"testing"

	"github.com/tcpprobe/tcpprobe/analyze"
)

// TestTableKeepsEarliest checks the heap that bounds the table: with more
// connections than rows, the earliest ones are kept.
func TestTableKeepsEarliest(t *testing.T) {
	var h LatestFirst
	for _, first := range []int64{50, 10, 40, 30, 20, 60, 5} {
		c := &analyze.Conn{FirstPacket: first}
		if len(h) < 3 {
			heap.Push(&h, c)
		} else if h[0].FirstPacket > c.FirstPacket {
			h[0] = c
			heap.Fix(&h, 0)
		}
	}
	got := map[int64]bool{}
	for _, c := range h {
		got[c.FirstPacket] = true
	}
	if len(got) != 3 || !got[5] || !got[10] || !got[20] {
		t.Errorf("kept %v, want 5, 10, 20", got)
	}
}
