// Package notification is the Notification participant: it tells the user
// how their booking ended. A failure here is retried with backoff through the
// broker and never changes the booking's outcome.
package notification

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// Service is the Notification participant.
type Service struct {
	db       *store.DB
	runner   store.Runner
	switches *saga.Switches
	log      *slog.Logger
}

// Notice is one message a user was sent.
type Notice struct {
	BookingID string    `json:"booking_id"`
	UserID    string    `json:"user_id"`
	Success   bool      `json:"success"`
	Text      string    `json:"text"`
	At        time.Time `json:"at"`
}

// New opens Notification's store and returns the service.
func New(ctx context.Context, db *store.DB, bus saga.Bus, sw *saga.Switches, log *slog.Logger) (*Service, error) {
	err := db.Migrate(ctx, "notification", store.Exec(`CREATE TABLE IF NOT EXISTS notifications (
		booking_id TEXT PRIMARY KEY,
		user_id    TEXT NOT NULL,
		success    INTEGER NOT NULL,
		text       TEXT NOT NULL,
		at         INTEGER NOT NULL
	) WITHOUT ROWID`,
		`CREATE INDEX IF NOT EXISTS notifications_user_at ON notifications (user_id, at)`,
		`CREATE INDEX IF NOT EXISTS notifications_at ON notifications (at)`))
	if err != nil {
		return nil, fmt.Errorf("notification: %w", err)
	}
	log = log.With("participant", saga.PartNotification)
	s := &Service{db: db, switches: sw, log: log}
	s.runner = store.Runner{DB: db, Relay: store.NewRelay(db, bus, log), Bus: bus, Switches: sw, Log: log}
	return s, nil
}

// Run consumes notification_queue until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	return s.runner.Run(ctx, store.Consumption{Queue: saga.NotificationQueue, Effect: s.NotifyOnOutcome, Switch: saga.PartNotification})
}

// NotifyOnOutcome tells the user, once per booking. When the switch makes it
// fail, the message goes to a retry queue that hands it back after a delay;
// after MaxNotificationAttempts it is dead-lettered for a person to replay.
func (s *Service) NotifyOnOutcome(ctx context.Context, tx *store.Tx, m saga.Message) ([]saga.Message, error) {
	e, err := saga.Expect(m, saga.TypeSeatsSold, saga.TypeBookingCancelled, saga.TypeNotificationRetry)
	if err != nil {
		return nil, err
	}
	if e.IsSuccess == nil {
		return nil, saga.Poison("isSuccess is missing")
	}
	var done int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM notifications WHERE booking_id = ?`, e.Booking.ID).Scan(&done)
	if err == nil {
		return nil, nil // told already; a second notice would only confuse
	}
	if err != sql.ErrNoRows {
		return nil, fmt.Errorf("notification: look up %s: %w", e.Booking.ID, err)
	}
	// Each attempt is a message of its own: fail_next=3 fails three
	// attempts, of one booking or of several.
	if fault, ok := s.switches.Decide(saga.PartNotification, e.Booking.UserID, rand.Float64()); ok {
		attempt := m.Attempt + 1
		if attempt > saga.MaxNotificationAttempts {
			return nil, saga.Poison("notification failed %d times (%s); giving up", m.Attempt, fault)
		}
		rq := saga.RetryQueueFor(attempt)
		out := e
		out.Reason = fmt.Sprintf("send failed: %s; retry %d of %d in %s", fault, attempt, saga.MaxNotificationAttempts, rq.Delay)
		out.Injected = true
		retry := saga.NewMessage(saga.PartNotification, saga.TypeNotificationRetry, rq.Name, out)
		retry.Attempt = attempt
		return []saga.Message{retry}, nil
	}
	word := "FAIL"
	if *e.IsSuccess {
		word = "SUCCESS"
	}
	text := fmt.Sprintf("Booking %s sent to user %s", word, e.Booking.UserID)
	_, err = tx.ExecContext(ctx, `INSERT INTO notifications (booking_id, user_id, success, text, at) VALUES (?, ?, ?, ?, ?)`,
		e.Booking.ID, e.Booking.UserID, *e.IsSuccess, text, time.Now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("notification: record %s: %w", e.Booking.ID, err)
	}
	s.log.Info(text, "booking", e.Booking.ID)
	out := saga.Envelope{Booking: e.Booking, IsSuccess: e.IsSuccess, Reason: text}
	return []saga.Message{saga.NewMessage(saga.PartNotification, saga.TypeBookingNotified, saga.KeyBookingNotified, out)}, nil
}

// List returns notices, newest first; userID filters when not empty.
func (s *Service) List(ctx context.Context, userID string, limit int) ([]Notice, error) {
	q := `SELECT booking_id, user_id, success, text, at FROM notifications ORDER BY at DESC LIMIT ?`
	args := []any{limit}
	if userID != "" {
		q = `SELECT booking_id, user_id, success, text, at FROM notifications WHERE user_id = ? ORDER BY at DESC LIMIT ?`
		args = []any{userID, limit}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("notification: list: %w", err)
	}
	defer rows.Close()
	out := []Notice{}
	for rows.Next() {
		var n Notice
		var at int64
		if err := rows.Scan(&n.BookingID, &n.UserID, &n.Success, &n.Text, &at); err != nil {
			return nil, fmt.Errorf("notification: scan: %w", err)
		}
		n.At = store.Time(at)
		out = append(out, n)
	}
	return out, rows.Err()
}
