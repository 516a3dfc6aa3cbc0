package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// Engine is a store engine the conformance suite runs on.
type Engine struct {
	// New makes a fresh, empty store for one test, and returns what opens
	// a handle on it: each call a new handle, as another process would
	// open it, closed when the test ends.
	New func(t *testing.T) func() *store.DB
	// Shared says two handles on one store may each run a relay, as two
	// processes of one part do on PostgreSQL.
	Shared bool
}

// Run is the conformance suite every store engine passes: the promises the
// participants build on, said once for SQLite and PostgreSQL alike.
func Run(t *testing.T, e Engine) {
	t.Run("MigrationsRunOnceAndAgainHarmlessly", func(t *testing.T) { migrations(t, e) })
	t.Run("AddColumnOnATableOfAnEarlierShape", func(t *testing.T) { addColumn(t, e) })
	t.Run("InboxAppliesEachMessageOnce", func(t *testing.T) { inbox(t, e) })
	t.Run("OutboxIsPublishedConfirmedAndDeleted", func(t *testing.T) { relay(t, e) })
	t.Run("WaitSentWaitsForTheConfirm", func(t *testing.T) { waitSent(t, e) })
	t.Run("ANewRelayPublishesWhatACrashLeft", func(t *testing.T) { crash(t, e) })
	t.Run("TwoRelaysOnOneStoreNeverPublishARowTwice", func(t *testing.T) {
		if !e.Shared {
			t.Skip("this engine is one process's: its relay is the only one")
		}
		twoRelays(t, e)
	})
}

// Publisher keeps what a relay publishes, and fails while told to (SetFail).
type Publisher struct {
	mu    sync.Mutex
	got   []saga.Message
	fail  bool
	delay time.Duration
	busy  atomic.Int32 // publishes in progress
	both  atomic.Bool  // set when two were in progress at once
}

func (p *Publisher) Publish(_ context.Context, msgs ...saga.Message) error {
	if p.busy.Add(1) > 1 {
		p.both.Store(true)
	}
	defer p.busy.Add(-1)
	if p.delay > 0 {
		time.Sleep(p.delay)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return errors.New("broker down")
	}
	p.got = append(p.got, msgs...)
	return nil
}

// SetFail makes every publish fail, or succeed again.
func (p *Publisher) SetFail(b bool) { p.mu.Lock(); p.fail = b; p.mu.Unlock() }

// IDs returns the ids of what was published, in order.
func (p *Publisher) IDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.got {
		out = append(out, m.ID)
	}
	return out
}

// withEffects opens a handle and gives it the table the effects write.
func withEffects(t *testing.T, open func() *store.DB) *store.DB {
	t.Helper()
	db := open()
	if err := db.Migrate(context.Background(), "suite", store.Exec(`CREATE TABLE IF NOT EXISTS suite_effects (message_id TEXT PRIMARY KEY, note TEXT NOT NULL, at INTEGER NOT NULL)`)); err != nil {
		t.Fatal(err)
	}
	return db
}

// effect records the message and causes one, or fails as poison after
// writing, so the rollback of its write shows.
func effect(ctx context.Context, tx *store.Tx, m saga.Message) ([]saga.Message, error) {
	if _, err := tx.ExecContext(ctx, `INSERT INTO suite_effects (message_id, note, at) VALUES (?, ?, ?)`, m.ID, string(m.Body), time.Now().UnixMilli()); err != nil {
		return nil, err
	}
	if string(m.Body) == "poison" {
		return nil, saga.Poison("bad body")
	}
	return []saga.Message{{ID: m.ID + "-next", CorrelationID: m.ID, Type: "Next", RoutingKey: "next_queue", Body: []byte(`{"n":"?"}`), Timestamp: time.Now()}}, nil
}

