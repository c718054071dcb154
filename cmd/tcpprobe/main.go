// Command tcpprobe crafts TCP/IP packets by hand, injects them through raw
// sockets, captures the replies with libpcap and checks, rule by rule,
// whether a host's TCP behaviour is what RFC 9293 says.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/tcpprobe/tcpprobe/inject"
	"github.com/tcpprobe/tcpprobe/internal/atomicfile"
	"github.com/tcpprobe/tcpprobe/internal/privilege"
	"github.com/tcpprobe/tcpprobe/report"
	"github.com/tcpprobe/tcpprobe/wire"
)

// Exit codes, documented in --help and README.md.
const (
	exitOK        = 0 // every check passed / the target answered as expected
	exitFailed    = 1 // a check failed
	exitUsage     = 2 // usage or input error
	exitNoAnswer  = 3 // no answer, unreachable
	exitPrivilege = 4 // missing privilege or system support
	exitRun       = 5 // the run could not complete (an I/O or system error)
	// exitInterrupted is the shell's code for a run ended by SIGINT (128+2);
	// SIGTERM ends with it too: a check cut short never exits 0.
	exitInterrupted = 130
)

const exitCodesHelp = `Exit codes:
  0    every check passed / the target answered as expected
  1    a check failed (a rule was violated)
  2    usage or input error (also: a capture cut short, after its results)
  3    no answer or unreachable
  4    missing privilege or system support
  5    the run could not complete (an I/O or system error)
  130  interrupted (Ctrl-C, SIGTERM): partial results, connections reset

Environment: TCPPROBE_LAB_ONLY=1 (or --lab-only) refuses any route that
leaves through anything but loopback or a lab interface (tp*).`

// command is one subcommand.
type command struct {
	name    string
	summary string
	hidden  bool
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

// exitError carries an exit code with its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, a...)}
}

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code, err}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && args[0] == "help" {
		args = []string{args[1], "--help"} // tcpprobe help CMD
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "--version" || args[0] == "version" {
		fmt.Fprintln(stdout, "tcpprobe", versionString())
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "tcpprobe: unknown command %q (see tcpprobe --help)\n", args[0])
		return exitUsage
	}
	err := c.run(ctx, args[1:], stdout)
	if errors.Is(err, pflag.ErrHelp) {
		return exitOK
	}
	var stopped stoppedByUser
	if errors.As(err, &stopped) {
		// Ctrl-C is how this run ends (a live capture, as tcpdump's).
		err = stopped.err
	} else if ctx.Err() != nil {
		// Whatever the command said, the run was cut short.
		fmt.Fprintf(stderr, "tcpprobe %s: interrupted\n", c.name)
		return exitInterrupted
	}
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if msg := oneLine(err.Error()); msg != "" {
		fmt.Fprintf(stderr, "tcpprobe %s: %s\n", c.name, msg)
	}
	return code
}

// stoppedByUser wraps a command's outcome when Ctrl-C is its normal end
// (analyze -i without --duration): not an interruption.
type stoppedByUser struct{ err error }

func (s stoppedByUser) Error() string {
	if s.err == nil {
		return ""
	}
	return s.err.Error()
}

// silent is an error whose message was already printed (the result said
// it), carrying only the exit code.
type silent struct{ code int }

func (s silent) Error() string { return "" }

func exitCode(err error) int {
	var ee *exitError
	var pe *privilege.Error
	var s silent
	switch {
	case errors.As(err, &s):
		return s.code
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &pe):
		return exitPrivilege
	case errors.Is(err, inject.ErrNoRoute), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETDOWN):
		return exitNoAnswer
	case errors.Is(err, errors.ErrUnsupported):
		return exitPrivilege
	case errors.Is(err, wire.ErrRefused):
		return exitUsage
	}
	return exitRun
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// version is set at link time (-ldflags "-X main.version=v1.2.3") for
// releases; otherwise the module version and VCS revision of the build
// say which code this is.
var version = ""

func versionString() string {
	info, ok := debug.ReadBuildInfo()
	v := version
	if v == "" && ok {
		v = info.Main.Version // "(devel)" for a build from a checkout
	}
	if v == "" {
		v = "(devel)"
	}
	if !ok {
		return v
	}
	var rev, when, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+modified"
			}
		}
	}
	if rev != "" && !strings.Contains(v, rev[:min(12, len(rev))]) {
		v += fmt.Sprintf(" (%.12s%s, %s)", rev, dirty, when)
	}
	return v + " " + info.GoVersion
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `tcpprobe: hand-made TCP probes, checked against RFC 9293.

Usage: tcpprobe COMMAND [flags] ...

Commands:`)
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'tcpprobe COMMAND --help' for a command's flags.")
	fmt.Fprintln(w, "\n"+exitCodesHelp)
	fmt.Fprintln(w, "\nProbe only hosts you are allowed to probe. 'tcpprobe lab up' builds a local target.")
}

