package main_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// seen is what a page shows of one booking waiting behind paused seats:
// its status, where it waits and why, its seat, and the queue's depth.
type seen struct {
	Status, Queue, Note, Seat, Ready string
	InQueue                          bool
}

// TestHistoryScrubberInABrowser pauses seats, books, and reads the live
// dashboard while the booking waits: pending, waiting in
// seat_update_queue because seats is paused, its seat held, one message
// ready. Seats resumes and the booking is confirmed; then the scrubber is
// set back to that moment and must show the same. Play at 16× then
// reaches Live. The booking's page steps through its messages.
func TestHistoryScrubberInABrowser(t *testing.T) {
	p, _ := startSaga(t)
	p.SetSwitches(`{"seats":{"paused":true}}`)
	bob := p.Book("bob", "B1")
	p.WaitFor(bob, 15*time.Second, "waiting for seats", func(b Booking) bool { return b.Waiting != nil && b.Waiting.Queue == "seat_update_queue" })

	ctx := mustBrowser(t, 1400, 1000)
	openDashboard(t, ctx, p.URL+"/")
	liveJS := `(() => {
		const b = document.querySelector("#booking-` + bob + `"), w = b && b.querySelector(".why.waiting");
		const q = document.querySelector("#q-seat_update_queue");
		return {Status: b ? b.dataset.status : "", Queue: w ? w.dataset.queue : "", Note: w && w.querySelector(".w-note") ? w.querySelector(".w-note").textContent : "",
			Seat: (document.querySelector("#seat-B1").className.match(/seat-(free|held|sold)/) || [])[1] || "",
			Ready: q ? q.querySelector(".q-ready").textContent : "", InQueue: !!(q && q.querySelector('.qw[href$="` + bob + `"]'))};
	})()`
	waitJS[bool](t, ctx, "the live page shows bob waiting and one message ready",
		`(s => s.Queue === "seat_update_queue" && s.Ready === "1" && s.InQueue)(`+liveJS+`)`, 10*time.Second)
	// The observer samples the depths every second: let it see them.
	time.Sleep(1500 * time.Millisecond)
	live := eval[seen](t, ctx, liveJS)
	at := time.Now().UTC()
	if live.Status != "pending" || live.Seat != "held" || live.Note != "— seats paused" {
		t.Fatalf("the live page shows %+v, want pending, held, seats paused", live)
	}

	// The record keeps milliseconds: resume in a later one than the moment.
	time.Sleep(50 * time.Millisecond)
	p.SetSwitches(`{"seats":{"paused":false}}`)
	waitStatus(t, ctx, p, bob, "confirmed")

	// Typing a moment and leaving the field is a change event.
	pick := func(at time.Time) {
		eval[bool](t, ctx, `(f => { f.value = "`+at.Format(time.RFC3339Nano)+`"; return f.dispatchEvent(new Event("change", {bubbles: true})); })(document.querySelector("#history-at"))`)
	}
	pick(at)
	waitJS[bool](t, ctx, "the moment is drawn", `!!document.querySelector("#moment") && document.body.classList.contains("then")`, 10*time.Second)
	then := eval[seen](t, ctx, `(() => {
		const m = document.querySelector("#moment"), b = m.querySelector("#then-`+bob+`"), w = b && b.querySelector(".m-waiting");
		const q = m.querySelector('.m-queues [data-queue="seat_update_queue"]');
		return {Status: b ? b.dataset.thenStatus : "", Queue: w ? w.dataset.queue : "", Note: w && w.querySelector(".w-note") ? w.querySelector(".w-note").textContent : "",
			Seat: m.querySelector('[data-seat="B1"]').dataset.seatStatus, Ready: q ? q.querySelector(".q-ready").textContent : "",
			InQueue: !!(q && q.querySelector('[data-booking="`+bob+`"]'))};
	})()`)
	if then != live {
		t.Errorf("scrubbed back to %s the page shows\n%+v\nthe live page showed\n%+v", at.Format(time.RFC3339Nano), then, live)
	}
	if !eval[bool](t, ctx, `getComputedStyle(document.querySelector("main.dash")).display === "none"`) {
		t.Error("the live panels still show while the page is set back")
	}
	shots := os.Getenv("SAGABOARD_SHOTS")
	shot := func(name string) {
		if shots == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shot("dashboard-then-1400.png")

	// Play from the start of the record at 16×: it catches up with now.
	pick(time.Now().Add(-time.Hour))
	waitJS[bool](t, ctx, "the record's start is drawn", `(m => !!m && m.dataset.at === m.dataset.from)(document.querySelector("#moment"))`, 5*time.Second)
	eval[bool](t, ctx, `(s => { window.replayed = false; new MutationObserver(() => { if (s.textContent.startsWith("replaying")) window.replayed = true; }).observe(s, {childList: true, characterData: true, subtree: true}); return true; })(document.querySelector("#history-status"))`)
	do(t, ctx, "play at 16×", chromedp.SetValue(chromedp.CSS(`#history-speed`), "16"), chromedp.Click(chromedp.CSS(`#history-play`)))
	waitJS[bool](t, ctx, "Play at 16× reaches Live", `document.querySelector("#history").dataset.state === "live" && !document.body.classList.contains("then")`, 10*time.Second)
	if !eval[bool](t, ctx, `window.replayed`) {
		t.Error("Play went live without replaying a moment")
	}
	waitStatus(t, ctx, p, bob, "confirmed")

	// The booking's page, step by step.
	do(t, ctx, "open bob's page", chromedp.Navigate(p.URL+"/bookings/"+bob), chromedp.WaitVisible(chromedp.CSS(`#stepper`)))
	step := func() [4]string {
		return eval[[4]string](t, ctx, `(() => { const s = [...document.querySelectorAll(".st-step")].find(li => !li.hidden);
			return [s.dataset.step, s.querySelector(".st-seats").textContent, s.querySelector(".st-money").textContent, s.querySelector(".st-user").textContent]; })()`)
	}
	if got := step(); got != [4]string{"4", "sold", "charged 10.00", "told"} {
		t.Errorf("the last step shows %v", got)
	}
	eval[bool](t, ctx, `(f => { f.value = "1"; return f.dispatchEvent(new Event("input", {bubbles: true})); })(document.querySelector("#stepper-scrub"))`)
	if got := step(); got != [4]string{"1", "held", "nothing charged", "not told"} {
		t.Errorf("the first step shows %v", got)
	}
	do(t, ctx, "next", chromedp.Click(chromedp.CSS(`.st-next`)))
	if got := step(); got != [4]string{"2", "held", "charged 10.00", "not told"} {
		t.Errorf("the second step shows %v", got)
	}
	shot("booking-step2-1400.png")
}
