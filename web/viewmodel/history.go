package viewmodel

import (
	"context"
	"sort"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
	"github.com/sagaboard/sagaboard/web/httperr"
)

// History is what going back in time reads of the observer's record.
type History interface {
	// EventsUntil lists the events published at or before a moment, in
	// the order they were published.
	EventsUntil(ctx context.Context, at time.Time) ([]observer.Event, error)
	// DepthsAt is the queue depths in force at a moment, and when they
	// were read.
	DepthsAt(ctx context.Context, at time.Time) (time.Time, []saga.QueueStat, error)
	// Recorded is the stretch the record covers.
	Recorded(ctx context.Context) (from, to time.Time, err error)
}

// MaxMomentBookings bounds the bookings a Moment lists, newest first; its
// counts and its seats take every booking into account.
const MaxMomentBookings = 500

// Moment is the saga as the observer's record had it at one moment: GET
// /api/history's answer, and what the dashboard draws when set back.
type Moment struct {
	At time.Time `json:"at"`
	// From and To are the stretch the record covers; To is now.
	From     time.Time       `json:"from"`
	To       time.Time       `json:"to"`
	Seats    []booking.Seat  `json:"seats"`
	Stats    booking.Stats   `json:"stats"`
	Bookings []MomentBooking `json:"bookings"`
	// Switches are the failure switches in force at At.
	Switches map[string]saga.Switch `json:"switches"`
	// Queues are the depths the observer last saw at or before At, read
	// at QueuesAt; empty when it saw none.
	Queues   []QueueView `json:"queues"`
	QueuesAt time.Time   `json:"queues_at,omitzero"`
}

// MomentBooking is one booking at a moment.
type MomentBooking struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	Seats     []string  `json:"seats"`
	Status    string    `json:"status"`
	Notified  bool      `json:"notified"`
	CreatedAt time.Time `json:"created_at"`
	Waiting   *Waiting  `json:"waiting,omitempty"`
}

// Folded is one booking as Fold rebuilds it, with its events so far.
type Folded struct {
	booking.Booking
	Events []observer.Event
}

// Fold replays events, in the order they were published, over a venue of
// free seats, the way Booking's own store moved: BookingCreated holds the
// booking's seats and makes it pending; SeatsSold sells them and confirms
// it; BookingCancelled frees what it still holds and compensates it;
// BookingNotified marks its user told. Events of a booking whose
// BookingCreated is not in the record are left out: nothing says which
// seats it held. Seats named by events but not in venue are added at the
// end. It returns the seats in venue order and the bookings oldest first.
func Fold(venue []string, events []observer.Event) ([]booking.Seat, []Folded) {
	seats := make([]booking.Seat, len(venue))
	at := make(map[string]int, len(venue))
	for i, id := range venue {
		seats[i] = booking.Seat{ID: id, Status: saga.SeatFree}
		at[id] = i
	}
	seat := func(id string) *booking.Seat {
		i, ok := at[id]
		if !ok {
			i = len(seats)
			at[id] = i
			seats = append(seats, booking.Seat{ID: id, Status: saga.SeatFree})
		}
		return &seats[i]
	}
	var list []Folded
	index := map[string]int{}
	for _, e := range events {
		i, known := index[e.BookingID]
		if e.Type == saga.TypeBookingCreated && !known {
			env := e.Envelope()
			i, known = len(list), true
			index[e.BookingID] = i
			list = append(list, Folded{Booking: booking.Booking{ID: e.BookingID, UserID: env.Booking.UserID, Seats: env.Booking.Seats,
				AmountCents: env.Booking.AmountCents, Status: saga.StatusPending, CreatedAt: e.At, UpdatedAt: e.At}})
			for _, s := range env.Booking.Seats {
				*seat(s) = booking.Seat{ID: s, Status: saga.SeatHeld, BookingID: e.BookingID}
			}
		}
		if !known {
			continue
		}
		b := &list[i]
		b.Events = append(b.Events, e)
		switch e.Type {
		case saga.TypeSeatsSold:
			if b.Status == saga.StatusPending {
				b.Status, b.UpdatedAt = saga.StatusConfirmed, e.At
				for _, s := range b.Seats {
					*seat(s) = booking.Seat{ID: s, Status: saga.SeatSold, BookingID: b.ID}
				}
			}
		case saga.TypeBookingCancelled:
			if b.Status == saga.StatusPending {
				b.Status, b.UpdatedAt = saga.StatusCompensated, e.At
				for _, s := range b.Seats {
					if st := seat(s); st.BookingID == b.ID && st.Status == saga.SeatHeld {
						*st = booking.Seat{ID: s, Status: saga.SeatFree}
					}
				}
			}
		case saga.TypeBookingNotified:
			b.Notified = true
		}
	}
	return seats, list
}

// CountOf counts folded bookings by status, as Booking's Stats does.
func CountOf(list []Folded) booking.Stats {
	var st booking.Stats
	for _, b := range list {
		st.Total++
		switch b.Status {
		case saga.StatusPending:
			st.Pending++
		case saga.StatusConfirmed:
			st.Confirmed++
		case saga.StatusCompensated:
			st.Compensated++
		}
		if b.Notified {
			st.Notified++
		}
	}
	return st
}

// ClampMoment bounds at to the stretch the record covers, [from, now]; an
// empty record (zero from) bounds it by now alone.
func ClampMoment(at, from, now time.Time) time.Time {
	if at.After(now) {
		return now
	}
	if !from.IsZero() && at.Before(from) {
		return from
	}
	return at
}

