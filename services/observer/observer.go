// Package observer taps every message the saga sends, records it, and tells
// the dashboard. It is a reader: it publishes nothing the saga depends on, so
// when it is slow or down the saga goes on and it catches up from its queue.
package observer

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// Event is one observed message.
type Event struct {
	Seq         int64           `json:"seq"`
	MessageID   string          `json:"message_id"`
	BookingID   string          `json:"booking_id"`
	Queue       string          `json:"queue"` // the routing key: the queue it was sent to
	Type        string          `json:"type"`
	Source      string          `json:"source"`
	CausedBy    string          `json:"caused_by,omitempty"` // the id of the message whose handling made this one
	Attempt     int             `json:"attempt,omitempty"`
	At          time.Time       `json:"at"` // when it was published
	ObservedAt  time.Time       `json:"observed_at"`
	Payload     json.RawMessage `json:"payload"`
	Redelivered bool            `json:"-"`
	// TraceID is the W3C trace id the message carried (saga.Trace), ""
	// when it carried none.
	TraceID string `json:"trace_id,omitempty"`
}

// Envelope decodes the payload as a saga message, best effort: a payload that
// is not one gives the zero Envelope.
func (e Event) Envelope() saga.Envelope {
	var env saga.Envelope
	_ = json.Unmarshal(e.Payload, &env)
	return env
}

// Service is the observer.
type Service struct {
	db  *store.DB
	bus saga.Bus
	log *slog.Logger

	stream bool         // the tap is a stream (ReadTapAsStream)
	expect atomic.Int64 // the offset last asked for, until a message is read; -1 after

	mu       sync.Mutex
	onEvents func([]Event)
	onDead   func(DeadLetter)
	counts   map[[2]string]int64 // (routing key, type) → messages seen since start
}

// New opens the observer's store.
func New(ctx context.Context, db *store.DB, bus saga.Bus, log *slog.Logger) (*Service, error) {
	err := db.Migrate(ctx, "observer", store.Exec(`CREATE TABLE IF NOT EXISTS events (
			seq          INTEGER PRIMARY KEY AUTOINCREMENT,
			message_id   TEXT NOT NULL,
			routing_key  TEXT NOT NULL,
			booking_id   TEXT NOT NULL,
			type         TEXT NOT NULL,
			source       TEXT NOT NULL,
			caused_by    TEXT NOT NULL DEFAULT '',
			attempt      INTEGER NOT NULL,
			published_at INTEGER NOT NULL,
			observed_at  INTEGER NOT NULL,
			payload      BLOB NOT NULL
		)`,
		// The tap is at-least-once too: a redelivered copy is the same
		// (message, queue) pair and is ignored.
		`CREATE UNIQUE INDEX IF NOT EXISTS events_message ON events (message_id, routing_key)`,
		`CREATE INDEX IF NOT EXISTS events_booking ON events (booking_id, seq)`,
		`CREATE TABLE IF NOT EXISTS dead_letters (
			id          TEXT PRIMARY KEY,
			message_id  TEXT NOT NULL,
			queue       TEXT NOT NULL,
			reason      TEXT NOT NULL,
			type        TEXT NOT NULL,
			booking_id  TEXT NOT NULL,
			body        BLOB NOT NULL,
			at          INTEGER NOT NULL,
			replayed_at INTEGER
		) WITHOUT ROWID`,
		// One row: how many dead letters were deleted to keep the newest
		// MaxDeadLetters, so the page can say that older ones are gone.
		`CREATE TABLE IF NOT EXISTS dead_letter_stats (
			id      INTEGER PRIMARY KEY CHECK (id = 1),
			dropped INTEGER NOT NULL
		)`,
		`INSERT INTO dead_letter_stats (id, dropped) VALUES (1, 0) ON CONFLICT DO NOTHING`),
		// caused_by came after the first release: files made before it lack
		// it, and their old events keep it empty.
		store.AddColumn("events", "caused_by", "TEXT NOT NULL DEFAULT ''"),
		// original_sender came with broker-validated senders; older dead
		// letters do not know theirs.
		store.AddColumn("dead_letters", "original_sender", "TEXT NOT NULL DEFAULT ''"),
		// switch_changes came with explaining past waits: a booking that
		// waited behind a paused step keeps the reason after the switch is
		// back, read from the switches as they were, not as they are.
		store.Exec(`CREATE TABLE IF NOT EXISTS switch_changes (
			at       INTEGER NOT NULL,
			by       TEXT NOT NULL,
			switches BLOB NOT NULL,
			PRIMARY KEY (at, by)
		) WITHOUT ROWID`),
		// trace_id came with tracing, after switch_changes; older events
		// have none.
		store.AddColumn("events", "trace_id", "TEXT NOT NULL DEFAULT ''"),
		// queue_depths and the published_at index came with going back in
		// time: the queues' depths as the observer saw them, and events
		// read in the order they were sent, up to a moment.
		store.Exec(`CREATE TABLE IF NOT EXISTS queue_depths (
			at        INTEGER NOT NULL,
			name      TEXT NOT NULL,
			ready     INTEGER NOT NULL,
			unacked   INTEGER NOT NULL,
			consumers INTEGER NOT NULL,
			PRIMARY KEY (at, name)
		) WITHOUT ROWID`,
			`CREATE INDEX IF NOT EXISTS events_published ON events (published_at, seq)`),
		// tap_offsets came with the tap as a stream: where each stream this
		// observer reads is recorded up to, stored with what was recorded.
		store.Exec(`CREATE TABLE IF NOT EXISTS tap_offsets (
			queue TEXT PRIMARY KEY,
			next  BIGINT NOT NULL
		)`))
	if err != nil {
		return nil, fmt.Errorf("observer: %w", err)
	}
	return &Service{db: db, bus: bus, log: log.With("participant", saga.PartObserver), counts: map[[2]string]int64{}}, nil
}

