package saga

import "context"

// Trace is a W3C Trace Context (https://www.w3.org/TR/trace-context/) as
// text: the traceparent and tracestate headers. The saga only carries it;
// what makes and reads it is the tracing adapter, wired in main, so the
// domain stays free of any tracing library.
type Trace struct {
	Parent string // traceparent, e.g. 00-<32 hex trace id>-<16 hex span id>-01; "" for none
	State  string // tracestate, vendor data passed along unread; usually ""
}

// TraceID returns the trace id of t's traceparent, or "" when it is
// missing or malformed. It reads the one field the observer records: a
// library's parser would pull a tracing dependency into the domain for
// the 55 characters of version 00.
func (t Trace) TraceID() string {
	p := t.Parent
	// version "-" trace-id "-" parent-id "-" flags, lower-case hex.
	if len(p) < 55 || p[2] != '-' || p[35] != '-' || p[52] != '-' || p[:2] == "ff" {
		return ""
	}
	id := p[3:35]
	zero := true
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return ""
		}
		zero = zero && c == '0'
	}
	if zero {
		return ""
	}
	return id
}

type traceKey struct{}

// ContextWithTrace returns ctx carrying t: messages written to an outbox
// under it, with no trace of their own, take it, so a request that starts
// a booking starts its trace too.
func ContextWithTrace(ctx context.Context, t Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

// TraceFromContext returns the trace ctx carries, or the zero Trace.
func TraceFromContext(ctx context.Context) Trace {
	t, _ := ctx.Value(traceKey{}).(Trace)
	return t
}
