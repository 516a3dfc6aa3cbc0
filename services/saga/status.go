package saga

// Statuses of a booking. Booking's store keeps them, the invariant checker
// judges them, and the API and the pages show them; each reads them here.
const (
	// StatusPending: the saga is under way; seats are held.
	StatusPending = "pending"
	// StatusConfirmed: the seats are sold, the saga's pivot. Nothing is
	// undone after it.
	StatusConfirmed = "confirmed"
	// StatusCompensated: every undo (refund, release, cancel) is durable.
	StatusCompensated = "compensated"
)

// Statuses lists every booking status, in the order a booking can meet them.
var Statuses = []string{StatusPending, StatusConfirmed, StatusCompensated}

// ValidStatus reports whether s is a booking status.
func ValidStatus(s string) bool {
	return s == StatusPending || s == StatusConfirmed || s == StatusCompensated
}

// Statuses of a seat in Booking's seat map.
const (
	// SeatFree: no booking holds the seat.
	SeatFree = "free"
	// SeatHeld: a booking in flight holds the seat.
	SeatHeld = "held"
	// SeatSold: the seat belongs to a confirmed booking.
	SeatSold = "sold"
)
