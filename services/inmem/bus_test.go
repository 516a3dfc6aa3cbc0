package inmem_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/bustest"
	"github.com/sagaboard/sagaboard/services/inmem"
	"github.com/sagaboard/sagaboard/services/saga"
)

// MustOpen returns an empty in-memory bus, closed when the test ends.
func MustOpen(tb testing.TB) *inmem.Bus {
	tb.Helper()
	b := inmem.New()
	tb.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) saga.Bus { return MustOpen(t).As("tester") })
}

// As stamps every publish with its user, as RabbitMQ stamps user_id, so a
// consumer behind saga.CheckSenders dead-letters what a part may not send.
func TestAsStampsTheSenderForTheSenderCheck(t *testing.T) {
	bus := MustOpen(t)
	senders := saga.Senders{"booking-user": saga.PartBooking, "payment-user": saga.PartPayment}
	b := saga.Booking{ID: "b1", UserID: "alice", Seats: []string{"A1"}, AmountCents: saga.Amount(1)}
	forged := saga.NewMessage(saga.PartBooking, saga.TypeBookingCreated, saga.PaymentQueue, saga.Envelope{Booking: b})
	forged.Sender = "booking-user" // the words of the message, not believed
	genuine := saga.NewMessage(saga.PartBooking, saga.TypeBookingCreated, saga.PaymentQueue, saga.Envelope{Booking: b})
	ctx := context.Background()
	if err := bus.As("payment-user").Publish(ctx, forged); err != nil {
		t.Fatal(err)
	}
	if err := bus.As("booking-user").Publish(ctx, genuine); err != nil {
		t.Fatal(err)
	}

	handled := make(chan saga.Message, 2)
	cctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		done <- saga.WithMiddleware(bus, saga.CheckSenders(senders)).Consume(cctx, saga.PaymentQueue, saga.ConsumeOptions{}, func(_ context.Context, msgs []saga.Message) []saga.Outcome {
			for _, m := range msgs {
				handled <- m
			}
			return make([]saga.Outcome, len(msgs))
		})
	}()
	defer func() { stop(); <-done }()
	select {
	case m := <-handled:
		if m.ID != genuine.ID || m.Sender != "booking-user" {
			t.Errorf("handled %s from %q, want %s from booking-user", m.ID, m.Sender, genuine.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the genuine message was never handled")
	}
	for deadline := time.Now().Add(5 * time.Second); len(bus.Ready(saga.DeadLetterQueue)) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the forged message was never dead-lettered")
		}
	}
	dead := bus.Ready(saga.DeadLetterQueue)[0]
	if dead.ID != forged.ID || dead.OriginalSender != "payment-user" || !strings.HasPrefix(dead.DeadReason, "forged: ") {
		t.Errorf("dead letter %s from %q: %q", dead.ID, dead.OriginalSender, dead.DeadReason)
	}
}
