package main_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// liveState is what the live API says at one moment, in the shape
// /api/history answers.
type liveState struct {
	Seats []struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		BookingID string `json:"booking_id"`
	} `json:"seats"`
	Stats    map[string]int `json:"stats"`
	Bookings []string       `json:"-"` // "id status [waiting queue since note]", sorted
	Switches map[string]struct {
		FailRate float64 `json:"fail_rate"`
		DelayMS  int     `json:"delay_ms"`
		Paused   bool    `json:"paused"`
	} `json:"switches"`
}

type historyAnswer struct {
	At time.Time `json:"at"`
	liveState
	RawBookings []struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Waiting *struct {
			Queue string    `json:"queue"`
			Since time.Time `json:"since"`
			Note  string    `json:"note"`
		} `json:"waiting"`
	} `json:"bookings"`
}

func bookingLine(id, status string, queue string, since time.Time, note string) string {
	s := id + " " + status
	if queue != "" {
		s += " waiting in " + queue + " since " + since.UTC().Format(time.RFC3339Nano) + " " + note
	}
	return s
}

// readLive reads seats, stats, every booking with where it waits, and the
// switches from the live API.
func readLive(p *Proc) liveState {
	p.t.Helper()
	var st liveState
	p.Do("GET", "/api/seats", nil, &st.Seats)
	p.Do("GET", "/api/stats", nil, &st.Stats)
	p.Do("GET", "/api/failures", nil, &st.Switches)
	var list []Booking
	p.Do("GET", "/api/bookings?limit=500", nil, &list)
	for _, b := range list {
		full := p.Get(b.ID)
		if full.Waiting != nil {
			st.Bookings = append(st.Bookings, bookingLine(full.ID, full.Status, full.Waiting.Queue, full.Waiting.Since, full.Waiting.Note))
		} else {
			st.Bookings = append(st.Bookings, bookingLine(full.ID, full.Status, "", time.Time{}, ""))
		}
	}
	sort.Strings(st.Bookings)
	return st
}

// stableLive reads the live API until two reads 300 ms apart agree, and
// returns that state with a moment between the reads: the live API said
// this all along that stretch.
func stableLive(p *Proc) (liveState, time.Time) {
	p.t.Helper()
	prev := readLive(p)
	for range 50 {
		time.Sleep(150 * time.Millisecond)
		mid := time.Now()
		time.Sleep(150 * time.Millisecond)
		cur := readLive(p)
		if reflect.DeepEqual(prev, cur) {
			return cur, mid.UTC()
		}
		prev = cur
	}
	p.t.Fatal("the live API never held still for 300 ms")
	return prev, time.Time{}
}

func historyAt(p *Proc, at time.Time) liveState {
	p.t.Helper()
	var h historyAnswer
	if code := p.Do("GET", "/api/history?at="+url.QueryEscape(at.Format(time.RFC3339Nano)), nil, &h); code != http.StatusOK {
		p.t.Fatalf("GET /api/history?at=%s: %d", at.Format(time.RFC3339Nano), code)
	}
	st := h.liveState
	for _, b := range h.RawBookings {
		if b.Waiting != nil {
			st.Bookings = append(st.Bookings, bookingLine(b.ID, b.Status, b.Waiting.Queue, b.Waiting.Since, b.Waiting.Note))
		} else {
			st.Bookings = append(st.Bookings, bookingLine(b.ID, b.Status, "", time.Time{}, ""))
		}
	}
	sort.Strings(st.Bookings)
	return st
}

// TestHistoryAgreesWithTheLiveAPI reads the live /api/seats, /api/stats,
// /api/bookings (each booking with where it waits) and /api/failures at
// moments of a run: a confirmed booking, one waiting behind paused seats,
// one compensated while they are paused, and everything done after they
// resume. Afterwards /api/history?at= each of those moments must answer
// the same, rebuilt from the observer's record alone.
func TestHistoryAgreesWithTheLiveAPI(t *testing.T) {
	p, _ := startSaga(t)
	type sample struct {
		name string
		at   time.Time
		live liveState
	}
	var samples []sample
	take := func(name string) {
		st, at := stableLive(p)
		samples = append(samples, sample{name, at, st})
	}
	done := func(b Booking) bool { return b.Status != "pending" && b.Notified }

	take("before any booking")
	alice := p.Book("alice", "A1", "A2")
	p.WaitFor(alice, 15*time.Second, "confirmed and told", done)
	take("alice confirmed")

	p.SetSwitches(`{"seats":{"paused":true}}`)
	bob := p.Book("bob", "B1")
	p.WaitFor(bob, 15*time.Second, "waiting for seats", func(b Booking) bool { return b.Waiting != nil && b.Waiting.Queue == "seat_update_queue" })
	take("bob waits behind paused seats")

	p.SetSwitches(`{"payment":{"fail_rate":1}}`)
	carol := p.Book("carol", "C1", "C2")
	p.WaitFor(carol, 15*time.Second, "compensated and told", done)
	take("carol compensated, bob still waiting")

	p.SetSwitches(`{"seats":{"paused":false},"payment":{"fail_rate":0}}`)
	p.WaitFor(bob, 15*time.Second, "confirmed and told", done)
	take("bob confirmed after seats resumed")

	for _, s := range samples {
		got := historyAt(p, s.at)
		if !reflect.DeepEqual(got, s.live) {
			a, _ := json.MarshalIndent(s.live, "", " ")
			b, _ := json.MarshalIndent(got, "", " ")
			t.Errorf("%s, at %s: the live API said\n%s\n/api/history says\n%s", s.name, s.at.Format(time.RFC3339Nano), a, b)
		}
	}
	// The queue depth of bob's wait is as the observer saw it then.
	var h struct {
		Queues []struct {
			Name  string `json:"name"`
			Ready int    `json:"ready"`
		} `json:"queues"`
	}
	// The observer samples the depths every second, so the moment asked
	// is one where bob had waited a while: carol's.
	p.Do("GET", "/api/history?at="+url.QueryEscape(samples[3].at.Format(time.RFC3339Nano)), nil, &h)
	ready := -1
	for _, q := range h.Queues {
		if q.Name == "seat_update_queue" {
			ready = q.Ready
		}
	}
	if ready != 1 {
		t.Errorf("seat_update_queue while bob waited: %d ready in the record, want 1", ready)
	}

	var e struct {
		Error string `json:"error"`
	}
	if code := p.Do("GET", "/api/history?at=yesterday", nil, &e); code != http.StatusBadRequest || !strings.Contains(e.Error, "RFC 3339") {
		t.Errorf("a bad moment: %d %q, want 400 with a sentence naming RFC 3339", code, e.Error)
	}
	var early historyAnswer
	p.Do("GET", "/api/history?at=2000-01-01T00:00:00Z", nil, &early)
	if early.At.Year() == 2000 || len(early.RawBookings) != 0 {
		t.Errorf("a moment before the record: answered at %s with %d bookings, want it bound to the record's start", early.At, len(early.RawBookings))
	}
}
