package viewmodel

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
	"github.com/sagaboard/sagaboard/web/httperr"
)

// The dashboard's side panels' sizes.
const (
	noticeLimit     = 12
	deadLetterLimit = 10
)

// Stats are the counts by status; not Known where Booking does not run.
func (b *Builder) Stats(ctx context.Context) (views.Stats, error) {
	if !b.src.Has(saga.PartBooking) {
		return views.Stats{}, nil
	}
	st, err := b.src.Booking.Stats(ctx)
	if err != nil {
		return views.Stats{}, err
	}
	return views.Stats{Known: true, Total: st.Total, Pending: st.Pending, Confirmed: st.Confirmed,
		Compensated: st.Compensated, Notified: st.Notified}, nil
}

// Seats returns the seat map as a flat list, in venue order; empty where
// Booking does not run.
func (b *Builder) Seats(ctx context.Context) ([]views.Seat, error) {
	if !b.src.Has(saga.PartBooking) {
		return nil, nil
	}
	list, err := b.src.Booking.Seats(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]views.Seat, len(list))
	for i, st := range list {
		out[i] = views.Seat{ID: st.ID, Status: st.Status, BookingID: st.BookingID}
	}
	return out, nil
}

// SeatMap groups seats into rows by their row label.
func (b *Builder) SeatMap(seats []views.Seat) views.SeatMap {
	m := views.SeatMap{Known: b.src.Has(saga.PartBooking), PriceCents: saga.PricePerSeat, SlowMS: int(b.src.Switches.Slow().Milliseconds())}
	for _, st := range seats {
		label := strings.TrimRight(st.ID, "0123456789")
		if n := len(m.Rows); n == 0 || m.Rows[n-1].Label != label {
			m.Rows = append(m.Rows, views.SeatRow{Label: label})
		}
		r := &m.Rows[len(m.Rows)-1]
		r.Seats = append(r.Seats, st)
	}
	return m
}

// FreeSeats lists the ids of the seats that are free now.
func (b *Builder) FreeSeats(ctx context.Context) ([]string, error) {
	seats, err := b.src.Booking.Seats(ctx)
	if err != nil {
		return nil, err
	}
	var free []string
	for _, st := range seats {
		if st.Status == saga.SeatFree {
			free = append(free, st.ID)
		}
	}
	return free, nil
}

// Switches are the failure switches' rows, in saga.SwitchParts order.
func (b *Builder) Switches() []views.Switch {
	all := b.src.Switches.All()
	out := make([]views.Switch, 0, len(saga.SwitchParts))
	for _, p := range saga.SwitchParts {
		sw := all[p]
		out = append(out, views.Switch{Part: p, FailRate: sw.FailRate, DelayMS: sw.DelayMS, Paused: sw.Paused,
			Queue: SwitchQueue(p), FailNext: sw.FailNext, UserID: sw.UserID, SlowMS: int(b.src.Switches.Slow().Milliseconds())})
	}
	return out
}

// PausedQueues lists the queues whose consumer is paused by its switch.
func (b *Builder) PausedQueues() map[string]bool {
	out := map[string]bool{}
	for p, sw := range b.src.Switches.All() {
		if sw.Paused {
			out[SwitchQueue(p)] = true
		}
	}
	return out
}

// Notices is the panel of what users were told lately.
func (b *Builder) Notices(ctx context.Context) (views.Notices, error) {
	if !b.src.Has(saga.PartNotification) {
		return views.Notices{}, nil
	}
	list, err := b.src.Notification.List(ctx, "", noticeLimit)
	if err != nil {
		return views.Notices{}, err
	}
	n := views.Notices{Known: true, List: make([]views.Notice, len(list))}
	for i, x := range list {
		n.List[i] = views.Notice{BookingID: x.BookingID, UserID: x.UserID, Text: x.Text, Success: x.Success, At: x.At}
	}
	return n, nil
}

