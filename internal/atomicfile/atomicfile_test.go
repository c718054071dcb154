package atomicfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestRegularFileAppearsOnlyOnCommit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.pcap")
	os.WriteFile(path, []byte("old"), 0o600)
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("new")
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("visible before commit: %q", b)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(b) != "new" || fi.Mode().Perm() != 0o644 {
		t.Errorf("after commit: %q %v", b, fi.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(filepath.Join(dir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("data")
	f.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

// TestDevicesAndFIFOsAreNeverReplaced: /dev/null stays a device and a FIFO
// stays a FIFO; both receive the data in place.
func TestDevicesAndFIFOsAreNeverReplaced(t *testing.T) {
	f, err := Create(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("discard me")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(os.DevNull); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("/dev/null is no longer a character device: %v %v", fi.Mode(), err)
	}

	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan string)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- string(b)
	}()
	f, err = Create(fifo)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("through the fifo")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "through the fifo" {
		t.Errorf("fifo reader got %q", s)
	}
	if fi, _ := os.Lstat(fifo); fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("fifo replaced: %v", fi.Mode())
	}
}

func TestCheckRefusesDirectoriesAndMissingParents(t *testing.T) {
	dir := t.TempDir()
	if err := Check(dir); err == nil {
		t.Error("a directory was accepted")
	}
	if err := Check(filepath.Join(dir, "no", "such", "x")); err == nil {
		t.Error("a missing parent directory was accepted")
	}
	if err := Check(filepath.Join(dir, "new")); err != nil {
		t.Errorf("a new file in an existing directory: %v", err)
	}
	if _, err := Create(dir); err == nil {
		t.Error("Create accepted a directory")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}
