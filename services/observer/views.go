package observer

import (
	"context"
	"fmt"
	"strings"
)

// MaxEventsOf bounds how many bookings EventsOf looks up at once, so one call
// stays one modest query.
const MaxEventsOf = 200

// EventsOf returns the events of several bookings in one query, each
// booking's in the order they were observed. The dashboard uses it to draw a
// page of timelines without a query per booking. Ids past MaxEventsOf are
// ignored.
func (s *Service) EventsOf(ctx context.Context, bookingIDs []string) (map[string][]Event, error) {
	out := make(map[string][]Event, len(bookingIDs))
	if len(bookingIDs) == 0 {
		return out, nil
	}
	if len(bookingIDs) > MaxEventsOf {
		bookingIDs = bookingIDs[:MaxEventsOf]
	}
	args := make([]any, len(bookingIDs))
	for i, id := range bookingIDs {
		args[i] = id
	}
	// The (booking_id, seq) index answers each IN term with a range scan.
	q := `SELECT ` + eventCols + `
		FROM events WHERE booking_id IN (?` + strings.Repeat(", ?", len(bookingIDs)-1) + `) ORDER BY booking_id, seq`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("observer: events of %d bookings: %w", len(bookingIDs), err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		// A booking stuck in a retry loop can gather many events; the
		// timeline needs the first ones and the count, not all of them.
		if len(out[e.BookingID]) < 1000 {
			out[e.BookingID] = append(out[e.BookingID], e)
		}
	}
	return out, rows.Err()
}
