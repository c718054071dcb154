//go:build linux

package guard

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/inject"
	"github.com/tcpprobe/tcpprobe/internal/netns"
)

// TestRuleExprs checks the rule against what
//
//	nft add rule inet t out meta mark != 0x74707262 ip saddr 198.18.0.1 ip daddr 198.18.0.2 tcp sport 40000 tcp dport 80 tcp flags & rst != 0 counter drop
//
// compiles to (`nft --debug=netlink` prints the same registers and offsets).
func TestRuleExprs(t *testing.T) {
	for _, tc := range []struct {
		local, remote string
		nfproto       byte
		srcOff, alen  uint32
	}{
		{"198.18.0.1:40000", "198.18.0.2:80", unix.NFPROTO_IPV4, 12, 4},
		{"[2001:db8::1]:40000", "[2001:db8::2]:80", unix.NFPROTO_IPV6, 8, 16},
	} {
		l, r := netip.MustParseAddrPort(tc.local), netip.MustParseAddrPort(tc.remote)
		e := rstRuleExprs(l, r)
		if len(e) != 19 {
			t.Fatalf("%d expressions", len(e))
		}
		check := func(i int, want string) {
			t.Helper()
			if got := fmt.Sprintf("%T %+v", e[i], e[i]); got != want {
				t.Errorf("%s expr %d: %s, want %s", tc.local, i, got, want)
			}
		}
		check(1, fmt.Sprintf("*expr.Cmp &{Op:1 Register:1 Data:%v}", binary.NativeEndian.AppendUint32(nil, inject.Mark)))
		check(3, fmt.Sprintf("*expr.Cmp &{Op:0 Register:1 Data:[%d]}", tc.nfproto))
		check(5, "*expr.Cmp &{Op:0 Register:1 Data:[6]}")
		check(6, fmt.Sprintf("*expr.Payload &{OperationType:0 DestRegister:1 SourceRegister:0 Base:1 Offset:%d Len:%d CsumType:0 CsumOffset:0 CsumFlags:0}", tc.srcOff, tc.alen))
		check(7, fmt.Sprintf("*expr.Cmp &{Op:0 Register:1 Data:%v}", l.Addr().AsSlice()))
		check(8, fmt.Sprintf("*expr.Payload &{OperationType:0 DestRegister:1 SourceRegister:0 Base:1 Offset:%d Len:%d CsumType:0 CsumOffset:0 CsumFlags:0}", tc.srcOff+tc.alen, tc.alen))
		check(9, fmt.Sprintf("*expr.Cmp &{Op:0 Register:1 Data:%v}", r.Addr().AsSlice()))
		check(11, "*expr.Cmp &{Op:0 Register:1 Data:[156 64]}") // 40000
		check(13, "*expr.Cmp &{Op:0 Register:1 Data:[0 80]}")
		check(14, "*expr.Payload &{OperationType:0 DestRegister:1 SourceRegister:0 Base:2 Offset:13 Len:1 CsumType:0 CsumOffset:0 CsumFlags:0}")
		check(16, "*expr.Cmp &{Op:1 Register:1 Data:[0]}")
		if v, ok := e[18].(*expr.Verdict); !ok || v.Kind != expr.VerdictDrop {
			t.Errorf("last expression %v, want drop", e[18])
		}
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, nftables)")
	}
}

func testNS(t *testing.T, name string) (*netns.NS, int) {
	t.Helper()
	needRoot(t)
	ns, err := netns.Recreate(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Delete() })
	f, err := ns.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return ns, int(f.Fd())
}

