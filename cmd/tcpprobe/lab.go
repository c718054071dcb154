//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/tcpprobe/tcpprobe/internal/atomicfile"
	"github.com/tcpprobe/tcpprobe/lab"
)

func init() {
	register(command{name: "lab", summary: "build or remove the local lab: a target host in a network namespace with real servers", run: runLab})
}

// runDir holds the lab servers' pid and log files.
const runDir = lab.RunDir

func labFlags(fs *pflag.FlagSet) *lab.Config {
	c := &lab.Config{}
	fs.StringVar(&c.Name, "name", "lab", "lab name (1-9 lowercase letters or digits)")
	fs.IntVar(&c.Subnet, "subnet", 0, "N: addresses 198.18.N.0/24 and 2001:db8:N::/64")
	fs.IntVar(&c.SynAckRetries, "synack-retries", 2, "target's net.ipv4.tcp_synack_retries")
	fs.DurationVar(&c.KeepIdle, "keep-idle", 2*time.Second, "keepalive server's idle time before the first probe")
	fs.DurationVar(&c.KeepInterval, "keep-interval", time.Second, "keepalive server's interval between probes")
	fs.IntVar(&c.KeepCount, "keep-count", 3, "keepalive server's unanswered probes before it resets")
	fs.DurationVar(&c.FinTimeout, "fin-timeout", 5*time.Second, "target's net.ipv4.tcp_fin_timeout")
	fs.StringSliceVar(&c.Profiles, "profile", nil, "Linux target variants, comma-separated: "+strings.Join(lab.ProfileNames(), ", "))
	fs.StringVar(&c.Stack, "stack", lab.StackLinux, "the target's TCP/IP stack: linux (the namespace's kernel) or gvisor (gVisor's netstack, run by tcpprobe-netstack)")
	return c
}

func runLab(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("lab", "up|down|status", `Manage the local lab. 'up' creates network namespace tplab-NAME joined to this
namespace by veth tpNAME, with the target at 198.18.N.2 and 2001:db8:N::2 and
servers on these ports:
  7 echo, 9 discard, 13 close-first (greeting, then FIN), 19 half-close (keeps
  sending after our FIN), 7200 keepalive (SO_KEEPALIVE), 17 hold (CLOSE_WAIT
  for 5s after our FIN), 11 full-queue (its accept queue kept full), 1 closed
  (RST), 2 dropped (no answer), 3 rejected (ICMP port unreachable).
'up' twice is safe; 'down' removes everything; 'status' tells what runs.`, stdout)
	cfg := labFlags(fs)
	var co chainOpts
	fs.IntVar(&co.hops, "hops", 0, "build a chain of N routers (1-8) in 198.19.SUBNET.0/24 between this host and the target, for trace")
	fs.StringArrayVar(&co.middleboxes, "middlebox", nil, "with --hops: HOP:ACTION[,ACTION...] makes router HOP rewrite what it forwards: "+strings.Join(lab.MiddleboxActions, ", "))
	if err := parse(fs, args); err != nil {
		return err
	}
	if co.hops < 0 || (co.hops == 0 && len(co.middleboxes) > 0) {
		return usageErr("--middlebox goes with --hops N (N routers, 1-8)")
	}
	if fs.NArg() != 1 {
		return usageErr("want one of up, down, status, serve")
	}
	if co.hops > 0 {
		switch fs.Arg(0) {
		case "up":
			return chainUp(ctx, *cfg, co, stdout)
		case "serve":
			return chainServe(ctx, *cfg)
		}
	}
	if _, chain := lab.FindChain(cfg.Name, cfg.Subnet); chain {
		switch fs.Arg(0) {
		case "down":
			chainDown(*cfg)
			fmt.Fprintf(stdout, "lab %s is down\n", cfg.Name)
			return nil
		case "status":
			return chainStatus(*cfg, stdout)
		}
	}
	switch fs.Arg(0) {
	case "up":
		return labUp(ctx, *cfg, stdout)
	case "down":
		return labDown(*cfg, stdout)
	case "status":
		return labStatus(*cfg, stdout)
	case "serve":
		return labServe(ctx, *cfg)
	}
	return usageErr("unknown lab action %q: want up, down or status", fs.Arg(0))
}

func pidFile(name string) string { return filepath.Join(runDir, "lab-"+name+".pid") }

