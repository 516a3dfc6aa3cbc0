package seats_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/seats"
	"github.com/sagaboard/sagaboard/services/store"
	"github.com/sagaboard/sagaboard/services/store/storetest"
)

// mustOpenSwitched is MustOpen with switches set as PUT /api/failures sets
// them.
func mustOpenSwitched(tb testing.TB, patch string) (*seats.Service, *store.DB) {
	tb.Helper()
	sw := saga.NewSwitches()
	p, err := saga.ParsePatch([]byte(patch))
	if err != nil {
		tb.Fatal(err)
	}
	sw.Apply(p)
	db := storetest.MustOpen(tb, "seats")
	svc, err := seats.New(context.Background(), db, nil, sw, storetest.Quiet())
	if err != nil {
		tb.Fatal(err)
	}
	return svc, db
}

func voidRequested(id string) saga.Message {
	return storetest.Message(saga.PartCompensation, saga.TypeSeatsVoidRequested, saga.SeatVoidQueue, id,
		saga.Envelope{Event: saga.TypeDeadlineExceeded, Cause: "deadline: still pending after 30s"}, "A1")
}

func voided(tb testing.TB, db *store.DB, id string) bool {
	tb.Helper()
	return storetest.Count(tb, db, `SELECT count(*) FROM voided WHERE booking_id = ?`, id) > 0
}

func TestSellOnPaymentCompleted(t *testing.T) {
	svc, db := MustOpen(t)
	m := paid("b1", "A1", "A2")
	out := storetest.MustApplyOne(t, db, svc.SellOnPaymentCompleted, m)
	e := storetest.Envelope(t, out)
	if out.Type != saga.TypeSeatsSold || out.RoutingKey != saga.NotificationQueue || e.IsSuccess == nil || !*e.IsSuccess {
		t.Errorf("caused %s to %s isSuccess %v, want %s to %s, true", out.Type, out.RoutingKey, e.IsSuccess, saga.TypeSeatsSold, saga.NotificationQueue)
	}
	want := map[string]string{"A1": "b1", "A2": "b1"}
	if got := owners(t, db); len(got) != 2 || got["A1"] != "b1" || got["A2"] != "b1" {
		t.Fatalf("tickets %v, want %v", got, want)
	}
	if again := storetest.MustApply(t, db, svc.SellOnPaymentCompleted, m); len(again) != 0 {
		t.Errorf("a redelivery caused %d messages", len(again))
	}
	// Under a new message id the sale is confirmed again, not repeated.
	if out := storetest.MustApplyOne(t, db, svc.SellOnPaymentCompleted, paid("b1", "A1", "A2")); out.Type != saga.TypeSeatsSold {
		t.Errorf("the same sale under a new id: %s, want %s", out.Type, saga.TypeSeatsSold)
	}
	if n, _ := svc.Sold(context.Background()); n != 2 {
		t.Errorf("%d tickets, want 2", n)
	}
}

func TestAnInjectedSeatFailureSellsNothing(t *testing.T) {
	svc, db := mustOpenSwitched(t, `{"seats":{"fail_rate":1}}`)
	out := storetest.MustApplyOne(t, db, svc.SellOnPaymentCompleted, paid("b1", "A1"))
	e := storetest.Envelope(t, out)
	if out.Type != saga.TypeSeatUpdatingServiceFailed || out.RoutingKey != saga.CompensationQueue {
		t.Errorf("caused %s to %s, want %s to %s", out.Type, out.RoutingKey, saga.TypeSeatUpdatingServiceFailed, saga.CompensationQueue)
	}
	if e.Event != saga.TypeSeatUpdatingServiceFailed || !e.Injected || e.Reason != "seat update failed: seats.fail_rate=1" {
		t.Errorf("event %q injected %v reason %q", e.Event, e.Injected, e.Reason)
	}
	if got := owners(t, db); len(got) != 0 {
		t.Errorf("tickets %v after a failed sale", got)
	}
}