// nftTables lists the tables in ns with the nft binary, an independent view.
func nftTables(t *testing.T, ns *netns.NS) string {
	t.Helper()
	out, err := ns.Output("nft", "list", "tables")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTableLifecycle(t *testing.T) {
	ns, fd := testNS(t, "tpguard-life")
	g, err := New(InNetNS(fd))
	if err != nil {
		t.Fatal(err)
	}
	l, r := netip.MustParseAddrPort("198.18.0.1:40000"), netip.MustParseAddrPort("198.18.0.2:80")
	if err := g.DropRST(l, r); err != nil {
		t.Fatal(err)
	}
	out, err := ns.Output("nft", "list", "table", "inet", g.Table())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"flags owner", "hook output", "meta mark != 0x74707262", "tcp sport 40000", "tcp dport 80", "198.18.0.2", "drop"} {
		if !strings.Contains(out, want) {
			t.Errorf("nft list table lacks %q:\n%s", want, out)
		}
	}
	// A second rule, then Allow removes it again.
	l2 := netip.MustParseAddrPort("198.18.0.1:40001")
	if err := g.DropRST(l2, r); err != nil {
		t.Fatal(err)
	}
	if err := g.Allow(l2, r); err != nil {
		t.Fatal(err)
	}
	out, _ = ns.Output("nft", "list", "table", "inet", g.Table())
	if strings.Contains(out, "40001") || !strings.Contains(out, "40000") {
		t.Errorf("Allow removed the wrong rule:\n%s", out)
	}
	// An error on the way (mixed address families) leaves the guard usable
	// and closable.
	if err := g.DropRST(l, netip.MustParseAddrPort("[2001:db8::2]:80")); err == nil {
		t.Error("mixed families accepted")
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if out := nftTables(t, ns); strings.Contains(out, TablePrefix) {
		t.Errorf("table left after Close:\n%s", out)
	}
}

// TestTableGoneAfterSIGKILL starts a child process that creates a guard
// and is then killed with SIGKILL: the owner flag must make the kernel
// remove the table.
func TestTableGoneAfterSIGKILL(t *testing.T) {
	ns, _ := testNS(t, "tpguard-kill")
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGuardChild$")
		cmd.Env = append(os.Environ(), "TCPPROBE_GUARD_CHILD="+ns.Name)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "ready ") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child: %q %v", line, err)
		}
		table := strings.TrimSpace(strings.TrimPrefix(line, "ready "))
		if out := nftTables(t, ns); !strings.Contains(out, table) {
			t.Fatalf("child's table %s not present:\n%s", table, out)
		}
		cmd.Process.Signal(sig)
		cmd.Wait()
		var out string
		for i := 0; i < 50; i++ {
			if out = nftTables(t, ns); !strings.Contains(out, table) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if strings.Contains(out, table) {
			t.Errorf("%v: table %s survived its process:\n%s", sig, table, out)
		}
	}
}

