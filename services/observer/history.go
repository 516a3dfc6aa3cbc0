package observer

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// Going back in time reads three records: the events (what the saga did),
// switch_changes (what the switches were), and queue_depths below (how
// deep each queue was, as the observer saw it). The state at a moment is
// rebuilt from them alone, never from the participants' current state.

// DepthRetention is how long queue depth samples are kept. The newest set
// is always kept, however old: it is the depth in force until the next.
const DepthRetention = 24 * time.Hour

// DefaultSampleEvery is how often SampleQueues looks at the queues when it
// is given no period: as often as the dashboard's queue panel.
const DefaultSampleEvery = time.Second

// Inspector reads the depths of the named queues; the broker adapter's
// Inspect is one.
type Inspector func(ctx context.Context, queues []string) ([]saga.QueueStat, error)

// SampleQueues reads the saga's queues' depths every period (0 means
// DefaultSampleEvery) until ctx ends, and records a set whenever it
// differs from the last one recorded, so a quiet system writes nothing.
// A read that fails records nothing: the last depths seen stay in force
// in the record. It returns nothing: a sample it cannot write is logged.
func (s *Service) SampleQueues(ctx context.Context, inspect Inspector, period time.Duration) {
	if period <= 0 {
		period = DefaultSampleEvery
	}
	t := time.NewTicker(period)
	defer t.Stop()
	var last []saga.QueueStat
	var pruned time.Time
	for {
		ictx, cancel := context.WithTimeout(ctx, period*9/10)
		stats, err := inspect(ictx, saga.WorkQueues())
		cancel()
		if err == nil && !sameDepths(stats, last) {
			now := time.Now()
			if err := s.RecordDepths(context.WithoutCancel(ctx), now, stats); err != nil {
				s.log.Warn("could not record queue depths; going back in time shows the ones before", "err", err)
			} else {
				last = stats
			}
			if now.Sub(pruned) > time.Minute {
				pruned = now
				if err := s.PruneDepths(context.WithoutCancel(ctx), now.Add(-DepthRetention)); err != nil {
					s.log.Warn("could not prune old queue depths", "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func sameDepths(a, b []saga.QueueStat) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// RecordDepths keeps one set of queue depths, read at at.
func (s *Service) RecordDepths(ctx context.Context, at time.Time, stats []saga.QueueStat) error {
	_, err := s.db.Write(ctx, func(tx *store.Tx) ([]saga.Message, error) {
		for _, q := range stats {
			if _, err := tx.ExecContext(ctx, `INSERT INTO queue_depths (at, name, ready, unacked, consumers) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (at, name) DO UPDATE SET ready = excluded.ready, unacked = excluded.unacked, consumers = excluded.consumers`,
				at.UnixMilli(), q.Name, q.Ready, q.Unacked, q.Consumers); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("observer: record queue depths: %w", err)
	}
	return nil
}

// PruneDepths deletes depth samples older than before, except the newest
// set, which is in force until the next one.
func (s *Service) PruneDepths(ctx context.Context, before time.Time) error {
	_, err := s.db.Write(ctx, func(tx *store.Tx) ([]saga.Message, error) {
		_, err := tx.ExecContext(ctx, `DELETE FROM queue_depths WHERE at < ? AND at < (SELECT MAX(at) FROM queue_depths)`, before.UnixMilli())
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("observer: prune queue depths: %w", err)
	}
	return nil
}

// DepthsAt returns the queue depths in force at at: the last set recorded
// at or before it, and when it was read. With none, it returns nil and the
// zero time.
func (s *Service) DepthsAt(ctx context.Context, at time.Time) (time.Time, []saga.QueueStat, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, name, ready, unacked, consumers FROM queue_depths
		WHERE at = (SELECT MAX(at) FROM queue_depths WHERE at <= ?)`, at.UnixMilli())
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("observer: queue depths at %s: %w", at.Format(time.RFC3339), err)
	}
	defer rows.Close()
	var when int64
	var out []saga.QueueStat
	for rows.Next() {
		var q saga.QueueStat
		if err := rows.Scan(&when, &q.Name, &q.Ready, &q.Unacked, &q.Consumers); err != nil {
			return time.Time{}, nil, fmt.Errorf("observer: scan queue depth: %w", err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return time.Time{}, nil, fmt.Errorf("observer: queue depths at: %w", err)
	}
	if out == nil {
		return time.Time{}, nil, nil
	}
	// Back in saga order, as the live panel lists them; a queue the saga
	// no longer uses goes last.
	order := map[string]int{}
	for i, q := range saga.WorkQueues() {
		order[q] = i + 1
	}
	rank := func(q saga.QueueStat) int {
		if n := order[q.Name]; n > 0 {
			return n
		}
		return len(order) + 1
	}
	slices.SortStableFunc(out, func(a, b saga.QueueStat) int { return rank(a) - rank(b) })
	return store.Time(when), out, nil
}

// MaxHistoryEvents bounds how many events EventsUntil reads, so one moment
// stays one bounded read; a record longer than that is cut at its oldest
// end, and its earliest bookings are missing from the moment.
const MaxHistoryEvents = 200_000

// EventsUntil returns every event published at or before at, in the order
// they were published. The payload is kept only on BookingCreated, which
// names the booking's seats: rebuilding a moment needs no other.
func (s *Service) EventsUntil(ctx context.Context, at time.Time) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT * FROM (SELECT seq, message_id, routing_key, booking_id, type, source, caused_by, attempt, published_at, observed_at,
			CASE WHEN type = ? THEN payload ELSE substr(payload, 1, 0) END, trace_id
		FROM events WHERE published_at <= ? ORDER BY published_at DESC, seq DESC LIMIT ?) AS recent ORDER BY published_at, seq`,
		saga.TypeBookingCreated, at.UnixMilli(), MaxHistoryEvents)
	if err != nil {
		return nil, fmt.Errorf("observer: events until %s: %w", at.Format(time.RFC3339), err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("observer: events until: %w", err)
	}
	return out, nil
}

// Recorded returns the stretch the record covers: from its first event,
// switch change or depth sample to its last. Both are zero when it is
// empty.
func (s *Service) Recorded(ctx context.Context) (from, to time.Time, err error) {
	var lo, hi int64
	err = s.db.QueryRowContext(ctx, `SELECT COALESCE(MIN(lo), 0), COALESCE(MAX(hi), 0) FROM (
			SELECT MIN(published_at) AS lo, MAX(published_at) AS hi FROM events
			UNION ALL SELECT MIN(at), MAX(at) FROM switch_changes WHERE at > 0
			UNION ALL SELECT MIN(at), MAX(at) FROM queue_depths) AS spans`).Scan(&lo, &hi)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("observer: recorded range: %w", err)
	}
	if lo == 0 {
		return time.Time{}, time.Time{}, nil
	}
	return store.Time(lo), store.Time(hi), nil
}
