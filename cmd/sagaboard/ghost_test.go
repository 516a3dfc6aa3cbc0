package main_test

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ghostInvariants is GET /api/invariants as this test reads it.
type ghostInvariants struct {
	OK         bool   `json:"ok"`
	State      string `json:"state"`
	Violations []struct {
		Rule      string `json:"rule"`
		BookingID string `json:"booking_id"`
		Detail    string `json:"detail"`
	} `json:"violations"`
	Rules []struct {
		Rule    string `json:"rule"`
		Checked bool   `json:"checked"`
		Holds   bool   `json:"holds"`
	} `json:"rules"`
}

func ghostRead(t *testing.T, p *Proc) ghostInvariants {
	t.Helper()
	var inv ghostInvariants
	if code := p.Do("GET", "/api/invariants", nil, &inv); code != http.StatusOK {
		t.Fatalf("GET /api/invariants: %d", code)
	}
	return inv
}

// ghostNames returns the detail of the violation of rule that names
// booking, and whether there is one.
func ghostNames(inv ghostInvariants, rule, booking string) (string, bool) {
	for _, v := range inv.Violations {
		if v.Rule == rule && v.BookingID == booking {
			return v.Detail, true
		}
	}
	return "", false
}

// ghostWait polls until cond holds and returns how long that took, failing
// after limit.
func ghostWait(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return time.Since(start)
}

// On a vhost as it is before anyone provisions it, guest may publish
// anything: a BookingCreated for a booking nobody made is charged, ticketed
// (a seat outside the venue and a real free one) and notified, while
// Booking's seat map still shows the real seat free. The checker names it
// within two seconds of each effect.
func TestGhostBookingIsNamedByTheChecker(t *testing.T) {
	p, vhost := startSaga(t)
	real := p.Book("alice", "A1")
	p.WaitFor(real, 10*time.Second, "confirmed and notified", func(b Booking) bool { return b.Status == "confirmed" && b.Notified })
	ghostWait(t, "the checker says ok before the forgery", 10*time.Second, func() bool {
		inv := ghostRead(t, p)
		return inv.OK && inv.State == "ok"
	})

	b := make([]byte, 6)
	_, _ = rand.Read(b)
	ghost := "ghost-" + hex.EncodeToString(b)
	publish(t, vhost, "sagaboard", "payment_queue", amqp.Publishing{
		MessageId: "msg-" + ghost, CorrelationId: ghost, Type: "BookingCreated", DeliveryMode: amqp.Persistent,
		ContentType: "application/json", Timestamp: time.Now(),
		Body: []byte(`{"booking":{"id":"` + ghost + `","user_id":"mallory","seats":["ZZ99","B2"],"amount_cents":2000}}`),
	})

	// The charge is the first effect: the checker must name the booking
	// within 2 s of it.
	ghostWait(t, "Payment charges the ghost", 10*time.Second, func() bool { c, _ := p.Ledger(ghost); return c == 2000 })
	took := ghostWait(t, "effect-has-booking names the ghost after its charge", 2*time.Second, func() bool {
		_, ok := ghostNames(ghostRead(t, p), "effect-has-booking", ghost)
		return ok
	})
	t.Logf("effect-has-booking named %s %s after its charge was visible", ghost, took.Round(time.Millisecond))

	// The notice is the last effect, after the tickets.
	ghostWait(t, "Notification tells the ghost's user", 10*time.Second, func() bool {
		var list []struct {
			BookingID string `json:"booking_id"`
		}
		p.Do("GET", "/api/notifications?user_id=mallory", nil, &list)
		return len(list) == 1 && list[0].BookingID == ghost
	})
	var inv ghostInvariants
	took = ghostWait(t, "both rules name the ghost's ticket and notice", 2*time.Second, func() bool {
		inv = ghostRead(t, p)
		d, ok := ghostNames(inv, "effect-has-booking", ghost)
		_, ok2 := ghostNames(inv, "ticket-seat-booked", ghost)
		return ok && ok2 && strings.Contains(d, "Notification told its user")
	})
	t.Logf("effect-has-booking and ticket-seat-booked named %s %s after its notice was visible", ghost, took.Round(time.Millisecond))
	if inv.OK || inv.State != "violated" {
		t.Errorf("ok=%v state=%q with a ghost booking, want not ok and violated", inv.OK, inv.State)
	}
	d, _ := ghostNames(inv, "effect-has-booking", ghost)
	for _, want := range []string{"Booking never had this booking", "Payment charged 20.00", "SeatUpdating sold seats B2 ZZ99"} {
		if !strings.Contains(d, want) {
			t.Errorf("effect-has-booking detail %q does not say %q", d, want)
		}
	}
	d, _ = ghostNames(inv, "ticket-seat-booked", ghost)
	for _, want := range []string{"seat B2, which Booking's seat map shows free", "seat ZZ99, which is not a seat of the venue"} {
		if !strings.Contains(d, want) {
			t.Errorf("ticket-seat-booked detail %q does not say %q", d, want)
		}
	}
	for _, v := range inv.Violations {
		if v.BookingID != ghost {
			t.Errorf("a real booking is named: %s on %s: %s", v.Rule, v.BookingID, v.Detail)
		}
	}
	if seats := p.SeatStatus(); seats["B2"] != "free" {
		t.Errorf("seat B2 is %s in the seat map, want free: the forgery never reaches Booking", seats["B2"])
	}

	// A real booking of the ghost's seat is compensated; the checker keeps
	// naming the ghost, and nothing else.
	bob := p.Book("bob", "B2")
	p.WaitFor(bob, 10*time.Second, "compensated", func(b Booking) bool { return b.Status == "compensated" && b.Notified })
	inv = ghostRead(t, p)
	if _, ok := ghostNames(inv, "ticket-seat-booked", ghost); !ok || inv.OK {
		t.Errorf("after bob lost seat B2 to the ghost: ok=%v violations=%v, want the ghost still named", inv.OK, inv.Violations)
	}
	for _, v := range inv.Violations {
		if v.BookingID != ghost {
			t.Errorf("a real booking is named: %s on %s: %s", v.Rule, v.BookingID, v.Detail)
		}
	}
}
