package saga_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sagaboard/sagaboard/services/saga"
)

func senders() saga.Senders {
	s := saga.Senders{}
	for _, p := range saga.Parts {
		s["v."+p] = p
	}
	return s
}

// consumers lists every queue a message published with key is consumed
// from, the observer's tap included.
func consumers(key string) []string {
	var qs []string
	for _, owned := range saga.Consumes {
		for _, q := range owned {
			if saga.Reaches(key, q) {
				qs = append(qs, q)
			}
		}
	}
	return qs
}

func TestEveryRouteIsBelievedWhereverItArrives(t *testing.T) {
	s := senders()
	for _, r := range saga.Routes {
		qs := consumers(r.Key)
		if len(qs) < 2 { // the tap, and at least one reader
			if r.Key != saga.KeyNotes {
				t.Errorf("%s %s → %s reaches only %v: nobody reads it", r.From, r.Type, r.Key, qs)
			}
		}
		for _, q := range qs {
			m := saga.Message{Type: r.Type, RoutingKey: r.Key, Queue: q, Sender: "v." + r.From}
			if err := s.Check(m); err != nil {
				t.Errorf("%s's %s on %s (key %s): %v", r.From, r.Type, q, r.Key, err)
			}
		}
	}
}

func TestForgedSendersAreRefused(t *testing.T) {
	s := senders()
	cases := []struct {
		name string
		m    saga.Message
		want string
	}{
		{"another part's type on a shared key", saga.Message{Type: saga.TypePaymentServiceFailed, RoutingKey: saga.CompensationQueue, Queue: saga.CompensationQueue, Sender: "v.seats"}, "forged: seats may not send PaymentServiceFailed to compensation_queue"},
		{"no user_id", saga.Message{Type: saga.TypeSeatsSold, RoutingKey: saga.NotificationQueue, Queue: saga.NotificationQueue}, "forged: SeatsSold to notification_queue carries no user_id, so nobody can tell who sent it"},
		{"a stranger", saga.Message{Type: saga.TypeBookingCreated, RoutingKey: saga.PaymentQueue, Queue: saga.PaymentQueue, Sender: "guest"}, `forged: BookingCreated to payment_queue was published by "guest", which is not a part of this saga`},
		{"web is no participant", saga.Message{Type: saga.TypeBookingCreated, RoutingKey: saga.PaymentQueue, Queue: saga.PaymentQueue, Sender: "v.web"}, "forged: web may not send BookingCreated to payment_queue"},
		{"the tap checks the routing key", saga.Message{Type: saga.TypeBookingCreated, RoutingKey: saga.SeatUpdateQueue, Queue: saga.ObserverQueue, Sender: "v.booking"}, "forged: booking may not send BookingCreated with routing key seat_update_queue"},
		{"the tap checks unknown types too", saga.Message{Type: "Bogus", RoutingKey: saga.KeyNotes, Queue: saga.ObserverQueue, Sender: "v.payment"}, "forged: payment may not send Bogus with routing key saga_notes"},
		{"a replay believed as its first sender", saga.Message{Type: saga.TypeBookingCreated, RoutingKey: saga.PaymentQueue, Queue: saga.PaymentQueue, Sender: "v.observer", OriginalSender: "v.seats"}, "forged: seats may not send BookingCreated to payment_queue"},
		{"a replay from anyone but the observer", saga.Message{Type: saga.TypeBookingCreated, RoutingKey: saga.PaymentQueue, Queue: saga.PaymentQueue, Sender: "v.web", OriginalSender: "v.booking"}, "forged: web may not send BookingCreated to payment_queue"},
	}
	for _, c := range cases {
		err := s.Check(c.m)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
			continue
		}
		if !errors.Is(err, saga.ErrForged) || !errors.Is(err, saga.ErrPoison) {
			t.Errorf("%s: %v is not ErrForged and ErrPoison, so it would be retried rather than dead-lettered", c.name, err)
		}
	}
	// What no part sends to a queue is a mistake of kind, left to the
	// handler to name; and a replay of a real message is believed.
	for _, m := range []saga.Message{
		{Type: "Bogus", Queue: saga.PaymentQueue, Sender: "guest"},
		{Type: saga.TypeBookingCreated, Queue: saga.PaymentQueue, RoutingKey: saga.PaymentQueue, Sender: "v.observer", OriginalSender: "v.booking"},
		{Type: saga.TypeNotificationRetry, Queue: saga.NotificationQueue, RoutingKey: saga.NotificationQueue, Sender: "v.notification"},
	} {
		if err := s.Check(m); err != nil {
			t.Errorf("%+v: %v, want it believed or left to its handler", m, err)
		}
	}
	if err := saga.Senders(nil).Check(saga.Message{Type: saga.TypeBookingCreated, Queue: saga.PaymentQueue, Sender: "guest"}); err != nil {
		t.Errorf("a shared identity checks nothing, got %v", err)
	}
}

func TestKeysOfIsWhatTopicPermissionsAllow(t *testing.T) {
	if got := strings.Join(saga.KeysOf(saga.PartCompensation), ","); got != "seat_void_queue,refund_queue,seat_release_queue" {
		t.Errorf("compensation's keys = %s", got)
	}
	for _, p := range []string{saga.PartWeb, saga.PartObserver} {
		if k := saga.KeysOf(p); len(k) != 0 {
			t.Errorf("%s may publish %v on the saga's exchange; it must publish nothing there", p, k)
		}
	}
}

// ExampleSenders_Check shows what a consumer does with a message whose
// sender may not send it.
func ExampleSenders_Check() {
	s := saga.Senders{"shop.payment": saga.PartPayment, "shop.seats": saga.PartSeats}
	m := saga.Message{Type: saga.TypePaymentServiceFailed, Queue: saga.CompensationQueue, Sender: "shop.seats"}
	fmt.Println(s.Check(m))
	// Output: forged: seats may not send PaymentServiceFailed to compensation_queue
}
