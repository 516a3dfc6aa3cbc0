// Package sqlite is the SQLite adapter every participant keeps its own state
// in. Each participant opens its own file; this package gives them the parts
// they share: a WAL database with one writer, the inbox that makes consumers
// idempotent, and the transactional outbox with its relay.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver; no cgo
)

// DB is one participant's database: a single writer connection, because
// SQLite serialises writers anyway and a pool would only add SQLITE_BUSY
// retries, and a pool of readers that WAL lets run beside it.
type DB struct {
	W     *sql.DB // the one writer
	R     *sql.DB // readers
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

	db := &DB{W: w, R: r, Path: path}
	if err := db.Migrate(ctx, baseSchema...); err != nil {
		db.Close()
		return nil, err
	}
	// caused_by came after the first release: files made before it lack it.
	if err := db.AddColumn(ctx, "outbox", "caused_by", "TEXT NOT NULL DEFAULT ''"); err != nil {
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
	err1 := db.R.Close()
	err2 := db.W.Close()
	if err2 != nil {
		return fmt.Errorf("sqlite: close %s: %w", db.Path, err2)
	}
	if err1 != nil {
		return fmt.Errorf("sqlite: close %s: %w", db.Path, err1)
	}
	return nil
}

// Migrate runs schema statements; each must be idempotent (IF NOT EXISTS).
func (db *DB) Migrate(ctx context.Context, stmts ...string) error {
	for _, s := range stmts {
		if _, err := db.W.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("sqlite: migrate %s: %w", db.Path, err)
		}
	}
	return nil
}

// AddColumn adds a column to an existing table unless it is there already:
// SQLite has no ADD COLUMN IF NOT EXISTS, and a table created by an older
// release keeps its old shape under CREATE TABLE IF NOT EXISTS. decl must
// give a default when the column is NOT NULL, so existing rows get a value.
func (db *DB) AddColumn(ctx context.Context, table, column, decl string) error {
	var n int
	err := db.W.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&n)
	if err != nil {
		return fmt.Errorf("sqlite: look for %s.%s in %s: %w", table, column, db.Path, err)
	}
	if n > 0 {
		return nil
	}
	// Names cannot be bound as parameters; callers pass constants.
	if _, err := db.W.ExecContext(ctx, `ALTER TABLE "`+table+`" ADD COLUMN "`+column+`" `+decl); err != nil {
		// Two processes sharing the file may both have looked before
		// either added it: the one that comes second finds it there.
		if strings.Contains(err.Error(), "duplicate column name") {
			return nil
		}
		return fmt.Errorf("sqlite: add %s.%s to %s: %w", table, column, db.Path, err)
	}
	return nil
}

// Ping checks that the database answers, for /healthz.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.R.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping %s: %w", filepath.Base(db.Path), err)
	}
	return nil
}

var baseSchema = []string{
	// inbox records every message id a participant has applied, in the same
	// transaction as the effect, so a redelivery is recognised and skipped.
	`CREATE TABLE IF NOT EXISTS inbox (
		message_id TEXT PRIMARY KEY,
		queue      TEXT NOT NULL,
		at         INTEGER NOT NULL
	) WITHOUT ROWID`,
	// outbox holds messages committed with their effect and not yet confirmed
	// by the broker. The relay publishes them in seq order and deletes them.
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
	)`,
}

// millis stores times as Unix milliseconds: compact, sortable, and free of
// the driver's time-format guessing.
func millis(t time.Time) int64 { return t.UnixMilli() }

// Time converts stored milliseconds back to a UTC time.
func Time(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
