package invariants_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/invariants"
	"github.com/sagaboard/sagaboard/services/saga"
)

// check runs one check and fails the test if it could not.
func check(tb testing.TB, l *lab, c *invariants.Checker) invariants.Report {
	tb.Helper()
	r, err := c.Check(l.ctx)
	if err != nil {
		tb.Fatalf("check: %v", err)
	}
	return r
}

// named returns the violations of rule that name booking.
func named(r invariants.Report, rule, booking string) []invariants.Violation {
	var out []invariants.Violation
	for _, v := range r.Violations {
		if v.Rule == rule && v.BookingID == booking {
			out = append(out, v)
		}
	}
	return out
}

func wantOK(tb testing.TB, r invariants.Report, when string) {
	tb.Helper()
	if !r.OK || r.State != invariants.StateOK || len(r.Violations) != 0 {
		tb.Fatalf("%s: ok=%v state=%q violations=%v, want ok with none", when, r.OK, r.State, r.Violations)
	}
}

// wantBroken checks that the report names booking under rule, and under no
// other rule: each test breaks exactly one.
func wantBroken(tb testing.TB, r invariants.Report, rule, booking, detail string) {
	tb.Helper()
	if r.OK || r.State != invariants.StateViolated {
		tb.Fatalf("ok=%v state=%q, want a violation of %s", r.OK, r.State, rule)
	}
	got := named(r, rule, booking)
	if len(got) == 0 {
		tb.Fatalf("violations %v do not name booking %s under %s", r.Violations, booking, rule)
	}
	if !strings.Contains(got[0].Detail, detail) {
		tb.Errorf("detail %q does not say %q", got[0].Detail, detail)
	}
	for _, v := range r.Violations {
		if v.Rule != rule {
			t := fmt.Sprintf("%s on %s: %s", v.Rule, v.BookingID, v.Detail)
			tb.Errorf("another rule is reported broken too: %s", t)
		}
	}
	for _, rr := range r.Rules {
		if rr.Rule == rule && (rr.Holds || rr.Violations == 0) {
			tb.Errorf("rule %s reads holds=%v violations=%d beside its violation", rule, rr.Holds, rr.Violations)
		}
	}
}

// fast is a checker configuration for tests: small overlap, no sweep, so
// what a test sees comes from the cursors unless it says otherwise.
var fast = invariants.Config{Overlap: 5 * time.Millisecond, SweepPage: -1}

func TestAConsistentSagaHoldsEveryRule(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(all, invariants.Config{})
	if r := c.Report(); r.OK || r.State != invariants.StateStarting {
		t.Fatalf("before any check: ok=%v state=%q, want not ok and starting", r.OK, r.State)
	}
	l.confirmed("alice", "A1", "A2")
	l.compensated("bob", "B1")
	pendingID, created := l.book("carol", "C1")
	l.charge(created) // charged but not yet sold: pending money is not checked
	r := check(t, l, c)
	wantOK(t, r, "after a confirmed, a compensated and a pending booking")
	if r.BookingsTotal != 3 || r.BookingsChecked != 3 {
		t.Errorf("bookings_total=%d bookings_checked=%d, want 3 and 3", r.BookingsTotal, r.BookingsChecked)
	}
	if len(r.Rules) != 8 {
		t.Fatalf("%d rules reported, want 8", len(r.Rules))
	}
	for _, rr := range r.Rules {
		if !rr.Checked || !rr.Holds || rr.Skipped != "" {
			t.Errorf("rule %s: checked=%v holds=%v skipped=%q, want checked and holding", rr.Rule, rr.Checked, rr.Holds, rr.Skipped)
		}
	}
	if r.CheckedAt.IsZero() || time.Since(r.CheckedAt) > time.Minute {
		t.Errorf("checked_at = %v, want about now", r.CheckedAt)
	}
	// The pending booking's seat is held and its money is in flight: no
	// rule may call that a violation.
	if v := named(r, invariants.RuleSeatHeld, pendingID); len(v) > 0 {
		t.Errorf("a pending booking's held seat was reported: %v", v)
	}
}

func TestSeatSoldToANonConfirmedBookingIsNamedUntilRepaired(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(all, fast)
	l.confirmed("alice", "A1")
	pending, _ := l.book("bob", "B1", "B2")
	wantOK(t, check(t, l, c), "before the break")

	// Booking's seat map sells a pending booking's seats.
	l.exec("booking", `UPDATE seats SET status = 'sold' WHERE booking_id = ?`, pending)
	r := check(t, l, c)
	wantBroken(t, r, invariants.RuleSeatSold, pending, "seats B1 B2 are sold in Booking's seat map, but the booking is pending")
	if len(r.Violations) != 1 {
		t.Errorf("%d violations, want one naming both seats: %v", len(r.Violations), r.Violations)
	}
	l.exec("booking", `UPDATE seats SET status = 'held' WHERE booking_id = ?`, pending)
	wantOK(t, check(t, l, c), "after the repair")
}

