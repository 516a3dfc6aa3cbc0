package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// MustProvisioned makes a fresh vhost and provisions it with the real
// `sagaboard setup-broker`, into dir. It returns the vhost's URL as guest
// (who has no access to it any more) and the per-part credentials.
// setup-broker is given extra flags too, if any.
func MustProvisioned(t testing.TB, dir string, extra ...string) (string, forgeryCreds) {
	t.Helper()
	vhostURL := MustVhost(t)
	vhost := vhostURL[strings.LastIndex(vhostURL, "/")+1:]
	out, err := exec.Command(binary, append([]string{"setup-broker", "-amqp", vhostURL, "-data", dir}, extra...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("sagaboard setup-broker: %v\n%s", err, out)
	}
	var creds forgeryCreds
	raw, err := exec.Command("cat", dir+"/broker.json").Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &creds); err != nil {
		t.Fatalf("broker.json: %v\n%s", err, raw)
	}
	// Users are broker-wide: take this vhost's away with it, in one call.
	var users []string
	for _, l := range creds.Parts {
		users = append(users, fmt.Sprintf("<<%q>>", l.User))
	}
	t.Cleanup(func() {
		expr := fmt.Sprintf(`[rabbit_auth_backend_internal:delete_user(U, <<"sagaboard-test">>) || U <- [%s]].`, strings.Join(users, ","))
		_ = exec.Command("rabbitmqctl", "eval", expr).Run()
	})
	creds.vhost = vhost
	return vhostURL, creds
}

type forgeryCreds struct {
	Parts map[string]struct {
		User     string `json:"user"`
		Password string `json:"password"`
	} `json:"parts"`
	vhost string
}

// url is the vhost's URL logged in as part's broker user.
func (c forgeryCreds) url(part string) string {
	l := c.Parts[part]
	return fmt.Sprintf("amqp://%s:%s@localhost:5672/%s", l.User, l.Password, c.vhost)
}

