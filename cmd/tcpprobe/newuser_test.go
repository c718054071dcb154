package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tcpprobe/tcpprobe/endpoint"
	"github.com/tcpprobe/tcpprobe/keepalive"
	"github.com/tcpprobe/tcpprobe/lab"
	"github.com/tcpprobe/tcpprobe/lab/labtest"
	"github.com/tcpprobe/tcpprobe/send"
)

// TestSendsWhatItIsTold: a crafting tool sends the numbers it is given —
// one SYN with --retries 0, TTL 0 with --ttl 0 — and refuses the ones it
// cannot send, with the flag's name.
func TestSendsWhatItIsTold(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "told", Subnet: 17})
	res := hsJSON(t, exitNoAnswer, "--retries", "0", "--timeout", "200ms", target(l.Target4, lab.PortDropped))
	if res.Outcome != endpoint.Filtered || res.SYNRetries != 0 {
		t.Errorf("--retries 0: outcome %s, %d SYN retransmissions, want none", res.Outcome, res.SYNRetries)
	}
	var syns int
	for _, r := range res.Ladder {
		if r.Packet.Flags == "SYN" {
			syns++
		}
	}
	if syns != 1 {
		t.Errorf("--retries 0 sent %d SYNs, want 1", syns)
	}
	// (On a direct link the target still answers: TTL matters only to
	// routers.)
	sent := jsonResult[send.Result](t, exitOK, "send", "--ttl", "0", "--timeout", "200ms", target(l.Target4, lab.PortEcho))
	if sent.Sent.TTL != 0 {
		t.Errorf("--ttl 0 sent TTL %d", sent.Sent.TTL)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"send", "--seq", "-5", "127.0.0.1:1"}, "--seq -5"},
		{[]string{"send", "--count", "0", "127.0.0.1:1"}, "--count 0"},
		{[]string{"analyze", "--stream", "-1", "x.pcap"}, "--stream -1"},
		{[]string{"handshake", "--color", "purple", "127.0.0.1:1"}, "--color"},
		{[]string{"scan", "-p", "1", "127.0.0.1", "::1"}, "mix IPv4 and IPv6"},
		{[]string{"send", "--opt", "mss=abc", "127.0.0.1:1"}, "mss=N takes 0-65535"},
	} {
		if r := tcpprobe(t, c.args...); r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

// TestOneConsistentAnswer: --close none reports the peer state the final
// states show; keepalive --observe against a peer without keepalive says
// so and exits 3.
func TestOneConsistentAnswer(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "consist", Subnet: 18})
	res := hsJSON(t, exitOK, "--close", "none", target(l.Target4, lab.PortEcho))
	if res.Close == nil || res.Close.Note != "left the peer in "+res.PeerState.String() {
		t.Errorf("--close none: note %q, final peer state %v", res.Close.Note, res.PeerState)
	}
	r := tcpprobe(t, "keepalive", "--json", "--observe", "--max-wait", "1500ms", target(l.Target4, lab.PortDiscard))
	var ka keepalive.Result
	if err := json.Unmarshal([]byte(r.stdout), &ka); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if r.code != exitNoAnswer || !ka.NoPeerProbe || !strings.Contains(ka.Note, "no keepalive probe") {
		t.Errorf("observe without peer keepalive: exit %d, %+v", r.code, ka)
	}
}
