package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
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
func (db *DB) cached(query string) *sql.Stmt {
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
	return t.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs a cached query in the transaction.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := t.db.cached(query); s != nil {
		return t.Tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a cached single-row query in the transaction.
func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.db.cached(query); s != nil {
		return t.Tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

// begin starts a write transaction with the statement cache.
func (db *DB) begin(ctx context.Context) (*Tx, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin: %w", err)
	}
	return &Tx{Tx: tx, db: db}, nil
}
