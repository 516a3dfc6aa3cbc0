package store

import (
	"context"
	"fmt"
)

// On PostgreSQL two processes of one part write one outbox, and each runs a
// relay over it. The SQLite relay's watermark (every seq up to n is sent)
// does not hold there: seqs are taken when a row is inserted, not when it is
// committed, so a lower seq can appear after a higher one was published, and
// a rolled-back insert leaves a seq that never appears at all. So:
//
//   - a relay takes rows with SELECT … FOR UPDATE SKIP LOCKED, publishes
//     them, and deletes them in the same transaction, after the broker's
//     confirm: two relays never hold the same row, and a relay that dies
//     mid-publish releases its rows to the other (which publishes them
//     again; consumers' inboxes make that harmless);
//   - WaitSent waits for this process's own rows only, and a row is sent
//     once it is gone from the table, whichever relay deleted it: rows are
//     deleted only after their confirm, and a row is in own only once its
//     insert committed, so "not in the table" cannot mean "not yet there".

// offerOwn notes the rows this process just committed, and wakes the relay.
func (r *Relay) offerOwn(rows []outboxRow) {
	r.mu.Lock()
	if r.own == nil {
		r.own = map[int64]struct{}{}
	}
	for _, row := range rows {
		r.own[row.seq] = struct{}{}
	}
	r.mu.Unlock()
	r.Kick()
}

// ownSent returns seq when none of this process's rows up to seq waits,
// else one less than the lowest that does. r.mu is held.
func (r *Relay) ownSent(seq int64) int64 {
	sent := seq
	for s := range r.own {
		if s <= sent {
			sent = s - 1
		}
	}
	return sent
}

// waiting reports whether rows of this process's wait to be sent.
func (r *Relay) waiting() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.own) > 0
}

// gone forgets seqs known to have left the table, and wakes the waiters.
func (r *Relay) gone(seqs []int64) {
	if len(seqs) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.own)
	for _, s := range seqs {
		delete(r.own, s)
	}
	if len(r.own) != n {
		close(r.waitCh)
		r.waitCh = make(chan struct{})
	}
}

// flushLocked publishes one batch of the rows no other relay holds, and
// deletes them once confirmed; then it learns which of this process's rows
// another relay sent.
func (r *Relay) flushLocked(ctx context.Context) (int, error) {
	tx, err := r.db.w.BeginTx(ctx, nil) // READ COMMITTED: it sees every committed row
	if err != nil {
		return 0, fmt.Errorf("outbox: begin: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`, r.batch)
	if err != nil {
		return 0, fmt.Errorf("outbox: read: %w", err)
	}
	msgs, seqs, err := scanOutbox(rows)
	if err != nil {
		return 0, err
	}
	if len(msgs) > 0 {
		if err := r.pub.Publish(ctx, msgs...); err != nil {
			return 0, fmt.Errorf("outbox: publish: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq = ANY($1)`, seqs); err != nil {
			return 0, fmt.Errorf("outbox: delete sent: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("outbox: commit: %w", err)
	}
	r.gone(seqs)
	if err := r.recheck(ctx); err != nil {
		return 0, err
	}
	return len(msgs), nil
}

// recheck forgets this process's rows that are gone from the table: another
// process's relay sent them.
func (r *Relay) recheck(ctx context.Context) error {
	r.mu.Lock()
	own := make([]int64, 0, len(r.own))
	for s := range r.own {
		own = append(own, s)
	}
	r.mu.Unlock()
	if len(own) == 0 {
		return nil
	}
	rows, err := r.db.w.QueryContext(ctx, `SELECT seq FROM outbox WHERE seq = ANY($1)`, own)
	if err != nil {
		return fmt.Errorf("outbox: look for sent rows: %w", err)
	}
	defer rows.Close()
	left := map[int64]bool{}
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("outbox: look for sent rows: %w", err)
		}
		left[s] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("outbox: look for sent rows: %w", err)
	}
	var gone []int64
	for _, s := range own {
		if !left[s] {
			gone = append(gone, s)
		}
	}
	r.gone(gone)
	return nil
}
