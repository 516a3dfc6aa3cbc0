package main_test

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// reasonOf returns the reason and the injected flag of the first event of
// type typ in b.
func reasonOf(b Booking, typ string) (reason string, injected, found bool) {
	for _, e := range b.Events {
		if e.Type != typ {
			continue
		}
		var env struct {
			Reason   string `json:"reason"`
			Injected bool   `json:"injected"`
		}
		_ = json.Unmarshal(e.Payload, &env)
		return env.Reason, env.Injected, true
	}
	return "", false, false
}

// TestScopedSwitchFailsTheNextNOfOneUser stages a scenario while others
// book: "fail the next 2 payments of mallory". Mallory's first two bookings
// are declined, stamped with the switch as it was; her third goes through,
// and alice's bookings are never touched.
func TestScopedSwitchFailsTheNextNOfOneUser(t *testing.T) {
	p, _ := startSaga(t)
	p.SetSwitches(`{"payment":{"fail_next":2,"user_id":"mallory"}}`)

	alice1 := p.Book("alice", "A1")
	m1 := p.Book("mallory", "B1")
	alice2 := p.Book("alice", "A2")
	finished := func(b Booking) bool { return b.Status != "pending" && b.Notified }
	b := p.WaitFor(m1, 10*time.Second, "finished", finished)
	m2 := p.Book("mallory", "B2")
	b2 := p.WaitFor(m2, 10*time.Second, "finished", finished)
	m3 := p.Book("mallory", "B3")

	for i, c := range []struct {
		b    Booking
		want string
	}{{b, "payment.fail_next=2 (user_id=mallory)"}, {b2, "payment.fail_next=1 (user_id=mallory)"}} {
		if c.b.Status != "compensated" {
			t.Errorf("mallory's booking %d is %s, want compensated", i+1, c.b.Status)
			continue
		}
		reason, injected, ok := reasonOf(c.b, "PaymentServiceFailed")
		if !ok || reason != "declined: "+c.want || !injected {
			t.Errorf("mallory's booking %d was declined with %q (injected %v), want %q stamped as injected", i+1, reason, injected, "declined: "+c.want)
		}
	}
	for _, id := range []string{alice1, alice2, m3} {
		if b := p.WaitFor(id, 10*time.Second, "finished", finished); b.Status != "confirmed" {
			t.Errorf("booking %s of %s is %s, want confirmed: the switch was scoped and spent", id, b.UserID, b.Status)
		}
	}
	var sw map[string]struct {
		FailNext int    `json:"fail_next"`
		UserID   string `json:"user_id"`
	}
	if code := p.Do("GET", "/api/failures", nil, &sw); code != http.StatusOK || sw["payment"].FailNext != 0 || sw["payment"].UserID != "mallory" {
		t.Errorf("after two failures the switch reads %d %+v, want fail_next 0, still scoped to mallory", code, sw["payment"])
	}
}

// TestInjectedFaultsAreStampedOnEveryStep: whichever switch causes a
// failure, the event it caused names the switch and its setting, and says
// it was injected.
func TestInjectedFaultsAreStampedOnEveryStep(t *testing.T) {
	p, _ := startSaga(t)
	p.SetSwitches(`{"seats":{"fail_rate":1}}`)
	id := p.Book("sam", "C1")
	b := p.WaitFor(id, 10*time.Second, "compensated", func(b Booking) bool { return b.Status == "compensated" && b.Notified })
	reason, injected, ok := reasonOf(b, "SeatUpdatingServiceFailed")
	if !ok || reason != "seat update failed: seats.fail_rate=1" || !injected {
		t.Errorf("the seat failure reads %q (injected %v), want the switch and its setting, marked injected", reason, injected)
	}
	p.SetSwitches(`{"seats":{"fail_rate":0},"notification":{"fail_next":1}}`)
	id = p.Book("sam", "C2")
	b = p.WaitFor(id, 10*time.Second, "notified", func(b Booking) bool { return b.Notified })
	reason, injected, ok = reasonOf(b, "NotificationRetry")
	if !ok || !strings.HasPrefix(reason, "send failed: notification.fail_next=1; retry 1 of 40 in ") || !injected {
		t.Errorf("the failed notification reads %q (injected %v), want the switch and its setting, marked injected", reason, injected)
	}
}

// TestInvariantsTurnRedWhenTheLedgerIsTampered breaks a rule behind the
// saga's back, by writing a refund for a confirmed booking straight into
// Payment's store, as a bug or a hand-made fix would. The API and the
// dashboard's panel name the booking within seconds, and go green again
// once the row is gone.
func TestInvariantsTurnRedWhenTheLedgerIsTampered(t *testing.T) {
	vhost := MustVhost(t)
	data := t.TempDir()
	p := Start(t, "-addr", "127.0.0.1:0", "-data", data, "-amqp", vhost)
	id := p.Book("trudy", "D4")
	p.WaitFor(id, 10*time.Second, "confirmed", func(b Booking) bool { return b.Status == "confirmed" && b.Notified })
	waitInvariants(t, p, "green before the tampering", func(ok bool, _ []map[string]any) bool { return ok })

	ctx := mustBrowser(t, 1440, 1000)
	openDashboard(t, ctx, p.URL+"/")
	waitJS[bool](t, ctx, "the panel is green", `document.querySelector("#invariants").dataset.state === "ok"`, 5*time.Second)

	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "payment.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO ledger (booking_id, kind, amount_cents, at) VALUES (?, 'refund', 1000, ?)`, id, time.Now().UnixMilli()); err != nil {
		t.Fatalf("tamper with the ledger: %v", err)
	}
	_, v := waitInvariants(t, p, "the tampering is noticed", func(ok bool, v []map[string]any) bool { return !ok && len(v) > 0 })
	if len(v) != 1 || v[0]["rule"] != "confirmed-nets-amount" || v[0]["booking_id"] != id {
		t.Errorf("violations = %v, want exactly confirmed-nets-amount for %s", v, id)
	}
	waitJS[bool](t, ctx, "the panel turns red and names the booking",
		`(p => p.classList.contains("inv-bad") && !!p.querySelector('li.broken[data-rule="confirmed-nets-amount"] a[href="/bookings/`+id+`"]'))(document.querySelector("#invariants"))`, 5*time.Second)
	if got := eval[string](t, ctx, `document.querySelector("#inv-pill").textContent`); got != "✖ 1 rule is broken" {
		t.Errorf("the header's pill reads %q, want ✖ 1 rule is broken", got)
	}

	if _, err := db.Exec(`DELETE FROM ledger WHERE booking_id = ? AND kind = 'refund'`, id); err != nil {
		t.Fatalf("undo the tampering: %v", err)
	}
	waitInvariants(t, p, "green once the ledger is right again", func(ok bool, _ []map[string]any) bool { return ok })
	waitJS[bool](t, ctx, "the panel is green again", `document.querySelector("#invariants").dataset.state === "ok"`, 5*time.Second)
}

// waitInvariants polls GET /api/invariants until cond holds.
func waitInvariants(t *testing.T, p *Proc, what string, cond func(bool, []map[string]any) bool) (bool, []map[string]any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, v := invariantsOK(t, p)
		if cond(ok, v) {
			return ok, v
		}
		if time.Now().After(deadline) {
			t.Fatalf("invariants never %s: ok=%v violations=%v", what, ok, v)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
