package seats

import (
	"context"
	"fmt"
	"strings"

	"github.com/sagaboard/sagaboard/services/invariants"
	"github.com/sagaboard/sagaboard/services/store"
)

// Audit is SeatUpdating's record of sales as the invariant checker reads it:
// read-only queries on the reader pool, so a check never takes the writer
// the saga needs.
type Audit struct{ s *Service }

// Audit returns the tickets' audit. The first time, it adds the index on
// the time of sale its change feed reads by: one short write at start,
// nothing once the index exists.
func (s *Service) Audit(ctx context.Context) (*Audit, error) {
	if err := s.db.Migrate(ctx, "seats-audit", store.Exec(`CREATE INDEX IF NOT EXISTS tickets_at ON tickets (at)`)); err != nil {
		return nil, fmt.Errorf("seats: index for the audit: %w", err)
	}
	return &Audit{s: s}, nil
}

// ReadAudit reads the tickets in a store another process writes, opened
// read-only (PostgreSQL), for a checker that runs elsewhere. Its index on
// the tickets' time is the seats process's to make (see New).
func ReadAudit(db *store.DB) *Audit { return &Audit{s: &Service{db: db}} }

var _ invariants.Tickets = (*Audit)(nil)

// Head returns the time of the newest ticket.
func (a *Audit) Head(ctx context.Context) (int64, error) {
	var at int64
	if err := a.s.db.QueryRowContext(ctx, `SELECT COALESCE(max(at), 0) FROM tickets`).Scan(&at); err != nil {
		return 0, fmt.Errorf("seats: audit head: %w", err)
	}
	return at, nil
}

// Changes lists tickets by (at, seat_id); the Key of a ticket is its seat.
func (a *Audit) Changes(ctx context.Context, from invariants.Cursor, limit int) ([]invariants.Change, error) {
	rows, err := a.s.db.QueryContext(ctx, `SELECT seat_id, booking_id, at FROM tickets
		WHERE (at, seat_id) >= (?, ?) ORDER BY at, seat_id LIMIT ?`, from.At, from.Key, limit)
	if err != nil {
		return nil, fmt.Errorf("seats: audit changes: %w", err)
	}
	defer rows.Close()
	var out []invariants.Change
	for rows.Next() {
		var c invariants.Change
		if err := rows.Scan(&c.Key, &c.BookingID, &c.At); err != nil {
			return nil, fmt.Errorf("seats: audit changes: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Sold returns the seats sold to each given booking, by the tickets_booking
// index.
func (a *Audit) Sold(ctx context.Context, ids []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := a.s.db.QueryContext(ctx, `SELECT booking_id, seat_id FROM tickets WHERE booking_id IN (?`+
		strings.Repeat(", ?", len(ids)-1)+`) ORDER BY booking_id, seat_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("seats: audit tickets of %d bookings: %w", len(ids), err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, seat string
		if err := rows.Scan(&id, &seat); err != nil {
			return nil, fmt.Errorf("seats: audit tickets: %w", err)
		}
		out[id] = append(out[id], seat)
	}
	return out, rows.Err()
}

// Window returns the tickets of the seats in (after, last], by primary key;
// last "" reads to the end.
func (a *Audit) Window(ctx context.Context, after, last string) ([]invariants.Ticket, error) {
	// Two queries, not one with an OR, so each is a plain range on the
	// primary key.
	q, args := `SELECT seat_id, booking_id FROM tickets WHERE seat_id > ? AND seat_id <= ? ORDER BY seat_id`, []any{after, last}
	if last == "" {
		q, args = `SELECT seat_id, booking_id FROM tickets WHERE seat_id > ? ORDER BY seat_id`, []any{after}
	}
	rows, err := a.s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("seats: audit tickets after %q: %w", after, err)
	}
	defer rows.Close()
	var out []invariants.Ticket
	for rows.Next() {
		var t invariants.Ticket
		if err := rows.Scan(&t.SeatID, &t.BookingID); err != nil {
			return nil, fmt.Errorf("seats: audit tickets: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