// OnEvents sets the function called with every batch of newly recorded
// events, after they are committed. It must not block.
func (s *Service) OnEvents(fn func([]Event)) { s.onEvents = fn }

// OnDeadLetter sets the function called for each new dead letter.
func (s *Service) OnDeadLetter(fn func(DeadLetter)) { s.onDead = fn }

// Run consumes the tap and the dead-letter queue until ctx ends, and returns
// what stopped either otherwise.
func (s *Service) Run(ctx context.Context) error {
	var tap, dead error
	var wg sync.WaitGroup
	opt := saga.ConsumeOptions{Prefetch: 1000, MaxBatch: 500}
	if s.stream {
		opt.From = s.tapFrom
	}
	wg.Go(func() {
		tap = s.bus.Consume(ctx, saga.ObserverQueue, opt, s.record)
	})
	wg.Go(func() {
		dead = s.bus.Consume(ctx, saga.DeadLetterQueue, saga.ConsumeOptions{Prefetch: 50, MaxBatch: 50}, s.recordDead)
	})
	wg.Wait()
	return errors.Join(tap, dead)
}

// record stores a batch of tapped messages in one transaction; read from a
// stream, with the offset it is read up to.
func (s *Service) record(ctx context.Context, msgs []saga.Message) []saga.Outcome {
	outs := make([]saga.Outcome, len(msgs))
	now := time.Now().UTC()
	s.noticeGap(msgs)
	var fresh []Event
	var dead []DeadLetter
	_, err := s.db.Write(ctx, func(tx *store.Tx) ([]saga.Message, error) {
		fresh, dead = fresh[:0], dead[:0] // a run again after a collision starts afresh
		for _, m := range msgs {
			if m.Refused != nil {
				// Refused on a stream, which cannot dead-letter it: it is
				// kept where a dead letter from a queue would be.
				d, err := insertDead(ctx, tx, m, m.Queue, m.Refused.Error())
				if err != nil {
					return nil, err
				}
				dead = append(dead, d)
				continue
			}
			ev := Event{MessageID: m.ID, BookingID: m.CorrelationID, Queue: m.RoutingKey, Type: m.Type, Source: m.Source,
				CausedBy: clip(m.CausationID, 64), Attempt: m.Attempt, At: m.Timestamp.UTC(), ObservedAt: now, Payload: payload(m.Body, m.Size), Redelivered: m.Redelivered, TraceID: m.Trace.TraceID()}
			if ev.MessageID == "" {
				ev.MessageID = saga.NewID() // a foreign message: record it anyway
			}
			// RETURNING gives the seq on both engines; a copy already
			// recorded returns no row.
			err := tx.QueryRowContext(ctx, `INSERT INTO events
				(message_id, routing_key, booking_id, type, source, caused_by, attempt, published_at, observed_at, payload, trace_id)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING seq`, ev.MessageID, ev.Queue, clip(ev.BookingID, 64), clip(ev.Type, 64), clip(ev.Source, 64),
				ev.CausedBy, ev.Attempt, ev.At.UnixMilli(), now.UnixMilli(), []byte(ev.Payload), ev.TraceID).Scan(&ev.Seq)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("observer: insert event: %w", err)
			}
			fresh = append(fresh, ev)
		}
		if len(dead) > 0 {
			if err := trimDead(ctx, tx); err != nil {
				return nil, err
			}
		}
		return nil, storeOffset(ctx, tx, msgs)
	})
	if err != nil {
		for i := range outs {
			outs[i].Err = err
		}
		return outs
	}
	s.mu.Lock()
	for _, e := range fresh {
		s.counts[[2]string{e.Queue, e.Type}]++
	}
	s.mu.Unlock()
	if len(fresh) > 0 && s.onEvents != nil {
		s.onEvents(fresh)
	}
	s.deadRecorded(dead)
	return outs
}

