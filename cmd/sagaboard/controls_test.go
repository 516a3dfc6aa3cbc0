package main_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// shotDir is where the browser tests below keep their screenshots: the
// folder SAGABOARD_SHOTS names, or the test's own temporary one.
func shotDir(t *testing.T) string {
	if d := os.Getenv("SAGABOARD_SHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserSlowMotionMovesABookingLaneByLane turns slow motion on from
// its control, books from the form, and takes three screenshots during that
// one booking: each must show it somewhere else.
func TestBrowserSlowMotionMovesABookingLaneByLane(t *testing.T) {
	p, _ := startSaga(t)
	ctx := mustBrowser(t, 1400, 1000)
	openDashboard(t, ctx, p.URL+"/")
	if hint := eval[string](t, ctx, `document.querySelector("#slow-hint").textContent`); !strings.Contains(hint, "slow motion") {
		t.Errorf("the hint by Book reads %q; it should point at slow motion", hint)
	}
	eval[bool](t, ctx, `(s => { s.value = "500"; return s.dispatchEvent(new Event("change", {bubbles: true})) })(document.querySelector("#slow-motion select"))`)
	waitJS[bool](t, ctx, "the page confirms slow motion",
		`document.querySelector("#switch-msg").textContent.includes("slow motion is on")`, 5*time.Second)
	var slow struct {
		DelayMS int `json:"delay_ms"`
	}
	if code := p.Do("GET", "/api/slow-motion", nil, &slow); code != http.StatusOK || slow.DelayMS != 500 {
		t.Fatalf("GET /api/slow-motion = %d %+v, want 500", code, slow)
	}
	waitJS[bool](t, ctx, "the hint by Book says slow motion is on",
		`document.querySelector("#slow-hint").textContent.includes("Slow motion is on")`, 5*time.Second)

	start := time.Now()
	id := book(t, ctx, "walter", "C3")
	// Where the booking is: its status, the lane of its last dot, where it
	// waits, and how many dots it has.
	where := `(c => c ? [c.dataset.status, [...c.querySelectorAll("[data-lane]")].map(g => g.dataset.lane).pop() || "",
		c.querySelector(".why.waiting")?.dataset.queue || "", c.querySelectorAll("[data-lane]").length].join("/") : "")(document.querySelector("#booking-` + id + `"))`
	lane := `(c => c ? [...c.querySelectorAll("[data-lane]")].map(g => g.dataset.lane).pop() || "" : "")(document.querySelector("#booking-` + id + `"))`
	dir := shotDir(t)
	var lanes, seen []string
	for i := 1; i <= 3; i++ {
		// The booking's next lane, whenever it gets there.
		cond := lane + ` !== ""`
		for _, l := range lanes {
			cond += ` && ` + lane + ` !== "` + l + `"`
		}
		waitJS[bool](t, ctx, fmt.Sprintf("the booking reaches a lane other than %v", lanes), cond, 10*time.Second)
		// The lane is the one this read saw, just before the screenshot:
		// read again after it, it could be a hop later (a screenshot takes
		// a few hundred ms under load), and the next wait would then look
		// for a lane past the last one.
		state := eval[string](t, ctx, where)
		eval[bool](t, ctx, `(document.querySelector("#booking-`+id+`").scrollIntoView({block: "center"}), true)`)
		screenshot(t, ctx, filepath.Join(dir, fmt.Sprintf("slow-motion-%d.png", i)))
		parts := strings.Split(state, "/")
		if len(parts) < 2 {
			t.Fatalf("the booking's card is gone from the page (%q)", state)
		}
		lanes, seen = append(lanes, parts[1]), append(seen, state)
		t.Logf("screenshot %d at %v: %s", i, time.Since(start).Round(10*time.Millisecond), state)
	}
	if lanes[0] == lanes[1] || lanes[1] == lanes[2] || lanes[0] == lanes[2] {
		t.Errorf("the three screenshots show the booking in lanes %v; each should show another", lanes)
	}
	if !strings.HasPrefix(seen[0], "pending/") || !strings.HasPrefix(seen[1], "pending/") {
		t.Errorf("the first screenshots show %v, want the booking pending while it travels", seen)
	}
	waitStatus(t, ctx, p, id, "confirmed")
	// Four hops of 500 ms each: slow motion slowed every one of them.
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Errorf("the booking was confirmed %v after the press; with 500 ms per hop it takes at least 1.5 s", took)
	}
	p.Do("PUT", "/api/slow-motion", `{"delay_ms":0}`, nil)
}

// TestSwitchLetOneThroughPassesExactlyOne pauses seats with three bookings
// waiting: each press passes one of them, and only one.
func TestSwitchLetOneThroughPassesExactlyOne(t *testing.T) {
	p, _ := startSaga(t)
	p.SetSwitches(`{"seats":{"paused":true}}`)
	var ids []string
	for _, s := range []string{"A1", "A2", "A3"} {
		ids = append(ids, p.Book("lou", s))
	}
	for _, id := range ids {
		p.WaitFor(id, 10*time.Second, "waiting for seats", func(b Booking) bool { return b.Waiting != nil && b.Waiting.Queue == "seat_update_queue" })
	}
	confirmed := func() int {
		n := 0
		for _, id := range ids {
			if p.Get(id).Status == "confirmed" {
				n++
			}
		}
		return n
	}
	ready := func() int {
		var qs []struct {
			Name      string `json:"name"`
			Ready     int    `json:"ready"`
			Consumers int    `json:"consumers"`
		}
		p.Do("GET", "/api/queues", nil, &qs)
		for _, q := range qs {
			if q.Name == "seat_update_queue" {
				return q.Ready
			}
		}
		return -1
	}
	if n := ready(); n != 3 {
		t.Fatalf("seat_update_queue holds %d ready, want the 3 bookings", n)
	}
	for press := 1; press <= 2; press++ {
		var out map[string]any
		if code := p.Do("POST", "/api/steps/seats/let-one-through", nil, &out); code != http.StatusAccepted {
			t.Fatalf("press %d: %d %v, want 202", press, code, out)
		}
		deadline := time.Now().Add(10 * time.Second)
		for confirmed() < press && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		// A second message would follow at once; give it the time it
		// would take, and see that it did not come.
		time.Sleep(time.Second)
		if n := confirmed(); n != press {
			t.Fatalf("after %d presses %d bookings are confirmed, want %d", press, n, press)
		}
		if n := ready(); n != 3-press {
			t.Errorf("after %d presses seat_update_queue holds %d ready, want %d", press, n, 3-press)
		}
	}
	var e map[string]string
	if code := p.Do("POST", "/api/steps/booking/let-one-through", nil, &e); code != http.StatusBadRequest {
		t.Errorf("let one through for booking: %d %v, want 400", code, e)
	}
	p.SetSwitches(`{"seats":{"paused":false}}`)
	if code := p.Do("POST", "/api/steps/seats/let-one-through", nil, &e); code != http.StatusConflict {
		t.Errorf("let one through on a running step: %d %v, want 409", code, e)
	}
	p.WaitFor(ids[2], 10*time.Second, "confirmed once resumed", func(b Booking) bool { return b.Status == "confirmed" })
}

type deadLetter struct {
	ID         string     `json:"id"`
	Queue      string     `json:"queue"`
	Reason     string     `json:"reason"`
	ReplayedAt *time.Time `json:"replayed_at"`
}

func (p *Proc) deadLetters() []deadLetter {
	var dl []deadLetter
	p.Do("GET", "/api/dead-letters", nil, &dl)
	return dl
}

// TestPoisonButtonDeadLettersWithItsReasonAndAgainOnReplay presses the
// dead-letter panel's button, then replays what it made.
func TestPoisonButtonDeadLettersWithItsReasonAndAgainOnReplay(t *testing.T) {
	p, _ := startSaga(t)
	ctx := mustBrowser(t, 1400, 1000)
	openDashboard(t, ctx, p.URL+"/")
	do(t, ctx, "choose a body that is not JSON, to payment_queue",
		chromedp.SetValue(chromedp.CSS(`#poison-form select[name=kind]`), "bad_json"),
		chromedp.SetValue(chromedp.CSS(`#poison-form select[name=queue]`), "payment_queue"),
		chromedp.Click(chromedp.CSS(`#poison-form button[type=submit]`)))
	waitJS[bool](t, ctx, "the dead letter appears with its reason",
		`[...document.querySelectorAll("#dead-letters .dl-reason")].some(r => r.textContent.includes("body is not JSON"))`, 10*time.Second)
	dl := p.deadLetters()
	if len(dl) != 1 || dl[0].Queue != "payment_queue" || !strings.Contains(dl[0].Reason, "body is not JSON: ") {
		t.Fatalf("dead letters = %+v, want one from payment_queue saying the body is not JSON", dl)
	}
	do(t, ctx, "replay it", chromedp.Click(chromedp.CSS(`#dead-letters .dl-actions button`)))
	deadline := time.Now().Add(10 * time.Second)
	for len(dl) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		dl = p.deadLetters()
	}
	if len(dl) != 2 || !strings.Contains(dl[0].Reason, "body is not JSON: ") || dl[1].ReplayedAt == nil {
		t.Fatalf("after the replay the dead letters are %+v, want the replay dead-lettered again, for the same reason", dl)
	}

	// Every kind, through the API, says what was wrong.
	for kind, want := range map[string]string{
		"unknown_type": `seat_update_queue does not handle messages of type "NoSuchEvent"`,
		"wrong_fields": `unknown field "user"`,
	} {
		var out map[string]string
		if code := p.Do("POST", "/api/dead-letters/poison", `{"queue":"seat_update_queue","kind":"`+kind+`"}`, &out); code != http.StatusAccepted {
			t.Fatalf("poison %s: %d %v", kind, code, out)
		}
		deadline := time.Now().Add(10 * time.Second)
		found := false
		for !found && time.Now().Before(deadline) {
			for _, d := range p.deadLetters() {
				found = found || strings.Contains(d.Reason, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !found {
			t.Errorf("no dead letter says %q after poison %s: %+v", want, kind, p.deadLetters())
		}
	}
	var e map[string]string
	if code := p.Do("POST", "/api/dead-letters/poison", `{"queue":"observer_queue","kind":"bad_json"}`, &e); code != http.StatusBadRequest {
		t.Errorf("poison to observer_queue: %d %v, want 400", code, e)
	}
}

// TestBrowserFitsA420PxScreen opens the dashboard, with a booking and a
// dead letter in it, on a phone's width: nothing may scroll sideways.
func TestBrowserFitsA420PxScreen(t *testing.T) {
	p, _ := startSaga(t)
	id := p.Book("a-rather-long-user-name-for-a-phone", "J9", "J10")
	p.WaitFor(id, 10*time.Second, "confirmed", func(b Booking) bool { return b.Status == "confirmed" && b.Notified })
	p.SetSwitches(`{"payment":{"fail_rate":1},"seats":{"paused":true}}`)
	p.Do("POST", "/api/dead-letters/poison", `{"queue":"payment_queue","kind":"wrong_fields"}`, nil)
	ctx := mustBrowser(t, 420, 900)
	openDashboard(t, ctx, p.URL+"/")
	waitJS[bool](t, ctx, "the booking is listed", `!!document.querySelector("#booking-`+id+`")`, 10*time.Second)
	waitJS[bool](t, ctx, "the dead letter is listed", `document.querySelectorAll("#dead-letters .dl").length > 0`, 10*time.Second)
	screenshot(t, ctx, filepath.Join(shotDir(t), "dashboard-420-test.png"))
	if w := eval[int](t, ctx, `document.documentElement.scrollWidth`); w > 420 {
		wide := eval[string](t, ctx, `[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > 421).slice(0, 5).map(e => e.tagName + "." + e.className).join(", ")`)
		t.Errorf("the dashboard is %d px wide at 420 px; too wide: %s", w, wide)
	}
	do(t, ctx, "open the booking", chromedp.Navigate(p.URL+"/bookings/"+id))
	waitJS[bool](t, ctx, "the booking page is drawn", `!!document.querySelector("#booking-`+id+`")`, 10*time.Second)
	if w := eval[int](t, ctx, `document.documentElement.scrollWidth`); w > 420 {
		t.Errorf("the booking page is %d px wide at 420 px", w)
	}
}

// TestBrowserUnknownBookingSaysSoAndStops: no endless "connecting".
func TestBrowserUnknownBookingSaysSoAndStops(t *testing.T) {
	p, _ := startSaga(t)
	res, err := http.Get(p.URL + "/bookings/no-such-booking")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "No such booking") {
		t.Errorf("GET /bookings/no-such-booking = %d, want 404 saying no such booking", res.StatusCode)
	}
	if strings.Contains(string(body), "connecting") || strings.Contains(string(body), "ws-connect") {
		t.Errorf("the page for an unknown booking still connects:\n%s", body)
	}
}

// TestBrowserSaysATickedSeatWasTaken: a seat ticked here and booked by
// someone else is unticked, and the form says so in words.
func TestBrowserSaysATickedSeatWasTaken(t *testing.T) {
	p, _ := startSaga(t)
	ctx := mustBrowser(t, 1400, 1000)
	openDashboard(t, ctx, p.URL+"/")
	do(t, ctx, "tick D4 and D5", chromedp.Click(chromedp.CSS(`#seat-D4`)), chromedp.Click(chromedp.CSS(`#seat-D5`)))
	p.Book("someone-else", "D4")
	waitJS[bool](t, ctx, "the form says D4 was taken",
		`document.querySelector("#book-msg").textContent.includes("Seat D4 was just taken by another booking")`, 10*time.Second)
	if got := eval[string](t, ctx, `[...document.querySelectorAll("#booking-form input[name=seats]:checked")].map(i => i.value).join(" ")`); got != "D5" {
		t.Errorf("ticked seats are %q, want only D5", got)
	}
	// The page's own booking turns its seats held without a word.
	eval[string](t, ctx, `document.querySelector("#book-msg").textContent = ""`)
	do(t, ctx, "untick D5", chromedp.Click(chromedp.CSS(`#seat-D5`)))
	id := book(t, ctx, "me", "D6")
	p.WaitFor(id, 10*time.Second, "confirmed", func(b Booking) bool { return b.Status == "confirmed" })
	if got := eval[string](t, ctx, `document.querySelector("#book-msg").textContent`); strings.Contains(got, "taken") {
		t.Errorf("after booking D6 here the form says %q", got)
	}
	// Many seats taken at once reach the page as one letter a seat rather
	// than each seat redrawn; a ticked one among them is still named.
	do(t, ctx, "tick F1", chromedp.Click(chromedp.CSS(`#seat-F1`)))
	p.Book("a-crowd", "F1", "G1", "G2", "G3", "G4", "G5", "G6", "G7")
	waitJS[bool](t, ctx, "the form says F1 was taken",
		`document.querySelector("#book-msg").textContent.includes("Seat F1 was just taken by another booking")`, 10*time.Second)
	waitJS[bool](t, ctx, "the crowd's seats show as taken",
		`["F1","G1","G7"].every(s => !document.querySelector("#seat-"+s+".seat-free") && document.querySelector("#seat-"+s+" input").disabled)`, 10*time.Second)
	if got := eval[string](t, ctx, `[...document.querySelectorAll("#booking-form input[name=seats]:checked")].map(i => i.value).join(" ")`); got != "" {
		t.Errorf("ticked seats are %q after the crowd took F1, want none", got)
	}
}
