// Package testpaths finds files the tests share: the captures in
// ../shared/pcaps beside the repository.
package testpaths

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the repository root (the directory holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// SharedPcaps returns ../shared/pcaps/zeek beside the repository. Outside
// CI a missing folder skips the test; in CI (CI set) it fails it.
func SharedPcaps(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(Root(t), "..", "shared", "pcaps", "zeek")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("shared captures missing: %v", err)
		}
		t.Skipf("shared captures missing: %v", err)
	}
	return dir
}

// SharedPcapsOrEmpty returns the shared captures' folder, or "" when it is
// not there (for fuzz seeds, which are optional).
func SharedPcapsOrEmpty() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "pcaps", "zeek")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
