package saga

import (
	"fmt"
	"slices"
	"time"
)

// The kinds of malformed message the dashboard's poison button sends, so a
// person can watch dead-lettering and replay without writing a program.
const (
	// PoisonBadJSON is a body that is not JSON, with no type, as a
	// hand-made message often is.
	PoisonBadJSON = "bad_json"
	// PoisonUnknownType is a well-formed saga message of a type no
	// participant handles.
	PoisonUnknownType = "unknown_type"
	// PoisonWrongFields is JSON of the type the queue expects, with fields
	// a saga message does not have.
	PoisonWrongFields = "wrong_fields"
)

// PoisonKinds lists the poison button's kinds, in the order the page offers
// them.
var PoisonKinds = []string{PoisonBadJSON, PoisonUnknownType, PoisonWrongFields}

// PoisonQueues lists the queues a participant consumes, where a malformed
// message can be sent: every work queue but the retry queues (whose
// messages only wait), the observer's tap and the dead letters.
func PoisonQueues() []string {
	return []string{PaymentQueue, SeatUpdateQueue, CompensationQueue, SeatVoidQueue, RefundQueue, SeatReleaseQueue, NotificationQueue, BookingUpdateQueue}
}

// expectedType is a type some part sends to queue, "" when none does.
func expectedType(queue string) string {
	for _, r := range Routes {
		if Reaches(r.Key, queue) {
			return r.Type
		}
	}
	return ""
}

// Malformed makes a message of kind for queue, which its consumer will
// dead-letter with a reason that says what is wrong. It refuses an unknown
// kind or queue as ErrInvalid.
func Malformed(kind, queue string) (Message, error) {
	if !slices.Contains(PoisonQueues(), queue) {
		return Message{}, invalid("cannot send a malformed message to %q; use one of the queues a participant consumes, like %s", truncate(queue, 64), PaymentQueue)
	}
	m := Message{ID: NewID(), RoutingKey: queue, Source: "poison-button", Timestamp: time.Now().UTC()}
	id := NewID()
	switch kind {
	case PoisonBadJSON:
		m.Body = []byte("this is not JSON {")
	case PoisonUnknownType:
		b := Booking{ID: id, UserID: "poison", Seats: []string{"A1"}, AmountCents: Amount(1)}
		m.Type, m.CorrelationID, m.Body = "NoSuchEvent", id, Envelope{Booking: b}.Encode()
	case PoisonWrongFields:
		m.Type, m.CorrelationID = expectedType(queue), id
		m.Body = fmt.Appendf(nil, `{"booking":{"id":%q,"user":"poison","seat":"A1"}}`, id)
	default:
		return Message{}, invalid("unknown kind %q of malformed message; use bad_json, unknown_type or wrong_fields", truncate(kind, 32))
	}
	return m, nil
}
