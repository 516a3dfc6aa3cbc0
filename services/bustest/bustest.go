// Package bustest is the conformance suite every saga.Bus must pass: the
// RabbitMQ adapter and the in-memory bus both run it, so the participants
// can rely on one set of semantics whichever is underneath, and a test that
// passes on the in-memory bus means the same on the broker.
//
// Each check opens a fresh, empty bus. It never sleeps to prove that
// something did not happen: it sends a marker after it, and the marker must
// come first. Where RabbitMQ and the in-memory bus truly differ, the check
// says so in a comment.
package bustest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// wait bounds every wait for a message. It is long, for a busy machine; a
// passing check never waits for it.
const wait = 15 * time.Second

// Run runs every check, each as a subtest on a bus open returns. open must
// return a bus with the saga's topology and every queue empty, that
// publishes as some user, as a broker connection is logged in as one; and
// arrange with t.Cleanup to close it. The suite stops its consumers first.
func Run(t *testing.T, open func(t *testing.T) saga.Bus) {
	checks := []struct {
		name string
		fn   func(t *testing.T, bus saga.Bus)
	}{
		{"PublishIsStoredWhenItReturns", testPublishIsStoredWhenItReturns},
		{"RoutingFollowsTheBindings", testRoutingFollowsTheBindings},
		{"OrderWithinAQueue", testOrderWithinAQueue},
		{"BatchesNeverExceedMaxBatch", testBatchesNeverExceedMaxBatch},
		{"ARequeuedMessageComesAgainRedelivered", testARequeuedMessageComesAgainRedelivered},
		{"AckAndNackInOneBatch", testAckAndNackInOneBatch},
		{"PoisonIsDeadLetteredWithItsReason", testPoisonIsDeadLetteredWithItsReason},
		{"APanicDeadLettersOnlyItsMessage", testAPanicDeadLettersOnlyItsMessage},
		{"DurableDecidesTheAck", testDurableDecidesTheAck},
		{"DurableIsWaitedOffTheHotPath", testDurableIsWaitedOffTheHotPath},
		{"ReplayReachesOnlyItsQueue", testReplayReachesOnlyItsQueue},
		{"ARetryComesBackAfterItsDelay", testARetryComesBackAfterItsDelay},
		{"APausedConsumerTakesNothing", testAPausedConsumerTakesNothing},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
	}
}

// msg makes a saga message with every field a publisher sets, so a check
// can see that each one arrives.
func msg(key, label string) saga.Message {
	b := saga.Booking{ID: "b-" + label, UserID: "u-" + label, Seats: []string{"A1"}, AmountCents: saga.Amount(1)}
	m := saga.NewMessage(saga.PartBooking, saga.TypeBookingCreated, key, saga.Envelope{Booking: b, Reason: label})
	m.CausationID = "cause-" + label
	return m
}

// label is what msg was given, read back from the body.
func label(m saga.Message) string {
	e, err := saga.DecodeEnvelope(m.Body)
	if err != nil {
		return fmt.Sprintf("<%s: %v>", m.ID, err)
	}
	return e.Reason
}

func publish(t *testing.T, bus saga.Bus, msgs ...saga.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := bus.Publish(ctx, msgs...); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// consumer is one Consume running in the background. It is stopped, and
// waited for, when the test ends, before the bus is closed.
type consumer struct {
	queue   string
	msgs    chan saga.Message
	batches chan int
	stop    func()
}

// start consumes queue, handing every message to the test and deciding
// each with decide (nil acks everything).
func start(t *testing.T, bus saga.Bus, queue string, opt saga.ConsumeOptions, decide func(saga.Message) saga.Outcome) *consumer {
	t.Helper()
	c := &consumer{queue: queue, msgs: make(chan saga.Message, 10000), batches: make(chan int, 10000)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- bus.Consume(ctx, queue, opt, func(_ context.Context, msgs []saga.Message) []saga.Outcome {
			c.batches <- len(msgs)
			outs := make([]saga.Outcome, len(msgs))
			for i, m := range msgs {
				c.msgs <- m
				if decide != nil {
					outs[i] = decide(m)
				}
			}
			return outs
		})
	}()
	var once sync.Once
	c.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("consume %s returned %v after its context ended, want nil", queue, err)
				}
			case <-time.After(wait):
				t.Errorf("consume %s did not return within %s of its context ending", queue, wait)
			}
		})
	}
	t.Cleanup(c.stop)
	return c
}

