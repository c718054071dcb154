//go:build linux

package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// NetstackCommand is the program that runs gVisor's netstack for a lab
// with StackGVisor.
const NetstackCommand = "tcpprobe-netstack"

// NetstackBinary finds tcpprobe-netstack: $TCPPROBE_NETSTACK, beside the
// running executable, or on PATH.
func NetstackBinary() (string, error) {
	if p := os.Getenv("TCPPROBE_NETSTACK"); p != "" {
		return p, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), NetstackCommand)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(NetstackCommand); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s is not beside tcpprobe nor on PATH: build it beside tcpprobe: go build -o bin/%s ./cmd/%s (scripts/demo.sh builds both)", NetstackCommand, NetstackCommand, NetstackCommand)
}

// NetstackArgs are tcpprobe-netstack's arguments for this lab.
func (l *Lab) NetstackArgs() []string {
	return []string{"--iface", "eth0",
		"--v4", netip.PrefixFrom(l.Target4, 24).String(), "--v6", netip.PrefixFrom(l.Target6, 64).String(),
		"--keep-idle", l.KeepIdle.String(), "--keep-interval", l.KeepInterval.String(),
		"--keep-count", fmt.Sprint(l.KeepCount), "--fin-timeout", l.FinTimeout.String(), "--agent", l.AgentSocket()}
}

// AgentSocket is where the gvisor lab's netstack takes `tcpprobe script`'s
// syscall lines (internal/agent).
func (l *Lab) AgentSocket() string { return filepath.Join(RunDir, "netstack-"+l.Name+".sock") }

// StartNetstack runs tcpprobe-netstack inside the target namespace and
// waits until its echo port answers from the host. stop ends it.
func (l *Lab) StartNetstack(ctx context.Context) (stop func(), err error) {
	bin, err := NetstackBinary()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return nil, err
	}
	cmd := l.NS.Command(bin, l.NetstackArgs()...)
	// If this process dies, so does netstack: it watches its parent (not
	// Pdeathsig, which fires when the forking thread ends, and threads that
	// entered a namespace end on purpose).
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lab %s: start %s: %w", l.Name, NetstackCommand, err)
	}
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
		}
		cmd.Wait()
		close(exited)
	}()
	stop = func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(2 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	addr := netip.AddrPortFrom(l.Target4, PortEcho).String()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err == nil {
			c.Close()
			fill, halt := l.FillQueue(), stop
			return func() {
				for _, c := range fill {
					c.Close()
				}
				halt()
			}, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("lab %s: %s exited: %s", l.Name, NetstackCommand, strings.TrimSpace(errb.String()))
		case <-ctx.Done():
			stop()
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, errors.New("lab " + l.Name + ": netstack did not answer on " + addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// RunningStack tells which stack an existing lab was brought up with: a
// target whose kernel holds no target address and has IPv6 off on its
// interface is gVisor's.
func (l *Lab) RunningStack() string {
	out, err := l.NS.Output("sysctl", "-n", "net.ipv6.conf.eth0.disable_ipv6")
	if err == nil && strings.TrimSpace(out) == "1" {
		if addrs, err := l.NS.Output("ip", "-br", "addr", "show", "dev", "eth0"); err == nil && !strings.Contains(addrs, l.Target4.String()+"/") {
			return StackGVisor
		}
	}
	return StackLinux
}