func TestTicketForACompensatedBookingIsNamedUntilRepaired(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(all, fast)
	comp := l.compensated("bob", "B1")
	l.confirmed("alice", "A1")
	check(t, l, c)
	wantOK(t, check(t, l, c), "before the break")

	// SeatUpdating issues a ticket to the compensated booking: the tickets'
	// cursor finds it, though the booking itself did not change.
	l.exec("seats", `INSERT INTO tickets (seat_id, booking_id, at) VALUES ('B1', ?, ?)`, comp, now())
	wantBroken(t, check(t, l, c), invariants.RuleSeatSold, comp, "SeatUpdating sold seat B1")

	l.exec("seats", `DELETE FROM tickets WHERE booking_id = ?`, comp)
	wantOK(t, check(t, l, c), "after the ticket was taken back")
}

func TestHeldSeatOfAConfirmedBookingIsNamedUntilRepaired(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(all, fast)
	conf := l.confirmed("alice", "A1", "A2")
	wantOK(t, check(t, l, c), "before the break")

	l.exec("booking", `UPDATE seats SET status = 'held' WHERE id = 'A2'`)
	wantBroken(t, check(t, l, c), invariants.RuleSeatHeld, conf, "seat A2 is held in Booking's seat map, but the booking is confirmed")

	l.exec("booking", `UPDATE seats SET status = 'sold' WHERE id = 'A2'`)
	wantOK(t, check(t, l, c), "after the repair")

	// A held seat whose booking the store does not have is named too.
	l.exec("booking", `UPDATE seats SET status = 'held', booking_id = 'ghost' WHERE id = 'C4'`)
	wantBroken(t, check(t, l, c), invariants.RuleSeatHeld, "ghost", "a booking the store does not have")
}

func TestConfirmedBookingRefundedIsNamedUntilRepaired(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(all, fast)
	conf := l.confirmed("alice", "A1", "A2")
	l.confirmed("dave", "C1")
	check(t, l, c)
	wantOK(t, check(t, l, c), "before the break")

	l.exec("payment", `INSERT INTO ledger (booking_id, kind, amount_cents, at) VALUES (?, 'refund', 2000, ?)`, conf, now())
	wantBroken(t, check(t, l, c), invariants.RuleConfirmedNets, conf, "confirmed for 20.00, but the ledger nets 0.00 (charged 20.00, refunded 20.00)")

	l.exec("payment", `DELETE FROM ledger WHERE booking_id = ? AND kind = 'refund'`, conf)
	wantOK(t, check(t, l, c), "after the refund was taken back")
}

func TestCompensatedBookingLeftChargedIsNamedUntilRepaired(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(all, fast)
	comp := l.compensated("bob", "B1", "B2")
	wantOK(t, check(t, l, c), "before the break")

	// The refund gave back only part of the charge.
	l.exec("payment", `UPDATE ledger SET amount_cents = 500, at = ? WHERE booking_id = ? AND kind = 'refund'`, now(), comp)
	wantBroken(t, check(t, l, c), invariants.RuleCompensatedNets, comp, "compensated, but the ledger nets 15.00 (charged 20.00, refunded 5.00)")

	l.exec("payment", `UPDATE ledger SET amount_cents = 2000 WHERE booking_id = ? AND kind = 'refund'`, comp)
	wantOK(t, check(t, l, c), "after the repair")
}

func TestAMessageHandledTwiceIsNamedButARedeliveryIsNot(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(all, fast)
	id, created := l.book("alice", "A1")
	paid := l.charge(created)
	if paid.CausationID != created.ID {
		t.Fatalf("PaymentCompleted's causation id is %q, want the BookingCreated's id %q", paid.CausationID, created.ID)
	}
	wantOK(t, check(t, l, c), "after one charge")

	// The broker redelivers PaymentCompleted, and a retry comes back under a
	// second routing key: the same message id each time, not a second
	// handling.
	l.observe(paid)
	again := paid
	again.RoutingKey = "seat_update_retry"
	l.observe(again)
	wantOK(t, check(t, l, c), "after a redelivery")

	// Payment handles the same BookingCreated a second time: a new
	// PaymentCompleted with its own id, caused by the same message.
	twice := saga.NewMessage(saga.PartPayment, saga.TypePaymentCompleted, saga.SeatUpdateQueue, saga.Envelope{Booking: l.sent[id]})
	twice.CausationID = created.ID
	l.observe(twice)
	wantBroken(t, check(t, l, c), invariants.RuleHandledOnce, id, "message "+created.ID+" was handled 2 times")

	l.exec("observer", `DELETE FROM events WHERE message_id = ?`, twice.ID)
	wantOK(t, check(t, l, c), "after the duplicate was removed")
}
