package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// TestConcurrentWritesStandOrFallAlone has many goroutines write at once,
// as concurrent POSTs do, so their writes share commits. Every third one
// fails after writing, and one caller gives up before its turn: the
// failures leave nothing behind, every other write and its outbox message
// is there once, and each caller hears its own outcome.
func TestConcurrentWritesStandOrFallAlone(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	const n = 300
	errBad := errors.New("refused")
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("w%03d", i)
			errs[i] = write(ctx, db, id, i%3 == 0, errBad)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if want := i%3 == 0; want != errors.Is(err, errBad) {
			t.Fatalf("write %d answered %v; want the refusal: %v", i, err, want)
		}
		if i%3 != 0 && err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if got, want := count(t, db, `SELECT count(*) FROM effects`), n-n/3; got != want {
		t.Errorf("%d effects stored, want %d: a failed write left its rows, or a good one was lost", got, want)
	}
	if got, want := count(t, db, `SELECT count(*) FROM outbox`), n-n/3; got != want {
		t.Errorf("%d outbox rows, want %d", got, want)
	}
	if got := count(t, db, `SELECT count(*) FROM effects WHERE note = 'bad'`); got != 0 {
		t.Errorf("%d rows of failed writes stand", got)
	}

	// A caller whose ctx is already over is told so, and the writes
	// around it commit.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	var wg2 sync.WaitGroup
	var goneErr error
	for i := range 20 {
		wg2.Go(func() {
			c := ctx
			if i == 10 {
				c = gone
			}
			err := write(c, db, fmt.Sprintf("x%02d", i), false, errBad)
			if i == 10 {
				goneErr = err
			} else if err != nil {
				t.Errorf("write x%02d beside a cancelled caller: %v", i, err)
			}
		})
	}
	wg2.Wait()
	if !errors.Is(goneErr, context.Canceled) {
		t.Errorf("the cancelled caller heard %v, want context.Canceled", goneErr)
	}
	if got := count(t, db, `SELECT count(*) FROM effects WHERE message_id LIKE 'x%'`); got != 19 {
		t.Errorf("%d of the 19 live callers' writes stored", got)
	}
}

// write stores an effect row and one outbox message for id, or, when fail,
// stores a row and then refuses.
func write(ctx context.Context, db *store.DB, id string, fail bool, errBad error) error {
	_, err := db.Write(ctx, func(tx *store.Tx) ([]saga.Message, error) {
		note := "good"
		if fail {
			note = "bad"
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO effects (message_id, note) VALUES (?, ?)`, id, note); err != nil {
			return nil, err
		}
		if fail {
			return nil, errBad
		}
		return []saga.Message{{ID: id + "-out", CorrelationID: id, Type: "Next", RoutingKey: "next_queue", Body: []byte("{}"), Timestamp: time.Now()}}, nil
	})
	return err
}
