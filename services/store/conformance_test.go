package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/sagaboard/sagaboard/services/store"
	"github.com/sagaboard/sagaboard/services/store/storetest"
)

func TestConformanceSQLite(t *testing.T) {
	storetest.Run(t, storetest.Engine{New: func(t *testing.T) func() *store.DB {
		path := filepath.Join(t.TempDir(), "part.db")
		return func() *store.DB { return mustOpenAt(t, path) }
	}})
}

func TestConformancePostgres(t *testing.T) {
	url := storetest.Postgres(t)
	var n atomic.Int32
	storetest.Run(t, storetest.Engine{Shared: true, New: func(t *testing.T) func() *store.DB {
		part := fmt.Sprintf("part%d", n.Add(1)) // a schema of the test's own
		return func() *store.DB {
			db, err := store.Open(context.Background(), store.Config{URL: url}, part)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
	}})
}
