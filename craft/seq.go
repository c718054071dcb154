package craft

// Seq is a TCP sequence number. Arithmetic wraps modulo 2^32 and comparisons
// follow RFC 9293 section 3.4: a is before b when int32(a-b) < 0.
type Seq uint32

// Add returns s advanced by n octets of sequence space.
func (s Seq) Add(n uint32) Seq { return s + Seq(n) }

// Sub returns the signed distance from o to s (s - o).
func (s Seq) Sub(o Seq) int32 { return int32(s - o) }

// LessThan reports whether s comes before o in sequence space.
func (s Seq) LessThan(o Seq) bool { return int32(s-o) < 0 }

// LessThanEq reports whether s comes before or equals o.
func (s Seq) LessThanEq(o Seq) bool { return int32(s-o) <= 0 }

// InWindow reports whether s lies in [start, start+size).
func (s Seq) InWindow(start Seq, size uint32) bool {
	return uint32(s-start) < size
}

// After reports whether s comes after o in sequence space.
func (s Seq) After(o Seq) bool { return int32(s-o) > 0 }

// SeqLen is the sequence space a segment occupies: its payload, plus one
// for SYN and one for FIN (RFC 9293 section 3.4).
func SeqLen(f Flags, payload int) uint32 {
	n := uint32(payload)
	if f&SYN != 0 {
		n++
	}
	if f&FIN != 0 {
		n++
	}
	return n
}

// TSAfter reports whether TCP timestamp a is newer than b, modulo 2^32
// (RFC 7323 section 5.2: timestamps compare like sequence numbers).
func TSAfter(a, b uint32) bool { return int32(a-b) > 0 }
