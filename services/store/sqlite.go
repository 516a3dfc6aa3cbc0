package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver; no cgo
)

// OpenFile opens (creating if missing) the SQLite database at path, with its
// folder, in WAL mode, and creates the inbox and outbox tables.
//
// synchronous=NORMAL is deliberate: in WAL mode it never corrupts, and a
// committed transaction survives a process crash (SIGKILL), which is the
// failure sagaboard promises to survive; only an OS crash or power cut can
// lose the last commits. FULL would fsync every commit and cost most of the
// throughput.
func OpenFile(ctx context.Context, path string) (*DB, error) {
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
