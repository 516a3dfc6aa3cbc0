package ui

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/a-h/templ"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

// This file draws the live feed's fragments: the deltas a frame pushes and
// the snapshot a new client gets first.

// dashboardDelta draws what changed on the dashboard since the last frame.
func (l *Live) dashboardDelta(ctx context.Context, m marks) []byte {
	var out bytes.Buffer
	if len(m.bookings) > 0 && l.model.Sources().Has(saga.PartBooking) {
		ids := make([]string, 0, len(m.bookings))
		for id := range m.bookings {
			ids = append(ids, id)
		}
		// Ids sort by creation time: draw the newest now, the rest next.
		slices.Sort(ids)
		slices.Reverse(ids)
		if len(ids) > maxCardsPerFrame {
			l.putBack(ids[maxCardsPerFrame:min(len(ids), listLimit)], false)
			ids = ids[:maxCardsPerFrame]
		}
		cards, err := l.model.Cards(ctx, ids)
		if err != nil {
			l.log.Warn("live: could not read changed bookings", "err", err)
		} else if len(cards) > 0 {
			l.write(ctx, &out, views.BookingsInsert(cards))
		}
	}
	if m.seats && l.model.Sources().Has(saga.PartBooking) {
		seats, err := l.model.Seats(ctx)
		if err != nil {
			l.log.Warn("live: could not read the seats", "err", err)
		} else {
			l.seatDelta(ctx, &out, seats)
		}
	}
	if m.stats || m.rates {
		l.region(ctx, &out, "stats", l.statsBar(ctx, m.stats))
	}
	if m.switches {
		for _, sw := range l.model.Switches() {
			l.region(ctx, &out, "switch-"+sw.Part, views.SwitchRow(sw, true))
		}
	}
	if m.queues {
		l.region(ctx, &out, "queues", views.QueuePanel(l.queuesView(), true))
		l.region(ctx, &out, "broker", views.BrokerStatus(l.brokerView(), true))
	}
	if m.invariants {
		inv := l.model.Invariants()
		l.region(ctx, &out, "invariants", views.InvariantsPanel(inv, true))
		l.region(ctx, &out, "inv-pill", views.InvariantsPill(inv, true))
	}
	if m.notices {
		if n, err := l.model.Notices(ctx); err == nil {
			l.region(ctx, &out, "notices", views.NoticesPanel(n, true))
		} else {
			l.log.Warn("live: could not read notifications", "err", err)
		}
	}
	if m.dead {
		if d, err := l.model.DeadLetters(ctx); err == nil {
			l.region(ctx, &out, "dead-letters", views.DeadLettersPanel(d, true))
		} else {
			l.log.Warn("live: could not read dead letters", "err", err)
		}
	}
	return out.Bytes()
}

// seatDelta sends the seats whose status changed since the last frame, each
// on its own, or all of them as one letter each, whichever is smaller. Both
// leave the boxes a person has ticked elsewhere ticked. Under load a few
// hundred seats change between frames; one by one they added tens of
// kilobytes to each frame, which the pacing then paid for in pauses, and
// the dashboard fell behind by them.
func (l *Live) seatDelta(ctx context.Context, out *bytes.Buffer, seats []views.Seat) {
	if l.seats == nil || len(l.seats) != len(seats) {
		l.seats = seats
		l.write(ctx, out, views.SeatStates(seats))
		return
	}
	var each bytes.Buffer
	for i, st := range seats {
		if l.seats[i] != st {
			l.write(ctx, &each, views.SeatView(st, true))
		}
	}
	l.seats = seats
	if each.Len() == 0 {
		return
	}
	// Every seat as a letter is a byte a seat and a few hundred besides, a
	// seat on its own about 190 bytes: past about a two-hundredth of the
	// venue, the letters win.
	if all := l.render(ctx, views.SeatStates(seats)); all != nil && len(all) < each.Len() {
		out.Write(all)
		return
	}
	out.Write(each.Bytes())
}

