package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// Relay publishes the outbox. It is the only path from a participant's
// committed state to the broker, so a crash between commit and publish only
// delays a message: the next relay run publishes it.
type Relay struct {
	db     *DB
	pub    saga.Publisher
	log    *slog.Logger
	kick   chan struct{}
	batch  int
	mu     sync.Mutex
	sent   int64         // every seq <= sent is confirmed by the broker
	waitCh chan struct{} // closed and replaced whenever sent grows
	// next is the seq the relay publishes next, or 0 until the first
	// flush tells it. mem holds rows this process committed, by seq:
	// when it starts with next, the relay publishes from it instead of
	// reading the outbox back, which saves a read transaction per hop.
	// The outbox table stays the truth: a row missing from mem (written
	// by an earlier run or another process, or dropped when mem was
	// full) leaves a gap, and a gap sends the relay to the table.
	next int64
	mem  []outboxRow
	// own holds, on PostgreSQL, the seqs of the rows this process
	// committed that are not yet known gone from the table; see
	// relay_postgres.go for why a watermark cannot serve there.
	own map[int64]struct{}
}

// outboxRow is an outbox row with its seq.
type outboxRow struct {
	seq int64
	m   saga.Message
}

// memCap bounds the rows held for the relay in memory; past it, rows are
// read from the table. It is a few rounds of publishing, so a broker outage
// cannot make it grow.
const memCap = 4096

// NewRelay returns a relay for db's outbox, and hands it the rows db commits
// from now on. Batch bounds one publish round (default 256).
func NewRelay(db *DB, pub saga.Publisher, log *slog.Logger) *Relay {
	r := &Relay{db: db, pub: pub, log: log, kick: make(chan struct{}, 1), batch: 256, waitCh: make(chan struct{})}
	db.relay = r
	return r
}

// committed hands rows just committed to the relay, and wakes it.
func (db *DB) committed(rows []outboxRow) {
	if db.relay == nil || len(rows) == 0 {
		return
	}
	db.relay.offer(rows)
}

func (r *Relay) offer(rows []outboxRow) {
	if r.db.pg {
		r.offerOwn(rows)
		return
	}
	r.mu.Lock()
	if len(r.mem)+len(rows) <= memCap {
		r.mem = append(r.mem, rows...)
		// Commits are serialised by the one writer, but two committers may
		// hand over in the other order.
		if n := len(r.mem) - len(rows); n > 0 && r.mem[n-1].seq > r.mem[n].seq {
			sort.Slice(r.mem, func(i, j int) bool { return r.mem[i].seq < r.mem[j].seq })
		}
	}
	r.mu.Unlock()
	r.Kick()
}

// take returns the run of rows in mem that starts at next, at most a batch,
// or nothing when mem does not start there.
func (r *Relay) take() ([]saga.Message, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next == 0 {
		return nil, 0
	}
	i := 0
	for i < len(r.mem) && r.mem[i].seq < r.next {
		i++ // already published through the table
	}
	r.mem = r.mem[i:]
	n := 0
	for n < len(r.mem) && n < r.batch && r.mem[n].seq == r.next+int64(n) {
		n++
	}
	if n == 0 {
		return nil, 0
	}
	msgs := make([]saga.Message, n)
	for j := range n {
		msgs[j] = r.mem[j].m
	}
	top := r.mem[n-1].seq
	// Copy the rest down, so the array does not keep growing at its end.
	r.mem = append(r.mem[:0], r.mem[n:]...)
	return msgs, top
}