// payload keeps a JSON body as it is and turns anything else into a JSON
// string of its first 4 KiB, so every stored payload is valid JSON and a
// hostile body is shown as text, never interpreted. size is the length the
// body arrived with: body may be only its prefix.
func payload(body []byte, size int) json.RawMessage {
	if max(len(body), size) <= saga.MaxBodyBytes && json.Valid(body) {
		return json.RawMessage(body)
	}
	b, _ := json.Marshal(textPrefix(body, 4096))
	return b
}

func textPrefix(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	// U+FFFD is 3 bytes, so the text can outgrow n: cut it back at a rune
	// boundary, as the contract's "first 4 KiB" promises.
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Events returns a booking's events in the order they were observed.
func (s *Service) Events(ctx context.Context, bookingID string) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+eventCols+` FROM events WHERE booking_id = ? ORDER BY seq LIMIT 1000`, bookingID)
	if err != nil {
		return nil, fmt.Errorf("observer: events of %s: %w", bookingID, err)
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// eventCols are the columns scanEvent reads, in its order.
const eventCols = `seq, message_id, routing_key, booking_id, type, source, caused_by, attempt, published_at, observed_at, payload, trace_id`

func scanEvent(rows *sql.Rows) (Event, error) {
	var e Event
	var pub, obs int64
	var p []byte
	if err := rows.Scan(&e.Seq, &e.MessageID, &e.Queue, &e.BookingID, &e.Type, &e.Source, &e.CausedBy, &e.Attempt, &pub, &obs, &p, &e.TraceID); err != nil {
		return e, fmt.Errorf("observer: scan event: %w", err)
	}
	e.At, e.ObservedAt, e.Payload = store.Time(pub), store.Time(obs), json.RawMessage(p)
	return e, nil
}

// Count is the number of messages seen with one routing key and type.
type Count struct {
	Queue, Type string
	N           int64
}

// Counts returns the messages seen since the process started.
func (s *Service) Counts() []Count {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Count, 0, len(s.counts))
	for k, n := range s.counts {
		out = append(out, Count{Queue: k[0], Type: k[1], N: n})
	}
	return out
}

// Ping checks the store.
func (s *Service) Ping(ctx context.Context) error { return s.db.Ping(ctx) }
