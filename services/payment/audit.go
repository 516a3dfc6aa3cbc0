package payment

import (
	"context"
	"fmt"
	"strings"

	"github.com/sagaboard/sagaboard/services/invariants"
	"github.com/sagaboard/sagaboard/services/store"
)

// Audit is Payment's ledger as the invariant checker reads it: read-only
// queries on the reader pool, so a check never takes the writer the saga
// needs.
type Audit struct{ s *Service }

// Audit returns the ledger's audit. Its change feed reads by the ledger_at
// index New creates.
func (s *Service) Audit() *Audit { return &Audit{s: s} }

// ReadAudit reads the ledger in a store another process writes, opened read-only
// (PostgreSQL), for a checker that runs elsewhere.
func ReadAudit(db *store.DB) *Audit { return &Audit{s: &Service{db: db}} }

var _ invariants.Ledger = (*Audit)(nil)

// Head returns the time of the newest ledger line.
func (a *Audit) Head(ctx context.Context) (int64, error) {
	var at int64
	if err := a.s.db.QueryRowContext(ctx, `SELECT COALESCE(max(at), 0) FROM ledger`).Scan(&at); err != nil {
		return 0, fmt.Errorf("payment: audit head: %w", err)
	}
	return at, nil
}

// Changes lists ledger lines by (at, booking_id, kind); the Key of a line
// is "booking_id/kind".
func (a *Audit) Changes(ctx context.Context, from invariants.Cursor, limit int) ([]invariants.Change, error) {
	booking, kind := from.Key, ""
	if i := strings.LastIndexByte(from.Key, '/'); i >= 0 {
		booking, kind = from.Key[:i], from.Key[i+1:]
	}
	rows, err := a.s.db.QueryContext(ctx, `SELECT booking_id, kind, at FROM ledger
		WHERE (at, booking_id, kind) >= (?, ?, ?) ORDER BY at, booking_id, kind LIMIT ?`, from.At, booking, kind, limit)
	if err != nil {
		return nil, fmt.Errorf("payment: audit changes: %w", err)
	}
	defer rows.Close()
	var out []invariants.Change
	for rows.Next() {
		var c invariants.Change
		if err := rows.Scan(&c.BookingID, &kind, &c.At); err != nil {
			return nil, fmt.Errorf("payment: audit changes: %w", err)
		}
		c.Key = c.BookingID + "/" + kind
		out = append(out, c)
	}
	return out, rows.Err()
}

// Nets sums each given booking's charges and refunds.
func (a *Audit) Nets(ctx context.Context, ids []string) (map[string]invariants.Net, error) {
	out := make(map[string]invariants.Net, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := a.s.db.QueryContext(ctx, `SELECT booking_id, kind, amount_cents FROM ledger WHERE booking_id IN (?`+
		strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("payment: audit ledger of %d bookings: %w", len(ids), err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, kind string
		var cents int64
		if err := rows.Scan(&id, &kind, &cents); err != nil {
			return nil, fmt.Errorf("payment: audit ledger: %w", err)
		}
		n := out[id]
		if kind == "refund" {
			n.RefundedCents += cents
		} else {
			n.ChargedCents += cents
		}
		out[id] = n
	}
	return out, rows.Err()
}
