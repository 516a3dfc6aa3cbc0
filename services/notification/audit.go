package notification

import (
	"context"
	"fmt"
	"strings"

	"github.com/sagaboard/sagaboard/services/invariants"
	"github.com/sagaboard/sagaboard/services/store"
)

// Audit is Notification's record of notices as the invariant checker reads
// it: read-only queries on the reader pool, so a check never takes the
// writer the saga needs.
type Audit struct{ s *Service }

// Audit returns the notices' audit. Its change feed reads by the
// notifications_at index New creates.
func (s *Service) Audit() *Audit { return &Audit{s: s} }

// ReadAudit reads the notices in a store another process writes, opened read-only
// (PostgreSQL), for a checker that runs elsewhere.
func ReadAudit(db *store.DB) *Audit { return &Audit{s: &Service{db: db}} }

var _ invariants.Notices = (*Audit)(nil)

// Head returns the time of the newest notice.
func (a *Audit) Head(ctx context.Context) (int64, error) {
	var at int64
	if err := a.s.db.QueryRowContext(ctx, `SELECT COALESCE(max(at), 0) FROM notifications`).Scan(&at); err != nil {
		return 0, fmt.Errorf("notification: audit head: %w", err)
	}
	return at, nil
}

// Changes lists notices by (at, booking_id); the Key of a notice is its
// booking, as a booking has at most one.
func (a *Audit) Changes(ctx context.Context, from invariants.Cursor, limit int) ([]invariants.Change, error) {
	rows, err := a.s.db.QueryContext(ctx, `SELECT booking_id, at FROM notifications
		WHERE (at, booking_id) >= (?, ?) ORDER BY at, booking_id LIMIT ?`, from.At, from.Key, limit)
	if err != nil {
		return nil, fmt.Errorf("notification: audit changes: %w", err)
	}
	defer rows.Close()
	var out []invariants.Change
	for rows.Next() {
		var c invariants.Change
		if err := rows.Scan(&c.BookingID, &c.At); err != nil {
			return nil, fmt.Errorf("notification: audit changes: %w", err)
		}
		c.Key = c.BookingID
		out = append(out, c)
	}
	return out, rows.Err()
}

// Told returns which of the given bookings have a notice, by primary key.
func (a *Audit) Told(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := a.s.db.QueryContext(ctx, `SELECT booking_id FROM notifications WHERE booking_id IN (?`+
		strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("notification: audit notices of %d bookings: %w", len(ids), err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("notification: audit notices: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}
