package views_test

import (
	"strings"
	"testing"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

func strip(b views.Booking) string {
	var s []string
	for _, c := range b.Strip() {
		s = append(s, c.Lane+":"+c.State)
	}
	return strings.Join(s, " ")
}

func TestStripSaysWhereABookingIsLaneByLane(t *testing.T) {
	declined := []views.Event{
		ev(1, 0, "BookingCreated", "booking", "payment_queue", ""),
		ev(2, 2, "PaymentServiceFailed", "payment", "compensation_queue", "declined"),
		ev(3, 3, "SeatReleaseRequested", "compensation", "seat_release_queue", ""),
		ev(4, 4, "BookingCancelled", "booking", "notification_queue", ""),
	}
	waiting := booking("b3", "carol", saga.StatusPending, happyEvents[:2])
	waiting.Waiting = &views.Waiting{Queue: "seat_update_queue"}
	for _, tc := range []struct {
		name string
		b    views.Booking
		want string
	}{
		{"confirmed and told", booking("b1", "alice", saga.StatusConfirmed, happyEvents),
			"booking:done payment:done seats:done compensation:none notification:done"},
		{"declined and undone", booking("b2", "bob", saga.StatusCompensated, declined),
			"booking:undo payment:fail seats:none compensation:undo notification:none"},
		{"waiting for seats", waiting,
			"booking:done payment:done seats:wait compensation:none notification:none"},
		{"nothing seen yet", booking("b4", "dave", saga.StatusPending, nil),
			"booking:none payment:none seats:none compensation:none notification:none"},
	} {
		if got := strip(tc.b); got != tc.want {
			t.Errorf("%s: strip is %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestRowCarriesTheHooksAndOpensIntoItsTimeline(t *testing.T) {
	doc, _ := mustRender(t, views.BookingRow(booking("06h2jsgc0ezv6p6x", "alice", saga.StatusConfirmed, happyEvents)))
	row := doc.Find(`article#booking-06h2jsgc0ezv6p6x[data-status="confirmed"]`)
	if row.Length() != 1 {
		t.Fatal("the row has not the contract's hooks")
	}
	if got := text(row.Find("summary .b-id")); got != "06h2jsgc0ezv6p6x" {
		t.Errorf("the row shows the id as %q; the whole id, so it can be searched", got)
	}
	if got := row.Find(".strip").AttrOr("aria-label", ""); got != "booking done, payment done, seats done, notification done" {
		t.Errorf("the strip says %q", got)
	}
	if row.Find(`details#open-06h2jsgc0ezv6p6x svg.timeline[data-mode="steps"]`).Length() != 1 || row.Find(`details#open-06h2jsgc0ezv6p6x svg.timeline[data-mode="time"]`).Length() != 1 {
		t.Error("the row does not open into its timeline")
	}
	// Your booking is the same row without the hooks: one element per id.
	doc, _ = mustRender(t, views.Mine(booking("06h2jsgc0ezv6p6x", "alice", saga.StatusPending, happyEvents[:1])))
	if doc.Find("[id^=booking-], [id^=open-]").Length() != 0 {
		t.Error("your booking repeats the list's ids")
	}
	if doc.Find(`#mine[data-follow="06h2jsgc0ezv6p6x"][hx-swap-oob] details.b-row[open]`).Length() != 1 {
		t.Error("your booking is not swapped in open, to be followed")
	}
}
