package store_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// keptPublisher keeps what the relay publishes.
type keptPublisher struct {
	mu  sync.Mutex
	got []saga.Message
}

func (p *keptPublisher) Publish(_ context.Context, msgs ...saga.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, msgs...)
	return nil
}

func (p *keptPublisher) kept() []saga.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]saga.Message(nil), p.got...)
}

// relayAll publishes the whole outbox once and returns what went out.
func relayAll(t *testing.T, db *store.DB, seq int64) []saga.Message {
	t.Helper()
	pub := &keptPublisher{}
	relay := store.NewRelay(db, pub, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { relay.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := relay.WaitSent(wctx, seq); err != nil {
		t.Fatalf("relay: %v", err)
	}
	return pub.kept()
}

func TestApplyRecordsWhichMessageCausedEachOneItMade(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	_, last := db.Apply(ctx, []saga.Message{{ID: "m1", Body: []byte("ok")}, {ID: "m2", Body: []byte("ok")}}, effect)
	seq, err := db.Write(ctx, func(*store.Tx) ([]saga.Message, error) {
		return []saga.Message{{ID: "w1", Type: "FromARequest", RoutingKey: "q", Body: []byte("{}"), Timestamp: time.Now()}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range relayAll(t, db, max(last, seq)) {
		got[m.ID] = m.CausationID
	}
	want := map[string]string{"m1-next": "m1", "m2-next": "m2", "w1": ""}
	for id, cause := range want {
		if c, ok := got[id]; !ok || c != cause {
			t.Errorf("message %s: published=%v causation id %q, want %q", id, ok, c, cause)
		}
	}
}

func TestOpenAddsCausedByToAnOutboxFromAnOlderRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	// The outbox as the first release made it, with a row still waiting.
	old, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL, correlation_id TEXT NOT NULL,
			type TEXT NOT NULL, routing_key TEXT NOT NULL, source TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
			at INTEGER NOT NULL, body BLOB NOT NULL)`,
		`INSERT INTO outbox (message_id, correlation_id, type, routing_key, source, at, body) VALUES ('waiting', 'b1', 'T', 'q', 's', 0, '{}')`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	for range 2 { // and a second start finds the column there
		db, err := store.OpenFile(context.Background(), path)
		if err != nil {
			t.Fatalf("open a database from an older release: %v", err)
		}
		db.Close()
	}
	db, err := store.OpenFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Migrate(context.Background(), "effects", store.Exec(`CREATE TABLE IF NOT EXISTS effects (message_id TEXT, note TEXT)`))
	_, last := db.Apply(context.Background(), []saga.Message{{ID: "m1", Body: []byte("ok")}}, effect)
	got := relayAll(t, db, last)
	if len(got) != 2 || got[0].ID != "waiting" || got[0].CausationID != "" || got[1].CausationID != "m1" {
		t.Errorf("published %+v, want the old row with no cause, then m1-next caused by m1", got)
	}
}
