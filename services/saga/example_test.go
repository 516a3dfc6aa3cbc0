package saga_test

import (
	"errors"
	"fmt"

	"github.com/sagaboard/sagaboard/services/saga"
)

// A participant makes each message from the booking it is about: the
// booking id becomes the correlation id, and the routing key names the
// queue the message is meant for.
func ExampleNewMessage() {
	b := saga.Booking{ID: "b1", UserID: "alice", Seats: []string{"A1", "A2"}, AmountCents: saga.Amount(2)}
	m := saga.NewMessage(saga.PartBooking, saga.TypeBookingCreated, saga.PaymentQueue, saga.Envelope{Booking: b, Reason: "held A1 A2 for alice"})
	fmt.Println(m.Type, "to", m.RoutingKey, "about", m.CorrelationID)
	fmt.Println(string(m.Body))
	// Output:
	// BookingCreated to payment_queue about b1
	// {"booking":{"id":"b1","user_id":"alice","seats":["A1","A2"],"amount_cents":2000},"reason":"held A1 A2 for alice"}
}

// DecodeEnvelope trusts nothing that crossed the wire: a body that is not a
// valid saga message is poison, dead-lettered rather than retried, because
// it would fail the same way every time.
func ExampleDecodeEnvelope() {
	for _, body := range []string{
		`{"booking":{"id":"b1","user_id":"alice","seats":["A1"],"amount_cents":1000}}`,
		`{"booking":{"id":"b1","user_id":"alice","seats":["A1"],"amount_cents":1}}`,
		`{"booking":{"id":"b1","user_id":"alice","seats":["A1"],"amount_cents":1000},"admin":true}`,
	} {
		e, err := saga.DecodeEnvelope([]byte(body))
		if err != nil {
			fmt.Println("poison:", errors.Is(err, saga.ErrPoison), err)
			continue
		}
		fmt.Println("ok:", e.Booking.ID, e.Booking.Seats, saga.Money(e.Booking.AmountCents))
	}
	// Output:
	// ok: b1 [A1] 10.00
	// poison: true poison message: booking.amount_cents is 1, want 1000 for 1 seats
	// poison: true poison message: body is not a saga message: json: unknown field "admin"
}

// Expect is how an effect begins: it refuses a message of a type it does
// not handle before it reads the body.
func ExampleExpect() {
	b := saga.Booking{ID: "b1", UserID: "alice", Seats: []string{"A1"}, AmountCents: saga.Amount(1)}
	m := saga.NewMessage(saga.PartSeats, saga.TypeSeatsSold, saga.NotificationQueue, saga.Envelope{Booking: b, IsSuccess: saga.Bool(true)})
	m.Queue = saga.PaymentQueue

	if _, err := saga.Expect(m, saga.TypeBookingCreated); err != nil {
		fmt.Println(err)
	}
	e, _ := saga.Expect(m, saga.TypeSeatsSold, saga.TypeBookingCancelled)
	fmt.Println("notify", e.Booking.UserID, "success:", *e.IsSuccess)
	// Output:
	// poison message: payment_queue does not handle messages of type "SeatsSold"
	// notify alice success: true
}

// A failure switch decides, per message, whether a step fails. fail_next
// comes before fail_rate and counts down; a switch scoped to a user passes
// everybody else. The fault is the text stamped on the failure event.
func ExampleSwitches_Decide() {
	sw := saga.NewSwitches()
	patch, err := saga.ParsePatch([]byte(`{"payment":{"fail_next":2,"user_id":"alice"}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	sw.Apply(patch)
	for _, user := range []string{"bob", "alice", "alice", "alice"} {
		// roll is the random number the step drew; fixed here.
		fault, fail := sw.Decide(saga.PartPayment, user, 0.5)
		if !fail {
			fmt.Println(user, "passes")
			continue
		}
		fmt.Println(user, "fails:", fault)
	}
	// Output:
	// bob passes
	// alice fails: payment.fail_next=2 (user_id=alice)
	// alice fails: payment.fail_next=1 (user_id=alice)
	// alice passes
}

// ParsePatch checks a whole PUT /api/failures body before anything
// changes, and says what is wrong in a sentence.
func ExampleParsePatch() {
	_, err := saga.ParsePatch([]byte(`{"payment":{"fail_rate":2}}`))
	fmt.Println(errors.Is(err, saga.ErrInvalid), err)
	_, err = saga.ParsePatch([]byte(`{"compensation":{"paused":true}}`))
	fmt.Println(errors.Is(err, saga.ErrInvalid), err)
	// Output:
	// true invalid input: payment.fail_rate must be from 0 to 1
	// true invalid input: unknown participant "compensation"; use payment, seats or notification
}

// A failed notification waits in a holding queue for its attempt; the
// delay grows and is capped by the last queue.
func ExampleRetryQueueFor() {
	for _, attempt := range []int{1, 2, 3, 4, 5, saga.MaxNotificationAttempts} {
		rq := saga.RetryQueueFor(attempt)
		fmt.Println(attempt, rq.Name, rq.Delay)
	}
	// Output:
	// 1 notification_retry_100ms 100ms
	// 2 notification_retry_500ms 500ms
	// 3 notification_retry_2s 2s
	// 4 notification_retry_5s 5s
	// 5 notification_retry_5s 5s
	// 40 notification_retry_5s 5s
}

// Routes says who may send what where: the broker's permissions and every
// consumer's sender check are made from it.
func ExampleMayReach() {
	fmt.Println(saga.MayReach(saga.PartPayment, saga.TypePaymentCompleted, saga.SeatUpdateQueue))
	fmt.Println(saga.MayReach(saga.PartBooking, saga.TypePaymentCompleted, saga.SeatUpdateQueue))
	// A retry reaches notification_queue through its holding queue.
	fmt.Println(saga.Reaches(saga.NotificationRetryQueues[0].Name, saga.NotificationQueue))
	// Output:
	// true
	// false
	// true
}