func runRelay(t *testing.T, db *store.DB, pub saga.Publisher) *store.Relay {
	t.Helper()
	r := store.NewRelay(db, pub, Quiet())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func migrations(t *testing.T, e Engine) {
	open := e.New(t)
	ctx := context.Background()
	steps := []store.Migration{
		store.Exec(`CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY AUTOINCREMENT, step INTEGER NOT NULL, body BLOB NOT NULL) `),
		store.Exec(`INSERT INTO runs (step, body) VALUES (2, '')`),
		store.Exec(`CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID`,
			`INSERT INTO kv (k, n) VALUES ('big', 4102444800000) ON CONFLICT DO NOTHING`),
	}
	a, b := open(), open()
	for _, db := range []*store.DB{a, b, a} {
		if err := db.Migrate(ctx, "m", steps...); err != nil {
			t.Fatal(err)
		}
	}
	if n := Count(t, a, `SELECT count(*) FROM runs`); n != 1 {
		t.Errorf("the inserting step ran %d times over three migrations, want once", n)
	}
	if v := Count(t, b, `SELECT version FROM schema_versions WHERE name = ?`, "m"); v != len(steps) {
		t.Errorf("recorded version %d, want %d", v, len(steps))
	}
	// A millisecond time of 2100 needs 64 bits: INTEGER must hold it.
	var n int64
	if err := a.QueryRowContext(ctx, `SELECT n FROM kv WHERE k = 'big'`).Scan(&n); err != nil || n != 4102444800000 {
		t.Errorf("kv big = %d (%v), want 4102444800000", n, err)
	}
	// One step more, later: only it runs.
	more := append(steps, store.Exec(`INSERT INTO runs (step, body) VALUES (4, '')`))
	if err := b.Migrate(ctx, "m", more...); err != nil {
		t.Fatal(err)
	}
	if n := Count(t, a, `SELECT count(*) FROM runs`); n != 2 {
		t.Errorf("%d rows after a fourth step, want 2", n)
	}
}

func addColumn(t *testing.T, e Engine) {
	open := e.New(t)
	ctx := context.Background()
	db := open()
	// The table as an earlier release made it, then the column added.
	if err := db.Migrate(ctx, "old", store.Exec(`CREATE TABLE IF NOT EXISTS things (id TEXT PRIMARY KEY)`),
		store.Exec(`INSERT INTO things (id) VALUES ('before')`)); err != nil {
		t.Fatal(err)
	}
	later := []store.Migration{store.Exec(`CREATE TABLE IF NOT EXISTS things (id TEXT PRIMARY KEY)`),
		store.Exec(`INSERT INTO things (id) VALUES ('before') ON CONFLICT DO NOTHING`),
		store.AddColumn("things", "size", "INTEGER NOT NULL DEFAULT 7")}
	if err := db.Migrate(ctx, "old", later...); err != nil {
		t.Fatal(err)
	}
	// A table made with the column already, as a new release makes it:
	// adding it again is harmless.
	if err := db.Migrate(ctx, "new", store.Exec(`CREATE TABLE IF NOT EXISTS others (id TEXT PRIMARY KEY, size INTEGER NOT NULL DEFAULT 1)`),
		store.AddColumn("others", "size", "INTEGER NOT NULL DEFAULT 1")); err != nil {
		t.Fatalf("AddColumn of a column the table has: %v", err)
	}
	if n := Count(t, db, `SELECT size FROM things WHERE id = ?`, "before"); n != 7 {
		t.Errorf("the earlier row's new column holds %d, want the default 7", n)
	}
	// Opened again, as after a restart: nothing fails, nothing changes.
	again := open()
	if err := again.Migrate(ctx, "old", later...); err != nil {
		t.Fatal(err)
	}
	if n := Count(t, again, `SELECT count(*) FROM things`); n != 1 {
		t.Errorf("%d things after opening again, want 1", n)
	}
}

func inbox(t *testing.T, e Engine) {
	open := e.New(t)
	db := withEffects(t, open)
	ctx := context.Background()
	batch := []saga.Message{{ID: "m1", Body: []byte("ok")}, {ID: "m2", Body: []byte("poison")}, {ID: "m3", Body: []byte("ok")}}
	outs, last := db.Apply(ctx, batch, effect)
	if outs[0].Err != nil || outs[2].Err != nil || !errors.Is(outs[1].Err, saga.ErrPoison) || last == 0 {
		t.Fatalf("outcomes %v %v %v, seq %d: want ok, poison, ok and an outbox seq", outs[0].Err, outs[1].Err, outs[2].Err, last)
	}
	// Redelivered, to this handle and to another (a second process).
	other := open()
	for _, h := range []*store.DB{db, other} {
		outs, _ := h.Apply(ctx, batch[:1], effect)
		if outs[0].Err != nil {
			t.Fatal(outs[0].Err)
		}
	}
	if n := Count(t, db, `SELECT count(*) FROM suite_effects`); n != 2 {
		t.Errorf("%d effects, want 2: m1 and m3 once each, the poison's write rolled back", n)
	}
	if n := Outbox(t, db); n != 2 {
		t.Errorf("%d outbox rows, want 2", n)
	}
	// The same new message to both handles at once: one applies it.
	var wg sync.WaitGroup
	for i := range 20 {
		for _, h := range []*store.DB{db, other} {
			wg.Go(func() {
				outs, _ := h.Apply(ctx, []saga.Message{{ID: fmt.Sprintf("race-%d", i), Body: []byte("ok")}}, effect)
				if outs[0].Err != nil {
					t.Errorf("race-%d: %v", i, outs[0].Err)
				}
			})
		}
	}
	wg.Wait()
	if n := Count(t, db, `SELECT count(*) FROM suite_effects WHERE message_id LIKE 'race-%'`); n != 20 {
		t.Errorf("%d effects of 20 messages each sent to both handles at once, want 20", n)
	}
	if n := Count(t, db, `SELECT count(*) FROM outbox WHERE correlation_id LIKE 'race-%'`); n != 20 {
		t.Errorf("%d messages caused by 20 messages each sent to both handles at once, want 20", n)
	}
}

func relay(t *testing.T, e Engine) {
	open := e.New(t)
	db := withEffects(t, open)
	ctx := context.Background()
	pub := &Publisher{}
	r := runRelay(t, db, pub)
	_, last := db.Apply(ctx, []saga.Message{{ID: "a", Body: []byte("ok")}, {ID: "b", Body: []byte("ok")}}, effect)
	seq, err := db.Write(ctx, func(tx *store.Tx) ([]saga.Message, error) {
		return []saga.Message{{ID: "w", CorrelationID: "w", Type: "Written", RoutingKey: "k", Body: []byte("{}"), Timestamp: time.Now()}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.WaitSent(wctx, max(last, seq)); err != nil {
		t.Fatalf("WaitSent: %v", err)
	}
	got := pub.IDs()
	if len(got) != 3 || got[0] != "a-next" || got[1] != "b-next" || got[2] != "w" {
		t.Errorf("published %v, want [a-next b-next w]", got)
	}
	pub.mu.Lock()
	m := pub.got[0]
	pub.mu.Unlock()
	if m.CausationID != "a" || m.Type != "Next" || string(m.Body) != `{"n":"?"}` || m.Timestamp.IsZero() {
		t.Errorf("published %+v: the row's fields did not come through", m)
	}
	if n := Outbox(t, db); n != 0 {
		t.Errorf("%d outbox rows after the confirm, want 0", n)
	}
}

func waitSent(t *testing.T, e Engine) {
	open := e.New(t)
	db := withEffects(t, open)
	ctx := context.Background()
	pub := &Publisher{fail: true}
	r := runRelay(t, db, pub)
	_, last := db.Apply(ctx, []saga.Message{{ID: "a", Body: []byte("ok")}}, effect)
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := r.WaitSent(wctx, last)
	cancel()
	if err == nil {
		t.Fatal("WaitSent returned while the broker refused")
	}
	if n := Outbox(t, db); n != 1 {
		t.Errorf("%d outbox rows while the broker refuses, want 1", n)
	}
	pub.SetFail(false)
	wctx, cancel = context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.WaitSent(wctx, last); err != nil {
		t.Fatalf("WaitSent after the broker came back: %v", err)
	}
	if got := pub.IDs(); len(got) != 1 {
		t.Errorf("published %v, want one message", got)
	}
}

func crash(t *testing.T, e Engine) {
	open := e.New(t)
	ctx := context.Background()
	// Committed with no relay running: the process died before publishing.
	dead := withEffects(t, open)
	for i := range 5 {
		dead.Apply(ctx, []saga.Message{{ID: fmt.Sprintf("m%d", i), Body: []byte("ok")}}, effect)
	}
	dead.Close()
	db := withEffects(t, open)
	if n := Outbox(t, db); n != 5 {
		t.Fatalf("%d outbox rows left by the dead process, want 5", n)
	}
	pub := &Publisher{}
	runRelay(t, db, pub)
	deadline := time.Now().Add(10 * time.Second)
	for Outbox(t, db) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := pub.IDs(); len(got) != 5 {
		t.Errorf("the new relay published %v, want the 5 left", got)
	}
}

// twoRelays has two handles on one store, as two processes of one part, each
// with its relay, write and publish at once. The publishers are slow, so a
// relay holds its rows a while. Every message goes out exactly once, and
// each handle's WaitSent returns for its own rows whichever relay sent them.
func twoRelays(t *testing.T, e Engine) {
	open := e.New(t)
	a, b := withEffects(t, open), withEffects(t, open)
	ctx := context.Background()
	pa, pb := &Publisher{delay: 2 * time.Millisecond}, &Publisher{delay: time.Millisecond}
	ra, rb := runRelay(t, a, pa), runRelay(t, b, pb)
	var wg sync.WaitGroup
	var applied atomic.Int32
	for w := range 6 {
		db, r := a, ra
		if w%2 == 1 {
			db, r = b, rb
		}
		wg.Go(func() {
			for i := range 40 {
				outs, last := db.Apply(ctx, []saga.Message{{ID: fmt.Sprintf("w%d-%02d", w, i), Body: []byte("ok")}}, effect)
				if outs[0].Err != nil {
					t.Errorf("apply: %v", outs[0].Err)
					return
				}
				applied.Add(1)
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := r.WaitSent(wctx, last)
				cancel()
				if err != nil {
					t.Errorf("WaitSent(%d) on writer %d: %v", last, w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	seen := map[string]int{}
	for _, id := range append(pa.IDs(), pb.IDs()...) {
		seen[id]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s published %d times, want once", id, n)
		}
	}
	if len(seen) != int(applied.Load()) {
		t.Errorf("%d distinct messages published, want %d", len(seen), applied.Load())
	}
	if len(pa.IDs()) == 0 || len(pb.IDs()) == 0 {
		t.Errorf("relay a published %d, relay b %d: both should have had work", len(pa.IDs()), len(pb.IDs()))
	}
	if n := Outbox(t, a); n != 0 {
		t.Errorf("%d outbox rows left, want 0", n)
	}
}
