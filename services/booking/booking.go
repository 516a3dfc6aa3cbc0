// Package booking is the Booking participant: it takes a booking request,
// holds the seats, and starts the saga. It owns the seat map and the bookings,
// so it is also where a booking's status lives: it hears from the bus when the
// seats were sold (confirmed), when it must release them (compensated), and
// when the user was told (notified).
package booking

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// Statuses of a booking and of a seat. The words live in services/saga;
// these names stay so callers of this package need not change.
const (
	StatusPending     = saga.StatusPending
	StatusConfirmed   = saga.StatusConfirmed
	StatusCompensated = saga.StatusCompensated

	SeatFree = saga.SeatFree
	SeatHeld = saga.SeatHeld
	SeatSold = saga.SeatSold
)

// Booking is a booking as the API shows it.
type Booking struct {
	ID          string    `json:"id"`
	UserID      string    `json:"user_id"`
	Seats       []string  `json:"seats"`
	AmountCents int64     `json:"amount_cents"`
	Status      string    `json:"status"`
	Notified    bool      `json:"notified"`
	Reason      string    `json:"reason,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Seat is one seat of the map.
type Seat struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	BookingID string `json:"booking_id"`
}

// Stats counts bookings by outcome.
type Stats struct {
	Total       int `json:"total"`
	Pending     int `json:"pending"`
	Confirmed   int `json:"confirmed"`
	Compensated int `json:"compensated"`
	Notified    int `json:"notified"`
}

// Filter narrows List.
type Filter struct {
	Status string
	UserID string
	Limit  int
	Before string // an id: list only bookings older than it, for paging
	// After is an id: list only the Limit bookings just newer than it,
	// still newest first, for paging back towards the newest.
	After string
	// Search, when not nil, keeps only the bookings it matches.
	Search *saga.Search
}

// Service is the Booking participant.
type Service struct {
	db     *store.DB
	relay  *store.Relay
	runner store.Runner
	venue  saga.Venue
	// deadline is how long a booking may stay pending before it is
	// compensated; 0 turns the check off.
	deadline time.Duration
	log      *slog.Logger
	// changed is called after every committed change with the booking id,
	// so the dashboard can push the new state. It must not block.
	changed func(id string)
}

// tables is Booking's first step, but for booking_counts, which each engine
// says in its own words.
var tables = []string{`CREATE TABLE IF NOT EXISTS venue (id INTEGER PRIMARY KEY CHECK (id = 1), rows INTEGER NOT NULL, cols INTEGER NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS seats (
			id         TEXT PRIMARY KEY,
			pos        INTEGER NOT NULL,
			status     TEXT NOT NULL DEFAULT 'free' CHECK (status IN ('free', 'held', 'sold')),
			booking_id TEXT NOT NULL DEFAULT ''
		) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS bookings (
			id           TEXT PRIMARY KEY,
			user_id      TEXT NOT NULL,
			seats        TEXT NOT NULL,
			amount_cents INTEGER NOT NULL,
			status       TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'compensated')),
			notified     INTEGER NOT NULL DEFAULT 0,
			reason       TEXT NOT NULL DEFAULT '',
			-- set once the deadline has sent the booking to compensation
			expired      INTEGER NOT NULL DEFAULT 0,
			created_at   INTEGER NOT NULL,
			updated_at   INTEGER NOT NULL
		) WITHOUT ROWID`,
	// Lists are newest first and filtered by status or user: these keep
	// them index scans however many bookings there are.
	`CREATE INDEX IF NOT EXISTS bookings_status ON bookings (status, id)`,
	`CREATE INDEX IF NOT EXISTS bookings_user ON bookings (user_id, id)`,
	`CREATE INDEX IF NOT EXISTS bookings_notified ON bookings (notified)`,
	// The queue panel lists decided bookings whose user is not told
	// yet, oldest first: a partial index holds exactly those, so the
	// list never walks the pending ones.
	`CREATE INDEX IF NOT EXISTS bookings_untold ON bookings (id) WHERE notified = 0 AND status <> 'pending'`,
	// Selling and releasing find a booking's seats by booking_id;
	// without this every confirmation scans the whole venue.
	`CREATE INDEX IF NOT EXISTS seats_booking ON seats (booking_id)`,
}

// sqliteCounted is booking_counts as SQLite files have had it since the
// first release.
var sqliteCounted = []string{
	// booking_counts keeps the counts by status, so /api/stats and the
	// dashboard's header cost the same at fifty thousand bookings as at
	// ten. Triggers keep it in step with every insert and update, in the
	// same transaction, so no code path can forget it. The first start
	// on an existing store seeds it from a count.
	`CREATE TABLE IF NOT EXISTS booking_counts (k TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID`,
	`INSERT INTO booking_counts (k, n) VALUES
			('pending',     (SELECT count(*) FROM bookings WHERE status = 'pending')),
			('confirmed',   (SELECT count(*) FROM bookings WHERE status = 'confirmed')),
			('compensated', (SELECT count(*) FROM bookings WHERE status = 'compensated')),
			('notified',    (SELECT count(*) FROM bookings WHERE notified = 1))
			ON CONFLICT DO NOTHING`,
	`CREATE TRIGGER IF NOT EXISTS bookings_counted_insert AFTER INSERT ON bookings BEGIN
			UPDATE booking_counts SET n = n + 1 WHERE k = NEW.status;
			UPDATE booking_counts SET n = n + NEW.notified WHERE k = 'notified';
		END`,
	`CREATE TRIGGER IF NOT EXISTS bookings_counted_status AFTER UPDATE OF status ON bookings WHEN OLD.status <> NEW.status BEGIN
			UPDATE booking_counts SET n = n - 1 WHERE k = OLD.status;
			UPDATE booking_counts SET n = n + 1 WHERE k = NEW.status;
		END`,
	`CREATE TRIGGER IF NOT EXISTS bookings_counted_notified AFTER UPDATE OF notified ON bookings WHEN OLD.notified <> NEW.notified BEGIN
			UPDATE booking_counts SET n = n + NEW.notified - OLD.notified WHERE k = 'notified';
		END`,
}

// pgCounted is booking_counts for PostgreSQL: a view that counts. A counter
// row that every booking's transaction updates is what SERIALIZABLE
// transactions collide on, and retrying them cut throughput tenfold;
// counting is an index-only scan of bookings_status and bookings_notified.
var pgCounted = []string{`CREATE OR REPLACE VIEW booking_counts AS
		          SELECT 'pending' AS k, count(*) AS n FROM bookings WHERE status = 'pending'
		UNION ALL SELECT 'confirmed', count(*) FROM bookings WHERE status = 'confirmed'
		UNION ALL SELECT 'compensated', count(*) FROM bookings WHERE status = 'compensated'
		UNION ALL SELECT 'notified', count(*) FROM bookings WHERE notified = 1`,
}

// New opens Booking's store, creating the venue at the given size the first
// time; later starts keep the venue they find.
func New(ctx context.Context, db *store.DB, bus saga.Bus, venue saga.Venue, deadline time.Duration, log *slog.Logger) (*Service, error) {
	err := db.Migrate(ctx, "booking", store.ByEngine(store.Exec(append(tables, sqliteCounted...)...), store.Exec(append(tables, pgCounted...)...)))
	if err != nil {
		return nil, fmt.Errorf("booking: %w", err)
	}
	v, err := ensureVenue(ctx, db, venue)
	if err != nil {
		return nil, err
	}
	log = log.With("participant", saga.PartBooking)
	s := &Service{db: db, venue: v, deadline: deadline, log: log, changed: func(string) {}}
	s.relay = store.NewRelay(db, bus, log)
	s.runner = store.Runner{DB: db, Relay: s.relay, Bus: bus, Log: log, Committed: func(m saga.Message) { s.changed(m.CorrelationID) }}
	return s, nil
}

// SlowWith lets slow motion (sw.Slow) reach Booking's consumers, so the
// last hops of a booking can be watched as the others are. Call it before
// Run; without it Booking's consumers are never slowed.
func (s *Service) SlowWith(sw *saga.Switches) { s.runner.Switches = sw }

func ensureVenue(ctx context.Context, db *store.DB, want saga.Venue) (saga.Venue, error) {
	var v saga.Venue
	err := db.QueryRowContext(ctx, `SELECT rows, cols FROM venue WHERE id = 1`).Scan(&v.Rows, &v.Cols)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("booking: read venue: %w", err)
	}
	if err := want.Validate(); err != nil {
		return v, fmt.Errorf("booking: %w", err)
	}
	_, err = db.Write(ctx, func(tx *store.Tx) ([]saga.Message, error) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO venue (id, rows, cols) VALUES (1, ?, ?)`, want.Rows, want.Cols); err != nil {
			return nil, fmt.Errorf("booking: create venue: %w", err)
		}
		for i, id := range want.SeatIDs() {
			if _, err := tx.ExecContext(ctx, `INSERT INTO seats (id, pos) VALUES (?, ?)`, id, i); err != nil {
				return nil, fmt.Errorf("booking: create seat %s: %w", id, err)
			}
		}
		return nil, nil
	})
	return want, err
}