// DeadLetters is the panel of the newest dead letters.
func (b *Builder) DeadLetters(ctx context.Context) (views.DeadLetters, error) {
	if !b.src.Has(saga.PartObserver) {
		return views.DeadLetters{}, nil
	}
	list, err := b.src.Observer.DeadLetters(ctx, deadLetterLimit)
	if err != nil {
		return views.DeadLetters{}, err
	}
	st, err := b.src.Observer.DeadLetterStats(ctx)
	if err != nil {
		return views.DeadLetters{}, err
	}
	d := views.DeadLetters{Known: true, List: make([]views.DeadLetter, len(list)), Dropped: st.Dropped}
	for i, x := range list {
		d.List[i] = views.DeadLetter{ID: x.ID, Queue: x.Queue, Reason: x.Reason, Type: x.Type, BookingID: x.BookingID,
			Body: x.Body, At: x.At, ReplayedAt: x.ReplayedAt, Forged: x.Forged}
	}
	return d, nil
}

// Invariants is the invariants panel's data, from the latest check.
func (b *Builder) Invariants() views.Invariants {
	if !b.src.Has(PartInvariants) {
		return views.Invariants{}
	}
	rep := b.src.Invariants.Report()
	v := views.Invariants{Known: true, State: rep.State, CheckedAt: rep.CheckedAt, Now: time.Now(), Bookings: rep.BookingsTotal, Error: rep.Error}
	byRule := map[string][]views.InvariantViolation{}
	for _, x := range rep.Violations {
		byRule[x.Rule] = append(byRule[x.Rule], views.InvariantViolation{BookingID: x.BookingID, Detail: x.Detail})
	}
	for _, r := range rep.Rules {
		v.Rules = append(v.Rules, views.InvariantRule{Name: r.Rule, Description: r.Description, Checked: r.Checked,
			Skipped: r.Skipped, Violations: byRule[r.Rule]})
	}
	return v
}

// ListPage is one page of the bookings list, as the address asks for it:
// status=, user_id=, q= (a search), and before= or after= (an id to page
// from). A search that cannot be read is not an error of the page: the
// list says why, and shows nothing.
func (b *Builder) ListPage(ctx context.Context, q url.Values, limit int) (views.BookingsList, error) {
	f := FilterOf(q)
	f.Q = strings.TrimSpace(q.Get("q"))
	l := views.BookingsList{Filter: f, Limit: limit, Live: true}
	if !b.src.Has(saga.PartBooking) {
		return l, nil
	}
	bf := booking.Filter{Status: f.Status, UserID: f.UserID, Limit: limit + 1}
	if f.Q != "" {
		s, err := saga.ParseSearch(f.Q)
		if err != nil {
			l.Err = httperr.From(err).Message
			return l, nil
		}
		bf.Search = &s
	}
	before, after := cursor(q.Get("before")), cursor(q.Get("after"))
	var page []booking.Booking
	if after != "" {
		// One more than a page: the extra one, the newest, says there is
		// a newer page still. Without it this is the newest page, which
		// is drawn as such, live.
		bf.After = after
		got, err := b.src.Booking.List(ctx, bf)
		if err != nil {
			return l, err
		}
		if len(got) > limit {
			page = got[1:]
			l.Live, l.Newer, l.Older = false, page[0].ID, page[len(page)-1].ID
		}
		bf.After = ""
	}
	if page == nil {
		bf.Before = before
		got, err := b.src.Booking.List(ctx, bf)
		if err != nil {
			return l, err
		}
		if len(got) > limit {
			got = got[:limit]
			l.Older = got[limit-1].ID
		}
		page = got
		if before != "" {
			l.Live = false
			if len(page) > 0 {
				l.Newer = page[0].ID
			}
		}
	}
	var err error
	l.Items, err = b.withEvents(ctx, page)
	return l, err
}

// cursor is a paging id from the address, "" when it cannot be one.
func cursor(id string) string {
	if len(id) > 64 {
		return ""
	}
	return id
}