func TestVoidOnDeadline(t *testing.T) {
	svc, db := MustOpen(t)
	m := voidRequested("b1")
	out := storetest.MustApplyOne(t, db, svc.VoidOnDeadline, m)
	e := storetest.Envelope(t, out)
	if out.Type != saga.TypeRefundRequested || out.RoutingKey != saga.RefundQueue {
		t.Errorf("caused %s to %s, want %s to %s", out.Type, out.RoutingKey, saga.TypeRefundRequested, saga.RefundQueue)
	}
	if e.Event != saga.TypeDeadlineExceeded || e.Cause != "deadline: still pending after 30s" {
		t.Errorf("event %q cause %q: the undo chain lost why it runs", e.Event, e.Cause)
	}
	if !voided(t, db, "b1") {
		t.Fatal("b1 is not voided")
	}
	if again := storetest.MustApply(t, db, svc.VoidOnDeadline, m); len(again) != 0 {
		t.Errorf("a redelivery caused %d messages", len(again))
	}

	// The payment that was late: its seats are not sold, twice over, and
	// even by a switch-free seats step.
	for range 2 {
		out := storetest.MustApplyOne(t, db, svc.SellOnPaymentCompleted, paid("b1", "A1"))
		if out.Type != saga.TypeLateMessageNeutralised || out.RoutingKey != saga.KeyNotes {
			t.Errorf("a late PaymentCompleted caused %s to %s, want %s to %s", out.Type, out.RoutingKey, saga.TypeLateMessageNeutralised, saga.KeyNotes)
		}
	}
	if got := owners(t, db); len(got) != 0 {
		t.Errorf("a voided booking's seats were sold: %v", got)
	}
	// Another booking may still buy the seat.
	if out := storetest.MustApplyOne(t, db, svc.SellOnPaymentCompleted, paid("b2", "A1")); out.Type != saga.TypeSeatsSold {
		t.Errorf("b2 buying A1: %s, want %s", out.Type, saga.TypeSeatsSold)
	}
}

// The pivot stands: seats sold before the deadline are never voided, and
// the undo chain stops with a note.
func TestAVoidAfterTheSaleIsRefused(t *testing.T) {
	svc, db := MustOpen(t)
	storetest.MustApplyOne(t, db, svc.SellOnPaymentCompleted, paid("b1", "A1"))
	m := voidRequested("b1")
	out := storetest.MustApplyOne(t, db, svc.VoidOnDeadline, m)
	if out.Type != saga.TypeVoidRefused || out.RoutingKey != saga.KeyNotes {
		t.Errorf("caused %s to %s, want %s to %s", out.Type, out.RoutingKey, saga.TypeVoidRefused, saga.KeyNotes)
	}
	if voided(t, db, "b1") {
		t.Error("a sold booking was voided")
	}
	if again := storetest.MustApply(t, db, svc.VoidOnDeadline, m); len(again) != 0 {
		t.Errorf("a redelivery caused %d messages", len(again))
	}
	if out := storetest.MustApplyOne(t, db, svc.VoidOnDeadline, voidRequested("b1")); out.Type != saga.TypeVoidRefused {
		t.Errorf("a second void: %s, want %s", out.Type, saga.TypeVoidRefused)
	}
	if got := owners(t, db); got["A1"] != "b1" {
		t.Errorf("tickets %v, want A1 sold to b1", got)
	}
}

func TestSeatsRefusesWhatItDoesNotHandle(t *testing.T) {
	svc, db := MustOpen(t)
	m := voidRequested("b1")
	if _, err := storetest.Apply(t, db, svc.SellOnPaymentCompleted, m); !errors.Is(err, saga.ErrPoison) {
		t.Errorf("a SeatsVoidRequested on seat_update_queue: %v, want ErrPoison", err)
	}
	if _, err := storetest.Apply(t, db, svc.VoidOnDeadline, paid("b1", "A1")); !errors.Is(err, saga.ErrPoison) {
		t.Errorf("a PaymentCompleted on seat_void_queue: %v, want ErrPoison", err)
	}
}
