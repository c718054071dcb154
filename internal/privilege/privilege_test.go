package privilege

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestCheck(t *testing.T) {
	err := Check("open raw socket", "CAP_NET_RAW", os.NewSyscallError("socket", syscall.EPERM))
	var pe *Error
	if !errors.As(err, &pe) || pe.Cap != "CAP_NET_RAW" || !strings.Contains(err.Error(), "missing CAP_NET_RAW") {
		t.Fatalf("EPERM not turned into a privilege error: %v", err)
	}
	if !errors.Is(err, syscall.EPERM) {
		t.Error("the errno is lost")
	}
	other := Check("open raw socket", "CAP_NET_RAW", syscall.EINVAL)
	if errors.As(other, &pe) || !strings.HasPrefix(other.Error(), "open raw socket: ") {
		t.Errorf("EINVAL: %v", other)
	}
	if Check("x", "y", nil) != nil {
		t.Error("nil error wrapped")
	}
}
