package rtt

import (
	"math"
	"testing"
	"time"
)

func TestStats(t *testing.T) {
	s := Stats(4, []time.Duration{time.Millisecond, 3 * time.Millisecond})
	if s.Answered != 2 || s.LossPct != 50 || s.MinMs != 1 || s.MaxMs != 3 || s.AvgMs != 2 || math.Abs(s.MdevMs-1) > 1e-9 {
		t.Errorf("%+v", s)
	}
	if got := s.Line(); got != "4 sent, 2 answered, 50.0% loss, rtt min/avg/max/mdev = 1.000/2.000/3.000/1.000 ms" {
		t.Errorf("line %q", got)
	}
	if got := Stats(2, nil).Line(); got != "2 sent, 0 answered, 100.0% loss" {
		t.Errorf("line %q", got)
	}
}
