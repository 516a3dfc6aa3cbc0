package payment_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sagaboard/sagaboard/services/payment"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
	"github.com/sagaboard/sagaboard/services/store/storetest"
)

// MustOpen opens Payment's store in a temporary folder with the given
// switches. Its bus is nil: Run is never called, only the effects, as the
// consumer would apply them.
func MustOpen(tb testing.TB, sw *saga.Switches) (*payment.Service, *store.DB) {
	tb.Helper()
	db := storetest.MustOpen(tb, "payment")
	svc, err := payment.New(context.Background(), db, nil, sw, storetest.Quiet())
	if err != nil {
		tb.Fatal(err)
	}
	return svc, db
}

// switches returns switches set as a PUT /api/failures body would set them.
func switches(tb testing.TB, patch string) *saga.Switches {
	tb.Helper()
	sw := saga.NewSwitches()
	if patch != "" {
		p, err := saga.ParsePatch([]byte(patch))
		if err != nil {
			tb.Fatal(err)
		}
		sw.Apply(p)
	}
	return sw
}

func created(id string, seats ...string) saga.Message {
	return storetest.Message(saga.PartBooking, saga.TypeBookingCreated, saga.PaymentQueue, id, saga.Envelope{}, seats...)
}

func refundRequested(id string) saga.Message {
	return storetest.Message(saga.PartCompensation, saga.TypeRefundRequested, saga.RefundQueue, id,
		saga.Envelope{Event: saga.TypeSeatUpdatingServiceFailed, Cause: "seat update failed: seats.fail_rate=1", Injected: true})
}

// ledger returns booking id's lines as "kind amount".
func ledger(tb testing.TB, svc *payment.Service, id string) []string {
	tb.Helper()
	entries, err := svc.Ledger(context.Background(), id, 10)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Kind+" "+saga.Money(e.AmountCents))
	}
	return out
}

func TestChargeOnBookingCreated(t *testing.T) {
	svc, db := MustOpen(t, switches(t, ""))
	m := created("b1", "A1", "A2")
	out := storetest.MustApplyOne(t, db, svc.ChargeOnBookingCreated, m)
	if out.Type != saga.TypePaymentCompleted || out.RoutingKey != saga.SeatUpdateQueue || out.CorrelationID != "b1" {
		t.Errorf("caused %s to %s for %s, want %s to %s for b1", out.Type, out.RoutingKey, out.CorrelationID, saga.TypePaymentCompleted, saga.SeatUpdateQueue)
	}
	if e := storetest.Envelope(t, out); e.Booking.AmountCents != saga.Amount(2) || !strings.HasPrefix(e.Reason, "charged ") {
		t.Errorf("PaymentCompleted carries %d cents, reason %q", e.Booking.AmountCents, e.Reason)
	}
	want := "charge " + saga.Money(saga.Amount(2))
	if got := ledger(t, svc, "b1"); len(got) != 1 || got[0] != want {
		t.Fatalf("ledger %v, want [%s]", got, want)
	}

	// The same message again: the inbox recognises it, nothing happens.
	if again := storetest.MustApply(t, db, svc.ChargeOnBookingCreated, m); len(again) != 0 {
		t.Errorf("a redelivery caused %d messages", len(again))
	}
	// The same booking under a new message id: the step is answered again,
	// but the charge is not made twice.
	storetest.MustApplyOne(t, db, svc.ChargeOnBookingCreated, created("b1", "A1", "A2"))
	if got := ledger(t, svc, "b1"); len(got) != 1 {
		t.Errorf("ledger after the booking came twice: %v, want one charge", got)
	}
	if n := storetest.Outbox(t, db); n != 2 {
		t.Errorf("outbox holds %d messages, want 2: one per message id", n)
	}
}