// next returns the next message the consumer was handed.
func (c *consumer) next(t *testing.T) saga.Message {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(wait):
		t.Fatalf("%s: no message within %s", c.queue, wait)
		return saga.Message{}
	}
}

// expect reads the next messages and checks their labels, in order.
func (c *consumer) expect(t *testing.T, labels ...string) []saga.Message {
	t.Helper()
	var got []saga.Message
	for _, want := range labels {
		m := c.next(t)
		got = append(got, m)
		if label(m) != want {
			t.Fatalf("%s: got %q, want %q (so far %v, want %v)", c.queue, label(m), want, labels[:len(got)-1], labels)
		}
	}
	return got
}

func testPublishIsStoredWhenItReturns(t *testing.T, bus saga.Bus) {
	m := msg(saga.PaymentQueue, "first")
	m.Attempt = 3
	// What only the broker may say is not taken from the publisher.
	m.Sender, m.Queue, m.Redelivered = "mallory", saga.DeadLetterQueue, true
	publish(t, bus, m)

	// Nothing stored by a publish that did not return nil.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := bus.Publish(ctx, msg(saga.PaymentQueue, "cancelled")); err == nil {
		t.Error("publish with an ended context returned nil")
	}
	publish(t, bus, msg(saga.PaymentQueue, "marker"))

	// The consumer starts only now: what it gets was stored before.
	c := start(t, bus, saga.PaymentQueue, saga.ConsumeOptions{}, nil)
	got := c.expect(t, "first", "marker")[0]
	checks := []struct {
		field     string
		got, want any
	}{
		{"ID", got.ID, m.ID},
		{"CorrelationID", got.CorrelationID, m.CorrelationID},
		{"CausationID", got.CausationID, m.CausationID},
		{"Type", got.Type, m.Type},
		{"Source", got.Source, m.Source},
		{"Attempt", got.Attempt, m.Attempt},
		{"Body", string(got.Body), string(m.Body)},
		{"RoutingKey", got.RoutingKey, saga.PaymentQueue},
		{"Queue", got.Queue, saga.PaymentQueue},
		{"Redelivered", got.Redelivered, false},
		{"Size", got.Size, len(m.Body)},
		{"Timestamp set", got.Timestamp.IsZero(), false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
	if got.Sender == "" || got.Sender == "mallory" {
		t.Errorf("Sender is %q, want the user the bus publishes as: a consumer learns the sender from the bus, not from the message", got.Sender)
	}
}

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

func testOrderWithinAQueue(t *testing.T, bus saga.Bus) {
	var labels []string
	var one []saga.Message
	for i := range 20 {
		l := fmt.Sprintf("together-%02d", i)
		labels, one = append(labels, l), append(one, msg(saga.PaymentQueue, l))
	}
	publish(t, bus, one...)
	c := start(t, bus, saga.PaymentQueue, saga.ConsumeOptions{MaxBatch: 3}, nil)
	for i := range 20 {
		l := fmt.Sprintf("apart-%02d", i)
		labels = append(labels, l)
		publish(t, bus, msg(saga.PaymentQueue, l))
	}
	c.expect(t, labels...)
}

func testBatchesNeverExceedMaxBatch(t *testing.T, bus saga.Bus) {
	const n, max = 50, 7
	var labels []string
	var msgs []saga.Message
	for i := range n {
		l := fmt.Sprintf("m%02d", i)
		labels, msgs = append(labels, l), append(msgs, msg(saga.PaymentQueue, l))
	}
	publish(t, bus, msgs...)
	c := start(t, bus, saga.PaymentQueue, saga.ConsumeOptions{MaxBatch: max}, nil)
	c.expect(t, labels...)
	for total := 0; total < n; {
		size := <-c.batches
		if size < 1 || size > max {
			t.Errorf("a batch of %d messages, want 1 to %d", size, max)
		}
		total += size
	}
}

func testARequeuedMessageComesAgainRedelivered(t *testing.T, bus saga.Bus) {
	var seen atomic.Int32
	c := start(t, bus, saga.PaymentQueue, saga.ConsumeOptions{}, func(saga.Message) saga.Outcome {
		if seen.Add(1) == 1 {
			return saga.Outcome{Err: errors.New("the database is busy")}
		}
		return saga.Outcome{}
	})
	m := msg(saga.PaymentQueue, "again")
	publish(t, bus, m)
	first, second := c.next(t), c.next(t)
	if first.Redelivered {
		t.Error("the first delivery is marked redelivered")
	}
	if !second.Redelivered {
		t.Error("the second delivery is not marked redelivered")
	}
	if second.ID != m.ID || string(second.Body) != string(m.Body) {
		t.Errorf("the requeued message came back as %s %q, want %s %q", second.ID, second.Body, m.ID, m.Body)
	}
	publish(t, bus, msg(saga.PaymentQueue, "marker"))
	c.expect(t, "marker") // acked the second time, so it comes no more
}

func testAckAndNackInOneBatch(t *testing.T, bus saga.Bus) {
	publish(t, bus, msg(saga.PaymentQueue, "a"), msg(saga.PaymentQueue, "b"), msg(saga.PaymentQueue, "c"))
	c := start(t, bus, saga.PaymentQueue, saga.ConsumeOptions{}, func(m saga.Message) saga.Outcome {
		if label(m) == "b" && !m.Redelivered {
			return saga.Outcome{Err: errors.New("not now")}
		}
		return saga.Outcome{}
	})
	// b is requeued after c was handed over, whether the three came in one
	// batch or in three: RabbitMQ pushes ahead up to the prefetch.
	got := c.expect(t, "a", "b", "c", "b")
	if !got[3].Redelivered || got[0].Redelivered || got[2].Redelivered {
		t.Errorf("redelivered flags a=%v b=%v c=%v b again=%v, want only b again", got[0].Redelivered, got[1].Redelivered, got[2].Redelivered, got[3].Redelivered)
	}
	publish(t, bus, msg(saga.PaymentQueue, "marker"))
	c.expect(t, "marker")
	c.stop()
	// A new consumer finds nothing of what was acked.
	publish(t, bus, msg(saga.PaymentQueue, "later"))
	start(t, bus, saga.PaymentQueue, saga.ConsumeOptions{}, nil).expect(t, "later")
}

func testPoisonIsDeadLetteredWithItsReason(t *testing.T, bus saga.Bus) {
	observer := start(t, bus, saga.ObserverQueue, saga.ConsumeOptions{}, nil)
	work := start(t, bus, saga.PaymentQueue, saga.ConsumeOptions{}, func(m saga.Message) saga.Outcome {
		if label(m) == "poison" {
			return saga.Outcome{Err: saga.Poison("seat %s does not exist", "Z9")}
		}
		return saga.Outcome{}
	})
	m := msg(saga.PaymentQueue, "poison")
	publish(t, bus, m)
	handed := work.next(t)
	dead := start(t, bus, saga.DeadLetterQueue, saga.ConsumeOptions{}, nil).next(t)
	checks := []struct {
		field     string
		got, want any
	}{
		{"ID", dead.ID, m.ID},
		{"Type", dead.Type, m.Type},
		{"CorrelationID", dead.CorrelationID, m.CorrelationID},
		{"Body", string(dead.Body), string(m.Body)},
		{"Queue", dead.Queue, saga.DeadLetterQueue},
		{"RoutingKey", dead.RoutingKey, saga.DeadLetterQueue},
		{"DeadQueue", dead.DeadQueue, saga.PaymentQueue},
		// The replay of a dead letter is believed as far as its first
		// publisher: the consumer's Sender of the message that died.
		{"OriginalSender", dead.OriginalSender, handed.Sender},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("dead letter's %s = %v, want %v", c.field, c.got, c.want)
		}
	}
	if !strings.Contains(dead.DeadReason, "seat Z9 does not exist") {
		t.Errorf("dead letter's DeadReason = %q, want the handler's reason", dead.DeadReason)
	}
	// Neither requeued nor seen twice by the observer: the marker comes
	// next in both.
	publish(t, bus, msg(saga.PaymentQueue, "marker"))
	work.expect(t, "marker")
	observer.expect(t, "poison", "marker")
}

