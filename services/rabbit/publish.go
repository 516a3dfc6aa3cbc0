package rabbit

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sagaboard/sagaboard/services/saga"
)

// Header names sagaboard adds to every message.
const (
	hdrSource      = "x-sagaboard-source"
	hdrPublishedMS = "x-sagaboard-published-ms"
	hdrAttempt     = "x-sagaboard-attempt"
	hdrCausedBy    = "x-sagaboard-caused-by"
	hdrDeadQueue   = "x-sagaboard-dead-queue"
	hdrDeadReason  = "x-sagaboard-dead-reason"
	// hdrOriginalSender rides on a dead letter and on its replay: the user
	// that published the message before it died (see saga.Senders.Check).
	hdrOriginalSender = "x-sagaboard-original-sender"
	// hdrTraceParent and hdrTraceState are W3C Trace Context, under the
	// names its HTTP binding uses, as OpenTelemetry's AMQP instrumentations
	// write them: any traced consumer of the exchange continues the trace.
	hdrTraceParent = "traceparent"
	hdrTraceState  = "tracestate"
)

// publishTimeout bounds one publish and its confirm when the caller's
// context has no deadline of its own.
const publishTimeout = 10 * time.Second

// Publish sends msgs through the saga exchange, persistent, and returns only
// when the broker has confirmed all of them. On a nack or a lost connection it
// returns an error and the caller (the outbox relay) tries again later.
func (b *Broker) Publish(ctx context.Context, msgs ...saga.Message) error {
	return b.publish(ctx, saga.Exchange, "", msgs)
}

// Replay puts m straight back into queue, through the replay exchange where
// each queue is bound by its own name.
func (b *Broker) Replay(ctx context.Context, queue string, m saga.Message) error {
	return b.publish(ctx, ReplayExchange, queue, []saga.Message{m})
}

func (b *Broker) publish(ctx context.Context, exchange, key string, msgs []saga.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, publishTimeout)
		defer cancel()
	}
	s, err := b.session(ctx)
	if err != nil {
		return err
	}
	confirms := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	for _, m := range msgs {
		rk := key
		if rk == "" {
			rk = m.RoutingKey
		}
		dc, err := s.pub.PublishWithDeferredConfirmWithContext(ctx, exchange, rk, false, false, publishing(m, b.uri.Username))
		if err != nil {
			return fmt.Errorf("rabbit: publish %s to %s: %w", m.Type, rk, err)
		}
		confirms = append(confirms, dc)
	}
	for i, dc := range confirms {
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			return fmt.Errorf("rabbit: wait for confirm of %s: %w", msgs[i].Type, err)
		}
		if !ok {
			return fmt.Errorf("rabbit: broker refused %s to %s: %w", msgs[i].Type, msgs[i].RoutingKey, errNacked)
		}
	}
	return nil
}

var errNacked = errors.New("nacked (or the connection closed before the confirm)")

// publishing makes the AMQP message. user is the connection's user: the
// broker refuses a user_id that is not, so a consumer can believe it.
func publishing(m saga.Message, user string) amqp.Publishing {
	ts := m.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	h := amqp.Table{
		hdrSource:      m.Source,
		hdrPublishedMS: time.Now().UnixMilli(),
	}
	if m.Attempt > 0 {
		h[hdrAttempt] = int64(m.Attempt)
	}
	if m.CausationID != "" {
		h[hdrCausedBy] = m.CausationID
	}
	if m.DeadQueue != "" {
		h[hdrDeadQueue] = m.DeadQueue
		h[hdrDeadReason] = m.DeadReason
	}
	if m.OriginalSender != "" {
		h[hdrOriginalSender] = m.OriginalSender
	}
	if m.Trace.Parent != "" {
		h[hdrTraceParent] = m.Trace.Parent
		if m.Trace.State != "" {
			h[hdrTraceState] = m.Trace.State
		}
	}
	return amqp.Publishing{
		Headers:       h,
		ContentType:   "application/json",
		DeliveryMode:  amqp.Persistent,
		MessageId:     m.ID,
		CorrelationId: m.CorrelationID,
		Type:          m.Type,
		Timestamp:     ts,
		AppId:         "sagaboard",
		UserId:        user,
		Body:          m.Body,
	}
}

// message turns a delivery into a saga.Message. Missing or mistyped headers
// become zero values: validating the message is the handler's job, and a
// header of the wrong type must not crash the consumer.
func message(queue string, d amqp.Delivery) saga.Message {
	m := saga.Message{
		ID:            d.MessageId,
		CorrelationID: d.CorrelationId,
		Type:          d.Type,
		RoutingKey:    d.RoutingKey,
		Timestamp:     d.Timestamp,
		Body:          d.Body,
		Redelivered:   d.Redelivered,
		Queue:         queue,
		Sender:        d.UserId,
	}
	m.Source, _ = d.Headers[hdrSource].(string)
	m.OriginalSender, _ = d.Headers[hdrOriginalSender].(string)
	m.CausationID, _ = d.Headers[hdrCausedBy].(string)
	// Whatever crossed the wire is only a hint: the tracing adapter parses
	// it and ignores one that is malformed.
	m.Trace.Parent, _ = d.Headers[hdrTraceParent].(string)
	m.Trace.State, _ = d.Headers[hdrTraceState].(string)
	if ms, ok := asInt(d.Headers[hdrPublishedMS]); ok && ms > 0 {
		m.Timestamp = time.UnixMilli(ms)
	}
	if a, ok := asInt(d.Headers[hdrAttempt]); ok && a > 0 && a < 1<<20 {
		m.Attempt = int(a)
	}
	m.DeadQueue, _ = d.Headers[hdrDeadQueue].(string)
	m.DeadReason, _ = d.Headers[hdrDeadReason].(string)
	if m.DeadQueue == "" {
		// Dead-lettered by the broker itself (a reject, or a quorum queue's
		// delivery limit): x-death says from where and why.
		if deaths, ok := d.Headers["x-death"].([]interface{}); ok && len(deaths) > 0 {
			if t, ok := deaths[0].(amqp.Table); ok {
				m.DeadQueue, _ = t["queue"].(string)
				if r, _ := t["reason"].(string); r != "" {
					m.DeadReason = "broker: " + r
				}
			}
		}
	}
	if m.Timestamp.IsZero() {
		m.Timestamp = time.Now()
	}
	return m
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case int:
		return int64(n), true
	case int16:
		return int64(n), true
	case int8:
		return int64(n), true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	}
	return 0, false
}
