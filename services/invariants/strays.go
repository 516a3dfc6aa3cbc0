package invariants

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sagaboard/sagaboard/services/saga"
)

// The rules in this file find what a message forged on the broker leaves
// behind: anyone who may publish on the vhost can send a BookingCreated for
// a booking nobody made, or a PaymentCompleted with a seat the booking never
// held, and every participant downstream acts on it. Booking, which alone
// knows which bookings and holds are real, never hears of it, so the other
// rules, which start from Booking's bookings, see nothing.

// record adds one violation of a rule to a check's findings.
type record func(rule, bookingID, detail string)

// unticketedSales names the confirmed bookings that Booking's seat map sells
// a seat to without SeatUpdating's ticket for it. Booking marks a seat sold
// only on SeatsSold, which SeatUpdating sends after the ticket commits, and
// tickets are read after the seat map: a sale seen here has its ticket
// already, unless something took it away. A seat sold to a booking that is
// not confirmed is RuleSeatSold's to name.
func unticketedSales(claims []SeatClaim, tickets map[string][]string, add record) {
	bare := map[string][]string{}
	for _, s := range claims {
		if s.SeatStatus != saga.SeatSold || s.BookingStatus != saga.StatusConfirmed {
			continue
		}
		if !slices.Contains(tickets[s.BookingID], s.SeatID) {
			bare[s.BookingID] = append(bare[s.BookingID], s.SeatID)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(bare)) {
		seats := bare[id]
		slices.Sort(seats)
		verb := " is"
		if len(seats) > 1 {
			verb = " are"
		}
		add(RuleSoldSeatTicketed, id, seatList(seats)+verb+" sold to this booking in Booking's seat map, but SeatUpdating has no ticket of this booking for it")
	}
}

// strayTickets names the bookings with a ticket for a seat that Booking's
// seat map does not hold or sell to them: a seat outside the venue, a free
// seat, or another booking's.
//
// claims are the seats the checked bookings held or bought, read before the
// tickets. A real booking holds its seats from the moment it exists, before
// any message about it leaves, and keeps them until it is confirmed (sold)
// or compensated, so its real tickets always match a claim. A compensated
// booking's tickets are RuleSeatSold's to name. What does not match is
// looked up again, after the tickets, so the verdict never rests on a seat
// map older than the ticket.
func (c *Checker) strayTickets(ctx context.Context, tickets map[string][]string, states map[string]BookingState, claims []SeatClaim, add record) error {
	owner := make(map[string]string, len(claims))
	for _, s := range claims {
		owner[s.SeatID] = s.BookingID
	}
	suspect := map[string][]string{} // booking → seats
	var lookup []string
	for id, seats := range tickets {
		if s, ok := states[id]; ok && s.Status == saga.StatusCompensated {
			continue
		}
		for _, seat := range seats {
			if owner[seat] != id {
				suspect[id] = append(suspect[id], seat)
				lookup = append(lookup, seat)
			}
		}
	}
	if len(lookup) == 0 {
		return nil
	}
	slices.Sort(lookup)
	lookup = slices.Compact(lookup)
	now := map[string]SeatClaim{}
	for part := range slices.Chunk(lookup, MaxIDs) {
		got, err := c.cfg.Bookings.Seats(ctx, part)
		if err != nil {
			return fmt.Errorf("invariants: read ticketed seats: %w", err)
		}
		for _, s := range got {
			now[s.SeatID] = s
		}
	}
	for _, id := range slices.Sorted(maps.Keys(suspect)) {
		seats := suspect[id]
		slices.Sort(seats)
		var why []string
		for _, seat := range seats {
			s, ok := now[seat]
			switch {
			case !ok:
				why = append(why, "seat "+seat+", which is not a seat of the venue")
			case s.BookingID == id && (s.SeatStatus == saga.SeatHeld || s.SeatStatus == saga.SeatSold):
				// Held or sold to it after all: claims were read before
				// the booking's hold was seen.
			case s.SeatStatus == saga.SeatHeld:
				why = append(why, "seat "+seat+", which Booking's seat map holds for booking "+s.BookingID)
			case s.SeatStatus == saga.SeatSold:
				why = append(why, "seat "+seat+", which Booking's seat map sells to booking "+s.BookingID)
			default:
				why = append(why, "seat "+seat+", which Booking's seat map shows "+s.SeatStatus)
			}
		}
		if len(why) > 0 {
			add(RuleTicketSeatBooked, id, "SeatUpdating sold this booking "+strings.Join(why, "; and "))
		}
	}
	return nil
}

// ticketWindow reads the tickets of the seats after the given id up to last
// ("" for no end), then those seats in Booking's seat map, and returns the
// bookings of the tickets whose seat the map does not hold or sell to them.
// The seat map is read after the tickets, so a real ticket's hold is always
// seen; what is returned is only a suspect, which strayTickets and orphans
// then judge with everything else. Without this walk, a ticket issued
// before the checker started would never be read: no cursor saw it, and the
// sweep walks Booking's bookings, which a forged one is not among.
func (c *Checker) ticketWindow(ctx context.Context, after, last string) ([]string, error) {
	tickets, err := c.cfg.Tickets.Window(ctx, after, last)
	if err != nil {
		return nil, fmt.Errorf("invariants: read a window of tickets: %w", err)
	}
	if len(tickets) == 0 {
		return nil, nil
	}
	seatIDs := make([]string, len(tickets))
	for i, t := range tickets {
		seatIDs[i] = t.SeatID
	}
	now := make(map[string]SeatClaim, len(tickets))
	for part := range slices.Chunk(seatIDs, MaxIDs) {
		got, err := c.cfg.Bookings.Seats(ctx, part)
		if err != nil {
			return nil, fmt.Errorf("invariants: read the seats of a window of tickets: %w", err)
		}
		for _, s := range got {
			now[s.SeatID] = s
		}
	}
	var suspects []string
	for _, t := range tickets {
		s, ok := now[t.SeatID]
		if !ok || s.BookingID != t.BookingID || (s.SeatStatus != saga.SeatHeld && s.SeatStatus != saga.SeatSold) {
			suspects = append(suspects, t.BookingID)
		}
	}
	return suspects, nil
}

// orphans names the bookings Booking does not have that another store acted
// for. missing were found through the other stores' change feeds, read
// before Booking's bookings; and Booking commits a booking before anything
// about it is sent, so a booking missing here was never made: only a
// forged message could have caused its effects.
func (c *Checker) orphans(ctx context.Context, missing []string, tickets map[string][]string, add record) error {
	if len(missing) == 0 {
		return nil
	}
	nets := map[string]Net{}
	told := map[string]bool{}
	for part := range slices.Chunk(missing, MaxIDs) {
		if c.cfg.Ledger != nil {
			got, err := c.cfg.Ledger.Nets(ctx, part)
			if err != nil {
				return fmt.Errorf("invariants: read the ledger of unknown bookings: %w", err)
			}
			maps.Copy(nets, got)
		}
		if c.cfg.Notices != nil {
			got, err := c.cfg.Notices.Told(ctx, part)
			if err != nil {
				return fmt.Errorf("invariants: read notices of unknown bookings: %w", err)
			}
			maps.Copy(told, got)
		}
	}
	for _, id := range missing {
		var what []string
		if n, ok := nets[id]; ok {
			w := "Payment charged " + saga.Money(n.ChargedCents)
			if n.RefundedCents != 0 {
				w += " and refunded " + saga.Money(n.RefundedCents)
			}
			what = append(what, w)
		}
		if seats := tickets[id]; len(seats) > 0 {
			what = append(what, "SeatUpdating sold "+seatList(seats))
		}
		if told[id] {
			what = append(what, "Notification told its user")
		}
		if len(what) > 0 {
			add(RuleEffectHasBooking, id, "Booking never had this booking, yet "+strings.Join(what, ", "))
		}
	}
	return nil
}
