// Package atomicfile writes output files so that a reader never sees half
// of one: a regular file (or a new one) is written to a temporary file in
// the same directory and renamed over the name on Commit. Anything else at
// the path (a character device such as /dev/null, a FIFO, a socket) is
// written in place and never replaced; "-" is standard output. A
// directory is refused before anything is written.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File is an output being written. Write to it, then Commit or Abort.
type File struct {
	*os.File
	path   string
	temp   bool // a temporary file to rename on Commit
	closed bool
}

// Check reports, before any work is done, whether path can be written:
// its directory exists and it is not a directory itself.
func Check(path string) error {
	if path == "-" {
		return nil
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("%s is a directory", path)
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if !di.IsDir() {
		return fmt.Errorf("cannot write %s: %s is not a directory", path, dir)
	}
	return nil
}

// Create starts writing path.
func Create(path string) (*File, error) {
	if err := Check(path); err != nil {
		return nil, err
	}
	if path == "-" {
		return &File{File: os.Stdout, path: path}, nil
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		// A device, FIFO or socket: write into it, never rename over it.
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		return &File{File: f, path: path}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("cannot write %s: %w", path, err)
	}
	return &File{File: f, path: path, temp: true}, nil
}

// Commit closes the file and, for a regular file, moves it into place
// (mode 0644). On error nothing is left behind.
func (f *File) Commit() error {
	if f.closed {
		return errors.New("atomicfile: commit after close")
	}
	f.closed = true
	if f.path == "-" {
		return nil
	}
	if !f.temp {
		return f.File.Close()
	}
	err := f.File.Sync()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.File.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.File.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.File.Name())
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// Abort discards a file not committed; it does nothing after Commit.
func (f *File) Abort() {
	if f.closed {
		return
	}
	f.closed = true
	if f.path == "-" {
		return
	}
	f.File.Close()
	if f.temp {
		os.Remove(f.File.Name())
	}
}
