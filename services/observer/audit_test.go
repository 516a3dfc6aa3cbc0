package observer_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// tapBus hands the test the observer's tap handler.
type tapBus struct {
	mu sync.Mutex
	h  saga.BatchHandler
}

func (b *tapBus) Publish(context.Context, ...saga.Message) error     { return nil }
func (b *tapBus) Replay(context.Context, string, saga.Message) error { return nil }
func (b *tapBus) Consume(ctx context.Context, queue string, _ saga.ConsumeOptions, h saga.BatchHandler) error {
	if queue == saga.ObserverQueue {
		b.mu.Lock()
		b.h = h
		b.mu.Unlock()
	}
	<-ctx.Done()
	return nil
}

func (b *tapBus) handler() saga.BatchHandler {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.h
}

func TestAnEventsTableFromAnOlderReleaseGainsCausedBy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "observer.db")
	db, err := store.OpenFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// The events table as the first release made it, with one event.
	err = db.Migrate(ctx, "old-observer", store.Exec(`CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL,
			routing_key TEXT NOT NULL, booking_id TEXT NOT NULL, type TEXT NOT NULL, source TEXT NOT NULL,
			attempt INTEGER NOT NULL, published_at INTEGER NOT NULL, observed_at INTEGER NOT NULL, payload BLOB NOT NULL)`,
		`INSERT INTO events (message_id, routing_key, booking_id, type, source, attempt, published_at, observed_at, payload)
			VALUES ('old', 'payment_queue', 'b1', 'BookingCreated', 'booking', 0, 0, 0, '{}')`))
	if err != nil {
		t.Fatal(err)
	}
	bus := &tapBus{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := observer.New(ctx, db, bus, log)
	if err != nil {
		t.Fatalf("open an observer store from an older release: %v", err)
	}
	if _, err := observer.New(ctx, db, bus, log); err != nil {
		t.Fatalf("open it a second time: %v", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	deadline := time.Now().Add(5 * time.Second)
	for bus.handler() == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	tap := bus.handler()
	if tap == nil {
		t.Fatal("the observer never consumed its tap")
	}
	m := saga.Message{ID: "new", CorrelationID: "b1", CausationID: "old", Type: "PaymentCompleted", RoutingKey: "seat_update_queue",
		Source: "payment", Timestamp: time.Now(), Body: []byte("{}")}
	if outs := tap(ctx, []saga.Message{m}); outs[0].Err != nil {
		t.Fatal(outs[0].Err)
	}
	evs, err := svc.Events(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].CausedBy != "" || evs[1].CausedBy != "old" {
		t.Errorf("events %+v, want the old one with no cause and the new one caused by \"old\"", evs)
	}
}
