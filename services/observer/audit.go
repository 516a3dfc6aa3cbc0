package observer

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sagaboard/sagaboard/services/invariants"
	"github.com/sagaboard/sagaboard/services/store"
)

// Audit is the observer's record of messages as the invariant checker reads
// it: read-only queries on the reader pool, so a check never takes the
// writer the tap needs.
type Audit struct{ s *Service }

// Audit returns the events' audit. Its change feed reads by seq, the
// events' primary key.
func (s *Service) Audit() *Audit { return &Audit{s: s} }

// ReadAudit reads the record in a store another process writes, opened read-only
// (PostgreSQL), for a checker that runs elsewhere.
func ReadAudit(db *store.DB) *Audit { return &Audit{s: &Service{db: db}} }

var _ invariants.Events = (*Audit)(nil)

// Head returns the newest seq.
func (a *Audit) Head(ctx context.Context) (int64, error) {
	var seq int64
	if err := a.s.db.QueryRowContext(ctx, `SELECT COALESCE(max(seq), 0) FROM events`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("observer: audit head: %w", err)
	}
	return seq, nil
}

// Changes lists events by seq, which is unique, so the Key is empty.
func (a *Audit) Changes(ctx context.Context, from invariants.Cursor, limit int) ([]invariants.Change, error) {
	rows, err := a.s.db.QueryContext(ctx, `SELECT booking_id, seq FROM events WHERE seq >= ? ORDER BY seq LIMIT ?`, from.At, limit)
	if err != nil {
		return nil, fmt.Errorf("observer: audit changes: %w", err)
	}
	defer rows.Close()
	var out []invariants.Change
	for rows.Next() {
		var c invariants.Change
		if err := rows.Scan(&c.BookingID, &c.At); err != nil {
			return nil, fmt.Errorf("observer: audit changes: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Duplicates finds, among the given bookings' events, every message that
// caused more than one distinct message of one type. Counting distinct
// message ids matters: a redelivered or re-relayed message keeps its id, and
// a retry that comes back through the exchange is the same message under a
// second routing key; neither is a second handling. A plain count finds the
// candidates first, by the events_booking index, because counting distinct
// ids for every group costs half as much again, and candidates are rare.
func (a *Audit) Duplicates(ctx context.Context, ids []string) ([]invariants.Duplicate, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := a.s.db.QueryContext(ctx, `SELECT booking_id, caused_by, type
		FROM events WHERE booking_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) AND caused_by <> ''
		GROUP BY booking_id, caused_by, type HAVING count(*) > 1`, args...)
	if err != nil {
		return nil, fmt.Errorf("observer: audit events of %d bookings: %w", len(ids), err)
	}
	var candidates []invariants.Duplicate
	for rows.Next() {
		var d invariants.Duplicate
		if err := rows.Scan(&d.BookingID, &d.CausedBy, &d.Type); err != nil {
			rows.Close()
			return nil, fmt.Errorf("observer: audit events: %w", err)
		}
		candidates = append(candidates, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("observer: audit events: %w", err)
	}
	var out []invariants.Duplicate
	for _, d := range candidates {
		var msgs string
		err := a.s.db.QueryRowContext(ctx, `SELECT json_group_array(DISTINCT message_id) FROM events
			WHERE booking_id = ? AND caused_by = ? AND type = ?`, d.BookingID, d.CausedBy, d.Type).Scan(&msgs)
		if err != nil {
			return nil, fmt.Errorf("observer: audit events of %s: %w", d.BookingID, err)
		}
		if err := json.Unmarshal([]byte(msgs), &d.MessageIDs); err != nil {
			return nil, fmt.Errorf("observer: audit events: message ids of %s: %w", d.BookingID, err)
		}
		if len(d.MessageIDs) > 1 {
			out = append(out, d)
		}
	}
	return out, nil
}
