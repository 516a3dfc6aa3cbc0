package invariants_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/invariants"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

const (
	benchBookings  = 50_000
	benchConfirmed = 10_000 // one seat each, in a 100x100 venue
	benchTouched   = 500
)

// seed50k fills the lab's stores, through SQL in one transaction per store,
// with a finished saga's data for benchBookings bookings: the first
// benchConfirmed confirmed (charged, seat sold, ticket issued), the rest
// compensated (charged and refunded), four observed messages each. Times
// are 50 ms apart, ending an hour ago.
func seed50k(b *testing.B, l *lab) []string {
	b.Helper()
	base := time.Now().Add(-time.Hour).UnixMilli() - benchBookings*50
	ids := make([]string, benchBookings)
	for i := range ids {
		ids[i] = fmt.Sprintf("b%08d", i)
	}
	fill := func(db string, stmts []string, row func(i int, exec func(stmt int, args ...any))) {
		_, err := l.dbs[db].Write(l.ctx, func(tx *store.Tx) ([]saga.Message, error) {
			for i := range benchBookings {
				row(i, func(stmt int, args ...any) {
					if _, err := tx.ExecContext(l.ctx, stmts[stmt], args...); err != nil {
						b.Fatalf("%s: %v", db, err)
					}
				})
			}
			return nil, nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	fill("booking", []string{
		`INSERT INTO bookings (id, user_id, seats, amount_cents, status, created_at, updated_at) VALUES (?, 'u', ?, 1000, ?, ?, ?)`,
		`UPDATE seats SET status = 'sold', booking_id = ? WHERE id = ?`,
	}, func(i int, exec func(int, ...any)) {
		seat, status := saga.SeatID(i/100%100, i%100), "compensated"
		if i < benchConfirmed {
			status = "confirmed"
			exec(1, ids[i], seat)
		}
		at := base + int64(i)*50
		exec(0, ids[i], `["`+seat+`"]`, status, at, at)
	})
	fill("payment", []string{`INSERT INTO ledger (booking_id, kind, amount_cents, at) VALUES (?, ?, 1000, ?)`},
		func(i int, exec func(int, ...any)) {
			at := base + int64(i)*50
			exec(0, ids[i], "charge", at)
			if i >= benchConfirmed {
				exec(0, ids[i], "refund", at+10)
			}
		})
	fill("seats", []string{`INSERT INTO tickets (seat_id, booking_id, at) VALUES (?, ?, ?)`},
		func(i int, exec func(int, ...any)) {
			if i < benchConfirmed {
				exec(0, saga.SeatID(i/100%100, i%100), ids[i], base+int64(i)*50)
			}
		})
	fill("observer", []string{`INSERT INTO events (message_id, routing_key, booking_id, type, source, caused_by, attempt, published_at, observed_at, payload)
		VALUES (?, 'q', ?, ?, 's', ?, 0, ?, ?, '{}')`},
		func(i int, exec func(int, ...any)) {
			at := base + int64(i)*50
			cause := ""
			for k, typ := range []string{"BookingCreated", "PaymentCompleted", "SeatsSold", "BookingNotified"} {
				id := fmt.Sprintf("%s-m%d", ids[i], k)
				exec(0, id, ids[i], typ, cause, at, at)
				cause = id
			}
		})
	return ids
}

// BenchmarkCheck is one check over 50,000 stored bookings in the largest
// venue (10,000 seats, all sold), with the default configuration: idle
// (nothing changed since the last check), idle without the sweep, and with
// 500 bookings touched since the last check (their updated_at moved and one
// new event each). Each check includes a seat window of 1,000 seats and,
// but for idle-no-sweep, a sweep page of 200 bookings.
func BenchmarkCheck(b *testing.B) {
	l := MustOpenLab(b, 100, 100)
	ids := seed50k(b, l)
	newChecker := func(b *testing.B, cfg invariants.Config) *invariants.Checker {
		c := l.checker(all, cfg)
		for range 3 { // past the first reads of the overlap window
			if r, err := c.Check(l.ctx); err != nil || !r.OK {
				b.Fatalf("seeded stores: ok=%v err=%v violations=%v", r.OK, err, r.Violations)
			}
		}
		return c
	}
	idle := func(b *testing.B, cfg invariants.Config) {
		c := newChecker(b, cfg)
		checked := 0
		for b.Loop() {
			r, err := c.Check(l.ctx)
			if err != nil {
				b.Fatal(err)
			}
			checked += r.BookingsChecked
		}
		b.ReportMetric(float64(checked)/float64(b.N), "bookings/op")
	}
	b.Run("idle", func(b *testing.B) { idle(b, invariants.Config{}) })
	// Without the sweep's page: the seat window and the cursors alone.
	b.Run("idle-no-sweep", func(b *testing.B) { idle(b, invariants.Config{SweepPage: -1}) })
	b.Run("touched-500", func(b *testing.B) {
		c := newChecker(b, invariants.Config{})
		next, checked := 0, 0
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			touch(b, l, ids, next)
			next = (next + benchTouched) % (benchBookings - benchTouched)
			b.StartTimer()
			r, err := c.Check(l.ctx)
			if err != nil {
				b.Fatal(err)
			}
			if !r.OK {
				b.Fatalf("touched bookings reported broken: %v", r.Violations[:1])
			}
			checked += r.BookingsChecked
		}
		b.ReportMetric(float64(checked)/float64(b.N), "bookings/op")
	})
}

// touch moves the updated_at of benchTouched bookings from ids[from] on
// (half confirmed, half compensated) and records one new event for each, as
// a saga step would.
func touch(b *testing.B, l *lab, ids []string, from int) {
	b.Helper()
	at := time.Now().UnixMilli()
	touched := make([]string, 0, benchTouched)
	for k := range benchTouched {
		// Every other one from the confirmed part, so both money rules run.
		i := (from+k)%(benchBookings-benchConfirmed) + benchConfirmed
		if k%2 == 0 {
			i = (from + k) % benchConfirmed
		}
		touched = append(touched, ids[i])
	}
	write := func(db, q string, args func(id string) []any) {
		_, err := l.dbs[db].Write(l.ctx, func(tx *store.Tx) ([]saga.Message, error) {
			for _, id := range touched {
				if _, err := tx.ExecContext(l.ctx, q, args(id)...); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	write("booking", `UPDATE bookings SET updated_at = ? WHERE id = ?`, func(id string) []any { return []any{at, id} })
	// One touch event per booking, replaced on the next touch (a new seq
	// all the same), so bookings do not gather events round after round.
	write("observer", `INSERT OR REPLACE INTO events (message_id, routing_key, booking_id, type, source, caused_by, attempt, published_at, observed_at, payload)
		VALUES (?, 'q', ?, 'BookingNotified', 's', ?, 0, ?, ?, '{}')`, func(id string) []any { return []any{"touch-" + id, id, saga.NewID(), at, at} })
}