// TestGuardChild is the child process of TestTableGoneAfterSIGKILL.
func TestGuardChild(t *testing.T) {
	name := os.Getenv("TCPPROBE_GUARD_CHILD")
	if name == "" {
		t.Skip("helper process")
	}
	f, err := os.Open(netns.Dir + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(InNetNS(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.DropRST(netip.MustParseAddrPort("198.18.0.1:1"), netip.MustParseAddrPort("198.18.0.2:2")); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ready %s\n", g.Table())
	time.Sleep(30 * time.Second)
}

// TestDropsKernelRST sends a hand-made SYN to a real listener inside a
// namespace. Without a guard the kernel answers the SYN-ACK with a RST;
// with one, the RST never reaches the wire and the counter shows it.
func TestDropsKernelRST(t *testing.T) {
	ns, fd := testNS(t, "tpguard-rst")
	var ln net.Listener
	var live *capture.Live
	var sender *inject.Sender
	var res *inject.Reservation
	lo := netip.MustParseAddr("127.0.0.1")
	err := ns.Do(func() (err error) {
		if ln, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
			return err
		}
		if res, err = inject.ReservePort(lo, 0); err != nil {
			return err
		}
		remote := netip.AddrPortFrom(lo, uint16(ln.Addr().(*net.TCPAddr).Port))
		if live, err = capture.OpenLive("lo", capture.ProbeFilter(netip.AddrPortFrom(lo, res.Port), remote)); err != nil {
			return err
		}
		sender, err = inject.NewSender(false)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	defer live.Close()
	defer sender.Close()
	defer res.Close()
	local := netip.AddrPortFrom(lo, res.Port)
	remote := netip.AddrPortFrom(lo, uint16(ln.Addr().(*net.TCPAddr).Port))

	rstSeen := func(isn craft.Seq) bool {
		t.Helper()
		seg := craft.Segment{Src: lo, Dst: lo, TTL: 64, TCP: craft.TCP{SrcPort: local.Port(), DstPort: remote.Port(), Seq: isn, Flags: craft.SYN, Window: 1000}}
		var b [128]byte
		n, _ := seg.Encode(b[:])
		if err := sender.Send(b[:n], lo); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		var p craft.Packet
		synAck, rst := false, false
		for {
			f, err := live.Next(ctx)
			if err != nil {
				break
			}
			off, _ := craft.IPOffset(f.LinkType, f.Data)
			if p.Decode(f.Data[off:]) != nil || !p.HasTCP {
				continue
			}
			if p.TCP.Flags.Has(craft.SYN|craft.ACK) && p.TCP.Ack == isn+1 {
				synAck = true
			}
			if p.TCP.Flags.Has(craft.RST) && p.TCP.SrcPort == local.Port() {
				rst = true
			}
		}
		if !synAck {
			t.Fatal("no SYN-ACK from the listener")
		}
		return rst
	}
	if !rstSeen(1000) {
		t.Fatal("without a guard the kernel sent no RST: the test cannot show the guard works")
	}
	g, err := New(InNetNS(fd))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.DropRST(local, remote); err != nil {
		t.Fatal(err)
	}
	if rstSeen(50000) {
		t.Error("kernel RST reached the wire despite the guard")
	}
	if n, err := g.Dropped(local, remote); err != nil || n == 0 {
		t.Errorf("guard counter %d (%v), want at least 1", n, err)
	}
	// Our own RSTs carry inject.Mark and pass the guard.
	rst := craft.Segment{Src: lo, Dst: lo, TTL: 64, TCP: craft.TCP{SrcPort: local.Port(), DstPort: remote.Port(), Seq: 50001, Flags: craft.RST}}
	var b [128]byte
	n, _ := rst.Encode(b[:])
	if err := sender.Send(b[:n], lo); err != nil {
		t.Fatalf("our RST refused: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var p craft.Packet
	for {
		f, err := live.Next(ctx)
		if err != nil {
			t.Fatal("our own RST never reached the wire")
		}
		off, _ := craft.IPOffset(f.LinkType, f.Data)
		if p.Decode(f.Data[off:]) == nil && p.HasTCP && p.TCP.Flags == craft.RST && p.TCP.Seq == 50001 {
			break
		}
	}
}

// TestRuleAfterTableLost: when the guard's table disappears under it (as the
// kernel's cleanup of a closed socket's owned tables can do to a new socket
// with the same port ID), the next rule brings back the table, the chain
// and the rules added before, and Allow still finds them.
func TestRuleAfterTableLost(t *testing.T) {
	ns, fd := testNS(t, "tpguard-lost")
	g, err := New(InNetNS(fd))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	l, r := netip.MustParseAddrPort("198.18.0.1:40000"), netip.MustParseAddrPort("198.18.0.2:80")
	if err := g.DropRST(l, r); err != nil {
		t.Fatal(err)
	}
	g.conn.DelTable(g.table) // the loss, by the owner itself
	if err := flush(g.conn); err != nil {
		t.Fatal(err)
	}
	if out := nftTables(t, ns); strings.Contains(out, g.Table()) {
		t.Fatalf("table still there:\n%s", out)
	}
	l2 := netip.MustParseAddrPort("198.18.0.1:40001")
	if err := g.DropRST(l2, r); err != nil {
		t.Fatalf("rule after the table was lost: %v", err)
	}
	out, err := ns.Output("nft", "list", "table", "inet", g.Table())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "tcp sport 40000") || !strings.Contains(out, "tcp sport 40001") || strings.Count(out, "drop") != 2 {
		t.Errorf("table after the loss:\n%s", out)
	}
	if err := g.Allow(l, r); err != nil {
		t.Errorf("Allow of a rule added again: %v", err)
	}
}
