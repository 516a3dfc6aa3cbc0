package web_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/saga"
)

// The header's per-step latency is read from what the observer reports: a
// step lasts from the message that started it to the one it sent. With
// payments taking 1 ms to 100 ms, p50 is 50 ms and p99 is 99 ms; the
// seats step, always 3 ms, reads 3.0 ms both ways; steps not seen yet read
// a dash.
func TestHeaderShowsEachStepsLatency(t *testing.T) {
	h := mustServe(t, "")
	live := h.Server.Live()
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var events []observer.Event
	for i := range 100 {
		id := fmt.Sprintf("b%03d", i)
		created := t0.Add(time.Duration(i) * time.Second)
		paid := created.Add(time.Duration(i+1) * time.Millisecond)
		events = append(events,
			observer.Event{BookingID: id, Type: saga.TypeBookingCreated, At: created},
			observer.Event{BookingID: id, Type: saga.TypePaymentCompleted, At: paid},
			observer.Event{BookingID: id, Type: saga.TypeSeatsSold, At: paid.Add(3 * time.Millisecond)})
	}
	// A booking whose start was not seen (before the process started)
	// must not count.
	events = append(events, observer.Event{BookingID: "old", Type: saga.TypePaymentCompleted, At: t0})
	live.EventsObserved(events)

	_, body := h.get("/")
	doc := parse(t, body)
	for step, want := range map[string]string{
		"payment":      "payment 50 ms/99 ms",
		"seats":        "seats 3.0 ms/3.0 ms",
		"notification": "notify –",
		"compensation": "undo –",
	} {
		if got := squash(doc.Find(`#stats [data-step="` + step + `"]`).Text()); got != want {
			t.Errorf("the header's %s reads %q, want %q", step, got, want)
		}
	}
}
