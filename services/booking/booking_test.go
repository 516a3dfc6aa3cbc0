package booking_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
	"github.com/sagaboard/sagaboard/services/store/storetest"
)

// deadline is the booking deadline under test. Nothing waits for it:
// ExpireOverdue is given the time.
const deadline = time.Minute

// MustOpen opens Booking's store, a 2x3 venue, in a temporary folder. Its
// bus is nil: Run is never called, only Create and the effects.
func MustOpen(tb testing.TB) (*booking.Service, *store.DB) {
	tb.Helper()
	db := storetest.MustOpen(tb, "booking")
	svc, err := booking.New(context.Background(), db, nil, saga.Venue{Rows: 2, Cols: 3}, deadline, storetest.Quiet())
	if err != nil {
		tb.Fatal(err)
	}
	return svc, db
}

// mustCreate books seats for user, failing the test if it cannot.
func mustCreate(tb testing.TB, svc *booking.Service, user string, seats ...string) booking.Booking {
	tb.Helper()
	b, err := svc.Create(context.Background(), user, seats)
	if err != nil {
		tb.Fatalf("create %s %v: %v", user, seats, err)
	}
	return b
}

// seatMap returns every seat that is not free: id → "status booking".
func seatMap(tb testing.TB, svc *booking.Service) map[string]string {
	tb.Helper()
	seats, err := svc.Seats(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range seats {
		if s.Status != booking.SeatFree {
			out[s.ID] = s.Status + " " + s.BookingID
		}
	}
	return out
}

func mustGet(tb testing.TB, svc *booking.Service, id string) booking.Booking {
	tb.Helper()
	b, err := svc.Get(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// about makes a message of typ about b, as from would send it.
func about(b booking.Booking, from, typ, key string, e saga.Envelope) saga.Message {
	e.Booking = saga.Booking{ID: b.ID, UserID: b.UserID, Seats: b.Seats, AmountCents: b.AmountCents}
	m := saga.NewMessage(from, typ, key, e)
	m.Queue = key
	return m
}

func TestCreateHoldsTheSeatsAndStartsTheSaga(t *testing.T) {
	svc, db := MustOpen(t)
	b := mustCreate(t, svc, "alice", "A1", "A2")
	if b.Status != booking.StatusPending || b.AmountCents != saga.Amount(2) || b.ID == "" {
		t.Errorf("created %+v", b)
	}
	want := map[string]string{"A1": "held " + b.ID, "A2": "held " + b.ID}
	if got := seatMap(t, svc); len(got) != 2 || got["A1"] != want["A1"] || got["A2"] != want["A2"] {
		t.Errorf("seats %v, want %v", got, want)
	}
	var typ, key string
	if err := db.QueryRowContext(context.Background(), `SELECT type, routing_key FROM outbox WHERE correlation_id = ?`, b.ID).Scan(&typ, &key); err != nil {
		t.Fatalf("no BookingCreated in the outbox: %v", err)
	}
	if typ != saga.TypeBookingCreated || key != saga.PaymentQueue {
		t.Errorf("outbox has %s to %s, want %s to %s", typ, key, saga.TypeBookingCreated, saga.PaymentQueue)
	}
}

func TestCreateRefuses(t *testing.T) {
	svc, db := MustOpen(t)
	first := mustCreate(t, svc, "alice", "A1")
	cases := []struct {
		name  string
		user  string
		seats []string
		want  error
	}{
		{"a taken seat (409)", "bob", []string{"A2", "A1"}, saga.ErrConflict},
		{"a seat not in the venue", "bob", []string{"Z9"}, saga.ErrInvalid},
		{"a seat twice", "bob", []string{"A2", "A2"}, saga.ErrInvalid},
		{"no user", "", []string{"A2"}, saga.ErrInvalid},
		{"no seats", "bob", nil, saga.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := svc.Create(context.Background(), c.user, c.seats); !errors.Is(err, c.want) {
				t.Errorf("create: %v, want %v", err, c.want)
			}
		})
	}
	// A refused request changes nothing: A2, free before the conflict on
	// A1, is free after it.
	if got := seatMap(t, svc); len(got) != 1 || got["A1"] != "held "+first.ID {
		t.Errorf("seats %v, want only A1 held by %s", got, first.ID)
	}
	if n := storetest.Count(t, db, `SELECT count(*) FROM bookings`); n != 1 {
		t.Errorf("%d bookings, want 1", n)
	}
	if n := storetest.Outbox(t, db); n != 1 {
		t.Errorf("%d messages in the outbox, want 1", n)
	}
}

func TestReleaseOnUndo(t *testing.T) {
	svc, db := MustOpen(t)
	b := mustCreate(t, svc, "alice", "A1", "A2")
	undos := []struct {
		name string
		m    saga.Message
	}{
		{"seat release requested", about(b, saga.PartCompensation, saga.TypeSeatReleaseRequested, saga.SeatReleaseQueue,
			saga.Envelope{Event: saga.TypePaymentServiceFailed, Cause: "declined: payment.fail_rate=1", Injected: true})},
		{"payment refunded", about(b, saga.PartPayment, saga.TypePaymentRefunded, saga.SeatReleaseQueue,
			saga.Envelope{Event: saga.TypeSeatUpdatingServiceFailed, Cause: "seat update failed", RefundedCents: b.AmountCents})},
	}
	m := undos[0].m
	out := storetest.MustApplyOne(t, db, svc.ReleaseOnUndo, m)
	e := storetest.Envelope(t, out)
	if out.Type != saga.TypeBookingCancelled || out.RoutingKey != saga.NotificationQueue || e.IsSuccess == nil || *e.IsSuccess {
		t.Errorf("caused %s to %s isSuccess %v, want %s to %s, false", out.Type, out.RoutingKey, e.IsSuccess, saga.TypeBookingCancelled, saga.NotificationQueue)
	}
	got := mustGet(t, svc, b.ID)
	if got.Status != booking.StatusCompensated || got.Reason != "declined: payment.fail_rate=1" {
		t.Errorf("booking %s, reason %q; want compensated because of the decline", got.Status, got.Reason)
	}
	if seats := seatMap(t, svc); len(seats) != 0 {
		t.Errorf("seats %v still taken after the release", seats)
	}
	// Every later undo, the same or another, is ignored: compensated is
	// done.
	for _, u := range append(undos, undos[0]) {
		if again := storetest.MustApply(t, db, svc.ReleaseOnUndo, u.m); len(again) != 0 {
			t.Errorf("%s again caused %d messages", u.name, len(again))
		}
	}
	// Released seats can be booked again.
	mustCreate(t, svc, "bob", "A1")
}

// The pivot stands: once the seats are sold, an undo that arrives late
// takes nothing back.
func TestConfirmedBookingsAreNotReleased(t *testing.T) {
	svc, db := MustOpen(t)
	b := mustCreate(t, svc, "alice", "A1")
	sold := about(b, saga.PartSeats, saga.TypeSeatsSold, saga.BookingUpdateQueue, saga.Envelope{IsSuccess: saga.Bool(true)})
	for range 2 {
		if out := storetest.MustApply(t, db, svc.UpdateOnOutcome, sold); len(out) != 0 {
			t.Errorf("SeatsSold caused %d messages", len(out))
		}
	}
	if got := mustGet(t, svc, b.ID); got.Status != booking.StatusConfirmed || got.Notified {
		t.Errorf("after SeatsSold: %s notified=%v, want confirmed, not notified", got.Status, got.Notified)
	}
	undo := about(b, saga.PartPayment, saga.TypePaymentRefunded, saga.SeatReleaseQueue, saga.Envelope{Event: saga.TypeDeadlineExceeded})
	if out := storetest.MustApply(t, db, svc.ReleaseOnUndo, undo); len(out) != 0 {
		t.Errorf("a release of a confirmed booking caused %d messages", len(out))
	}
	if got := seatMap(t, svc); got["A1"] != "sold "+b.ID {
		t.Errorf("seats %v, want A1 sold to %s", got, b.ID)
	}

	told := about(b, saga.PartNotification, saga.TypeBookingNotified, saga.BookingUpdateQueue, saga.Envelope{IsSuccess: saga.Bool(true)})
	for _, m := range []saga.Message{told, told, about(b, saga.PartNotification, saga.TypeBookingNotified, saga.BookingUpdateQueue, saga.Envelope{IsSuccess: saga.Bool(true)})} {
		storetest.MustApply(t, db, svc.UpdateOnOutcome, m)
	}
	got := mustGet(t, svc, b.ID)
	if got.Status != booking.StatusConfirmed || !got.Notified {
		t.Errorf("after BookingNotified: %s notified=%v", got.Status, got.Notified)
	}
	stats, err := svc.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats != (booking.Stats{Total: 1, Confirmed: 1, Notified: 1}) {
		t.Errorf("stats %+v, want one confirmed and notified", stats)
	}
}

func TestUpdateOnOutcomeIgnoresWhatIsNotForIt(t *testing.T) {
	svc, db := MustOpen(t)
	b := mustCreate(t, svc, "alice", "A1")
	// booking_update_queue also hears its own BookingCancelled and the
	// retries, through notification_queue's routing key.
	for _, typ := range []string{saga.TypeBookingCancelled, saga.TypeNotificationRetry} {
		m := about(b, saga.PartNotification, typ, saga.BookingUpdateQueue, saga.Envelope{IsSuccess: saga.Bool(false)})
		if out, err := storetest.Apply(t, db, svc.UpdateOnOutcome, m); err != nil || len(out) != 0 {
			t.Errorf("%s: %d messages, %v; want none, acked", typ, len(out), err)
		}
	}
	if got := mustGet(t, svc, b.ID); got.Status != booking.StatusPending {
		t.Errorf("booking %s, want pending", got.Status)
	}
	m := about(b, saga.PartPayment, saga.TypePaymentCompleted, saga.BookingUpdateQueue, saga.Envelope{})
	if _, err := storetest.Apply(t, db, svc.UpdateOnOutcome, m); !errors.Is(err, saga.ErrPoison) {
		t.Errorf("a PaymentCompleted on booking_update_queue: %v, want ErrPoison", err)
	}
}

func TestExpireOverdue(t *testing.T) {
	svc, db := MustOpen(t)
	ctx := context.Background()
	late := mustCreate(t, svc, "alice", "A1")
	confirmed := mustCreate(t, svc, "bob", "A2")
	storetest.MustApply(t, db, svc.UpdateOnOutcome, about(confirmed, saga.PartSeats, saga.TypeSeatsSold, saga.BookingUpdateQueue, saga.Envelope{IsSuccess: saga.Bool(true)}))
	before := storetest.Outbox(t, db)

	// Create stamps bookings with the wall clock; ExpireOverdue is told
	// the time, so the deadline is crossed without waiting for it.
	if n, err := svc.ExpireOverdue(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("before the deadline: %d, %v; want 0", n, err)
	}
	after := time.Now().Add(deadline + time.Second)
	if n, err := svc.ExpireOverdue(ctx, after); err != nil || n != 1 {
		t.Fatalf("after the deadline: %d, %v; want 1, the pending booking only", n, err)
	}
	var typ, key, id string
	var body []byte
	if err := db.QueryRowContext(context.Background(), `SELECT type, routing_key, correlation_id, body FROM outbox ORDER BY seq DESC LIMIT 1`).Scan(&typ, &key, &id, &body); err != nil {
		t.Fatal(err)
	}
	e, err := saga.DecodeEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	if typ != saga.TypeDeadlineExceeded || key != saga.CompensationQueue || id != late.ID || e.Event != saga.TypeDeadlineExceeded {
		t.Errorf("outbox has %s to %s for %s (event %q), want %s to %s for %s", typ, key, id, e.Event, saga.TypeDeadlineExceeded, saga.CompensationQueue, late.ID)
	}
	// Once: the booking stays pending until the undo comes back, and is
	// not sent to compensation again meanwhile.
	if n, err := svc.ExpireOverdue(ctx, after.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("again: %d, %v; want 0", n, err)
	}
	if n := storetest.Outbox(t, db); n != before+1 {
		t.Errorf("outbox grew by %d, want 1", n-before)
	}
	if got := mustGet(t, svc, late.ID); got.Status != booking.StatusPending {
		t.Errorf("the late booking is %s, want pending until its undo comes back", got.Status)
	}
}
