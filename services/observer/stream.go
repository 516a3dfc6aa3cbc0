package observer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// ReadTapAsStream makes the observer read its tap as a stream (rabbit's
// TapStream): from the offset after the last one it recorded, which it
// stores in the same transaction as what it recorded, so a restart misses
// nothing and records nothing twice. A fresh observer, with no offset
// stored, reads the stream from the first message it still holds: a second
// dashboard opened later shows the history the first one saw. Call it
// before Run.
func (s *Service) ReadTapAsStream() { s.stream = true }

// tapFrom is where the tap is read from: the offset after the last one
// recorded, or 0, the first message the stream holds, when none is.
func (s *Service) tapFrom(ctx context.Context) (int64, error) {
	var next int64
	err := s.db.QueryRowContext(ctx, `SELECT next FROM tap_offsets WHERE queue = ?`, saga.ObserverQueue).Scan(&next)
	if errors.Is(err, sql.ErrNoRows) {
		s.expect.Store(0)
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("observer: read the tap's offset: %w", err)
	}
	s.expect.Store(next)
	return next, nil
}

// noticeGap logs, once per subscription, when the stream no longer held
// the offset the observer asked for: its retention dropped what this
// observer had not read yet, as a classic tap drops its oldest messages.
func (s *Service) noticeGap(msgs []saga.Message) {
	if len(msgs) == 0 || !msgs[0].InStream {
		return
	}
	want := s.expect.Swap(-1)
	if want > 0 && msgs[0].Offset > want {
		s.log.Warn("the tap's retention dropped messages this observer had not read; raise -tap-retention to keep more", "missed", msgs[0].Offset-want, "from_offset", want)
	}
}

// storeOffset records, in the transaction that recorded msgs, that the tap
// is read up to the last of them. Batches come in offset order; a stored
// offset goes back only when the stream was made anew.
func storeOffset(ctx context.Context, tx *store.Tx, msgs []saga.Message) error {
	next := int64(-1)
	for _, m := range msgs {
		if m.InStream {
			next = max(next, m.Offset+1)
		}
	}
	if next < 0 {
		return nil
	}
	// The SQL both SQLite and PostgreSQL speak: the observer's store may be
	// either.
	_, err := tx.ExecContext(ctx, `INSERT INTO tap_offsets (queue, next) VALUES (?, ?)
		ON CONFLICT (queue) DO UPDATE SET next = excluded.next`, saga.ObserverQueue, next)
	if err != nil {
		return fmt.Errorf("observer: store the tap's offset: %w", err)
	}
	return nil
}
