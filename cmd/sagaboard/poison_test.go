package main_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"
)

// poisonQueues are the work queues, each with the message type its consumer
// takes, so a poison body is judged by the decoder and not refused for its
// type alone.
var poisonQueues = []struct{ queue, typ string }{
	{"payment_queue", "BookingCreated"},
	{"seat_update_queue", "PaymentCompleted"},
	{"compensation_queue", "PaymentServiceFailed"},
	{"refund_queue", "RefundRequested"},
	{"seat_release_queue", "SeatReleaseRequested"},
	{"notification_queue", "SeatsSold"},
	{"booking_update_queue", "SeatsSold"},
}

// poisonKind is one way a message can be impossible to handle. tag is put
// near the start of every body, so its dead letter can be found by the body
// the API shows.
type poisonKind struct {
	name string
	typ  string // the AMQP type; "" for the one the queue's consumer expects
	noID bool   // publish without a message_id
	body func(tag string) []byte
	// reasonHas is a word the dead letter's reason must contain, when there
	// is one a person would look for.
	reasonHas string
}

func poisonGoodBody(tag string) []byte {
	return []byte(`{"booking":{"id":"` + tag + `","user_id":"mallory","seats":["J10"],"amount_cents":1000},"event":"PaymentServiceFailed","isSuccess":false}`)
}

var poisonKinds = []poisonKind{
	{name: "malformed-json", body: func(tag string) []byte {
		return []byte(`{"booking":{"id":"` + tag + `","user_id":"mallory","seats":["A1"`)
	}},
	{name: "wrong-types", body: func(tag string) []byte {
		return []byte(`{"booking":{"id":"` + tag + `","user_id":42,"seats":"A1","amount_cents":"1000"},"isSuccess":"yes"}`)
	}},
	{name: "missing-fields", body: func(tag string) []byte {
		return []byte(`{"booking":{"id":"` + tag + `"}}`)
	}},
	{name: "512kib-body", body: func(tag string) []byte {
		return []byte(`{"booking":{"id":"` + tag + `","user_id":"mallory","seats":["A1"],"amount_cents":1000},"reason":"` +
			strings.Repeat("x", 512<<10) + `"}`)
	}},
	{name: "invalid-utf8", body: func(tag string) []byte {
		return []byte(`{"booking":{"id":"` + tag + `","user_id":"mal\xff\xfelory","seats":["A1"],"amount_cents":1000}}`)
	}},
	{name: "invalid-utf8-5kb", body: func(tag string) []byte {
		return []byte(`{"booking":{"id":"` + tag + `","user_id":"` + strings.Repeat("\xff", 5000) + `","seats":["A1"],"amount_cents":1000}}`)
	}},
	{name: "unknown-type", typ: "BookingTeleported", body: poisonGoodBody, reasonHas: "BookingTeleported"},
	{name: "no-message-id", noID: true, body: poisonGoodBody, reasonHas: "message_id"},
}

// poisonDeadLetter is a dead letter as GET /api/dead-letters shows it.
type poisonDeadLetter struct {
	ID     string    `json:"id"`
	Queue  string    `json:"queue"`
	Reason string    `json:"reason"`
	Body   string    `json:"body"`
	At     time.Time `json:"at"`
}

// poisonListDeadLetters returns every dead letter, checking that each has
// the fields the contract names.
func poisonListDeadLetters(t *testing.T, p *Proc) []poisonDeadLetter {
	t.Helper()
	var raw []map[string]json.RawMessage
	if code := p.Do("GET", "/api/dead-letters?limit=1000", nil, &raw); code != http.StatusOK {
		t.Fatalf("GET /api/dead-letters: %d", code)
	}
	out := make([]poisonDeadLetter, len(raw))
	for i, m := range raw {
		for _, k := range []string{"id", "queue", "reason", "body", "at"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("dead letter %d has no %q field: %v", i, k, m)
			}
		}
		b, _ := json.Marshal(m)
		if err := json.Unmarshal(b, &out[i]); err != nil {
			t.Fatalf("dead letter %d does not have the contract's shape: %v\n%s", i, err, b)
		}
	}
	return out
}

// poisonFind returns the dead letters from queue whose body carries tag.
func poisonFind(list []poisonDeadLetter, queue, tag string) []poisonDeadLetter {
	var out []poisonDeadLetter
	for _, d := range list {
		if d.Queue == queue && strings.Contains(d.Body, tag) {
			out = append(out, d)
		}
	}
	return out
}

// poisonQueueDepths asks the broker itself how many messages, ready or
// unacked, each queue of the vhost holds. /api/queues cannot see unacked
// messages, and a message requeued forever is unacked half the time.
func poisonQueueDepths(t *testing.T, vhostURL string) map[string]int {
	t.Helper()
	vhost := vhostURL[strings.LastIndex(vhostURL, "/")+1:]
	out, err := exec.Command("rabbitmqctl", "-q", "list_queues", "-p", vhost, "--no-table-headers", "name", "messages").CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl list_queues: %v\n%s", err, out)
	}
	depths := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("rabbitmqctl list_queues: odd line %q", line)
		}
		depths[f[0]] = n
	}
	return depths
}

