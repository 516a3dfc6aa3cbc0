// Package inmem is a saga.Bus held in memory: the saga's exchange, queues,
// retry queues and dead letters, with the semantics the participants rely on
// from RabbitMQ, and nothing else. It is for tests, and for a newcomer who
// wants to read in two hundred lines what the broker does for the saga.
//
// It passes the same conformance suite as the RabbitMQ adapter
// (services/bustest). What it leaves out on purpose: persistence (a Bus is
// gone with its process), broker restarts, and the cut of oversized bodies to
// a prefix (a body is kept whole; saga.Expect still refuses it by Size).
package inmem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// requeueBackoff is how long a consumer waits before it puts back a batch
// whose handler failed, as the RabbitMQ adapter does, so that a handler that
// fails every time does not spin.
const requeueBackoff = 100 * time.Millisecond

// Bus is an in-memory broker with the saga's topology. The zero value is not
// usable; call New. It is safe for concurrent use.
type Bus struct {
	mu     sync.Mutex
	queues map[string][]saga.Message // ready messages, head first
	// changed is closed and replaced whenever a queue gets a message, so
	// waiting consumers wake without polling.
	changed chan struct{}
	timers  map[*time.Timer]struct{} // retries waiting for their delay
	closed  bool
}

// New returns an empty bus whose queues are saga.WorkQueues().
func New() *Bus {
	b := &Bus{queues: map[string][]saga.Message{}, changed: make(chan struct{}), timers: map[*time.Timer]struct{}{}}
	for _, q := range saga.WorkQueues() {
		b.queues[q] = nil
	}
	return b
}

// Close drops the retries still waiting for their delay. Messages in queues
// stay readable, so a test can look at them after the saga stopped.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for t := range b.timers {
		t.Stop()
	}
	clear(b.timers)
	return nil
}

// As returns a view of the bus whose publishes carry user as their Sender,
// as RabbitMQ stamps user_id with the publishing connection's user. The Bus
// itself publishes as "".
func (b *Bus) As(user string) saga.Bus { return as{b, user} }

type as struct {
	*Bus
	user string
}

func (a as) Publish(ctx context.Context, msgs ...saga.Message) error {
	return a.publish(ctx, a.user, msgs)
}

func (a as) Replay(ctx context.Context, queue string, m saga.Message) error {
	return a.replay(ctx, a.user, queue, m)
}

func (a as) Consume(ctx context.Context, queue string, opt saga.ConsumeOptions, h saga.BatchHandler) error {
	return a.consume(ctx, a.user, queue, opt, h)
}

// Ready returns a copy of the messages waiting in queue, head first.
func (b *Bus) Ready(queue string) []saga.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.queues[queue])
}

// Publish routes every message by its RoutingKey as saga.Exchange would and
// returns once all are stored: storing is the confirm.
func (b *Bus) Publish(ctx context.Context, msgs ...saga.Message) error {
	return b.publish(ctx, "", msgs)
}

func (b *Bus) publish(ctx context.Context, user string, msgs []saga.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inmem: publish: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range msgs {
		m = stamp(m, user, m.RoutingKey)
		if rq, ok := retryQueue(m.RoutingKey); ok {
			b.hold(rq, m)
		}
		for q, keys := range saga.Bindings {
			if q == saga.ObserverQueue || slices.Contains(keys, m.RoutingKey) {
				b.push(q, m)
			}
		}
	}
	return nil
}

// Replay puts m straight into queue, past the exchange, so no other queue
// bound to the same key gets it twice. RabbitMQ drops a replay to a queue
// that does not exist without a word; here it is an error.
func (b *Bus) Replay(ctx context.Context, queue string, m saga.Message) error {
	return b.replay(ctx, "", queue, m)
}

func (b *Bus) replay(ctx context.Context, user, queue string, m saga.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inmem: replay to %s: %w", queue, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.queues[queue]; !ok {
		return fmt.Errorf("inmem: replay to %s: no such queue", queue)
	}
	b.push(queue, stamp(m, user, queue))
	return nil
}

// stamp makes m as a consumer will see it: what the publisher said is kept,
// except what the broker knows better (who sent it, with which key, and how
// big it is). The body is copied, as bytes that crossed a wire would be.
func stamp(m saga.Message, user, key string) saga.Message {
	m.Body = bytes.Clone(m.Body)
	m.Sender, m.RoutingKey, m.Size = user, key, len(m.Body)
	m.Redelivered, m.Queue = false, ""
	if m.Timestamp.IsZero() {
		m.Timestamp = time.Now()
	}
	return m
}

func retryQueue(key string) (saga.RetryQueue, bool) {
	for _, r := range saga.NotificationRetryQueues {
		if r.Name == key {
			return r, true
		}
	}
	return saga.RetryQueue{}, false
}

// hold keeps a retry for its queue's delay and then hands it to
// notification_queue, as a retry queue's TTL dead-letters it there. The
// caller holds the lock.
func (b *Bus) hold(rq saga.RetryQueue, m saga.Message) {
	if b.closed {
		return
	}
	m.RoutingKey = saga.NotificationQueue
	var t *time.Timer
	t = time.AfterFunc(rq.Delay, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.timers[t]; ok {
			delete(b.timers, t)
			b.push(saga.NotificationQueue, m)
		}
	})
	b.timers[t] = struct{}{}
}

// push appends m to queue and wakes the consumers. The caller holds the lock.
func (b *Bus) push(queue string, m saga.Message) {
	m.Queue = queue
	b.queues[queue] = append(b.queues[queue], m)
	b.wake()
}

