//go:build !cgo

package capture

// CompileFilter is unavailable without cgo.
func CompileFilter(string) (func([]byte, int) bool, error) { return nil, errNoCgo }
