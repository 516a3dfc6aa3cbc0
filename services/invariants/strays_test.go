package invariants_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/invariants"
	"github.com/sagaboard/sagaboard/services/saga"
)

// forged returns a message about a booking, made by someone who may publish
// on the broker rather than by the participant whose step it is.
func forged(typ, queue, id string, seatIDs ...string) saga.Message {
	b := saga.Booking{ID: id, UserID: "mallory", Seats: seatIDs, AmountCents: saga.Amount(len(seatIDs))}
	return saga.NewMessage(saga.PartBooking, typ, queue, saga.Envelope{Booking: b})
}

// wantNamed checks that the report is violated, and that its violations are
// exactly one per given rule, each naming booking with a detail that says
// what is given.
func wantNamed(tb testing.TB, r invariants.Report, booking string, want map[string]string) {
	tb.Helper()
	if r.OK || r.State != invariants.StateViolated {
		tb.Fatalf("ok=%v state=%q, want violations of %v", r.OK, r.State, want)
	}
	for rule, detail := range want {
		got := named(r, rule, booking)
		if len(got) != 1 {
			tb.Errorf("violations %v: want one naming booking %s under %s", r.Violations, booking, rule)
			continue
		}
		if !strings.Contains(got[0].Detail, detail) {
			tb.Errorf("%s: detail %q does not say %q", rule, got[0].Detail, detail)
		}
	}
	if len(r.Violations) != len(want) {
		tb.Errorf("%d violations %v, want %d", len(r.Violations), r.Violations, len(want))
	}
}

// A BookingCreated nobody made goes through every participant downstream of
// Booking: each effect is named at the first check after it, and the
// booking is cleared once every effect is taken back.
func TestEffectsOfAForgedBookingAreNamedAtTheNextCheck(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(all, fast)
	l.confirmed("alice", "A1")
	wantOK(t, check(t, l, c), "before the forgery")

	created := forged(saga.TypeBookingCreated, saga.PaymentQueue, "ghost", "ZZ99", "B2")
	l.observe(created)
	if r := check(t, l, c); len(r.Violations) != 0 {
		t.Fatalf("the forged message alone, with no effect yet, is named: %v", r.Violations)
	}
	paid := l.charge(created)
	wantNamed(t, check(t, l, c), "ghost", map[string]string{
		invariants.RuleEffectHasBooking: "Booking never had this booking, yet Payment charged 20.00"})

	sold := l.one(l.apply("seats", l.s.SellOnPaymentCompleted, paid), saga.TypeSeatsSold)
	l.apply("booking", l.b.UpdateOnOutcome, sold) // Booking ignores it: no such booking
	wantNamed(t, check(t, l, c), "ghost", map[string]string{
		invariants.RuleEffectHasBooking: "Payment charged 20.00, SeatUpdating sold seats B2 ZZ99",
		invariants.RuleTicketSeatBooked: "seat B2, which Booking's seat map shows free; and seat ZZ99, which is not a seat of the venue"})

	l.notify(sold)
	wantNamed(t, check(t, l, c), "ghost", map[string]string{
		invariants.RuleEffectHasBooking: "SeatUpdating sold seats B2 ZZ99, Notification told its user",
		invariants.RuleTicketSeatBooked: "seat ZZ99"})
	// The violation stays while the effects stay, though no store changes.
	wantNamed(t, check(t, l, c), "ghost", map[string]string{
		invariants.RuleEffectHasBooking: "Notification told its user", invariants.RuleTicketSeatBooked: "seat ZZ99"})

	l.exec("payment", `DELETE FROM ledger WHERE booking_id = 'ghost'`)
	l.exec("seats", `DELETE FROM tickets WHERE booking_id = 'ghost'`)
	l.exec("notification", `DELETE FROM notifications WHERE booking_id = 'ghost'`)
	wantOK(t, check(t, l, c), "after every effect was taken back")
}

// A PaymentCompleted forged for a real booking with a seat it never held:
// SeatUpdating sells it, and the seat map, which only Booking's own holds
// change, disagrees.
func TestATicketForASeatTheBookingDoesNotHoldIsNamed(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(all, fast)
	alice := l.confirmed("alice", "A1")
	bob, _ := l.book("bob", "B1")
	wantOK(t, check(t, l, c), "before the forgery")

	extra := forged(saga.TypePaymentCompleted, saga.SeatUpdateQueue, alice, "A1", "C4")
	l.one(l.apply("seats", l.s.SellOnPaymentCompleted, extra), saga.TypeSeatsSold)
	wantBroken(t, check(t, l, c), invariants.RuleTicketSeatBooked, alice, "SeatUpdating sold this booking seat C4, which Booking's seat map shows free")
	l.exec("seats", `DELETE FROM tickets WHERE seat_id = 'C4'`)
	wantOK(t, check(t, l, c), "after the free seat's ticket was taken back")

	// Bob holds B1 and waits for his payment: SeatUpdating sells it to
	// alice, and bob's sale will fail.
	extra = forged(saga.TypePaymentCompleted, saga.SeatUpdateQueue, alice, "B1")
	l.one(l.apply("seats", l.s.SellOnPaymentCompleted, extra), saga.TypeSeatsSold)
	wantBroken(t, check(t, l, c), invariants.RuleTicketSeatBooked, alice, "seat B1, which Booking's seat map holds for booking "+bob)
}

