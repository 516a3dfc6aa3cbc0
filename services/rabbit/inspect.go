package rabbit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// Inspect returns the depth of each queue. AMQP tells ready messages and
// consumers; the broker's unacked counts need the management plugin, so
// Unacked is what this process's consumers have taken in hand and not yet
// settled. Messages the broker has pushed ahead (the prefetch) and no
// consumer has read yet are in neither count (see the README).
func (b *Broker) Inspect(ctx context.Context, queues []string) ([]saga.QueueStat, error) {
	s, err := b.session(ctx)
	if err != nil {
		return nil, err
	}
	// A passive declare of a missing queue closes the channel, so use a
	// channel of its own rather than the shared publisher's.
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("rabbit: inspect: open channel: %w", err)
	}
	defer ch.Close()
	out := make([]saga.QueueStat, 0, len(queues))
	for _, q := range queues {
		info, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
		if err != nil {
			return out, fmt.Errorf("rabbit: inspect %s: %w", q, err)
		}
		ready := info.Messages
		if q == saga.ObserverQueue && b.cfg.Tap == TapStream {
			// A stream's messages are never taken away: what it holds is
			// history every observer reads, not a backlog waiting.
			ready = 0
		}
		out = append(out, saga.QueueStat{Name: q, Ready: ready, Unacked: int(max(0, b.held(q).Load())), Consumers: info.Consumers})
	}
	return out, nil
}

// Unacked is how many deliveries of queue this Broker's consumers have
// taken and not yet settled.
func (b *Broker) Unacked(queue string) int { return int(max(0, b.held(queue).Load())) }

// Broadcast sends m to every process subscribed with Subscribe.
func (b *Broker) Broadcast(ctx context.Context, m saga.Message) error {
	return b.publish(ctx, ControlExchange, m.RoutingKey, []saga.Message{m})
}

// Subscribe delivers every message published with routingKey to fn, in this
// process only, for as long as ctx lives. It is for control messages, such as
// failure-switch changes, that every process must see and none must keep: the
// queue is exclusive and goes away with the connection. ready, when set, is
// called each time the subscription is in place (after every reconnect), so a
// process can ask for state it may have missed. It returns nil when ctx ends,
// and otherwise the broker's refusal that no retry fixes (ErrPermanent).
func (b *Broker) Subscribe(ctx context.Context, routingKey string, ready func(), fn func(saga.Message)) error {
	for ctx.Err() == nil {
		s, err := b.session(ctx)
		if err != nil {
			return nil
		}
		err = func() error {
			ch, err := s.conn.Channel()
			if err != nil {
				return err
			}
			defer ch.Close()
			q, err := ch.QueueDeclare("", false, true, true, false, nil)
			if err != nil {
				return err
			}
			if err := ch.QueueBind(q.Name, routingKey, ControlExchange, false, nil); err != nil {
				return err
			}
			ds, err := ch.Consume(q.Name, "", true, true, false, false, nil)
			if err != nil {
				return err
			}
			// ready publishes, which needs this loop free to go on; it is
			// waited for before the session's channel goes.
			var readying sync.WaitGroup
			defer readying.Wait()
			if ready != nil {
				readying.Go(ready)
			}
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-s.dead:
					return nil
				case d, ok := <-ds:
					if !ok {
						return nil
					}
					fn(bound(d).message(q.Name))
				}
			}
		}()
		if err != nil && ctx.Err() == nil {
			if err := forGood(err); err != nil {
				return fmt.Errorf("rabbit: subscribe to %s: %w", routingKey, err)
			}
			b.log.Warn("control subscription failed; retrying", "key", routingKey, "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
	}
	return nil
}

var _ saga.Bus = (*Broker)(nil)
