package main

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tcpprobe/tcpprobe/lab"
	"github.com/tcpprobe/tcpprobe/lab/labtest"

	"github.com/tcpprobe/tcpprobe/internal/tsharktest"
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
	// A closed port answers with RST at the last hop; --write keeps our 12
	// probes and the 12 answers, every checksum good in tshark.
	pcap := filepath.Join(t.TempDir(), "trace.pcap")
	r := tcpprobe(t, "trace", "-w", "500ms", "--write", pcap, netip.AddrPortFrom(c.Target4, 9).String())
	if r.code != exitOK || !strings.Contains(r.stdout, "[rst]") || strings.Count(r.stdout, "\n") != 5 {
		t.Errorf("trace to a closed port: %d\n%s", r.code, r.stdout)
	}
	tsharktest.AllValid(t, pcap, 24)
}

// TestTraceMods puts middleboxes into a chain of three routers: the first,
// on forwarding, clamps the SYN's MSS, strips SACK-permitted and bleaches
// DSCP and ECN; the second strips timestamps; the third rewrites our
// source port as it receives the packet (a stateless port map). A router
// quotes our SYN before its forward hook runs, so the first router's
// changes are first seen in the second router's quote, the second's in
// the third's; the port map, done before routing, shows in the third
// router's own quote. The quotes are matched by sequence number, so the
// port map does not hide the third hop.
func TestTraceMods(t *testing.T) {
	t.Parallel()
	c := labtest.Chain(t, "trmod", 72, 3, 8080)
	for hop, actions := range map[int][]string{1: {"mss=1200", "strip=sack", "ecn=bleach", "dscp=0"}, 2: {"strip=ts"}, 3: {"portmap"}} {
		if err := c.Middlebox(hop, actions); err != nil {
			t.Fatal(err)
		}
	}
	for _, tgt := range []netip.Addr{c.Target4, c.Target6} {
		hops := traceModsJSON(t, netip.AddrPortFrom(tgt, 8080).String())
		if len(hops) != 4 || !hops[3].Final {
			t.Fatalf("%v: %d hops", tgt, len(hops))
		}
		first := []string{"mss 1460->1200", "removed sackok", "dscp 10->0", "ecn ect0->not-ect"}
		for i, h := range hops[:3] {
			for _, p := range h.Probes {
				var got []string
				sport := false
				for _, m := range p.Mods {
					got = append(got, m.String())
					sport = sport || m.Field == "tcp.sport"
				}
				want := map[int][]string{0: nil, 1: first, 2: append(slices.Clone(first), "removed ts")}[i]
				for _, w := range want {
					if !slices.Contains(got, w) {
						t.Errorf("%v hop %d: %v lacks %q", tgt, i+1, got, w)
					}
				}
				if len(got) != len(want)+map[bool]int{true: 1}[i == 2] || sport != (i == 2) {
					t.Errorf("%v hop %d: %v, want %v and the source port only at hop 3", tgt, i+1, got, want)
				}
			}
		}
	}
	// The text output names the hop where each change is first seen.
	r := tcpprobe(t, "trace", "--mods", "-w", "500ms", netip.AddrPortFrom(c.Target4, 8080).String())
	if r.code != exitOK || !strings.Contains(r.stdout, "first seen at hop 2: ") || !strings.Contains(r.stdout, "first seen at hop 3: ") ||
		!strings.Contains(r.stdout, "removed ts") || strings.Count(r.stdout, "first seen") != 2 {
		t.Errorf("trace --mods: exit %d\n%s", r.code, r.stdout)
	}
}

