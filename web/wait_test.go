package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/web"
)

// getWait is GET /api/bookings/{id}?wait=, decoded.
func (l *lab) getWait(id, wait string) (int, web.BookingView, string, time.Duration) {
	l.t.Helper()
	start := time.Now()
	res, body := l.fetch("/api/bookings/" + id + "?wait=" + wait)
	took := time.Since(start)
	var v web.BookingView
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			l.t.Fatalf("GET ?wait=%s: %v: %s", wait, err, body)
		}
	}
	return res.StatusCode, v, body, took
}

func TestWaitAnswersWhenTheBookingIsDecidedWithTheWholeView(t *testing.T) {
	l := mustLab(t, labOptions{run: true})
	b, err := l.Booking.Create(context.Background(), "wendy", []string{"B2"})
	if err != nil {
		t.Fatal(err)
	}
	// A long wait: it must end because the booking was decided, not
	// because the time ran out.
	code, v, body, took := l.getWait(b.ID, "60s")
	if code != http.StatusOK || v.Status != booking.StatusConfirmed {
		t.Fatalf("GET ?wait=60s: %d, status %q; want 200 and confirmed: %s", code, v.Status, body)
	}
	if took > 30*time.Second {
		t.Errorf("the wait took %s: it ran out instead of ending on the decision", took)
	}
	if v.ID != b.ID || v.UserID != "wendy" || len(v.Seats) != 1 || v.Seats[0] != "B2" || v.Events == nil {
		t.Errorf("the answer is not the booking's whole view: %s", body)
	}
}

func TestWaitAnswersPendingWhenTheTimeRunsOut(t *testing.T) {
	l := mustLab(t, labOptions{run: true, noPayment: true}) // nothing charges: it stays pending
	b, err := l.Booking.Create(context.Background(), "patience", []string{"A1"})
	if err != nil {
		t.Fatal(err)
	}
	code, v, body, took := l.getWait(b.ID, "300ms")
	if code != http.StatusOK || v.Status != booking.StatusPending || v.ID != b.ID {
		t.Fatalf("GET ?wait=300ms: %d, status %q; want 200 and pending: %s", code, v.Status, body)
	}
	if took < 300*time.Millisecond {
		t.Errorf("answered after %s, before the 300ms wait was up, though nothing changed", took)
	}
	if v.Waiting == nil || v.Waiting.Queue != "payment_queue" {
		t.Errorf("a pending booking's view says it waits at %+v, want payment_queue: %s", v.Waiting, body)
	}
}

func TestWaitRefusesBadDurationsAndUnknownBookings(t *testing.T) {
	l := mustLab(t, labOptions{})
	for _, w := range []string{"soon", "-1s", "2m"} {
		code, _, body, _ := l.getWait("whatever", w)
		if code != http.StatusBadRequest || !strings.Contains(body, "wait must be a duration") {
			t.Errorf("?wait=%s: %d %s, want 400 saying what wait takes", w, code, body)
		}
	}
	if code, _, body, _ := l.getWait("no-such-booking", "1s"); code != http.StatusNotFound {
		t.Errorf("?wait=1s on an unknown booking: %d %s, want 404", code, body)
	}
}
