package ui_test

import (
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/web/ui"
)

func TestNearestRankReachesTheMaximum(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	twenty := ms(1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 7500)
	hundredOne := make([]time.Duration, 101)
	for i := range hundredOne {
		hundredOne[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{"no samples", nil, 99, 0},
		{"one sample", ms(4), 99, 4 * time.Millisecond},
		{"one sample, p50", ms(4), 50, 4 * time.Millisecond},
		{"p99 of 20 is the largest", twenty, 99, 7500 * time.Millisecond},
		{"p50 of 20 is the 10th", twenty, 50, 3 * time.Millisecond},
		{"p50 of 4 is the 2nd", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 101 is the 100th", hundredOne, 99, 100 * time.Millisecond},
		{"p100 is the largest", ms(1, 2, 3), 100, 3 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ui.NearestRank(tc.sorted, tc.p); got != tc.want {
				t.Errorf("NearestRank(p%d) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}
