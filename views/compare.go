package views

import (
	"net/url"

	"github.com/sagaboard/sagaboard/services/saga"
)

// Stand-ins for a booking id in /compare: the server swaps each for the id
// of the newest booking with that outcome, so a link can say "the latest
// compensated booking" without the page that draws it looking it up.
// Neither can be a booking id: ids have no dash.
const (
	LatestConfirmed   = "latest-confirmed"
	LatestCompensated = "latest-compensated"
)

// ComparePage is GET /compare: two bookings side by side.
type ComparePage struct {
	Page
	A, B CompareSide
}

// CompareSide is one column of the compare page: a booking, or the reason
// there is none.
type CompareSide struct {
	// Name is "a" or "b", the query parameter the side comes from.
	Name string
	// Input is the id as asked for, shown back in the form.
	Input string
	// Booking is nil when there is no booking to show; Problem says why.
	Booking *Booking
	Problem string
	// Unknown is true when an id was given but names no booking, as
	// opposed to no id given yet.
	Unknown bool
	// WS is the live feed this column listens to, when the page's own
	// does not carry it already.
	WS string
}

// Label is the side's name as the page shows it.
func (c CompareSide) Label() string {
	if c.Name == "a" {
		return "A"
	}
	return "B"
}

// ExportURL is the path of a booking's history as a JSON download.
func ExportURL(id string) string { return BookingURL(id) + ".json" }

// CompareURL is the compare page for a and b; either may be empty or one
// of the Latest stand-ins.
func CompareURL(a, b string) string {
	v := url.Values{}
	v.Set("a", a)
	v.Set("b", b)
	return "/compare?" + v.Encode()
}

// Pick is a ready-made link to a comparison.
type Pick struct {
	Text, URL string
}

// ComparePicks offers what to compare b with without typing an id: the
// newest booking of the other outcome, or of both while b is undecided.
func ComparePicks(b Booking) []Pick {
	confirmed := Pick{"the latest confirmed booking ✔", CompareURL(b.ID, LatestConfirmed)}
	compensated := Pick{"the latest compensated booking ✖", CompareURL(b.ID, LatestCompensated)}
	switch b.Status {
	case saga.StatusConfirmed:
		return []Pick{compensated}
	case saga.StatusCompensated:
		return []Pick{confirmed}
	}
	return []Pick{confirmed, compensated}
}

// Picks are the compare page's quick links. They fill the first side that
// shows no booking, else replace B, keeping the other side as it is.
func (p ComparePage) Picks() (side string, picks []Pick) {
	other := func(pick string) string {
		if p.A.Booking == nil {
			return CompareURL(pick, p.B.Input)
		}
		return CompareURL(p.A.Input, pick)
	}
	side = "B"
	if p.A.Booking == nil {
		side = "A"
	}
	return side, []Pick{
		{"the latest confirmed booking ✔", other(LatestConfirmed)},
		{"the latest compensated booking ✖", other(LatestCompensated)},
	}
}

// SwapURL is the same comparison with the sides swapped.
func (p ComparePage) SwapURL() string { return CompareURL(p.B.Input, p.A.Input) }
