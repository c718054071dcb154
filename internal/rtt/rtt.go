// Package rtt holds round-trip arithmetic shared by the live workloads:
// ping-style statistics over samples, the RFC 6298 estimator, and
// durations as milliseconds for JSON and tables.
package rtt

import (
	"fmt"
	"math"
	"time"
)

// Summary is ping-style round-trip statistics.
type Summary struct {
	Sent     int     `json:"sent"`
	Answered int     `json:"answered"`
	LossPct  float64 `json:"loss_pct"`
	MinMs    float64 `json:"min_ms"`
	AvgMs    float64 `json:"avg_ms"`
	MaxMs    float64 `json:"max_ms"`
	MdevMs   float64 `json:"mdev_ms"`
}

// Stats computes RTT statistics as ping does (mdev is the standard
// deviation of the samples).
func Stats(sent int, rtts []time.Duration) Summary {
	s := Summary{Sent: sent, Answered: len(rtts)}
	if sent > 0 {
		s.LossPct = 100 * float64(sent-len(rtts)) / float64(sent)
	}
	if len(rtts) == 0 {
		return s
	}
	var sum, sum2 float64
	s.MinMs = math.Inf(1)
	for _, r := range rtts {
		ms := float64(r) / float64(time.Millisecond)
		sum += ms
		sum2 += ms * ms
		s.MinMs = math.Min(s.MinMs, ms)
		s.MaxMs = math.Max(s.MaxMs, ms)
	}
	n := float64(len(rtts))
	s.AvgMs = sum / n
	s.MdevMs = math.Sqrt(math.Max(0, sum2/n-s.AvgMs*s.AvgMs))
	return s
}

// Line renders "3 sent, 3 answered, 0.0% loss, rtt min/avg/max/mdev = a/b/c/d ms".
func (s Summary) Line() string {
	l := fmt.Sprintf("%d sent, %d answered, %.1f%% loss", s.Sent, s.Answered, s.LossPct)
	if s.Answered > 0 {
		l += fmt.Sprintf(", rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms", s.MinMs, s.AvgMs, s.MaxMs, s.MdevMs)
	}
	return l
}

// Ms renders a duration in milliseconds with microsecond precision.
func Ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// Estimator is RFC 6298's smoothed round-trip time: SRTT and RTTVAR from
// the samples, and the retransmission timeout SRTT + 4 RTTVAR (without
// its clock-granularity term and its bounds, which callers set).
type Estimator struct {
	SRTT, RTTVar time.Duration
	ok           bool
}

// Sample folds one measured RTT in (RFC 6298 2.2 for the first, 2.3 for
// the others). Karn's rule is the caller's: no samples from
// retransmitted probes.
func (e *Estimator) Sample(r time.Duration) {
	if !e.ok {
		e.SRTT, e.RTTVar, e.ok = r, r/2, true
		return
	}
	d := e.SRTT - r
	if d < 0 {
		d = -d
	}
	e.RTTVar = (3*e.RTTVar + d) / 4
	e.SRTT = (7*e.SRTT + r) / 8
}

// RTO is SRTT + 4 RTTVAR, and false before any sample.
func (e *Estimator) RTO() (time.Duration, bool) { return e.SRTT + 4*e.RTTVar, e.ok }
