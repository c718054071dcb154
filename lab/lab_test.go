//go:build linux

package lab_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/lab"
	"github.com/tcpprobe/tcpprobe/lab/labtest"

	"github.com/tcpprobe/tcpprobe/internal/netns"
)

func dial(t *testing.T, a netip.Addr, port int) (*net.TCPConn, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", netip.AddrPortFrom(a, uint16(port)).String(), 2*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c.(*net.TCPConn), nil
}

// TestServersAnswerAsDocumented talks to every port over IPv4 and IPv6 with
// the ordinary kernel TCP client.
func TestServersAnswerAsDocumented(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "labtest", Subnet: 250})
	for _, a := range []netip.Addr{l.Target4, l.Target6} {
		c, err := dial(t, a, lab.PortEcho)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "ping\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "ping\n" {
			t.Errorf("echo on %v: %q %v", a, line, err)
		}
		c.Close()

		c, err = dial(t, a, lab.PortCloseFirst)
		if err != nil {
			t.Fatal(err)
		}
		all, err := io.ReadAll(c)
		if err != nil || string(all) != lab.Greeting {
			t.Errorf("close-first on %v: %q %v", a, all, err)
		}
		c.Close()

		c, err = dial(t, a, lab.PortHalfClose)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "bye")
		c.CloseWrite()
		all, err = io.ReadAll(c)
		if err != nil || strings.Count(string(all), "after your FIN") != lab.HalfCloseLines {
			t.Errorf("half-close on %v: %q %v", a, all, err)
		}
		c.Close()

		c, err = dial(t, a, lab.PortHold)
		if err != nil {
			t.Fatal(err)
		}
		c.CloseWrite()
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Read(make([]byte, 10)); err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("hold on %v: %v, want it to keep the connection after our FIN", a, err)
		}
		c.Close()

		if _, err := dial(t, a, lab.PortClosed); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("closed port on %v: %v, want connection refused", a, err)
		}
		if _, err := dial(t, a, lab.PortRejected); err == nil || strings.Contains(err.Error(), "timeout") {
			t.Errorf("rejected port on %v: %v, want an ICMP error", a, err)
		}
		// The full-queue port's one place is taken: a SYN is dropped.
		c2, err := net.DialTimeout("tcp", netip.AddrPortFrom(a, lab.PortFullQueue).String(), 300*time.Millisecond)
		if err == nil {
			c2.Close()
			t.Errorf("full-queue port on %v took a connection", a)
		}
		src := a.String()
		if a.Is6() {
			src = "[" + src + "]"
		}
		if out, _ := l.NS.Output("ss", "-Htln", "src", src, "sport", "= :11"); !strings.HasPrefix(out, "LISTEN 1 ") {
			t.Errorf("full-queue port on %v: %q, want a listener with 1 connection queued", a, out)
		}
		start := time.Now()
		c2, err = net.DialTimeout("tcp", netip.AddrPortFrom(a, lab.PortDropped).String(), 300*time.Millisecond)
		if err == nil {
			c2.Close()
			t.Errorf("dropped port on %v answered", a)
		} else if time.Since(start) < 250*time.Millisecond {
			t.Errorf("dropped port on %v failed fast: %v", a, err)
		}
	}
	out, err := l.NS.Output("sysctl", "-n", "net.ipv4.tcp_synack_retries")
	if err != nil || strings.TrimSpace(out) != "2" {
		t.Errorf("tcp_synack_retries in lab: %q %v", out, err)
	}
}

func TestUpTwiceAndDown(t *testing.T) {
	t.Parallel()
	cfg := lab.Config{Name: "labtwice", Subnet: 251}
	l := labtest.ForTest(t, cfg)
	l2, err := lab.Up(cfg)
	if err != nil {
		t.Fatalf("second up: %v", err)
	}
	if !l2.Exists() {
		t.Fatal("lab gone after second up")
	}
	if err := l2.Down(); err != nil {
		t.Fatal(err)
	}
	if netns.Exists(l.NS.Name) {
		t.Error("namespace survives Down")
	}
	if _, err := net.InterfaceByName(l.HostIface); err == nil {
		t.Error("host veth survives Down")
	}
	if err := l2.Down(); err != nil {
		t.Errorf("second down: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []lab.Config{{Name: "Bad-Name"}, {Name: "waytoolongname"}, {Subnet: 300}} {
		if _, err := lab.Describe(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	l, err := lab.Describe(lab.Config{Name: "x", Subnet: 7})
	if err != nil {
		t.Fatal(err)
	}
	if l.Target4.String() != "198.18.7.2" || l.Target6.String() != "2001:db8:7::2" || l.Host6.String() != "2001:db8:7::1" {
		t.Errorf("addresses %v %v %v", l.Target4, l.Target6, l.Host6)
	}
	l, _ = lab.Describe(lab.Config{Name: "x", Subnet: 100})
	if l.Target4.String() != "198.18.100.2" || l.Target6.String() != "2001:db8:100::2" {
		t.Errorf("subnet 100: %v %v", l.Target4, l.Target6)
	}
}
