package rabbit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// TestAStreamIsReadAgainFromItsReadersOffsetAndNeverNacked: on a stream,
// basic.nack and basic.reject are a connection error (not_implemented), so
// a batch whose handler failed is read again from the offset the reader
// says, on the same connection, and a poison message is dead-lettered by
// publishing it and acked.
func TestAStreamIsReadAgainFromItsReadersOffsetAndNeverNacked(t *testing.T) {
	b, ctx := streamBroker(t, 5)
	var mu sync.Mutex
	var next int64 // the reader's store
	var froms []int64
	calls := 0
	recorded := map[string]int{}
	done := make(chan struct{})
	from := func(context.Context) (int64, error) {
		mu.Lock()
		defer mu.Unlock()
		froms = append(froms, next)
		return next, nil
	}
	h := func(_ context.Context, msgs []saga.Message) []saga.Outcome {
		mu.Lock()
		defer mu.Unlock()
		calls++
		outs := make([]saga.Outcome, len(msgs))
		if calls == 1 {
			for i := range outs {
				outs[i].Err = errors.New("the database is busy")
			}
			return outs
		}
		for i, m := range msgs {
			if !m.InStream || m.Offset != next {
				t.Errorf("got %s at offset %d (in stream %v); want offset %d next", m.ID, m.Offset, m.InStream, next)
			}
			next = m.Offset + 1
			if m.ID == "m2" {
				outs[i].Err = saga.Poison("m2 is poison")
				continue
			}
			recorded[m.ID]++
		}
		if next == 5 {
			close(done)
		}
		return outs
	}
	go func() { _ = b.Consume(ctx, saga.ObserverQueue, saga.ConsumeOptions{From: from}, h) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("the stream was not read to its end; handler calls %d, froms %v", calls, froms)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(froms) < 2 || froms[0] != 0 || froms[1] != 0 {
		t.Errorf("subscribed from %v; want 0, then 0 again after the failed batch", froms)
	}
	for _, id := range []string{"m0", "m1", "m3", "m4"} {
		if recorded[id] != 1 {
			t.Errorf("%s recorded %d times, want once", id, recorded[id])
		}
	}
	if _, _, outages, _ := b.Status(); outages != 0 {
		t.Errorf("the connection was lost %d times: something nacked on the stream", outages)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		stats, err := b.Inspect(ctx, []string{saga.DeadLetterQueue, saga.ObserverQueue})
		if err == nil && stats[0].Ready == 1 && stats[1].Ready == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queues %+v (%v); want the poison message dead-lettered once, and the stream shown as nothing waiting", stats, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// streamBroker is a Broker on a vhost of its own whose tap is a stream
// holding n messages, m0 … m(n-1).
func streamBroker(t *testing.T, n int) (*Broker, context.Context) {
	t.Helper()
	vhost := mustVhost(t)
	for _, args := range [][]string{{"add_vhost", vhost}, {"set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"}} {
		if out, err := exec.Command("rabbitmqctl", args...).CombinedOutput(); err != nil {
			t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
		}
	}
	b := Open(Config{URL: "amqp://guest:guest@localhost:5672/" + vhost, Tap: TapStream, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(b.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	if err := b.WaitFirst(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		m := saga.NewMessage("test", saga.TypeBookingCreated, saga.PaymentQueue, saga.Envelope{})
		m.ID = fmt.Sprint("m", i)
		if err := b.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	return b, ctx
}

// TestAStreamMadeAnewIsReadFromItsStart: a reader whose stored offset lies
// past the stream's end (the tap was deleted and made again, to change its
// retention) would wait for the new stream to grow that long and miss
// everything before; it reads the new one from its start instead. A stored
// offset within the stream is kept.
func TestAStreamMadeAnewIsReadFromItsStart(t *testing.T) {
	b, ctx := streamBroker(t, 3)
	first := func(from int64) saga.Message {
		t.Helper()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		got := make(chan saga.Message, 1)
		go func() {
			_ = b.Consume(ctx, saga.ObserverQueue, saga.ConsumeOptions{From: func(context.Context) (int64, error) { return from, nil }},
				func(_ context.Context, msgs []saga.Message) []saga.Outcome {
					select {
					case got <- msgs[0]:
					default:
					}
					return make([]saga.Outcome, len(msgs))
				})
		}()
		select {
		case m := <-got:
			return m
		case <-time.After(10 * time.Second):
			t.Fatalf("reading from offset %d gave nothing in 10s", from)
			return saga.Message{}
		}
	}
	if m := first(1000); m.Offset != 0 || m.ID != "m0" {
		t.Errorf("from an offset past the end: first %s at %d; want m0 at 0", m.ID, m.Offset)
	}
	if m := first(2); m.Offset != 2 || m.ID != "m2" {
		t.Errorf("from offset 2 of 3: first %s at %d; want m2 at 2", m.ID, m.Offset)
	}
}
