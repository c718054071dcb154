//go:build linux

package analyze

import (
	"context"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/lab/labtest"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/lab"
)

// recordLab captures on the lab's veth while traffic runs, and writes the
// frames to a pcap file.
func recordLab(t *testing.T, l *lab.Lab, traffic func()) string {
	t.Helper()
	live, err := capture.OpenLiveWith(l.HostIface, "tcp or icmp or icmp6", capture.LiveOptions{BufferSize: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "lab.pcap")
	w, err := capture.CreateFile(path, live.LinkType())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			f, err := live.Next(ctx)
			if err != nil {
				return
			}
			w.Write(f)
		}
	}()
	traffic()
	time.Sleep(100 * time.Millisecond)
	cancel()
	wg.Wait()
	live.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func analyzeFile(t *testing.T, path string) map[string]*Conn {
	t.Helper()
	out := map[string]*Conn{}
	var mu sync.Mutex
	if _, err := New(Config{}).ReadFiles(context.Background(), []string{path}, func(c *Conn) {
		mu.Lock()
		out[c.Resp+" "+c.Orig] = c
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLabTruth makes connections whose course is known through real Linux
// stacks, captures them, and checks the analysis classifies each exactly.
func TestLabTruth(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "antruth", Subnet: 40, KeepIdle: time.Second, KeepInterval: time.Second})
	type want struct {
		state, handshake, close, closeBy string
	}
	cases := map[string]want{}
	dial := func(port int) net.Conn {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(l.Target4, uint16(port)).String(), 500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	key := func(c net.Conn) string { return c.RemoteAddr().String() + " " + c.LocalAddr().String() }
	var keepalive string
	path := recordLab(t, l, func() {
		// Echo, client closes first: a normal close.
		c := dial(lab.PortEcho)
		c.Write([]byte("hello"))
		io.ReadFull(c, make([]byte, 5))
		c.Close()
		cases[key(c)] = want{"SF", HSComplete, "", "orig"}
		// The server closes first.
		c = dial(lab.PortCloseFirst)
		io.ReadAll(c)
		c.Close()
		cases[key(c)] = want{"SF", HSComplete, "", "resp"}
		// Abort with RST (SO_LINGER 0).
		c = dial(lab.PortDiscard)
		c.Write([]byte("x"))
		time.Sleep(20 * time.Millisecond)
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
		cases[key(c)] = want{"RSTO", HSComplete, "reset", "orig"}
		// Keepalive: the server probes after 1 s idle, our kernel answers.
		c = dial(lab.PortKeepalive)
		keepalive = key(c)
		time.Sleep(1800 * time.Millisecond)
		c.Close()
		cases[key(c)] = want{"SF", HSComplete, "", "orig"}
		time.Sleep(100 * time.Millisecond)
	})
	conns := analyzeFile(t, path)
	if len(cases) != 4 {
		t.Fatalf("%d cases", len(cases))
	}
	for k, w := range cases {
		c := conns[k]
		if c == nil {
			t.Errorf("connection %s not found in the analysis", k)
			continue
		}
		if c.ConnState != w.state {
			for kk, cc := range conns {
				t.Logf("%s: %s %s %d+%d pkts", kk, cc.ConnState, cc.History, cc.OrigPkts, cc.RespPkts)
			}
		}
		if c.ConnState != w.state || c.Handshake != w.handshake || (w.close != "" && c.Close != w.close) || c.CloseBy != w.closeBy {
			t.Errorf("%s: state %s handshake %s close %s by %s; want %+v (history %s)", k, c.ConnState, c.Handshake, c.Close, c.CloseBy, w, c.History)
		}
		if len(c.Violations) > 0 {
			t.Errorf("%s: a real Linux connection broke rules: %+v", k, c.Violations)
		}
	}
	if ka := conns[keepalive]; ka == nil || ka.Anomalies.Get(FlagKeepAlive) < 1 || ka.Anomalies.Get(FlagKeepAliveACK) < 1 {
		t.Errorf("keepalive connection: %+v", ka)
	}
	// And tshark agrees on every packet's analysis flags.
	pct, diffs := agreement(ourPacketFlags(t, path), tsharkPacketFlags(t, path))
	if pct < 100 {
		t.Errorf("tshark agreement %.2f%%: %v", pct, diffs)
	}
}

// TestLabAttempts checks connection attempts that never open.
func TestLabAttempts(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "anatt", Subnet: 41})
	path := recordLab(t, l, func() {
		for _, p := range []int{lab.PortClosed, lab.PortDropped, lab.PortRejected} {
			net.DialTimeout("tcp", netip.AddrPortFrom(l.Target4, uint16(p)).String(), 1500*time.Millisecond)
		}
	})
	byPort := map[string]*Conn{}
	for _, c := range analyzeFile(t, path) {
		_, port, _ := net.SplitHostPort(c.Resp)
		byPort[port] = c
	}
	for port, w := range map[string][2]string{"1": {"REJ", HSRefused}, "2": {"S0", HSNoAnswer}, "3": {"S0", HSNoAnswer}} {
		c := byPort[port]
		if c == nil || c.ConnState != w[0] || c.Handshake != w[1] {
			t.Errorf("port %s: %+v, want %v", port, c, w)
		}
	}
	if c := byPort["2"]; c != nil && c.Anomalies.Get(FlagRetransmission) < 1 {
		t.Errorf("dropped port: no SYN retransmission counted: %+v", c.Anomalies)
	}
}

// TestLabLoss drops a tenth of a bulk transfer's segments with nftables in
// the lab; retransmissions, duplicate ACKs and out-of-order segments must
// match tshark's per packet.
func TestLabLoss(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "anloss", Subnet: 42})
	if err := l.NS.Run("nft", "add", "rule", "inet", "tplab", "in", "tcp", "dport", "9", "meta", "length", "gt", "100", "numgen", "random", "mod", "10", "==", "0", "drop"); err != nil {
		t.Fatal(err)
	}
	path := recordLab(t, l, func() {
		c, err := net.Dial("tcp", netip.AddrPortFrom(l.Target4, lab.PortDiscard).String())
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1<<20)
		for i := 0; i < 4; i++ {
			c.Write(buf)
		}
		c.Close()
		time.Sleep(500 * time.Millisecond)
	})
	conns := analyzeFile(t, path)
	if len(conns) != 1 {
		t.Fatalf("%d connections", len(conns))
	}
	for _, c := range conns {
		if c.Anomalies.Get(FlagRetransmission) == 0 || c.Anomalies.Get(FlagDuplicateACK) == 0 {
			t.Errorf("loss not seen: %+v", c.Anomalies)
		}
	}
	ours, theirs := ourPacketFlags(t, path), tsharkPacketFlags(t, path)
	pct, diffs := agreement(ours, theirs)
	t.Logf("lossy bulk transfer: %d packets, %.2f%% agree with tshark", len(theirs), pct)
	if pct < 99 {
		t.Errorf("tshark agreement %.2f%%: %v", pct, diffs[:min(10, len(diffs))])
	}
}
