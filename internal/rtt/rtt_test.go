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

func TestEstimator(t *testing.T) {
	var e Estimator
	if _, ok := e.RTO(); ok {
		t.Error("an RTO before any sample")
	}
	e.Sample(100 * time.Millisecond)
	if rto, _ := e.RTO(); e.SRTT != 100*time.Millisecond || e.RTTVar != 50*time.Millisecond || rto != 300*time.Millisecond {
		t.Fatalf("first sample: srtt %v rttvar %v rto %v", e.SRTT, e.RTTVar, rto)
	}
	e.Sample(200 * time.Millisecond) // RFC 6298 2.3: rttvar 3/4*50+1/4*100, srtt 7/8*100+1/8*200
	if e.RTTVar != 62500*time.Microsecond || e.SRTT != 112500*time.Microsecond {
		t.Errorf("second sample: srtt %v rttvar %v", e.SRTT, e.RTTVar)
	}
}