// What the saga does in its own order is never named, at any step: a
// pending booking charged and sold before Booking hears of it, told before
// Booking hears that, a compensated booking that never had a ticket, and
// a confirmed one with every ticket.
func TestABookingInFlightIsNeverTakenForAForgery(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(all, fast)
	l.compensated("carol", "C1", "C2")
	wantOK(t, check(t, l, c), "a compensated booking, never sold")

	_, created := l.book("alice", "A1", "A2")
	wantOK(t, check(t, l, c), "pending, seats held, nothing charged")
	paid := l.charge(created)
	wantOK(t, check(t, l, c), "pending and charged")
	sold := l.one(l.apply("seats", l.s.SellOnPaymentCompleted, paid), saga.TypeSeatsSold)
	r := check(t, l, c)
	wantOK(t, r, "pending and ticketed, its seats still held in Booking's seat map")
	if r.BookingsChecked == 0 {
		t.Error("no booking was checked after the sale: this test would not show the rules leave it alone")
	}
	told := l.one(l.apply("notification", l.n.NotifyOnOutcome, sold), saga.TypeBookingNotified)
	wantOK(t, check(t, l, c), "the user told before Booking heard of the sale")
	l.apply("booking", l.b.UpdateOnOutcome, sold)
	wantOK(t, check(t, l, c), "confirmed, seats sold, each with its ticket")
	l.apply("booking", l.b.UpdateOnOutcome, told)
	wantOK(t, check(t, l, c), "confirmed and told")
}

// A seat Booking sold whose ticket is gone: the cursors cannot see a
// deleted row, so the sweep finds it.
func TestASoldSeatWithoutATicketIsNamedUntilRepaired(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(all, invariants.Config{Overlap: 5 * time.Millisecond, SweepPage: 10})
	alice := l.confirmed("alice", "A1", "A2")
	l.confirmed("bob", "B1")
	wantOK(t, check(t, l, c), "before the break")

	l.exec("seats", `DELETE FROM tickets WHERE seat_id = 'A2'`)
	wantBroken(t, check(t, l, c), invariants.RuleSoldSeatTicketed, alice, "seat A2 is sold to this booking in Booking's seat map, but SeatUpdating has no ticket")
	l.exec("seats", `INSERT INTO tickets (seat_id, booking_id, at) VALUES ('A2', ?, ?)`, alice, now())
	wantOK(t, check(t, l, c), "after the ticket was given back")
}

// Where Notification's store is in another process, a forged charge is
// still named, but the rule is never said to hold.
func TestAnEffectWithNoBookingIsCheckedAsFarAsTheStoresHere(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(Stores{Ledger: true, Tickets: true, Events: true}, fast)
	r := check(t, l, c)
	if r.OK || r.State != invariants.StatePartial {
		t.Fatalf("ok=%v state=%q, want not ok and partial", r.OK, r.State)
	}
	for _, rr := range r.Rules {
		if rr.Rule == invariants.RuleEffectHasBooking && (rr.Checked || rr.Holds || rr.Skipped != "kept by another process: Notification's notices; the stores here are checked still") {
			t.Errorf("rule %s: checked=%v holds=%v skipped=%q", rr.Rule, rr.Checked, rr.Holds, rr.Skipped)
		}
	}
	l.charge(forged(saga.TypeBookingCreated, saga.PaymentQueue, "ghost", "A1"))
	wantBroken(t, check(t, l, c), invariants.RuleEffectHasBooking, "ghost", "Payment charged 10.00")
}

// A forged sale made before the checker started is in no cursor's reach,
// and its booking is not among Booking's for the sweep: the walk over the
// tickets, with the seat map's window, finds it within one turn.
func TestAForgedTicketFromBeforeTheCheckerStartedIsFoundWithinATurn(t *testing.T) {
	l := MustOpenLab(t, 3, 4) // six windows of two seats, then the end
	l.confirmed("alice", "A1")
	old := now() - 60_000
	l.exec("seats", `INSERT INTO tickets (seat_id, booking_id, at) VALUES ('B2', 'ghost', ?), ('ZZ99', 'ghost', ?)`, old, old)
	c := l.checker(all, invariants.Config{Overlap: 5 * time.Millisecond, SweepPage: 5, SeatPage: 2})
	var r invariants.Report
	for range 7 {
		if r = check(t, l, c); len(named(r, invariants.RuleTicketSeatBooked, "ghost")) > 0 {
			break
		}
	}
	wantNamed(t, r, "ghost", map[string]string{
		invariants.RuleEffectHasBooking: "SeatUpdating sold seat",
		invariants.RuleTicketSeatBooked: "which is not a seat of the venue"})
}
