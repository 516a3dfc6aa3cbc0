package store

import (
	"context"
	"sync"

	"github.com/sagaboard/sagaboard/services/saga"
)

// Concurrent writes share one commit. SQLite has one writer, so writers
// queue anyway; a commit's fixed cost (the WAL frames and their checksums,
// the page cache's bookkeeping) was most of what a POST cost the server.
// Write therefore queues its work, and whoever finds no batch running
// leads: it runs everything queued so far in one transaction, each piece
// under a savepoint of its own, commits once, and hands the lead to the
// next in line. A piece that fails is rolled back to its savepoint alone.
// Nobody waits for a batch to fill: a lone write runs at once, and a batch
// is only what queued while the previous one committed.
//
// Database/sql and SQLite have no group commit of their own to use here:
// SQLite's WAL commits one transaction at a time, and database/sql sees
// only one connection.
type group struct {
	mu      sync.Mutex
	busy    bool
	pending []*write
}

// write is one caller's Write, queued.
type write struct {
	ctx  context.Context
	fn   func(tx *Tx) ([]saga.Message, error)
	seq  int64
	err  error
	lead chan struct{} // receives when this caller is to run the queue
	done chan struct{} // closed when seq and err are set
}

// maxGroup bounds one batch, so the lead passes on and no caller's
// transaction grows without end under sustained load.
const maxGroup = 64

// Write runs fn in a write transaction and commits the messages it returns to
// the outbox with it: the state change and its message are one atomic fact.
// It returns the highest outbox seq written. On SQLite, writes made at the
// same time from other goroutines may share the transaction's commit; fn's
// own changes stand or fall alone. On PostgreSQL, which commits concurrent
// transactions side by side itself, each runs alone, and fn may run more
// than once when its transaction collides with a concurrent one: it must do
// nothing but through tx.
func (db *DB) Write(ctx context.Context, fn func(tx *Tx) ([]saga.Message, error)) (int64, error) {
	if db.pg {
		return db.writeOne(ctx, fn)
	}
	w := &write{ctx: ctx, fn: fn, lead: make(chan struct{}, 1), done: make(chan struct{})}
	g := &db.group
	g.mu.Lock()
	g.pending = append(g.pending, w)
	if !g.busy {
		g.busy = true
		w.lead <- struct{}{}
	}
	g.mu.Unlock()
	// A waiting caller does not give up when its ctx ends: its place may
	// already be in a transaction being committed, and the answer must say
	// what happened. Its statements see its ctx, so a cancelled caller's
	// work fails quickly.
	select {
	case <-w.done:
		return w.seq, w.err
	case <-w.lead:
	}
	for {
		g.mu.Lock()
		n := min(len(g.pending), maxGroup)
		batch := g.pending[:n:n]
		g.pending = g.pending[n:]
		g.mu.Unlock()
		db.runGroup(batch)
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.busy = false
			g.mu.Unlock()
			break
		}
		select {
		case <-w.done:
			// Hand the lead to the next in line rather than run its batch
			// too: this caller's answer is ready, and its own request
			// should not wait for strangers'.
			g.pending[0].lead <- struct{}{}
			g.mu.Unlock()
			return w.seq, w.err
		default:
			g.mu.Unlock() // its own write is still queued: run the next batch
		}
	}
	<-w.done
	return w.seq, w.err
}

// runGroup runs a batch of writes in one transaction and answers each.
func (db *DB) runGroup(batch []*write) {
	if len(batch) == 1 {
		db.runAlone(batch[0])
		return
	}
	if !db.runTogether(batch) {
		// The transaction itself failed (a cancelled caller interrupted
		// a statement, which rolls the whole transaction back, or the
		// commit failed): nothing of it stands, so each write runs again
		// alone and gets its own answer.
		for _, w := range batch {
			db.runAlone(w)
		}
	}
}

// runAlone runs one write in a transaction of its own.
func (db *DB) runAlone(w *write) {
	defer close(w.done)
	if err := w.ctx.Err(); err != nil {
		w.err = err
		return
	}
	w.seq, w.err = db.writeOne(w.ctx, w.fn)
}

// runTogether runs the batch in one transaction, each write under its own
// savepoint, and answers every write when the transaction committed. It
// returns false, having answered none, when the transaction as a whole
// failed.
func (db *DB) runTogether(batch []*write) bool {
	// The transaction outlives any one caller's ctx: one who gives up must
	// not take the others' writes with it.
	ctx := context.WithoutCancel(batch[0].ctx)
	tx, err := db.begin(ctx)
	if err != nil {
		return false
	}
	defer tx.Rollback()
	answers := make([]struct {
		seq int64
		err error
	}, len(batch))
	for i, w := range batch {
		if err := w.ctx.Err(); err != nil {
			answers[i].err = err
			continue
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT w`); err != nil {
			return false
		}
		kept := len(tx.rows)
		msgs, err := w.fn(tx)
		var seq int64
		if err == nil {
			seq, err = insertOutbox(w.ctx, tx, msgs)
		}
		if err != nil {
			tx.rows = tx.rows[:kept]
			if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO w`); rerr != nil {
				return false
			}
			answers[i].err = err
		} else {
			answers[i].seq = seq
		}
		if _, err := tx.ExecContext(ctx, `RELEASE w`); err != nil {
			return false
		}
	}
	if err := tx.Commit(); err != nil {
		return false
	}
	db.committed(tx.rows)
	db.prepareWanted(ctx)
	for i, w := range batch {
		w.seq, w.err = answers[i].seq, answers[i].err
		close(w.done)
	}
	return true
}
