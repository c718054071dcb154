package analyze

import (
	"encoding/json"
	"math/bits"
	"strconv"
)

// Flag is a per-packet analysis result, named as Wireshark's
// tcp.analysis.* fields are.
type Flag uint16

// Packet analysis flags.
const (
	FlagRetransmission Flag = 1 << iota
	FlagFastRetransmission
	FlagSpuriousRetransmission
	FlagOutOfOrder
	FlagLostSegment // previous segment not captured
	FlagDuplicateACK
	FlagZeroWindow
	FlagZeroWindowProbe
	FlagKeepAlive
	FlagKeepAliveACK
	FlagWindowFull
	FlagWindowUpdate
	FlagACKedUnseen
	FlagPortReuse
	FlagBadChecksum
	// FlagChallengeACK is not Wireshark's: a bare ACK answering an
	// unacceptable RST or a SYN on a synchronized connection (RFC 5961).
	FlagChallengeACK
	numFlags = 16

	// NumFlags is the number of analysis flags.
	NumFlags = numFlags
)

var flagNames = [numFlags]string{"retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
	"lost_segment", "duplicate_ack", "zero_window", "zero_window_probe", "keep_alive", "keep_alive_ack",
	"window_full", "window_update", "ack_lost_segment", "reused_ports", "bad_checksum", "challenge_ack"}

// FlagName is the flag's name (Wireshark's tcp.analysis field suffix).
func FlagName(i int) string { return flagNames[i] }

// Names lists the flags set in f.
func (f Flag) Names() []string {
	var out []string
	for i := 0; i < numFlags; i++ {
		if f&(1<<i) != 0 {
			out = append(out, flagNames[i])
		}
	}
	return out
}

// Counts holds how many packets of a connection carried each flag,
// indexed by flag bit.
type Counts [numFlags]int

func (c *Counts) add(f Flag) {
	for f != 0 {
		i := bits.TrailingZeros16(uint16(f))
		c[i]++
		f &^= 1 << i
	}
}

// Get returns the count of flag f (a single bit).
func (c *Counts) Get(f Flag) int { return c[bits.TrailingZeros16(uint16(f))] }

// Merge adds o to c.
func (c *Counts) Merge(o *Counts) {
	for i := range c {
		c[i] += o[i]
	}
}

// MarshalJSON writes the counts as an object keyed by flag name.
func (c Counts) MarshalJSON() ([]byte, error) {
	return c.appendJSON(make([]byte, 0, 400)), nil
}

func (c *Counts) appendJSON(b []byte) []byte {
	b = append(b, '{')
	for i, v := range c {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, flagNames[i]...)
		b = append(b, '"', ':')
		b = strconv.AppendInt(b, int64(v), 10)
	}
	return append(b, '}')
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *Counts) UnmarshalJSON(b []byte) error {
	m := map[string]int{}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for i, n := range flagNames {
		c[i] = m[n]
	}
	return nil
}