// Kick wakes the relay; it never blocks. A commit through the relay's own
// DB wakes it by itself; Kick is for rows written some other way.
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// WaitSent blocks until every outbox row up to seq is confirmed by the broker.
// Consumers call it before acking, so a message leaves its queue only once the
// messages it caused are safely in theirs.
func (r *Relay) WaitSent(ctx context.Context, seq int64) error {
	for {
		r.mu.Lock()
		sent, ch := r.sent, r.waitCh
		if r.db.pg {
			sent = r.ownSent(seq)
		}
		r.mu.Unlock()
		if sent >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Pending returns how many messages wait in the outbox.
func (r *Relay) Pending(ctx context.Context) (int, error) {
	var n int
	err := r.db.r.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&n)
	return n, err
}

// Run publishes until ctx ends. On the way out it makes one last attempt to
// flush, bounded by a short deadline, so a graceful stop leaves nothing behind
// when the broker is up.
func (r *Relay) Run(ctx context.Context) error {
	// A capped doubling, by hand: it is three lines, and a backoff library
	// (cenkalti/backoff comes with the OTLP exporter) would be a direct
	// dependency for them.
	backoff := 50 * time.Millisecond
	failing := false
	for {
		n, err := r.flush(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return r.final()
		case err != nil:
			if !failing {
				r.log.Warn("outbox relay cannot publish; will retry", "db", r.db.Path, "err", err)
				failing = true
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return r.final()
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		if failing {
			r.log.Info("outbox relay publishing again", "db", r.db.Path)
			failing = false
		}
		backoff = 50 * time.Millisecond
		if n == r.batch {
			continue // more is waiting
		}
		idle := time.Second // catch rows from a previous run
		if r.db.pg && r.waiting() {
			// Rows of this process's are out of reach, locked by a twin
			// process's relay: look again soon for them to be gone.
			idle = 10 * time.Millisecond
		}
		select {
		case <-r.kick:
		case <-time.After(idle):
		case <-ctx.Done():
			return r.final()
		}
	}
}

// final makes the last attempt, as the relay stops, and says what it left:
// those rows stay in the outbox and are published on the next start.
func (r *Relay) final() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for {
		n, err := r.flush(ctx)
		if err != nil {
			// A second of its own: ctx may be what ran out.
			pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
			left, _ := r.Pending(pctx)
			pcancel()
			return fmt.Errorf("outbox %s: %d messages not confirmed by the broker as the relay stopped; they are published at the next start: %w", r.db.Path, left, err)
		}
		if n < r.batch {
			return nil
		}
	}
}

// flush publishes one batch of the outbox and deletes what was confirmed.
func (r *Relay) flush(ctx context.Context) (int, error) {
	if r.db.pg {
		return r.flushLocked(ctx)
	}
	msgs, top := r.take()
	if len(msgs) == 0 {
		var err error
		if msgs, top, err = r.read(ctx); err != nil {
			return 0, err
		}
	}
	if len(msgs) == 0 {
		r.advance(top) // nothing waits, so everything ever written is confirmed
		return 0, nil
	}
	if err := r.pub.Publish(ctx, msgs...); err != nil {
		return 0, fmt.Errorf("outbox: publish: %w", err)
	}
	// Deleting after the confirm means a crash here publishes these rows again
	// on restart; consumers' inboxes make that harmless.
	if _, err := r.db.w.ExecContext(ctx, `DELETE FROM outbox WHERE seq <= ?`, top); err != nil {
		return 0, fmt.Errorf("outbox: delete sent: %w", err)
	}
	r.advance(top)
	return len(msgs), nil
}

// read returns the next batch and its highest seq or, when the outbox is
// empty, the highest seq ever written, from one snapshot: a row committed
// between two separate reads would otherwise be counted as sent.
func (r *Relay) read(ctx context.Context) ([]saga.Message, int64, error) {
	tx, err := r.db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("outbox: begin read: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox ORDER BY seq LIMIT ?`, r.batch)
	if err != nil {
		return nil, 0, fmt.Errorf("outbox: read: %w", err)
	}
	msgs, seqs, err := scanOutbox(rows)
	if err != nil {
		return nil, 0, err
	}
	if len(msgs) > 0 {
		return msgs, seqs[len(seqs)-1], nil
	}
	var top int64
	err = tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)`).Scan(&top)
	if err != nil {
		return nil, 0, fmt.Errorf("outbox: read sequence: %w", err)
	}
	return nil, top, nil
}

// outboxColumns are an outbox row's columns as scanOutbox reads them.
const outboxColumns = `seq, message_id, correlation_id, caused_by, type, routing_key, source, attempt, at, body, traceparent, tracestate`

// scanOutbox reads the rows of a SELECT of outboxColumns, in order, and
// closes them.
func scanOutbox(rows *sql.Rows) ([]saga.Message, []int64, error) {
	defer rows.Close()
	var msgs []saga.Message
	var seqs []int64
	for rows.Next() {
		var m saga.Message
		var seq, at int64
		if err := rows.Scan(&seq, &m.ID, &m.CorrelationID, &m.CausationID, &m.Type, &m.RoutingKey, &m.Source, &m.Attempt, &at, &m.Body, &m.Trace.Parent, &m.Trace.State); err != nil {
			return nil, nil, fmt.Errorf("outbox: scan: %w", err)
		}
		m.Timestamp = Time(at)
		msgs = append(msgs, m)
		seqs = append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("outbox: read: %w", err)
	}
	return msgs, seqs, nil
}

func (r *Relay) advance(seq int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq > r.sent {
		r.sent = seq
		close(r.waitCh)
		r.waitCh = make(chan struct{})
	}
	r.next = max(r.next, seq+1)
}
