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
	"fmt"
	"sync"
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
		{"LetOneTakesExactlyOne", testLetOneTakesExactlyOne},
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
	m.Trace = saga.Trace{Parent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", State: "sagaboard=" + label}
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
