//go:build linux

package lab

import (
	"context"
	"os"
	"testing"
)

// ForTest brings a lab up with its servers for one test and tears it down
// with t.Cleanup, whatever the test's outcome. Tests that run in parallel
// give distinct names and subnets. It skips the test when not root.
func ForTest(t testing.TB, cfg Config) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, raw sockets)")
	}
	l, err := Up(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	srv, err := l.StartServers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return l
}