// OnChange sets the function called after each committed change.
func (s *Service) OnChange(fn func(id string)) { s.changed = fn }

// Venue returns the size of the seat map.
func (s *Service) Venue() saga.Venue { return s.venue }

// Run relays the outbox, consumes Booking's queues and enforces the
// deadline until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if s.deadline > 0 {
		wg.Go(func() { s.enforceDeadline(ctx) })
	}
	err := s.runner.Run(ctx,
		store.Consumption{Queue: saga.SeatReleaseQueue, Effect: s.ReleaseOnUndo},
		store.Consumption{Queue: saga.BookingUpdateQueue, Effect: s.UpdateOnOutcome},
	)
	wg.Wait()
	return err
}

// Create validates a request, holds its seats and commits the booking with
// the BookingCreated message in one transaction: once this returns, the saga
// will run even if the process dies the next instant.
func (s *Service) Create(ctx context.Context, userID string, seats []string) (Booking, error) {
	if err := saga.ValidateRequest(s.venue, userID, seats); err != nil {
		return Booking{}, err
	}
	now := time.Now().UTC()
	b := Booking{ID: saga.NewID(), UserID: userID, Seats: seats, AmountCents: saga.Amount(len(seats)),
		Status: StatusPending, CreatedAt: now, UpdatedAt: now}
	_, err := s.db.Write(ctx, func(tx *store.Tx) ([]saga.Message, error) {
		for _, seat := range seats {
			// The seat row is only ever changed under the one writer, so
			// this check and the update below cannot interleave with another
			// booking's.
			res, err := tx.ExecContext(ctx, `UPDATE seats SET status = 'held', booking_id = ? WHERE id = ? AND status = 'free'`, b.ID, seat)
			if err != nil {
				return nil, fmt.Errorf("booking: hold %s: %w", seat, err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				var status string
				_ = tx.QueryRowContext(ctx, `SELECT status FROM seats WHERE id = ?`, seat).Scan(&status)
				return nil, fmt.Errorf("%w: seat %s is %s", saga.ErrConflict, seat, status)
			}
		}
		seatsJSON, _ := json.Marshal(seats)
		_, err := tx.ExecContext(ctx, `INSERT INTO bookings (id, user_id, seats, amount_cents, status, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?)`,
			b.ID, b.UserID, string(seatsJSON), b.AmountCents, now.UnixMilli(), now.UnixMilli())
		if err != nil {
			return nil, fmt.Errorf("booking: insert: %w", err)
		}
		e := saga.Envelope{Booking: saga.Booking{ID: b.ID, UserID: b.UserID, Seats: seats, AmountCents: b.AmountCents},
			Reason: fmt.Sprintf("held %s for %s", strings.Join(seats, " "), b.UserID)}
		return []saga.Message{saga.NewMessage(saga.PartBooking, saga.TypeBookingCreated, saga.PaymentQueue, e)}, nil
	})
	if err != nil {
		return Booking{}, err
	}
	s.changed(b.ID)
	return b, nil
}

// ReleaseOnUndo is Booking's undo: free the held seats and cancel the
// booking, then have the user told. It is the last undo of the chain, so when
// it commits the booking is compensated.
func (s *Service) ReleaseOnUndo(ctx context.Context, tx *store.Tx, m saga.Message) ([]saga.Message, error) {
	e, err := saga.Expect(m, saga.TypeSeatReleaseRequested, saga.TypePaymentRefunded)
	if err != nil {
		return nil, err
	}
	var status string
	err = tx.QueryRowContext(ctx, `SELECT status FROM bookings WHERE id = ?`, e.Booking.ID).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		s.log.Warn("release asked for a booking this store never had; ignoring", "booking", e.Booking.ID, "message_id", m.ID)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("booking: read %s: %w", e.Booking.ID, err)
	}
	if status != StatusPending {
		// Confirmed is past the pivot and cannot be undone; compensated is
		// done already.
		s.log.Info("release asked for a booking that is no longer pending; ignoring", "booking", e.Booking.ID, "status", status)
		return nil, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE seats SET status = 'free', booking_id = '' WHERE booking_id = ? AND status = 'held'`, e.Booking.ID); err != nil {
		return nil, fmt.Errorf("booking: release seats of %s: %w", e.Booking.ID, err)
	}
	reason := e.Cause
	if reason == "" {
		reason = e.Event
	}
	if _, err := tx.ExecContext(ctx, `UPDATE bookings SET status = 'compensated', reason = ?, updated_at = ? WHERE id = ?`,
		truncate(reason, 500), time.Now().UnixMilli(), e.Booking.ID); err != nil {
		return nil, fmt.Errorf("booking: cancel %s: %w", e.Booking.ID, err)
	}
	out := saga.Envelope{Booking: e.Booking, Event: e.Event, IsSuccess: saga.Bool(false), Cause: e.Cause, Injected: e.Injected,
		Reason: "released " + strings.Join(e.Booking.Seats, " ") + ", booking cancelled"}
	return []saga.Message{saga.NewMessage(saga.PartBooking, saga.TypeBookingCancelled, saga.NotificationQueue, out)}, nil
}

// UpdateOnOutcome records what other participants report: the seats were
// sold (the pivot: confirmed), or the user was told (notified).
func (s *Service) UpdateOnOutcome(ctx context.Context, tx *store.Tx, m saga.Message) ([]saga.Message, error) {
	switch m.Type {
	case saga.TypeBookingCancelled, saga.TypeNotificationRetry:
		return nil, nil // our own message, or a retry: nothing for Booking to do
	}
	e, err := saga.Expect(m, saga.TypeSeatsSold, saga.TypeBookingNotified)
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixMilli()
	var res sql.Result
	if m.Type == saga.TypeSeatsSold {
		if _, err := tx.ExecContext(ctx, `UPDATE seats SET status = 'sold' WHERE booking_id = ?`, e.Booking.ID); err != nil {
			return nil, fmt.Errorf("booking: mark seats of %s sold: %w", e.Booking.ID, err)
		}
		res, err = tx.ExecContext(ctx, `UPDATE bookings SET status = 'confirmed', updated_at = ? WHERE id = ? AND status = 'pending'`, now, e.Booking.ID)
	} else {
		res, err = tx.ExecContext(ctx, `UPDATE bookings SET notified = 1, updated_at = ? WHERE id = ? AND notified = 0`, now, e.Booking.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("booking: update %s: %w", e.Booking.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM bookings WHERE id = ?`, e.Booking.ID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			s.log.Warn("outcome for a booking this store never had; ignoring", "booking", e.Booking.ID, "type", m.Type)
		}
	}
	return nil, nil
}

