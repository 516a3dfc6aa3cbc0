package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// Effect applies one consumed message inside the participant's transaction
// and returns the messages it causes. Returning an error that wraps
// saga.ErrPoison rolls back this message alone and dead-letters it; any other
// error rolls back the whole batch so it is retried.
type Effect func(ctx context.Context, tx *Tx, m saga.Message) ([]saga.Message, error)

// Apply applies a batch of consumed messages in one transaction: for each,
// under a savepoint when the batch holds more than one, its id is claimed in
// the inbox (a redelivery finds it taken and is skipped), the effect runs, and
// its outgoing messages go to the outbox, each with the consumed message's id
// as its CausationID and its trace context as their own. One commit for the whole batch is what lets a
// participant keep up under load (group commit). It returns the
// outcomes and the highest outbox seq written, for Relay.WaitSent.
//
// On PostgreSQL the whole batch runs again when its transaction collides
// with a concurrent one, so fn must do nothing but through tx. A message that
// another process applied meanwhile is then found in the inbox and skipped.
func (db *DB) Apply(ctx context.Context, msgs []saga.Message, fn Effect) ([]saga.Outcome, int64) {
	var out []saga.Outcome
	var last int64
	var rows []outboxRow
	err := db.retry(ctx, func() error {
		var err error
		out, last, rows, err = db.applyOnce(ctx, msgs, fn)
		return err
	})
	if err != nil {
		out = make([]saga.Outcome, len(msgs))
		for i := range out {
			out[i] = saga.Outcome{Err: err}
		}
		return out, 0
	}
	db.committed(rows)
	db.prepareWanted(ctx)
	return out, last
}

// applyOnce is one run of Apply's transaction. An error means nothing was
// committed, and is every message's outcome.
func (db *DB) applyOnce(ctx context.Context, msgs []saga.Message, fn Effect) ([]saga.Outcome, int64, []outboxRow, error) {
	out := make([]saga.Outcome, len(msgs))
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, 0, nil, err
	}
	defer tx.Rollback()
	now := millis(time.Now())
	// A batch of one needs no savepoint: rolling back the transaction
	// undoes exactly that message. It is the common case when the saga is
	// not busy, where each statement saved is latency saved.
	single := len(msgs) == 1
	savepoint := func(stmts ...string) error {
		if single {
			return nil
		}
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %s: %w", db.engine(), strings.ToLower(q), err)
			}
		}
		return nil
	}
	var last int64
	for i, m := range msgs {
		if m.ID == "" {
			out[i].Err = saga.Poison("message has no message_id")
			continue
		}
		if err := savepoint(`SAVEPOINT msg`); err != nil {
			return nil, 0, nil, err
		}
		// Claiming the id first makes the inbox check and its record one
		// statement; a failing effect rolls the claim back with itself. On
		// PostgreSQL a twin process claiming the same id waits for this
		// one, then finds it taken (or, SERIALIZABLE, collides and retries
		// to find it taken).
		res, err := tx.ExecContext(ctx, `INSERT INTO inbox (message_id, queue, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, m.ID, m.Queue, now)
		var claimed int64
		if err == nil {
			claimed, err = res.RowsAffected()
		}
		if err != nil {
			return nil, 0, nil, fmt.Errorf("%s: record inbox: %w", db.engine(), err)
		}
		if claimed == 0 { // a redelivery: the effect is already committed
			if err := savepoint(`RELEASE msg`); err != nil {
				return nil, 0, nil, err
			}
			continue
		}
		next, err := fn(ctx, tx, m)
		if err != nil {
			if !errors.Is(err, saga.ErrPoison) {
				return nil, 0, nil, err
			}
			out[i].Err = err
			if single {
				return out, 0, nil, nil // the deferred rollback undoes it all
			}
			if err := savepoint(`ROLLBACK TO msg`, `RELEASE msg`); err != nil {
				return nil, 0, nil, err
			}
			continue
		}
		for j := range next {
			next[j].CausationID = m.ID
			if next[j].Trace.Parent == "" {
				next[j].Trace = m.Trace // the step that handled m made it
			}
		}
		seq, err := insertOutbox(ctx, tx, next)
		if err != nil {
			return nil, 0, nil, err
		}
		last = max(last, seq)
		if err := savepoint(`RELEASE msg`); err != nil {
			return nil, 0, nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, 0, nil, fmt.Errorf("%s: commit: %w", db.engine(), err)
	}
	return out, last, tx.rows, nil
}
