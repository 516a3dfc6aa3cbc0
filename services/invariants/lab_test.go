package invariants_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/compensation"
	"github.com/sagaboard/sagaboard/services/invariants"
	"github.com/sagaboard/sagaboard/services/notification"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/payment"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/seats"
	"github.com/sagaboard/sagaboard/services/store"
)

// lab is the saga's stores, real SQLite files in a temporary folder, with
// no broker: a test moves a booking through the saga by applying each
// participant's real effect to the message the previous one made, and shows
// every message to the observer as the broker's "#" tap would.
type lab struct {
	tb   testing.TB
	ctx  context.Context
	dbs  map[string]*store.DB
	b    *booking.Service
	p    *payment.Service
	s    *seats.Service
	c    *compensation.Service
	n    *notification.Service
	o    *observer.Service
	tap  saga.BatchHandler
	sent map[string]saga.Booking // what each booking's messages carry
}

// tapBus stands in for the broker under the observer: it hands the test
// the observer's handler for its tap, and delivers nothing by itself.
type tapBus struct {
	mu  sync.Mutex
	h   map[string]saga.BatchHandler
	got chan struct{}
}

func (b *tapBus) Publish(context.Context, ...saga.Message) error { return nil }
func (b *tapBus) Replay(context.Context, string, saga.Message) error {
	return nil
}

