package scan

import "testing"

// The reference vector of the SipHash paper (appendix A): key 00..0f,
// message 00..0e.
func TestSipHashReferenceVector(t *testing.T) {
	k0, k1 := uint64(0x0706050403020100), uint64(0x0f0e0d0c0b0a0908)
	msg := make([]byte, 15)
	for i := range msg {
		msg[i] = byte(i)
	}
	if got := siphash24(k0, k1, msg); got != 0xa129ca6149be45e5 {
		t.Errorf("siphash24 = %#x, want 0xa129ca6149be45e5", got)
	}
	if siphash24(k0, k1, nil) != 0x726fdb47dd0e0e31 {
		t.Errorf("empty message: %#x", siphash24(k0, k1, nil))
	}
}
