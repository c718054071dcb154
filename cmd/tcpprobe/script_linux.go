package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/inject"
	"github.com/tcpprobe/tcpprobe/lab"
	"github.com/tcpprobe/tcpprobe/report"
	"github.com/tcpprobe/tcpprobe/script"
	"github.com/tcpprobe/tcpprobe/wire"
)

func init() {
	register(command{name: "script", summary: "run packetdrill scripts against a live host: < lines are sent, > lines must arrive, syscalls run on the lab target", run: runScript})
}

// scriptFamilies are --ip's runs.
var scriptFamilies = map[string][]string{
	"4": {"ipv4"}, "6": {"ipv6"}, "mapped": {"ipv4-mapped-ipv6"},
	"all": {"ipv4", "ipv6", "ipv4-mapped-ipv6"},
}

func runScript(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("script", "FILE.pkt|DIR HOST:PORT", `Runs packetdrill scripts against a live host. Lines are seen from the host
under test, as packetdrill writes them: "<" is a segment tcpprobe sends to
it, ">" one it must send, with sequence numbers relative to each side's ISN
(ours chosen, the host's learned from its SYN or SYN-ACK), TS ecr mapped to
the host's clock, timing checked within --tolerance (or 12.5% of the gap).
Syscall lines (socket, bind, listen, accept, connect, read, write, send,
recv, shutdown, close, setsockopt, getsockopt, fcntl) run on the target of a
tcpprobe lab with the Linux stack: its sockets are created in the target's
namespace, bound to HOST:PORT. Against any other host a script with syscall
lines is refused unless --no-syscalls skips them (the host's own server then
plays its part). Backquoted shell lines run in the lab target (tun0 is its
eth0). A run stops at its first failing line; what it left open is reset.
A directory runs every *.pkt in it, with a summary.`, stdout)
	ip := fs.String("ip", "", "address families to run, comma-separated: 4, 6, mapped (an IPv6 socket on the IPv4 wire) or all (default: the target's)")
	noSyscalls := fs.Bool("no-syscalls", false, "skip syscall lines (a host that is not a tcpprobe lab target)")
	tolerance := fs.Duration("tolerance", 0, "timing tolerance (default 4ms, or the script's --tolerance_usecs)")
	defines := fs.StringArrayP("define", "D", nil, "NAME=VALUE: replace the word NAME in the scripts (packetdrill's -D)")
	jsonOut := fs.Bool("json", false, "print one JSON object per run")
	write := fs.String("write", "", "write every captured segment of every run to this pcap file")
	pdDefaults := fs.Bool("packetdrill-defaults", false, "before each run, give the lab target packetdrill's TCP sysctls (its defaults.sh: 15 MB receive buffer so window scale 8, timestamps, SACK, no ECN, syncookies), IPv4's MSS on IPv6, and flush its TCP metrics; this changes the lab until it is brought up again")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageErr("want a script (or a directory of them) and a target HOST:PORT, got %d arguments", fs.NArg())
	}
	var b bounds
	b.dur("tolerance", *tolerance, 0, 10*time.Second)
	if err := b.err(); err != nil {
		return err
	}
	subst, err := parseDefines(*defines)
	if err != nil {
		return err
	}
	files, err := scriptFiles(fs.Arg(0))
	if err != nil {
		return err
	}
	scripts := make([]*script.Script, len(files))
	for i, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return withCode(exitUsage, err)
		}
		if scripts[i], err = script.Parse(subst(string(src))); err != nil {
			return usageErr("%s: %v", f, err)
		}
	}
	target, err := parseTarget(ctx, fs.Arg(1), false, false)
	if err != nil {
		return err
	}
	rt, err := inject.RouteTo(target.Addr())
	if err != nil {
		return withCode(exitNoAnswer, err)
	}
	l, isLab := lab.ForTarget(rt.Iface, target.Addr())
	labStack := ""
	if isLab {
		labStack = l.RunningStack()
	}
	fams := []string{"ipv4"}
	if target.Addr().Is6() && !target.Addr().Is4In6() {
		fams = []string{"ipv6"}
	}
	if *ip != "" {
		fams = nil
		for _, x := range strings.Split(*ip, ",") {
			f := scriptFamilies[x]
			if f == nil {
				return usageErr("--ip %q: want 4, 6, mapped or all (or a list: 4,mapped)", *ip)
			}
			for _, y := range f {
				if !slices.Contains(fams, y) {
					fams = append(fams, y)
				}
			}
		}
	}
	type run struct {
		cfg  script.Config
		file string
	}
	var runs []run
	for i, f := range files {
		for _, fam := range fams {
			addr := target.Addr().Unmap()
			if l != nil {
				addr = l.Target4
				if fam == "ipv6" {
					addr = l.Target6
				}
			}
			if (fam == "ipv6") != addr.Is6() {
				return usageErr("--ip %s: %v is not an address of that family (only a lab target has both)", *ip, addr)
			}
			to := netip.AddrPortFrom(addr, target.Port())
			cfg := script.Config{Script: scripts[i], Name: filepath.Base(f), Family: fam, Tolerance: *tolerance,
				NoSyscalls: *noSyscalls, Wire: wire.Config{Remote: to, Record: *write != ""}}
			switch {
			case *noSyscalls:
			case labStack == lab.StackGVisor:
				// netstack makes the calls itself, through its agent; shell
				// lines would change the namespace's kernel, not netstack.
				cfg.Exec = &script.AgentExecutor{Path: l.AgentSocket(), Local: to, Mapped: fam == "ipv4-mapped-ipv6"}
				cfg.ShellNote = "skipped on the gvisor lab: a shell line would change the namespace's kernel, not netstack"
			case isLab:
				cfg.Exec = &script.Executor{Do: l.NS.Do, Local: to, Mapped: fam == "ipv4-mapped-ipv6"}
				cfg.Shell = labShell(l, filepath.Dir(f))
				// Every run starts afresh: the target forgets what an earlier
				// run taught it about this path (a PMTU, cached RTTs).
				setup := labFresh
				if *pdDefaults {
					// The IPv6 route advertises IPv4's MSS, so that scripts written
					// with mss 1460 hold over IPv6 as they do in packetdrill's runs.
					v6 := netip.PrefixFrom(l.Target6, 64).Masked()
					setup += "\n" + packetdrillDefaults + fmt.Sprintf("\nip -6 route replace %s dev eth0 metric 256 proto kernel advmss 1460", v6)
				}
				cfg.Setup = func(ctx context.Context) error { return labShell(l, ".")(ctx, setup) }
			}
			if *pdDefaults && labStack != lab.StackLinux {
				return usageErr("--packetdrill-defaults sets the sysctls of a Linux lab target; %v is not one", to.Addr())
			}
			if err := script.Check(&cfg); err != nil {
				return usageErr("%s: %v", f, err)
			}
			if fam == "ipv4-mapped-ipv6" && cfg.Exec == nil {
				if *ip == "all" {
					continue // without our socket on the target, mapped is plain IPv4
				}
				return usageErr("--ip mapped needs the lab target to make the IPv6 socket")
			}
			runs = append(runs, run{cfg, f})
		}
	}
	var results []*script.Result
	var frames []capture.Frame
	link := 0
	st := styleFor(fs, stdout)
	enc := json.NewEncoder(stdout)
	for i, r := range runs {
		res, s, err := script.Run(ctx, r.cfg)
		if s != nil {
			frames, link = append(frames, s.Frames()...), s.LinkType()
			s.Close()
		}
		if err != nil {
			if res == nil || ctx.Err() == nil {
				return fmt.Errorf("%s: %w", r.file, err)
			}
		}
		results = append(results, res)
		if *jsonOut {
			if err := enc.Encode(res); err != nil {
				return err
			}
		} else {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			report.Script(stdout, res, st)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if *write != "" {
		if err := capture.WriteFile(*write, link, frames); err != nil {
			return err
		}
	}
	if len(runs) > 1 && !*jsonOut {
		report.ScriptSummary(stdout, results)
	}
	for _, r := range results {
		if !r.Passed {
			return silent{exitFailed}
		}
	}
	return nil
}

// labFresh clears what the lab target learnt from earlier runs.
const labFresh = `ip route flush cache; ip -6 route flush cache; ip tcp_metrics flush all >/dev/null 2>&1; true`

// packetdrillDefaults are the TCP settings packetdrill's test suite gives
// the stack under test (gtests/net/common/defaults.sh), for the sysctls a
// network namespace has of its own.
const packetdrillDefaults = `sysctl -q net.ipv4.tcp_rmem="4096 540000 15728640" net.ipv4.tcp_wmem="4096 262144 4194304" \
  net.ipv4.tcp_timestamps=1 net.ipv4.tcp_sack=1 net.ipv4.tcp_dsack=1 net.ipv4.tcp_ecn=0 \
  net.ipv4.tcp_syn_retries=5 net.ipv4.tcp_synack_retries=5 net.ipv4.tcp_frto=2 \
  net.ipv4.tcp_reordering=3 net.ipv4.tcp_slow_start_after_idle=0 net.ipv4.tcp_early_retrans=4 \
  net.ipv4.tcp_recovery=1 net.ipv4.tcp_syncookies=1 net.ipv4.tcp_fastopen=0x70403 \
  net.ipv4.tcp_fastopen_key=a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4`

// scriptFiles is the script, or every *.pkt in a directory, sorted.
func scriptFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, withCode(exitUsage, err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	files, _ := filepath.Glob(filepath.Join(path, "*.pkt"))
	if len(files) == 0 {
		return nil, usageErr("%s: no *.pkt scripts in it", path)
	}
	sort.Strings(files)
	return files, nil
}

// parseDefines reads NAME=VALUE pairs and returns the substitution.
func parseDefines(defs []string) (func(string) string, error) {
	type def struct {
		re  *regexp.Regexp
		val string
	}
	var ds []def
	for _, d := range defs {
		name, val, ok := strings.Cut(d, "=")
		if !ok || !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(name) {
			return nil, usageErr("--define %q: want NAME=VALUE", d)
		}
		ds = append(ds, def{regexp.MustCompile(`\b` + name + `\b`), val})
	}
	return func(s string) string {
		for _, d := range ds {
			s = d.re.ReplaceAllLiteralString(s, d.val)
		}
		return s
	}, nil
}

// tun0 is packetdrill's device in shell lines.
var tun0 = regexp.MustCompile(`\btun0\b`)

// labShell runs a backquoted line in the lab target, in the script's
// directory, with packetdrill's tun0 named as the target's interface.
func labShell(l *lab.Lab, dir string) func(context.Context, string) error {
	return func(ctx context.Context, cmd string) error {
		cmd = tun0.ReplaceAllString(cmd, "eth0")
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, "ip", "netns", "exec", l.NS.Name, "sh", "-c", cmd)
		c.Dir = dir
		out, err := c.CombinedOutput()
		if ctx.Err() != nil {
			return errors.New("shell line ran past 10s")
		}
		if err != nil {
			return fmt.Errorf("shell: %v: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}
}