func TestDeclineBySwitch(t *testing.T) {
	cases := []struct {
		name, patch string
		user        string // whose booking
		declined    bool
		reason      string
	}{
		{"fail_rate=1 declines", `{"payment":{"fail_rate":1}}`, "u-b1", true, "declined: payment.fail_rate=1"},
		{"fail_rate=0 charges", `{"payment":{"fail_rate":0}}`, "u-b1", false, ""},
		{"fail_next declines", `{"payment":{"fail_next":1}}`, "u-b1", true, "declined: payment.fail_next=1"},
		{"a switch for another user charges", `{"payment":{"fail_rate":1,"user_id":"somebody"}}`, "u-b1", false, ""},
		{"a switch for this user declines", `{"payment":{"fail_rate":1,"user_id":"u-b1"}}`, "u-b1", true, "declined: payment.fail_rate=1 (user_id=u-b1)"},
		{"the seats switch does not touch payment", `{"seats":{"fail_rate":1}}`, "u-b1", false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc, db := MustOpen(t, switches(t, c.patch))
			out := storetest.MustApplyOne(t, db, svc.ChargeOnBookingCreated, created("b1"))
			e := storetest.Envelope(t, out)
			if !c.declined {
				if out.Type != saga.TypePaymentCompleted || len(ledger(t, svc, "b1")) != 1 {
					t.Errorf("caused %s, ledger %v: want a charge", out.Type, ledger(t, svc, "b1"))
				}
				return
			}
			if out.Type != saga.TypePaymentServiceFailed || out.RoutingKey != saga.CompensationQueue {
				t.Errorf("caused %s to %s, want %s to %s", out.Type, out.RoutingKey, saga.TypePaymentServiceFailed, saga.CompensationQueue)
			}
			if e.Event != saga.TypePaymentServiceFailed || !e.Injected || e.Reason != c.reason {
				t.Errorf("event %q injected %v reason %q, want %q true %q", e.Event, e.Injected, e.Reason, saga.TypePaymentServiceFailed, c.reason)
			}
			if got := ledger(t, svc, "b1"); len(got) != 0 {
				t.Errorf("a declined booking was charged: %v", got)
			}
		})
	}
}

func TestFailNextCountsDownOncePerMessage(t *testing.T) {
	svc, db := MustOpen(t, switches(t, `{"payment":{"fail_next":2}}`))
	m := created("b1")
	if out := storetest.MustApplyOne(t, db, svc.ChargeOnBookingCreated, m); out.Type != saga.TypePaymentServiceFailed {
		t.Fatalf("first: %s", out.Type)
	}
	// A redelivery of the declined message is not decided again, so it
	// does not spend the count.
	storetest.MustApply(t, db, svc.ChargeOnBookingCreated, m)
	var got []string
	for _, id := range []string{"b2", "b3"} {
		got = append(got, storetest.MustApplyOne(t, db, svc.ChargeOnBookingCreated, created(id)).Type)
	}
	want := []string{saga.TypePaymentServiceFailed, saga.TypePaymentCompleted}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("b2, b3: %v, want %v", got, want)
	}
}

func TestRefundOnRefundRequested(t *testing.T) {
	svc, db := MustOpen(t, switches(t, ""))
	storetest.MustApplyOne(t, db, svc.ChargeOnBookingCreated, created("b1"))
	m := refundRequested("b1")
	out := storetest.MustApplyOne(t, db, svc.RefundOnRefundRequested, m)
	e := storetest.Envelope(t, out)
	if out.Type != saga.TypePaymentRefunded || out.RoutingKey != saga.SeatReleaseQueue {
		t.Errorf("caused %s to %s, want %s to %s", out.Type, out.RoutingKey, saga.TypePaymentRefunded, saga.SeatReleaseQueue)
	}
	if e.RefundedCents != saga.Amount(1) || e.Reason != "refunded "+saga.Money(saga.Amount(1)) {
		t.Errorf("refunded %d cents, reason %q", e.RefundedCents, e.Reason)
	}
	// The undo chain keeps why it runs.
	if e.Event != saga.TypeSeatUpdatingServiceFailed || e.Cause != "seat update failed: seats.fail_rate=1" || !e.Injected {
		t.Errorf("event %q cause %q injected %v: the original failure was lost", e.Event, e.Cause, e.Injected)
	}
	if got := ledger(t, svc, "b1"); len(got) != 2 {
		t.Errorf("ledger %v, want a charge and a refund", got)
	}

	if again := storetest.MustApply(t, db, svc.RefundOnRefundRequested, m); len(again) != 0 {
		t.Errorf("a redelivery caused %d messages", len(again))
	}
	// A second request for the same booking passes the chain on, and says
	// that it refunded nothing more.
	out = storetest.MustApplyOne(t, db, svc.RefundOnRefundRequested, refundRequested("b1"))
	if e := storetest.Envelope(t, out); e.RefundedCents != 0 || e.Reason != "already refunded" {
		t.Errorf("second refund: %d cents, reason %q; want 0, already refunded", e.RefundedCents, e.Reason)
	}
	if got := ledger(t, svc, "b1"); len(got) != 2 {
		t.Errorf("ledger %v after a second request, want one charge and one refund", got)
	}
}

