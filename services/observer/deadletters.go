package observer

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// DeadLetter is a message no participant could handle.
type DeadLetter struct {
	ID         string     `json:"id"`
	MessageID  string     `json:"message_id"`
	Queue      string     `json:"queue"`
	Reason     string     `json:"reason"`
	Type       string     `json:"type"`
	BookingID  string     `json:"booking_id"`
	Body       string     `json:"body"` // the first 4 KiB, as text
	At         time.Time  `json:"at"`
	ReplayedAt *time.Time `json:"replayed_at,omitempty"`
	// OriginalSender is the broker user that sent the message before it was
	// dead-lettered, "" when unknown, so a replay is believed only as far as
	// its first publisher was.
	OriginalSender string `json:"original_sender,omitempty"`
	// Forged says a consumer refused the message because its sender may not
	// send it. Such a dead letter is shown as evidence and never replayed.
	Forged bool `json:"forged,omitempty"`
}

// forged reports whether reason is a consumer's "forged: …".
func forged(reason string) bool { return strings.HasPrefix(reason, saga.ErrForged.Error()+": ") }

// MaxStoredBody bounds what a dead letter keeps for replay: a body within
// saga.MaxBodyBytes whole, since it might be handled once replayed; of a
// bigger one, which never can be, the consumer has already kept only a prefix.
const MaxStoredBody = saga.MaxBodyBytes

// MaxDeadLetters is how many dead letters are kept, the newest; older ones
// are deleted and counted (see DeadLetterStats). It is also the most
// GET /api/dead-letters lists, so the API can show every row kept.
const MaxDeadLetters = 1000

// DeadLetterStats says how many dead letters are kept and how many older ones
// were dropped to keep the store bounded, since the file was made.
type DeadLetterStats struct {
	Kept    int
	Dropped int64
}

// recordDead stores a batch of dead letters in one transaction, then deletes
// all but the newest MaxDeadLetters and counts what it deleted: the
// dead-letter queue is drained into this table, so this is what bounds both.
func (s *Service) recordDead(ctx context.Context, msgs []saga.Message) []saga.Outcome {
	outs := make([]saga.Outcome, len(msgs))
	fresh := make([]DeadLetter, 0, len(msgs))
	_, err := s.db.Write(ctx, func(tx *store.Tx) ([]saga.Message, error) {
		fresh = fresh[:0] // a run again after a collision starts afresh
		for _, m := range msgs {
			d, err := insertDead(ctx, tx, m, m.DeadQueue, m.DeadReason)
			if err != nil {
				return nil, err
			}
			fresh = append(fresh, d)
		}
		return nil, trimDead(ctx, tx)
	})
	if err != nil {
		for i := range outs {
			outs[i].Err = err
		}
		return outs
	}
	s.deadRecorded(fresh)
	return outs
}

func (s *Service) deadRecorded(fresh []DeadLetter) {
	if s.onDead != nil {
		for _, d := range fresh {
			s.onDead(d)
		}
	}
}

// insertDead stores m as a dead letter taken from queue for reason.
func insertDead(ctx context.Context, tx *store.Tx, m saga.Message, queue, reason string) (DeadLetter, error) {
	body := m.Body
	if len(body) > MaxStoredBody {
		body = body[:MaxStoredBody]
	}
	d := DeadLetter{ID: saga.NewID(), MessageID: m.ID, Queue: queue, Reason: reason, Type: clip(m.Type, 64),
		BookingID: clip(m.CorrelationID, 64), At: time.Now().UTC(), OriginalSender: clip(cmp.Or(m.OriginalSender, m.Sender), 255)}
	if d.Queue == "" {
		d.Queue = "unknown"
	}
	if d.Reason == "" {
		d.Reason = "no reason given"
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO dead_letters (id, message_id, queue, reason, type, booking_id, body, at, original_sender) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.MessageID, clip(d.Queue, 255), clip(d.Reason, 1024), d.Type, d.BookingID, body, d.At.UnixMilli(), d.OriginalSender)
	if err != nil {
		return d, fmt.Errorf("observer: insert dead letter: %w", err)
	}
	d.Body = textPrefix(body, 4096)
	return d, nil
}

