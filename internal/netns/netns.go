//go:build linux

// Package netns creates, enters and deletes named network namespaces (the
// ones `ip netns` manages under /run/netns).
package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tcpprobe/tcpprobe/internal/privilege"
)

// Dir is where iproute2 keeps named namespaces.
const Dir = "/run/netns"

// NS is a named network namespace.
type NS struct {
	Name string
}

// Create adds a named namespace with its loopback up. It fails if the name
// exists.
func Create(name string) (*NS, error) {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		msg := strings.TrimSpace(string(out))
		if strings.Contains(msg, "ermission") || strings.Contains(msg, "not permitted") {
			return nil, &privilege.Error{Op: "create network namespace " + name, Cap: "CAP_SYS_ADMIN", Err: errors.New(msg)}
		}
		return nil, fmt.Errorf("create network namespace %s: %s", name, firstLine(msg, err))
	}
	ns := &NS{Name: name}
	if err := ns.Run("ip", "link", "set", "lo", "up"); err != nil {
		ns.Delete()
		return nil, err
	}
	// No duplicate address detection on the namespace's interfaces: their
	// link-local addresses are usable at once (neighbour discovery needs
	// them), so IPv6 works as soon as a test starts.
	for _, key := range []string{"net.ipv6.conf.default.accept_dad", "net.ipv6.conf.all.accept_dad"} {
		if err := ns.Sysctl(key, "0"); err != nil {
			ns.Delete()
			return nil, err
		}
	}
	return ns, nil
}

// Recreate deletes a namespace left by an earlier run (a crash, a killed
// test) and creates it anew.
func Recreate(name string) (*NS, error) {
	if Exists(name) {
		if err := (&NS{Name: name}).Delete(); err != nil {
			return nil, err
		}
	}
	return Create(name)
}

// Exists reports whether a namespace of that name exists.
func Exists(name string) bool {
	_, err := os.Stat(filepath.Join(Dir, name))
	return err == nil
}

// List returns the names of the namespaces that start with prefix.
func List(prefix string) []string {
	ents, _ := os.ReadDir(Dir)
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// Delete removes the namespace; its interfaces and sockets go with it.
func (ns *NS) Delete() error {
	if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil && Exists(ns.Name) {
		return fmt.Errorf("delete network namespace %s: %s", ns.Name, firstLine(string(out), err))
	}
	return nil
}

// Run runs a command inside the namespace and returns an error with its
// output's first line when it fails.
func (ns *NS) Run(args ...string) error {
	_, err := ns.Output(args...)
	return err
}

// Output runs a command inside the namespace and returns its output.
func (ns *NS) Output(args ...string) (string, error) {
	cmd := ns.Command(args[0], args[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s (in %s): %s", strings.Join(args, " "), ns.Name, firstLine(string(out), err))
	}
	return string(out), nil
}

// Command returns a command that runs inside the namespace.
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Open returns a file descriptor for the namespace (for setns or for
// netlink sockets bound to it). The caller closes it.
func (ns *NS) Open() (*os.File, error) {
	return os.Open(filepath.Join(Dir, ns.Name))
}

// Do runs f on an OS thread switched into the namespace. Sockets that f
// creates belong to the namespace and stay there after Do returns.
func (ns *NS) Do(f func() error) error {
	target, err := ns.Open()
	if err != nil {
		return err
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is never unlocked: if switching back failed it must
		// die with the goroutine rather than run other code in the
		// namespace, and dying is also the cheapest way back when it worked.
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- os.NewSyscallError("setns", err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil && ferr == nil {
			ferr = os.NewSyscallError("setns back", err)
		}
		errc <- ferr
	}()
	return <-errc
}

// Sysctl sets a sysctl inside the namespace, e.g. Sysctl("net.ipv4.tcp_synack_retries", "2").
func (ns *NS) Sysctl(key, value string) error {
	return ns.Do(func() error {
		path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
		if err := os.WriteFile(path, []byte(value), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s in %s: %w", key, value, ns.Name, err)
		}
		return nil
	})
}

func firstLine(s string, err error) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" && err != nil {
		return err.Error()
	}
	return s
}
