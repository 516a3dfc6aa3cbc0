package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// Writes that arrive together share one transaction (group commit), the way
// Apply batches consumed messages. Booking's POSTs are the case: 32 clients
// booking at once were 32 commits in a row, each waiting for the one writer
// connection; now they are one commit, each under its own savepoint, so a
// write that fails (a seat just taken) rolls back alone.
const (
	// maxGroup bounds the writes in one transaction.
	maxGroup = 64
	// groupTimeout bounds how long a group waits for the writer and runs.
	groupTimeout = 30 * time.Second
)

// ErrClosed is returned by Write once the database is closed.
var ErrClosed = errors.New("sqlite: database is closed")

type write struct {
	ctx  context.Context
	fn   func(tx *Tx) ([]saga.Message, error)
	seq  int64
	err  error
	done chan struct{}
}

// Write runs fn in a write transaction and commits the messages it returns to
// the outbox with it: the state change and its message are one atomic fact.
// It returns the highest outbox seq written. Calls made at the same time are
// committed together; fn runs under a savepoint, so its error undoes its own
// changes only. fn must use ctx's cancellation for its statements, as the
// transaction is shared.
func (db *DB) Write(ctx context.Context, fn func(tx *Tx) ([]saga.Message, error)) (int64, error) {
	w := &write{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case db.group.writes <- w:
	case <-db.group.stop:
		return 0, ErrClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	// Once queued, a write is done or failed by the group; waiting for it
	// even when ctx ends keeps the caller from returning before a commit
	// that includes it.
	<-w.done
	return w.seq, w.err
}

// group is the goroutine that commits writes, started by Open. Its channel
// is unbuffered: a write is either taken by the goroutine, which then always
// finishes it, or refused once the database is closed, never left behind.
type group struct {
	writes   chan *write
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func (db *DB) startGroup() {
	db.group.writes, db.group.stop, db.group.done = make(chan *write), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(db.group.done)
		for {
			select {
			case <-db.group.stop:
				db.failQueued()
				return
			case w := <-db.group.writes:
				db.commitGroup(w)
			}
		}
	}()
}

// stopGroup ends the goroutine; writes still waiting fail with ErrClosed.
func (db *DB) stopGroup() {
	db.group.stopOnce.Do(func() { close(db.group.stop) })
	<-db.group.done
}

func (db *DB) failQueued() {
	for {
		select {
		case w := <-db.group.writes:
			w.err = ErrClosed
			close(w.done)
		default:
			return
		}
	}
}

// commitGroup takes the writer, then every write waiting (up to maxGroup),
// and commits them in one transaction.
func (db *DB) commitGroup(first *write) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	batch := []*write{first}
	finish := func(err error) {
		for _, w := range batch {
			if err != nil {
				w.seq, w.err = 0, err
			}
			close(w.done)
		}
	}
	tx, err := db.begin(ctx)
	if err != nil {
		finish(err)
		return
	}
	defer tx.Rollback()
	// The writes that arrived while the writer was busy join this one.
more:
	for len(batch) < maxGroup {
		select {
		case w := <-db.group.writes:
			batch = append(batch, w)
		default:
			break more
		}
	}
	ok := 0
	for _, w := range batch {
		if err := w.ctx.Err(); err != nil {
			w.err = err
			continue
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT w`); err != nil {
			finish(fmt.Errorf("sqlite: savepoint: %w", err))
			return
		}
		msgs, err := w.fn(tx)
		if err == nil {
			w.seq, err = insertOutbox(ctx, tx, msgs)
		}
		if err != nil {
			if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO w`); rerr != nil {
				finish(fmt.Errorf("sqlite: rollback to savepoint: %w", rerr))
				return
			}
			w.err = err
		} else {
			ok++
		}
		if _, err := tx.ExecContext(ctx, `RELEASE w`); err != nil {
			finish(fmt.Errorf("sqlite: release savepoint: %w", err))
			return
		}
	}
	if ok > 0 {
		if err := tx.Commit(); err != nil {
			finish(fmt.Errorf("sqlite: commit: %w", err))
			return
		}
		db.prepareWanted(ctx)
	}
	finish(nil)
}
