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
//
// Steps are written in SQLite's words; on PostgreSQL, Exec translates the few
// that differ (see pgDDL), so one history serves both engines and a SQLite
// file made by an earlier release records exactly what it did.
type Migration func(ctx context.Context, tx *Tx) error

// Exec is a step of statements run in order.
func Exec(stmts ...string) Migration {
	return func(ctx context.Context, tx *Tx) error {
		for _, s := range stmts {
			if tx.db.pg {
				s = pgDDL(s)
			}
			if _, err := tx.Tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
}

// ByEngine is one step said in each engine's words, where no one statement
// serves both (a trigger, say). A SQLite file records it as the step it
// always was: only the PostgreSQL words are new.
func ByEngine(sqlite, postgres Migration) Migration {
	return func(ctx context.Context, tx *Tx) error {
		if tx.db.pg {
			return postgres(ctx, tx)
		}
		return sqlite(ctx, tx)
	}
}

// AddColumn is a step that adds a column unless the table has it already:
// SQLite has no ADD COLUMN IF NOT EXISTS, and a table made by an older
// release keeps its old shape under CREATE TABLE IF NOT EXISTS. decl must
// give a default when the column is NOT NULL, so existing rows get a value.
// The names are constants of the caller's; they cannot be bound. PostgreSQL
// says it in one statement.
func AddColumn(table, column, decl string) Migration {
	return func(ctx context.Context, tx *Tx) error {
		if tx.db.pg {
			_, err := tx.Tx.ExecContext(ctx, pgDDL(`ALTER TABLE "`+table+`" ADD COLUMN IF NOT EXISTS "`+column+`" `+decl))
			return err
		}
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
// yet recorded for it. Every participant's store has the inbox and outbox
// schema, "sqlite" (the name earlier releases recorded), and its own. Two
// processes sharing a store take turns: each step's transaction takes the
// write lock (SQLite) or the part's migration lock (PostgreSQL) before it
// reads the record.
func (db *DB) Migrate(ctx context.Context, name string, steps ...Migration) error {
	versions := `CREATE TABLE IF NOT EXISTS schema_versions (
		name    TEXT PRIMARY KEY,
		version INTEGER NOT NULL
	) WITHOUT ROWID`
	var err error
	if db.pg {
		err = db.locked(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, pgDDL(versions))
			return err
		})
	} else {
		_, err = db.w.ExecContext(ctx, versions)
	}
	if err != nil {
		return fmt.Errorf("%s: migrate %s in %s: %w", db.engine(), name, db.Path, err)
	}
	for i, step := range steps {
		if err := db.migrateStep(ctx, name, i+1, step); err != nil {
			return fmt.Errorf("%s: migrate %s to version %d in %s: %w", db.engine(), name, i+1, db.Path, err)
		}
	}
	return nil
}

func (db *DB) migrateStep(ctx context.Context, name string, version int, step Migration) error {
	tx, err := db.w.BeginTx(ctx, nil) // SQLite: immediate, the write lock first
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if db.pg {
		if err := db.lockMigrations(ctx, tx); err != nil {
			return err
		}
	}
	var at int
	err = tx.QueryRowContext(ctx, db.bind(`SELECT version FROM schema_versions WHERE name = ?`), name).Scan(&at)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	if at >= version {
		return nil
	}
	if err := step(ctx, &Tx{Tx: tx, db: db}); err != nil {
		// Two processes that opened an old file at once may both add a
		// column: the second finds it there.
		if !strings.Contains(err.Error(), "duplicate column name") {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, db.bind(`INSERT INTO schema_versions (name, version) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET version = excluded.version`), name, version); err != nil {
		return err
	}
	return tx.Commit()
}
