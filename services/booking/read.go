package booking

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// MaxList bounds one page of a list.
const MaxList = 500

const bookingCols = `id, user_id, seats, amount_cents, status, notified, reason, created_at, updated_at`

type scanner interface{ Scan(...any) error }

func scanBooking(r scanner) (Booking, error) {
	var b Booking
	var seats string
	var created, updated int64
	if err := r.Scan(&b.ID, &b.UserID, &seats, &b.AmountCents, &b.Status, &b.Notified, &b.Reason, &created, &updated); err != nil {
		return b, err
	}
	if err := json.Unmarshal([]byte(seats), &b.Seats); err != nil {
		return b, fmt.Errorf("booking: stored seats of %s: %w", b.ID, err)
	}
	b.CreatedAt, b.UpdatedAt = store.Time(created), store.Time(updated)
	return b, nil
}

// Get returns one booking, or an error wrapping saga.ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (Booking, error) {
	b, err := scanBooking(s.db.QueryRowContext(ctx, `SELECT `+bookingCols+` FROM bookings WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return b, fmt.Errorf("%w: no booking %q", saga.ErrNotFound, truncate(id, 64))
	}
	if err != nil {
		return b, fmt.Errorf("booking: get %s: %w", id, err)
	}
	return b, nil
}

// List returns bookings newest first. Ids sort by creation time, so ordering
// by id uses the primary key or the (status, id) and (user_id, id) indexes,
// and paging by id (Before, After) is a range of those indexes: a page
// costs the same at the 50,000th booking as at the first.
//
// A search is two such ranges, merged here: ids from the prefix up to the
// prefix followed by "~" (above every id character), and the user's
// bookings in (user_id, id). One query with OR would have to sort every
// booking of a busy user to find the newest few.
func (s *Service) List(ctx context.Context, f Filter) ([]Booking, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	if f.Limit > MaxList {
		f.Limit = MaxList
	}
	if f.Search == nil {
		return s.list(ctx, f, nil, nil)
	}
	out, err := s.list(ctx, f, []string{"user_id = ?"}, []any{f.Search.User})
	if err != nil || f.Search.IDPrefix == "" {
		return out, err
	}
	byID, err := s.list(ctx, f, []string{"id >= ?", "id < ?"}, []any{f.Search.IDPrefix, f.Search.IDPrefix + "~"})
	if err != nil {
		return nil, err
	}
	return mergeNewest(out, byID, f.Limit, f.After != ""), nil
}

// list runs one indexed range of List, with where and args added to the
// filter's own.
func (s *Service) list(ctx context.Context, f Filter, where []string, args []any) ([]Booking, error) {
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.UserID != "" {
		where, args = append(where, "user_id = ?"), append(args, f.UserID)
	}
	if f.Before != "" {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	order := "DESC"
	if f.After != "" {
		// The page just newer than After is the oldest Limit above it.
		where, args, order = append(where, "id > ?"), append(args, f.After), "ASC"
	}
	q := `SELECT ` + bookingCols + ` FROM bookings`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id ` + order + ` LIMIT ?`
	args = append(args, f.Limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("booking: list: %w", err)
	}
	defer rows.Close()
	out := []Booking{}
	for rows.Next() {
		b, err := scanBooking(rows)
		if err != nil {
			return nil, fmt.Errorf("booking: list: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("booking: list: %w", err)
	}
	if f.After != "" {
		slices.Reverse(out)
	}
	return out, nil
}

// mergeNewest merges two lists sorted newest first into one without
// repeats, keeping the newest limit, or the oldest limit when paging
// towards the newest (after).
func mergeNewest(a, b []Booking, limit int, after bool) []Booking {
	out := make([]Booking, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || (len(a) > 0 && a[0].ID > b[0].ID):
			out, a = append(out, a[0]), a[1:]
		case len(a) == 0 || b[0].ID > a[0].ID:
			out, b = append(out, b[0]), b[1:]
		default: // the same booking, found both ways
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	if len(out) <= limit {
		return out
	}
	if after {
		return out[len(out)-limit:]
	}
	return out[:limit]
}

// Seats returns the seat map in row order.
func (s *Service) Seats(ctx context.Context) ([]Seat, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, status, booking_id FROM seats ORDER BY pos`)
	if err != nil {
		return nil, fmt.Errorf("booking: seats: %w", err)
	}
	defer rows.Close()
	out := make([]Seat, 0, s.venue.Rows*s.venue.Cols)
	for rows.Next() {
		var st Seat
		if err := rows.Scan(&st.ID, &st.Status, &st.BookingID); err != nil {
			return nil, fmt.Errorf("booking: seats: %w", err)
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// Stats counts bookings by status, from the counts the triggers keep: one
// read of four rows, however many bookings there are.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	rows, err := s.db.QueryContext(ctx, `SELECT k, n FROM booking_counts`)
	if err != nil {
		return st, fmt.Errorf("booking: stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return st, fmt.Errorf("booking: stats: %w", err)
		}
		switch k {
		case StatusPending:
			st.Pending = n
		case StatusConfirmed:
			st.Confirmed = n
		case StatusCompensated:
			st.Compensated = n
		case "notified":
			st.Notified = n
		}
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("booking: stats: %w", err)
	}
	st.Total = st.Pending + st.Confirmed + st.Compensated
	return st, nil
}

// Ping checks the store, for /healthz.
func (s *Service) Ping(ctx context.Context) error { return s.db.Ping(ctx) }
