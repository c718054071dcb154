package scan

import (
	"context"
	"testing"
	"time"
)

func TestRTTSmoothing(t *testing.T) {
	s := &Scanner{cfg: Config{Wait: time.Second, MinWait: 50 * time.Millisecond}}
	if got := s.quietFor(); got != time.Second {
		t.Errorf("no RTT yet: %v, want the whole wait", got)
	}
	s.sample(100 * time.Millisecond)
	if s.srtt != 100*time.Millisecond || s.rttvar != 50*time.Millisecond {
		t.Fatalf("first sample: srtt %v rttvar %v", s.srtt, s.rttvar)
	}
	if got := s.quietFor(); got != 300*time.Millisecond {
		t.Errorf("srtt 100ms rttvar 50ms: %v, want 300ms", got)
	}
	s.sample(200 * time.Millisecond) // RFC 6298 2.3: rttvar 3/4*50+1/4*100, srtt 7/8*100+1/8*200
	if s.rttvar != 62500*time.Microsecond || s.srtt != 112500*time.Microsecond {
		t.Errorf("second sample: srtt %v rttvar %v", s.srtt, s.rttvar)
	}
	for range 50 {
		s.sample(100 * time.Microsecond)
	}
	if got := s.quietFor(); got != 50*time.Millisecond {
		t.Errorf("fast replies: %v, want the 50ms floor", got)
	}
	for range 50 {
		s.sample(3 * time.Second)
	}
	if got := s.quietFor(); got != time.Second {
		t.Errorf("slow replies: %v, want the 1s cap", got)
	}
}

// TestWaitLateEndsEarly: a round whose probes are all answered, or whose
// replies stopped for the RTT-based timeout, does not wait out --wait.
func TestWaitLateEndsEarly(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pending int
	}{{"all answered", 0}, {"replies stopped", 3}} {
		s := &Scanner{cfg: Config{Wait: 20 * time.Second, MinWait: 20 * time.Millisecond}, pending: tc.pending}
		s.sample(time.Millisecond)
		s.lastReply = time.Now()
		start := time.Now()
		s.waitLate(context.Background())
		if el := time.Since(start); el > 10*time.Second || tc.pending > 0 && el < 20*time.Millisecond {
			t.Errorf("%s: waited %v", tc.name, el)
		}
	}
	// Without any reply to go by, the whole wait (cut short by ctx here).
	s := &Scanner{cfg: Config{Wait: 20 * time.Second, MinWait: 20 * time.Millisecond}, pending: 1, lastSent: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	s.waitLate(ctx)
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("no RTT: gave up after %v", el)
	}
}
