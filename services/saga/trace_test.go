package saga_test

import (
	"context"
	"testing"

	"github.com/sagaboard/sagaboard/services/saga"
)

func TestTraceIDReadsOnlyAWellFormedTraceparent(t *testing.T) {
	for parent, want := range map[string]string{
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01":      "0af7651916cd43dd8448eb211c80319c",
		"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-more": "0af7651916cd43dd8448eb211c80319c", // a later version may add fields
		"": "",
		"00-00000000000000000000000000000000-b7ad6b7169203331-01": "", // all zeros is invalid
		"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01": "", // upper case is not the format
		"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01": "", // version ff is forbidden
		"00-0af7651916cd43dd8448eb211c80319c":                     "",
		"00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01": "",
		`00-"} 1\n# x-----------------------b7ad6b7169203331-01`:  "",
	} {
		if got := (saga.Trace{Parent: parent}).TraceID(); got != want {
			t.Errorf("TraceID of %q = %q, want %q", parent, got, want)
		}
	}
}

func TestTraceTravelsInAContext(t *testing.T) {
	ctx := context.Background()
	if got := saga.TraceFromContext(ctx); got != (saga.Trace{}) {
		t.Errorf("a bare context carries %+v", got)
	}
	tr := saga.Trace{Parent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", State: "a=b"}
	if got := saga.TraceFromContext(saga.ContextWithTrace(ctx, tr)); got != tr {
		t.Errorf("got %+v back, want %+v", got, tr)
	}
}