// Moment rebuilds the saga at at from the observer's record: the events
// published until then folded over the venue, the switches then in force,
// and the queue depths last seen. at is bounded to the record's stretch.
// The venue's seat ids are Booking's where it runs here, and otherwise
// those the events name.
func (b *Builder) Moment(ctx context.Context, at time.Time) (Moment, error) {
	if err := b.src.Need(saga.PartObserver); err != nil {
		return Moment{}, err
	}
	h := b.src.History
	now := time.Now().UTC()
	from, _, err := h.Recorded(ctx)
	if err != nil {
		return Moment{}, err
	}
	at = ClampMoment(at.UTC(), from, now)
	m := Moment{At: at, From: from, To: now}
	var venue []string
	if b.src.Has(saga.PartBooking) {
		seats, err := b.src.Booking.Seats(ctx)
		if err != nil {
			return Moment{}, err
		}
		venue = make([]string, len(seats))
		for i, s := range seats {
			venue[i] = s.ID
		}
	}
	events, err := h.EventsUntil(ctx, at)
	if err != nil {
		return Moment{}, err
	}
	var list []Folded
	m.Seats, list = Fold(venue, events)
	m.Stats = CountOf(list)
	history, err := b.src.Observer.SwitchesDuring(ctx, at, at)
	if err != nil {
		return Moment{}, err
	}
	m.Switches = history[len(history)-1].Switches
	if m.Switches == nil {
		m.Switches = map[string]saga.Switch{}
	}
	waiting := map[string][]WaitingBooking{}
	m.Bookings = make([]MomentBooking, 0, min(len(list), MaxMomentBookings))
	for i := len(list) - 1; i >= 0; i-- {
		f := list[i]
		w := WaitingOf(f.Booking, f.Events, m.Switches)
		if w != nil {
			waiting[w.Queue] = append(waiting[w.Queue], WaitingBooking{ID: f.ID, UserID: f.UserID, Since: w.Since, Note: w.Note})
		}
		if len(m.Bookings) < MaxMomentBookings {
			m.Bookings = append(m.Bookings, MomentBooking{ID: f.ID, UserID: f.UserID, Seats: f.Seats, Status: f.Status,
				Notified: f.Notified, CreatedAt: f.CreatedAt, Waiting: w})
		}
	}
	for _, l := range waiting {
		sort.Slice(l, func(i, j int) bool { return l[i].Since.Before(l[j].Since) })
	}
	when, depths, err := h.DepthsAt(ctx, at)
	if err != nil {
		return Moment{}, err
	}
	m.QueuesAt, m.Queues = when, QueueList(depths, waiting)
	return m, nil
}

// MomentView is a Moment as the dashboard draws it.
func (b *Builder) MomentView(m Moment) views.Moment {
	v := views.Moment{At: m.At, From: m.From, To: m.To, QueuesAt: m.QueuesAt,
		Stats: views.Stats{Known: true, Total: m.Stats.Total, Pending: m.Stats.Pending, Confirmed: m.Stats.Confirmed,
			Compensated: m.Stats.Compensated, Notified: m.Stats.Notified}}
	seats := make([]views.Seat, len(m.Seats))
	for i, s := range m.Seats {
		seats[i] = views.Seat{ID: s.ID, Status: s.Status, BookingID: s.BookingID}
	}
	v.Seats = b.SeatMap(seats)
	for _, p := range saga.SwitchParts {
		sw := m.Switches[p]
		v.Switches = append(v.Switches, views.Switch{Part: p, FailRate: sw.FailRate, DelayMS: sw.DelayMS, Paused: sw.Paused,
			Queue: SwitchQueue(p), FailNext: sw.FailNext, UserID: sw.UserID})
	}
	stats := make([]saga.QueueStat, len(m.Queues))
	waiting := map[string][]WaitingBooking{}
	for i, q := range m.Queues {
		stats[i] = q.QueueStat
		waiting[q.Name] = q.Waiting
	}
	v.Queues = views.Queues{Known: len(stats) > 0, List: QueueViews(stats, waiting, m.At), Paused: map[string]bool{}}
	for p, sw := range m.Switches {
		if sw.Paused {
			v.Queues.Paused[SwitchQueue(p)] = true
		}
	}
	for _, bk := range m.Bookings {
		mb := views.MomentBooking{ID: bk.ID, UserID: bk.UserID, Seats: bk.Seats, Status: bk.Status, Notified: bk.Notified, CreatedAt: bk.CreatedAt}
		if w := bk.Waiting; w != nil {
			mb.Waiting = &views.Waiting{Queue: w.Queue, Since: w.Since, For: m.At.Sub(w.Since), Note: w.Note}
		}
		v.Bookings = append(v.Bookings, mb)
	}
	return v
}

// ParseMoment reads a moment as GET /api/history's at= gives it: RFC 3339,
// fractions of a second allowed. Anything else is httperr.Invalid, with a
// sentence that shows the form.
func ParseMoment(raw string) (time.Time, error) {
	if raw == "" {
		return time.Time{}, httperr.Errorf(httperr.Invalid, "at is missing: give a moment in RFC 3339, such as 2026-11-29T22:30:00Z")
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return time.Time{}, httperr.Errorf(httperr.Invalid, "at must be a moment in RFC 3339, such as 2026-11-29T22:30:00Z; %q is not one", views.Clip(raw, 64))
	}
	return t, nil
}

// Range is the stretch the observer's record covers: From its first entry
// to To, now.
type Range struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// HistoryRange is the stretch a moment may be asked for.
func (b *Builder) HistoryRange(ctx context.Context) (Range, error) {
	if err := b.src.Need(saga.PartObserver); err != nil {
		return Range{}, err
	}
	from, _, err := b.src.History.Recorded(ctx)
	if err != nil {
		return Range{}, err
	}
	now := time.Now().UTC()
	if from.IsZero() {
		from = now
	}
	return Range{From: from, To: now}, nil
}
