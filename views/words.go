package views

import (
	"slices"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// Compensation reports whether a message type belongs to the compensation
// path: the failure that starts it and every undo after it.
func Compensation(typ string) bool {
	k := kinds[typ][0]
	return k == KindFailure || k == KindUndo
}

// Sentence says in plain words what a message did, for someone who has
// never heard of a saga. It names the part that sent it, from the event's
// source (the broker-validated sender), and the part it went to, from
// saga.Consumes: the same type means different things from different
// senders (Seats asks for a refund after voiding a sale, Compensation
// after a failed one).
func Sentence(e Event) string {
	from := PartName(e.Source)
	to := PartName(receiver(e.Queue))
	var s string
	switch e.Type {
	case saga.TypeBookingCreated:
		s = from + " held the seats and asked " + to + " to charge for them."
	case saga.TypePaymentCompleted:
		s = from + " charged the money and asked " + to + " to sell the seats."
	case saga.TypePaymentServiceFailed:
		s = from + " declined the charge: no money was taken. It asked " + to + " to undo the rest, so only the held seats need releasing."
	case saga.TypeSeatsSold:
		s = from + " sold the seats. This is the pivot: from here on nothing is undone, the booking is confirmed."
	case saga.TypeSeatUpdatingServiceFailed:
		s = from + " could not sell the seats and asked " + to + " to undo the charge and the hold."
	case saga.TypeRefundRequested:
		if e.Source == saga.PartSeats {
			s = from + " made sure the seats will never be sold, then asked " + to + " to give the money back (undo of the charge)."
		} else {
			s = from + " asked " + to + " to give the money back (undo of the charge)."
		}
	case saga.TypePaymentRefunded:
		s = from + " gave the money back and asked " + to + " to release the seats."
	case saga.TypeSeatReleaseRequested:
		s = from + " asked " + to + " to release the held seats (undo of the hold); no money was taken, so there is nothing to refund."
	case saga.TypeBookingCancelled:
		s = from + " released the seats and cancelled the booking: every step is undone. It asked " + to + " to tell the user."
	case saga.TypeNotificationRetry:
		s = from + " could not tell the user"
		if e.Attempt > 0 {
			s += " (attempt " + itoa(e.Attempt) + ")"
		}
		s += "; it will try again"
		if d, ok := retryDelay(e.Queue); ok {
			s += " after " + Duration(d)
		}
		s += ". The outcome does not change."
	case saga.TypeBookingNotified:
		s = from + " told the user how the booking ended."
	case saga.TypeDeadlineExceeded:
		s = from + " saw the deadline pass with the booking still pending, and asked " + to + " to undo it."
	case saga.TypeSeatsVoidRequested:
		s = from + " asked " + to + " never to sell these seats (undo before the pivot)."
	case saga.TypeVoidRefused:
		s = from + " had sold the seats before the undo arrived: the pivot stands and the booking is confirmed."
	case saga.TypeLateMessageNeutralised:
		s = from + " got a message for this booking after it was undone; it recognised it as late and left no effect behind."
	default:
		return "A message this dashboard does not know, sent by " + from + "."
	}
	if e.Source != "" && !maySend(e.Source, e.Type) {
		s = "Marked as sent by " + from + ", which never sends " + e.Type + ": " + s
	}
	return s
}

// PartName is a part's name as a sentence says it: "Payment".
func PartName(part string) string {
	if part == "" {
		return "an unknown sender"
	}
	if slices.Contains(Lanes, part) {
		return strings.ToUpper(part[:1]) + part[1:]
	}
	return "“" + part + "”"
}

// maySend reports whether saga.Routes lets part send typ.
func maySend(part, typ string) bool {
	for _, r := range saga.Routes {
		if r.From == part && r.Type == typ {
			return true
		}
	}
	return false
}

// retryDelay is how long a retry's holding queue holds it.
func retryDelay(queue string) (time.Duration, bool) {
	for _, r := range saga.NotificationRetryQueues {
		if r.Name == queue {
			return r.Delay, true
		}
	}
	return 0, false
}

// receiver names the part that takes messages sent to queue, by
// saga.Consumes; a retry's holding queue hands it back to Notification.
func receiver(queue string) string {
	if _, ok := retryDelay(queue); ok {
		return saga.PartNotification
	}
	for _, part := range Lanes {
		if slices.Contains(saga.Consumes[part], queue) {
			return part
		}
	}
	return ""
}

// Why is the one line that explains a booking's outcome: the failure's
// reason for a compensated booking, what the user was told for a finished
// one, where it waits for a pending one.
func (b Booking) Why() string {
	switch b.Status {
	case saga.StatusCompensated:
		for _, e := range b.Events {
			if kinds[e.Type][0] == KindFailure && e.Reason != "" {
				return e.Reason
			}
		}
		return b.Reason
	case saga.StatusPending:
		if b.Waiting != nil {
			s := "waiting in " + b.Waiting.Queue + " since " + Clock(b.Waiting.Since) + " UTC"
			if b.Waiting.Note != "" {
				s += " — " + b.Waiting.Note
			}
			return s
		}
		return "starting"
	}
	for i := len(b.Events) - 1; i >= 0; i-- {
		if b.Events[i].Type == saga.TypeBookingNotified && b.Events[i].Reason != "" {
			return b.Events[i].Reason
		}
	}
	if !b.Notified {
		return "the seats are sold; telling the user is under way"
	}
	return ""
}

// Failure returns the event that made a compensated booking fail.
func (b Booking) Failure() (Event, bool) {
	if b.Status != saga.StatusCompensated {
		return Event{}, false
	}
	for _, e := range b.Events {
		if IsFailure(e.Type) {
			return e, true
		}
	}
	return Event{}, false
}

// IsFailure reports whether a message type says a step failed.
func IsFailure(typ string) bool {
	k, ok := kinds[typ]
	return ok && k[0] == KindFailure
}

// StepFailed reports whether e says a step failed: a failure that starts
// the undo, or a notification that will be retried.
func StepFailed(e Event) bool { return IsFailure(e.Type) || e.Type == saga.TypeNotificationRetry }

// Retries counts the failed attempts to tell the user.
func (b Booking) Retries() int {
	n := 0
	for _, e := range b.Events {
		if e.Type == saga.TypeNotificationRetry {
			n++
		}
	}
	return n
}

// PastWait is a long wait of a booking's message in a queue: how long
// it lay there before the part that takes it handled it, and why, from
// the switches as they were at the time.
type PastWait struct {
	Queue string
	// Step is the part that takes messages from Queue.
	Step     string
	From, To time.Time
	// Open is true while the message still waits: To is when the page
	// was drawn.
	Open bool
	// Note is the reason, "seats paused"; "" when the record has none.
	Note string
}

// Text says the wait in a sentence: "waited 15.7 s in seat_update_queue:
// seats paused".
func (w PastWait) Text() string {
	s := "waited " + Duration(w.To.Sub(w.From)) + " in " + w.Queue
	if w.Open {
		s = "has waited " + Duration(w.To.Sub(w.From)) + " so far in " + w.Queue + ", still unhandled"
	}
	if w.Note != "" {
		s += ": " + w.Note
	} else {
		s += " for " + PartName(w.Step) + " to take it"
	}
	return s
}

// LastMessage is when the last message of the booking was sent, or its
// last change when no message was seen: the last thing that happened.
func (b Booking) LastMessage() time.Time {
	if n := len(b.Events); n > 0 {
		last := b.Events[n-1].At
		if last.After(b.UpdatedAt) {
			return last
		}
	}
	return b.UpdatedAt
}

// has reports whether the booking saw a message of type typ.
func (b Booking) has(typ string) bool {
	for _, e := range b.Events {
		if e.Type == typ {
			return true
		}
	}
	return false
}

// Summary tells what happened to the booking in a sentence or two, in
// words that fit what happened: money never taken is not "given back".
func (b Booking) Summary() string {
	told := " The user was told."
	if !b.Notified {
		told = " Telling the user is still under way."
		if r := b.Retries(); r > 0 {
			told = " Telling the user has failed " + itoa(r) + " times so far and is being retried."
		}
	} else if r := b.Retries(); r > 0 {
		told = " The user was told after " + itoa(r) + " failed attempts."
	}
	stuck := ""
	for _, w := range b.Waits {
		stuck += " It " + w.Text() + "."
	}
	switch b.Status {
	case saga.StatusConfirmed:
		return "Confirmed: the money was charged and the seats are sold." + stuck + told
	case saga.StatusCompensated:
		why := ""
		if w := b.Why(); w != "" {
			why = " (" + w + ")"
		}
		charged := b.has(saga.TypePaymentCompleted)
		undone := "no money was taken, and the held seats were released."
		if charged {
			undone = "the charge was refunded, and the seats were released."
		}
		f, _ := b.Failure()
		var head string
		switch f.Type {
		case saga.TypePaymentServiceFailed:
			head = "Compensated: Payment declined the charge" + why + ", so "
		case saga.TypeSeatUpdatingServiceFailed:
			head = "Compensated: Seats could not sell the seats" + why + ", so "
		case saga.TypeDeadlineExceeded:
			head = "Compensated at its deadline" + strings.Replace(why, "(deadline: ", "(", 1) + ": "
		default:
			head = "Compensated: a step failed" + why + ", so "
		}
		return head + undone + stuck + told
	case saga.StatusPending:
		return "In progress: " + b.Why() + "." + stuck
	}
	return ""
}

// TotalTime is how long the booking's messages took, first to last.
func (b Booking) TotalTime() string {
	if len(b.Events) < 2 {
		return ""
	}
	return Duration(b.Events[len(b.Events)-1].At.Sub(b.Events[0].At))
}

// widthName says which boxes a drawing is for, as the stylesheet reads
// it: "fit" is drawn narrow for a box that is narrow at any screen size.
func widthName(t Timeline) string {
	switch {
	case t.Fit:
		return "fit"
	case t.Narrow:
		return "narrow"
	}
	return "wide"
}

// LayoutFitAs lays out events in the given mode for a box that is narrow
// on every screen, such as a row of the bookings list: one drawing, no
// wide one beside it.
func LayoutFitAs(events []Event, mode string) Timeline {
	t := LayoutNarrowAs(events, false, mode)
	t.Fit = true
	return t
}
