// Package store is the SQL store adapter every participant keeps its own state
// in. Each participant opens its own file; this package gives them the parts
// they share: a WAL database with one writer, the inbox that makes consumers
// idempotent, and the transactional outbox with its relay.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver; no cgo
)

// DB is one participant's database: a single writer connection, because
// SQLite serialises writers anyway and a pool would only add SQLITE_BUSY
// retries, and a pool of readers that WAL lets run beside it.
//
// Neither pool is exported: every write goes through Write or Apply, in a
// transaction that commits its outbox with it, and reads go through the
// readers, which SQLite itself keeps from writing (query_only).
type DB struct {
	w     *sql.DB // the one writer
	r     *sql.DB // readers
	Path  string
	cache stmts
	// relay, when set, is handed every outbox row this process commits, so
	// it can publish without reading the row back.
	relay *Relay
}

// Open opens (creating if missing) the database at path, with its folder, in
// WAL mode, and creates the inbox and outbox tables.
//
// synchronous=NORMAL is deliberate: in WAL mode it never corrupts, and a
// committed transaction survives a process crash (SIGKILL), which is the
// failure sagaboard promises to survive; only an OS crash or power cut can
// lose the last commits. FULL would fsync every commit and cost most of the
// throughput.
func Open(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("sqlite: create data folder: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(NORMAL)", "busy_timeout(10000)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)

	rq := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "query_only(1)"} {
		rq.Add("_pragma", p)
	}
	r, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)

	db := &DB{w: w, r: r, Path: path}
	if err := db.Migrate(ctx, "sqlite", baseSchema...); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	db.cache.mu.Lock()
	for _, s := range db.cache.m {
		s.Close()
	}
	db.cache.m, db.cache.wanted = nil, nil
	db.cache.mu.Unlock()
	err1 := db.r.Close()
	err2 := db.w.Close()
	if err2 != nil {
		return fmt.Errorf("sqlite: close %s: %w", db.Path, err2)
	}
	if err1 != nil {
		return fmt.Errorf("sqlite: close %s: %w", db.Path, err1)
	}
	return nil
}

// Ping checks that the database answers, for /healthz.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping %s: %w", filepath.Base(db.Path), err)
	}
	return nil
}

// baseSchema is the inbox and the outbox every participant's file has.
var baseSchema = []Migration{
	Exec(
		// inbox records every message id a participant has applied, in the
		// same transaction as the effect, so a redelivery is recognised and
		// skipped.
		`CREATE TABLE IF NOT EXISTS inbox (
			message_id TEXT PRIMARY KEY,
			queue      TEXT NOT NULL,
			at         INTEGER NOT NULL
		) WITHOUT ROWID`,
		// outbox holds messages committed with their effect and not yet
		// confirmed by the broker. The relay publishes them in seq order and
		// deletes them.
		`CREATE TABLE IF NOT EXISTS outbox (
			seq            INTEGER PRIMARY KEY AUTOINCREMENT,
			message_id     TEXT NOT NULL,
			correlation_id TEXT NOT NULL,
			type           TEXT NOT NULL,
			routing_key    TEXT NOT NULL,
			source         TEXT NOT NULL,
			caused_by      TEXT NOT NULL DEFAULT '',
			attempt        INTEGER NOT NULL DEFAULT 0,
			at             INTEGER NOT NULL,
			body           BLOB NOT NULL
		)`),
	// caused_by came after the first release: files made before it lack it.
	AddColumn("outbox", "caused_by", "TEXT NOT NULL DEFAULT ''"),
	// The trace context travels with a message through the outbox, since
	// the relay publishes it after the step that made it has ended.
	AddColumn("outbox", "traceparent", "TEXT NOT NULL DEFAULT ''"),
	AddColumn("outbox", "tracestate", "TEXT NOT NULL DEFAULT ''"),
}

// QueryContext runs a query on the readers.
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.r.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a single-row query on the readers.
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return db.r.QueryRowContext(ctx, query, args...)
}

// millis stores times as Unix milliseconds: compact, sortable, and free of
// the driver's time-format guessing.
func millis(t time.Time) int64 { return t.UnixMilli() }

// Time converts stored milliseconds back to a UTC time.
func Time(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
