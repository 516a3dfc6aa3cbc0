package seats_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/seats"
	"github.com/sagaboard/sagaboard/services/store"
)

// MustOpen opens SeatUpdating's store in a temporary folder and returns the
// service and its database. Its bus is nil: Run is never called, so only the
// effects run, as the consumer would run them.
func MustOpen(tb testing.TB) (*seats.Service, *store.DB) {
	tb.Helper()
	ctx := context.Background()
	db, err := store.OpenFile(ctx, filepath.Join(tb.TempDir(), "seats.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	svc, err := seats.New(ctx, db, nil, saga.NewSwitches(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	return svc, db
}

// paid returns a PaymentCompleted for the booking, as Payment sends it, or
// as anyone who may publish on the broker can.
func paid(id string, seatIDs ...string) saga.Message {
	b := saga.Booking{ID: id, UserID: "u-" + id, Seats: seatIDs, AmountCents: saga.Amount(len(seatIDs))}
	return saga.NewMessage(saga.PartPayment, saga.TypePaymentCompleted, saga.SeatUpdateQueue, saga.Envelope{Booking: b})
}

// sell applies SellOnPaymentCompleted to m in its own transaction and
// returns the one message it caused.
func sell(tb testing.TB, svc *seats.Service, db *store.DB, m saga.Message) saga.Message {
	tb.Helper()
	var caused []saga.Message
	outs, _ := db.Apply(context.Background(), []saga.Message{m}, func(ctx context.Context, tx *store.Tx, m saga.Message) ([]saga.Message, error) {
		out, err := svc.SellOnPaymentCompleted(ctx, tx, m)
		caused = out
		return out, err
	})
	if outs[0].Err != nil {
		tb.Fatalf("SellOnPaymentCompleted: %v", outs[0].Err)
	}
	if len(caused) != 1 {
		tb.Fatalf("SellOnPaymentCompleted caused %d messages, want 1", len(caused))
	}
	return caused[0]
}

// owners returns every ticket: seat → booking.
func owners(tb testing.TB, db *store.DB) map[string]string {
	tb.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT seat_id, booking_id FROM tickets`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var seat, id string
		if err := rows.Scan(&seat, &id); err != nil {
			tb.Fatal(err)
		}
		out[seat] = id
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// A second PaymentCompleted for a booking already sold, with an extra seat
// another booking bought, fails; its undo takes back what it inserted
// itself, and nothing the booking bought before.
func TestAFailedSaleTakesBackOnlyItsOwnTickets(t *testing.T) {
	svc, db := MustOpen(t)
	if got := sell(t, svc, db, paid("alice", "A1")); got.Type != saga.TypeSeatsSold {
		t.Fatalf("alice's sale: %s, want %s", got.Type, saga.TypeSeatsSold)
	}
	if got := sell(t, svc, db, paid("bob", "A2")); got.Type != saga.TypeSeatsSold {
		t.Fatalf("bob's sale: %s, want %s", got.Type, saga.TypeSeatsSold)
	}

	// A1 is alice's already, A3 is free and is sold in this handling, A2
	// is bob's: the sale fails at A2.
	got := sell(t, svc, db, paid("alice", "A1", "A3", "A2"))
	if got.Type != saga.TypeSeatUpdatingServiceFailed {
		t.Fatalf("the sale with bob's seat: %s, want %s", got.Type, saga.TypeSeatUpdatingServiceFailed)
	}
	want := map[string]string{"A1": "alice", "A2": "bob"}
	have := owners(t, db)
	for seat, id := range want {
		if have[seat] != id {
			t.Errorf("seat %s is sold to %q, want %q", seat, have[seat], id)
		}
	}
	if id, ok := have["A3"]; ok {
		t.Errorf("seat A3 is still sold to %q: the failed sale did not take back its own ticket", id)
	}
	if len(have) != len(want) {
		t.Errorf("tickets %v, want %v", have, want)
	}
}
