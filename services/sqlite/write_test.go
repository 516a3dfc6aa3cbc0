package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/sqlite"
)

// Many writers at once: each write's change and message commit together,
// and one that fails leaves nothing behind while the others, maybe in the
// same transaction, are kept.
func TestConcurrentWritesCommitTogetherAndFailAlone(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	errOdd := errors.New("odd writes fail after writing")
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("w%03d", i)
			_, errs[i] = db.Write(ctx, func(tx *sqlite.Tx) ([]saga.Message, error) {
				if _, err := tx.ExecContext(ctx, `INSERT INTO effects (message_id, note) VALUES (?, 'write')`, id); err != nil {
					return nil, err
				}
				if i%2 == 1 {
					return nil, errOdd
				}
				return []saga.Message{{ID: id + "-msg", CorrelationID: id, Type: "Written", RoutingKey: "q", Body: []byte("{}"), Timestamp: time.Now()}}, nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if want := i%2 == 1; errors.Is(err, errOdd) != want || (!want && err != nil) {
			t.Errorf("write %d: err = %v", i, err)
		}
	}
	if got := count(t, db, `SELECT count(*) FROM effects`); got != n/2 {
		t.Errorf("%d rows written, want %d: a failed write must leave nothing, a good one everything", got, n/2)
	}
	if got := count(t, db, `SELECT count(*) FROM effects WHERE message_id IN (SELECT correlation_id FROM outbox)`); got != n/2 {
		t.Errorf("%d rows have their message in the outbox, want %d", got, n/2)
	}
	if got := count(t, db, `SELECT count(*) FROM outbox`); got != n/2 {
		t.Errorf("%d messages in the outbox, want %d", got, n/2)
	}
}

func TestWriteAfterCloseIsRefused(t *testing.T) {
	db := MustOpen(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := db.Write(context.Background(), func(tx *sqlite.Tx) ([]saga.Message, error) { return nil, nil })
	if !errors.Is(err, sqlite.ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
}
