package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Tx is a write transaction whose statements are prepared once per process
// and reused. Its ExecContext, QueryContext and QueryRowContext shadow
// sql.Tx's, so participant code reads like plain database/sql. Without the
// cache SQLite parses every statement on every call, which profiling showed
// to be a sixth of a busy participant's time.
type Tx struct {
	*sql.Tx
	db *DB
	// rows are the outbox rows this transaction wrote, handed to the relay
	// once it commits.
	rows []outboxRow
}

// stmts caches statements prepared on the writer connection. There is one
// writer connection, so a statement prepared once stays valid for every
// transaction on it. Preparing needs that connection, and inside a
// transaction this goroutine holds it: so a statement seen for the first time
// runs uncached and is prepared after the commit, when the connection is free.
// The mutex is never held while waiting for the connection.
type stmts struct {
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	wanted map[string]bool
}

// cached returns the prepared statement for query, or nil after noting that
// it is wanted.
//
// PostgreSQL needs none of this: pgx prepares and caches each statement per
// connection by itself.
func (db *DB) cached(query string) *sql.Stmt {
	if db.pg {
		return nil
	}
	db.cache.mu.Lock()
	defer db.cache.mu.Unlock()
	if s, ok := db.cache.m[query]; ok {
		return s
	}
	if db.cache.wanted == nil {
		db.cache.wanted = map[string]bool{}
	}
	db.cache.wanted[query] = true
	return nil
}

// prepareWanted prepares the statements noted as wanted. Call it outside any
// transaction.
func (db *DB) prepareWanted(ctx context.Context) {
	db.cache.mu.Lock()
	wanted := db.cache.wanted
	db.cache.wanted = nil
	db.cache.mu.Unlock()
	for q := range wanted {
		s, err := db.w.PrepareContext(ctx, q)
		if err != nil {
			continue // it keeps running uncached, which is only slower
		}
		db.cache.mu.Lock()
		if db.cache.m == nil {
			db.cache.m = map[string]*sql.Stmt{}
		}
		if _, dup := db.cache.m[q]; dup {
			s.Close()
		} else {
			db.cache.m[q] = s
		}
		db.cache.mu.Unlock()
	}
}

// ExecContext runs a cached statement in the transaction.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.db.cached(query); s != nil {
		return t.Tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, t.db.bind(query), t.db.args(args)...)
}

// QueryContext runs a cached query in the transaction.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := t.db.cached(query); s != nil {
		return t.Tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, t.db.bind(query), t.db.args(args)...)
}

// QueryRowContext runs a cached single-row query in the transaction.
func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.db.cached(query); s != nil {
		return t.Tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, t.db.bind(query), t.db.args(args)...)
}

// begin starts a write transaction with the statement cache.
//
// On PostgreSQL it is SERIALIZABLE: the participants' effects were written
// for SQLite's one writer, where a read and the write it decides are never
// split by another process's commit (is this booking closed? then refund). Two
// processes of one part keep that guarantee without a row lock in each
// effect; the price is a retry when two transactions collide (see retry).
func (db *DB) begin(ctx context.Context) (*Tx, error) {
	var opt *sql.TxOptions
	if db.pg {
		opt = &sql.TxOptions{Isolation: sql.LevelSerializable}
	}
	tx, err := db.w.BeginTx(ctx, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: begin: %w", db.engine(), err)
	}
	return &Tx{Tx: tx, db: db}, nil
}

// maxTries bounds the runs of one write transaction that keeps colliding;
// each collision means another transaction committed, so the saga moves.
const maxTries = 50

// retry runs a write transaction until it commits, or fails for a reason
// other than a collision with a concurrent one (PostgreSQL's serialization
// failure or deadlock), which SQLite's one writer never has.
func (db *DB) retry(ctx context.Context, run func() error) error {
	for try := 1; ; try++ {
		err := run()
		if err == nil || !db.pg || !retryable(err) || try == maxTries {
			return err
		}
		// A short, growing, jittered pause, so the two do not collide
		// again in step.
		pause := time.Duration(try*try) * time.Duration(100+rand.IntN(400)) * time.Microsecond
		select {
		case <-time.After(min(pause, 50*time.Millisecond)):
		case <-ctx.Done():
			return err
		}
	}
}