// statsBar draws the counts, querying them at most every statsEvery.
func (l *Live) statsBar(ctx context.Context, changed bool) templ.Component {
	if changed || !l.haveCounts {
		if time.Since(l.countsAt) < statsEvery && l.haveCounts {
			l.putBack(nil, true)
		} else if st, err := l.model.Stats(ctx); err != nil {
			l.log.Warn("live: could not count bookings", "err", err)
		} else {
			l.counts, l.countsAt, l.haveCounts = st, time.Now(), true
		}
	}
	st := l.counts
	l.header(&st)
	return views.StatsBar(st, true)
}

// region writes a fragment when it differs from what the dashboards have.
func (l *Live) region(ctx context.Context, out *bytes.Buffer, name string, c templ.Component) {
	b := l.render(ctx, c)
	if b == nil || bytes.Equal(l.last[name], b) {
		return
	}
	l.last[name] = b
	out.Write(b)
}

func (l *Live) write(ctx context.Context, out *bytes.Buffer, c templ.Component) {
	out.Write(l.render(ctx, c))
}

func (l *Live) render(ctx context.Context, c templ.Component) []byte {
	var b bytes.Buffer
	if err := c.Render(ctx, &b); err != nil {
		l.log.Warn("live: could not render a fragment", "err", err)
		return nil
	}
	return b.Bytes()
}

// dashboardSnapshot is what a new dashboard client gets first: every live
// region as the other clients have it, and the newest bookings.
func (l *Live) dashboardSnapshot(ctx context.Context) []byte {
	var out bytes.Buffer
	if l.model.Sources().Has(saga.PartBooking) {
		if l.seats == nil {
			seats, err := l.model.Seats(ctx)
			if err != nil {
				l.log.Warn("live: could not read the seats", "err", err)
			}
			l.seats = seats
		}
		if l.seats != nil {
			// The page drew the seats; a letter each brings them up to
			// date, where drawing them again costs ~190 bytes a seat.
			l.write(ctx, &out, views.SeatStates(l.seats))
		}
		if cards, err := l.model.List(ctx, views.Filter{}, maxCardsPerFrame); err == nil {
			l.write(ctx, &out, views.BookingsInsert(cards))
		} else {
			l.log.Warn("live: could not list bookings", "err", err)
		}
	}
	regions := []struct {
		name string
		c    func() templ.Component
	}{
		{"stats", func() templ.Component { return l.statsBar(ctx, false) }},
		{"queues", func() templ.Component { return views.QueuePanel(l.queuesView(), true) }},
		{"invariants", func() templ.Component { return views.InvariantsPanel(l.model.Invariants(), true) }},
		{"inv-pill", func() templ.Component { return views.InvariantsPill(l.model.Invariants(), true) }},
		{"broker", func() templ.Component { return views.BrokerStatus(l.brokerView(), true) }},
		{"notices", func() templ.Component { n, _ := l.model.Notices(ctx); return views.NoticesPanel(n, true) }},
		{"dead-letters", func() templ.Component { d, _ := l.model.DeadLetters(ctx); return views.DeadLettersPanel(d, true) }},
	}
	for _, sw := range l.model.Switches() {
		regions = append(regions, struct {
			name string
			c    func() templ.Component
		}{"switch-" + sw.Part, func() templ.Component { return views.SwitchRow(sw, true) }})
	}
	for _, r := range regions {
		b, ok := l.last[r.name]
		if !ok {
			b = l.render(ctx, r.c())
			l.last[r.name] = b
		}
		out.Write(b)
	}
	return out.Bytes()
}

// detail draws a booking's page; nil when it cannot.
func (l *Live) detail(ctx context.Context, id string) []byte {
	v, err := l.model.Booking(ctx, id)
	if err != nil {
		return nil
	}
	return l.render(ctx, views.BookingDetail(v))
}
