package main_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// startSaga runs the whole program in its own vhost and data folder.
func startSaga(t *testing.T, extra ...string) (*Proc, string) {
	t.Helper()
	vhost := MustVhost(t)
	args := append([]string{"-addr", "127.0.0.1:0", "-data", t.TempDir(), "-amqp", vhost}, extra...)
	return Start(t, args...), vhost
}

func TestHappyPathConfirmsChargesAndNotifies(t *testing.T) {
	p, _ := startSaga(t)
	id := p.Book("alice", "A1", "A2")

	b := p.WaitFor(id, 10*time.Second, "confirmed and notified", func(b Booking) bool { return b.Status == "confirmed" && recorded(b) })
	if b.AmountCents != 2000 || b.UserID != "alice" || !slices.Equal(b.Seats, []string{"A1", "A2"}) {
		t.Errorf("booking = %+v, want alice, A1 A2, 2000 cents", b)
	}
	want := []string{"BookingCreated", "PaymentCompleted", "SeatsSold", "BookingNotified"}
	if got := eventTypes(b); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	if b.Waiting != nil {
		t.Errorf("a confirmed booking says it is waiting in %s", b.Waiting.Queue)
	}
	seats := p.SeatStatus()
	if seats["A1"] != "sold" || seats["A2"] != "sold" || seats["A3"] != "free" {
		t.Errorf("seats A1 A2 A3 = %s %s %s, want sold sold free", seats["A1"], seats["A2"], seats["A3"])
	}
	if charged, refunded := p.Ledger(id); charged != 2000 || refunded != 0 {
		t.Errorf("ledger: charged %d refunded %d, want 2000 and 0", charged, refunded)
	}
	var notes []struct {
		BookingID string `json:"booking_id"`
		Success   bool   `json:"success"`
	}
	p.Do("GET", "/api/notifications?user_id=alice", nil, &notes)
	if len(notes) != 1 || notes[0].BookingID != id || !notes[0].Success {
		t.Errorf("alice's notifications = %+v, want one success for %s", notes, id)
	}
	if !strings.Contains(p.Log(), "Booking SUCCESS sent to user alice") {
		t.Errorf("the log does not say the user was told:\n%s", tail(p.Log(), 20))
	}
	// A seat in a live booking cannot be booked again.
	var e map[string]string
	if code := p.Do("POST", "/api/bookings", `{"user_id":"bob","seats":["A2","A3"]}`, &e); code != http.StatusConflict || !strings.Contains(e["error"], "A2") {
		t.Errorf("booking a sold seat: %d %v, want 409 naming A2", code, e)
	}
	if p.SeatStatus()["A3"] != "free" {
		t.Errorf("a refused booking left A3 %s", p.SeatStatus()["A3"])
	}
}

func TestDeclinedPaymentCompensatesWithNoCharge(t *testing.T) {
	p, _ := startSaga(t)
	p.SetSwitches(`{"payment":{"fail_rate":1}}`)
	id := p.Book("bob", "B1", "B2")

	b := p.WaitFor(id, 10*time.Second, "compensated and notified", func(b Booking) bool { return b.Status == "compensated" && recorded(b) })
	want := []string{"BookingCreated", "PaymentServiceFailed", "SeatReleaseRequested", "BookingCancelled", "BookingNotified"}
	if got := eventTypes(b); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	if !strings.Contains(b.Reason, "payment.fail_rate=1") {
		t.Errorf("reason = %q, want it to name the switch", b.Reason)
	}
	seats := p.SeatStatus()
	if seats["B1"] != "free" || seats["B2"] != "free" {
		t.Errorf("seats B1 B2 = %s %s, want free free", seats["B1"], seats["B2"])
	}
	if charged, refunded := p.Ledger(id); charged != refunded {
		t.Errorf("ledger: charged %d refunded %d, want a net of zero", charged, refunded)
	}
	// The released seats can be booked again at once.
	p.SetSwitches(`{"payment":{"fail_rate":0}}`)
	again := p.Book("carol", "B1")
	p.WaitFor(again, 10*time.Second, "confirmed", func(b Booking) bool { return b.Status == "confirmed" })
}

