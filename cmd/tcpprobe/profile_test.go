package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tcpprobe/tcpprobe/handshake"
	"github.com/tcpprobe/tcpprobe/lab"
	"github.com/tcpprobe/tcpprobe/lab/labtest"
	"github.com/tcpprobe/tcpprobe/rulebook"
	"github.com/tcpprobe/tcpprobe/send"
)

// TestLabProfiles: each Linux profile changes the wire as its sysctl says,
// and the rulebook judges the changed handshake right: a SYN-ACK may leave
// out what our SYN offered (options-offered holds), a cookie SYN-ACK
// without timestamps loses SACK and window scaling, an ECN setup SYN gets
// an ECN-setup SYN-ACK. (rfc1337 changes only what a RST does to the
// target's TIME_WAIT: its sysctl is checked, its wire effect is not.)
func TestLabProfiles(t *testing.T) {
	t.Parallel()
	for i, c := range []struct {
		profiles []string
		check    func(t *testing.T, l *lab.Lab)
	}{
		{[]string{"no-timestamps"}, func(t *testing.T, l *lab.Lab) {
			n := profileHandshake(t, l)
			if n.Timestamps || !n.SACK || n.PeerWScale < 0 || hasOpt(n.PeerOptions, "TS val") {
				t.Errorf("no-timestamps: %+v", n)
			}
		}},
		{[]string{"no-sack"}, func(t *testing.T, l *lab.Lab) {
			n := profileHandshake(t, l)
			if n.SACK || !n.Timestamps || hasOpt(n.PeerOptions, "sackOK") {
				t.Errorf("no-sack: %+v", n)
			}
		}},
		{[]string{"no-wscale"}, func(t *testing.T, l *lab.Lab) {
			n := profileHandshake(t, l)
			if n.PeerWScale != -1 || !n.SACK || hasOpt(n.PeerOptions, "wscale") {
				t.Errorf("no-wscale: %+v", n)
			}
		}},
		{[]string{"syncookies"}, func(t *testing.T, l *lab.Lab) {
			// With timestamps the cookie keeps SACK and window scaling in
			// the TS value: the SYN-ACK offers them all.
			n := profileHandshake(t, l)
			if !n.SACK || !n.Timestamps || n.PeerWScale < 0 {
				t.Errorf("syncookies: %+v", n)
			}
		}},
		{[]string{"syncookies", "no-timestamps"}, func(t *testing.T, l *lab.Lab) {
			// Without timestamps a cookie has nowhere to keep them: MSS only.
			n := profileHandshake(t, l)
			if n.SACK || n.Timestamps || n.PeerWScale != -1 || n.PeerMSS == 0 {
				t.Errorf("syncookies without timestamps: %+v", n)
			}
		}},
		// tcp_ecn=1 also makes the target ask for ECN on connections it
		// opens, which the lab's servers never do; what a probe sees is the
		// answer to an ECN-setup SYN (the same under Linux's default 2).
		{[]string{"ecn"}, func(t *testing.T, l *lab.Lab) {
			r := tcpprobe(t, "send", "--json", "-F", "SEC", target(l.Target4, lab.PortEcho))
			var res send.Result
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Reply == nil {
				t.Fatalf("ECN setup SYN: exit %d %v %s", r.code, err, r.stdout)
			}
			if f := strings.Split(res.Reply.Flags, ","); len(f) != 3 || !slices.Contains(f, "SYN") || !slices.Contains(f, "ACK") || !slices.Contains(f, "ECE") {
				t.Errorf("ECN setup SYN answered with %s, want SYN, ACK and ECE without CWR (RFC 3168 6.1.1)", res.Reply.Flags)
			}
		}},
		{[]string{"rfc1337"}, func(t *testing.T, l *lab.Lab) {}}, // the sysctl, checked below
	} {
		name := strings.Join(c.profiles, "+")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l := labtest.ForTest(t, lab.Config{Name: "prof" + string(rune('a'+i)), Subnet: 130 + i, Profiles: c.profiles})
			if got := l.RunningProfiles(); strings.Join(got, ",") != strings.Join(sorted(c.profiles), ",") {
				t.Fatalf("profiles running %v, want %v", got, c.profiles)
			}
			c.check(t, l)
		})
	}
}

// profileHandshake runs a handshake offering every option and checks that
// every applicable rule passed; it returns what was negotiated.
func profileHandshake(t *testing.T, l *lab.Lab) *handshake.Negotiated {
	t.Helper()
	res := hsJSON(t, exitOK, "--time-wait", "100ms", target(l.Target4, lab.PortEcho))
	for _, v := range res.Rules {
		if v.Result == rulebook.Fail {
			t.Errorf("rule %s failed: %s", rulebook.Rules[v.Rule].ID, v.Detail)
		}
	}
	if res.Negotiated == nil {
		t.Fatal("nothing negotiated")
	}
	return res.Negotiated
}

func hasOpt(opts []string, prefix string) bool {
	for _, o := range opts {
		if strings.HasPrefix(o, prefix) {
			return true
		}
	}
	return false
}
