package observer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store/storetest"
)

// queueBus hands the test the observer's handler for each queue.
type queueBus struct {
	mu sync.Mutex
	h  map[string]saga.BatchHandler
}

func (b *queueBus) Publish(context.Context, ...saga.Message) error     { return nil }
func (b *queueBus) Replay(context.Context, string, saga.Message) error { return nil }
func (b *queueBus) Consume(ctx context.Context, queue string, _ saga.ConsumeOptions, h saga.BatchHandler) error {
	b.mu.Lock()
	b.h[queue] = h
	b.mu.Unlock()
	<-ctx.Done()
	return nil
}

// MustRunObserver opens an observer on a fresh file, runs it, and returns it
// with its handler for queue.
func MustRunObserver(t *testing.T, queue string) (*observer.Service, saga.BatchHandler) {
	t.Helper()
	ctx := context.Background()
	db := storetest.MustOpen(t, saga.PartObserver)
	bus := &queueBus{h: map[string]saga.BatchHandler{}}
	svc, err := observer.New(ctx, db, bus, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		bus.mu.Lock()
		h := bus.h[queue]
		bus.mu.Unlock()
		if h != nil {
			return svc, h
		}
	}
	t.Fatalf("the observer never consumed %s", queue)
	return nil, nil
}

func TestDeadLettersKeepTheNewestAndCountTheRest(t *testing.T) {
	ctx := context.Background()
	svc, dead := MustRunObserver(t, saga.DeadLetterQueue)
	const extra = 150
	total := observer.MaxDeadLetters + extra
	for i := 0; i < total; i += 100 {
		var batch []saga.Message
		for j := i; j < min(i+100, total); j++ {
			batch = append(batch, saga.Message{ID: fmt.Sprintf("m%04d", j), Type: "BookingCreated", DeadQueue: saga.PaymentQueue,
				DeadReason: "poison", Body: []byte(`{}`), OriginalSender: "booking"})
		}
		for _, o := range dead(ctx, batch) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
		}
		time.Sleep(2 * time.Millisecond) // ids sort by the millisecond
	}
	st, err := svc.DeadLetterStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Kept != observer.MaxDeadLetters || st.Dropped != extra {
		t.Errorf("stats %+v, want %d kept and %d dropped", st, observer.MaxDeadLetters, extra)
	}
	list, err := svc.DeadLetters(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Within one millisecond ids sort at random: the newest is one of the
	// last batch.
	if len(list) != 1 || list[0].MessageID < fmt.Sprintf("m%04d", total-50) {
		t.Fatalf("newest dead letter %+v, want one of the last batch", list)
	}
	if list[0].OriginalSender != "booking" {
		t.Errorf("OriginalSender = %q, want booking", list[0].OriginalSender)
	}
}

func TestTheTapStoresOnlyAPrefixOfABigBody(t *testing.T) {
	ctx := context.Background()
	svc, tap := MustRunObserver(t, saga.ObserverQueue)
	// As the consumer hands it on: a 4 KiB prefix of a 4 MB body, which on
	// its own happens to be valid JSON.
	m := saga.Message{ID: "big", CorrelationID: "b1", Type: "BookingCreated", RoutingKey: saga.PaymentQueue,
		Timestamp: time.Now(), Body: []byte(`"` + strings.Repeat("x", 4094) + `"`), Size: 4 << 20}
	if outs := tap(ctx, []saga.Message{m}); outs[0].Err != nil {
		t.Fatal(outs[0].Err)
	}
	evs, err := svc.Events(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || len(evs[0].Payload) > 4200 || !strings.HasPrefix(string(evs[0].Payload), `"\"xxx`) {
		t.Errorf("stored %d events, payload %.40s… (%d bytes), want the prefix as text", len(evs), evs[0].Payload, len(evs[0].Payload))
	}
}