// A panic is recovered by the pipeline's saga.Recover, not by the bus: the
// bus's part is to dead-letter the poison outcome Recover gives the message
// that panicked, and to settle its batch-mates as they were handled.
func testAPanicDeadLettersOnlyItsMessage(t *testing.T, bus saga.Bus) {
	publish(t, bus, msg(saga.PaymentQueue, "fine"), msg(saga.PaymentQueue, "boom"), msg(saga.PaymentQueue, "fine too"))
	var handled sync.Map
	start(t, saga.WithMiddleware(bus, saga.Recover(slog.New(slog.NewTextHandler(io.Discard, nil)))), saga.PaymentQueue, saga.ConsumeOptions{}, func(m saga.Message) saga.Outcome {
		if label(m) == "boom" {
			panic("a handler's bug")
		}
		handled.Store(label(m), true)
		return saga.Outcome{}
	})
	dead := start(t, bus, saga.DeadLetterQueue, saga.ConsumeOptions{}, nil)
	got := dead.expect(t, "boom")[0]
	if !strings.Contains(got.DeadReason, "panicked") {
		t.Errorf("DeadReason = %q, want it to say the handler panicked", got.DeadReason)
	}
	for _, l := range []string{"fine", "fine too"} {
		if _, ok := handled.Load(l); !ok {
			t.Errorf("%q was not handled: a panic took its batch-mate down", l)
		}
	}
}

