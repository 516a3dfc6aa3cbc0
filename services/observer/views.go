package observer

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sagaboard/sagaboard/services/sqlite"
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
	q := `SELECT seq, message_id, routing_key, booking_id, type, source, attempt, published_at, observed_at, payload
		FROM events WHERE booking_id IN (?` + strings.Repeat(", ?", len(bookingIDs)-1) + `) ORDER BY booking_id, seq`
	rows, err := s.db.R.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("observer: events of %d bookings: %w", len(bookingIDs), err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Event
		var pub, obs int64
		var p []byte
		if err := rows.Scan(&e.Seq, &e.MessageID, &e.Queue, &e.BookingID, &e.Type, &e.Source, &e.Attempt, &pub, &obs, &p); err != nil {
			return nil, fmt.Errorf("observer: scan event: %w", err)
		}
		e.At, e.ObservedAt, e.Payload = sqlite.Time(pub), sqlite.Time(obs), json.RawMessage(p)
		// A booking stuck in a retry loop can gather many events; the
		// timeline needs the first ones and the count, not all of them.
		if len(out[e.BookingID]) < 1000 {
			out[e.BookingID] = append(out[e.BookingID], e)
		}
	}
	return out, rows.Err()
}
