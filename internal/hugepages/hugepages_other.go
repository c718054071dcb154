//go:build !linux

package analyze

// PreferHugePages does nothing outside Linux.
func PreferHugePages(n int) {}
