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
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/tcpprobe/tcpprobe/inject"
	"github.com/tcpprobe/tcpprobe/internal/privilege"
)

// Exit codes, documented in --help and README.md.
const (
	exitOK        = 0 // every check passed / the target answered as expected
	exitFailed    = 1 // a check failed
	exitUsage     = 2 // usage or input error
	exitNoAnswer  = 3 // no answer, unreachable
	exitPrivilege = 4 // missing privilege or system support
)

const exitCodesHelp = `Exit codes:
  0  every check passed / the target answered as expected
  1  a check failed
  2  usage or input error
  3  no answer or unreachable
  4  missing privilege or system support`

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
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "--version" || args[0] == "version" {
		fmt.Fprintln(stdout, "tcpprobe", version)
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "tcpprobe: unknown command %q (see tcpprobe --help)\n", args[0])
		return exitUsage
	}
	err := c.run(ctx, args[1:], stdout)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, pflag.ErrHelp) {
		return exitOK
	}
	code := exitCode(err)
	if msg := oneLine(err.Error()); msg != "" {
		fmt.Fprintf(stderr, "tcpprobe %s: %s\n", c.name, msg)
	}
	return code
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
	case errors.Is(err, inject.ErrNoRoute), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return exitNoAnswer
	case errors.Is(err, context.Canceled):
		return exitNoAnswer
	}
	return exitPrivilege
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

var version = "dev"

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
		fmt.Fprintf(stdout, "Usage: tcpprobe %s [flags] %s\n\n%s\n\nFlags:\n", name, argsUsage, summary)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		fmt.Fprintln(stdout, "\n"+exitCodesHelp)
	}
	return fs
}

// parse parses flags; --help prints usage and returns pflag.ErrHelp.
func parse(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fs.Usage()
			return err
		}
		return usageErr("%v", err)
	}
	return nil
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
