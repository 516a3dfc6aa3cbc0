package notification

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// Get returns the notice sent for one booking, or an error wrapping
// saga.ErrNotFound while the user has not been told yet. There is at most
// one: NotifyOnOutcome tells each booking's user once.
func (s *Service) Get(ctx context.Context, bookingID string) (Notice, error) {
	var n Notice
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT booking_id, user_id, success, text, at FROM notifications WHERE booking_id = ?`, bookingID).
		Scan(&n.BookingID, &n.UserID, &n.Success, &n.Text, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return n, fmt.Errorf("%w: no notice for booking %q", saga.ErrNotFound, bookingID)
	}
	if err != nil {
		return n, fmt.Errorf("notification: get %s: %w", bookingID, err)
	}
	n.At = store.Time(at)
	return n, nil
}
