package invariants

import "context"

// The checker reads each participant's store through these interfaces. Each
// store implements them in its own audit.go, with read-only queries on its
// reader pool: a check never takes a store's one writer, so it cannot stall
// the saga. Methods that take booking ids are given at most MaxIDs at once.

// MaxIDs bounds the ids passed to one call, so each call is one modest
// query with an IN list.
const MaxIDs = 500

// Cursor is a position in a Feed: rows are ordered by (At, Key).
type Cursor struct {
	At  int64
	Key string
}

// Change is one row a Feed lists: the booking it concerns, and its
// position. (At, Key) is unique within a feed.
type Change struct {
	BookingID string
	At        int64
	Key       string
}

// Feed lists the rows of one store that changed, by an indexed column that
// grows with time (a timestamp, or a sequence number), so a check reads only
// what is new.
type Feed interface {
	// Head returns the At of the newest row, 0 when there is none: where a
	// checker that has just started begins.
	Head(ctx context.Context) (int64, error)
	// Changes returns at most limit rows at or after from, in (At, Key)
	// order. Key "" is before every key.
	Changes(ctx context.Context, from Cursor, limit int) ([]Change, error)
}

// SeatClaim is a held or sold seat of Booking's seat map, with the status
// of the booking it belongs to ("" when the store has no such booking).
type SeatClaim struct {
	SeatID, SeatStatus, BookingID, BookingStatus string
}

// BookingState is what the checker needs of a booking.
type BookingState struct {
	ID          string
	Status      string // pending, confirmed or compensated
	AmountCents int64
}

// Bookings is Booking's store: the seat map and the bookings. Its Feed lists
// bookings by updated_at.
type Bookings interface {
	Feed
	// SeatWindow reads the seat map a window at a time, in seat id order:
	// of the at most limit seats after the given id, it returns those whose
	// booking does not match (held but not pending, sold but not confirmed,
	// or a booking the store does not have), and the last seat id of the
	// window, "" when the window reached the end of the map.
	SeatWindow(ctx context.Context, after string, limit int) ([]SeatClaim, string, error)
	// SeatsOf returns every seat held or sold by the given bookings.
	SeatsOf(ctx context.Context, bookingIDs []string) ([]SeatClaim, error)
	// Seats returns the given seats, whatever their status.
	Seats(ctx context.Context, seatIDs []string) ([]SeatClaim, error)
	// States returns the bookings with the given ids that exist.
	States(ctx context.Context, ids []string) ([]BookingState, error)
	// Page returns at most limit booking ids after the given one, in id
	// order: the slow sweep over every booking.
	Page(ctx context.Context, after string, limit int) ([]string, error)
	// Total returns how many bookings the store holds.
	Total(ctx context.Context) (int, error)
}

// Net is what Payment's ledger holds for one booking.
type Net struct {
	ChargedCents, RefundedCents int64
}

// Ledger is Payment's ledger. Its Feed lists ledger lines by their time.
type Ledger interface {
	Feed
	// Nets returns the ledger of each given booking that has one.
	Nets(ctx context.Context, ids []string) (map[string]Net, error)
}

// Ticket is one seat SeatUpdating sold, and the booking it sold it to.
type Ticket struct {
	SeatID, BookingID string
}

// Tickets is SeatUpdating's record of sales. Its Feed lists tickets by the
// time they were issued.
type Tickets interface {
	Feed
	// Sold returns the seats sold to each given booking that has any.
	Sold(ctx context.Context, ids []string) (map[string][]string, error)
	// Window returns the tickets of the seats after the given id, up to
	// and including last ("" for no end), in seat id order: the checker
	// walks the tickets with its window of the seat map, so a ticket no
	// cursor saw, issued before the checker started, is read within a turn.
	Window(ctx context.Context, after, last string) ([]Ticket, error)
}

// Notices is Notification's record of what each user was told. Its Feed
// lists notices by the time they were sent.
type Notices interface {
	Feed
	// Told returns which of the given bookings have a notice.
	Told(ctx context.Context, ids []string) (map[string]bool, error)
}

// Duplicate is one input that was handled more than once: several distinct
// messages of one type, all caused by the same consumed message.
type Duplicate struct {
	BookingID, CausedBy, Type string
	MessageIDs                []string
}

// Events is the observer's record of every message. Its Feed lists events
// by their sequence number.
type Events interface {
	Feed
	// Duplicates returns, for the given bookings, every (caused_by, type)
	// pair with more than one distinct message id.
	Duplicates(ctx context.Context, ids []string) ([]Duplicate, error)
}