// putBack returns unsettled messages to the head of their queue, in their
// order and marked redelivered, which is where RabbitMQ puts a requeued
// message when it can. The caller holds the lock.
func (b *Bus) putBack(queue string, msgs []saga.Message) {
	back := make([]saga.Message, len(msgs))
	for i, m := range msgs {
		m.Redelivered = true
		back[i] = m
	}
	b.queues[queue] = append(back, b.queues[queue]...)
	b.wake()
}

func (b *Bus) wake() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// take waits for ready messages in queue and takes up to max of them. It
// returns nil when ctx ends first, or when it is paused; then the caller
// looks at the switches again.
func (b *Bus) take(ctx context.Context, queue string, max int, opt saga.ConsumeOptions) []saga.Message {
	var switched <-chan struct{}
	if opt.Changed != nil {
		switched = opt.Changed()
	}
	for {
		b.mu.Lock()
		ready, changed := b.queues[queue], b.changed
		paused := opt.Paused != nil && opt.Paused()
		// A paused consumer with a permit takes exactly one message, as the
		// RabbitMQ adapter does with prefetch 1, and is paused again.
		letOne := paused && opt.LetOne != nil && opt.LetOne(false)
		if len(ready) > 0 && letOne && opt.LetOne(true) {
			batch := []saga.Message{ready[0]}
			b.queues[queue] = slices.Clone(ready[1:])
			b.mu.Unlock()
			return batch
		}
		if len(ready) > 0 && !paused {
			n := min(max, len(ready))
			batch := slices.Clone(ready[:n])
			b.queues[queue] = slices.Clone(ready[n:])
			b.mu.Unlock()
			return batch
		}
		b.mu.Unlock()
		if paused && !letOne {
			changed = nil // a new message does not end a pause
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-switched:
			return nil
		case <-time.After(time.Second): // a pause without Changed is polled
		}
	}
}

// Consume hands queue's messages to h in batches until ctx ends, then
// settles each as its Outcome says: ack (drop it), dead-letter it to
// dead_letter_queue with the reason, or requeue it at the head, marked
// redelivered. As with RabbitMQ, the next batch is handled while the last
// one waits for its Durable, and a batch in hand is finished after ctx ends.
func (b *Bus) Consume(ctx context.Context, queue string, opt saga.ConsumeOptions, h saga.BatchHandler) error {
	return b.consume(ctx, "", queue, opt, h)
}

// handled is a batch whose handler has run, waiting to be settled.
type handled struct {
	msgs []saga.Message
	outs []saga.Outcome
}

func (b *Bus) consume(ctx context.Context, user, queue string, opt saga.ConsumeOptions, h saga.BatchHandler) error {
	b.mu.Lock()
	_, ok := b.queues[queue]
	b.mu.Unlock()
	if !ok {
		return fmt.Errorf("inmem: consume %s: no such queue", queue)
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 64
	}
	// The settle stage's short queue stands in for the prefetch: it bounds
	// how many handled batches wait for their Durable.
	settle := make(chan handled, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for hd := range settle {
			b.settle(ctx, user, queue, hd)
		}
	}()
	defer func() { close(settle); <-done }()
	for ctx.Err() == nil {
		max := opt.MaxBatch
		var wait time.Duration
		if opt.Delay != nil {
			if wait = opt.Delay(); wait > 0 {
				max = 1 // a slowed step handles one message at a time
			}
		}
		batch := b.take(ctx, queue, max, opt)
		if len(batch) == 0 {
			continue
		}
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				b.mu.Lock()
				b.putBack(queue, batch)
				b.mu.Unlock()
				return nil
			}
		}
		hctx := context.WithoutCancel(ctx) // a graceful stop finishes the batch
		settle <- handled{msgs: batch, outs: call(hctx, batch, h)}
	}
	return nil
}

// settle waits for each Durable, then acks, dead-letters or requeues.
func (b *Bus) settle(ctx context.Context, user, queue string, hd handled) {
	wctx := context.WithoutCancel(ctx)
	for i, o := range hd.outs {
		if o.Err == nil && o.Durable != nil {
			if err := o.Durable(wctx); err != nil {
				hd.outs[i].Err = err
			}
		}
	}
	var again []saga.Message
	for i, o := range hd.outs {
		if o.Err != nil && !errors.Is(o.Err, saga.ErrPoison) {
			again = append(again, hd.msgs[i])
		}
	}
	if len(again) > 0 {
		select {
		case <-time.After(requeueBackoff):
		case <-ctx.Done():
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, o := range hd.outs {
		if o.Err == nil || !errors.Is(o.Err, saga.ErrPoison) {
			continue
		}
		dead := hd.msgs[i]
		dead.DeadQueue, dead.DeadReason = queue, o.Err.Error()
		if dead.OriginalSender == "" {
			dead.OriginalSender = dead.Sender
		}
		if dead.ID == "" {
			dead.ID = saga.NewID()
		}
		b.push(saga.DeadLetterQueue, stamp(dead, user, saga.DeadLetterQueue))
	}
	if len(again) > 0 {
		b.putBack(queue, again)
	}
}

// call runs h. A panic is not caught here, as in the RabbitMQ adapter:
// recovering is a step of the pipeline in front of h (saga.Recover). A
// handler that answers the wrong number of outcomes decided nothing, so its
// batch goes back to be tried again.
func call(ctx context.Context, msgs []saga.Message, h saga.BatchHandler) []saga.Outcome {
	outs := h(ctx, msgs)
	if len(outs) != len(msgs) {
		err := fmt.Errorf("inmem: handler returned %d outcomes for %d messages", len(outs), len(msgs))
		outs = make([]saga.Outcome, len(msgs))
		for i := range outs {
			outs[i].Err = err
		}
	}
	return outs
}
