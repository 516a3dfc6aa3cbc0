// Package payment is the Payment participant: it charges a booking and, when
// Compensation asks, refunds it. Its ledger is its own; nobody else reads it.
package payment

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

// Service is the Payment participant.
type Service struct {
	db       *store.DB
	runner   store.Runner
	switches *saga.Switches
	log      *slog.Logger
}

// Entry is one line of the ledger.
type Entry struct {
	BookingID   string    `json:"booking_id"`
	Kind        string    `json:"kind"` // charge or refund
	AmountCents int64     `json:"amount_cents"`
	At          time.Time `json:"at"`
}

// New opens Payment's store and returns the service.
func New(ctx context.Context, db *store.DB, bus saga.Bus, sw *saga.Switches, log *slog.Logger) (*Service, error) {
	err := db.Migrate(ctx, "payment", store.Exec(`CREATE TABLE IF NOT EXISTS ledger (
		booking_id   TEXT NOT NULL,
		kind         TEXT NOT NULL CHECK (kind IN ('charge', 'refund')),
		amount_cents INTEGER NOT NULL,
		at           INTEGER NOT NULL,
		PRIMARY KEY (booking_id, kind)
	) WITHOUT ROWID`, `CREATE INDEX IF NOT EXISTS ledger_at ON ledger (at)`,
		// closed lists bookings whose undo reached Payment: a BookingCreated
		// that arrives after it (payment was paused past the deadline) must
		// not charge.
		`CREATE TABLE IF NOT EXISTS closed (
			booking_id TEXT PRIMARY KEY,
			at         INTEGER NOT NULL
		) WITHOUT ROWID`),
		// decided lists bookings Payment has charged or declined: the
		// decision is the booking's, not the message's, so the same
		// booking sent again under another message id (a producer that
		// retried, a copy from a second process) is decided once. Bookings
		// charged before it came are decided too.
		store.Exec(`CREATE TABLE IF NOT EXISTS decided (
			booking_id TEXT PRIMARY KEY,
			at         INTEGER NOT NULL
		) WITHOUT ROWID`,
			`INSERT INTO decided (booking_id, at) SELECT booking_id, at FROM ledger WHERE kind = 'charge' ON CONFLICT DO NOTHING`))
	if err != nil {
		return nil, fmt.Errorf("payment: %w", err)
	}
	log = log.With("participant", saga.PartPayment)
	s := &Service{db: db, switches: sw, log: log}
	s.runner = store.Runner{DB: db, Relay: store.NewRelay(db, bus, log), Bus: bus, Switches: sw, Log: log}
	return s, nil
}

// Run consumes payment_queue and refund_queue until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	return s.runner.Run(ctx,
		store.Consumption{Queue: saga.PaymentQueue, Effect: s.ChargeOnBookingCreated, Switch: saga.PartPayment},
		// Refunds ignore the switches: an undo must not be made to fail by
		// the fault a person injected to cause it.
		store.Consumption{Queue: saga.RefundQueue, Effect: s.RefundOnRefundRequested},
	)
}

