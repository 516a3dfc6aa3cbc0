// Package seats is the SeatUpdating participant: it marks a paid booking's
// seats sold. Selling is the saga's pivot: once it has happened the booking is
// confirmed and nothing undoes it.
package seats

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// Service is the SeatUpdating participant.
type Service struct {
	db       *store.DB
	runner   store.Runner
	switches *saga.Switches
	log      *slog.Logger
}

// New opens SeatUpdating's store and returns the service.
func New(ctx context.Context, db *store.DB, bus saga.Bus, sw *saga.Switches, log *slog.Logger) (*Service, error) {
	// tickets is the record of sales: the primary key makes selling one seat
	// twice impossible, whatever any other store says.
	err := db.Migrate(ctx, "seats", store.Exec(`CREATE TABLE IF NOT EXISTS tickets (
		seat_id    TEXT PRIMARY KEY,
		booking_id TEXT NOT NULL,
		at         INTEGER NOT NULL
	) WITHOUT ROWID`, `CREATE INDEX IF NOT EXISTS tickets_booking ON tickets (booking_id)`,
		// voided lists bookings compensated at their deadline before their
		// seats were sold: a PaymentCompleted that arrives later must not
		// sell them.
		`CREATE TABLE IF NOT EXISTS voided (
			booking_id TEXT PRIMARY KEY,
			at         INTEGER NOT NULL
		) WITHOUT ROWID`))
	if err != nil {
		return nil, fmt.Errorf("seats: %w", err)
	}
	// On PostgreSQL the checker may run in another process, which reads
	// this store and cannot make the index it needs: make it here.
	if db.Postgres() {
		if _, err := (&Service{db: db}).Audit(ctx); err != nil {
			return nil, err
		}
	}
	log = log.With("participant", saga.PartSeats)
	s := &Service{db: db, switches: sw, log: log}
	s.runner = store.Runner{DB: db, Relay: store.NewRelay(db, bus, log), Bus: bus, Switches: sw, Log: log}
	return s, nil
}

// Run consumes seat_update_queue until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	return s.runner.Run(ctx,
		store.Consumption{Queue: saga.SeatUpdateQueue, Effect: s.SellOnPaymentCompleted, Switch: saga.PartSeats},
		// The void is an undo: the switches that slow or pause selling must
		// not hold it up, or a paused step could never be compensated.
		store.Consumption{Queue: saga.SeatVoidQueue, Effect: s.VoidOnDeadline},
	)
}

// VoidOnDeadline decides the race between a late sale and a deadline: if the
// seats are sold, the pivot stands and compensation stops here; otherwise the
// booking is voided, so a sale can never happen, and the undo goes on to
// Payment.
func (s *Service) VoidOnDeadline(ctx context.Context, tx *store.Tx, m saga.Message) ([]saga.Message, error) {
	e, err := saga.Expect(m, saga.TypeSeatsVoidRequested)
	if err != nil {
		return nil, err
	}
	var sold int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tickets WHERE booking_id = ?`, e.Booking.ID).Scan(&sold); err != nil {
		return nil, fmt.Errorf("seats: look up sale of %s: %w", e.Booking.ID, err)
	}
	if sold > 0 {
		note := saga.Envelope{Booking: e.Booking, Event: e.Event, Cause: e.Cause,
			Reason: "the seats were sold before the deadline: the pivot stands and the booking is confirmed"}
		return []saga.Message{saga.NewMessage(saga.PartSeats, saga.TypeVoidRefused, saga.KeyNotes, note)}, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO voided (booking_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING`, e.Booking.ID, time.Now().UnixMilli()); err != nil {
		return nil, fmt.Errorf("seats: void %s: %w", e.Booking.ID, err)
	}
	out := saga.Envelope{Booking: e.Booking, Event: e.Event, Cause: e.Cause, Reason: "voided: these seats will not be sold to this booking"}
	return []saga.Message{saga.NewMessage(saga.PartSeats, saga.TypeRefundRequested, saga.RefundQueue, out)}, nil
}

