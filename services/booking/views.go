package booking

import (
	"context"
	"fmt"
	"strings"
)

// GetMany returns the bookings with the given ids that exist, newest first,
// in one query. The dashboard uses it to redraw the bookings that changed
// since its last frame. At most MaxList ids are looked up.
func (s *Service) GetMany(ctx context.Context, ids []string) ([]Booking, error) {
	if len(ids) == 0 {
		return []Booking{}, nil
	}
	if len(ids) > MaxList {
		ids = ids[:MaxList]
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+bookingCols+` FROM bookings WHERE id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("booking: get %d bookings: %w", len(ids), err)
	}
	defer rows.Close()
	out := make([]Booking, 0, len(ids))
	for rows.Next() {
		b, err := scanBooking(rows)
		if err != nil {
			return nil, fmt.Errorf("booking: get many: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}
