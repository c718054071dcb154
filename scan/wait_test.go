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
	s.rtt.Sample(100 * time.Millisecond)
	if got := s.quietFor(); got != 300*time.Millisecond {
		t.Errorf("srtt 100ms rttvar 50ms: %v, want 300ms", got)
	}
	for range 50 {
		s.rtt.Sample(100 * time.Microsecond)
	}
	if got := s.quietFor(); got != 50*time.Millisecond {
		t.Errorf("fast replies: %v, want the 50ms floor", got)
	}
	for range 50 {
		s.rtt.Sample(3 * time.Second)
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
		s.rtt.Sample(time.Millisecond)
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
