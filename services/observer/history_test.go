package observer_test

import (
	"context"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// TestDepthsAtIsTheLastSetSeen records two sets of depths and asks for
// the moments between, before and after them.
func TestDepthsAtIsTheLastSetSeen(t *testing.T) {
	ctx := context.Background()
	svc, _ := MustRunObserver(t, saga.ObserverQueue)
	t1 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	t2 := t1.Add(3 * time.Second)
	if err := svc.RecordDepths(ctx, t1, []saga.QueueStat{{Name: saga.SeatUpdateQueue, Ready: 1, Consumers: 0}, {Name: saga.PaymentQueue, Consumers: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := svc.RecordDepths(ctx, t2, []saga.QueueStat{{Name: saga.PaymentQueue, Consumers: 1}, {Name: saga.SeatUpdateQueue, Consumers: 1}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at      time.Time
		when    time.Time
		seatsQ  int
		entries int
	}{
		{t1.Add(-time.Second), time.Time{}, 0, 0},
		{t1, t1, 1, 2},
		{t1.Add(time.Second), t1, 1, 2},
		{t2.Add(time.Hour), t2, 0, 2},
	} {
		when, stats, err := svc.DepthsAt(ctx, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if !when.Equal(tc.when) || len(stats) != tc.entries {
			t.Fatalf("at %s: got %d queues read at %s, want %d read at %s", tc.at, len(stats), when, tc.entries, tc.when)
		}
		if len(stats) > 0 {
			// In saga order: payment_queue first.
			if stats[0].Name != saga.PaymentQueue || stats[1].Ready != tc.seatsQ {
				t.Errorf("at %s: got %+v", tc.at, stats)
			}
		}
	}
	// Pruning everything keeps the newest set: it is still in force.
	if err := svc.PruneDepths(ctx, t2.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if when, _, _ := svc.DepthsAt(ctx, t1.Add(time.Second)); !when.IsZero() {
		t.Errorf("the older set survived pruning: read at %s", when)
	}
	if when, stats, _ := svc.DepthsAt(ctx, t2); !when.Equal(t2) || len(stats) != 2 {
		t.Errorf("the newest set was pruned: got %d read at %s", len(stats), when)
	}
	from, to, err := svc.Recorded(ctx)
	if err != nil || !from.Equal(t2) || !to.Equal(t2) {
		t.Errorf("Recorded: got %s–%s, %v; want the one sample left", from, to, err)
	}
}

// TestEventsUntilStopsAtTheMoment records three messages and reads them
// back up to a moment between them, in the order they were published.
func TestEventsUntilStopsAtTheMoment(t *testing.T) {
	ctx := context.Background()
	svc, tap := MustRunObserver(t, saga.ObserverQueue)
	base := time.Now().UTC().Truncate(time.Millisecond)
	e := saga.Envelope{Booking: saga.Booking{ID: "b1", UserID: "ann", Seats: []string{"A1"}, AmountCents: saga.Amount(1)}}
	msgs := []saga.Message{
		{ID: "m2", CorrelationID: "b1", Type: saga.TypePaymentCompleted, RoutingKey: saga.SeatUpdateQueue, Timestamp: base.Add(20 * time.Millisecond), Body: e.Encode()},
		{ID: "m1", CorrelationID: "b1", Type: saga.TypeBookingCreated, RoutingKey: saga.PaymentQueue, Timestamp: base, Body: e.Encode()},
		{ID: "m3", CorrelationID: "b1", Type: saga.TypeSeatsSold, RoutingKey: saga.NotificationQueue, Timestamp: base.Add(40 * time.Millisecond), Body: e.Encode()},
	}
	for _, o := range tap(ctx, msgs) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
	}
	got, err := svc.EventsUntil(ctx, base.Add(30*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].MessageID != "m1" || got[1].MessageID != "m2" {
		t.Fatalf("got %+v, want m1 then m2", got)
	}
	if env := got[0].Envelope(); len(env.Booking.Seats) != 1 {
		t.Errorf("BookingCreated lost its seats: %s", got[0].Payload)
	}
	from, _, err := svc.Recorded(ctx)
	if err != nil || !from.Equal(base) {
		t.Errorf("Recorded from: got %s, %v; want %s", from, err, base)
	}
}
