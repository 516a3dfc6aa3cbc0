package invariants_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/invariants"
)

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
	go func() { c.Run(ctx); done <- nil }()
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