func TestFailedSeatUpdateRefundsTheCharge(t *testing.T) {
	p, _ := startSaga(t)
	p.SetSwitches(`{"seats":{"fail_rate":1}}`)
	id := p.Book("carol", "C1")

	b := p.WaitFor(id, 10*time.Second, "compensated and notified", func(b Booking) bool { return b.Status == "compensated" && recorded(b) })
	want := []string{"BookingCreated", "PaymentCompleted", "SeatUpdatingServiceFailed", "RefundRequested", "PaymentRefunded", "BookingCancelled", "BookingNotified"}
	if got := eventTypes(b); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	if charged, refunded := p.Ledger(id); charged != 1000 || refunded != 1000 {
		t.Errorf("ledger: charged %d refunded %d, want 1000 and 1000", charged, refunded)
	}
	if s := p.SeatStatus()["C1"]; s != "free" {
		t.Errorf("seat C1 is %s after compensation, want free", s)
	}
	if !strings.Contains(b.Reason, "seats.fail_rate=1") {
		t.Errorf("reason = %q, want the seat failure", b.Reason)
	}
}

func TestFailingNotificationIsRetriedWithoutChangingTheOutcome(t *testing.T) {
	p, _ := startSaga(t)
	p.SetSwitches(`{"notification":{"fail_rate":1}}`)
	id := p.Book("dave", "D1")

	p.WaitFor(id, 10*time.Second, "confirmed with retries under way", func(b Booking) bool {
		return b.Status == "confirmed" && slices.Contains(eventTypes(b), "NotificationRetry")
	})
	// While notification keeps failing the booking stays confirmed and
	// unnotified, and the retries keep coming. It says where it waits: a
	// retry queue, with the attempt, or notification_queue between two.
	deadline := time.Now().Add(1500 * time.Millisecond)
	sawRetry := false
	for time.Now().Before(deadline) {
		b := p.Get(id)
		if b.Status != "confirmed" || b.Notified {
			t.Fatalf("while notification fails: status=%s notified=%v, want confirmed and not notified", b.Status, b.Notified)
		}
		switch w := b.Waiting; {
		case w == nil:
			t.Fatal("a confirmed booking whose user is not told yet says it waits nowhere")
		case strings.HasPrefix(w.Queue, "notification_retry_"):
			sawRetry = true
			want := fmt.Sprintf("retry %d of %d for notification", w.Attempt, w.MaxAttempts)
			if w.Step != "notification" || w.Attempt < 1 || w.MaxAttempts != 40 || w.Note != want {
				t.Errorf("waiting in a retry queue = %+v, want step notification and the note %q", *w, want)
			}
		case w.Queue != "notification_queue" || w.Step != "notification":
			t.Errorf("waiting = %+v, want a retry queue or notification_queue", *w)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !sawRetry {
		t.Error("in 1.5 s of failing notifications the booking never said it waits for a retry")
	}
	retries := 0
	for _, e := range p.Get(id).Events {
		if e.Type == "NotificationRetry" {
			retries++
		}
	}
	if retries < 2 {
		t.Errorf("saw %d retries in 1.5s of failing notifications, want at least 2", retries)
	}
	p.SetSwitches(`{"notification":{"fail_rate":0}}`)
	b := p.WaitFor(id, 15*time.Second, "notified", func(b Booking) bool { return b.Notified })
	if b.Status != "confirmed" {
		t.Errorf("status after notification recovered = %s, want confirmed", b.Status)
	}
}

// TestRedeliveryHasNoSecondEffect hands every message of a finished happy
// saga and a finished compensated saga to its consumer a second time, with
// the same message id, and checks that nothing happened twice.
func TestRedeliveryHasNoSecondEffect(t *testing.T) {
	p, vhost := startSaga(t)
	happy := p.Book("erin", "E1")
	p.WaitFor(happy, 10*time.Second, "confirmed and notified", func(b Booking) bool { return b.Status == "confirmed" && recorded(b) })
	p.SetSwitches(`{"seats":{"fail_rate":1}}`)
	undone := p.Book("frank", "F1")
	p.WaitFor(undone, 10*time.Second, "compensated and notified", func(b Booking) bool { return b.Status == "compensated" && recorded(b) })
	p.SetSwitches(`{"seats":{"fail_rate":0}}`)

	before := map[string]Booking{happy: p.Get(happy), undone: p.Get(undone)}
	consumers := map[string]bool{}
	for _, b := range before {
		for _, e := range b.Events {
			consumers[e.Queue] = true
			publish(t, vhost, "sagaboard", e.Queue, amqp.Publishing{
				MessageId: e.MessageID, CorrelationId: b.ID, Type: e.Type, Body: e.Payload,
				DeliveryMode: amqp.Persistent, Headers: amqp.Table{"x-sagaboard-source": e.Source},
			})
		}
	}
	for _, q := range []string{"payment_queue", "seat_update_queue", "compensation_queue", "refund_queue", "seat_release_queue", "notification_queue"} {
		if !consumers[q] {
			t.Errorf("no message to %s was replayed; the test does not cover that consumer", q)
		}
	}
	p.Settled(10 * time.Second)
	time.Sleep(300 * time.Millisecond)

	for id, was := range before {
		now := p.Get(id)
		if !slices.Equal(eventTypes(now), eventTypes(was)) {
			t.Errorf("booking %s: events after redelivery %v, before %v: a consumer acted twice", id, eventTypes(now), eventTypes(was))
		}
		if now.Status != was.Status || now.Notified != was.Notified {
			t.Errorf("booking %s changed: %s/%v → %s/%v", id, was.Status, was.Notified, now.Status, now.Notified)
		}
	}
	if c, r := p.Ledger(happy); c != 1000 || r != 0 {
		t.Errorf("happy booking ledger: charged %d refunded %d, want 1000 and 0", c, r)
	}
	if c, r := p.Ledger(undone); c != 1000 || r != 1000 {
		t.Errorf("compensated booking ledger: charged %d refunded %d, want 1000 and 1000", c, r)
	}
	var notes []map[string]any
	p.Do("GET", "/api/notifications", nil, &notes)
	if len(notes) != 2 {
		t.Errorf("%d notifications after redelivery, want 2", len(notes))
	}
	seats := p.SeatStatus()
	if seats["E1"] != "sold" || seats["F1"] != "free" {
		t.Errorf("seats E1 F1 = %s %s, want sold free", seats["E1"], seats["F1"])
	}
}

// TestDeadlineCompensatesAndNeutralisesLateMessages pauses a step past the
// deadline: the booking is compensated with the deadline as its reason, and
// when the step resumes its late message leaves no effect behind.
func TestDeadlineCompensatesAndNeutralisesLateMessages(t *testing.T) {
	p, _ := startSaga(t, "-deadline", "1s")

	// Seats paused: payment has charged, so the undo refunds it.
	p.SetSwitches(`{"seats":{"paused":true}}`)
	id := p.Book("gina", "G1")
	b := p.WaitFor(id, 10*time.Second, "compensated", func(b Booking) bool { return b.Status == "compensated" })
	if !strings.Contains(b.Reason, "deadline") {
		t.Errorf("reason = %q, want the deadline", b.Reason)
	}
	if c, r := p.Ledger(id); c != 1000 || r != 1000 {
		t.Errorf("after the deadline: charged %d refunded %d, want 1000 and 1000", c, r)
	}
	if s := p.SeatStatus()["G1"]; s != "free" {
		t.Errorf("seat G1 is %s after the deadline, want free", s)
	}
	p.SetSwitches(`{"seats":{"paused":false}}`)
	b = p.WaitFor(id, 10*time.Second, "showing the late sale neutralised", func(b Booking) bool {
		return slices.Contains(eventTypes(b), "LateMessageNeutralised")
	})
	p.Settled(10 * time.Second)
	if b = p.Get(id); b.Status != "compensated" {
		t.Errorf("after the late message: status %s, want compensated", b.Status)
	}
	if s := p.SeatStatus()["G1"]; s != "free" {
		t.Errorf("the late message sold G1 (%s)", s)
	}
	if c, r := p.Ledger(id); c != r {
		t.Errorf("after the late message: charged %d refunded %d, want a net of zero", c, r)
	}

	// Payment paused: nothing was charged, and the late booking message is
	// not charged either.
	p.SetSwitches(`{"payment":{"paused":true}}`)
	id = p.Book("gina", "G2")
	b = p.WaitFor(id, 10*time.Second, "compensated", func(b Booking) bool { return b.Status == "compensated" })
	p.SetSwitches(`{"payment":{"paused":false}}`)
	p.WaitFor(id, 10*time.Second, "showing the late charge neutralised", func(b Booking) bool {
		return slices.Contains(eventTypes(b), "LateMessageNeutralised")
	})
	p.Settled(10 * time.Second)
	if c, r := p.Ledger(id); c != 0 || r != 0 {
		t.Errorf("payment resumed after the deadline: charged %d refunded %d, want nothing", c, r)
	}
	if s := p.SeatStatus()["G2"]; s != "free" {
		t.Errorf("seat G2 is %s, want free", s)
	}
}

// TestDelaySlowsTheStep sets a delay on payment: the step waits that long
// before handling each message, and the booking still completes.
func TestDelaySlowsTheStep(t *testing.T) {
	p, _ := startSaga(t)
	p.SetSwitches(`{"payment":{"delay_ms":400}}`)
	id := p.Book("ivan", "I1")
	b := p.WaitFor(id, 10*time.Second, "confirmed", func(b Booking) bool { return b.Status == "confirmed" })
	var created, paid time.Time
	for _, e := range b.Events {
		switch e.Type {
		case "BookingCreated":
			created = e.At
		case "PaymentCompleted":
			paid = e.At
		}
	}
	if d := paid.Sub(created); d < 400*time.Millisecond {
		t.Errorf("payment answered %s after the booking, want at least the 400 ms delay", d)
	}

	// A backlog behind a slowed step stays visible in the queue: the step
	// takes one message at a time, and the queue panel says who waits. The
	// delay is longer here so the backlog lasts seconds, not a moment a
	// busy machine can miss between two reads; the look ends only when the
	// backlog has been seen or has drained without ever showing.
	p.SetSwitches(`{"payment":{"delay_ms":1000}}`)
	var backlog []string
	for _, seat := range []string{"J1", "J2", "J3", "J4", "J5", "J6"} {
		backlog = append(backlog, p.Book("ivan", seat))
	}
	var qs []struct {
		Name    string `json:"name"`
		Ready   int    `json:"ready"`
		Unacked int    `json:"unacked"`
		Waiting []struct {
			ID   string `json:"booking_id"`
			Note string `json:"note"`
		} `json:"waiting"`
	}
	for {
		p.Do("GET", "/api/queues", nil, &qs)
		var pq = qs[0]
		if pq.Name != "payment_queue" {
			t.Fatalf("the first queue is %s, want payment_queue", pq.Name)
		}
		if pq.Ready >= 3 && pq.Unacked <= 1 && len(pq.Waiting) >= 4 {
			if pq.Waiting[0].ID != backlog[0] && pq.Waiting[0].ID != backlog[1] && pq.Waiting[0].ID != backlog[2] {
				t.Errorf("the oldest waiting booking is %s, want one of the first three booked", pq.Waiting[0].ID)
			}
			if pq.Waiting[0].Note != "payment waits 1000 ms per message" {
				t.Errorf("a booking behind the delay waits with the note %q", pq.Waiting[0].Note)
			}
			break
		}
		if pq.Ready == 0 && pq.Unacked == 0 {
			t.Fatalf("behind a 1000 ms delay with %d bookings, payment_queue drained without showing the backlog: last read %d ready, %d unacked, %d waiting", len(backlog), pq.Ready, pq.Unacked, len(pq.Waiting))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, id := range backlog {
		p.WaitFor(id, 10*time.Second, "confirmed", func(b Booking) bool { return b.Status == "confirmed" })
	}
	p.SetSwitches(`{"payment":{"delay_ms":0}}`)
	id = p.Book("ivan", "I2")
	b = p.WaitFor(id, 10*time.Second, "confirmed", func(b Booking) bool { return b.Status == "confirmed" })
	if d := b.Events[1].At.Sub(b.Events[0].At); d >= 400*time.Millisecond {
		t.Errorf("with the delay off, payment still took %s", d)
	}
}
