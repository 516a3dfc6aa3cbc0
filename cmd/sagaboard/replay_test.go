package main_test

import (
	"net/http"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestReplayedPoisonComesBackAsANewDeadLetter(t *testing.T) {
	p, vhost := startSaga(t)
	const tag = "replay-me"
	body := `{"booking":{"id":"` + tag + `","user_id":`
	publish(t, vhost, "sagaboard", "payment_queue", amqp.Publishing{
		MessageId: "poison-" + tag, CorrelationId: tag, Type: "BookingCreated",
		DeliveryMode: amqp.Persistent, Body: []byte(body),
	})
	waitFor := func(n int) []poisonDeadLetter {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := poisonFind(poisonListDeadLetters(t, p), "payment_queue", tag)
			if len(got) >= n {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d dead letters from payment_queue, want %d\nlog:\n%s", len(got), n, tail(p.Log(), 30))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	first := waitFor(1)[0]

	var answer map[string]any
	if code := p.Do("POST", "/api/dead-letters/"+first.ID+"/replay", nil, &answer); code != http.StatusAccepted {
		t.Fatalf("POST /api/dead-letters/%s/replay = %d %v, want 202", first.ID, code, answer)
	}
	waitFor(2)
	poisonDrained(t, p, vhost, 10*time.Second)
	time.Sleep(time.Second)
	got := poisonFind(poisonListDeadLetters(t, p), "payment_queue", tag)
	if len(got) != 2 {
		t.Fatalf("%d dead letters after one replay, want 2 (the original and the replayed copy): %+v", len(got), got)
	}
	again := got[0]
	if again.ID == first.ID {
		again = got[1]
	}
	if again.ID == first.ID || again.Body != body || again.Reason == "" {
		t.Errorf("replayed dead letter = %+v, want a new id, the same body %q and a reason", again, body)
	}

	for _, id := range []string{"nope", "0000000000000000", first.ID + "x"} {
		var e map[string]any
		code := p.Do("POST", "/api/dead-letters/"+id+"/replay", nil, &e)
		if msg, _ := e["error"].(string); code != http.StatusNotFound || msg == "" || len(e) != 1 {
			t.Errorf("POST /api/dead-letters/%s/replay = %d %v, want 404 with {\"error\": sentence}", id, code, e)
		}
	}
	poisonAlive(t, p)
}
