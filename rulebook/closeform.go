package rulebook

import (
	"fmt"
)

// CloseForm says how the connection ended.
type CloseForm uint8

// Close forms.
const (
	CloseNone         CloseForm = iota // neither FIN nor RST
	CloseHalf                          // one FIN, the other side still open
	CloseFourSegment                   // FIN, ACK, FIN, ACK
	CloseThreeSegment                  // FIN, FIN+ACK, ACK
	CloseSimultaneous                  // both FINs crossed (CLOSING)
	CloseReset                         // RST
	CloseFINsPending                   // both FINs sent, not both acknowledged
)

var closeNames = [...]string{"none", "half-closed", "4-segment", "3-segment", "simultaneous", "reset", "FINs unacknowledged"}

func (c CloseForm) String() string { return closeNames[c] }

// MarshalText prints close forms by name in JSON.
func (c CloseForm) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads a close form's name.
func (c *CloseForm) UnmarshalText(b []byte) error {
	for i, n := range closeNames {
		if n == string(b) {
			*c = CloseForm(i)
			return nil
		}
	}
	return fmt.Errorf("unknown close form %q", b)
}

// CloseForm returns how the connection ended and, for a reset or a close, who
// began it.
func (t *Tracker) CloseForm() (CloseForm, Role) {
	if t.rstBy >= 0 && !t.rstAfterClose {
		return CloseReset, Role(t.rstBy)
	}
	c, s := &t.Side[Client], &t.Side[Server]
	switch {
	case !c.FIN && !s.FIN:
		return CloseNone, 0
	case c.FIN != s.FIN:
		return CloseHalf, Role(t.firstFIN)
	case !c.FINAck || !s.FINAck:
		return CloseFINsPending, Role(t.firstFIN)
	case t.simultaneous:
		return CloseSimultaneous, Role(t.firstFIN)
	case t.combinedFIN:
		return CloseThreeSegment, Role(t.firstFIN)
	}
	return CloseFourSegment, Role(t.firstFIN)
}
