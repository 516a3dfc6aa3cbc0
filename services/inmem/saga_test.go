package inmem_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/compensation"
	"github.com/sagaboard/sagaboard/services/notification"
	"github.com/sagaboard/sagaboard/services/payment"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/seats"
	"github.com/sagaboard/sagaboard/services/store/storetest"
)

// The real participants, on their real stores, run the saga through the
// in-memory bus: what the conformance suite promises is what they need.
func TestTheSagaRunsOnTheInMemoryBus(t *testing.T) {
	cases := []struct {
		name, switches string
		status         string
		ledger         []string // the kinds of payment's lines for the booking, sorted
	}{
		{"confirmed", "", booking.StatusConfirmed, []string{"charge"}},
		{"payment declined", `{"payment":{"fail_rate":1}}`, booking.StatusCompensated, nil},
		{"seats failed after the charge", `{"seats":{"fail_rate":1}}`, booking.StatusCompensated, []string{"charge", "refund"}},
		// Two failed sends wait 100ms and 500ms in their retry queues.
		{"notification retried", `{"notification":{"fail_next":2}}`, booking.StatusConfirmed, []string{"charge"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bus := MustOpen(t)
			sw := saga.NewSwitches()
			if c.switches != "" {
				p, err := saga.ParsePatch([]byte(c.switches))
				if err != nil {
					t.Fatal(err)
				}
				sw.Apply(p)
			}
			ctx := context.Background()
			log := storetest.Quiet()
			b, err := booking.New(ctx, storetest.MustOpen(t, "booking"), bus, saga.Venue{Rows: 2, Cols: 2}, 0, log)
			if err != nil {
				t.Fatal(err)
			}
			p, err := payment.New(ctx, storetest.MustOpen(t, "payment"), bus, sw, log)
			if err != nil {
				t.Fatal(err)
			}
			s, err := seats.New(ctx, storetest.MustOpen(t, "seats"), bus, sw, log)
			if err != nil {
				t.Fatal(err)
			}
			comp, err := compensation.New(ctx, storetest.MustOpen(t, "compensation"), bus, log)
			if err != nil {
				t.Fatal(err)
			}
			n, err := notification.New(ctx, storetest.MustOpen(t, "notification"), bus, sw, log)
			if err != nil {
				t.Fatal(err)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			parts := []interface{ Run(context.Context) error }{b, p, s, comp, n}
			for _, part := range parts {
				go func() { _ = part.Run(runCtx); done <- struct{}{} }()
			}
			t.Cleanup(func() {
				stop()
				for range parts {
					<-done
				}
			})

			bk, err := b.Create(ctx, "alice", []string{"A1", "B2"})
			if err != nil {
				t.Fatal(err)
			}
			got := waitTold(t, b, bk.ID)
			if got.Status != c.status {
				t.Errorf("booking %s (%s), want %s", got.Status, got.Reason, c.status)
			}
			entries, err := p.Ledger(ctx, bk.ID, 10)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, e := range entries {
				kinds = append(kinds, e.Kind)
			}
			// A charge and its refund may share a millisecond, so their
			// order in the ledger is not theirs in time.
			slices.Sort(kinds)
			if !slices.Equal(kinds, c.ledger) {
				t.Errorf("ledger %v, want %v", kinds, c.ledger)
			}
			sold, err := s.Sold(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 2, false: 0}[c.status == booking.StatusConfirmed]; sold != want {
				t.Errorf("%d tickets, want %d", sold, want)
			}
			if dead := bus.Ready(saga.DeadLetterQueue); len(dead) != 0 {
				t.Errorf("%d dead letters, the first: %s", len(dead), dead[0].DeadReason)
			}
		})
	}
}

// waitTold waits until the user was told how the booking ended.
func waitTold(t *testing.T, b *booking.Service, id string) booking.Booking {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := b.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Notified {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("booking %s still %s and untold after 15s", id, got.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
