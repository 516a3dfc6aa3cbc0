// Package opentelemetry traces the saga with OpenTelemetry: a booking's
// request, every message its steps publish and every step that consumes
// one are spans of one trace, carried across RabbitMQ and the outboxes as
// W3C Trace Context (saga.Trace, the traceparent and tracestate headers).
//
// It is an adapter like the others: it imports the domain and no other
// adapter, and cmd/sagaboard wires it in three places: Handler around the
// HTTP server (a request starts a trace), Consume in each part's pipeline
// (a span per step) and Bus around each part's publisher (a span per
// message sent).
//
// Spans are exported over OTLP/HTTP only when Config.Endpoint is set. With
// none, ids are still made, so every message carries a traceparent as the
// contract says, but no span is sampled, recorded or sent: a step costs a
// parse, two random ids and a format.
package opentelemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/sagaboard/sagaboard/services/saga"
)

// BookingIDKey is the span attribute that names the booking a step worked
// on. Messaging's conversation id says the same in its own words; this one
// is what a person searches for.
const BookingIDKey = attribute.Key("sagaboard.booking.id")

// instrumentation is the tracer's name, as OpenTelemetry asks: the
// instrumenting package.
const instrumentation = "github.com/sagaboard/sagaboard/services/opentelemetry"

// Config configures tracing.
type Config struct {
	// Endpoint is the OTLP/HTTP base URL spans are sent to, as the standard
	// OTEL_EXPORTER_OTLP_ENDPOINT gives it, e.g. http://127.0.0.1:4318; the
	// exporter adds /v1/traces. Default "": nothing is exported.
	Endpoint string
	// ServiceName is the resource's service.name. Default "sagaboard";
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over it.
	ServiceName string
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// Tracing makes the saga's spans. The zero value is not usable; call New.
type Tracing struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TraceContext
	export bool
}

// New sets tracing up. It starts no connection: the exporter sends in the
// background, and an endpoint that does not answer loses spans, never a
// step. Shutdown flushes what is buffered.
func New(ctx context.Context, cfg Config) (*Tracing, error) {
	if cfg.ServiceName == "" {
		cfg.ServiceName = "sagaboard"
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	opts := []sdktrace.TracerProviderOption{}
	t := &Tracing{export: cfg.Endpoint != ""}
	if t.export {
		url := strings.TrimRight(cfg.Endpoint, "/") + "/v1/traces"
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(url))
		if err != nil {
			return nil, fmt.Errorf("opentelemetry: exporter for %s: %w", cfg.Endpoint, err)
		}
		res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(cfg.ServiceName)),
			resource.WithTelemetrySDK(), resource.WithFromEnv())
		if err != nil && !errors.Is(err, resource.ErrPartialResource) {
			return nil, fmt.Errorf("opentelemetry: resource: %w", err)
		}
		// The sampler is the SDK's default, parent-based always-on, unless
		// OTEL_TRACES_SAMPLER says otherwise.
		opts = append(opts, sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		cfg.Log.Info("exporting traces over OTLP/HTTP", "url", url)
	} else {
		// Ids without recording: a trace sampled upstream (another process
		// that exports) is still recorded here, so split processes keep one
		// trace, but it goes nowhere from this one.
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	}
	t.tp = sdktrace.NewTracerProvider(opts...)
	t.tracer = t.tp.Tracer(instrumentation)
	return t, nil
}

// Exporting reports whether spans are sent anywhere.
func (t *Tracing) Exporting() bool { return t.export }

// Shutdown sends the spans still buffered, within ctx, and stops.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if err := t.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("opentelemetry: shutdown: %w", err)
	}
	return nil
}

// context returns ctx with the remote span that tr names as its parent;
// a missing or malformed traceparent leaves ctx as it is.
func (t *Tracing) context(ctx context.Context, tr saga.Trace) context.Context {
	if tr.Parent == "" {
		return ctx
	}
	return t.prop.Extract(ctx, carrier{&tr})
}

