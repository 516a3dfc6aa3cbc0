package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Do sends a request with a JSON body (nil for none) and decodes a JSON
// answer into out when out is not nil. It returns the status.
func (p *Proc) Do(method, path string, body any, out any) int {
	p.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, p.URL+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			p.t.Fatalf("%s %s: %d answer is not JSON: %v\n%s", method, path, res.StatusCode, err, raw)
		}
	}
	return res.StatusCode
}

// Booking is a booking as the API shows it.
type Booking struct {
	ID          string   `json:"id"`
	UserID      string   `json:"user_id"`
	Seats       []string `json:"seats"`
	AmountCents int64    `json:"amount_cents"`
	Status      string   `json:"status"`
	Notified    bool     `json:"notified"`
	Reason      string   `json:"reason"`
	Events      []struct {
		Seq       int64           `json:"seq"`
		MessageID string          `json:"message_id"`
		Queue     string          `json:"queue"`
		Type      string          `json:"type"`
		Source    string          `json:"source"`
		At        time.Time       `json:"at"`
		Payload   json.RawMessage `json:"payload"`
	} `json:"events"`
	Waiting *struct {
		Queue       string    `json:"queue"`
		Since       time.Time `json:"since"`
		Step        string    `json:"step"`
		Attempt     int       `json:"attempt"`
		MaxAttempts int       `json:"max_attempts"`
		Note        string    `json:"note"`
	} `json:"waiting"`
}

// Book posts a booking and returns its id.
func (p *Proc) Book(user string, seats ...string) string {
	p.t.Helper()
	var out map[string]string
	if code := p.Do("POST", "/api/bookings", map[string]any{"user_id": user, "seats": seats}, &out); code != http.StatusAccepted {
		p.t.Fatalf("POST /api/bookings for %s %v: status %d %v", user, seats, code, out)
	}
	return out["id"]
}

// Get returns a booking.
func (p *Proc) Get(id string) Booking {
	p.t.Helper()
	var b Booking
	if code := p.Do("GET", "/api/bookings/"+id, nil, &b); code != http.StatusOK {
		p.t.Fatalf("GET /api/bookings/%s: status %d", id, code)
	}
	return b
}

// WaitFor polls a booking until ok returns true, failing after timeout.
func (p *Proc) WaitFor(id string, timeout time.Duration, what string, ok func(Booking) bool) Booking {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b := p.Get(id)
		if ok(b) {
			return b
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("booking %s never became %s within %s; last: status=%s notified=%v reason=%q events=%d\nlog:\n%s",
				id, what, timeout, b.Status, b.Notified, b.Reason, len(b.Events), tail(p.Log(), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Settled waits until every saga queue is empty twice in a row, so nothing
// is in flight.
func (p *Proc) Settled(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	quiet := 0
	for time.Now().Before(deadline) {
		var qs []struct {
			Name  string `json:"name"`
			Ready int    `json:"ready"`
		}
		if p.Do("GET", "/api/queues", nil, &qs) == http.StatusOK {
			busy := false
			for _, q := range qs {
				if q.Ready > 0 && q.Name != "dead_letter_queue" {
					busy = true
				}
			}
			if !busy {
				quiet++
				if quiet >= 3 {
					return
				}
			} else {
				quiet = 0
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("queues did not drain within %s", timeout)
}

// Ledger returns the payments of one booking.
func (p *Proc) Ledger(id string) (charged, refunded int64) {
	p.t.Helper()
	var entries []struct {
		BookingID   string `json:"booking_id"`
		Kind        string `json:"kind"`
		AmountCents int64  `json:"amount_cents"`
	}
	if code := p.Do("GET", "/api/payments?booking_id="+id, nil, &entries); code != http.StatusOK {
		p.t.Fatalf("GET /api/payments: %d", code)
	}
	for _, e := range entries {
		switch e.Kind {
		case "charge":
			charged += e.AmountCents
		case "refund":
			refunded += e.AmountCents
		}
	}
	return charged, refunded
}

// SeatStatus returns the status of each seat by id.
func (p *Proc) SeatStatus() map[string]string {
	p.t.Helper()
	var seats []struct {
		ID, Status, BookingID string
	}
	if code := p.Do("GET", "/api/seats", nil, &seats); code != http.StatusOK {
		p.t.Fatalf("GET /api/seats: %d", code)
	}
	out := map[string]string{}
	for _, s := range seats {
		out[s.ID] = s.Status
	}
	return out
}

// SetSwitches PUTs a failure-switch patch.
func (p *Proc) SetSwitches(patch string) {
	p.t.Helper()
	var out map[string]any
	if code := p.Do("PUT", "/api/failures", patch, &out); code != http.StatusOK {
		p.t.Fatalf("PUT /api/failures %s: %d %v", patch, code, out)
	}
}

// publish sends a raw message into a vhost, for tests that play a
// misbehaving or duplicating producer.
func publish(t testing.TB, amqpURL, exchange, key string, msg amqp.Publishing) {
	t.Helper()
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, msg)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := dc.WaitContext(ctx); err != nil || !ok {
		t.Fatalf("publish to %s/%s not confirmed: %v", exchange, key, err)
	}
}

// recorded reports whether the observer has the booking's trail up to the
// user being told. Booking learns of the notice from its own queue and the
// observer from the tap, each in its own time, so a test that reads the
// trail must wait for both.
func recorded(b Booking) bool {
	return b.Notified && len(b.Events) > 0 && b.Events[len(b.Events)-1].Type == "BookingNotified"
}

func eventTypes(b Booking) []string {
	out := make([]string, len(b.Events))
	for i, e := range b.Events {
		out[i] = e.Type
	}
	return out
}
