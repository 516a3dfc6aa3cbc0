package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Exchange is the topic exchange every participant publishes through. The
// routing key of a work message is the name of the queue it is meant for, so
// the queue names stay the ones the seed article uses, and the observer can
// bind "#" to see everything.
const Exchange = "sagaboard"

// Queue names. The first four are the seed article's; the rest carry the undo
// chain, retries and dead letters.
const (
	PaymentQueue      = "payment_queue"
	SeatUpdateQueue   = "seat_update_queue"
	CompensationQueue = "compensation_queue"
	NotificationQueue = "notification_queue"
	// RefundQueue is Payment's undo: refund a charge it made.
	RefundQueue = "refund_queue"
	// SeatReleaseQueue is Booking's undo: release held seats, cancel.
	SeatReleaseQueue = "seat_release_queue"
	// SeatVoidQueue is Seats' undo for a booking past its deadline: refuse
	// to sell its seats from now on, unless they are sold already.
	SeatVoidQueue = "seat_void_queue"
	// BookingUpdateQueue is how Booking hears outcomes. It is bound to the
	// notification_queue routing key (seats sold) and to KeyBookingNotified.
	BookingUpdateQueue = "booking_update_queue"
	// ObserverQueue is the observer's tap, bound with "#".
	ObserverQueue = "observer_queue"
	// DeadLetterQueue holds messages no participant could handle.
	DeadLetterQueue = "dead_letter_queue"
	// ControlKey carries failure-switch changes between processes.
	ControlKey = "control.switches"
)

// KeyBookingNotified is the routing key of the event Notification publishes
// once the user has been told. Only Booking and the observer listen to it.
const KeyBookingNotified = "booking_notified"

// KeyNotes is the routing key of notes no participant acts on, such as "a
// late message was neutralised". Only the observer's "#" receives them; they
// exist so the timeline can say what happened.
const KeyNotes = "saga_notes"

// NotificationRetryQueues hold a failed notification for a while and then
// dead-letter it back into notification_queue. One queue per delay, because a
// queue expires messages only at its head: mixing delays in one queue would
// hold short retries behind long ones.
var NotificationRetryQueues = []RetryQueue{
	{Name: "notification_retry_100ms", Delay: 100 * time.Millisecond},
	{Name: "notification_retry_500ms", Delay: 500 * time.Millisecond},
	{Name: "notification_retry_2s", Delay: 2 * time.Second},
	{Name: "notification_retry_5s", Delay: 5 * time.Second},
}

// MaxNotificationAttempts bounds retries; after it the message is
// dead-lettered, and a person can replay it from the dashboard.
const MaxNotificationAttempts = 40

// RetryQueue is a holding queue with a fixed delay.
type RetryQueue struct {
	Name  string
	Delay time.Duration
}

// RetryQueueFor returns the holding queue for the given 1-based attempt: the
// delay doubles-ish per attempt and is capped by the last queue.
func RetryQueueFor(attempt int) RetryQueue {
	i := attempt - 1
	if i < 0 {
		i = 0
	}
	if i >= len(NotificationRetryQueues) {
		i = len(NotificationRetryQueues) - 1
	}
	return NotificationRetryQueues[i]
}

// WorkQueues lists the queues participants consume, in saga order. It is what
// /api/queues reports on.
func WorkQueues() []string {
	qs := []string{PaymentQueue, SeatUpdateQueue, CompensationQueue, SeatVoidQueue, RefundQueue, SeatReleaseQueue, NotificationQueue, BookingUpdateQueue}
	for _, r := range NotificationRetryQueues {
		qs = append(qs, r.Name)
	}
	return append(qs, ObserverQueue, DeadLetterQueue)
}

