//go:build linux

// Package labtest brings the lab up for one test and down at its end,
// whatever the outcome: lab hosts, third-party servers inside the target,
// router chains. It keeps the testing package out of the tcpprobe binary.
package labtest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/lab"
)

// ForTest brings a lab up with its servers for one test and tears it down
// with t.Cleanup, whatever the test's outcome. With cfg.Stack gvisor the
// servers are tcpprobe-netstack's (lab.NetstackBinary finds it). Tests that run in parallel
// give distinct names and subnets. It skips the test when not root.
func ForTest(t testing.TB, cfg lab.Config) *lab.Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, raw sockets)")
	}
	l, err := lab.Up(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	if l.Stack == lab.StackGVisor {
		stop, err := l.StartNetstack(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		return l
	}
	srv, err := l.StartServers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return l
}

// Start runs a program inside the lab's namespace for one test
// (a third-party server such as nginx or socat), waits until it accepts
// connections on port, and stops it at cleanup.
func Start(t testing.TB, l *lab.Lab, port uint16, name string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed", name)
		}
		t.Skipf("%s is not installed", name)
	}
	cmd := l.NS.Command(name, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := netip.AddrPortFrom(l.Target4, port).String()
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if i > 100 {
			t.Fatalf("%s did not start listening on %s: %s", name, addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Chain builds a router chain for one test, with a listener on port
// inside the target, and removes it at cleanup.
func Chain(t testing.TB, name string, subnet, routers int, port uint16) *lab.Chain {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	c, err := lab.UpChain(name, subnet, routers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Down(); err != nil {
			t.Errorf("chain down: %v", err)
		}
	})
	var ln net.Listener
	if err := c.Target.Do(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	return c
}
