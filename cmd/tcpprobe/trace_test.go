package main

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"slices"
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

// TestTraceMods puts a middlebox into a chain of three routers: the first
// router, on forwarding, clamps the SYN's MSS, strips SACK-permitted and
// bleaches DSCP and ECN (nftables, in its forward hook). The first router
// quotes our SYN before its forward hook runs, so every change is first
// seen in the second router's quote, and still in the third's.
func TestTraceMods(t *testing.T) {
	t.Parallel()
	c := labtest.Chain(t, "trmod", 72, 3, 8080)
	rules := `table inet tpmbx {
	chain mb {
		type filter hook forward priority 0; policy accept;
		tcp flags syn tcp option maxseg size set 1200
		tcp flags syn reset tcp option sack-perm
		ip dscp set cs0
		ip ecn set not-ect
		ip6 dscp set cs0
	}
}
`
	cmd := c.Routers[0].Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	for _, tgt := range []netip.Addr{c.Target4, c.Target6} {
		r := tcpprobe(t, "trace", "--mods", "--json", "-w", "500ms", netip.AddrPortFrom(tgt, 8080).String())
		if r.code != exitOK {
			t.Fatalf("trace --mods to %v: exit %d: %s %s", tgt, r.code, r.stdout, r.stderr)
		}
		var hops []trace.Hop
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var h trace.Hop
			if err := json.Unmarshal([]byte(line), &h); err != nil {
				t.Fatal(err)
			}
			hops = append(hops, h)
		}
		if len(hops) != 4 {
			t.Fatalf("%v: %d hops", tgt, len(hops))
		}
		want := []string{"mss 1460->1200", "removed sackok", "dscp 10->0"}
		if tgt.Is4() {
			want = append(want, "ecn ect0->not-ect")
		}
		for i, h := range hops[:3] {
			for _, p := range h.Probes {
				var got []string
				for _, m := range p.Mods {
					got = append(got, m.String())
				}
				if i == 0 && len(got) != 0 {
					t.Errorf("%v hop 1 quotes the SYN before its forward hook: %v", tgt, got)
				}
				if i > 0 {
					for _, w := range want {
						if !slices.Contains(got, w) {
							t.Errorf("%v hop %d: %v lacks %q", tgt, i+1, got, w)
						}
					}
				}
			}
		}
	}
	// The text output names the hop where each change is first seen.
	r := tcpprobe(t, "trace", "--mods", "-w", "500ms", netip.AddrPortFrom(c.Target4, 8080).String())
	if r.code != exitOK || !strings.Contains(r.stdout, "first seen at hop 2: ") || strings.Count(r.stdout, "first seen") != 1 {
		t.Errorf("trace --mods: exit %d\n%s", r.code, r.stdout)
	}
}