// tryPublish publishes one message and reports whether the broker took it:
// nil when it confirmed it, the broker's refusal otherwise.
func tryPublish(amqpURL, exchange, key string, msg amqp.Publishing) error {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("channel: %w", err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("confirm mode: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, msg)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if ok, err := dc.WaitContext(ctx); err != nil || !ok {
		select {
		case e := <-closed:
			return fmt.Errorf("refused: %v", e)
		case <-time.After(time.Second):
			return fmt.Errorf("not confirmed: %v", err)
		}
	}
	return nil
}

// forgeryState is everything a forgery must not change.
type forgeryState struct {
	Bookings      []map[string]any
	Seats         []map[string]any
	Payments      []map[string]any
	Notifications []map[string]any
	Failures      map[string]any
}

func readForgeryState(t *testing.T, p *Proc) forgeryState {
	t.Helper()
	var s forgeryState
	var list []map[string]any
	p.Do("GET", "/api/bookings?limit=500", nil, &list)
	for _, b := range list {
		// What a booking is, not the observer's view of its messages,
		// which grows with every message seen.
		s.Bookings = append(s.Bookings, map[string]any{"id": b["id"], "status": b["status"], "notified": b["notified"], "seats": b["seats"]})
	}
	p.Do("GET", "/api/seats", nil, &s.Seats)
	p.Do("GET", "/api/payments", nil, &s.Payments)
	p.Do("GET", "/api/notifications", nil, &s.Notifications)
	p.Do("GET", "/api/failures", nil, &s.Failures)
	return s
}

// TestForgedMessagesChangeNothingOnAProvisionedVhost publishes each forgery
// an attacker tried on the shared vhost, once with guest and once with the
// credentials of a part that may not send it. Each is refused by the broker
// or dead-lettered as forged, and nothing a user sees changes.
func TestForgedMessagesChangeNothingOnAProvisionedVhost(t *testing.T) {
	dir := t.TempDir()
	guestURL, creds := MustProvisioned(t, dir)
	p := Start(t, "-addr", "127.0.0.1:0", "-data", dir)
	if h := p.Log(); !strings.Contains(h, "each part is its own RabbitMQ user") {
		t.Fatalf("the server does not say it runs with per-part broker users:\n%s", tail(h, 10))
	}

	// A real booking, confirmed and charged: the target of the refund and
	// compensation forgeries.
	real := p.Book("alice", "A1")
	p.WaitFor(real, 10*time.Second, "confirmed and notified", func(b Booking) bool { return b.Status == "confirmed" && b.Notified })
	p.Settled(10 * time.Second)
	before := readForgeryState(t, p)
	deadBefore := len(poisonListDeadLetters(t, p))

	body := func(id string, seats ...string) []byte {
		b, _ := json.Marshal(map[string]any{"booking": map[string]any{"id": id, "user_id": "mallory", "seats": seats, "amount_cents": 1000 * len(seats)}})
		return b
	}
	failed := func(id, event string, seats ...string) []byte {
		b, _ := json.Marshal(map[string]any{"booking": map[string]any{"id": id, "user_id": "alice", "seats": seats, "amount_cents": 1000 * len(seats)}, "event": event})
		return b
	}
	user := func(part string) string { return creds.Parts[part].User }
	type forgery struct {
		what      string
		exchange  string
		key, typ  string
		body      []byte
		as        string // the part whose credentials publish it
		userID    string // the user_id property; "" leaves it unset
		deadAsFor bool   // the broker takes it, and its consumers must dead-letter it as forged
		reaches   int    // how many queues it reaches, the observer's tap included: each dead-letters it
	}
	forgeries := []forgery{
		{what: "a BookingCreated for a booking nobody made", exchange: "sagaboard", key: "payment_queue", typ: "BookingCreated", body: body("ghost-1", "B1"), as: "payment"},
		{what: "a PaymentCompleted to sell seats unpaid", exchange: "sagaboard", key: "seat_update_queue", typ: "PaymentCompleted", body: body("ghost-2", "B2"), as: "booking"},
		{what: "a RefundRequested for the confirmed booking", exchange: "sagaboard", key: "refund_queue", typ: "RefundRequested", body: failed(real, "SeatUpdatingServiceFailed", "A1"), as: "booking"},
		{what: "a PaymentServiceFailed for the charged booking", exchange: "sagaboard", key: "compensation_queue", typ: "PaymentServiceFailed", body: failed(real, "PaymentServiceFailed", "A1"), as: "seats", deadAsFor: true, reaches: 2},
		{what: "a DeadlineExceeded for the confirmed booking", exchange: "sagaboard", key: "compensation_queue", typ: "DeadlineExceeded", body: failed(real, "DeadlineExceeded", "A1"), as: "payment", deadAsFor: true, reaches: 2},
		{what: "a PaymentCompleted with an extra seat", exchange: "sagaboard", key: "seat_update_queue", typ: "PaymentCompleted", body: failed(real, "", "A1", "B3"), as: "compensation"},
		{what: "a SeatsSold with no user_id", exchange: "sagaboard", key: "notification_queue", typ: "SeatsSold", body: body("ghost-3", "B4"), as: "booking", deadAsFor: true, reaches: 3},
		{what: "a BookingCreated claiming to be Booking's", exchange: "sagaboard", key: "payment_queue", typ: "BookingCreated", body: body("ghost-4", "B5"), as: "booking", userID: user("payment")},
		{what: "a BookingCreated past the exchange, straight into the queue", exchange: "", key: "payment_queue", typ: "BookingCreated", body: body("ghost-5", "B6"), as: "observer"},
		{what: "a switch change that bypasses -token", exchange: "sagaboard.control", key: "control.switches", typ: "SwitchesChanged", body: []byte(`{"payment":{"fail_rate":1}}`), as: "payment"},
	}
	wantForged := 0
	for i, f := range forgeries {
		msg := amqp.Publishing{MessageId: fmt.Sprintf("forged-%d", i), Type: f.typ, DeliveryMode: amqp.Persistent, ContentType: "application/json", Body: f.body,
			Headers: amqp.Table{"x-sagaboard-source": "payment"}}
		if err := tryPublish(guestURL, f.exchange, f.key, msg); err == nil {
			t.Errorf("%s: guest published it on a provisioned vhost", f.what)
		}
		msg.UserId = f.userID
		if f.userID == "" && f.deadAsFor && !strings.Contains(f.what, "no user_id") {
			msg.UserId = user(f.as)
		}
		err := tryPublish(creds.url(f.as), f.exchange, f.key, msg)
		switch {
		case f.deadAsFor && err != nil:
			t.Errorf("%s, as %s: the broker refused it (%v); the test wants it to reach the consumer's check", f.what, f.as, err)
		case f.deadAsFor:
			wantForged += f.reaches
		case err == nil:
			t.Errorf("%s, as %s: the broker took it; it must refuse it", f.what, f.as)
		}
	}

	// Every forgery that got past the broker is dead-lettered as forged.
	deadline := time.Now().Add(10 * time.Second)
	var forged []poisonDeadLetter
	for {
		forged = forged[:0]
		for _, d := range poisonListDeadLetters(t, p) {
			if strings.HasPrefix(d.Reason, "forged: ") {
				forged = append(forged, d)
			}
		}
		if len(forged) >= wantForged || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(forged) != wantForged {
		t.Errorf("%d dead letters say forged, want %d: %+v", len(forged), wantForged, forged)
	}
	poisonDrained(t, p, guestURL, 15*time.Second)
	time.Sleep(500 * time.Millisecond)

	if after := readForgeryState(t, p); !reflect.DeepEqual(before, after) {
		t.Errorf("forged messages changed what users see:\nbefore %+v\nafter  %+v", before, after)
	}
	if n := len(poisonListDeadLetters(t, p)) - deadBefore; n != wantForged {
		t.Errorf("%d new dead letters, want only the %d forged ones", n, wantForged)
	}
	var inv struct {
		OK         bool  `json:"ok"`
		Violations []any `json:"violations"`
	}
	p.Do("GET", "/api/invariants", nil, &inv)
	if !inv.OK || len(inv.Violations) > 0 {
		t.Errorf("invariants after forgeries: ok=%v violations %v", inv.OK, inv.Violations)
	}
	var health map[string]any
	p.Do("GET", "/healthz", nil, &health)
	if health["broker_identity"] != "per-part" {
		t.Errorf("/healthz broker_identity = %v, want per-part", health["broker_identity"])
	}
	// A forged message is never replayed.
	if len(forged) > 0 {
		var e map[string]string
		if code := p.Do("POST", "/api/dead-letters/"+forged[0].ID+"/replay", nil, &e); code != 409 {
			t.Errorf("replaying a forged dead letter = %d %v, want 409", code, e)
		}
	}
	// The saga still works, and the switches still change from the page.
	p.SetSwitches(`{"payment":{"fail_rate":1}}`)
	declined := p.Book("bob", "C1")
	p.WaitFor(declined, 10*time.Second, "compensated", func(b Booking) bool { return b.Status == "compensated" })
}
