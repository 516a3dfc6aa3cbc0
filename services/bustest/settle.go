package bustest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

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
	// The second wait happens in the settling stage, which may still be at
	// it while the marker is handled: that is the point of the stage.
	for deadline := time.Now().Add(wait); waits.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
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
