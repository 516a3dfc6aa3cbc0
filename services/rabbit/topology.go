package rabbit

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sagaboard/sagaboard/services/saga"
)

// ObserverMaxLength caps the observer's tap. The observer is a reader: if it
// is slow or down, the saga must go on, so its queue drops its oldest
// messages rather than grow until the broker's memory alarm blocks every
// publisher.
const ObserverMaxLength = 200_000

// The tap's kinds (Config.Tap).
const (
	// TapClassic is a classic queue capped at ObserverMaxLength. Its
	// readers compete for its messages, so it serves one observer.
	TapClassic = "classic"
	// TapStream is a stream: every observer reads all of it, each from
	// its own offset, and it is replicated on a cluster. It keeps
	// TapRetention bytes, whoever has read them.
	TapStream = "stream"
)

// DefaultTapRetention is what a stream tap keeps by default: about two
// million messages of the saga's size, a few hours at full load.
const DefaultTapRetention = 1 << 30

// withTapDefaults fills in the tap's defaults.
func (c Config) withTapDefaults() Config {
	if c.Tap == "" {
		c.Tap = TapClassic
	}
	if c.TapRetention <= 0 {
		c.TapRetention = DefaultTapRetention
	}
	return c
}

// tapArgs are the tap's queue arguments.
func tapArgs(cfg Config) amqp.Table {
	cfg = cfg.withTapDefaults()
	if cfg.Tap != TapStream {
		return amqp.Table{"x-max-length": ObserverMaxLength, "x-overflow": "drop-head"}
	}
	// A stream drops whole segments: ten per retention keep it within a
	// tenth of its limit (RabbitMQ's default segment is 500 MB).
	segment := min(max(cfg.TapRetention/10, 1<<20), 500_000_000)
	return amqp.Table{"x-queue-type": "stream", "x-max-length-bytes": cfg.TapRetention, "x-stream-max-segment-size-bytes": segment}
}

// The exchanges besides the saga's own. Each exists so that no part needs
// write access to the default exchange, which would let it put any message
// straight into any queue, past the topic permissions on saga.Exchange.
const (
	// ControlExchange carries control messages between processes. It is
	// apart from the saga's exchange so the observer's "#" never records
	// them.
	ControlExchange = "sagaboard.control"
	// DeadExchange takes dead letters to dead_letter_queue. Every consuming
	// part may write to it; nothing else is bound to it.
	DeadExchange = "sagaboard.dead"
	// ReplayExchange takes a replayed dead letter straight back to the queue
	// it came from (the routing key is the queue's name), past the saga's
	// exchange, so no other queue bound to the same key gets it twice. Only
	// the observer, which keeps the dead letters, may write to it.
	ReplayExchange = "sagaboard.replay"
)

type exchangeSpec struct{ name, kind string }

type bindingSpec struct{ exchange, key string }

type queueSpec struct {
	name     string
	args     amqp.Table
	bindings []bindingSpec
}

// topology is every exchange, queue and binding the saga uses, as data: the
// same list is declared by each process on a shared vhost and written into
// the definitions setup-broker imports on a provisioned one.
func topology(cfg Config) ([]exchangeSpec, []queueSpec) {
	exchanges := []exchangeSpec{
		{saga.Exchange, amqp.ExchangeTopic},
		{ControlExchange, amqp.ExchangeTopic},
		{DeadExchange, amqp.ExchangeDirect},
		{ReplayExchange, amqp.ExchangeDirect},
	}
	work := amqp.Table{
		// A message a consumer rejects goes to the dead-letter queue through
		// the default exchange, so the observer's "#" does not see it twice.
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": saga.DeadLetterQueue,
	}
	if cfg.Quorum {
		work["x-delivery-limit"] = cfg.DeliveryLimit
	}
	var queues []queueSpec
	for _, name := range saga.WorkQueues() {
		q := queueSpec{name: name, args: work}
		switch {
		case name == saga.ObserverQueue:
			q.args = tapArgs(cfg)
		case name == saga.DeadLetterQueue:
			q.args = nil
			q.bindings = []bindingSpec{{DeadExchange, saga.DeadLetterQueue}}
		case isRetryQueue(name):
			q.args = amqp.Table{
				"x-message-ttl":             saga.RetryQueueFor(retryIndex(name) + 1).Delay.Milliseconds(),
				"x-dead-letter-exchange":    "",
				"x-dead-letter-routing-key": saga.NotificationQueue,
			}
			q.bindings = []bindingSpec{{saga.Exchange, name}}
		}
		for _, k := range saga.Bindings[name] {
			q.bindings = append(q.bindings, bindingSpec{saga.Exchange, k})
		}
		if name != saga.DeadLetterQueue && !isRetryQueue(name) {
			q.bindings = append(q.bindings, bindingSpec{ReplayExchange, name})
		}
		if cfg.Quorum {
			q.args = replicated(q.args)
		}
		queues = append(queues, q)
	}
	return exchanges, queues
}

// replicated makes a queue a quorum queue, for a cluster, unless it was
// given a type of its own. Every queue of the saga, not only the work
// queues: a classic queue lives on the one node it was declared on, and
// while that node is down the messages routed to it are dropped, so a
// classic tap would miss events, a classic retry queue would lose a
// notification and a classic dead-letter queue its dead letters.
//
// On RabbitMQ 3.10 a quorum queue takes a message TTL (the retry queues'),
// a length limit with drop-head (the tap's), and dead-letters at least
// once, which needs reject-publish as its overflow: a queue that has a
// length limit, the tap, does not dead-letter and keeps drop-head. Its
// members are on every node of the cluster as it is declared
// (x-quorum-initial-group-size defaults to the cluster's size).
func replicated(args amqp.Table) amqp.Table {
	if _, typed := args["x-queue-type"]; typed {
		return args
	}
	out := amqp.Table{"x-queue-type": "quorum"}
	for k, v := range args {
		out[k] = v
	}
	if _, dl := out["x-dead-letter-exchange"]; dl {
		out["x-dead-letter-strategy"] = "at-least-once"
		out["x-overflow"] = "reject-publish"
	}
	return out
}

func retryIndex(name string) int {
	for i, r := range saga.NotificationRetryQueues {
		if r.Name == name {
			return i
		}
	}
	return -1
}

func isRetryQueue(name string) bool { return retryIndex(name) >= 0 }

// declare makes every exchange, queue and binding the saga uses. All of it is
// idempotent, so every process on a shared vhost does it on every connect,
// and a broker that lost its definitions gets them back.
func declare(ch *amqp.Channel, cfg Config) error {
	exchanges, queues := topology(cfg)
	for _, e := range exchanges {
		if err := ch.ExchangeDeclare(e.name, e.kind, true, false, false, false, nil); err != nil {
			return fmt.Errorf("rabbit: declare exchange %s: %w", e.name, err)
		}
	}
	for _, q := range queues {
		if _, err := ch.QueueDeclare(q.name, true, false, false, false, q.args); err != nil {
			return fmt.Errorf("rabbit: declare queue %s: %w", q.name, err)
		}
		for _, b := range q.bindings {
			if err := ch.QueueBind(q.name, b.key, b.exchange, false, nil); err != nil {
				return fmt.Errorf("rabbit: bind %s to %s on %s: %w", q.name, b.key, b.exchange, err)
			}
		}
	}
	return nil
}
