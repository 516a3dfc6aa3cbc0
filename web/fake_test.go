package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web"
)

// fakeBookings is Booking as web reads it, in memory: enough for pages
// that need no real store.
type fakeBookings struct{ list []booking.Booking }

func (f *fakeBookings) Get(_ context.Context, id string) (booking.Booking, error) {
	for _, b := range f.list {
		if b.ID == id {
			return b, nil
		}
	}
	return booking.Booking{}, fmt.Errorf("%w: no booking %q", saga.ErrNotFound, id)
}

func (f *fakeBookings) GetMany(ctx context.Context, ids []string) ([]booking.Booking, error) {
	var out []booking.Booking
	for _, id := range ids {
		if b, err := f.Get(ctx, id); err == nil {
			out = append(out, b)
		}
	}
	return out, nil
}

func (f *fakeBookings) List(context.Context, booking.Filter) ([]booking.Booking, error) {
	return f.list, nil
}

func (f *fakeBookings) InFlight(context.Context, int) ([]booking.Booking, error) { return nil, nil }

func (f *fakeBookings) Stats(context.Context) (booking.Stats, error) {
	return booking.Stats{Total: len(f.list), Confirmed: len(f.list)}, nil
}

func (f *fakeBookings) Seats(context.Context) ([]booking.Seat, error) {
	return []booking.Seat{{ID: "A1", Status: saga.SeatSold, BookingID: "b1"}, {ID: "A2", Status: saga.SeatFree}}, nil
}

func (f *fakeBookings) Create(context.Context, string, []string) (booking.Booking, error) {
	return booking.Booking{}, fmt.Errorf("%w: seat A1 is sold", saga.ErrConflict)
}

// TestPagesServeFromFakesAndSayWhatIsAbsent draws the pages from a fake
// Booking alone: no SQLite, no broker. The hooks the contract promises are
// there, a domain conflict is a 409 with its sentence, and a part that does
// not run here is a 503 that names it.
func TestPagesServeFromFakesAndSayWhatIsAbsent(t *testing.T) {
	now := time.Now()
	bk := &fakeBookings{list: []booking.Booking{{ID: "b1", UserID: "alice", Seats: []string{"A1"}, AmountCents: saga.Amount(1),
		Status: saga.StatusConfirmed, Notified: true, CreatedAt: now, UpdatedAt: now}}}
	srv := web.New(web.Config{Booking: bk, Broker: &fakeBroker{}})
	t.Cleanup(srv.Close)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)

	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b strings.Builder
		_, _ = fmt.Fprint(&b, readAll(t, res))
		return res.StatusCode, b.String()
	}
	code, body := get("/")
	if code != http.StatusOK || !strings.Contains(body, `id="booking-b1"`) || !strings.Contains(body, `data-status="confirmed"`) || !strings.Contains(body, `id="booking-form"`) {
		t.Errorf("GET /: %d, want 200 with the booking form and booking-b1 confirmed", code)
	}
	if code, _ := get("/bookings/b1"); code != http.StatusOK {
		t.Errorf("GET /bookings/b1: %d, want 200", code)
	}
	if code, _ := get("/bookings/nope"); code != http.StatusNotFound {
		t.Errorf("GET /bookings/nope: %d, want 404", code)
	}

	code, body = get("/api/payments")
	var e struct{ Error string }
	_ = json.Unmarshal([]byte(body), &e)
	if code != http.StatusServiceUnavailable || !strings.Contains(e.Error, "payment") {
		t.Errorf("GET /api/payments without payment: %d %q, want 503 naming the part", code, e.Error)
	}

	res, err := http.Post(ts.URL+"/api/bookings", "application/json", strings.NewReader(`{"user_id":"bob","seats":["A1"]}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal([]byte(readAll(t, res)), &e)
	res.Body.Close()
	if res.StatusCode != http.StatusConflict || e.Error != "seat A1 is sold" {
		t.Errorf("a conflict: %d %q, want 409 with the domain's sentence alone", res.StatusCode, e.Error)
	}
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
