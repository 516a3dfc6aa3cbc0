package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// A Migration is one step in the history of a schema. Steps run in order,
// each once, in a transaction of its own with the record that it ran, as
// miniflux's migrations do: a schema grows by adding a step at the end, and
// a step once released is never changed.
//
// Files made before steps were recorded have none recorded, so every step
// runs on them once more: that is why each step is written to be harmless
// on a file that already has what it makes (IF NOT EXISTS, AddColumn).
type Migration func(ctx context.Context, tx *sql.Tx) error

// Exec is a step of statements run in order.
func Exec(stmts ...string) Migration {
	return func(ctx context.Context, tx *sql.Tx) error {
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
}

// AddColumn is a step that adds a column unless the table has it already:
// SQLite has no ADD COLUMN IF NOT EXISTS, and a table made by an older
// release keeps its old shape under CREATE TABLE IF NOT EXISTS. decl must
// give a default when the column is NOT NULL, so existing rows get a value.
// The names are constants of the caller's; they cannot be bound.
func AddColumn(table, column, decl string) Migration {
	return func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&n); err != nil {
			return fmt.Errorf("look for %s.%s: %w", table, column, err)
		}
		if n > 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, `ALTER TABLE "`+table+`" ADD COLUMN "`+column+`" `+decl)
		return err
	}
}

// Migrate brings the schema called name up to date: it runs the steps not
// yet recorded for it. Every participant's file has the inbox and outbox
// schema, "sqlite", and its own. Two processes sharing a file take turns:
// each step's transaction takes the write lock before it reads the record.
func (db *DB) Migrate(ctx context.Context, name string, steps ...Migration) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_versions (
		name    TEXT PRIMARY KEY,
		version INTEGER NOT NULL
	) WITHOUT ROWID`); err != nil {
		return fmt.Errorf("sqlite: migrate %s in %s: %w", name, db.Path, err)
	}
	for i, step := range steps {
		if err := db.migrateStep(ctx, name, i+1, step); err != nil {
			return fmt.Errorf("sqlite: migrate %s to version %d in %s: %w", name, i+1, db.Path, err)
		}
	}
	return nil
}

func (db *DB) migrateStep(ctx context.Context, name string, version int, step Migration) error {
	tx, err := db.w.BeginTx(ctx, nil) // immediate: the write lock first
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var at int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_versions WHERE name = ?`, name).Scan(&at)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	if at >= version {
		return nil
	}
	if err := step(ctx, tx); err != nil {
		// Two processes that opened an old file at once may both add a
		// column: the second finds it there.
		if !strings.Contains(err.Error(), "duplicate column name") {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_versions (name, version) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET version = excluded.version`, name, version); err != nil {
		return err
	}
	return tx.Commit()
}