// poisonDrained waits until every queue of the vhost is empty, ready and
// unacked alike, three checks in a row.
func poisonDrained(t *testing.T, p *Proc, vhostURL string, timeout time.Duration) {
	t.Helper()
	p.Settled(timeout)
	deadline := time.Now().Add(timeout)
	quiet := 0
	var last map[string]int
	for time.Now().Before(deadline) {
		last = poisonQueueDepths(t, vhostURL)
		busy := false
		for name, n := range last {
			if n > 0 && !strings.HasPrefix(name, "amq.") {
				busy = true
			}
		}
		if busy {
			quiet = 0
		} else if quiet++; quiet >= 3 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("queues still hold messages after %s (a message requeued forever?): %v\nlog:\n%s", timeout, last, tail(p.Log(), 30))
}

// poisonAlive checks that the process still runs and says it is healthy.
func poisonAlive(t *testing.T, p *Proc) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("sagaboard exited:\n%s", tail(p.Log(), 40))
	default:
	}
	// The process says it is ready before its first broker connection is
	// up, so give /healthz a moment to turn 200.
	start := time.Now()
	for {
		var h map[string]any
		code := p.Do("GET", "/healthz", nil, &h)
		if code == http.StatusOK {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Errorf("GET /healthz = %d %v for 10s, want 200\nlog:\n%s", code, h, tail(p.Log(), 20))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := time.Since(start); d > time.Second {
		t.Logf("GET /healthz took %s to turn 200", d.Round(time.Millisecond))
	}
	if strings.Contains(p.Log(), "panicked") {
		t.Errorf("a handler panicked; poison must be refused by validation, not by a crash:\n%s", tail(p.Log(), 40))
	}
}

func TestPoisonMessagesAreDeadLetteredAndConsumersKeepWorking(t *testing.T) {
	p, vhost := startSaga(t)

	type sent struct {
		queue, tag string
		kind       poisonKind
		body       []byte
	}
	var all []sent
	for _, q := range poisonQueues {
		for _, k := range poisonKinds {
			tag := k.name + "@" + q.queue
			msg := amqp.Publishing{
				MessageId: "poison-" + tag, CorrelationId: tag, Type: q.typ,
				DeliveryMode: amqp.Persistent, ContentType: "application/json", Body: k.body(tag),
				Headers: amqp.Table{"x-sagaboard-source": "mallory"},
			}
			if k.typ != "" {
				msg.Type = k.typ
			}
			if k.noID {
				msg.MessageId = ""
			}
			publish(t, vhost, "sagaboard", q.queue, msg)
			all = append(all, sent{q.queue, tag, k, msg.Body})
		}
	}

	// Every message lands in the dead letters, once, from its own queue.
	deadline := time.Now().Add(20 * time.Second)
	var list []poisonDeadLetter
	for {
		list = poisonListDeadLetters(t, p)
		missing := 0
		for _, s := range all {
			if len(poisonFind(list, s.queue, s.tag)) == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, s := range all {
				if len(poisonFind(list, s.queue, s.tag)) == 0 {
					t.Errorf("%s: no dead letter from %s", s.kind.name, s.queue)
				}
			}
			t.Fatalf("%d of %d poison messages never reached the dead letters\nlog:\n%s", missing, len(all), tail(p.Log(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	poisonDrained(t, p, vhost, 15*time.Second)
	time.Sleep(time.Second) // a message going round in a loop would show up again by now
	list = poisonListDeadLetters(t, p)

	for _, s := range all {
		got := poisonFind(list, s.queue, s.tag)
		if len(got) != 1 {
			t.Errorf("%s on %s: %d dead letters, want exactly 1", s.kind.name, s.queue, len(got))
			continue
		}
		d := got[0]
		if d.ID == "" || d.At.IsZero() {
			t.Errorf("%s on %s: dead letter without an id or a time: %+v", s.kind.name, s.queue, d)
		}
		if d.Reason == "" || d.Reason == "no reason given" || !utf8.ValidString(d.Reason) || len(d.Reason) > 1024 {
			t.Errorf("%s on %s: reason %q, want a sentence saying what is wrong", s.kind.name, s.queue, d.Reason)
		}
		if s.kind.reasonHas != "" && !strings.Contains(d.Reason, s.kind.reasonHas) {
			t.Errorf("%s on %s: reason %q does not mention %s", s.kind.name, s.queue, d.Reason, s.kind.reasonHas)
		}
		if len(d.Body) > 4096 {
			t.Errorf("%s on %s: body shown is %d bytes, want at most the first 4 KiB", s.kind.name, s.queue, len(d.Body))
		}
		if utf8.Valid(s.body) {
			want := string(s.body[:min(len(s.body), 4096)])
			if d.Body != want {
				t.Errorf("%s on %s: body shown is %.80q… (%d bytes), want the first %d bytes of what was sent", s.kind.name, s.queue, d.Body, len(d.Body), len(want))
			}
		} else {
			valid := string(s.body[:bytes.IndexFunc(s.body, func(r rune) bool { return r == utf8.RuneError })])
			if !utf8.ValidString(d.Body) || !strings.HasPrefix(d.Body, valid) {
				t.Errorf("%s on %s: body shown is %.80q, want valid text starting %q", s.kind.name, s.queue, d.Body, valid)
			}
		}
	}
	poisonAlive(t, p)

	// The consumers still work.
	id := p.Book("alice", "A1", "A2")
	b := p.WaitFor(id, 10*time.Second, "confirmed and notified after the poison", func(b Booking) bool { return b.Status == "confirmed" && recorded(b) })
	if c, r := p.Ledger(id); c != 2000 || r != 0 {
		t.Errorf("booking after poison: charged %d refunded %d, want 2000 and 0", c, r)
	}
	if got := eventTypes(b); len(got) != 4 {
		t.Errorf("booking after poison has events %v, want the four of a happy saga", got)
	}
	poisonAlive(t, p)
}

func TestMessagesForUnknownBookingsAreHandledAndLogged(t *testing.T) {
	p, vhost := startSaga(t)
	real := p.Book("alice", "B1")
	p.WaitFor(real, 10*time.Second, "confirmed and notified", func(b Booking) bool { return b.Status == "confirmed" && b.Notified })
	p.Settled(10 * time.Second)
	before := len(poisonListDeadLetters(t, p))

	ghosts := []struct{ queue, typ, id, body string }{
		{"seat_release_queue", "SeatReleaseRequested", "ghost-release",
			`{"booking":{"id":"ghost-release","user_id":"nobody","seats":["B1"],"amount_cents":1000},"event":"PaymentServiceFailed","cause":"declined"}`},
		{"seat_release_queue", "PaymentRefunded", "ghost-refunded",
			`{"booking":{"id":"ghost-refunded","user_id":"nobody","seats":["B1","A1"],"amount_cents":2000},"event":"SeatUpdatingServiceFailed","refunded_cents":2000}`},
		{"booking_update_queue", "SeatsSold", "ghost-sold",
			`{"booking":{"id":"ghost-sold","user_id":"nobody","seats":["A1"],"amount_cents":1000},"isSuccess":true}`},
		{"refund_queue", "RefundRequested", "ghost-refund",
			`{"booking":{"id":"ghost-refund","user_id":"nobody","seats":["A1"],"amount_cents":1000},"event":"SeatUpdatingServiceFailed","cause":"seat update failed"}`},
	}
	for _, g := range ghosts {
		publish(t, vhost, "sagaboard", g.queue, amqp.Publishing{
			MessageId: "msg-" + g.id, CorrelationId: g.id, Type: g.typ, DeliveryMode: amqp.Persistent,
			ContentType: "application/json", Body: []byte(g.body), Headers: amqp.Table{"x-sagaboard-source": "stranger"},
		})
	}
	poisonDrained(t, p, vhost, 15*time.Second)
	time.Sleep(500 * time.Millisecond)

	if after := poisonListDeadLetters(t, p); len(after) != before {
		t.Errorf("%d new dead letters, want none: a well-formed message about an unknown booking is not poison: %+v", len(after)-before, after)
	}
	for _, g := range ghosts {
		var e map[string]string
		if code := p.Do("GET", "/api/bookings/"+g.id, nil, &e); code != http.StatusNotFound {
			t.Errorf("GET /api/bookings/%s = %d, want 404: a stray message made a booking", g.id, code)
		}
		if c, r := p.Ledger(g.id); c != 0 || r != 0 {
			t.Errorf("%s: ledger charged %d refunded %d, want nothing", g.id, c, r)
		}
		if !strings.Contains(p.Log(), g.id) {
			t.Errorf("the log never mentions %s; a message for an unknown booking should be logged", g.id)
		}
	}
	seats := p.SeatStatus()
	if seats["B1"] != "sold" || seats["A1"] != "free" {
		t.Errorf("seats B1 A1 = %s %s, want sold free: a stray message changed the seat map", seats["B1"], seats["A1"])
	}
	if b := p.Get(real); b.Status != "confirmed" {
		t.Errorf("the real booking is %s after stray messages, want confirmed", b.Status)
	}
	if c, r := p.Ledger(real); c != 1000 || r != 0 {
		t.Errorf("the real booking: charged %d refunded %d, want 1000 and 0", c, r)
	}
	poisonAlive(t, p)
	next := p.Book("bob", "A1")
	p.WaitFor(next, 10*time.Second, "confirmed", func(b Booking) bool { return b.Status == "confirmed" })
}
