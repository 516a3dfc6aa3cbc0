package opentelemetry_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sagaboard/sagaboard/services/opentelemetry"
	"github.com/sagaboard/sagaboard/services/saga"
)

func newOff(tb testing.TB) *opentelemetry.Tracing {
	tr, err := opentelemetry.New(context.Background(), opentelemetry.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr
}

// TestStepsContinueTheSendersTraceWithTracingOff: with nothing exported,
// a step still hands its handler a context of the sender's trace, and a
// message without one gets none made up on consume; an observer's queue
// is left as it came.
func TestStepsContinueTheSendersTraceWithTracingOff(t *testing.T) {
	tr := newOff(t)
	if tr.Exporting() {
		t.Fatal("exporting with no endpoint")
	}
	parent := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	var seen []saga.Message
	h := tr.Consume()(func(_ context.Context, msgs []saga.Message) []saga.Outcome {
		seen = msgs
		return make([]saga.Outcome, len(msgs))
	})
	in := []saga.Message{
		{ID: "1", Queue: saga.PaymentQueue, Trace: saga.Trace{Parent: parent}},
		{ID: "2", Queue: saga.ObserverQueue, Trace: saga.Trace{Parent: parent}},
		{ID: "3", Queue: saga.PaymentQueue, Trace: saga.Trace{Parent: "garbage"}},
	}
	h(context.Background(), in)
	if got := seen[0].Trace; got.TraceID() != "0af7651916cd43dd8448eb211c80319c" || got.Parent == parent {
		t.Errorf("step's context %q, want a new span of trace 0af76519…", got.Parent)
	}
	if seen[1].Trace.Parent != parent {
		t.Errorf("the observer's message was given %q, want it as it came", seen[1].Trace.Parent)
	}
	if in[0].Trace.Parent != parent {
		t.Error("the middleware changed the transport's copy of the message")
	}
	if id := seen[2].Trace.TraceID(); id == "" || strings.HasSuffix(seen[2].Trace.Parent, "-01") {
		t.Errorf("a malformed traceparent gave %q, want a fresh unsampled trace", seen[2].Trace.Parent)
	}
}

// BenchmarkConsumeOff is what tracing costs a step per message when
// nothing is exported: parse, a span that records nothing, format.
func BenchmarkConsumeOff(b *testing.B) {
	tr := newOff(b)
	h := tr.Consume()(func(_ context.Context, msgs []saga.Message) []saga.Outcome { return make([]saga.Outcome, len(msgs)) })
	msgs := []saga.Message{{ID: "1", Queue: saga.PaymentQueue, Trace: saga.Trace{Parent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"}}}
	b.ReportAllocs()
	for b.Loop() {
		h(context.Background(), msgs)
	}
}