// Message types, carried in the AMQP type property.
const (
	TypeBookingCreated            = "BookingCreated"
	TypePaymentCompleted          = "PaymentCompleted"
	TypePaymentServiceFailed      = "PaymentServiceFailed"
	TypeSeatsSold                 = "SeatsSold"
	TypeSeatUpdatingServiceFailed = "SeatUpdatingServiceFailed"
	TypeRefundRequested           = "RefundRequested"
	TypePaymentRefunded           = "PaymentRefunded"
	TypeSeatReleaseRequested      = "SeatReleaseRequested"
	TypeBookingCancelled          = "BookingCancelled"
	TypeNotificationRetry         = "NotificationRetry"
	TypeBookingNotified           = "BookingNotified"
	// TypeDeadlineExceeded starts compensation for a booking still pending
	// at its deadline.
	TypeDeadlineExceeded = "DeadlineExceeded"
	// TypeSeatsVoidRequested asks Seats never to sell a booking's seats.
	TypeSeatsVoidRequested = "SeatsVoidRequested"
	// TypeVoidRefused says the seats were sold before the void: the pivot
	// stands and the booking will be confirmed.
	TypeVoidRefused = "VoidRefused"
	// TypeLateMessageNeutralised says a participant recognised a message for
	// a booking already compensated and left no effect behind.
	TypeLateMessageNeutralised = "LateMessageNeutralised"
)

// Participants, as named in -only and in the failure switches.
const (
	PartBooking      = "booking"
	PartPayment      = "payment"
	PartSeats        = "seats"
	PartCompensation = "compensation"
	PartNotification = "notification"
	PartObserver     = "observer"
	PartWeb          = "web"
)

// Parts lists every part -only accepts.
var Parts = []string{PartBooking, PartPayment, PartSeats, PartCompensation, PartNotification, PartObserver, PartWeb}

// Message is one message on the bus, independent of AMQP.
type Message struct {
	ID            string    // unique per message; the inbox dedupes on it
	CorrelationID string    // the booking id, copied to every message made from it
	CausationID   string    // the id of the consumed message whose handling made it; "" from a request or a timer
	Type          string    // one of the Type* constants
	RoutingKey    string    // the queue it is meant for
	Source        string    // the participant that published it
	Timestamp     time.Time // when it was made
	Attempt       int       // for retries: 1 for the first retry
	Body          []byte    // JSON Envelope
	Redelivered   bool      // set on consume when the broker says so
	Queue         string    // set on consume: the queue it came from
	// DeadQueue and DeadReason are set on a dead letter: the queue it was
	// taken from and why.
	DeadQueue, DeadReason string
	// Sender is set on consume: the broker user that published the message,
	// from the AMQP user_id property, which the broker validates against the
	// publishing connection's user. "" when the publisher did not set it.
	Sender string
	// OriginalSender is set on a dead letter, and on its replay: the Sender
	// of the message before it was dead-lettered, so a replay is believed
	// only as far as the original publisher was.
	OriginalSender string
	// Size is set on consume: the body's length as it arrived. Body may hold
	// only a prefix of it when it is over MaxBodyBytes, so that a hostile
	// message is not held in memory whole.
	Size int
	// InStream is set on consume from a stream (ConsumeOptions.From), and
	// Offset then is the message's place in it. A stream keeps every
	// message for every reader, so a reader stores the offset it has
	// recorded with what it recorded, and resumes after it.
	InStream bool
	Offset   int64
	// Refused is set, on a message read from a stream only, by a pipeline
	// step that refused it (forged, poison). A stream can neither
	// dead-letter a message nor take it back, so the handler gets it with
	// the verdict and must keep it as evidence, in the same transaction as
	// its offset.
	Refused error
	// Trace is the trace context of the step that made the message, so its
	// consumer's step is that step's child across the broker and the
	// outbox. A handler behind the tracing middleware sees its own step's
	// context here, which the messages it makes inherit (store.Apply).
	Trace Trace
}

// Booking is what travels in every message.
type Booking struct {
	ID          string   `json:"id"`
	UserID      string   `json:"user_id"`
	Seats       []string `json:"seats"`
	AmountCents int64    `json:"amount_cents"`
}

// Envelope is the JSON body of every saga message. It keeps the seed
// article's field names (booking, event, isSuccess).
type Envelope struct {
	Booking   Booking `json:"booking"`
	Event     string  `json:"event,omitempty"`
	IsSuccess *bool   `json:"isSuccess,omitempty"`
	// Reason says why a step failed or what an undo did, in words a person
	// reads on the timeline, e.g. "declined: payment.fail_rate=1".
	Reason string `json:"reason,omitempty"`
	// Cause is the original failure, carried unchanged along the undo chain
	// so the end of the chain still knows why it ran.
	Cause string `json:"cause,omitempty"`
	// Injected is true when Reason comes from a failure switch rather than a
	// real failure, so the two can never be confused.
	Injected bool `json:"injected,omitempty"`
	// RefundedCents is set on PaymentRefunded.
	RefundedCents int64 `json:"refunded_cents,omitempty"`
}

