// Package privilege turns "operation not permitted" from the kernel into an
// error that names the capability tcpprobe is missing.
package privilege

import (
	"errors"
	"fmt"
	"syscall"
)

// Error reports an operation refused for lack of a capability.
type Error struct {
	Op  string // what was attempted, e.g. "open raw socket"
	Cap string // the capability needed, e.g. "CAP_NET_RAW"
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %v: missing %s (run as root, or: setcap cap_net_raw,cap_net_admin+ep tcpprobe)", e.Op, e.Err, e.Cap)
}

func (e *Error) Unwrap() error { return e.Err }

// Check wraps err as an *Error when it is EPERM or EACCES, and as a plain
// "op: err" otherwise. It returns nil for a nil err.
func Check(op, capability string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return &Error{Op: op, Cap: capability, Err: err}
	}
	return fmt.Errorf("%s: %w", op, err)
}