// SellOnPaymentCompleted sells the seats, or reports the failure to
// Compensation.
func (s *Service) SellOnPaymentCompleted(ctx context.Context, tx *store.Tx, m saga.Message) ([]saga.Message, error) {
	e, err := saga.Expect(m, saga.TypePaymentCompleted)
	if err != nil {
		return nil, err
	}
	fail := func(reason string, injected bool) []saga.Message {
		out := saga.Envelope{Booking: e.Booking, Event: saga.TypeSeatUpdatingServiceFailed, Reason: reason, Injected: injected}
		return []saga.Message{saga.NewMessage(saga.PartSeats, saga.TypeSeatUpdatingServiceFailed, saga.CompensationQueue, out)}
	}
	var voided int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM voided WHERE booking_id = ?`, e.Booking.ID).Scan(&voided); err != nil {
		return nil, fmt.Errorf("seats: look up void of %s: %w", e.Booking.ID, err)
	}
	if voided > 0 {
		s.log.Info("late payment for a voided booking; not selling", "booking", e.Booking.ID)
		note := saga.Envelope{Booking: e.Booking, Reason: "late PaymentCompleted neutralised: the booking was compensated at its deadline, so its seats were not sold (the charge is refunded)"}
		return []saga.Message{saga.NewMessage(saga.PartSeats, saga.TypeLateMessageNeutralised, saga.KeyNotes, note)}, nil
	}
	if fault, ok := s.switches.Decide(saga.PartSeats, e.Booking.UserID, rand.Float64()); ok {
		return fail("seat update failed: "+fault, true), nil
	}
	now := time.Now().UnixMilli()
	var inserted []string // this handling's tickets: all an undo may take back
	for _, seat := range e.Booking.Seats {
		var owner string
		err := tx.QueryRowContext(ctx, `SELECT booking_id FROM tickets WHERE seat_id = ?`, seat).Scan(&owner)
		switch {
		case err == sql.ErrNoRows:
		case err != nil:
			return nil, fmt.Errorf("seats: look up %s: %w", seat, err)
		case owner == e.Booking.ID:
			continue // sold to this booking already
		default:
			// A real failure, not an injected one: the transaction commits,
			// since it records the message as handled, so the undo is ours
			// to do. It takes back only what this handling inserted: a
			// ticket sold to the booking before stands, whatever a later
			// message claims (a PaymentCompleted may be forged).
			for _, mine := range inserted {
				if _, err := tx.ExecContext(ctx, `DELETE FROM tickets WHERE seat_id = ? AND booking_id = ?`, mine, e.Booking.ID); err != nil {
					return nil, fmt.Errorf("seats: undo partial sale of %s: %w", mine, err)
				}
			}
			s.log.Warn("seat already sold to another booking", "seat", seat, "booking", e.Booking.ID, "owner", owner)
			return fail(fmt.Sprintf("seat %s is already sold to booking %s", seat, owner), false), nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tickets (seat_id, booking_id, at) VALUES (?, ?, ?)`, seat, e.Booking.ID, now); err != nil {
			return nil, fmt.Errorf("seats: sell %s: %w", seat, err)
		}
		inserted = append(inserted, seat)
	}
	out := saga.Envelope{Booking: e.Booking, IsSuccess: saga.Bool(true), Reason: "sold " + strings.Join(e.Booking.Seats, " ")}
	return []saga.Message{saga.NewMessage(saga.PartSeats, saga.TypeSeatsSold, saga.NotificationQueue, out)}, nil
}

// Sold returns how many tickets were issued, for checks and metrics.
func (s *Service) Sold(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM tickets`).Scan(&n); err != nil {
		return 0, fmt.Errorf("seats: count tickets: %w", err)
	}
	return n, nil
}
