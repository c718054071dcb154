// Package testpaths finds files the tests share: the captures checked in
// under testdata/ at the repository's root.
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
	root, ok := findRoot(dir)
	if !ok {
		t.Fatal("go.mod not found above the test directory")
	}
	return root
}

func findRoot(dir string) (string, bool) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// ZeekPcaps returns testdata/pcaps/zeek: test traces from Zeek's own test
// suite (BSD licence, COPYING.zeek beside them) with Zeek's expected
// conn.log for some (zeek-conn-logs/). They are part of the repository, so
// the tests that read them never skip.
func ZeekPcaps(t testing.TB) string {
	t.Helper()
	return filepath.Join(Root(t), "testdata", "pcaps", "zeek")
}

// ZeekPcapsOrEmpty is ZeekPcaps for fuzz seeds, which have no testing.TB
// at hand: "" when the folder cannot be found.
func ZeekPcapsOrEmpty() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	root, ok := findRoot(dir)
	if !ok {
		return ""
	}
	return filepath.Join(root, "testdata", "pcaps", "zeek")
}
