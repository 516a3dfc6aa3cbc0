package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// Server is the local PostgreSQL the tests use: trust authentication for
// user postgres on 127.0.0.1 (.ci/ensure-postgres.sh sets it up).
const Server = "postgres://postgres@127.0.0.1:5432/"

// Postgres creates a database of the test's own on the local PostgreSQL and
// returns its URL; the database is dropped when the test ends, its
// connections cut first. Without a server the test is skipped, except under
// CI=true, where that is a failure.
func Postgres(tb testing.TB) string {
	tb.Helper()
	admin, err := sql.Open("pgx", Server+"postgres?sslmode=disable")
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is not reachable on 127.0.0.1:5432 as user postgres (%v); CI must have it (.ci/ensure-postgres.sh)", err)
		}
		tb.Skipf("PostgreSQL is not reachable on 127.0.0.1:5432 as user postgres (%v); run `make postgres`", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "sagaboard_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(context.Background(), `CREATE DATABASE `+name); err != nil {
		admin.Close()
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	return Server + name + "?sslmode=disable"
}
