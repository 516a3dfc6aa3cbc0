package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
	"github.com/sagaboard/sagaboard/services/store/storetest"
)

func MustOpen(tb testing.TB) *store.DB {
	tb.Helper()
	return mustOpenAt(tb, filepath.Join(tb.TempDir(), "x.db"))
}

// mustOpenAt opens the file at path, so a test can hold two handles on one.
func mustOpenAt(tb testing.TB, path string) *store.DB {
	tb.Helper()
	db, err := store.OpenFile(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background(), "effects", store.Exec(`CREATE TABLE IF NOT EXISTS effects (message_id TEXT, note TEXT)`)); err != nil {
		tb.Fatal(err)
	}
	return db
}

// effect records the message and causes one message, or fails as poison
// after writing, to show the savepoint undoes its write.
func effect(ctx context.Context, tx *store.Tx, m saga.Message) ([]saga.Message, error) {
	if _, err := tx.ExecContext(ctx, `INSERT INTO effects (message_id, note) VALUES (?, ?)`, m.ID, string(m.Body)); err != nil {
		return nil, err
	}
	if string(m.Body) == "poison" {
		return nil, saga.Poison("bad body")
	}
	return []saga.Message{{ID: m.ID + "-next", CorrelationID: "b1", Type: "Next", RoutingKey: "next_queue", Body: []byte("{}"), Timestamp: time.Now()}}, nil
}

func count(tb testing.TB, db *store.DB, q string) int {
	tb.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestApplyIsIdempotentAndIsolatesPoison(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	batch := []saga.Message{{ID: "m1", Body: []byte("ok")}, {ID: "m2", Body: []byte("poison")}, {ID: "m3", Body: []byte("ok")}}
	outs, last := db.Apply(ctx, batch, effect)
	if outs[0].Err != nil || outs[2].Err != nil {
		t.Fatalf("good messages failed: %v %v", outs[0].Err, outs[2].Err)
	}
	if !errors.Is(outs[1].Err, saga.ErrPoison) {
		t.Fatalf("poison outcome = %v, want ErrPoison", outs[1].Err)
	}
	if last == 0 {
		t.Fatal("no outbox seq returned for the messages caused")
	}
	if n := count(t, db, `SELECT count(*) FROM effects`); n != 2 {
		t.Errorf("%d effects after one batch with one poison message, want 2 (the poison's write rolled back)", n)
	}
	// The same messages again, as a redelivery: nothing happens twice.
	outs, _ = db.Apply(ctx, batch[:1], effect)
	if outs[0].Err != nil {
		t.Fatal(outs[0].Err)
	}
	if n := count(t, db, `SELECT count(*) FROM effects`); n != 2 {
		t.Errorf("%d effects after a redelivery, want still 2", n)
	}
	if n := count(t, db, `SELECT count(*) FROM outbox`); n != 2 {
		t.Errorf("%d outbox rows, want 2 (one per applied message)", n)
	}
	if outs, _ := db.Apply(ctx, []saga.Message{{Body: []byte("ok")}}, effect); !errors.Is(outs[0].Err, saga.ErrPoison) {
		t.Errorf("a message with no id: %v, want ErrPoison", outs[0].Err)
	}
	// Poison alone in its batch (the common case when the saga is quiet,
	// where no savepoint is taken): nothing of it stays, not even its id.
	if outs, last := db.Apply(ctx, []saga.Message{{ID: "m4", Body: []byte("poison")}}, effect); !errors.Is(outs[0].Err, saga.ErrPoison) || last != 0 {
		t.Errorf("a lone poison message: %v, seq %d; want ErrPoison and no outbox row", outs[0].Err, last)
	}
	if n := count(t, db, `SELECT count(*) FROM effects`) + count(t, db, `SELECT count(*) FROM inbox WHERE message_id = 'm4'`); n != 2 {
		t.Errorf("after a lone poison message: effects plus its inbox rows = %d, want 2 (the earlier effects only)", n)
	}
}

// TestRelayPublishesEveryRowOnceInOrder races writers against the relay:
// rows written before it started, rows it is handed at commit, rows another
// handle on the same file writes behind its back, poison that rolls back,
// and a publisher that keeps failing. Every caused message must reach the
// broker exactly once, and each writer's in the order it wrote them.
func TestRelayPublishesEveryRowOnceInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "race.db")
	db, other := mustOpenAt(t, path), mustOpenAt(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	want := map[string]bool{}
	var wantMu sync.Mutex
	var top int64
	apply := func(db *store.DB, ids ...string) {
		var batch []saga.Message
		for _, id := range ids {
			body := "ok"
			if len(id)%7 == 0 {
				body = "poison"
			}
			batch = append(batch, saga.Message{ID: id, Body: []byte(body)})
		}
		outs, last := db.Apply(ctx, batch, effect)
		wantMu.Lock()
		defer wantMu.Unlock()
		for i, o := range outs {
			if o.Err == nil && string(batch[i].Body) == "ok" {
				want[batch[i].ID+"-next"] = true
			}
		}
		top = max(top, last)
	}
	for i := range 20 {
		apply(db, fmt.Sprintf("before-%d", i))
	}

	pub := &storetest.Publisher{}
	relay := store.NewRelay(db, pub, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan struct{})
	go func() { relay.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	flaky := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-flaky:
				pub.SetFail(false)
				return
			case <-time.After(3 * time.Millisecond):
				pub.SetFail(i%3 == 0)
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 150 {
				target := db
				if w == 3 {
					target = other // a second writer on the same file, unseen by the relay's memory
				}
				ids := []string{fmt.Sprintf("w%d-%04d-a", w, i)}
				if i%2 == 0 {
					ids = append(ids, fmt.Sprintf("w%d-%04d-b", w, i))
				}
				apply(target, ids...)
				relay.Kick()
			}
		})
	}
	wg.Wait()
	close(flaky)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := relay.WaitSent(wctx, top); err != nil {
		t.Fatalf("WaitSent(%d): %v", top, err)
	}

	seen := map[string]int{}
	lastOf := map[string]string{}
	for _, id := range pub.IDs() {
		seen[id]++
		if w, _, ok := strings.Cut(id, "-"); ok && strings.HasPrefix(w, "w") {
			if prev := lastOf[w]; prev > id {
				t.Errorf("%s published after %s: out of the order it was written", id, prev)
			}
			lastOf[w] = id
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("%s published %d times, want once", id, seen[id])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("published %d distinct messages, want %d", len(seen), len(want))
	}
	if n := count(t, db, `SELECT count(*) FROM outbox`); n != 0 {
		t.Errorf("%d outbox rows left, want 0", n)
	}
}