// TestLabChainCommand: lab up --hops builds the routers with a middlebox
// and the target's servers, status lists the hops, trace --mods sees the
// middlebox, down removes it all; bad chains are refused by name.
func TestLabChainCommand(t *testing.T) {
	t.Parallel()
	needRoot(t)
	args := []string{"--name", "lchn", "--subnet", "75"}
	t.Cleanup(func() { tcpprobe(t, append([]string{"lab", "down"}, args...)...) })
	r := tcpprobe(t, append([]string{"lab", "up", "--hops", "2", "--middlebox", "1:dscp=0"}, args...)...)
	if r.code != exitOK || !strings.Contains(r.stdout, "hop 3  target  198.19.75.10") {
		t.Fatalf("lab up --hops: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := tcpprobe(t, append([]string{"lab", "status"}, args...)...); r.code != exitOK || !strings.Contains(r.stdout, "servers running") {
		t.Errorf("status: exit %d\n%s", r.code, r.stdout)
	}
	r = tcpprobe(t, "trace", "--mods", "-w", "300ms", "198.19.75.10:7")
	if r.code != exitOK || !strings.Contains(r.stdout, "first seen at hop 2: dscp 10->0") || !strings.Contains(r.stdout, "[syn-ack]") {
		t.Errorf("trace --mods through the lab's chain: exit %d\n%s", r.code, r.stdout)
	}
	if r := tcpprobe(t, append([]string{"lab", "down"}, args...)...); r.code != exitOK {
		t.Errorf("down: exit %d %s", r.code, r.stderr)
	}
	if _, ok := lab.FindChain("lchn", 75); ok {
		t.Error("the chain is still there after lab down")
	}
	for _, bad := range [][]string{
		{"--middlebox", "1:mss=1200"},
		{"--hops", "9"},
		{"--hops", "2", "--middlebox", "3:portmap"},
		{"--hops", "2", "--middlebox", "1:teleport"},
	} {
		if r := tcpprobe(t, append(append([]string{"lab", "up"}, args...), bad...)...); r.code != exitUsage {
			t.Errorf("lab up %v: exit %d %s", bad, r.code, r.stderr)
		}
	}
}

// TestTraceAfterLastQuote: a middlebox at the last router rewrites the SYN
// on forwarding, after it quoted it, so no quote shows the change; the
// SYN-ACK does (an MSS clamped to 1200, no window scale), reported as
// changed after the last quoting hop, over IPv4 and IPv6. --opt, --tos and
// --ecn shape the probes: tshark sees ECN-setup SYNs, and the comparison
// starts from the MSS we chose.
func TestTraceAfterLastQuote(t *testing.T) {
	t.Parallel()
	c := labtest.Chain(t, "trafq", 78, 2, 8080)
	if err := c.Middlebox(2, []string{"strip=ws", "mss=1200"}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) []trace.Hop {
		t.Helper()
		hops := traceModsJSON(t, args...)
		if len(hops) != 3 || !hops[2].Final {
			t.Fatalf("%v: %d hops", args, len(hops))
		}
		for _, h := range hops[:2] {
			for _, p := range h.Probes {
				if len(p.Mods) > 0 {
					t.Errorf("hop %d quotes a change: %v", h.TTL, p.Mods)
				}
			}
		}
		return hops
	}
	after := func(h trace.Hop) []string {
		var out []string
		for _, p := range h.Probes {
			for _, m := range p.AfterLastQuote {
				if !slices.Contains(out, m.String()) {
					out = append(out, m.String())
				}
			}
		}
		slices.Sort(out)
		return out
	}
	for _, tgt := range []netip.Addr{c.Target4, c.Target6} {
		hops := run(netip.AddrPortFrom(tgt, 8080).String())
		if got := after(hops[2]); !slices.Equal(got, []string{"mss 1460->1200", "removed wscale"}) {
			t.Errorf("%v: SYN-ACK vs last quote %v", tgt, got)
		}
	}
	pcap := filepath.Join(t.TempDir(), "ecn.pcap")
	hops := run("--ecn", "--tos", "0", "--opt", "mss=1400,sackok", "--write", pcap, netip.AddrPortFrom(c.Target4, 8080).String())
	if got := after(hops[2]); !slices.Equal(got, []string{"mss 1400->1200"}) {
		t.Errorf("--opt mss=1400: SYN-ACK vs last quote %v", got)
	}
	tsharktest.Need(t)
	syns := 0
	for _, f := range tsharktest.Frames(t, pcap) {
		if strings.Contains(f.Flags, "S") && !strings.Contains(f.Flags, "A") {
			syns++
			if !strings.Contains(f.Flags, "C") || !strings.Contains(f.Flags, "E") {
				t.Errorf("frame %s: flags %q, want an ECN-setup SYN", f.Number, f.Flags)
			}
		}
	}
	if syns != 15 { // 9 probes, and the 6 routers' quotes of them (tshark decodes the quoted header)
		t.Errorf("%d SYNs in the pcap, want 15", syns)
	}
}

// traceModsJSON runs trace --mods --json (exit 0 wanted) and returns its hops.
func traceModsJSON(t *testing.T, args ...string) []trace.Hop {
	t.Helper()
	r := tcpprobe(t, append([]string{"trace", "--mods", "--json", "-w", "500ms"}, args...)...)
	if r.code != exitOK {
		t.Fatalf("trace %v: exit %d: %s %s", args, r.code, r.stdout, r.stderr)
	}
	var hops []trace.Hop
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var h trace.Hop
		if err := json.Unmarshal([]byte(line), &h); err != nil {
			t.Fatal(err)
		}
		hops = append(hops, h)
	}
	return hops
}