func testDurableDecidesTheAck(t *testing.T, bus saga.Bus) {
	var waits atomic.Int32
	c := start(t, bus, saga.PaymentQueue, saga.ConsumeOptions{}, func(m saga.Message) saga.Outcome {
		if label(m) != "durable" {
			return saga.Outcome{}
		}
		return saga.Outcome{Durable: func(context.Context) error {
			if waits.Add(1) == 1 {
				return errors.New("the broker did not confirm what it caused")
			}
			return nil
		}}
	})
	publish(t, bus, msg(saga.PaymentQueue, "durable"))
	got := c.expect(t, "durable", "durable")
	if !got[1].Redelivered {
		t.Error("a message whose Durable failed came back not marked redelivered")
	}
	publish(t, bus, msg(saga.PaymentQueue, "marker"))
	c.expect(t, "marker")
	if n := waits.Load(); n != 2 {
		t.Errorf("Durable was called %d times, want 2", n)
	}
}

func testDurableIsWaitedOffTheHotPath(t *testing.T, bus saga.Bus) {
	sawSecond := make(chan struct{})
	var acked atomic.Bool
	c := start(t, bus, saga.PaymentQueue, saga.ConsumeOptions{}, func(m saga.Message) saga.Outcome {
		switch label(m) {
		case "first":
			return saga.Outcome{Durable: func(ctx context.Context) error {
				select {
				case <-sawSecond:
					acked.Store(true)
					return nil
				case <-time.After(wait):
					return errors.New("the next batch was never handled while this one waited")
				}
			}}
		case "second":
			close(sawSecond)
		}
		return saga.Outcome{}
	})
	publish(t, bus, msg(saga.PaymentQueue, "first"))
	c.expect(t, "first")
	publish(t, bus, msg(saga.PaymentQueue, "second"))
	c.expect(t, "second")
	c.stop() // a graceful stop settles the batches in hand
	if !acked.Load() {
		t.Fatal("the first message's Durable did not return nil")
	}
	publish(t, bus, msg(saga.PaymentQueue, "marker"))
	start(t, bus, saga.PaymentQueue, saga.ConsumeOptions{}, nil).expect(t, "marker")
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

func testAPausedConsumerTakesNothing(t *testing.T, bus saga.Bus) {
	var paused atomic.Bool
	paused.Store(true)
	var mu sync.Mutex
	changed := make(chan struct{})
	opt := saga.ConsumeOptions{
		Paused: paused.Load,
		Changed: func() <-chan struct{} {
			mu.Lock()
			defer mu.Unlock()
			return changed
		},
	}
	c := start(t, bus, saga.PaymentQueue, opt, nil)
	publish(t, bus, msg(saga.PaymentQueue, "waits"))
	// The one check that has to wait: nothing may come while paused.
	select {
	case m := <-c.msgs:
		t.Fatalf("a paused consumer was handed %q", label(m))
	case <-time.After(300 * time.Millisecond):
	}
	paused.Store(false)
	mu.Lock()
	close(changed)
	changed = make(chan struct{})
	mu.Unlock()
	c.expect(t, "waits")
}
