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

// declare makes every exchange, queue and binding the saga uses. All of it is
// idempotent, so every process does it on every connect, and a broker that
// lost its definitions gets them back.
func declare(ch *amqp.Channel, cfg Config) error {
	if err := ch.ExchangeDeclare(saga.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("rabbit: declare exchange %s: %w", saga.Exchange, err)
	}
	if err := ch.ExchangeDeclare(ControlExchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("rabbit: declare exchange %s: %w", ControlExchange, err)
	}
	work := amqp.Table{
		// A message a consumer rejects goes to the dead-letter queue through
		// the default exchange, so the observer's "#" does not see it twice.
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": saga.DeadLetterQueue,
	}
	if cfg.Quorum {
		work["x-queue-type"] = "quorum"
		work["x-delivery-limit"] = cfg.DeliveryLimit
	}
	type q struct {
		name string
		args amqp.Table
		keys []string
	}
	qs := []q{
		{saga.PaymentQueue, work, []string{saga.PaymentQueue}},
		{saga.SeatUpdateQueue, work, []string{saga.SeatUpdateQueue}},
		{saga.CompensationQueue, work, []string{saga.CompensationQueue}},
		{saga.SeatVoidQueue, work, []string{saga.SeatVoidQueue}},
		{saga.RefundQueue, work, []string{saga.RefundQueue}},
		{saga.SeatReleaseQueue, work, []string{saga.SeatReleaseQueue}},
		{saga.NotificationQueue, work, []string{saga.NotificationQueue}},
		// Booking hears that seats were sold from the same message that
		// asks Notification to tell the user, and that the user was told.
		{saga.BookingUpdateQueue, work, []string{saga.BookingUpdateQueue, saga.NotificationQueue, saga.KeyBookingNotified}},
		{saga.ObserverQueue, amqp.Table{"x-max-length": ObserverMaxLength, "x-overflow": "drop-head"}, []string{"#"}},
		{saga.DeadLetterQueue, nil, nil},
	}
	for _, r := range saga.NotificationRetryQueues {
		qs = append(qs, q{r.Name, amqp.Table{
			"x-message-ttl":             r.Delay.Milliseconds(),
			"x-dead-letter-exchange":    "",
			"x-dead-letter-routing-key": saga.NotificationQueue,
		}, []string{r.Name}})
	}
	for _, q := range qs {
		if _, err := ch.QueueDeclare(q.name, true, false, false, false, q.args); err != nil {
			return fmt.Errorf("rabbit: declare queue %s: %w", q.name, err)
		}
		for _, k := range q.keys {
			if err := ch.QueueBind(q.name, k, saga.Exchange, false, nil); err != nil {
				return fmt.Errorf("rabbit: bind %s to %s: %w", q.name, k, err)
			}
		}
	}
	return nil
}
