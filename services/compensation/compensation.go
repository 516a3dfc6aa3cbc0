// Package compensation is the Compensation participant. It undoes nothing
// itself, because it owns none of the data a saga changed: it decides which
// undos a failure needs and starts the undo chain on the bus, where each owner
// undoes its own part (Payment refunds, Booking releases and cancels, and then
// the user is told).
package compensation

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// Service is the Compensation participant.
type Service struct {
	db     *store.DB
	runner store.Runner
	log    *slog.Logger
}

// New opens Compensation's store and returns the service.
func New(ctx context.Context, db *store.DB, bus saga.Bus, log *slog.Logger) (*Service, error) {
	err := db.Migrate(ctx, "compensation", store.Exec(`CREATE TABLE IF NOT EXISTS compensations (
		booking_id TEXT PRIMARY KEY,
		event      TEXT NOT NULL,
		reason     TEXT NOT NULL,
		at         INTEGER NOT NULL
	) WITHOUT ROWID`))
	if err != nil {
		return nil, fmt.Errorf("compensation: %w", err)
	}
	log = log.With("participant", saga.PartCompensation)
	s := &Service{db: db, log: log}
	s.runner = store.Runner{DB: db, Relay: store.NewRelay(db, bus, log), Bus: bus, Log: log}
	return s, nil
}

// SlowWith lets slow motion (sw.Slow) reach the undo chain's first hop, so
// a compensation can be watched as a booking is. Call it before Run;
// Compensation has no switch of its own, so nothing else of sw applies.
func (s *Service) SlowWith(sw *saga.Switches) { s.runner.Switches = sw }

// Run consumes compensation_queue until ctx ends. Compensation has no
// failure switch: an undo that could be made to fail would leave a person
// unable to tell what the saga guarantees.
func (s *Service) Run(ctx context.Context) error {
	return s.runner.Run(ctx, store.Consumption{Queue: saga.CompensationQueue, Effect: s.UndoOnFailure})
}

// UndoOnFailure starts the undo chain for a failed booking, once per booking.
func (s *Service) UndoOnFailure(ctx context.Context, tx *store.Tx, m saga.Message) ([]saga.Message, error) {
	e, err := saga.Expect(m, saga.TypePaymentServiceFailed, saga.TypeSeatUpdatingServiceFailed, saga.TypeDeadlineExceeded)
	if err != nil {
		return nil, err
	}
	if e.Event != m.Type {
		return nil, saga.Poison("event %q does not match message type %q", e.Event, m.Type)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO compensations (booking_id, event, reason, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		e.Booking.ID, e.Event, e.Reason, time.Now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("compensation: record %s: %w", e.Booking.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		s.log.Info("booking is already being compensated", "booking", e.Booking.ID)
		return nil, nil
	}
	out := saga.Envelope{Booking: e.Booking, Event: e.Event, Reason: e.Reason, Cause: e.Reason, Injected: e.Injected}
	switch e.Event {
	case saga.TypeDeadlineExceeded:
		// Nobody failed; the booking is only slow, so any step may still be
		// in flight. Seats goes first: it owns the pivot, and either voids
		// the booking (then every later forward message is neutralised) or
		// says the seats are sold already (then the booking is confirmed
		// and nothing is undone).
		return []saga.Message{saga.NewMessage(saga.PartCompensation, saga.TypeSeatsVoidRequested, saga.SeatVoidQueue, out)}, nil
	case saga.TypeSeatUpdatingServiceFailed:
		// Payment charged before the seats failed: refund first; Payment
		// passes the undo on to Booking.
		return []saga.Message{saga.NewMessage(saga.PartCompensation, saga.TypeRefundRequested, saga.RefundQueue, out)}, nil
	}
	// Payment failed, so there is no charge to undo.
	out.Reason = "no charge to refund; release the seats"
	return []saga.Message{saga.NewMessage(saga.PartCompensation, saga.TypeSeatReleaseRequested, saga.SeatReleaseQueue, out)}, nil
}
