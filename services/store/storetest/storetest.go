// Package storetest opens real stores for tests and applies a
// participant's effects to them as its consumer would: through
// store.DB.Apply, with the inbox that dedupes redeliveries, and with no
// broker. Every participant's package tests its decisions with it.
package storetest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// MustOpen opens the store of part name for a test, and closes it when the
// test ends: the file name.db in a temporary folder or, when the environment
// says SAGABOARD_TEST_STORE=postgres, the schema name in a database of the
// test's own on the local PostgreSQL (see Postgres). That runs every
// participant's tests on either engine.
func MustOpen(tb testing.TB, name string) *store.DB {
	tb.Helper()
	c := store.Config{Data: tb.TempDir()}
	if os.Getenv("SAGABOARD_TEST_STORE") == "postgres" {
		c.URL = Postgres(tb)
	}
	db, err := store.Open(context.Background(), c, name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// Quiet returns a logger that drops everything, for services under test.
func Quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Apply applies effect to m in a transaction of its own, as the consumer
// does, and returns the messages it committed to the outbox and the
// outcome's error: nil to ack, an ErrPoison to dead-letter, anything else to
// requeue. A message the inbox has seen causes nothing and returns nil, nil.
func Apply(tb testing.TB, db *store.DB, effect store.Effect, m saga.Message) ([]saga.Message, error) {
	tb.Helper()
	var caused []saga.Message
	outs, _ := db.Apply(context.Background(), []saga.Message{m}, func(ctx context.Context, tx *store.Tx, m saga.Message) ([]saga.Message, error) {
		out, err := effect(ctx, tx, m)
		caused = out
		return out, err
	})
	if outs[0].Err != nil {
		return nil, outs[0].Err
	}
	return caused, nil
}

// MustApply is Apply for a message that must be acked.
func MustApply(tb testing.TB, db *store.DB, effect store.Effect, m saga.Message) []saga.Message {
	tb.Helper()
	caused, err := Apply(tb, db, effect, m)
	if err != nil {
		tb.Fatalf("apply %s %s: %v", m.Type, m.ID, err)
	}
	return caused
}

// MustApplyOne is MustApply for a message that must cause exactly one.
func MustApplyOne(tb testing.TB, db *store.DB, effect store.Effect, m saga.Message) saga.Message {
	tb.Helper()
	caused := MustApply(tb, db, effect, m)
	if len(caused) != 1 {
		tb.Fatalf("%s %s caused %d messages, want 1: %v", m.Type, m.ID, len(caused), types(caused))
	}
	return caused[0]
}

// Count returns the one integer query returns, read outside any write.
func Count(tb testing.TB, db *store.DB, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// Outbox returns how many messages wait in the outbox: with no relay
// running, every message any effect caused.
func Outbox(tb testing.TB, db *store.DB) int {
	tb.Helper()
	return Count(tb, db, `SELECT count(*) FROM outbox`)
}

// Envelope decodes m's body, failing the test if it is not a valid one.
func Envelope(tb testing.TB, m saga.Message) saga.Envelope {
	tb.Helper()
	e, err := saga.DecodeEnvelope(m.Body)
	if err != nil {
		tb.Fatalf("%s %s: %v", m.Type, m.ID, err)
	}
	return e
}

// Message makes a message of typ about a booking of seats by user id, as
// its part publishes it; envelope fields beyond the booking come from e.
func Message(from, typ, key, id string, e saga.Envelope, seats ...string) saga.Message {
	if len(seats) == 0 {
		seats = []string{"A1"}
	}
	e.Booking = saga.Booking{ID: id, UserID: "u-" + id, Seats: seats, AmountCents: saga.Amount(len(seats))}
	m := saga.NewMessage(from, typ, key, e)
	m.Queue = key
	return m
}

func types(msgs []saga.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Type+"→"+m.RoutingKey)
	}
	return out
}
