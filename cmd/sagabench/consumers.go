package main

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// hop consumes in and publishes each message on to out. It acks its input
// only once the broker confirmed the output, as a participant with an outbox
// must; waiting for confirms happens beside the publishing loop, and one ack
// with multiple=true covers every message confirmed by then.
func hop(ctx context.Context, conn *amqp.Connection, in, out string, arrived func()) error {
	cch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("ceiling: hop %s: open channel: %w", in, err)
	}
	if err := cch.Qos(ceilingPrefetch, 0, false); err != nil {
		return fmt.Errorf("ceiling: hop %s: qos: %w", in, err)
	}
	pch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("ceiling: hop %s: open publish channel: %w", in, err)
	}
	if err := pch.Confirm(false); err != nil {
		return fmt.Errorf("ceiling: hop %s: confirm mode: %w", in, err)
	}
	deliveries, err := cch.Consume(in, "", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("ceiling: hop %s: consume: %w", in, err)
	}
	type pending struct {
		dc  *amqp.DeferredConfirmation
		tag uint64
	}
	pend := make(chan pending, ceilingPrefetch)
	ackErr := make(chan error, 1)
	go func() {
		defer close(ackErr)
		closed := false
		for p := range pend {
			last := p.tag
			// Confirms come in publish order, so once p is confirmed the
			// ones queued behind it are usually confirmed too.
			for more := true; more; {
				ok, err := p.dc.WaitContext(ctx)
				if err != nil {
					ackErr <- err
					return
				}
				if !ok {
					ackErr <- fmt.Errorf("ceiling: hop %s: publish to %s nacked", in, out)
					return
				}
				last = p.tag
				select {
				case q, ok := <-pend:
					if ok {
						p = q
					} else {
						more, closed = false, true // drained: ack what we have, then stop
					}
				default:
					more = false
				}
			}
			if err := cch.Ack(last, true); err != nil {
				ackErr <- fmt.Errorf("ceiling: hop %s: ack: %w", in, err)
				return
			}
			if closed {
				return
			}
		}
	}()
	defer close(pend)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-ackErr:
			return err
		case d, ok := <-deliveries:
			if !ok {
				return fmt.Errorf("ceiling: hop %s: deliveries closed", in)
			}
			if arrived != nil {
				arrived()
			}
			dc, err := pch.PublishWithDeferredConfirmWithContext(ctx, ceilingExchange, out, false, false, ceilingPublishing(d.Body, out))
			if err != nil {
				return fmt.Errorf("ceiling: hop %s: publish: %w", in, err)
			}
			pend <- pending{dc, d.DeliveryTag}
		}
	}
}

// drain consumes a queue with manual acks, acking every 64 messages or
// when the queue goes quiet, and calls each for every message.
func drain(ctx context.Context, conn *amqp.Connection, queue string, each func()) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("ceiling: drain %s: open channel: %w", queue, err)
	}
	if err := ch.Qos(1000, 0, false); err != nil {
		return fmt.Errorf("ceiling: drain %s: qos: %w", queue, err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("ceiling: drain %s: consume: %w", queue, err)
	}
	var last uint64
	unacked := 0
	quiet := time.NewTimer(time.Hour)
	defer quiet.Stop()
	ack := func() error {
		if unacked == 0 {
			return nil
		}
		unacked = 0
		if err := ch.Ack(last, true); err != nil {
			return fmt.Errorf("ceiling: drain %s: ack: %w", queue, err)
		}
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-quiet.C:
			if err := ack(); err != nil {
				return err
			}
		case d, ok := <-deliveries:
			if !ok {
				return fmt.Errorf("ceiling: drain %s: deliveries closed", queue)
			}
			if each != nil {
				each()
			}
			last = d.DeliveryTag
			unacked++
			if unacked >= 64 {
				if err := ack(); err != nil {
					return err
				}
			}
			quiet.Reset(2 * time.Millisecond)
		}
	}
}