// MaxBodyBytes bounds a message body. Saga messages are a few hundred bytes;
// anything near this is a poison message, not a booking.
const MaxBodyBytes = 64 << 10

// ErrPoison marks a message that can never be handled, however often it is
// retried. Consumers dead-letter it instead of requeueing it.
var ErrPoison = errors.New("poison message")

// Poison wraps a reason as ErrPoison.
func Poison(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrPoison, fmt.Sprintf(format, args...))
}

// Bool returns a pointer to b, for Envelope.IsSuccess.
func Bool(b bool) *bool { return &b }

// DecodeEnvelope parses and validates a message body. Every error it returns
// is ErrPoison: a body that fails here will fail the same way every time.
func DecodeEnvelope(body []byte) (Envelope, error) {
	var e Envelope
	if len(body) > MaxBodyBytes {
		return e, Poison("body is %d bytes, more than the %d allowed", len(body), MaxBodyBytes)
	}
	if !utf8.Valid(body) {
		return e, Poison("body is not valid UTF-8")
	}
	if err := DecodeStrict(body, &e); err != nil {
		return e, Poison("body is not a saga message: %v", err)
	}
	b := e.Booking
	if b.ID == "" || len(b.ID) > 64 || !validText(b.ID) {
		return e, Poison("booking.id is missing or invalid")
	}
	if b.UserID == "" || len(b.UserID) > MaxUserIDLen || !validText(b.UserID) {
		return e, Poison("booking.user_id is missing or invalid")
	}
	if len(b.Seats) == 0 || len(b.Seats) > MaxSeatsPerBooking {
		return e, Poison("booking.seats must list 1 to %d seats", MaxSeatsPerBooking)
	}
	for _, s := range b.Seats {
		if _, _, err := ParseSeatID(s); err != nil {
			return e, Poison("booking.seats: %v", err)
		}
	}
	if b.AmountCents != Amount(len(b.Seats)) {
		return e, Poison("booking.amount_cents is %d, want %d for %d seats", b.AmountCents, Amount(len(b.Seats)), len(b.Seats))
	}
	switch e.Event {
	case "", TypePaymentServiceFailed, TypeSeatUpdatingServiceFailed, TypeDeadlineExceeded:
	default:
		return e, Poison("event %q is not one this saga knows", truncate(e.Event, 64))
	}
	if len(e.Reason) > 1024 || len(e.Cause) > 1024 {
		return e, Poison("reason is too long")
	}
	return e, nil
}

// Encode returns the JSON body of e. It cannot fail for an Envelope.
func (e Envelope) Encode() []byte {
	b, err := json.Marshal(e)
	if err != nil {
		panic("saga: encode envelope: " + err.Error()) // only plain fields: unreachable
	}
	return b
}

// Publisher publishes messages durably: it returns only once the broker has
// confirmed every one of them.
type Publisher interface {
	Publish(ctx context.Context, msgs ...Message) error
}

// Outcome is what a handler decided about one consumed message.
type Outcome struct {
	// Err is nil to ack. An error wrapping ErrPoison dead-letters the message;
	// any other error requeues it to be tried again.
	Err error
	// Durable, when set, blocks until what the message caused is confirmed
	// by the broker; the consumer acks only after it returns nil, and
	// requeues on an error. The consumer calls it off its hot path, so the
	// next batch is handled while this one's messages are confirmed.
	Durable func(context.Context) error
}

// BatchHandler handles consumed messages in batches, so a participant can
// commit many of them in one transaction. It returns one Outcome per message,
// in order.
type BatchHandler func(ctx context.Context, msgs []Message) []Outcome

