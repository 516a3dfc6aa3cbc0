// Package store is the SQL store adapter every participant keeps its own state
// in. Each participant opens its own file; this package gives them the parts
// they share: a WAL database with one writer, the inbox that makes consumers
// idempotent, and the transactional outbox with its relay.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"time"
)

// DB is one participant's database, on one of two engines.
//
// SQLite: a single writer connection, because SQLite serialises writers
// anyway and a pool would only add SQLITE_BUSY retries, and a pool of readers
// that WAL lets run beside it.
//
// PostgreSQL: one pool, whose connections find the part's own schema first
// (search_path), so the participants' SQL names no schema; writes run
// SERIALIZABLE and are retried on a serialization failure (see postgres.go).
//
// Neither pool is exported: every write goes through Write or Apply, in a
// transaction that commits its outbox with it, and reads go through the
// readers.
type DB struct {
	w *sql.DB // SQLite: the one writer; PostgreSQL: the pool
	r *sql.DB // SQLite: readers; PostgreSQL: the same pool
	// Path names the store in messages: the file, or the PostgreSQL
	// server, database and schema, never a password.
	Path   string
	pg     bool   // PostgreSQL, else SQLite
	schema string // PostgreSQL: the part's schema
	cache  stmts
	binds  sync.Map // query → the same with $n placeholders (PostgreSQL)
	// relay, when set, is handed every outbox row this process commits, so
	// it can publish without reading the row back.
	relay *Relay
	// group queues concurrent Writes on SQLite so they share a commit
	// (see Write).
	group group
}

// Config says where the stores live.
type Config struct {
	// URL is "sqlite" (or empty) for a file per part under Data, or a
	// PostgreSQL URL, postgres://user:password@host:5432/database, for a
	// schema per part in that database.
	URL string
	// Data is the folder of the SQLite files.
	Data string
	// ReadOnly opens, in PostgreSQL, a part's schema that another process
	// writes, for reading only: nothing is created or migrated, and the
	// server refuses every write on it.
	ReadOnly bool
}

// Postgres reports whether the stores are in PostgreSQL.
func (c Config) Postgres() bool { return isPostgresURL(c.URL) }

// Validate checks the store setting, so a typo stops the start with one
// sentence that never shows the password.
func (c Config) Validate() error {
	switch {
	case c.URL == "" || c.URL == "sqlite":
		return nil
	case c.Postgres():
		_, err := pgConfig(c.URL)
		return err
	}
	return fmt.Errorf("-store %s: it must be sqlite or a PostgreSQL URL, as in postgres://postgres@127.0.0.1:5432/sagaboard?sslmode=disable", RedactURL(c.URL))
}

// Shown is the store setting as it may be logged and shown: the password
// and the query hidden.
func (c Config) Shown() string {
	if c.URL == "" || c.URL == "sqlite" {
		return "sqlite"
	}
	return RedactURL(c.URL)
}

// Open opens the store of one part (booking, payment, …, observer): the file
// DATA/part.db, or the schema part in the PostgreSQL database, created if
// missing. Either way it has the inbox and outbox tables.
func Open(ctx context.Context, c Config, part string) (*DB, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Postgres() {
		return openPostgres(ctx, c.URL, part, c.ReadOnly)
	}
	if c.ReadOnly {
		return nil, fmt.Errorf("store: %s: another process's SQLite file is not opened here; put the stores in PostgreSQL to read every part", part)
	}
	return OpenFile(ctx, filepath.Join(c.Data, part+".db"))
}

// Postgres reports whether db is in PostgreSQL.
func (db *DB) Postgres() bool { return db.pg }

// Close closes both pools.
func (db *DB) Close() error {
	db.cache.mu.Lock()
	for _, s := range db.cache.m {
		s.Close()
	}
	db.cache.m, db.cache.wanted = nil, nil
	db.cache.mu.Unlock()
	var err1 error
	if db.r != db.w {
		err1 = db.r.Close()
	}
	err2 := db.w.Close()
	if err2 != nil {
		return fmt.Errorf("%s: close %s: %w", db.engine(), db.Path, err2)
	}
	if err1 != nil {
		return fmt.Errorf("%s: close %s: %w", db.engine(), db.Path, err1)
	}
	return nil
}

// engine names the engine, to begin an error with.
func (db *DB) engine() string {
	if db.pg {
		return "postgres"
	}
	return "sqlite"
}

// Ping checks that the database answers, for /healthz.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		if db.pg {
			return fmt.Errorf("postgres: ping %s: %w", db.Path, err)
		}
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
	return db.r.QueryContext(ctx, db.bind(query), db.args(args)...)
}

// QueryRowContext runs a single-row query on the readers.
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return db.r.QueryRowContext(ctx, db.bind(query), db.args(args)...)
}

// millis stores times as Unix milliseconds: compact, sortable, and free of
// the driver's time-format guessing.
func millis(t time.Time) int64 { return t.UnixMilli() }

// Time converts stored milliseconds back to a UTC time.
func Time(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
