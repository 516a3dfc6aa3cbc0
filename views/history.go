package views

import (
	"strconv"
	"time"
)

// Moment is the dashboard set back in time: the saga as the observer's
// record had it at At.
type Moment struct {
	At time.Time
	// From and To are the stretch the record covers; To is now.
	From, To time.Time
	Seats    SeatMap
	Stats    Stats
	Bookings []MomentBooking
	Switches []Switch
	Queues   Queues
	// QueuesAt is when the depths shown were read; zero when none were.
	QueuesAt time.Time
}

// MomentBooking is one booking at a moment.
type MomentBooking struct {
	ID        string
	UserID    string
	Seats     []string
	Status    string
	Notified  bool
	CreatedAt time.Time
	Waiting   *Waiting
}

// BookingStep is a booking after one of its messages: what each
// participant held for it at that point.
type BookingStep struct {
	Event Event
	// Status is the booking's status in Booking's store.
	Status string
	// Seats is "held", "sold" or "free" in Booking's seat map.
	Seats string
	// ChargedCents and RefundedCents are Payment's ledger for it;
	// Declined is set once Payment refused to charge.
	ChargedCents, RefundedCents int64
	Declined                    bool
	// Told is set once Notification told the user; Retries counts its
	// failed tries before that.
	Told    bool
	Retries int
}

// Money says what Payment holds at this step.
func (s BookingStep) Money() string {
	switch {
	case s.RefundedCents > 0:
		return "charged " + Money(s.ChargedCents) + ", refunded " + Money(s.RefundedCents)
	case s.ChargedCents > 0:
		return "charged " + Money(s.ChargedCents)
	case s.Declined:
		return "declined, nothing charged"
	}
	return "nothing charged"
}

// User says what Notification did at this step.
func (s BookingStep) User() string {
	switch {
	case s.Told:
		return "told"
	case s.Retries > 0:
		return "not told yet (" + strconv.Itoa(s.Retries) + " " + Plural(s.Retries, "failed try", "failed tries") + ")"
	}
	return "not told"
}
