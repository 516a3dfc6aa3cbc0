package ui

import (
	"slices"
	"time"

	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

// The header's per-step latency: how long each step took, from the message
// that started it being published to the message it sent being published.
// That is the time a person waits on the step: queueing plus handling.
const (
	// stepSamples is how many recent samples each step keeps; the
	// percentiles are over these, so they follow the present.
	stepSamples = 1024
	// maxTracked bounds the bookings being timed. A booking is forgotten
	// once it is told; past the bound (the observer saw starts but not
	// ends, e.g. notification is paused), the oldest half is dropped.
	maxTracked = 50000
)

// stepNames are the header's steps, in saga order.
var stepNames = []string{saga.PartPayment, saga.PartSeats, saga.PartNotification, saga.PartCompensation}

// stepTimes times each step from what the observer reports: no query
// needed. It is guarded by Live.mu.
type stepTimes struct {
	tracked map[string]*sagaTimes
	order   []string // ids in the order they started, for dropping
	samples map[string]*ring
}

// sagaTimes are when a booking's steps ended, as far as the observer saw.
type sagaTimes struct {
	created, paid, failed, decided time.Time
}

type ring struct {
	d    [stepSamples]time.Duration
	n, i int
}

func (r *ring) add(d time.Duration) {
	r.d[r.i] = d
	r.i = (r.i + 1) % len(r.d)
	r.n = min(r.n+1, len(r.d))
}

func newStepTimes() stepTimes {
	st := stepTimes{tracked: map[string]*sagaTimes{}, samples: map[string]*ring{}}
	for _, n := range stepNames {
		st.samples[n] = &ring{}
	}
	return st
}

// observe takes one observed message.
func (st *stepTimes) observe(e observer.Event) {
	if e.BookingID == "" || e.At.IsZero() {
		return
	}
	t := st.tracked[e.BookingID]
	if t == nil {
		if e.Type != saga.TypeBookingCreated {
			return // started before we were watching
		}
		if len(st.order) >= 2*maxTracked {
			st.compact()
		}
		if len(st.tracked) >= maxTracked {
			st.dropOldest()
		}
		t = &sagaTimes{}
		st.tracked[e.BookingID] = t
		st.order = append(st.order, e.BookingID)
	}
	sample := func(step string, from time.Time) {
		// Timestamps are whole milliseconds: a step within one counts 0.
		if !from.IsZero() && !e.At.Before(from) {
			st.samples[step].add(e.At.Sub(from))
		}
	}
	switch e.Type {
	case saga.TypeBookingCreated:
		t.created = e.At
	case saga.TypePaymentCompleted:
		sample(saga.PartPayment, t.created)
		t.paid = e.At
	case saga.TypePaymentServiceFailed:
		sample(saga.PartPayment, t.created)
		t.failed = e.At
	case saga.TypeSeatsSold:
		sample(saga.PartSeats, t.paid)
		t.decided = e.At
	case saga.TypeSeatUpdatingServiceFailed:
		sample(saga.PartSeats, t.paid)
		t.failed = e.At
	case saga.TypeDeadlineExceeded:
		t.failed = e.At
	case saga.TypeBookingCancelled:
		// The undo, from the failure to the booking being cancelled.
		sample(saga.PartCompensation, t.failed)
		t.decided = e.At
	case saga.TypeBookingNotified:
		// Telling the user, retries included.
		sample(saga.PartNotification, t.decided)
		delete(st.tracked, e.BookingID)
	}
}

// compact forgets the ids of bookings already told.
func (st *stepTimes) compact() {
	kept := st.order[:0]
	for _, id := range st.order {
		if st.tracked[id] != nil {
			kept = append(kept, id)
		}
	}
	clear(st.order[len(kept):])
	st.order = kept
}

// dropOldest forgets the older half of the bookings being timed.
func (st *stepTimes) dropOldest() {
	st.compact()
	half := len(st.order) / 2
	for _, id := range st.order[:half] {
		delete(st.tracked, id)
	}
	st.order = slices.Delete(st.order, 0, half)
}

// NearestRank returns the p-th percentile of sorted by nearest rank: the
// smallest sample that at least p % of the samples are at or below. With
// fewer than 100 samples p99 is the largest, so one 7.5 s wait among 20
// quick ones shows in the header as the card shows it; the former
// (n-1)*p/100 index never reached the maximum under 101 samples. It
// returns 0 for no samples.
func NearestRank(sorted []time.Duration, p int) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := (p*n + 99) / 100 // ceil(p/100 * n)
	return sorted[min(max(rank, 1), n)-1]
}

// views returns each step's p50 and p99 over its recent samples.
func (st *stepTimes) views() []views.StepLatency {
	out := make([]views.StepLatency, 0, len(stepNames))
	var buf []time.Duration
	for _, n := range stepNames {
		r := st.samples[n]
		v := views.StepLatency{Step: n, N: r.n}
		if r.n > 0 {
			buf = append(buf[:0], r.d[:r.n]...)
			slices.Sort(buf)
			v.P50, v.P99 = NearestRank(buf, 50), NearestRank(buf, 99)
		}
		out = append(out, v)
	}
	return out
}