func (b *tapBus) Consume(ctx context.Context, queue string, _ saga.ConsumeOptions, h saga.BatchHandler) error {
	b.mu.Lock()
	b.h[queue] = h
	if queue == saga.ObserverQueue {
		close(b.got)
	}
	b.mu.Unlock()
	<-ctx.Done()
	return nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// MustOpenLab opens every store with a rows x cols venue.
func MustOpenLab(tb testing.TB, rows, cols int) *lab {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	l := &lab{tb: tb, ctx: ctx, dbs: map[string]*store.DB{}, sent: map[string]saga.Booking{}}
	open := func(name string) *store.DB {
		db, err := store.OpenFile(ctx, filepath.Join(dir, name+".db"))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		l.dbs[name] = db
		return db
	}
	sw := saga.NewSwitches()
	var err error
	// A nil bus is enough where Run is never called: only the relay and
	// the consumers use it.
	if l.b, err = booking.New(ctx, open("booking"), nil, saga.Venue{Rows: rows, Cols: cols}, 0, quiet()); err != nil {
		tb.Fatal(err)
	}
	if l.p, err = payment.New(ctx, open("payment"), nil, sw, quiet()); err != nil {
		tb.Fatal(err)
	}
	if l.s, err = seats.New(ctx, open("seats"), nil, sw, quiet()); err != nil {
		tb.Fatal(err)
	}
	if l.c, err = compensation.New(ctx, open("compensation"), nil, quiet()); err != nil {
		tb.Fatal(err)
	}
	if l.n, err = notification.New(ctx, open("notification"), nil, sw, quiet()); err != nil {
		tb.Fatal(err)
	}
	bus := &tapBus{h: map[string]saga.BatchHandler{}, got: make(chan struct{})}
	if l.o, err = observer.New(ctx, open("observer"), bus, quiet()); err != nil {
		tb.Fatal(err)
	}
	octx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { l.o.Run(octx); close(done) }()
	tb.Cleanup(func() { stop(); <-done })
	select {
	case <-bus.got:
	case <-time.After(5 * time.Second):
		tb.Fatal("the observer never started consuming its tap")
	}
	bus.mu.Lock()
	l.tap = bus.h[saga.ObserverQueue]
	bus.mu.Unlock()
	return l
}

// Stores is which stores a checker is given.
type Stores struct{ Ledger, Tickets, Events, Notices bool }

var all = Stores{true, true, true, true}

// checker returns a checker over the lab's stores; cfg supplies the
// timings.
func (l *lab) checker(st Stores, cfg invariants.Config) *invariants.Checker {
	l.tb.Helper()
	ba, err := l.b.Audit(l.ctx)
	if err != nil {
		l.tb.Fatal(err)
	}
	cfg.Bookings, cfg.Log = ba, quiet()
	if st.Ledger {
		cfg.Ledger = l.p.Audit()
	}
	if st.Tickets {
		if cfg.Tickets, err = l.s.Audit(l.ctx); err != nil {
			l.tb.Fatal(err)
		}
	}
	if st.Events {
		cfg.Events = l.o.Audit()
	}
	if st.Notices {
		cfg.Notices = l.n.Audit()
	}
	c, err := invariants.New(cfg)
	if err != nil {
		l.tb.Fatal(err)
	}
	return c
}

// observe shows messages to the observer, as the broker's tap does.
func (l *lab) observe(msgs ...saga.Message) {
	l.tb.Helper()
	if len(msgs) == 0 {
		return
	}
	for i, o := range l.tap(l.ctx, msgs) {
		if o.Err != nil {
			l.tb.Fatalf("observer could not record %s: %v", msgs[i].Type, o.Err)
		}
	}
}

// apply hands m to a participant's effect in its store, as its consumer
// would, shows what it caused to the observer, and returns that.
func (l *lab) apply(db string, fn store.Effect, m saga.Message) []saga.Message {
	l.tb.Helper()
	var caused []saga.Message
	outs, _ := l.dbs[db].Apply(l.ctx, []saga.Message{m}, func(ctx context.Context, tx *store.Tx, m saga.Message) ([]saga.Message, error) {
		out, err := fn(ctx, tx, m)
		caused = out // Apply sets each one's CausationID in place
		return out, err
	})
	if outs[0].Err != nil {
		l.tb.Fatalf("%s on %s: %v", m.Type, db, outs[0].Err)
	}
	l.observe(caused...)
	return caused
}

// one returns the only message of msgs, failing when there is not one.
func (l *lab) one(msgs []saga.Message, typ string) saga.Message {
	l.tb.Helper()
	if len(msgs) != 1 || msgs[0].Type != typ {
		l.tb.Fatalf("got %d messages %v, want one %s", len(msgs), msgs, typ)
	}
	return msgs[0]
}

// book creates a pending booking, holding its seats, and returns its id
// and its BookingCreated.
func (l *lab) book(user string, seatIDs ...string) (string, saga.Message) {
	l.tb.Helper()
	b, err := l.b.Create(l.ctx, user, seatIDs)
	if err != nil {
		l.tb.Fatal(err)
	}
	sb := saga.Booking{ID: b.ID, UserID: b.UserID, Seats: b.Seats, AmountCents: b.AmountCents}
	l.sent[b.ID] = sb
	created := saga.NewMessage(saga.PartBooking, saga.TypeBookingCreated, saga.PaymentQueue, saga.Envelope{Booking: sb})
	l.observe(created)
	return b.ID, created
}

// charge has Payment charge a booking and returns its PaymentCompleted.
func (l *lab) charge(created saga.Message) saga.Message {
	l.tb.Helper()
	return l.one(l.apply("payment", l.p.ChargeOnBookingCreated, created), saga.TypePaymentCompleted)
}

// confirmed runs a booking to confirmed: charged, sold, Booking told, and
// the user told.
func (l *lab) confirmed(user string, seatIDs ...string) string {
	l.tb.Helper()
	id, created := l.book(user, seatIDs...)
	paid := l.charge(created)
	sold := l.one(l.apply("seats", l.s.SellOnPaymentCompleted, paid), saga.TypeSeatsSold)
	l.apply("booking", l.b.UpdateOnOutcome, sold)
	l.notify(sold)
	return id
}

// notify has Notification tell the user how a booking ended, and Booking
// hear that it did.
func (l *lab) notify(outcome saga.Message) {
	l.tb.Helper()
	told := l.one(l.apply("notification", l.n.NotifyOnOutcome, outcome), saga.TypeBookingNotified)
	l.apply("booking", l.b.UpdateOnOutcome, told)
}

// compensated runs a booking to compensated after a charge: the seat
// update fails, Compensation asks for a refund, Payment refunds, Booking
// releases the seats.
func (l *lab) compensated(user string, seatIDs ...string) string {
	l.tb.Helper()
	id, created := l.book(user, seatIDs...)
	l.charge(created)
	e := saga.Envelope{Booking: l.sent[id], Event: saga.TypeSeatUpdatingServiceFailed, Reason: "seat update failed in a test"}
	failed := saga.NewMessage(saga.PartSeats, saga.TypeSeatUpdatingServiceFailed, saga.CompensationQueue, e)
	l.observe(failed)
	refund := l.one(l.apply("compensation", l.c.UndoOnFailure, failed), saga.TypeRefundRequested)
	refunded := l.one(l.apply("payment", l.p.RefundOnRefundRequested, refund), saga.TypePaymentRefunded)
	cancelled := l.one(l.apply("booking", l.b.ReleaseOnUndo, refunded), saga.TypeBookingCancelled)
	l.notify(cancelled)
	return id
}

// exec changes a store behind its participant's back, as a bug would.
func (l *lab) exec(db, q string, args ...any) {
	l.tb.Helper()
	var n int64
	_, err := l.dbs[db].Write(l.ctx, func(tx *store.Tx) ([]saga.Message, error) {
		res, err := tx.ExecContext(l.ctx, q, args...)
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return nil, err
	})
	if err != nil {
		l.tb.Fatalf("%s: %s: %v", db, q, err)
	}
	if n == 0 {
		l.tb.Fatalf("%s: %s changed nothing", db, q)
	}
}

func now() int64 { return time.Now().UnixMilli() }
