package viewmodel_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web/viewmodel"
)

// ev makes an event of booking id, published at ms, carrying its seats.
func ev(id, typ, queue string, ms int, seats ...string) observer.Event {
	env := saga.Envelope{Booking: saga.Booking{ID: id, UserID: "u-" + id, Seats: seats, AmountCents: saga.Amount(len(seats))}}
	return observer.Event{MessageID: id + "-" + typ, BookingID: id, Type: typ, Queue: queue, At: at(ms), Payload: env.Encode()}
}

// seatsOf reads the folded seats as "A1=held:b1 A2=free".
func seatsOf(seats []booking.Seat) string {
	var parts []string
	for _, s := range seats {
		p := s.ID + "=" + s.Status
		if s.BookingID != "" {
			p += ":" + s.BookingID
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

func TestFoldMovesSeatsAsBookingDid(t *testing.T) {
	venue := []string{"A1", "A2", "A3"}
	created := func(id string, ms int, seats ...string) observer.Event {
		return ev(id, saga.TypeBookingCreated, saga.PaymentQueue, ms, seats...)
	}
	for _, tc := range []struct {
		name     string
		events   []observer.Event
		seats    string
		statuses string // "id=status[+told]" of each booking, oldest first
		stats    booking.Stats
	}{
		{name: "nothing yet", seats: "A1=free A2=free A3=free", stats: booking.Stats{}},
		{name: "created holds its seats",
			events:   []observer.Event{created("b1", 1, "A1", "A2")},
			seats:    "A1=held:b1 A2=held:b1 A3=free",
			statuses: "b1=pending", stats: booking.Stats{Total: 1, Pending: 1}},
		{name: "paid is still held",
			events:   []observer.Event{created("b1", 1, "A1"), ev("b1", saga.TypePaymentCompleted, saga.SeatUpdateQueue, 2, "A1")},
			seats:    "A1=held:b1 A2=free A3=free",
			statuses: "b1=pending", stats: booking.Stats{Total: 1, Pending: 1}},
		{name: "sold confirms",
			events: []observer.Event{created("b1", 1, "A1"), ev("b1", saga.TypePaymentCompleted, saga.SeatUpdateQueue, 2, "A1"),
				ev("b1", saga.TypeSeatsSold, saga.NotificationQueue, 3, "A1")},
			seats:    "A1=sold:b1 A2=free A3=free",
			statuses: "b1=confirmed", stats: booking.Stats{Total: 1, Confirmed: 1}},
		{name: "told counts as notified",
			events: []observer.Event{created("b1", 1, "A1"), ev("b1", saga.TypeSeatsSold, saga.NotificationQueue, 3, "A1"),
				ev("b1", saga.TypeBookingNotified, saga.KeyBookingNotified, 4, "A1")},
			seats:    "A1=sold:b1 A2=free A3=free",
			statuses: "b1=confirmed+told", stats: booking.Stats{Total: 1, Confirmed: 1, Notified: 1}},
		{name: "cancelled frees, and another may hold them after",
			events: []observer.Event{created("b1", 1, "A1", "A2"), ev("b1", saga.TypePaymentServiceFailed, saga.CompensationQueue, 2, "A1", "A2"),
				ev("b1", saga.TypeBookingCancelled, saga.NotificationQueue, 3, "A1", "A2"), created("b2", 4, "A2")},
			seats:    "A1=free A2=held:b2 A3=free",
			statuses: "b1=compensated b2=pending", stats: booking.Stats{Total: 2, Pending: 1, Compensated: 1}},
		{name: "a late cancel does not undo a sale",
			events: []observer.Event{created("b1", 1, "A1"), ev("b1", saga.TypeSeatsSold, saga.NotificationQueue, 2, "A1"),
				ev("b1", saga.TypeBookingCancelled, saga.NotificationQueue, 3, "A1")},
			seats:    "A1=sold:b1 A2=free A3=free",
			statuses: "b1=confirmed", stats: booking.Stats{Total: 1, Confirmed: 1}},
		{name: "events of a booking never seen created are left out",
			events:   []observer.Event{ev("ghost", saga.TypeSeatsSold, saga.NotificationQueue, 1, "A3")},
			seats:    "A1=free A2=free A3=free",
			statuses: "", stats: booking.Stats{}},
		{name: "a seat outside the venue is added at the end",
			events:   []observer.Event{created("b1", 1, "B1")},
			seats:    "A1=free A2=free A3=free B1=held:b1",
			statuses: "b1=pending", stats: booking.Stats{Total: 1, Pending: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seats, list := viewmodel.Fold(venue, tc.events)
			if got := seatsOf(seats); got != tc.seats {
				t.Errorf("seats: got %s, want %s", got, tc.seats)
			}
			var st []string
			for _, b := range list {
				s := b.ID + "=" + b.Status
				if b.Notified {
					s += "+told"
				}
				st = append(st, s)
			}
			if got := strings.Join(st, " "); got != tc.statuses {
				t.Errorf("bookings: got %q, want %q", got, tc.statuses)
			}
			if got := viewmodel.CountOf(list); got != tc.stats {
				t.Errorf("stats: got %+v, want %+v", got, tc.stats)
			}
		})
	}
}

// TestFoldWaitsAsTheLiveViewSaid: a booking folded to a moment while
// seats was paused waits where WaitingOf said it waited then, with the
// switch as it was.
func TestFoldWaitsAsTheLiveViewSaid(t *testing.T) {
	events := []observer.Event{ev("b1", saga.TypeBookingCreated, saga.PaymentQueue, 1, "A1"),
		ev("b1", saga.TypePaymentCompleted, saga.SeatUpdateQueue, 2, "A1")}
	_, list := viewmodel.Fold([]string{"A1"}, events)
	w := viewmodel.WaitingOf(list[0].Booking, list[0].Events, map[string]saga.Switch{saga.PartSeats: {Paused: true}})
	if w == nil || w.Queue != saga.SeatUpdateQueue || !w.Since.Equal(at(2)) || w.Note != "seats paused" {
		t.Fatalf("waiting: got %+v, want seat_update_queue since 2 ms, seats paused", w)
	}
}

func TestClampMomentKeepsToTheRecord(t *testing.T) {
	from, now := at(1000), at(5000)
	for _, tc := range []struct{ at, want time.Time }{
		{at(3000), at(3000)},
		{at(10), from},
		{at(9000), now},
	} {
		if got := viewmodel.ClampMoment(tc.at, from, now); !got.Equal(tc.want) {
			t.Errorf("ClampMoment(%v): got %v, want %v", tc.at, got, tc.want)
		}
	}
	if got := viewmodel.ClampMoment(at(10), time.Time{}, now); !got.Equal(at(10)) {
		t.Errorf("an empty record bounds by now alone: got %v", got)
	}
}

func TestParseMomentSaysWhatItWants(t *testing.T) {
	if _, err := viewmodel.ParseMoment("2026-11-29T22:30:00.123Z"); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"", "yesterday", "2026-11-29 22:30"} {
		_, err := viewmodel.ParseMoment(raw)
		if err == nil || !strings.Contains(err.Error(), "RFC 3339") {
			t.Errorf("ParseMoment(%q): got %v, want a sentence naming RFC 3339", raw, err)
		}
	}
}

func TestBookingStepsSayWhatEachPartHeld(t *testing.T) {
	type held struct {
		Status, Seats string
		Money, User   string
	}
	created := ev("b1", saga.TypeBookingCreated, saga.PaymentQueue, 1, "A1", "A2")
	paid := ev("b1", saga.TypePaymentCompleted, saga.SeatUpdateQueue, 2, "A1", "A2")
	for _, tc := range []struct {
		name   string
		events []observer.Event
		want   []held
	}{
		{name: "the happy path", events: []observer.Event{created, paid,
			ev("b1", saga.TypeSeatsSold, saga.NotificationQueue, 3, "A1", "A2"),
			ev("b1", saga.TypeNotificationRetry, saga.NotificationRetryQueues[0].Name, 4, "A1", "A2"),
			ev("b1", saga.TypeBookingNotified, saga.KeyBookingNotified, 5, "A1", "A2")},
			want: []held{
				{"pending", "held", "nothing charged", "not told"},
				{"pending", "held", "charged 20.00", "not told"},
				{"confirmed", "sold", "charged 20.00", "not told"},
				{"confirmed", "sold", "charged 20.00", "not told yet (1 failed try)"},
				{"confirmed", "sold", "charged 20.00", "told"},
			}},
		{name: "seats fail: refunded and released", events: []observer.Event{created, paid,
			ev("b1", saga.TypeSeatUpdatingServiceFailed, saga.CompensationQueue, 3, "A1", "A2"),
			ev("b1", saga.TypeRefundRequested, saga.RefundQueue, 4, "A1", "A2"),
			ev("b1", saga.TypePaymentRefunded, saga.SeatReleaseQueue, 5, "A1", "A2"),
			ev("b1", saga.TypeBookingCancelled, saga.NotificationQueue, 6, "A1", "A2")},
			want: []held{
				{"pending", "held", "nothing charged", "not told"},
				{"pending", "held", "charged 20.00", "not told"},
				{"pending", "held", "charged 20.00", "not told"},
				{"pending", "held", "charged 20.00", "not told"},
				{"pending", "held", "charged 20.00, refunded 20.00", "not told"},
				{"compensated", "free", "charged 20.00, refunded 20.00", "not told"},
			}},
		{name: "payment declines", events: []observer.Event{created,
			ev("b1", saga.TypePaymentServiceFailed, saga.CompensationQueue, 2, "A1", "A2")},
			want: []held{
				{"pending", "held", "nothing charged", "not told"},
				{"pending", "held", "declined, nothing charged", "not told"},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []held
			for _, s := range viewmodel.BookingSteps(tc.events) {
				got = append(got, held{s.Status, s.Seats, s.Money(), s.User()})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}