// newFlags returns a flag set for a subcommand that prints its usage with
// the exit codes and reports errors instead of exiting.
func newFlags(name, argsUsage, summary string, stdout io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: tcpprobe %s [flags] %s\n\n%s\n\nFlags:\n%s\n%s\n", name, argsUsage, summary, flagUsages(fs), exitCodesHelp)
	}
	return fs
}

// parse parses flags and checks every output path (--write, -o) before
// anything is sent or read, so that a bad path costs no capture; --help prints usage (pflag calls fs.Usage itself)
// and returns pflag.ErrHelp.
func parse(fs *pflag.FlagSet, args []string) error {
	if fs.Lookup("lab-only") == nil {
		fs.Bool("lab-only", false, "refuse any route but loopback and lab interfaces (as TCPPROBE_LAB_ONLY=1)")
	}
	if fs.Lookup("color") == nil {
		fs.String("color", "auto", "colour: auto (on a terminal, unless NO_COLOR is set), always, never")
	}
	if fs.Lookup("width") == nil {
		fs.Int("width", 0, "output width in columns (default: the terminal's; under 120 the ladder drops options)")
	}
	if fs.Lookup("verbose") == nil {
		fs.BoolP("verbose", "v", false, "say more: every rule (n/a ones too), nping-style SENT/RCVD lines where a command has them")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageErr("%v", err)
	}
	switch c, _ := fs.GetString("color"); c {
	case "auto", "always", "never":
	default:
		return usageErr("--color %q: want auto, always or never", c)
	}
	for _, name := range []string{"write", "output"} {
		if f := fs.Lookup(name); f != nil && f.Value.String() != "" {
			if err := atomicfile.Check(f.Value.String()); err != nil {
				return usageErr("--%s: %v", name, err)
			}
		}
	}
	if labOnly, _ := fs.GetBool("lab-only"); labOnly {
		os.Setenv(wire.LabOnlyEnv, "1")
	}
	return nil
}

// flagUsages lists the flags as pflag does, without its "[=true|false]"
// on booleans and without a "(default ...)" that repeats what the usage
// text already says or shows a sentinel.
func flagUsages(fs *pflag.FlagSet) string {
	type row struct{ left, right string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		left := "      --" + f.Name
		if f.Shorthand != "" {
			left = "  -" + f.Shorthand + ", --" + f.Name
		}
		varname, usage := pflag.UnquoteUsage(f)
		if varname != "" && f.Value.Type() != "bool" {
			left += " " + varname
		}
		if !strings.Contains(usage, "(default") {
			switch f.DefValue {
			case "", "0", "false", "[]", "0s":
			default:
				if f.Value.Type() == "string" {
					usage += fmt.Sprintf(" (default %q)", f.DefValue)
				} else {
					usage += " (default " + f.DefValue + ")"
				}
			}
		}
		rows = append(rows, row{left, usage})
		width = max(width, len(left))
	})
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s   %s\n", width, r.left, r.right)
	}
	return b.String()
}

// pause waits d; it reports false when ctx ended first (Ctrl-C).
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// bounds checks one flag's value: the first flag out of range is named,
// with its range, as "--count 0: must be 1-100000".
type bounds []error

func (b *bounds) int(name string, v, lo, hi int) {
	if v < lo || v > hi {
		*b = append(*b, fmt.Errorf("--%s %d: must be %d-%d", name, v, lo, hi))
	}
}

// dur checks a duration against [lo, hi]; hi 0 means no upper bound.
func (b *bounds) dur(name string, v, lo, hi time.Duration) {
	switch {
	case v < lo && lo == 0:
		*b = append(*b, fmt.Errorf("--%s %v: must not be negative", name, v))
	case v < lo:
		*b = append(*b, fmt.Errorf("--%s %v: must be at least %v", name, v, lo))
	case hi > 0 && v > hi:
		*b = append(*b, fmt.Errorf("--%s %v: must be at most %v", name, v, hi))
	}
}

// err is the first violation, as a usage error.
func (b bounds) err() error {
	if len(b) == 0 {
		return nil
	}
	return &exitError{exitUsage, b[0]}
}

// styleFor is the terminal style the command's flags ask for: colour by
// --color (auto: only on a terminal, never with NO_COLOR), every rule with
// -v.
func styleFor(fs *pflag.FlagSet, w io.Writer) report.Style {
	mode, _ := fs.GetString("color")
	verbose, _ := fs.GetBool("verbose")
	st := report.Style{Verbose: verbose}
	if width, _ := fs.GetInt("width"); width > 0 {
		st.Width = width
	} else if f, ok := w.(*os.File); ok && isTerminal(f) {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil {
			st.Width = int(ws.Col)
		}
	}
	switch mode {
	case "always":
		st.Color = true
	case "auto":
		f, ok := w.(*os.File)
		st.Color = ok && os.Getenv("NO_COLOR") == "" && isTerminal(f)
	}
	return st
}
