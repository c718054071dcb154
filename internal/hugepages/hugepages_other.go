//go:build !linux

package hugepages

// Prefer does nothing outside Linux.
func Prefer(n int) {}
