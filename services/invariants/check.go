package invariants

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// firstPassSpeedup multiplies the sweep's page while the first pass after a
// start runs and the saga is quiet: fewer than quietChanges changed rows in
// the feeds since the last check.
const (
	firstPassSpeedup = 5
	quietChanges     = 100
)

// check reads the stores and updates the violations. It returns how many
// bookings it checked and how many there are.
func (c *Checker) check(ctx context.Context) (int, int, error) {
	b := c.cfg.Bookings
	// Ids a failed check had read stay in carry, so a failure loses
	// nothing; while too many wait, the feeds are not read further.
	if len(c.carry) < maxCarried {
		changed := 0
		for _, f := range c.feeds {
			ids, err := f.next(ctx, c.cfg.Batch)
			for _, id := range ids {
				c.carry[id] = true
			}
			if err != nil {
				return 0, 0, fmt.Errorf("invariants: read %s changes: %w", f.name, err)
			}
			changed += len(ids)
		}
		if c.cfg.SweepPage > 0 {
			// A checker that has just started has seen nothing of the past
			// as changes: until its first pass is done, it sweeps faster
			// whenever the saga is quiet (fewer than quietChanges), so a
			// restart is covered in seconds, not minutes. After that the
			// sweep is a trickle.
			size := c.cfg.SweepPage
			if c.sweptAt.IsZero() && changed < quietChanges {
				size *= firstPassSpeedup
			}
			page, err := b.Page(ctx, c.sweepAfter, size)
			if err != nil {
				return 0, 0, fmt.Errorf("invariants: sweep bookings: %w", err)
			}
			for _, id := range page {
				c.carry[id] = true
			}
			if len(page) < size {
				c.sweepAfter, c.sweptAt = "", time.Now().UTC()
			} else {
				c.sweepAfter = page[len(page)-1]
			}
		}
	}
	total, err := b.Total(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("invariants: count bookings: %w", err)
	}

	// Booking's store first: the seat map, then the status of every booking
	// to check. Everything read from the other stores afterwards is at
	// least as new.
	seats := maps.Clone(c.seatViol)
	window, seatAfter, err := b.SeatWindow(ctx, c.seatAfter, c.cfg.SeatPage)
	if err != nil {
		return 0, 0, fmt.Errorf("invariants: read the seat map: %w", err)
	}
	for id := range seats {
		if id > c.seatAfter && (seatAfter == "" || id <= seatAfter) {
			delete(seats, id) // in the window: read again just now
		}
	}
	for _, s := range window {
		seats[s.SeatID] = s
	}
	if c.cfg.Tickets != nil {
		// The tickets of the same window of seats: one that the seat map
		// does not give to its booking has that booking checked now, by the
		// rules below, whatever made it and whenever.
		suspects, err := c.ticketWindow(ctx, c.seatAfter, seatAfter)
		if err != nil {
			return 0, 0, err
		}
		for _, id := range suspects {
			c.carry[id] = true
		}
	}
	ids := make([]string, 0, len(c.carry)+len(c.byBooking))
	for id := range c.carry {
		ids = append(ids, id)
	}
	for id := range c.byBooking {
		if !c.carry[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	states := make(map[string]BookingState, len(ids))
	for part := range slices.Chunk(ids, MaxIDs) {
		got, err := b.States(ctx, part)
		if err != nil {
			return 0, 0, fmt.Errorf("invariants: read booking states: %w", err)
		}
		for _, s := range got {
			states[s.ID] = s
		}
	}
	// The seats of every booking checked: a seat changes only with its
	// booking, so a new hold or sale is seen at the next check. Then the
	// seats in violation, so a repaired one clears.
	recheck := map[string]bool{}
	for id := range seats {
		recheck[id] = true
	}
	var claims []SeatClaim // the held and sold seats of the bookings checked
	for part := range slices.Chunk(ids, MaxIDs) {
		got, err := b.SeatsOf(ctx, part)
		if err != nil {
			return 0, 0, fmt.Errorf("invariants: read seats of bookings: %w", err)
		}
		for _, s := range got {
			setSeat(seats, s)
			delete(recheck, s.SeatID)
		}
		claims = append(claims, got...)
	}
	for part := range slices.Chunk(slices.Sorted(maps.Keys(recheck)), MaxIDs) {
		got, err := b.Seats(ctx, part)
		if err != nil {
			return 0, 0, fmt.Errorf("invariants: read seats: %w", err)
		}
		for _, s := range got {
			setSeat(seats, s)
		}
	}

	found := make([]string, 0, len(states))
	var settled []string // confirmed or compensated: their money is final
	var compensated []string
	var missing []string // ids Booking does not have: only a forgery makes them
	for _, id := range ids {
		s, ok := states[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		found = append(found, id)
		switch s.Status {
		case saga.StatusConfirmed:
			settled = append(settled, id)
		case saga.StatusCompensated:
			settled = append(settled, id)
			compensated = append(compensated, id)
		}
	}

	fresh := map[string][]Violation{}
	add := func(rule, id, detail string) {
		fresh[id] = append(fresh[id], Violation{Rule: rule, BookingID: id, Detail: detail})
	}
	if c.cfg.Ledger != nil {
		for part := range slices.Chunk(settled, MaxIDs) {
			nets, err := c.cfg.Ledger.Nets(ctx, part)
			if err != nil {
				return 0, 0, fmt.Errorf("invariants: read the ledger: %w", err)
			}
			for _, id := range part {
				s, n := states[id], nets[id]
				net := n.ChargedCents - n.RefundedCents
				money := fmt.Sprintf("the ledger nets %s (charged %s, refunded %s)", saga.Money(net), saga.Money(n.ChargedCents), saga.Money(n.RefundedCents))
				if s.Status == saga.StatusConfirmed && net != s.AmountCents {
					add(RuleConfirmedNets, id, fmt.Sprintf("confirmed for %s, but %s", saga.Money(s.AmountCents), money))
				}
				if s.Status == saga.StatusCompensated && net != 0 {
					add(RuleCompensatedNets, id, "compensated, but "+money)
				}
			}
		}
	}
	var tickets map[string][]string // booking → its tickets' seats
	if c.cfg.Tickets != nil {
		// The tickets of every booking checked, not only the compensated:
		// after the seat map, so a ticket is never older than its hold.
		tickets = map[string][]string{}
		for part := range slices.Chunk(ids, MaxIDs) {
			sold, err := c.cfg.Tickets.Sold(ctx, part)
			if err != nil {
				return 0, 0, fmt.Errorf("invariants: read tickets: %w", err)
			}
			maps.Copy(tickets, sold)
		}
		for _, id := range compensated {
			if seats := tickets[id]; len(seats) > 0 {
				add(RuleSeatSold, id, fmt.Sprintf("SeatUpdating sold %s to this booking, which is compensated", seatList(seats)))
			}
		}
		unticketedSales(claims, tickets, add)
		if err := c.strayTickets(ctx, tickets, states, claims, add); err != nil {
			return 0, 0, err
		}
	}
	if err := c.orphans(ctx, missing, tickets, add); err != nil {
		return 0, 0, err
	}
	if c.cfg.Events != nil {
		for part := range slices.Chunk(found, MaxIDs) {
			dups, err := c.cfg.Events.Duplicates(ctx, part)
			if err != nil {
				return 0, 0, fmt.Errorf("invariants: read events: %w", err)
			}
			for _, d := range dups {
				if _, ok := states[d.BookingID]; !ok {
					continue
				}
				add(RuleHandledOnce, d.BookingID, fmt.Sprintf("message %s was handled %d times: it caused %d distinct %s messages (%s)",
					d.CausedBy, len(d.MessageIDs), len(d.MessageIDs), d.Type, strings.Join(d.MessageIDs, ", ")))
			}
		}
	}

	// Everything read: commit the result.
	for _, id := range ids {
		if vs := fresh[id]; len(vs) > 0 {
			c.byBooking[id] = vs
		} else {
			delete(c.byBooking, id)
		}
	}
	c.seatViol, c.seatAfter = seats, seatAfter
	c.carry = map[string]bool{}
	return len(found), total, nil
}

// mismatch reports whether a seat breaks a seat rule.
func mismatch(s SeatClaim) bool {
	return (s.SeatStatus == saga.SeatSold && s.BookingStatus != saga.StatusConfirmed) ||
		(s.SeatStatus == saga.SeatHeld && s.BookingStatus != saga.StatusPending)
}

// setSeat records a seat as read: kept when it breaks a rule, dropped when
// it does not.
func setSeat(seats map[string]SeatClaim, s SeatClaim) {
	if mismatch(s) {
		seats[s.SeatID] = s
	} else {
		delete(seats, s.SeatID)
	}
}

// seatViolations turns the seats that break a rule into violations: one per
// rule and booking, naming its seats.
func seatViolations(bySeat map[string]SeatClaim) []Violation {
	type key struct{ rule, booking, status string }
	seats := map[key][]string{}
	var keys []key
	for _, id := range slices.Sorted(maps.Keys(bySeat)) {
		s := bySeat[id]
		var k key
		switch {
		case s.SeatStatus == saga.SeatSold && s.BookingStatus != saga.StatusConfirmed:
			k = key{RuleSeatSold, s.BookingID, s.BookingStatus}
		case s.SeatStatus == saga.SeatHeld && s.BookingStatus != saga.StatusPending:
			k = key{RuleSeatHeld, s.BookingID, s.BookingStatus}
		default:
			continue
		}
		if _, ok := seats[k]; !ok {
			keys = append(keys, k)
		}
		seats[k] = append(seats[k], s.SeatID)
	}
	out := make([]Violation, 0, len(keys))
	for _, k := range keys {
		state := saga.SeatSold
		if k.rule == RuleSeatHeld {
			state = saga.SeatHeld
		}
		what := seatList(seats[k]) + " is "
		if len(seats[k]) > 1 {
			what = seatList(seats[k]) + " are "
		}
		what += state + " in Booking's seat map"
		var detail string
		switch {
		case k.booking == "":
			detail = what + ", to no booking"
		case k.status == "":
			detail = what + ", to a booking the store does not have"
		default:
			detail = what + ", but the booking is " + k.status
		}
		out = append(out, Violation{Rule: k.rule, BookingID: k.booking, Detail: detail})
	}
	return out
}

func seatList(seats []string) string {
	if len(seats) == 1 {
		return "seat " + seats[0]
	}
	return "seats " + strings.Join(seats, " ")
}