// enforceDeadline sends every booking pending longer than the deadline to
// compensation, once. It checks a few times per deadline, at most every
// second, and reads only pending bookings, which the status index finds.
func (s *Service) enforceDeadline(ctx context.Context) {
	every := min(s.deadline/4, time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := s.ExpireOverdue(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("deadline check failed; will retry", "err", err)
		} else if n > 0 {
			s.log.Info("bookings passed their deadline; compensating", "count", n, "deadline", s.deadline)
		}
	}
}

// ExpireOverdue sends bookings pending since before now-deadline to
// compensation and returns how many it sent.
func (s *Service) ExpireOverdue(ctx context.Context, now time.Time) (int, error) {
	cutoff := now.Add(-s.deadline).UnixMilli()
	// Look first with a reader: almost always nothing is overdue, and the
	// one writer connection is busy enough under load.
	var any int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM bookings WHERE status = 'pending' AND expired = 0 AND created_at < ? LIMIT 1) AS w`, cutoff).Scan(&any)
	if err != nil || any == 0 {
		return 0, err
	}
	n := 0
	_, err = s.db.Write(ctx, func(tx *store.Tx) ([]saga.Message, error) {
		rows, err := tx.QueryContext(ctx, `SELECT `+bookingCols+` FROM bookings WHERE status = 'pending' AND expired = 0 AND created_at < ? LIMIT 200`, cutoff)
		if err != nil {
			return nil, fmt.Errorf("booking: find overdue: %w", err)
		}
		var overdue []Booking
		for rows.Next() {
			b, err := scanBooking(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("booking: find overdue: %w", err)
			}
			overdue = append(overdue, b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("booking: find overdue: %w", err)
		}
		var msgs []saga.Message
		for _, b := range overdue {
			if _, err := tx.ExecContext(ctx, `UPDATE bookings SET expired = 1 WHERE id = ?`, b.ID); err != nil {
				return nil, fmt.Errorf("booking: mark %s expired: %w", b.ID, err)
			}
			reason := fmt.Sprintf("deadline: still pending after %s", s.deadline)
			e := saga.Envelope{Booking: saga.Booking{ID: b.ID, UserID: b.UserID, Seats: b.Seats, AmountCents: b.AmountCents},
				Event: saga.TypeDeadlineExceeded, Reason: reason}
			msgs = append(msgs, saga.NewMessage(saga.PartBooking, saga.TypeDeadlineExceeded, saga.CompensationQueue, e))
		}
		n = len(msgs)
		return msgs, nil
	})
	return n, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
