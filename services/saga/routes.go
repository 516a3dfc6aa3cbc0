package saga

import (
	"errors"
	"fmt"
	"slices"
)

// Control messages travel on their own exchange between processes, never
// through the saga's: the observer must not record them.
const (
	// TypeSwitchesChanged carries the whole set of failure switches. Only
	// web may send it: the switches are the dashboard's to change.
	TypeSwitchesChanged = "SwitchesChanged"
	// TypeHello is sent by a process without the dashboard when its control
	// subscription is in place, so web answers with the current switches.
	TypeHello = "Hello"
	// KeyHello is TypeHello's routing key; ControlKey is TypeSwitchesChanged's.
	KeyHello = "control.hello"
)

// Route is one kind of message a part may publish: its type, and the routing
// key it is published with on Exchange.
type Route struct {
	From, Type, Key string
}

// Routes is the one table of who sends what where. The broker's topic
// permissions are made from it (a part may publish only its routing keys),
// and every consumer checks a message's broker-validated sender against it,
// since several parts publish to the same keys with different types.
var Routes = []Route{
	{PartBooking, TypeBookingCreated, PaymentQueue},
	{PartBooking, TypeDeadlineExceeded, CompensationQueue},
	{PartBooking, TypeBookingCancelled, NotificationQueue},

	{PartPayment, TypePaymentCompleted, SeatUpdateQueue},
	{PartPayment, TypePaymentServiceFailed, CompensationQueue},
	{PartPayment, TypePaymentRefunded, SeatReleaseQueue},
	{PartPayment, TypeLateMessageNeutralised, KeyNotes},

	{PartSeats, TypeSeatsSold, NotificationQueue},
	{PartSeats, TypeSeatUpdatingServiceFailed, CompensationQueue},
	{PartSeats, TypeRefundRequested, RefundQueue}, // after a void at the deadline
	{PartSeats, TypeVoidRefused, KeyNotes},
	{PartSeats, TypeLateMessageNeutralised, KeyNotes},

	{PartCompensation, TypeSeatsVoidRequested, SeatVoidQueue},
	{PartCompensation, TypeRefundRequested, RefundQueue},
	{PartCompensation, TypeSeatReleaseRequested, SeatReleaseQueue},

	{PartNotification, TypeBookingNotified, KeyBookingNotified},
	// A retry waits in its holding queue, which hands it back to
	// notification_queue when its time is up (see Reaches).
	{PartNotification, TypeNotificationRetry, NotificationRetryQueues[0].Name},
	{PartNotification, TypeNotificationRetry, NotificationRetryQueues[1].Name},
	{PartNotification, TypeNotificationRetry, NotificationRetryQueues[2].Name},
	{PartNotification, TypeNotificationRetry, NotificationRetryQueues[3].Name},
}

// Bindings lists, for each queue fed from Exchange, the routing keys it is
// bound with. The observer's tap takes every key ("#").
var Bindings = map[string][]string{
	PaymentQueue:      {PaymentQueue},
	SeatUpdateQueue:   {SeatUpdateQueue},
	CompensationQueue: {CompensationQueue},
	SeatVoidQueue:     {SeatVoidQueue},
	RefundQueue:       {RefundQueue},
	SeatReleaseQueue:  {SeatReleaseQueue},
	NotificationQueue: {NotificationQueue},
	// Booking hears that seats were sold from the same message that asks
	// Notification to tell the user, and that the user was told.
	BookingUpdateQueue: {BookingUpdateQueue, NotificationQueue, KeyBookingNotified},
	ObserverQueue:      {"#"},
}

// Consumes lists the queues each part takes messages from. A part's broker
// user may read only these.
var Consumes = map[string][]string{
	PartBooking:      {SeatReleaseQueue, BookingUpdateQueue},
	PartPayment:      {PaymentQueue, RefundQueue},
	PartSeats:        {SeatUpdateQueue, SeatVoidQueue},
	PartCompensation: {CompensationQueue},
	PartNotification: {NotificationQueue},
	PartObserver:     {ObserverQueue, DeadLetterQueue},
}