// ChargeOnBookingCreated charges the booking, or declines it when the
// payment switch says so.
func (s *Service) ChargeOnBookingCreated(ctx context.Context, tx *store.Tx, m saga.Message) ([]saga.Message, error) {
	e, err := saga.Expect(m, saga.TypeBookingCreated)
	if err != nil {
		return nil, err
	}
	var closed int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM closed WHERE booking_id = ?`, e.Booking.ID).Scan(&closed); err != nil {
		return nil, fmt.Errorf("payment: look up %s: %w", e.Booking.ID, err)
	}
	if closed > 0 {
		s.log.Info("late booking for a compensated booking; not charging", "booking", e.Booking.ID)
		note := saga.Envelope{Booking: e.Booking, Reason: "late BookingCreated neutralised: the booking was already compensated, so nothing was charged"}
		return []saga.Message{saga.NewMessage(saga.PartPayment, saga.TypeLateMessageNeutralised, saga.KeyNotes, note)}, nil
	}
	// The booking is decided once, whichever copy of its BookingCreated
	// comes first; on PostgreSQL a twin process deciding the same booking
	// waits on this row and then finds it taken.
	res, err := tx.ExecContext(ctx, `INSERT INTO decided (booking_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING`, e.Booking.ID, time.Now().UnixMilli())
	var fresh int64
	if err == nil {
		fresh, err = res.RowsAffected()
	}
	if err != nil {
		return nil, fmt.Errorf("payment: decide %s: %w", e.Booking.ID, err)
	}
	if fresh == 0 {
		s.log.Info("booking already decided; this copy changes nothing", "booking", e.Booking.ID, "message", m.ID)
		note := saga.Envelope{Booking: e.Booking, Reason: "a second BookingCreated for a booking already charged or declined, under another message id: neutralised, nothing charged again"}
		return []saga.Message{saga.NewMessage(saga.PartPayment, saga.TypeLateMessageNeutralised, saga.KeyNotes, note)}, nil
	}
	if fault, ok := s.switches.Decide(saga.PartPayment, e.Booking.UserID, rand.Float64()); ok {
		out := saga.Envelope{Booking: e.Booking, Event: saga.TypePaymentServiceFailed,
			Reason: "declined: " + fault, Injected: true}
		return []saga.Message{saga.NewMessage(saga.PartPayment, saga.TypePaymentServiceFailed, saga.CompensationQueue, out)}, nil
	}
	// ON CONFLICT: a charge cannot be made twice, whatever decided says.
	_, err = tx.ExecContext(ctx, `INSERT INTO ledger (booking_id, kind, amount_cents, at) VALUES (?, 'charge', ?, ?) ON CONFLICT DO NOTHING`,
		e.Booking.ID, e.Booking.AmountCents, time.Now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("payment: charge %s: %w", e.Booking.ID, err)
	}
	out := saga.Envelope{Booking: e.Booking, Reason: fmt.Sprintf("charged %s", saga.Money(e.Booking.AmountCents))}
	return []saga.Message{saga.NewMessage(saga.PartPayment, saga.TypePaymentCompleted, saga.SeatUpdateQueue, out)}, nil
}

// RefundOnRefundRequested refunds a charge once, then passes the undo on to
// Booking to release the seats.
func (s *Service) RefundOnRefundRequested(ctx context.Context, tx *store.Tx, m saga.Message) ([]saga.Message, error) {
	e, err := saga.Expect(m, saga.TypeRefundRequested)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO closed (booking_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING`, e.Booking.ID, time.Now().UnixMilli()); err != nil {
		return nil, fmt.Errorf("payment: close %s: %w", e.Booking.ID, err)
	}
	var charged int64
	err = tx.QueryRowContext(ctx, `SELECT amount_cents FROM ledger WHERE booking_id = ? AND kind = 'charge'`, e.Booking.ID).Scan(&charged)
	out := saga.Envelope{Booking: e.Booking, Event: e.Event, Cause: e.Cause, Injected: e.Injected}
	switch {
	case err == sql.ErrNoRows:
		s.log.Info("refund requested for a booking that was never charged", "booking", e.Booking.ID)
		out.Reason = "nothing was charged, so nothing to refund"
	case err != nil:
		return nil, fmt.Errorf("payment: find charge %s: %w", e.Booking.ID, err)
	default:
		res, err := tx.ExecContext(ctx, `INSERT INTO ledger (booking_id, kind, amount_cents, at) VALUES (?, 'refund', ?, ?) ON CONFLICT DO NOTHING`,
			e.Booking.ID, charged, time.Now().UnixMilli())
		if err != nil {
			return nil, fmt.Errorf("payment: refund %s: %w", e.Booking.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			out.RefundedCents = charged
			out.Reason = "refunded " + saga.Money(charged)
		} else {
			out.Reason = "already refunded"
		}
	}
	return []saga.Message{saga.NewMessage(saga.PartPayment, saga.TypePaymentRefunded, saga.SeatReleaseQueue, out)}, nil
}

// Ledger lists the ledger, newest first, at most limit lines.
func (s *Service) Ledger(ctx context.Context, bookingID string, limit int) ([]Entry, error) {
	q := `SELECT booking_id, kind, amount_cents, at FROM ledger ORDER BY at DESC LIMIT ?`
	args := []any{limit}
	if bookingID != "" {
		q = `SELECT booking_id, kind, amount_cents, at FROM ledger WHERE booking_id = ? ORDER BY at DESC LIMIT ?`
		args = []any{bookingID, limit}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("payment: list ledger: %w", err)
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var e Entry
		var at int64
		if err := rows.Scan(&e.BookingID, &e.Kind, &e.AmountCents, &at); err != nil {
			return nil, fmt.Errorf("payment: scan ledger: %w", err)
		}
		e.At = store.Time(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
