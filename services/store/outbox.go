package store

import (
	"context"
	"fmt"

	"github.com/sagaboard/sagaboard/services/saga"
)

// writeOne runs fn in a write transaction of its own and commits the
// messages it returns to the outbox with it. On PostgreSQL fn may run more
// than once, when its transaction collides with a concurrent one.
func (db *DB) writeOne(ctx context.Context, fn func(tx *Tx) ([]saga.Message, error)) (int64, error) {
	var seq int64
	var rows []outboxRow
	err := db.retry(ctx, func() error {
		tx, err := db.begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		msgs, err := fn(tx)
		if err != nil {
			return err
		}
		if seq, err = insertOutbox(ctx, tx, msgs); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("%s: commit: %w", db.engine(), err)
		}
		rows = tx.rows
		return nil
	})
	if err != nil {
		return 0, err
	}
	db.committed(rows)
	db.prepareWanted(ctx)
	return seq, nil
}

func insertOutbox(ctx context.Context, tx *Tx, msgs []saga.Message) (int64, error) {
	var last int64
	for _, m := range msgs {
		if m.Trace.Parent == "" {
			// Made outside any consumed message's handling (a request, a
			// timer): the trace is the caller's, if it has one.
			m.Trace = saga.TraceFromContext(ctx)
		}
		// RETURNING, not LastInsertId: PostgreSQL's driver has none.
		err := tx.QueryRowContext(ctx, `INSERT INTO outbox (message_id, correlation_id, caused_by, type, routing_key, source, attempt, at, body, traceparent, tracestate)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
			m.ID, m.CorrelationID, m.CausationID, m.Type, m.RoutingKey, m.Source, m.Attempt, millis(m.Timestamp), body(m.Body), m.Trace.Parent, m.Trace.State).Scan(&last)
		if err != nil {
			return 0, fmt.Errorf("%s: insert outbox: %w", tx.db.engine(), err)
		}
		// The row as the relay would read it back: the same fields, and
		// the time at the millisecond it is stored with.
		tx.rows = append(tx.rows, outboxRow{seq: last, m: saga.Message{ID: m.ID, CorrelationID: m.CorrelationID, CausationID: m.CausationID,
			Type: m.Type, RoutingKey: m.RoutingKey, Source: m.Source, Attempt: m.Attempt, Timestamp: Time(millis(m.Timestamp)), Body: m.Body, Trace: m.Trace}})
	}
	return last, nil
}

// body is never nil: a nil slice would be NULL, which the column refuses.
func body(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
