package views

import (
	"net/url"
	"slices"
	"strings"

	"github.com/sagaboard/sagaboard/services/saga"
)

// BookingsList is one page of the dashboard's bookings list.
type BookingsList struct {
	Filter Filter
	Items  []Booking
	// Limit is how many bookings a page holds.
	Limit int
	// Older and Newer are the ids to page from: the next page back is
	// the bookings before Older, the next one up those after Newer. ""
	// when there is no such page.
	Older, Newer string
	// Live is set on the newest page: new bookings join it at the top.
	// An older page is kept still; only the bookings on it are updated.
	Live bool
	// Err is the sentence when the search could not be read; the list
	// is then empty.
	Err string
}

// PageURL is the dashboard's address for the page before or after id,
// with the filter kept: what a pager link leads to without JavaScript.
func (l BookingsList) PageURL(path, dir, id string) string {
	v, _ := url.ParseQuery(l.Filter.Query())
	if id != "" {
		v.Set(dir, id)
	}
	if q := v.Encode(); q != "" {
		return path + "?" + q
	}
	return path
}

// Strip cells' states: where a booking is, lane by lane.
const (
	CellNone  = "none" // the booking has not reached this participant
	CellDone  = "done" // it did its step
	CellFail  = "fail" // its step failed, and the undo started
	CellUndo  = "undo" // it undid its step
	CellWait  = "wait" // the booking's next step waits here
	CellRetry = "retry"
)

// StripCell is one lane of a booking's strip.
type StripCell struct {
	Lane, State string
}

// Mark is the symbol that says the cell's state without its colour.
func (c StripCell) Mark() string {
	switch c.State {
	case CellDone:
		return "✔"
	case CellFail:
		return "✖"
	case CellUndo:
		return "↺"
	case CellWait:
		return "●"
	case CellRetry:
		return "↻"
	}
	return "·"
}

// Words says the cell in words, for its tooltip and screen readers.
func (c StripCell) Words() string {
	switch c.State {
	case CellDone:
		return c.Lane + " done"
	case CellFail:
		return c.Lane + " failed"
	case CellUndo:
		return c.Lane + " undone"
	case CellWait:
		return "waiting for " + c.Lane
	case CellRetry:
		return c.Lane + " retrying"
	}
	return c.Lane + " not reached"
}

// Strip is the booking's lanes at a glance, in Lanes order: which steps it
// has done, where it failed or was undone, and where it waits now.
func (b Booking) Strip() []StripCell {
	cells := make([]StripCell, len(Lanes))
	for i, lane := range Lanes {
		cells[i] = StripCell{Lane: lane, State: CellNone}
	}
	for _, e := range b.Events {
		i := slices.Index(Lanes, e.Source)
		if i < 0 {
			continue
		}
		c := &cells[i]
		switch k := kinds[e.Type][0]; {
		case k == KindFailure:
			c.State = CellFail
		case k == KindUndo && c.State != CellFail:
			c.State = CellUndo
		case k == KindRetry:
			c.State = CellRetry
		case k == KindNote || k == KindOther || k == "":
		case c.State == CellNone || c.State == CellRetry:
			c.State = CellDone
		}
	}
	if b.Waiting != nil {
		if i := slices.Index(Lanes, waitLane(b.Waiting.Queue)); i >= 0 && cells[i].State != CellFail {
			cells[i].State = CellWait
		}
	}
	return cells
}

// StripWords is the whole strip in words.
func (b Booking) StripWords() string {
	cells := b.Strip()
	words := make([]string, 0, len(cells))
	for _, c := range cells {
		if c.State != CellNone {
			words = append(words, c.Words())
		}
	}
	if len(words) == 0 {
		return "no step seen yet"
	}
	return strings.Join(words, ", ")
}

// waitLane is the participant that takes messages from queue.
func waitLane(queue string) string {
	for part, queues := range saga.Consumes {
		if slices.Contains(queues, queue) {
			return part
		}
	}
	for _, r := range saga.NotificationRetryQueues {
		if r.Name == queue {
			return saga.PartNotification
		}
	}
	return ""
}

// IDHead is an id without its last six characters, which ShortID shows:
// the list prints both, the tail in bold, so what a person reads there is
// what they can search for.
func IDHead(id string) string {
	if len(id) <= 6 {
		return ""
	}
	return id[:len(id)-6]
}

// IDTail is an id's last six characters.
func IDTail(id string) string {
	if len(id) <= 6 {
		return id
	}
	return id[len(id)-6:]
}

// SeatLetters is the seats' statuses, one letter each, in order: f free,
// h held, s sold (the first letter of each status's word).
func SeatLetters(seats []Seat) string {
	b := make([]byte, len(seats))
	for i, s := range seats {
		b[i] = 'f'
		if s.Status != "" {
			b[i] = s.Status[0]
		}
	}
	return string(b)
}
