package inmem_test

import (
	"testing"

	"github.com/sagaboard/sagaboard/services/bustest"
	"github.com/sagaboard/sagaboard/services/inmem"
	"github.com/sagaboard/sagaboard/services/saga"
)

// MustOpen returns an empty in-memory bus, closed when the test ends.
func MustOpen(tb testing.TB) *inmem.Bus {
	tb.Helper()
	b := inmem.New()
	tb.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) saga.Bus { return MustOpen(t) })
}
