package rabbit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sagaboard/sagaboard/services/saga"
)

// handleTimeout bounds one batch. A batch is not cancelled by shutdown: the
// consumer stops taking new batches and lets the one in hand finish, which is
// what a graceful stop means.
const handleTimeout = 30 * time.Second

// hdrStreamOffset is set by the broker on a delivery from a stream: the
// message's offset in it. As a consumer argument it says where to start.
const hdrStreamOffset = "x-stream-offset"

// Consume consumes queue until ctx ends, across reconnects and pauses. Each
// batch is handed to h; then every message is acked, dead-lettered or
// requeued as h decided. It returns nil when ctx ends, and otherwise the
// error that stopped it: the broker refusing this user the queue, or having
// no such queue, which no retry fixes (ErrPermanent).
func (b *Broker) Consume(ctx context.Context, queue string, opt saga.ConsumeOptions, h saga.BatchHandler) error {
	if opt.Prefetch <= 0 {
		opt.Prefetch = 256
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 64
	}
	if opt.From != nil {
		// A stream is read at the pace of its reader: nothing waits in it
		// to be counted, so pausing or slowing it would show nothing.
		opt.Paused, opt.Delay, opt.LetOne, opt.Changed = nil, nil, nil, nil
	}
	for ctx.Err() == nil {
		if opt.Paused != nil && opt.Paused() {
			// Paused: no subscription at all, so messages wait as "ready" in
			// the queue, where every process and the dashboard can see them.
			var changed <-chan struct{}
			if opt.Changed != nil {
				changed = opt.Changed()
			}
			if !opt.Paused() {
				continue
			}
			if opt.LetOne != nil && opt.LetOne(false) {
				s, err := b.session(ctx)
				if err != nil {
					break
				}
				if err := b.consumeOne(ctx, s, queue, opt, h); err != nil && ctx.Err() == nil {
					if err := forGood(err); err != nil {
						return fmt.Errorf("rabbit: consume %s: %w", queue, err)
					}
					b.log.Warn("letting one message through failed; trying again", "queue", queue, "err", err)
					select {
					case <-time.After(500 * time.Millisecond):
					case <-ctx.Done():
					}
				}
				continue
			}
			select {
			case <-changed:
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			continue
		}
		s, err := b.session(ctx)
		if err != nil {
			break
		}
		if err := b.consumeSession(ctx, s, queue, opt, h); err != nil && ctx.Err() == nil {
			if err := forGood(err); err != nil {
				return fmt.Errorf("rabbit: consume %s: %w", queue, err)
			}
			b.log.Warn("consumer stopped; restarting", "queue", queue, "err", err)
			select {
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
	return nil
}

func (b *Broker) consumeSession(ctx context.Context, s *session, queue string, opt saga.ConsumeOptions, h saga.BatchHandler) error {
	ch, err := s.conn.Channel()
	if err != nil {
		return fmt.Errorf("rabbit: open channel for %s: %w", queue, err)
	}
	// Closing the channel requeues whatever it holds unacked: that is how a
	// pause or a shutdown hands its prefetched messages back.
	defer ch.Close()
	// A slowed step takes one message at a time from the broker, so the
	// rest wait as "ready" where the dashboard can count them, instead of
	// sitting unseen in this process's prefetch.
	slow := opt.Delay != nil && opt.Delay() > 0
	prefetch := opt.Prefetch
	if slow {
		prefetch = 1
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		return fmt.Errorf("rabbit: qos for %s: %w", queue, err)
	}
	// Take the change channel before the last look at the switch, so a
	// pause that lands in between still wakes the loop below.
	var changed <-chan struct{}
	if opt.Changed != nil {
		changed = opt.Changed()
	}
	if opt.Paused != nil && opt.Paused() {
		return nil
	}
	var args amqp.Table
	if opt.From != nil {
		from, err := opt.From(ctx)
		if err != nil {
			return fmt.Errorf("rabbit: where to read stream %s from: %w", queue, err)
		}
		if from > 0 {
			ok, end, err := streamHolds(ctx, s, queue, from)
			if err != nil {
				return err
			}
			if !ok {
				// Past the end, the broker would wait for the stream to grow
				// that long and hand over nothing before: it was deleted and
				// made anew (to change its retention, say). Read the new one
				// whole; what was recorded from the old one stays.
				b.log.Warn("the stream ends before the offset this reader stored: it was made anew; reading it from its start", "queue", queue, "stored", from, "end", end)
				from = 0
			}
		}
		args = amqp.Table{hdrStreamOffset: from}
		b.log.Info("reading a stream", "queue", queue, "from_offset", from)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, args)
	if err != nil {
		return fmt.Errorf("rabbit: consume %s: %w", queue, err)
	}
	in := readBounded(deliveries, prefetch)
	defer in.stop()
	// Acks happen in a second stage, in order, so the next batch is handled
	// while this one's consequences are being confirmed. The stage's queue is
	// short: prefetch bounds what is in flight anyway.
	acks := make(chan handled, 4)
	ackErr := make(chan error, 1)
	// taken counts deliveries read and not yet settled. Whatever is left
	// when the channel closes goes back to the broker, so it stops counting.
	held, taken := b.held(queue), new(atomic.Int64)
	go func() { ackErr <- b.acker(ctx, s, ch, queue, acks, taken) }()
	defer func() {
		close(acks)
		<-ackErr
		held.Add(-taken.Swap(0))
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.dead:
			return nil
		case <-changed:
			changed = opt.Changed()
			if opt.Paused != nil && opt.Paused() {
				return nil
			}
			if opt.Delay != nil && (opt.Delay() > 0) != slow {
				return nil // start again with the prefetch that fits
			}
		case err := <-ackErr:
			ackErr <- err // for the deferred drain
			return err
		case d, ok := <-in.c:
			if !ok {
				return errors.New("delivery channel closed")
			}
			batch := make([]delivery, 1, opt.MaxBatch)
			batch[0] = d
			held.Add(1)
			taken.Add(1)
			max := opt.MaxBatch
			if opt.Delay != nil {
				if wait := opt.Delay(); wait > 0 {
					// A slowed step handles one message at a time, each after
					// the delay, as a person watching it expects.
					max = 1
					select {
					case <-time.After(wait):
					case <-ctx.Done():
						return nil
					case <-s.dead:
						return nil
					}
				}
			}
		more:
			for len(batch) < max {
				select {
				case d, ok := <-in.c:
					if !ok {
						break more
					}
					batch = append(batch, d)
					held.Add(1)
					taken.Add(1)
				default:
					break more
				}
			}
			done := b.handle(ctx, queue, batch, h, opt.From != nil)
			select {
			case acks <- done:
			case err := <-ackErr:
				ackErr <- err
				return err
			}
			// A stream cannot take a message back: the next batch must not
			// be recorded past one that was not, or a reader resuming from
			// its stored offset would skip it. Start again from there.
			if err := done.failed(); done.stream && err != nil {
				return fmt.Errorf("rabbit: read stream %s: %w", queue, err)
			}
		}
	}
}

// handled is a batch whose handler has run, waiting to be acked.
type handled struct {
	batch  []delivery
	msgs   []saga.Message
	outs   []saga.Outcome
	stream bool // read from a stream: nothing may be nacked
}

// failed returns the first error of an outcome that is not poison: one
// that asks for the message to be tried again.
func (h handled) failed() error {
	for _, o := range h.outs {
		if o.Err != nil && !errors.Is(o.Err, saga.ErrPoison) {
			return o.Err
		}
	}
	return nil
}

// handle runs h on a batch. It is not cancelled by shutdown: a graceful stop
// finishes the batch in hand. A panic in h is not caught here: recovering is
// a step of the pipeline in front of h (saga.Recover), not the transport's.
func (b *Broker) handle(ctx context.Context, queue string, batch []delivery, h saga.BatchHandler, stream bool) handled {
	msgs := make([]saga.Message, len(batch))
	for i, d := range batch {
		msgs[i] = d.message(queue)
		if stream {
			msgs[i].InStream = true
			off, ok := asInt(d.Headers[hdrStreamOffset])
			if !ok {
				// Read as a stream, a queue that is not one would lose
				// what its other consumers took and never resume.
				err := fmt.Errorf("rabbit: %s is not a stream (its deliveries carry no %s): every process on the vhost must be started with the same -tap, and setup-broker too; %w", queue, hdrStreamOffset, ErrPermanent)
				outs := make([]saga.Outcome, len(msgs))
				for i := range outs {
					outs[i].Err = err
				}
				return handled{batch: batch, msgs: msgs, outs: outs, stream: true}
			}
			msgs[i].Offset = off
		}
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handleTimeout)
	defer cancel()
	outs := h(hctx, msgs)
	if len(outs) != len(msgs) {
		// A handler behind saga.Recover never does this; one that does has
		// decided nothing, so everything goes back to be tried again.
		err := fmt.Errorf("rabbit: handler for %s returned %d outcomes for %d messages", queue, len(outs), len(msgs))
		outs = make([]saga.Outcome, len(msgs))
		for i := range outs {
			outs[i].Err = err
		}
	}
	return handled{batch: batch, msgs: msgs, outs: outs, stream: stream}
}

// acker settles handled batches in the order they were handled, until acks
// is closed. It stops at the first failure, which ends the session's
// consumer; what is left unacked goes back to the broker with the channel.
func (b *Broker) acker(ctx context.Context, s *session, ch *amqp.Channel, queue string, acks <-chan handled, taken *atomic.Int64) error {
	held := b.held(queue)
	for h := range acks {
		if err := b.settle(ctx, s, ch, queue, h); err != nil {
			return err
		}
		n := int64(len(h.batch))
		held.Add(-n)
		taken.Add(-n)
	}
	return nil
}

// settle acks, dead-letters or requeues each message of a handled batch, as
// its handler decided, once what it caused is durable.
func (b *Broker) settle(ctx context.Context, s *session, ch *amqp.Channel, queue string, h handled) error {
	batch, msgs, outs := h.batch, h.msgs, h.outs
	// Waiting is pointless once the session is gone: no ack can reach the
	// broker any more, and it redelivers everything unacked.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handleTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.dead:
			cancel()
		case <-hctx.Done():
		}
	}()
	for i, o := range outs {
		// Outcomes of one batch share one wait; once it has returned, the
		// others return at once.
		if o.Err == nil && o.Durable != nil {
			if err := o.Durable(hctx); err != nil {
				outs[i].Err = err
			}
		}
	}
	allOK := true
	for _, o := range outs {
		if o.Err != nil {
			allOK = false
			break
		}
	}
	if allOK {
		// Deliveries on a channel are settled in order, so one multiple-ack
		// covers the batch.
		if err := ch.Ack(batch[len(batch)-1].DeliveryTag, true); err != nil {
			return fmt.Errorf("rabbit: ack %s: %w", queue, err)
		}
		return nil
	}
	retried := false
	for i, d := range batch {
		err := outs[i].Err
		switch {
		case err == nil:
			if e := ch.Ack(d.DeliveryTag, false); e != nil {
				return fmt.Errorf("rabbit: ack %s: %w", queue, e)
			}
		case errors.Is(err, saga.ErrPoison):
			b.log.Warn("dead-lettering a message", "queue", queue, "message_id", d.MessageId, "reason", err)
			// Its body is already bounded (see bound): whole up to
			// saga.MaxBodyBytes, so a replay can carry it, or else the
			// first 4 KiB, which is all a message that can never be
			// handled needs to show.
			dead := msgs[i]
			dead.RoutingKey, dead.DeadQueue, dead.DeadReason = saga.DeadLetterQueue, queue, err.Error()
			if dead.OriginalSender == "" {
				dead.OriginalSender = dead.Sender
			}
			if dead.ID == "" {
				dead.ID = saga.NewID()
			}
			if perr := b.publish(hctx, DeadExchange, saga.DeadLetterQueue, []saga.Message{dead}); perr != nil {
				// Not confirmed: leave it on the queue rather than lose it.
				// A stream keeps it anyway; a nack there is a connection
				// error (not_implemented), so it is not sent.
				if !h.stream {
					_ = ch.Nack(d.DeliveryTag, false, true)
				}
				return fmt.Errorf("rabbit: dead-letter from %s: %w", queue, perr)
			}
			if e := ch.Ack(d.DeliveryTag, false); e != nil {
				return fmt.Errorf("rabbit: ack %s: %w", queue, e)
			}
		case h.stream:
			// Read again from the stored offset (see consumeSession): on
			// a stream, basic.nack and basic.reject close the connection.
			return fmt.Errorf("rabbit: read stream %s: %w", queue, err)
		default:
			if !retried {
				b.log.Warn("requeueing a batch that failed", "queue", queue, "err", err)
				retried = true
				// Give a failing database or a failing broker a moment
				// rather than spin on the same messages.
				select {
				case <-time.After(250 * time.Millisecond):
				case <-ctx.Done():
				}
			}
			if e := ch.Nack(d.DeliveryTag, false, true); e != nil {
				return fmt.Errorf("rabbit: nack %s: %w", queue, e)
			}
		}
	}
	return nil
}

// forGood returns err marked ErrPermanent when it is the broker refusing a
// channel's operation for good: no permission (403) or no such queue (404).
// It returns nil for anything a retry may fix.
func forGood(err error) error {
	if errors.Is(err, ErrPermanent) {
		return err
	}
	var ae *amqp.Error
	if errors.As(err, &ae) && (ae.Code == amqp.AccessRefused || ae.Code == amqp.NotFound) {
		return fmt.Errorf("%w; %w", err, ErrPermanent)
	}
	return nil
}

// streamWait is how long streamHolds waits to see a stream reach an
// offset. The broker sends the last chunk at once; an empty stream sends
// nothing, and a stream made anew sends offsets short of it.
const streamWait = time.Second

// streamHolds reports whether queue, a stream, has reached offset next:
// whether its last chunk, read on a channel of its own with
// x-stream-offset "last", holds offset next-1 or later. It also returns
// the end it saw: one past the last offset read, 0 for none.
func streamHolds(ctx context.Context, s *session, queue string, next int64) (bool, int64, error) {
	ch, err := s.conn.Channel()
	if err != nil {
		return false, 0, fmt.Errorf("rabbit: open channel to find the end of %s: %w", queue, err)
	}
	defer ch.Close()
	// A chunk holds many messages; the prefetch lets them all come.
	if err := ch.Qos(1000, 0, false); err != nil {
		return false, 0, fmt.Errorf("rabbit: qos to find the end of %s: %w", queue, err)
	}
	ds, err := ch.Consume(queue, "", false, false, false, false, amqp.Table{hdrStreamOffset: "last"})
	if err != nil {
		return false, 0, fmt.Errorf("rabbit: find the end of %s: %w", queue, err)
	}
	end := int64(0)
	wait := time.NewTimer(streamWait)
	defer wait.Stop()
	for {
		select {
		case d, ok := <-ds:
			if !ok {
				return false, 0, fmt.Errorf("rabbit: find the end of %s: the channel closed", queue)
			}
			if off, ok := asInt(d.Headers[hdrStreamOffset]); ok {
				end = max(end, off+1)
			}
			if end >= next {
				return true, end, nil
			}
		case <-wait.C:
			return false, end, nil
		case <-ctx.Done():
			return false, 0, ctx.Err()
		}
	}
}