// serverPid returns the pid of the lab's server process, if it runs.
func serverPid(name string) int {
	b, err := os.ReadFile(pidFile(name))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	if syscall.Kill(pid, 0) != nil {
		return 0
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if !strings.Contains(string(cmdline), "serve") {
		return 0
	}
	return pid
}

func labUp(ctx context.Context, cfg lab.Config, stdout io.Writer) error {
	l, err := lab.Describe(cfg)
	if err != nil {
		return usageErr("%v", err)
	}
	if cfg.Stack == lab.StackGVisor {
		if _, err := lab.NetstackBinary(); err != nil {
			return err
		}
	}
	if os.Geteuid() != 0 {
		return withCode(exitPrivilege, errors.New("lab up needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN to create namespaces and interfaces)"))
	}
	if holder, ok := lab.SubnetHolder(cfg); ok {
		return usageErr("subnet %d (198.18.%d.0/24) is already used by %s (lab %s): choose another --subnet", cfg.Subnet, cfg.Subnet, holder, strings.TrimPrefix(holder, "tp"))
	}
	if l.Exists() {
		problems := l.Problems()
		if len(problems) == 0 && serverPid(cfg.Name) != 0 && echoAnswers(l.Target4) {
			fmt.Fprintf(stdout, "lab %s is already up\n", cfg.Name)
			return labStatus(cfg, stdout)
		}
		if serverPid(cfg.Name) == 0 {
			problems = append(problems, "servers not running")
		}
		fmt.Fprintf(stdout, "lab %s: repairing (%s)\n", cfg.Name, strings.Join(problems, "; "))
	}
	stopServer(cfg.Name)
	if l, err = lab.Up(cfg); err != nil {
		return err
	}
	if err := startServer(cfg); err != nil {
		l.Down()
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for !echoAnswers(l.Target4) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			stopServer(cfg.Name)
			l.Down()
			return fmt.Errorf("lab servers did not start (see %s)", filepath.Join(runDir, "lab-"+cfg.Name+".log"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(stdout, "lab %s is up\n", cfg.Name)
	return labStatus(cfg, stdout)
}

func startServer(cfg lab.Config, extra ...string) error {
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(runDir, "lab-"+cfg.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(self, "lab", "serve", "--name", cfg.Name, "--subnet", strconv.Itoa(cfg.Subnet),
		"--synack-retries", strconv.Itoa(cfg.SynAckRetries), "--keep-idle", cfg.KeepIdle.String(),
		"--keep-interval", cfg.KeepInterval.String(), "--keep-count", strconv.Itoa(cfg.KeepCount),
		"--fin-timeout", cfg.FinTimeout.String(), "--stack", cfg.Stack)
	cmd.Args = append(cmd.Args, extra...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start lab servers: %w", err)
	}
	if err := writePidFile(pidFile(cfg.Name), cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		return err
	}
	return cmd.Process.Release()
}

func stopServer(name string) {
	pid := serverPid(name)
	if pid != 0 {
		syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 50 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
	os.Remove(pidFile(name))
}

func echoAnswers(a netip.Addr) bool {
	c, err := net.DialTimeout("tcp", netip.AddrPortFrom(a, lab.PortEcho).String(), 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func labDown(cfg lab.Config, stdout io.Writer) error {
	l, err := lab.Describe(cfg)
	if err != nil {
		return usageErr("%v", err)
	}
	stopServer(cfg.Name)
	if err := l.Down(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lab %s is down\n", cfg.Name)
	return nil
}

func labStatus(cfg lab.Config, stdout io.Writer) error {
	l, err := lab.Describe(cfg)
	if err != nil {
		return usageErr("%v", err)
	}
	if !l.Exists() {
		fmt.Fprintf(stdout, "lab %s: not up (tcpprobe lab up --name %s)\n", cfg.Name, cfg.Name)
		return withCode(exitNoAnswer, errors.New(""))
	}
	// The lab as it is: its stack and profiles are the ones it was brought
	// up with.
	cfg.Stack = l.RunningStack()
	l.Stack = cfg.Stack
	if cfg.Stack == lab.StackLinux {
		cfg.Profiles = l.RunningProfiles()
		l.Profiles = cfg.Profiles
	}
	state := "servers running"
	problems := l.Problems()
	if serverPid(cfg.Name) == 0 {
		state = "servers NOT running"
		problems = append(problems, "servers not running")
	}
	stack := "Linux"
	if cfg.Stack == lab.StackGVisor {
		stack = "gVisor netstack"
	}
	if len(cfg.Profiles) > 0 {
		stack += ", profile " + strings.Join(cfg.Profiles, ",")
	}
	fmt.Fprintf(stdout, "namespace %s, %s\nhost side %s: %v %v\ntarget:          %v %v (%s)\n",
		l.NS.Name, state, l.HostIface, l.Host4, l.Host6, l.Target4, l.Target6, stack)
	for _, s := range lab.Catalog(cfg) {
		fmt.Fprintf(stdout, "  port %-5d %-12s %s\n", s.Port, s.Name, s.Behavior)
	}
	if len(problems) > 0 {
		fmt.Fprintf(stdout, "lab %s is broken: %s (tcpprobe lab up --name %s repairs it)\n", cfg.Name, strings.Join(problems, "; "), cfg.Name)
		return silent{exitNoAnswer}
	}
	return nil
}

// labServe runs the servers of an existing lab until a signal or until the
// namespace is deleted.
func labServe(ctx context.Context, cfg lab.Config) error {
	l, err := lab.Describe(cfg)
	if err != nil {
		return usageErr("%v", err)
	}
	if !l.Exists() {
		return fmt.Errorf("lab %s does not exist", cfg.Name)
	}
	if l.Stack == lab.StackGVisor {
		stop, err := l.StartNetstack(ctx)
		if err != nil {
			return err
		}
		defer stop()
	} else {
		srv, err := l.StartServers(ctx)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	untilGone(ctx, l.Exists)
	return nil
}

// untilGone waits for ctx to end or for exists to report false (the lab
// was deleted by hand), checking every second.
func untilGone(ctx context.Context, exists func() bool) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !exists() {
				return
			}
		}
	}
}

// writePidFile writes the server's pid atomically.
func writePidFile(path string, pid int) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, pid); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}
