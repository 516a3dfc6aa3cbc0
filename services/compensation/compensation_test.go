package compensation_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sagaboard/sagaboard/services/compensation"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
	"github.com/sagaboard/sagaboard/services/store/storetest"
)

// MustOpen opens Compensation's store in a temporary folder. Its bus is
// nil: only the effect runs, as the consumer would apply it.
func MustOpen(tb testing.TB) (*compensation.Service, *store.DB) {
	tb.Helper()
	db := storetest.MustOpen(tb, "compensation")
	svc, err := compensation.New(context.Background(), db, nil, storetest.Quiet())
	if err != nil {
		tb.Fatal(err)
	}
	return svc, db
}

// failure is a failure event as the part that may send it sends it.
func failure(from, typ, id, reason string) saga.Message {
	return storetest.Message(from, typ, saga.CompensationQueue, id, saga.Envelope{Event: typ, Reason: reason, Injected: true})
}

// Each failure starts the undo chain at the first owner that has something
// to undo, and the chain carries the failure as its cause.
func TestUndoOnFailureChoosesTheChain(t *testing.T) {
	cases := []struct {
		from, event, reason string
		wantType, wantKey   string
		wantReason          string
	}{
		// Payment failed: nothing was charged, so Booking releases.
		{saga.PartPayment, saga.TypePaymentServiceFailed, "declined: payment.fail_rate=1",
			saga.TypeSeatReleaseRequested, saga.SeatReleaseQueue, "no charge to refund; release the seats"},
		// Seats failed after the charge: Payment refunds first.
		{saga.PartSeats, saga.TypeSeatUpdatingServiceFailed, "seat update failed: seats.fail_rate=1",
			saga.TypeRefundRequested, saga.RefundQueue, "seat update failed: seats.fail_rate=1"},
		// Only slow: Seats, which owns the pivot, decides first.
		{saga.PartBooking, saga.TypeDeadlineExceeded, "deadline: still pending after 30s",
			saga.TypeSeatsVoidRequested, saga.SeatVoidQueue, "deadline: still pending after 30s"},
	}
	for _, c := range cases {
		t.Run(c.event, func(t *testing.T) {
			svc, db := MustOpen(t)
			m := failure(c.from, c.event, "b1", c.reason)
			out := storetest.MustApplyOne(t, db, svc.UndoOnFailure, m)
			e := storetest.Envelope(t, out)
			if out.Type != c.wantType || out.RoutingKey != c.wantKey || out.Source != saga.PartCompensation {
				t.Errorf("caused %s to %s from %s, want %s to %s from %s", out.Type, out.RoutingKey, out.Source, c.wantType, c.wantKey, saga.PartCompensation)
			}
			if !saga.MayReach(saga.PartCompensation, out.Type, out.RoutingKey) {
				t.Errorf("compensation may not send %s to %s: consumers would take it for a forgery", out.Type, out.RoutingKey)
			}
			if e.Event != c.event || e.Cause != c.reason || e.Reason != c.wantReason || !e.Injected {
				t.Errorf("event %q cause %q reason %q injected %v, want %q %q %q true", e.Event, e.Cause, e.Reason, e.Injected, c.event, c.reason, c.wantReason)
			}

			// Once per booking: the same message, or another failure of
			// the same booking, starts nothing more.
			if again := storetest.MustApply(t, db, svc.UndoOnFailure, m); len(again) != 0 {
				t.Errorf("a redelivery caused %d messages", len(again))
			}
			for _, other := range cases {
				if again := storetest.MustApply(t, db, svc.UndoOnFailure, failure(other.from, other.event, "b1", "again")); len(again) != 0 {
					t.Errorf("a later %s for the same booking caused %d messages", other.event, len(again))
				}
			}
			if n := storetest.Count(t, db, `SELECT count(*) FROM compensations WHERE booking_id = 'b1' AND event = ?`, c.event); n != 1 {
				t.Errorf("%d compensations recorded for b1 as %s, want 1: the first failure is the one kept", n, c.event)
			}
			if n := storetest.Outbox(t, db); n != 1 {
				t.Errorf("outbox holds %d messages, want 1", n)
			}
		})
	}
}

func TestUndoOnFailureRefusesWhatItCannotTrust(t *testing.T) {
	svc, db := MustOpen(t)
	mismatch := failure(saga.PartPayment, saga.TypePaymentServiceFailed, "b1", "x")
	mismatch.Body = saga.Envelope{Booking: saga.Booking{ID: "b1", UserID: "u-b1", Seats: []string{"A1"}, AmountCents: saga.Amount(1)},
		Event: saga.TypeDeadlineExceeded}.Encode()
	notAFailure := storetest.Message(saga.PartBooking, saga.TypeBookingCreated, saga.CompensationQueue, "b2", saga.Envelope{})
	for name, m := range map[string]saga.Message{"event does not match type": mismatch, "not a failure": notAFailure} {
		if _, err := storetest.Apply(t, db, svc.UndoOnFailure, m); !errors.Is(err, saga.ErrPoison) {
			t.Errorf("%s: %v, want ErrPoison", name, err)
		}
	}
	// A poison message leaves no trace, so a real failure of b1 still
	// compensates.
	if out := storetest.MustApplyOne(t, db, svc.UndoOnFailure, failure(saga.PartPayment, saga.TypePaymentServiceFailed, "b1", "x")); out.Type != saga.TypeSeatReleaseRequested {
		t.Errorf("b1's real failure: %s", out.Type)
	}
}
