package bustest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// routingKeys is every key the saga publishes with on its exchange, but
// the retry queues' (see testARetryComesBackAfterItsDelay), and one nobody
// is bound to.
func routingKeys() []string {
	var keys []string
	for _, r := range saga.Routes {
		if _, retry := retryDelay(r.Key); !retry && !slices.Contains(keys, r.Key) {
			keys = append(keys, r.Key)
		}
	}
	return append(keys, "nobody_listens")
}

func retryDelay(key string) (time.Duration, bool) {
	for _, r := range saga.NotificationRetryQueues {
		if r.Name == key {
			return r.Delay, true
		}
	}
	return 0, false
}

func testRoutingFollowsTheBindings(t *testing.T, bus saga.Bus) {
	keys := routingKeys()
	var msgs []saga.Message
	for _, k := range keys {
		msgs = append(msgs, msg(k, k))
	}
	publish(t, bus, msgs...)
	// Every queue the exchange feeds gets a marker past the exchange: what
	// it got before the marker is all the exchange gave it.
	for q := range saga.Bindings {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		if err := bus.Replay(ctx, q, msg(q, "marker")); err != nil {
			t.Fatalf("replay a marker to %s: %v", q, err)
		}
		cancel()
	}
	for q, bound := range saga.Bindings {
		var want []string
		for _, k := range keys {
			if q == saga.ObserverQueue || slices.Contains(bound, k) {
				want = append(want, k)
			}
		}
		c := start(t, bus, q, saga.ConsumeOptions{}, nil)
		c.expect(t, append(want, "marker")...)
	}
}

func testReplayReachesOnlyItsQueue(t *testing.T, bus saga.Bus) {
	// A dead letter of booking_update_queue, whose routing key would reach
	// notification_queue and the observer too through the exchange.
	m := msg(saga.NotificationQueue, "replayed")
	m.DeadQueue, m.DeadReason, m.OriginalSender = saga.BookingUpdateQueue, "poison message: a bug since fixed", "booking-user"
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := bus.Replay(ctx, saga.BookingUpdateQueue, m); err != nil {
		t.Fatalf("replay: %v", err)
	}
	publish(t, bus, msg(saga.NotificationQueue, "marker"))
	got := start(t, bus, saga.BookingUpdateQueue, saga.ConsumeOptions{}, nil).expect(t, "replayed", "marker")[0]
	if got.ID != m.ID || got.RoutingKey != saga.BookingUpdateQueue || got.OriginalSender != m.OriginalSender || got.DeadQueue != m.DeadQueue {
		t.Errorf("replayed as id %s key %s original sender %q dead queue %q, want %s %s %q %q",
			got.ID, got.RoutingKey, got.OriginalSender, got.DeadQueue, m.ID, saga.BookingUpdateQueue, m.OriginalSender, m.DeadQueue)
	}
	start(t, bus, saga.NotificationQueue, saga.ConsumeOptions{}, nil).expect(t, "marker")
	start(t, bus, saga.ObserverQueue, saga.ConsumeOptions{}, nil).expect(t, "marker")
}

func testARetryComesBackAfterItsDelay(t *testing.T, bus saga.Bus) {
	rq := saga.NotificationRetryQueues[0]
	notify := start(t, bus, saga.NotificationQueue, saga.ConsumeOptions{}, nil)
	m := msg(rq.Name, "retry")
	m.Type, m.Attempt = saga.TypeNotificationRetry, 1
	at := time.Now()
	publish(t, bus, m)
	got := notify.expect(t, "retry")[0]
	// RabbitMQ expires by the millisecond; allow it a little early.
	if took := time.Since(at); took < rq.Delay-20*time.Millisecond {
		t.Errorf("the retry came back after %s, want %s", took, rq.Delay)
	}
	if got.ID != m.ID || got.Attempt != 1 || got.Type != saga.TypeNotificationRetry || got.Queue != saga.NotificationQueue {
		t.Errorf("the retry came back as %s attempt %d type %s on %s", got.ID, got.Attempt, got.Type, got.Queue)
	}
	// RabbitMQ dead-letters the expired retry, so on it DeadQueue says the
	// retry queue and DeadReason "broker: expired"; the in-memory bus hands
	// it over as it was published. Neither is checked: no consumer of
	// notification_queue reads them.

	// The observer saw it once, when it was published, and Booking not at
	// all, though it is bound to notification_queue's key: the retry comes
	// back past the exchange.
	publish(t, bus, msg(saga.NotificationQueue, "marker"))
	notify.expect(t, "marker")
	start(t, bus, saga.ObserverQueue, saga.ConsumeOptions{}, nil).expect(t, "retry", "marker")
	start(t, bus, saga.BookingUpdateQueue, saga.ConsumeOptions{}, nil).expect(t, "marker")
}
