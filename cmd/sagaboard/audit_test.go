package main_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// sagaAPIs are the processes whose APIs an audit reads. In one process
// they are all the same; where the parts run apart, each store is read
// through the process that holds it (a process of its own runs web beside
// its part for that).
type sagaAPIs struct {
	front        *Proc // bookings, stats, queues and the checker: web, booking, observer
	payment      *Proc // GET /api/payments
	seats        *Proc // GET /api/seats: Booking's seat map
	notification *Proc // GET /api/notifications
}

func oneProcess(p *Proc) sagaAPIs { return sagaAPIs{front: p, payment: p, seats: p, notification: p} }

// auditFigures is what an audit counted.
type auditFigures struct {
	confirmed, compensated, lost, doubled, held, unanswered int
	// finished is when the last accepted booking was seen finished and
	// told: the end of the recovery.
	finished time.Time
}

// auditAfterChaos waits until every accepted booking has finished and its
// user was told, then checks what a user would: no seat sold twice or left
// held, money nets out per booking, each user told once per booking, the
// observer's record holds each message of a booking once, and the checker
// finds nothing. unansweredMax is how many POSTs got no answer (a booking
// may exist that the load never heard of, at most that many).
func auditAfterChaos(t *testing.T, a sagaAPIs, accepted []string, unansweredMax int64) auditFigures {
	t.Helper()
	p := a.front
	var f auditFigures
	// Every accepted booking finishes, and is notified.
	deadline := time.Now().Add(120 * time.Second)
	final := map[string]Booking{}
	for _, id := range accepted {
		for {
			b := p.Get(id)
			if b.Status != "pending" && b.Notified {
				final[id] = b
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("booking %s is still %s (notified=%v) long after the chaos ended; %d of %d finished\n%s",
					id, b.Status, b.Notified, len(final), len(accepted), tail(p.Log(), 30))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	f.finished = time.Now()
	p.Settled(60 * time.Second)
	// The observer is a reader and may trail the saga: read each booking's
	// history again now that every queue has drained.
	for id := range final {
		final[id] = p.Get(id)
	}

	// The seat map agrees with the bookings: a sold seat belongs to exactly
	// one confirmed booking, no seat is left held, and a confirmed booking
	// holds all its seats.
	var seats []struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		BookingID string `json:"booking_id"`
	}
	if code := a.seats.Do("GET", "/api/seats", nil, &seats); code != http.StatusOK {
		t.Fatalf("GET /api/seats: %d", code)
	}
	owner := map[string]string{}
	unanswered := map[string]bool{}
	for _, s := range seats {
		switch s.Status {
		case "held":
			f.held++
			t.Errorf("seat %s is still held by %s", s.ID, s.BookingID)
		case "sold":
			owner[s.ID] = s.BookingID
			b, ok := final[s.BookingID]
			if !ok {
				// A POST whose 202 was lost to a kill: the booking was
				// committed, so the saga ran, but the load never heard of
				// it. It must be a booking all the same.
				b = p.Get(s.BookingID)
				unanswered[s.BookingID] = true
			}
			if b.Status != "confirmed" {
				t.Errorf("seat %s is sold to %s, which is %q, not a confirmed booking", s.ID, s.BookingID, b.Status)
			}
		}
	}
	f.unanswered = len(unanswered)
	// The counts agree with the bookings: all finished and told. A booking
	// whose 202 was lost to a kill may exist beyond those the load saw.
	var st map[string]int
	p.Do("GET", "/api/stats", nil, &st)
	if len(unanswered) > int(unansweredMax) {
		t.Errorf("%d bookings the load never heard of own seats, more than the %d requests left unanswered", len(unanswered), unansweredMax)
	}
	if st["pending"] != 0 || st["confirmed"]+st["compensated"] != st["total"] || st["notified"] != st["total"] ||
		st["total"] < len(accepted) || st["total"] > len(accepted)+int(unansweredMax) {
		t.Errorf("stats = %v after the chaos with %d bookings accepted and %d requests unanswered", st, len(accepted), unansweredMax)
	}
	told := a.toldPerBooking(t, final)
	// Told twice would also show as two BookingNotified in the observer's
	// record, checked below.
	for id, b := range final {
		charged, refunded := a.payment.Ledger(id)
		if n := told[id]; n != 1 {
			t.Errorf("booking %s: its user was told %d times, want once", id, n)
		}
		// The observer's record: every message once.
		seen := map[string]int{}
		for _, e := range b.Events {
			seen[e.MessageID]++
			if seen[e.MessageID] == 2 {
				t.Errorf("booking %s: the observer recorded message %s (%s) twice", id, e.MessageID, e.Type)
			}
		}
		types := eventTypes(b)
		once := []string{"BookingCreated", "BookingNotified"}
		switch b.Status {
		case "confirmed":
			f.confirmed++
			once = append(once, "PaymentCompleted", "SeatsSold")
			for _, s := range b.Seats {
				if owner[s] != id {
					t.Errorf("confirmed booking %s does not own its seat %s (owner %q)", id, s, owner[s])
				}
			}
			if charged != b.AmountCents || refunded != 0 {
				f.doubled++
				t.Errorf("confirmed booking %s: charged %d refunded %d, want exactly %d", id, charged, refunded, b.AmountCents)
			}
		case "compensated":
			f.compensated++
			if charged != refunded {
				t.Errorf("compensated booking %s: charged %d refunded %d, want a net of zero", id, charged, refunded)
			}
			for _, s := range b.Seats {
				if owner[s] == id {
					t.Errorf("compensated booking %s still owns seat %s", id, s)
				}
			}
		}
		for _, want := range once {
			if n := count(types, want); n != 1 {
				f.lost++
				t.Errorf("%s booking %s has %d %s in its history %v, want one", b.Status, id, n, want, types)
			}
		}
	}
	checkerGreen(t, a.front)
	return f
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// toldPerBooking counts, per booking, the notices Notification recorded,
// read user by user, and checks each tells the booking's outcome.
func (a sagaAPIs) toldPerBooking(t *testing.T, final map[string]Booking) map[string]int {
	t.Helper()
	var users []string
	for _, b := range final {
		if !slices.Contains(users, b.UserID) {
			users = append(users, b.UserID)
		}
	}
	told := map[string]int{}
	for _, u := range users {
		var notes []struct {
			BookingID string `json:"booking_id"`
			Success   bool   `json:"success"`
		}
		if code := a.notification.Do("GET", "/api/notifications?limit=500&user_id="+u, nil, &notes); code != http.StatusOK {
			t.Fatalf("GET /api/notifications for %s: %d", u, code)
		}
		if len(notes) == 500 {
			t.Fatalf("user %s has 500 notices or more: more than the API lists, so this audit cannot count them", u)
		}
		for _, n := range notes {
			told[n.BookingID]++
			if b, ok := final[n.BookingID]; ok && n.Success != (b.Status == "confirmed") {
				t.Errorf("booking %s is %s, but its user was told success=%v", n.BookingID, b.Status, n.Success)
			}
		}
	}
	return told
}

// checkerGreen waits for p's checker's slow sweep to pass over every
// booking after now, and fails unless it then says ok with every rule
// checked and holding. (A checker that restarted with its process has not
// seen the whole run as changes: the sweep is what reads it all.) A checker
// beside parts in other processes checks every rule only where their
// stores are in PostgreSQL; over their SQLite files it says "partial".
func checkerGreen(t *testing.T, p *Proc) {
	t.Helper()
	inv, ok := sweptAfter(t, p, time.Now().UTC())
	if !ok {
		return
	}
	if !inv.OK || inv.State != "ok" {
		t.Errorf("after a full sweep the checker says ok=%v state=%q, want ok", inv.OK, inv.State)
	}
	for _, r := range inv.Rules {
		if !r.Checked || !r.Holds {
			t.Errorf("rule %s: checked=%v holds=%v, want both", r.Rule, r.Checked, r.Holds)
		}
	}
	if len(inv.Rules) == 0 {
		t.Errorf("the checker lists no rules")
	}
}

// invariantsView is GET /api/invariants as the tests read it.
type invariantsView struct {
	OK         bool             `json:"ok"`
	State      string           `json:"state"`
	SweptAt    *time.Time       `json:"swept_at"`
	Violations []map[string]any `json:"violations"`
	Rules      []struct {
		Rule    string `json:"rule"`
		Checked bool   `json:"checked"`
		Holds   bool   `json:"holds"`
	} `json:"rules"`
}

// sweptAfter polls p's checker until its slow sweep has passed over every
// booking since since, and returns what the checker then says. A violation
// on the way, or no sweep within 90 s, fails the test and returns false.
func sweptAfter(t *testing.T, p *Proc, since time.Time) (invariantsView, bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var inv invariantsView
		if code := p.Do("GET", "/api/invariants", nil, &inv); code != http.StatusOK {
			t.Errorf("GET /api/invariants: %d", code)
			return inv, false
		}
		if len(inv.Violations) > 0 {
			t.Errorf("the invariant checker reports %d violations, e.g. %v", len(inv.Violations), inv.Violations[0])
			return inv, false
		}
		if inv.SweptAt != nil && inv.SweptAt.After(since) {
			return inv, true
		}
		if time.Now().After(deadline) {
			t.Errorf("the invariant checker did not finish a sweep within 90 s (state %q)", inv.State)
			return inv, false
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// String is the audit's figures as a log line.
func (f auditFigures) String() string {
	return fmt.Sprintf("%d confirmed, %d compensated; lost %d, doubled %d, held %d", f.confirmed, f.compensated, f.lost, f.doubled, f.held)
}
