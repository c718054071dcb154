package main

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/tcpprobe/tcpprobe/lab/labtest"

	"github.com/tcpprobe/tcpprobe/trace"
)

// TestTraceThroughRouters traces through a chain of three router
// namespaces: exactly three hops answer with time exceeded, then the target.
func TestTraceThroughRouters(t *testing.T) {
	t.Parallel()
	c := labtest.Chain(t, "trc", 70, 3, 8080)
	for _, hops := range [][]netip.Addr{c.Hops4, c.Hops6} {
		tgt := hops[len(hops)-1]
		r := tcpprobe(t, "trace", "--json", "-w", "500ms", netip.AddrPortFrom(tgt, 8080).String())
		if r.code != exitOK {
			t.Fatalf("trace to %v: exit %d: %s %s", tgt, r.code, r.stdout, r.stderr)
		}
		var got []trace.Hop
		sc := bufio.NewScanner(strings.NewReader(r.stdout))
		for sc.Scan() {
			var h trace.Hop
			json.Unmarshal(sc.Bytes(), &h)
			got = append(got, h)
		}
		if len(got) != 4 {
			t.Fatalf("%d hops, want 3 routers and the target: %s", len(got), r.stdout)
		}
		for i, h := range got {
			for _, p := range h.Probes {
				want := "time-exceeded"
				if i == 3 {
					want = "syn-ack"
				}
				if p.From != hops[i].String() || p.What != want {
					t.Errorf("hop %d: %+v, want %s from %s", i+1, p, want, hops[i])
				}
			}
		}
		if !got[3].Final {
			t.Error("last hop not final")
		}
	}
	// A closed port answers with RST at the last hop.
	r := tcpprobe(t, "trace", "-w", "500ms", netip.AddrPortFrom(c.Target4, 9).String())
	if r.code != exitOK || !strings.Contains(r.stdout, "[rst]") || strings.Count(r.stdout, "\n") != 5 {
		t.Errorf("trace to a closed port: %d\n%s", r.code, r.stdout)
	}
}
