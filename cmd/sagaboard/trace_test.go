package main_test

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an in-process OTLP/HTTP trace receiver: it decodes what
// the exporter posts to /v1/traces as the protocol's protobuf types.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracev1.Span
}

func startReceiver(t *testing.T) (*otlpReceiver, string) {
	rc := &otlpReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		var req collectortrace.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(b, &req)
		}
		if err != nil {
			t.Errorf("OTLP receiver: undecodable body (%s): %v", r.Header.Get("Content-Type"), err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				rc.spans = append(rc.spans, ss.Spans...)
			}
		}
		rc.mu.Unlock()
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

// of returns the spans received so far with the given trace id.
func (rc *otlpReceiver) of(traceID string) []*tracev1.Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []*tracev1.Span
	for _, s := range rc.spans {
		if hex.EncodeToString(s.TraceId) == traceID {
			out = append(out, s)
		}
	}
	return out
}

func attr(s *tracev1.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			if v, ok := kv.Value.Value.(*commonv1.AnyValue_StringValue); ok {
				return v.StringValue
			}
		}
	}
	return ""
}

// TestTracesCrossTheBrokerAsOneTraceOverOTLP runs the real binary with
// OTEL_EXPORTER_OTLP_ENDPOINT set to an in-process receiver, books with
// every payment failing, and reads the compensated booking's trace: one
// trace from the POST to the last step, a span per step, each step the
// child of the send of the message it consumed, each send the child of
// the step that caused it, with the messaging conventions' attributes.
func TestTracesCrossTheBrokerAsOneTraceOverOTLP(t *testing.T) {
	rc, endpoint := startReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100") // ms; the default 5s would only slow the test
	p, _ := startSaga(t)
	p.SetSwitches(`{"payment":{"fail_rate":1}}`)
	id := p.Book("alice", "B2")
	p.WaitFor(id, 15*time.Second, "compensated and notified", func(b Booking) bool { return b.Status == "compensated" && b.Notified })

	var view struct {
		TraceID string `json:"trace_id"`
		Events  []struct {
			MessageID string `json:"message_id"`
			Type      string `json:"type"`
			CausedBy  string `json:"caused_by"`
			TraceID   string `json:"trace_id"`
		} `json:"events"`
	}
	p.Do("GET", "/api/bookings/"+id, nil, &view)
	if len(view.TraceID) != 32 {
		t.Fatalf("GET /api/bookings/%s has trace_id %q, want 32 hex digits", id, view.TraceID)
	}
	causedBy := map[string]string{}
	for _, e := range view.Events {
		causedBy[e.MessageID] = e.CausedBy
		if e.TraceID != view.TraceID {
			t.Errorf("event %s carried trace %q, want the booking's %s", e.Type, e.TraceID, view.TraceID)
		}
	}

	steps := []string{"process payment_queue", "process compensation_queue", "process seat_release_queue", "process notification_queue", "process booking_update_queue"}
	var spans []*tracev1.Span
	deadline := time.Now().Add(10 * time.Second)
	for {
		spans = rc.of(view.TraceID)
		var names []string
		for _, s := range spans {
			names = append(names, s.Name)
		}
		done := true
		for _, st := range steps {
			done = done && slices.Contains(names, st)
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spans of trace %s after 10s: %v; want a span for each of %v", view.TraceID, names, steps)
		}
		time.Sleep(100 * time.Millisecond)
	}

	byID := map[string]*tracev1.Span{}
	var roots []*tracev1.Span
	for _, s := range spans {
		byID[hex.EncodeToString(s.SpanId)] = s
		if len(s.ParentSpanId) == 0 {
			roots = append(roots, s)
		}
	}
	if len(roots) != 1 || roots[0].Name != "POST /api/bookings" || roots[0].Kind != tracev1.Span_SPAN_KIND_SERVER {
		t.Fatalf("roots of the trace = %v, want the one POST /api/bookings server span", names(roots))
	}
	root := roots[0]
	parent := func(s *tracev1.Span) *tracev1.Span { return byID[hex.EncodeToString(s.ParentSpanId)] }
	consumers := 0
	for _, s := range spans {
		if s == root {
			continue
		}
		msg := attr(s, "messaging.message.id")
		checks := map[string]string{"messaging.system": "rabbitmq", "messaging.destination.name": "sagaboard", "sagaboard.booking.id": id}
		for k, want := range checks {
			if got := attr(s, k); got != want {
				t.Errorf("span %q: %s = %q, want %q", s.Name, k, got, want)
			}
		}
		if msg == "" || attr(s, "messaging.rabbitmq.destination.routing_key") == "" {
			t.Errorf("span %q has no message id or routing key: %v", s.Name, s.Attributes)
		}
		up := parent(s)
		if up == nil {
			t.Errorf("span %q: its parent %x was not exported", s.Name, s.ParentSpanId)
			continue
		}
		switch s.Kind {
		case tracev1.Span_SPAN_KIND_CONSUMER:
			consumers++
			// A step is the child of the send of the message it consumed.
			if attr(s, "messaging.operation.type") != "process" || up.Kind != tracev1.Span_SPAN_KIND_PRODUCER || attr(up, "messaging.message.id") != msg {
				t.Errorf("step %q (message %s) has parent %q (message %s), want the send of its message", s.Name, msg, up.Name, attr(up, "messaging.message.id"))
			}
		case tracev1.Span_SPAN_KIND_PRODUCER:
			// A send is the child of the step that made the message, or of
			// the request for the first one.
			cause, known := causedBy[msg]
			switch {
			case attr(s, "messaging.operation.type") != "send":
				t.Errorf("send %q: messaging.operation.type = %q", s.Name, attr(s, "messaging.operation.type"))
			case !known:
				t.Errorf("send %q of message %s, which the observer never saw", s.Name, msg)
			case cause == "" && up != root:
				t.Errorf("send %q has parent %q, want the request", s.Name, up.Name)
			case cause != "" && (up.Kind != tracev1.Span_SPAN_KIND_CONSUMER || attr(up, "messaging.message.id") != cause):
				t.Errorf("send %q has parent %q (message %s), want the step that handled %s", s.Name, up.Name, attr(up, "messaging.message.id"), cause)
			}
		default:
			t.Errorf("span %q of kind %v in the saga's trace", s.Name, s.Kind)
		}
	}
	t.Logf("trace %s: %v", view.TraceID, names(spans))
	if consumers < len(steps) {
		t.Errorf("%d steps in the trace, want at least %d: %v", consumers, len(steps), names(spans))
	}
}

func names(spans []*tracev1.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