// trimDead deletes all but the newest MaxDeadLetters and counts what it
// deleted: the dead-letter queue is drained into this table, so this is
// what bounds both.
func trimDead(ctx context.Context, tx *store.Tx) error {
	// Ids sort by time, so everything at or below the first id past
	// the newest MaxDeadLetters is older.
	res, err := tx.ExecContext(ctx, `DELETE FROM dead_letters WHERE id <= (SELECT id FROM dead_letters ORDER BY id DESC LIMIT 1 OFFSET ?)`, MaxDeadLetters)
	if err != nil {
		return fmt.Errorf("observer: trim dead letters: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE dead_letter_stats SET dropped = dropped + ? WHERE id = 1`, n); err != nil {
			return fmt.Errorf("observer: count dropped dead letters: %w", err)
		}
	}
	return nil
}

// DeadLetterStats returns how many dead letters are kept and how many older
// ones were dropped, for the page to say "N older dead letters dropped".
func (s *Service) DeadLetterStats(ctx context.Context) (DeadLetterStats, error) {
	var st DeadLetterStats
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM dead_letters), dropped FROM dead_letter_stats WHERE id = 1`).Scan(&st.Kept, &st.Dropped)
	if err != nil {
		return st, fmt.Errorf("observer: dead letter stats: %w", err)
	}
	return st, nil
}

// DeadLetters lists dead letters, newest first.
func (s *Service) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, message_id, queue, reason, type, booking_id, substr(body, 1, 4096), at, replayed_at, original_sender
		FROM dead_letters ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("observer: list dead letters: %w", err)
	}
	defer rows.Close()
	out := []DeadLetter{}
	for rows.Next() {
		var d DeadLetter
		var body []byte
		var at int64
		var replayed sql.NullInt64
		if err := rows.Scan(&d.ID, &d.MessageID, &d.Queue, &d.Reason, &d.Type, &d.BookingID, &body, &at, &replayed, &d.OriginalSender); err != nil {
			return nil, fmt.Errorf("observer: scan dead letter: %w", err)
		}
		d.Body, d.At, d.Forged = textPrefix(body, 4096), store.Time(at), forged(d.Reason)
		if replayed.Valid {
			t := store.Time(replayed.Int64)
			d.ReplayedAt = &t
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Replay sends a dead letter back to the queue it came from, with its
// original id, type and booking, and a fresh attempt count.
func (s *Service) Replay(ctx context.Context, id string) error {
	var m saga.Message
	var queue string
	var reason string
	err := s.db.QueryRowContext(ctx, `SELECT message_id, queue, type, booking_id, body, original_sender, reason FROM dead_letters WHERE id = ?`, id).
		Scan(&m.ID, &queue, &m.Type, &m.CorrelationID, &m.Body, &m.OriginalSender, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: no dead letter %q", saga.ErrNotFound, clip(id, 64))
	}
	if err != nil {
		return fmt.Errorf("observer: read dead letter %s: %w", id, err)
	}
	if queue == "unknown" {
		return fmt.Errorf("%w: dead letter %s does not say which queue it came from", saga.ErrInvalid, id)
	}
	// A replay is believed as far as its first sender: one that sender may
	// not send would only be dead-lettered again, or, on a vhost where the
	// parts share an identity, believed.
	if forged(reason) {
		return fmt.Errorf("%w: dead letter %s was forged (%s), so it is never replayed", saga.ErrConflict, id, clip(reason, 200))
	}
	if m.ID == "" {
		m.ID = saga.NewID()
	}
	m.Source, m.Timestamp, m.RoutingKey = "replay", time.Now().UTC(), queue
	if err := s.bus.Replay(ctx, queue, m); err != nil {
		return fmt.Errorf("observer: replay %s: %w", id, err)
	}
	_, err = s.db.Write(ctx, func(tx *store.Tx) ([]saga.Message, error) {
		_, err := tx.ExecContext(ctx, `UPDATE dead_letters SET replayed_at = ? WHERE id = ?`, time.Now().UnixMilli(), id)
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("observer: mark %s replayed: %w", id, err)
	}
	return nil
}

// SendPoison sends a malformed message of kind (saga.PoisonKinds) to queue,
// so a person can watch it be dead-lettered and replayed. It goes the way a
// replay goes, straight into queue through the replay exchange: on a
// provisioned vhost the observer may write there and nowhere else, so the
// button works wherever replay does. Its consumer then judges it as it would
// any message from the observer (see saga.Senders.Check).
func (s *Service) SendPoison(ctx context.Context, queue, kind string) (saga.Message, error) {
	m, err := saga.Malformed(kind, queue)
	if err != nil {
		return m, err
	}
	if err := s.bus.Replay(ctx, queue, m); err != nil {
		return m, fmt.Errorf("observer: send a malformed message to %s: %w", queue, err)
	}
	return m, nil
}
