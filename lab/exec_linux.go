//go:build linux

package lab

import (
	"os/exec"
	"strings"
)

func execOut(args ...string) (string, error) {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if err != nil && s == "" {
		s = err.Error()
	}
	return s, err
}
