package analyze

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/internal/testpaths"
	"github.com/tcpprobe/tcpprobe/ladder"
	"github.com/tcpprobe/tcpprobe/rulebook"
)

func checkJSON(t *testing.T, c *Conn) {
	t.Helper()
	want, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.AppendJSON(nil); string(got) != string(want) {
		t.Fatalf("AppendJSON:\n%s\nencoding/json:\n%s", got, want)
	}
}

// TestAppendJSONMatchesEncodingJSON holds the hand-written encoder to
// encoding/json's bytes for every connection of the shared captures and
// for odd values.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testpaths.ZeekPcaps(t), "*.pcap*"))
	n := 0
	for _, f := range files {
		if _, err := New(Config{Workers: 1}).ReadFiles(context.Background(), []string{f}, func(c *Conn) {
			checkJSON(t, c)
			n++
		}); err != nil {
			t.Fatal(err)
		}
	}
	if n < 40 {
		t.Fatalf("only %d connections checked", n)
	}
	var failed rulebook.Verdict
	if err := json.Unmarshal([]byte(`{"id":"fin-acked","result":"fail","evidence":[1,2],"detail":"d <x>"}`), &failed); err != nil {
		t.Fatal(err)
	}
	odd := []*Conn{
		{},
		{UID: "a<b>&\"c\\", Orig: "\x01\n\u2028", Resp: "é\xff", Start: time.Unix(0, 1).UTC(), DurationS: 1e-7,
			SynRTTms: 5e-7, AckRTTms: 1e21, OrigStates: []string{}, RespStates: []string{"x"}, PortReuse: true, Tunnel: "mpls,gre", Evicted: true},
		{DurationS: 123.456, SynRTTms: -0.001, AckRTTms: 1.5e300, CloseBy: "resp", Complete: 63,
			Violations: []rulebook.Verdict{failed},
			Ladder:     []ladder.Row{{Num: 1, Dir: ladder.Out, Notes: []string{"n"}}}},
	}
	odd[2].Anomalies[3] = 7
	for _, c := range odd {
		checkJSON(t, c)
	}
}

// FuzzAppendJSON compares the hand-written encoder with encoding/json
// for arbitrary strings and numbers.
func FuzzAppendJSON(f *testing.F) {
	f.Add("CabC", "198.18.0.1:1", "[2001:db8::1]:80", "ShADadFf", 0.0039, 0.026, int64(7), true)
	f.Add("<&>", "\x00\xff", "\u2029", "", 1e-7, 1e21, int64(-1), false)
	f.Fuzz(func(t *testing.T, uid, orig, resp, hist string, d, rtt float64, n int64, reuse bool) {
		if math.IsNaN(d) || math.IsInf(d, 0) || math.IsNaN(rtt) || math.IsInf(rtt, 0) {
			return // encoding/json refuses them; never produced
		}
		c := &Conn{UID: uid, Orig: orig, Resp: resp, History: hist, DurationS: d, SynRTTms: rtt, AckRTTms: -rtt,
			OrigPkts: n, MissedBytes: -n, Start: time.Unix(0, n).UTC(), OrigStates: []string{hist}, PortReuse: reuse}
		c.Anomalies[int(uint64(n)%numFlags)] = int(n)
		checkJSON(t, c)
	})
}

// TestReleaseKeepsLadders: a connection with a ladder (--stream) is kept
// by its caller past emit, so Release leaves it alone; others are cleared.
func TestReleaseKeepsLadders(t *testing.T) {
	c := &Conn{UID: "C1", Ladder: []ladder.Row{{Num: 1}}}
	Release(c)
	if c.UID != "C1" || len(c.Ladder) != 1 {
		t.Errorf("a connection with a ladder was recycled: %+v", c)
	}
	d := &Conn{UID: "C2", OrigStates: []string{"CLOSED"}}
	Release(d)
	if d.UID != "" || len(d.OrigStates) != 0 {
		t.Errorf("a released connection kept its values: %+v", d)
	}
}
