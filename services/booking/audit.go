package booking

import (
	"context"
	"fmt"
	"strings"

	"github.com/sagaboard/sagaboard/services/invariants"
	"github.com/sagaboard/sagaboard/services/store"
)

// Audit is Booking's store as the invariant checker reads it: read-only
// queries on the reader pool, so a check never takes the writer the saga
// needs.
type Audit struct{ s *Service }

// Audit returns the store's audit. The first time, it adds the index on
// updated_at its change feed reads by: one short write at start, nothing
// once the index exists.
func (s *Service) Audit(ctx context.Context) (*Audit, error) {
	if err := s.db.Migrate(ctx, "booking-audit", store.Exec(`CREATE INDEX IF NOT EXISTS bookings_updated ON bookings (updated_at)`)); err != nil {
		return nil, fmt.Errorf("booking: index for the audit: %w", err)
	}
	return &Audit{s: s}, nil
}

var _ invariants.Bookings = (*Audit)(nil)

// Head returns the newest updated_at.
func (a *Audit) Head(ctx context.Context) (int64, error) {
	var at int64
	if err := a.s.db.QueryRowContext(ctx, `SELECT COALESCE(max(updated_at), 0) FROM bookings`).Scan(&at); err != nil {
		return 0, fmt.Errorf("booking: audit head: %w", err)
	}
	return at, nil
}

// Changes lists bookings by (updated_at, id), from the bookings_updated
// index, which holds the id too.
func (a *Audit) Changes(ctx context.Context, from invariants.Cursor, limit int) ([]invariants.Change, error) {
	rows, err := a.s.db.QueryContext(ctx, `SELECT id, updated_at FROM bookings
		WHERE (updated_at, id) >= (?, ?) ORDER BY updated_at, id LIMIT ?`, from.At, from.Key, limit)
	if err != nil {
		return nil, fmt.Errorf("booking: audit changes: %w", err)
	}
	defer rows.Close()
	var out []invariants.Change
	for rows.Next() {
		var c invariants.Change
		if err := rows.Scan(&c.BookingID, &c.At); err != nil {
			return nil, fmt.Errorf("booking: audit changes: %w", err)
		}
		c.Key = c.BookingID
		out = append(out, c)
	}
	return out, rows.Err()
}

// seatClaimCols joins a seat to its booking's status, so both come from one
// snapshot.
const seatClaimCols = `SELECT s.id, s.status, s.booking_id, COALESCE(b.status, '')
	FROM seats s LEFT JOIN bookings b ON b.id = s.booking_id`

// SeatWindow returns the mismatched seats among the limit seats after the
// given id, and the window's last seat ("" at the end of the map). SQLite
// filters, so only mismatches (normally none) cross into Go; still, each
// seat costs a lookup of its booking, which is why the checker reads the
// map a window at a time rather than whole.
func (a *Audit) SeatWindow(ctx context.Context, after string, limit int) ([]invariants.SeatClaim, string, error) {
	var last string
	err := a.s.db.QueryRowContext(ctx, `SELECT COALESCE(max(id), '') FROM (SELECT id FROM seats WHERE id > ? ORDER BY id LIMIT ?) AS w`, after, limit).Scan(&last)
	if err != nil {
		return nil, "", fmt.Errorf("booking: audit seat window: %w", err)
	}
	if last == "" {
		return nil, "", nil
	}
	out, err := a.claims(ctx, seatClaimCols+` WHERE s.id > ? AND s.id <= ?
		AND ((s.status = 'held' AND COALESCE(b.status, '') <> 'pending') OR (s.status = 'sold' AND COALESCE(b.status, '') <> 'confirmed'))`, after, last)
	if err != nil {
		return nil, "", err
	}
	var n int
	if err := a.s.db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM seats WHERE id > ? LIMIT 1) AS w`, last).Scan(&n); err != nil {
		return nil, "", fmt.Errorf("booking: audit seat window: %w", err)
	}
	if n == 0 {
		last = "" // the map ends here
	}
	return out, last, nil
}

// SeatsOf returns the seats the given bookings hold or bought, by the
// seats_booking index.
func (a *Audit) SeatsOf(ctx context.Context, bookingIDs []string) ([]invariants.SeatClaim, error) {
	if len(bookingIDs) == 0 {
		return nil, nil
	}
	return a.claims(ctx, seatClaimCols+` WHERE s.booking_id IN (?`+strings.Repeat(", ?", len(bookingIDs)-1)+`) AND s.status <> 'free'`, anys(bookingIDs)...)
}

// Seats returns the given seats.
func (a *Audit) Seats(ctx context.Context, seatIDs []string) ([]invariants.SeatClaim, error) {
	if len(seatIDs) == 0 {
		return nil, nil
	}
	return a.claims(ctx, seatClaimCols+` WHERE s.id IN (?`+strings.Repeat(", ?", len(seatIDs)-1)+`)`, anys(seatIDs)...)
}

func (a *Audit) claims(ctx context.Context, q string, args ...any) ([]invariants.SeatClaim, error) {
	rows, err := a.s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("booking: audit seats: %w", err)
	}
	defer rows.Close()
	var out []invariants.SeatClaim
	for rows.Next() {
		var c invariants.SeatClaim
		if err := rows.Scan(&c.SeatID, &c.SeatStatus, &c.BookingID, &c.BookingStatus); err != nil {
			return nil, fmt.Errorf("booking: audit seats: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// States returns the status and amount of the given bookings.
func (a *Audit) States(ctx context.Context, ids []string) ([]invariants.BookingState, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := a.s.db.QueryContext(ctx, `SELECT id, status, amount_cents FROM bookings WHERE id IN (?`+
		strings.Repeat(", ?", len(ids)-1)+`)`, anys(ids)...)
	if err != nil {
		return nil, fmt.Errorf("booking: audit %d bookings: %w", len(ids), err)
	}
	defer rows.Close()
	out := make([]invariants.BookingState, 0, len(ids))
	for rows.Next() {
		var b invariants.BookingState
		if err := rows.Scan(&b.ID, &b.Status, &b.AmountCents); err != nil {
			return nil, fmt.Errorf("booking: audit bookings: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Page returns booking ids after the given one, by primary key.
func (a *Audit) Page(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := a.s.db.QueryContext(ctx, `SELECT id FROM bookings WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("booking: audit page: %w", err)
	}
	defer rows.Close()
	out := make([]string, 0, limit)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("booking: audit page: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Total returns how many bookings there are, from the counts the triggers
// keep.
func (a *Audit) Total(ctx context.Context) (int, error) {
	st, err := a.s.Stats(ctx)
	return st.Total, err
}

func anys(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
