package rabbit

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sagaboard/sagaboard/services/saga"
)

// consumeOne lets exactly one message through a paused consumer: it
// subscribes with prefetch 1, so the broker hands over one message and
// holds the rest until it is settled, cancels the subscription as that
// message arrives, so nothing else comes, then handles and settles it as a
// batch of one and closes the channel. The permit is spent only when a
// message is taken: a press on an empty queue waits, subscribed, for the
// next message, unless the step is resumed first.
func (b *Broker) consumeOne(ctx context.Context, s *session, queue string, opt saga.ConsumeOptions, h saga.BatchHandler) error {
	ch, err := s.conn.Channel()
	if err != nil {
		return fmt.Errorf("rabbit: open channel for %s: %w", queue, err)
	}
	defer ch.Close()
	if err := ch.Qos(1, 0, false); err != nil {
		return fmt.Errorf("rabbit: qos for %s: %w", queue, err)
	}
	var changed <-chan struct{}
	if opt.Changed != nil {
		changed = opt.Changed()
	}
	tag := "let-one-" + saga.NewID()
	deliveries, err := ch.Consume(queue, tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("rabbit: consume %s: %w", queue, err)
	}
	var d amqp.Delivery
	for {
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case <-s.dead:
			return nil
		case <-changed:
			changed = opt.Changed()
			if !opt.Paused() || !opt.LetOne(false) {
				return nil // resumed, or the permit went elsewhere
			}
			continue
		case d, ok = <-deliveries:
		}
		if !ok {
			return errors.New("delivery channel closed")
		}
		break
	}
	if err := ch.Cancel(tag, false); err != nil {
		return fmt.Errorf("rabbit: cancel the one-message consumer of %s: %w", queue, err)
	}
	if !opt.LetOne(true) {
		return nil // resumed as it arrived: closing the channel requeues it
	}
	held := b.held(queue)
	held.Add(1)
	defer held.Add(-1)
	if opt.Delay != nil {
		if wait := opt.Delay(); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil
			case <-s.dead:
				return nil
			}
		}
	}
	return b.settle(ctx, s, ch, queue, b.handle(ctx, queue, []delivery{bound(d)}, h, false))
}