func TestNothingChargedNothingRefunded(t *testing.T) {
	svc, db := MustOpen(t, switches(t, ""))
	out := storetest.MustApplyOne(t, db, svc.RefundOnRefundRequested, refundRequested("b1"))
	e := storetest.Envelope(t, out)
	if out.Type != saga.TypePaymentRefunded || e.RefundedCents != 0 || e.Reason != "nothing was charged, so nothing to refund" {
		t.Errorf("caused %s refunding %d, reason %q", out.Type, e.RefundedCents, e.Reason)
	}
	if got := ledger(t, svc, "b1"); len(got) != 0 {
		t.Errorf("ledger %v, want nothing", got)
	}
}

// A BookingCreated that arrives after its booking was compensated (payment
// was paused past the deadline) is neutralised, even with switches that
// would decline it, and never charges; twice, and under a new id.
func TestALateBookingIsNeutralised(t *testing.T) {
	svc, db := MustOpen(t, switches(t, `{"payment":{"fail_rate":1}}`))
	storetest.MustApplyOne(t, db, svc.RefundOnRefundRequested, refundRequested("b1"))
	for _, m := range []saga.Message{created("b1"), created("b1")} {
		out := storetest.MustApplyOne(t, db, svc.ChargeOnBookingCreated, m)
		if out.Type != saga.TypeLateMessageNeutralised || out.RoutingKey != saga.KeyNotes {
			t.Errorf("caused %s to %s, want %s to %s", out.Type, out.RoutingKey, saga.TypeLateMessageNeutralised, saga.KeyNotes)
		}
	}
	if got := ledger(t, svc, "b1"); len(got) != 0 {
		t.Errorf("a compensated booking was charged: %v", got)
	}
	// Another booking is not affected by b1's closing.
	if out := storetest.MustApplyOne(t, db, svc.ChargeOnBookingCreated, created("b2")); out.Type != saga.TypePaymentServiceFailed {
		t.Errorf("b2: %s, want the switch to decide it", out.Type)
	}
}

// TestABookingSentAgainUnderANewIDIsDecidedOnce: the same booking's
// BookingCreated under a second message id neither charges again nor sends
// a second PaymentCompleted, nor, when the switch would now decline, a
// decline that would refund the first charge.
func TestABookingSentAgainUnderANewIDIsDecidedOnce(t *testing.T) {
	sw := switches(t, "")
	svc, db := MustOpen(t, sw)
	if out := storetest.MustApplyOne(t, db, svc.ChargeOnBookingCreated, created("b1")); out.Type != saga.TypePaymentCompleted {
		t.Fatalf("first copy: %s, want %s", out.Type, saga.TypePaymentCompleted)
	}
	p, err := saga.ParsePatch([]byte(`{"payment":{"fail_rate":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	sw.Apply(p)
	for range 2 {
		out := storetest.MustApplyOne(t, db, svc.ChargeOnBookingCreated, created("b1")) // a new message id each time
		if out.Type != saga.TypeLateMessageNeutralised {
			t.Errorf("another copy under a new id: %s, want %s", out.Type, saga.TypeLateMessageNeutralised)
		}
	}
	if got := ledger(t, svc, "b1"); len(got) != 1 || got[0] != "charge 10.00" {
		t.Errorf("ledger of b1 = %v, want one charge", got)
	}
}

func TestMessagesPaymentCannotHandleArePoison(t *testing.T) {
	svc, db := MustOpen(t, switches(t, ""))
	wrongType := created("b1")
	wrongType.Type = saga.TypeSeatsSold
	badBody := created("b2")
	badBody.Body = []byte(`{"booking":{"id":"b2"}}`)
	mismatch := created("b3")
	mismatch.CorrelationID = "somebody-else"
	for name, m := range map[string]saga.Message{"wrong type": wrongType, "bad body": badBody, "correlation mismatch": mismatch} {
		t.Run(name, func(t *testing.T) {
			if _, err := storetest.Apply(t, db, svc.ChargeOnBookingCreated, m); !errors.Is(err, saga.ErrPoison) {
				t.Errorf("outcome %v, want ErrPoison", err)
			}
		})
	}
	if n := storetest.Outbox(t, db); n != 0 {
		t.Errorf("poison caused %d messages", n)
	}
}