// trace returns the W3C Trace Context of ctx's span.
func (t *Tracing) trace(ctx context.Context) saga.Trace {
	var tr saga.Trace
	t.prop.Inject(ctx, carrier{&tr})
	return tr
}

// carrier is a saga.Trace as the propagator reads and writes headers: no
// map to make for every message.
type carrier struct{ t *saga.Trace }

func (c carrier) Get(key string) string {
	switch key {
	case "traceparent":
		return c.t.Parent
	case "tracestate":
		return c.t.State
	}
	return ""
}

func (c carrier) Set(key, value string) {
	switch key {
	case "traceparent":
		c.t.Parent = value
	case "tracestate":
		c.t.State = value
	}
}

func (carrier) Keys() []string { return []string{"traceparent", "tracestate"} }

// messaging is what every span about m says, after OpenTelemetry's
// messaging conventions for RabbitMQ: the destination is the exchange,
// with the routing key beside it.
func messaging(m saga.Message, op string, typ attribute.KeyValue) []attribute.KeyValue {
	return []attribute.KeyValue{
		semconv.MessagingSystemRabbitMQ,
		typ,
		semconv.MessagingOperationName(op),
		semconv.MessagingDestinationName(saga.Exchange),
		semconv.MessagingRabbitMQDestinationRoutingKey(m.RoutingKey),
		semconv.MessagingMessageID(m.ID),
		semconv.MessagingMessageConversationID(m.CorrelationID),
		semconv.MessagingMessageBodySize(max(m.Size, len(m.Body))),
		BookingIDKey.String(m.CorrelationID),
		attribute.String("sagaboard.message.type", m.Type),
	}
}

// fail marks span as failed with err, as the conventions ask: status
// Error and error.type, here whether a retry can help.
func fail(span trace.Span, err error) {
	kind := "retry"
	if errors.Is(err, saga.ErrPoison) {
		kind = "poison"
	}
	span.SetAttributes(semconv.ErrorTypeKey.String(kind))
	span.SetStatus(codes.Error, err.Error())
}

// Consume is the pipeline step that records a span per consumed message:
// "process <queue>", a child of the span that sent the message, from the
// moment the batch reaches the pipeline until its handler has decided.
// The handler sees the step's own context in Message.Trace, so the
// messages it makes are the step's children. The observer's queues are
// passed through untouched: recording what others did is not a step.
// Put it first, so the span covers every other step of the pipeline.
func (t *Tracing) Consume() saga.Middleware {
	return func(h saga.BatchHandler) saga.BatchHandler {
		return func(ctx context.Context, msgs []saga.Message) []saga.Outcome {
			// A copy: the transport keeps msgs to dead-letter them as they
			// arrived.
			traced := make([]saga.Message, len(msgs))
			spans := make([]trace.Span, len(msgs))
			for i, m := range msgs {
				traced[i] = m
				if m.Queue == saga.ObserverQueue || m.Queue == saga.DeadLetterQueue {
					continue
				}
				sctx, span := t.tracer.Start(t.context(ctx, m.Trace), "process "+m.Queue, trace.WithSpanKind(trace.SpanKindConsumer))
				if span.IsRecording() {
					span.SetAttributes(messaging(m, "process", semconv.MessagingOperationTypeProcess)...)
					span.SetAttributes(semconv.MessagingDestinationSubscriptionName(m.Queue), semconv.MessagingConsumerGroupName(m.Queue))
					if m.Redelivered {
						span.SetAttributes(attribute.Bool("sagaboard.message.redelivered", true))
					}
				}
				traced[i].Trace = t.trace(sctx)
				spans[i] = span
			}
			outs := h(ctx, traced)
			for i, span := range spans {
				if span == nil {
					continue
				}
				if i < len(outs) && outs[i].Err != nil {
					fail(span, outs[i].Err)
				}
				span.End()
			}
			return outs
		}
	}
}

