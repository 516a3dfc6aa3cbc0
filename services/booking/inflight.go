package booking

import (
	"context"
	"fmt"
)

// InFlight returns the bookings whose saga has not finished, oldest first:
// first the pending ones, then those decided but whose user has not been
// told yet. At most limit of each. The queue panel groups them by the queue
// their next step waits in, and the oldest are the ones in trouble.
//
// Both halves are index scans that read only the rows they return:
// pending through (status, id), whose ids sort by creation time, and the
// untold through the partial index bookings_untold, named because the
// planner, without statistics, would pick the index on notified alone.
func (s *Service) InFlight(ctx context.Context, limit int) ([]Booking, error) {
	if limit <= 0 || limit > MaxList {
		limit = MaxList
	}
	out := []Booking{}
	for _, q := range []string{
		`SELECT ` + bookingCols + ` FROM bookings WHERE status = 'pending' ORDER BY id LIMIT ?`,
		`SELECT ` + bookingCols + ` FROM bookings INDEXED BY bookings_untold WHERE notified = 0 AND status <> 'pending' ORDER BY id LIMIT ?`,
	} {
		rows, err := s.db.QueryContext(ctx, q, limit)
		if err != nil {
			return nil, fmt.Errorf("booking: list in-flight bookings: %w", err)
		}
		for rows.Next() {
			b, err := scanBooking(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("booking: scan in-flight booking: %w", err)
			}
			out = append(out, b)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("booking: list in-flight bookings: %w", err)
		}
	}
	return out, nil
}
