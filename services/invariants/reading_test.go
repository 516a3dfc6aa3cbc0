package invariants_test

import (
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/invariants"
	"github.com/sagaboard/sagaboard/services/saga"
)

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