// Bus returns bus with a span per published message: "send <routing
// key>", a child of the step (or request) that made the message, lasting
// until the broker confirmed it. The message leaves with the send span's
// context, so its consumers are that span's children. A message with no
// trace starts one, so every message carries a traceparent.
func (t *Tracing) Bus(bus saga.Bus) saga.Bus { return tracedBus{bus, t} }

type tracedBus struct {
	saga.Bus
	t *Tracing
}

func (b tracedBus) Publish(ctx context.Context, msgs ...saga.Message) error {
	// The relay publishes long after the step that made each message,
	// under a context of its own: a message's trace is its parent, never
	// ctx's.
	sent, spans := b.send(func(m saga.Message) context.Context { return b.t.context(context.Background(), m.Trace) }, msgs)
	return b.end(spans, b.Bus.Publish(ctx, sent...))
}

// Replay sends a dead letter back as a child of what asked for it (the
// request to replay it), or else of the trace it died in.
func (b tracedBus) Replay(ctx context.Context, queue string, m saga.Message) error {
	sent, spans := b.send(func(m saga.Message) context.Context {
		if trace.SpanContextFromContext(ctx).IsValid() {
			return ctx
		}
		return b.t.context(context.Background(), m.Trace)
	}, []saga.Message{m})
	return b.end(spans, b.Bus.Replay(ctx, queue, sent[0]))
}

// send starts a send span per message, under the parent that parent
// gives, and returns the messages carrying their span's context.
func (b tracedBus) send(parent func(saga.Message) context.Context, msgs []saga.Message) ([]saga.Message, []trace.Span) {
	sent := make([]saga.Message, len(msgs))
	spans := make([]trace.Span, len(msgs))
	for i, m := range msgs {
		sctx, span := b.t.tracer.Start(parent(m), "send "+m.RoutingKey, trace.WithSpanKind(trace.SpanKindProducer))
		if span.IsRecording() {
			span.SetAttributes(messaging(m, "publish", semconv.MessagingOperationTypeSend)...)
			span.SetAttributes(attribute.String("sagaboard.part", m.Source))
		}
		sent[i] = m
		sent[i].Trace = b.t.trace(sctx)
		spans[i] = span
	}
	return sent, spans
}

// end ends the send spans once the broker has answered with err.
func (tracedBus) end(spans []trace.Span, err error) error {
	for _, span := range spans {
		if err != nil {
			fail(span, err)
		}
		span.End()
	}
	return err
}

// Handler starts a trace for each state-changing request (a POST or a
// PUT: a booking, a switch, a replay) and passes its context on in the
// request's context, where an outbox write finds it
// (saga.ContextWithTrace). A request that carries a traceparent continues
// the caller's trace. Reads pass untraced: a dashboard polls them.
func (t *Tracing) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		ctx = saga.ContextWithTrace(ctx, t.trace(ctx))
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		r = r.WithContext(ctx)
		next.ServeHTTP(sw, r)
		if !span.IsRecording() {
			return
		}
		// The mux wrote the route it chose into r (Go 1.23): the span's
		// name is bounded by the routes, never by the ids in a path.
		name := r.Method
		if r.Pattern != "" {
			_, route, _ := strings.Cut(r.Pattern, " ")
			name += " " + route
			span.SetAttributes(semconv.HTTPRoute(route))
		}
		span.SetName(name)
		span.SetAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.HTTPResponseStatusCode(sw.code))
		if id := w.Header().Get("Location"); strings.HasPrefix(id, "/api/bookings/") {
			span.SetAttributes(BookingIDKey.String(strings.TrimPrefix(id, "/api/bookings/")))
		}
		if sw.code >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.code))
		}
	})
}

// statusWriter remembers the status an answer was sent with.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection underneath,
// for the server's per-request deadlines and the WebSocket.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
