package main_test

import (
	"io"
	"maps"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestQuorumQueues runs the saga with -quorum, as on a RabbitMQ cluster: the
// work queues are quorum queues with a delivery limit, and the saga works
// the same.
func TestQuorumQueues(t *testing.T) {
	p, vhost := startSaga(t, "-quorum")
	ok := p.Book("quinn", "A1")
	p.WaitFor(ok, 10*time.Second, "confirmed", func(b Booking) bool { return b.Status == "confirmed" && recorded(b) })
	p.SetSwitches(`{"seats":{"fail_rate":1}}`)
	undone := p.Book("quinn", "A2")
	p.WaitFor(undone, 10*time.Second, "compensated", func(b Booking) bool { return b.Status == "compensated" && recorded(b) })
	if c, r := p.Ledger(undone); c != r {
		t.Errorf("compensated on quorum queues: charged %d refunded %d", c, r)
	}
	name := vhost[strings.LastIndex(vhost, "/")+1:]
	out, err := exec.Command("rabbitmqctl", "list_queues", "-p", name, "name", "type", "-q").CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl list_queues: %v\n%s", err, out)
	}
	for _, q := range []string{"payment_queue", "seat_update_queue", "compensation_queue", "notification_queue"} {
		if !regexp.MustCompile(`(?m)^` + q + `\s+quorum$`).Match(out) {
			t.Errorf("%s is not a quorum queue:\n%s", q, out)
		}
	}
	// On a cluster the tap is a stream unless -tap says otherwise, beside
	// the quorum work queues, and the observer records from it.
	if !regexp.MustCompile(`(?m)^observer_queue\s+stream$`).Match(out) {
		t.Errorf("with -quorum the tap is not a stream:\n%s", out)
	}
	if b := p.Get(undone); len(b.Events) < 5 {
		t.Errorf("the compensated booking has %d events recorded from the stream tap; want its whole history", len(b.Events))
	}
}

// TestHistorySurvivesRestart stops and restarts the program and finds every
// booking's history as it was, and the metrics counting what happens next.
func TestHistorySurvivesRestart(t *testing.T) {
	p, _ := startSaga(t)
	ok := p.Book("hana", "H1")
	p.WaitFor(ok, 10*time.Second, "confirmed and notified", func(b Booking) bool { return b.Status == "confirmed" && recorded(b) })
	p.SetSwitches(`{"payment":{"fail_rate":1}}`)
	undone := p.Book("hana", "H2")
	p.WaitFor(undone, 10*time.Second, "compensated and notified", func(b Booking) bool { return b.Status == "compensated" && recorded(b) })
	p.Settled(10 * time.Second)
	before := map[string]Booking{ok: p.Get(ok), undone: p.Get(undone)}

	metrics := func() string {
		res, err := http.Get(p.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	m := metrics()
	for _, want := range []string{`sagaboard_step_total{outcome="success",step="payment"} 1`, `sagaboard_step_total{outcome="failure",step="payment"} 1`,
		`sagaboard_messages_total{queue="payment_queue",type="BookingCreated"} 2`, `sagaboard_broker_up 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, m)
		}
	}

	var st map[string]int
	p.Do("GET", "/api/stats", nil, &st)
	if st["total"] != 2 || st["confirmed"] != 1 || st["compensated"] != 1 || st["pending"] != 0 || st["notified"] != 2 {
		t.Errorf("stats = %v, want total 2, confirmed 1, compensated 1, pending 0, notified 2", st)
	}

	p.Stop()
	p.Restart()
	var after map[string]int
	p.Do("GET", "/api/stats", nil, &after)
	if !maps.Equal(after, st) {
		t.Errorf("stats after a restart = %v, were %v", after, st)
	}
	for id, was := range before {
		now := p.Get(id)
		if now.Status != was.Status || len(now.Events) != len(was.Events) {
			t.Fatalf("after a restart %s is %s with %d events, was %s with %d", id, now.Status, len(now.Events), was.Status, len(was.Events))
		}
		for i := range was.Events {
			if now.Events[i].MessageID != was.Events[i].MessageID || now.Events[i].Type != was.Events[i].Type || !now.Events[i].At.Equal(was.Events[i].At) {
				t.Errorf("event %d of %s changed across the restart: %+v, was %+v", i, id, now.Events[i], was.Events[i])
			}
		}
	}
}
