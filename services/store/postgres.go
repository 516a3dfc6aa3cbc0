package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL keeps each part in a schema of its own in one database, so two
// processes of one part on two machines share its state, and the process that
// checks the invariants can read every part.
//
// The participants' SQL is written once, in what both engines speak: ?
// placeholders (rebound here to $n), INSERT … ON CONFLICT, and SQLite's
// column words in CREATE TABLE, which Exec translates (pgDDL).

// isPostgresURL reports whether raw is meant as a PostgreSQL URL.
func isPostgresURL(raw string) bool {
	return strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://")
}

// RedactURL returns a store URL as it may be shown: the password and the
// query (which may carry one, as password=…) hidden. A URL that cannot be
// read shows only its scheme.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" {
		if s, _, ok := strings.Cut(raw, "://"); ok && s != "" && !strings.ContainsAny(s, ":@/") {
			return s + "://***"
		}
		return "***"
	}
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	return u.Redacted()
}

// pgConfig reads a PostgreSQL URL. Its errors never quote the URL: pgx's
// own may quote a part of it.
func pgConfig(raw string) (*pgx.ConnConfig, error) {
	shown := RedactURL(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("-store %s cannot be read as a PostgreSQL URL: write it as postgres://user:password@host:5432/database, and percent-encode any / ? # @ : or %% in the user or password", shown)
	}
	if strings.Trim(u.Path, "/") == "" {
		return nil, fmt.Errorf("-store %s names no database, as in postgres://postgres@127.0.0.1:5432/sagaboard", shown)
	}
	c, err := pgx.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("-store %s cannot be used: check its host, port and options (sslmode=disable for a server without TLS)", shown)
	}
	return c, nil
}

// schemaName accepts the parts' names only: a schema is named in SQL text.
var schemaName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// openPostgres opens the pool for one part, whose connections find the part's
// schema first. Unless readOnly, it creates the schema and the inbox and
// outbox in it.
func openPostgres(ctx context.Context, raw, part string, readOnly bool) (*DB, error) {
	if !schemaName.MatchString(part) {
		return nil, fmt.Errorf("postgres: %q cannot name a schema", part)
	}
	cfg, err := pgConfig(raw)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["search_path"] = part
	cfg.RuntimeParams["application_name"] = "sagaboard " + part
	if readOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	pool := stdlib.OpenDB(*cfg)
	// A few connections per part: its consumers' transactions, its relay,
	// and the page's reads. Six parts stay far below the server's usual
	// 100 connections, with room for a second process of each.
	pool.SetMaxOpenConns(4)
	pool.SetMaxIdleConns(4)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{w: pool, r: pool, pg: true, schema: part, Path: "postgres " + where + " schema " + part}

	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.PingContext(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot reach PostgreSQL at %s as user %s: %s", where, cfg.User, pgReason(err))
	}
	if readOnly {
		return db, nil
	}
	// Two processes of one part may start at once: CREATE … IF NOT EXISTS
	// is not safe against a concurrent twin in PostgreSQL, so schema and
	// migrations are made under a lock of the part's own.
	err = db.locked(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+part)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: create schema %s in %s: %s", part, where, pgReason(err))
	}
	if err := db.Migrate(ctx, "sqlite", baseSchema...); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Reach checks that the PostgreSQL server of c answers, so a process whose
// store is away stops at start with one sentence, before it touches the
// broker. For SQLite it does nothing.
func Reach(ctx context.Context, c Config) error {
	if !c.Postgres() {
		return nil
	}
	cfg, err := pgConfig(c.URL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("cannot reach PostgreSQL at %s:%d/%s as user %s (-store): %s", cfg.Host, cfg.Port, cfg.Database, cfg.User, pgReason(err))
	}
	return conn.Close(ctx)
}

// locked runs fn in a transaction that holds the part's migration lock.
func (db *DB) locked(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := db.lockMigrations(ctx, tx); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// lockMigrations takes the part's migration lock for the rest of tx. It is
// named by the schema, which may not exist yet.
func (db *DB) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "sagaboard migrate "+db.schema)
	return err
}

// pgReason is the server's or the network's sentence, without the
// connection string pgx puts before it.
func pgReason(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message + " (" + pe.Code + ")"
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) && ce.Unwrap() != nil {
		err = ce.Unwrap()
	}
	msg := err.Error()
	if strings.Contains(msg, "connection refused") {
		return "connection refused: is the server running, and on that port?"
	}
	return msg
}

// retryable reports whether a write transaction failed only because a
// concurrent one won: it is run again from the start.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// bind returns query with PostgreSQL's placeholders, remembered per query.
func (db *DB) bind(query string) string {
	if !db.pg {
		return query
	}
	if q, ok := db.binds.Load(query); ok {
		return q.(string)
	}
	q := rebind(query)
	db.binds.Store(query, q)
	return q
}

// rebind turns each ? into $1, $2, … in order, leaving alone a ? inside a
// 'string', a "name", or a comment.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			// Copy through the closing quote; a doubled quote is an
			// escaped one and keeps the literal open.
			j := i + 1
			for j < len(query) {
				if query[j] == c {
					if j+1 < len(query) && query[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			end := min(j+1, len(query))
			b.WriteString(query[i:end])
			i = end - 1
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = len(query) - i
			}
			b.WriteString(query[i : i+j])
			i += j - 1
		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			j := strings.Index(query[i+2:], "*/")
			end := len(query)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(query[i:end])
			i = end - 1
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// The few words of SQLite's CREATE TABLE that PostgreSQL says otherwise,
// matched in capitals only, as the types are written, so a column named
// "text" keeps its name.
// INTEGER is SQLite's 64-bit integer and PostgreSQL's 32-bit one: every
// INTEGER becomes BIGINT, as millisecond times need.
//
// A Go bool is stored as 1 or 0, as SQLite's driver does (see args).
var ddlWords = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)\)\s*WITHOUT\s+ROWID`), ")"},
	{regexp.MustCompile(`(?i)\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b`), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
	{regexp.MustCompile(`\bINTEGER\b`), "BIGINT"},
	{regexp.MustCompile(`\bBLOB\b`), "BYTEA"},
	{regexp.MustCompile(`\bREAL\b`), "DOUBLE PRECISION"},
	// Text sorts by its bytes, as in SQLite, whatever the database's
	// locale: the checker walks two stores' ids in step, and pages by id.
	{regexp.MustCompile(`\bTEXT\b`), `TEXT COLLATE "C"`},
}

// args gives PostgreSQL what SQLite's driver makes of Go values: a bool is
// the integer 1 or 0, in the integer columns both engines have.
func (db *DB) args(args []any) []any {
	if !db.pg {
		return args
	}
	copied := false
	for i, a := range args {
		if b, ok := a.(bool); ok {
			if !copied { // the caller's slice stays as it was
				args, copied = append([]any(nil), args...), true
			}
			args[i] = boolInt(b)
		}
	}
	return args
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// pgDDL translates a migration's statement, written for SQLite, for
// PostgreSQL, and rebinds its placeholders.
func pgDDL(stmt string) string {
	for _, w := range ddlWords {
		stmt = w.re.ReplaceAllString(stmt, w.with)
	}
	return rebind(stmt)
}
