package viewmodel_test

import (
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web/viewmodel"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// The deadline chain: payment's message waits in seat_update_queue while
// seats is paused, the deadline undoes the booking, and when seats resumes
// it takes the message late. The wait is explained from the switches'
// record, although seats runs again now.
func TestPastWaitIsExplainedFromTheRecord(t *testing.T) {
	b := booking.Booking{ID: "b1", Status: saga.StatusCompensated, Notified: true, CreatedAt: t0}
	events := []observer.Event{
		{MessageID: "m1", Type: saga.TypeBookingCreated, Source: "booking", Queue: saga.PaymentQueue, At: at(0)},
		{MessageID: "m2", CausedBy: "m1", Type: saga.TypePaymentCompleted, Source: "payment", Queue: saga.SeatUpdateQueue, At: at(4)},
		{MessageID: "m3", Type: saga.TypeDeadlineExceeded, Source: "booking", Queue: saga.CompensationQueue, At: at(3004)},
		{MessageID: "m4", CausedBy: "m3", Type: saga.TypeSeatsVoidRequested, Source: "compensation", Queue: saga.SeatVoidQueue, At: at(3006)},
		{MessageID: "m5", CausedBy: "m4", Type: saga.TypeRefundRequested, Source: "seats", Queue: saga.RefundQueue, At: at(3009)},
		{MessageID: "m9", CausedBy: "m2", Type: saga.TypeLateMessageNeutralised, Source: "seats", Queue: saga.KeyNotes, At: at(15704)},
	}
	history := []observer.SwitchChange{
		{Switches: map[string]saga.Switch{}},
		{At: at(-2000), Switches: map[string]saga.Switch{saga.PartSeats: {Paused: true}}},
		{At: at(15700), Switches: map[string]saga.Switch{saga.PartSeats: {}}},
	}
	waits := viewmodel.PastWaits(b, events, history, at(20000))
	if len(waits) != 1 {
		t.Fatalf("waits = %+v, want the one in seat_update_queue", waits)
	}
	if got := waits[0].Text(); got != "waited 15.7 s in seat_update_queue: seats paused" {
		t.Errorf("the wait reads %q", got)
	}

	// The same wait with seats never paused in the record, only slow: the
	// switches now (all off) do not make it "paused".
	slow := []observer.SwitchChange{{At: at(-5000), Switches: map[string]saga.Switch{saga.PartSeats: {DelayMS: 15000}}}}
	if got := viewmodel.PastWaits(b, events, slow, at(20000))[0].Text(); got != "waited 15.7 s in seat_update_queue: seats waits 15000 ms per message" {
		t.Errorf("with a delay the wait reads %q", got)
	}
	// Paused for part of it.
	part := []observer.SwitchChange{{Switches: map[string]saga.Switch{}}, {At: at(10000), Switches: map[string]saga.Switch{saga.PartSeats: {Paused: true}}}}
	if got := viewmodel.PastWaits(b, events, part, at(20000))[0].Text(); got != "waited 15.7 s in seat_update_queue: seats paused for 5.7 s of it" {
		t.Errorf("paused for part of the wait, it reads %q", got)
	}

	// Not resumed yet: the message still waits, and the booking is decided.
	stuck := events[:5]
	waits = viewmodel.PastWaits(b, stuck, history[:2], at(20000))
	if len(waits) != 1 || waits[0].Text() != "has waited 20.0 s so far in seat_update_queue, still unhandled: seats paused" {
		t.Errorf("an unhandled message's wait = %+v", waits)
	}
	// Without a reason in the record, an unhandled message is not guessed at.
	if waits = viewmodel.PastWaits(b, stuck, nil, at(20000)); len(waits) != 0 {
		t.Errorf("with no record, waits = %+v, want none claimed", waits)
	}
}