// ConsumeOptions tune one consumer.
type ConsumeOptions struct {
	// Prefetch is how many unacked messages the broker may hand over. Default 256.
	Prefetch int
	// MaxBatch bounds one batch. Default 64.
	MaxBatch int
	// Paused, when set, is asked before every batch; while it returns true the
	// consumer cancels its subscription so messages wait in the queue.
	Paused func() bool
	// Changed, when set, returns a channel closed at the next switch change, so
	// a paused consumer wakes up without polling.
	Changed func() <-chan struct{}
	// Delay, when set, is waited before each message; while it is non-zero
	// messages are handled one at a time.
	Delay func() time.Duration
	// LetOne, when set, is asked while the consumer is paused. With take
	// false it reports whether one message may be let through; with take
	// true it spends that permit, as the message is taken. The consumer
	// then takes exactly one message (on RabbitMQ, a subscription with
	// prefetch 1 that is cancelled as the message arrives), handles it,
	// and is paused again. nil lets nothing through a pause.
	LetOne func(take bool) bool
	// From, when set, says the queue is a stream, read from the offset From
	// returns (0: from the first message it still holds). It is asked at
	// every subscription, so a reader that stores its offset with what it
	// records resumes where its store says, after a restart or a lost
	// connection. On a stream nothing is requeued or dead-lettered: an
	// outcome with an error ends the subscription, and the next one starts
	// again from From; the pipeline hands refused messages on (see
	// Message.Refused). Pause, Delay and LetOne do not apply. nil: a queue.
	From func(ctx context.Context) (int64, error)
}

// QueueStat is one queue's depth, as /api/queues reports it.
type QueueStat struct {
	Name      string `json:"name"`
	Ready     int    `json:"ready"`
	Unacked   int    `json:"unacked"`
	Consumers int    `json:"consumers"`
}

// Consumer consumes a queue until ctx ends, surviving broker restarts.
type Consumer interface {
	Consume(ctx context.Context, queue string, opt ConsumeOptions, h BatchHandler) error
}

// Bus is what participants need from the broker.
type Bus interface {
	Publisher
	Consumer
	// Replay puts a message straight back into a queue, past the exchange,
	// as replaying a dead letter needs.
	Replay(ctx context.Context, queue string, m Message) error
}

// NewMessage makes a message from participant source about booking e.Booking:
// a fresh id, the booking id as correlation id, and the time now.
func NewMessage(source, typ, routingKey string, e Envelope) Message {
	return Message{
		ID:            NewID(),
		CorrelationID: e.Booking.ID,
		Type:          typ,
		RoutingKey:    routingKey,
		Source:        source,
		Timestamp:     time.Now().UTC(),
		Body:          e.Encode(),
	}
}

// Expect decodes m's body and checks that its type is one of types, so a
// participant never acts on a message meant for somebody else.
func Expect(m Message, types ...string) (Envelope, error) {
	// A body that is not JSON at all says so first: it has no type to speak
	// of, and "does not handle messages of type \"\"" sent people looking
	// for a type when the bytes were the trouble.
	if m.Size <= MaxBodyBytes && !json.Valid(m.Body) {
		var v any
		err := json.Unmarshal(m.Body, &v)
		return Envelope{}, Poison("body is not JSON: %v (it begins %q)", err, truncate(string(m.Body), 32))
	}
	ok := false
	for _, t := range types {
		if m.Type == t {
			ok = true
			break
		}
	}
	if !ok {
		return Envelope{}, Poison("%s does not handle messages of type %q", m.Queue, truncate(m.Type, 64))
	}
	// A body over the limit was cut to a prefix when it was read; Size is
	// the length it arrived with, which is what the reason must give.
	if m.Size > MaxBodyBytes {
		return Envelope{}, Poison("body is %d bytes, more than the %d allowed", m.Size, MaxBodyBytes)
	}
	e, err := DecodeEnvelope(m.Body)
	if err != nil {
		return e, err
	}
	if m.CorrelationID != "" && m.CorrelationID != e.Booking.ID {
		return e, Poison("correlation_id %q does not match booking.id %q", truncate(m.CorrelationID, 64), e.Booking.ID)
	}
	return e, nil
}

// Injected reports whether a switch with fail rate r fails this message.
// roll is a uniform number in [0,1), passed in so tests can fix it.
func Injected(r, roll float64) bool { return r > 0 && roll < r }
