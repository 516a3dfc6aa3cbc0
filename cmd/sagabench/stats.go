package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0–100) of ds by the nearest-rank
// method: the smallest value that at least p% of the samples do not exceed.
// Nearest rank never invents a value that was not measured, which keeps a
// p99 of 300 samples honest: it is the 297th smallest, not an interpolation.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}

// Latency is a summary of a set of durations.
type Latency struct {
	N             int
	P50, P90, P99 time.Duration
	Max           time.Duration
}

func summarize(ds []time.Duration) Latency {
	return Latency{N: len(ds), P50: percentile(ds, 50), P90: percentile(ds, 90), P99: percentile(ds, 99), Max: percentile(ds, 100)}
}

func (l Latency) String() string {
	if l.N == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s", ms(l.P50), ms(l.P90), ms(l.P99))
}

// median returns the median of xs, the mean of the middle two for an even
// count. Runs on these machines are noisy; the median shrugs off one bad run.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// medianDuration is median for durations, computed without floats so
// that never stays never.
func medianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	a, b := s[n/2-1], s[n/2]
	if b == never {
		return never
	}
	return a + (b-a)/2
}

// ms formats a duration in milliseconds with a precision that suits its size.
func ms(d time.Duration) string {
	if d == never {
		return "never"
	}
	f := float64(d) / float64(time.Millisecond)
	switch {
	case f < 10:
		return fmt.Sprintf("%.2f ms", f)
	case f < 100:
		return fmt.Sprintf("%.1f ms", f)
	default:
		return fmt.Sprintf("%.0f ms", f)
	}
}

// thousands formats n with thin separators, as the report's figures are
// read at a glance: 12,345.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
