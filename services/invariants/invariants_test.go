package invariants_test

import (
	"context"
	"encoding/json"
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

func TestALedgerRowForAnOldBookingIsFoundOnTheNextCheck(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(all, fast)
	old := l.confirmed("alice", "A1")
	for range 3 {
		check(t, l, c)
	}
	time.Sleep(20 * time.Millisecond) // the booking leaves every overlap window
	wantOK(t, check(t, l, c), "before the refund")

	// Nothing touches the booking itself and the sweep is off: only the
	// ledger's cursor can find this.
	l.exec("payment", `INSERT INTO ledger (booking_id, kind, amount_cents, at) VALUES (?, 'refund', 1000, ?)`, old, now())
	r := check(t, l, c)
	wantBroken(t, r, invariants.RuleConfirmedNets, old, "refunded 10.00")
	if r.BookingsChecked != 1 {
		t.Errorf("bookings_checked = %d, want 1: only the booking whose ledger changed", r.BookingsChecked)
	}
}

func TestARowCommittedLateWithAnOlderTimeIsFoundInTheOverlap(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(all, invariants.Config{Overlap: 2 * time.Second, SweepPage: -1})
	early := l.confirmed("alice", "A1")
	check(t, l, c)
	l.confirmed("bob", "B1") // moves every cursor on
	check(t, l, c)
	wantOK(t, check(t, l, c), "before the late row")

	// A line whose time is a second older than lines already read, as a
	// transaction that waited for the writer commits.
	l.exec("payment", `INSERT INTO ledger (booking_id, kind, amount_cents, at) VALUES (?, 'refund', 1000, ?)`, early, now()-1000)
	wantBroken(t, check(t, l, c), invariants.RuleConfirmedNets, early, "refunded 10.00")
}

func TestFeedsPageThroughABurstAcrossChecks(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(all, invariants.Config{Overlap: time.Millisecond, SweepPage: -1, Batch: 2})
	var ids []string
	for i := range 7 {
		ids = append(ids, l.confirmed("u", saga.SeatID(i/4, i%4)))
	}
	for range 20 {
		check(t, l, c)
	}
	time.Sleep(10 * time.Millisecond)
	wantOK(t, check(t, l, c), "before the burst")

	at := now()
	for i, id := range ids {
		l.exec("payment", `INSERT INTO ledger (booking_id, kind, amount_cents, at) VALUES (?, 'refund', 1000, ?)`, id, at+int64(i))
	}
	first := len(check(t, l, c).Violations)
	if first == 0 || first > 2 {
		t.Errorf("the first check after the burst found %d, want 1 or 2: a page is 2 rows", first)
	}
	var r invariants.Report
	for range 6 {
		r = check(t, l, c)
	}
	for _, id := range ids {
		if len(named(r, invariants.RuleConfirmedNets, id)) == 0 {
			t.Errorf("booking %s was never found after 7 checks", id)
		}
	}
}

func TestTheSweepFindsAnOldRowChangedInPlace(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	var ids []string
	for i := range 5 {
		ids = append(ids, l.confirmed("u", saga.SeatID(i/4, i%4)))
	}
	noSweep := l.checker(all, fast)
	sweep := l.checker(all, invariants.Config{Overlap: 5 * time.Millisecond, SweepPage: 2})
	for range 4 {
		check(t, l, noSweep)
		check(t, l, sweep)
	}
	time.Sleep(20 * time.Millisecond)

	// An edit that keeps the row's time: no cursor can see it.
	last := ids[len(ids)-1]
	l.exec("payment", `UPDATE ledger SET amount_cents = 1 WHERE booking_id = ? AND kind = 'charge'`, last)
	var found bool
	for range 3 { // 5 bookings, 2 per page: one whole pass
		if len(named(check(t, l, sweep), invariants.RuleConfirmedNets, last)) > 0 {
			found = true
			break
		}
	}
	if !found {
		t.Error("the sweep did not find the edited ledger line within one pass")
	}
	if r := sweep.Report(); r.SweptAt == nil {
		t.Error("swept_at is unset after a full pass")
	}
	if r := check(t, l, noSweep); len(r.Violations) != 0 {
		t.Errorf("without the sweep the edit was found anyway (%v): this test would not show the sweep works", r.Violations)
	}
}

func TestSplitModeNeverReportsAnUncheckedRuleAsHolding(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(Stores{}, fast) // Booking's store alone, as with -only booking,web
	pending, _ := l.book("bob", "B1")
	r := check(t, l, c)
	if r.OK || r.State != invariants.StatePartial || len(r.Violations) != 0 {
		t.Fatalf("ok=%v state=%q violations=%v, want not ok, partial, none", r.OK, r.State, r.Violations)
	}
	checked := map[string]bool{}
	for _, rr := range r.Rules {
		checked[rr.Rule] = rr.Checked
		if !rr.Checked && (rr.Holds || rr.Skipped == "") {
			t.Errorf("rule %s is not checked here but reads holds=%v skipped=%q", rr.Rule, rr.Holds, rr.Skipped)
		}
	}
	want := map[string]bool{invariants.RuleSeatSold: false, invariants.RuleSeatHeld: true, invariants.RuleConfirmedNets: false,
		invariants.RuleCompensatedNets: false, invariants.RuleHandledOnce: false, invariants.RuleEffectHasBooking: false,
		invariants.RuleTicketSeatBooked: false, invariants.RuleSoldSeatTicketed: false}
	for rule, w := range want {
		if checked[rule] != w {
			t.Errorf("rule %s checked=%v, want %v", rule, checked[rule], w)
		}
	}
	// What can be checked still is: the seat map.
	l.exec("booking", `UPDATE seats SET status = 'sold' WHERE booking_id = ?`, pending)
	wantBroken(t, check(t, l, c), invariants.RuleSeatSold, pending, "is sold")

	b, _ := json.Marshal(check(t, l, c))
	for _, key := range []string{`"ok":false`, `"checked_at":`, `"violations":[{`, `"skipped":"Payment's ledger is kept by another process"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("report JSON lacks %s: %s", key, b)
		}
	}
}

func TestOnChangeIsCalledWhenTheVerdictChangesOnly(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(all, fast)
	calls := 0
	c.OnChange(func() { calls++ })
	conf := l.confirmed("alice", "A1")
	check(t, l, c)
	if calls != 1 {
		t.Fatalf("%d calls after the first check, want 1 (starting → ok)", calls)
	}
	check(t, l, c)
	l.confirmed("bob", "B1")
	check(t, l, c)
	if calls != 1 {
		t.Fatalf("%d calls after checks that found nothing new, want still 1", calls)
	}
	l.exec("booking", `UPDATE seats SET status = 'held' WHERE id = 'A1'`)
	check(t, l, c)
	check(t, l, c)
	if calls != 2 {
		t.Fatalf("%d calls after a break, want 2", calls)
	}
	l.exec("booking", `UPDATE seats SET status = 'sold' WHERE booking_id = ?`, conf)
	check(t, l, c)
	if calls != 3 {
		t.Fatalf("%d calls after the repair, want 3", calls)
	}
}

func TestRunChecksUntilItsContextEnds(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	c := l.checker(all, invariants.Config{Every: 10 * time.Millisecond})
	changed := make(chan struct{}, 10)
	c.OnChange(func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	ctx, cancel := context.WithCancel(l.ctx)
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	<-changed // the first check
	conf := l.confirmed("alice", "A1")
	l.exec("booking", `UPDATE seats SET status = 'held' WHERE booking_id = ?`, conf)
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not notice the break within 5s")
	}
	if r := c.Report(); len(named(r, invariants.RuleSeatHeld, conf)) == 0 {
		t.Errorf("report after the change does not name %s: %v", conf, r.Violations)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after its context ended")
	}
}

func TestTheSeatMapIsReadAWindowAtATimeAndWithEveryBookingTouched(t *testing.T) {
	l := MustOpenLab(t, 3, 4) // seats A1 … C4: six windows of two
	alice := l.confirmed("alice", "A1")
	bob := l.confirmed("bob", "B3")
	cfg := invariants.Config{Overlap: 5 * time.Millisecond, SweepPage: -1, SeatPage: 2}

	c := l.checker(all, cfg)
	wantOK(t, check(t, l, c), "first window, A1 and A2")
	// A seat changed behind its booking's back: the next window (A3, A4)
	// does not hold it, so only the window's return finds it.
	l.exec("booking", `UPDATE seats SET status = 'held' WHERE id = 'A1'`)
	if r := check(t, l, c); len(r.Violations) != 0 {
		t.Fatalf("seat A1 found outside its window (%v): this test would not show the window turns", r.Violations)
	}
	found := false
	for range 6 {
		if len(named(check(t, l, c), invariants.RuleSeatHeld, alice)) > 0 {
			found = true
			break
		}
	}
	if !found {
		t.Fatal("a whole turn of the seat map did not find seat A1")
	}
	l.exec("booking", `UPDATE seats SET status = 'sold' WHERE id = 'A1'`)
	wantOK(t, check(t, l, c), "the check after the repair, wherever the window is")

	// A seat that changes with its booking is found at the next check,
	// wherever the window is.
	c = l.checker(all, cfg)
	wantOK(t, check(t, l, c), "first window of a new checker")
	time.Sleep(10 * time.Millisecond)
	l.exec("booking", `UPDATE seats SET status = 'held' WHERE id = 'B3'`)
	l.exec("booking", `UPDATE bookings SET updated_at = ? WHERE id = ?`, now(), bob)
	wantBroken(t, check(t, l, c), invariants.RuleSeatHeld, bob, "seat B3 is held")
}

// A checker that has just started knows nothing of the past but what its
// sweep reads. While that first pass runs and the saga is quiet, it reads
// five pages per check, so a restart is covered in seconds; after it, the
// sweep is back to a trickle.
func TestAFreshCheckerSweepsThePastFastWhileQuiet(t *testing.T) {
	l := MustOpenLab(t, 3, 4)
	for i := range 12 {
		l.confirmed("u", saga.SeatID(i/4, i%4))
	}
	time.Sleep(20 * time.Millisecond) // past the overlap: the feeds see nothing new
	c := l.checker(all, invariants.Config{Overlap: 5 * time.Millisecond, SweepPage: 2})
	if r := check(t, l, c); r.SweptAt != nil || r.BookingsChecked < 10 {
		t.Fatalf("first check: swept_at %v, %d bookings checked; want at least 10 (five pages of 2) and the pass not done", r.SweptAt, r.BookingsChecked)
	}
	r := check(t, l, c)
	if r.SweptAt == nil {
		t.Fatal("a quiet store of 12 bookings is not swept after two checks of five pages")
	}
	wantOK(t, r, "after the first pass")
	time.Sleep(20 * time.Millisecond)
	if r = check(t, l, c); r.BookingsChecked > 3 {
		t.Errorf("after the first pass a quiet check reads %d bookings, want a page of 2 (and the newest row again)", r.BookingsChecked)
	}
}
