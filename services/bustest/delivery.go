package bustest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

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
		{"Trace", got.Trace, m.Trace},
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

// testLetOneTakesExactlyOne is "let one through": a paused consumer with one
// permit takes one message, handles it, and is paused again, however many
// wait behind it.
func testLetOneTakesExactlyOne(t *testing.T, bus saga.Bus) {
	var paused atomic.Bool
	paused.Store(true)
	var mu sync.Mutex
	changed := make(chan struct{})
	permits, granted, handled := 0, 0, 0
	wake := func() {
		close(changed)
		changed = make(chan struct{})
	}
	grant := func() {
		mu.Lock()
		defer mu.Unlock()
		permits++
		granted++
		wake()
	}
	opt := saga.ConsumeOptions{
		Paused: paused.Load,
		Changed: func() <-chan struct{} {
			mu.Lock()
			defer mu.Unlock()
			return changed
		},
		LetOne: func(take bool) bool {
			mu.Lock()
			defer mu.Unlock()
			if permits == 0 || !paused.Load() {
				return false
			}
			if take {
				permits--
			}
			return true
		},
	}
	publish(t, bus, msg(saga.PaymentQueue, "one"), msg(saga.PaymentQueue, "two"), msg(saga.PaymentQueue, "three"))
	c := start(t, bus, saga.PaymentQueue, opt, func(m saga.Message) saga.Outcome {
		mu.Lock()
		defer mu.Unlock()
		handled++
		if paused.Load() && handled > granted {
			t.Errorf("handled %q, message %d, with %d permits granted", label(m), handled, granted)
		}
		return saga.Outcome{}
	})
	grant()
	c.expect(t, "one")
	// Nothing more may come until the next permit.
	select {
	case m := <-c.msgs:
		t.Fatalf("one permit let a second message through: %q", label(m))
	case <-time.After(300 * time.Millisecond):
	}
	grant()
	c.expect(t, "two")
	paused.Store(false)
	mu.Lock()
	wake()
	mu.Unlock()
	c.expect(t, "three")
}