// Reaches reports whether a message published with routing key reaches
// queue: through a binding, or, for a retry, through its holding queue.
func Reaches(key, queue string) bool {
	if queue == ObserverQueue || key == queue {
		return true
	}
	if slices.Contains(Bindings[queue], key) {
		return true
	}
	if queue == NotificationQueue {
		for _, r := range NotificationRetryQueues {
			if key == r.Name {
				return true
			}
		}
	}
	return false
}

// MayReach reports whether part may send a message of type typ that ends up
// in queue.
func MayReach(part, typ, queue string) bool {
	for _, r := range Routes {
		if r.From == part && r.Type == typ && Reaches(r.Key, queue) {
			return true
		}
	}
	return false
}

// KeysOf lists the routing keys part may publish on Exchange.
func KeysOf(part string) []string {
	var keys []string
	for _, r := range Routes {
		if r.From == part && !slices.Contains(keys, r.Key) {
			keys = append(keys, r.Key)
		}
	}
	return keys
}

// ErrForged marks a message whose sender may not send it. It is also
// ErrPoison: it is dead-lettered, never retried.
var ErrForged = errors.New("forged")

type forgedError struct{ msg string }

func (e forgedError) Error() string { return "forged: " + e.msg }

func (e forgedError) Is(target error) bool { return target == ErrForged || target == ErrPoison }

// Forged returns an error that reads "forged: …" and is ErrForged and ErrPoison.
func Forged(format string, args ...any) error {
	return forgedError{fmt.Sprintf(format, args...)}
}

// Senders maps the broker users of a provisioned vhost to the parts they
// are. A nil Senders means every part shares one broker identity, so a
// message's sender proves nothing and is not checked (the server says so
// loudly instead).
type Senders map[string]string

// Check returns a Forged error unless m was published by a part that may
// send its type to the queue it was taken from. A message type that no part
// sends to that queue is left to the handler, which says it does not handle
// it: that is a mistake of kind, not a forgery.
//
// A replayed dead letter is published by the observer, which keeps the dead
// letters; it is believed as far as the part that first published it, as
// recorded when it was dead-lettered.
//
// The observer's tap takes every routing key, so there the check is exact:
// the sender must have a route with the message's type and routing key.
func (s Senders) Check(m Message) error {
	if s == nil || (m.Queue != ObserverQueue && !anyMayReach(m.Type, m.Queue)) {
		return nil
	}
	if m.Sender == "" {
		return Forged("%s to %s carries no user_id, so nobody can tell who sent it", truncate(m.Type, 64), m.Queue)
	}
	part, ok := s[m.Sender]
	if !ok {
		return Forged("%s to %s was published by %s, which is not a part of this saga", truncate(m.Type, 64), m.Queue, quoted(m.Sender))
	}
	if part == PartObserver && m.OriginalSender != "" {
		if part, ok = s[m.OriginalSender]; !ok {
			return Forged("a replay of %s to %s first published by %s, which is not a part of this saga", truncate(m.Type, 64), m.Queue, quoted(m.OriginalSender))
		}
	}
	if m.Queue == ObserverQueue {
		if !slices.Contains(Routes, Route{part, m.Type, m.RoutingKey}) {
			return Forged("%s may not send %s with routing key %s", part, truncate(m.Type, 64), truncate(m.RoutingKey, 64))
		}
		return nil
	}
	if !MayReach(part, m.Type, m.Queue) {
		return Forged("%s may not send %s to %s", part, truncate(m.Type, 64), m.Queue)
	}
	return nil
}

// Part returns the part a broker user is, if it is one.
func (s Senders) Part(user string) (string, bool) {
	p, ok := s[user]
	return p, ok
}

func anyMayReach(typ, queue string) bool {
	for _, r := range Routes {
		if r.Type == typ && Reaches(r.Key, queue) {
			return true
		}
	}
	return false
}

func quoted(user string) string { return fmt.Sprintf("%q", truncate(user, 64)) }
