package main_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// invariantsOK reads GET /api/invariants.
func invariantsOK(t *testing.T, p *Proc) (ok bool, violations []map[string]any) {
	t.Helper()
	var inv struct {
		OK         bool             `json:"ok"`
		Violations []map[string]any `json:"violations"`
	}
	if code := p.Do("GET", "/api/invariants", nil, &inv); code != http.StatusOK {
		t.Fatalf("GET /api/invariants: %d", code)
	}
	return inv.OK, inv.Violations
}

// TestStuckBookingScenarioInABrowser is the README's first scenario, done
// the way a person does it, with the page alone: pause seats, book, and see
// where the booking waits; let the deadline pass and see it compensated
// with the reason; resume, and see the late message neutralised while the
// invariants stay green.
func TestStuckBookingScenarioInABrowser(t *testing.T) {
	p, _ := startSaga(t, "-deadline", "4s")
	ctx := mustBrowser(t, 1440, 1000)
	openDashboard(t, ctx, p.URL+"/")
	waitJS[bool](t, ctx, "the invariants panel is green", `document.querySelector("#invariants")?.dataset.state === "ok"`, 10*time.Second)

	do(t, ctx, "pause seats", chromedp.Click(chromedp.CSS(`#switch-seats .sw-pause`)))
	waitJS[bool](t, ctx, "the page confirms seats is paused",
		`document.querySelector("#switch-msg").textContent.includes("seats") && document.querySelector("#switch-msg").textContent.includes("paused")`, 5*time.Second)
	gus := book(t, ctx, "gus", "C3")

	// Where is it? On its card, and in the queue panel.
	line := waitJS[string](t, ctx, "the booking says where it waits",
		`(el => el && el.textContent.includes("seat_update_queue") && el.textContent)(document.querySelector("#booking-`+gus+` .why.waiting"))`, 10*time.Second)
	if !strings.Contains(line, "waiting in seat_update_queue for") || !strings.Contains(line, "seats paused") {
		t.Errorf("the card reads %q, want \"waiting in seat_update_queue for … — seats paused\"", strings.Join(strings.Fields(line), " "))
	}
	waitJS[bool](t, ctx, "the queue panel lists the booking under seat_update_queue",
		`!!document.querySelector('tr[data-queue="seat_update_queue"] a.qw[href="/bookings/`+gus+`"]')`, 5*time.Second)
	// The panel's counts and its waiting list are read a moment apart (the
	// broker's count, the observer's record), so a look can land between
	// them: the count follows within a look or two.
	waitJS[bool](t, ctx, "seat_update_queue shows 1 ready",
		`document.querySelector('tr[data-queue="seat_update_queue"] .q-ready')?.textContent === "1"`, 5*time.Second)

	// The deadline passes: compensated, and the page says why.
	waitStatus(t, ctx, p, gus, "compensated")
	why := waitJS[string](t, ctx, "the card says why", `document.querySelector("#booking-`+gus+` .why")?.textContent`, 5*time.Second)
	if !strings.Contains(why, "deadline: still pending after 4s") || !strings.Contains(why, "real failure") {
		t.Errorf("the compensated booking says %q, want the deadline as a real (not injected) failure", strings.Join(strings.Fields(why), " "))
	}
	if c, r := p.Ledger(gus); c != 1000 || r != 1000 {
		t.Errorf("after the deadline: charged %d refunded %d, want 1000 and 1000", c, r)
	}

	// Resume: the late PaymentCompleted reaches seats, which neutralises it.
	do(t, ctx, "resume seats", chromedp.Click(chromedp.CSS(`#switch-seats .sw-pause`)))
	waitJS[bool](t, ctx, "the timeline shows the late message neutralised",
		`!!document.querySelector('#booking-`+gus+` svg.timeline g.dot[data-type="LateMessageNeutralised"]')`, 10*time.Second)
	if got := eval[string](t, ctx, `document.querySelector("#booking-`+gus+`").dataset.status`); got != "compensated" {
		t.Errorf("after the late message the booking is %s, want compensated", got)
	}
	if s := p.SeatStatus()["C3"]; s != "free" {
		t.Errorf("the late message left seat C3 %s, want free", s)
	}
	if c, r := p.Ledger(gus); c != r {
		t.Errorf("after the late message: charged %d refunded %d, want a net of zero", c, r)
	}
	// Green, on the page and in the API, after the checker has looked again.
	time.Sleep(2 * time.Second)
	waitJS[bool](t, ctx, "the invariants panel is still green", `document.querySelector("#invariants").dataset.state === "ok"`, 5*time.Second)
	if ok, v := invariantsOK(t, p); !ok {
		t.Errorf("GET /api/invariants is not ok after the scenario: %v", v)
	}

	// The booking's own page tells the whole story in words.
	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(p.URL+"/bookings/"+gus)); err != nil {
		t.Fatalf("open the booking page: %v", err)
	}
	late := waitJS[string](t, ctx, "the page lists the late message with its reason",
		`document.querySelector('ol.events li[data-type="LateMessageNeutralised"] .ev-reason')?.textContent`, 10*time.Second)
	if !strings.Contains(late, "late PaymentCompleted neutralised") {
		t.Errorf("the late message reads %q", late)
	}
}

// TestAtAGlanceInABrowser covers the rest of what the page offers for
// looking into the saga: the load button, per-step latency in the header,
// a scoped switch set from the page and stamped on what it caused, the
// side-by-side comparison and the export.
func TestAtAGlanceInABrowser(t *testing.T) {
	p, _ := startSaga(t)
	ctx := mustBrowser(t, 1440, 1000)
	openDashboard(t, ctx, p.URL+"/")

	// Fail the next payment of mallory only, from the page. Halfway through
	// typing, another client changes the same row: the row is redrawn, and
	// the half-typed name and the focus must survive it.
	const userField = `#switch-payment input[name="payment.user_id"]`
	do(t, ctx, "start typing a user into payment's switch", chromedp.SendKeys(chromedp.CSS(userField), "mal"))
	p.SetSwitches(`{"payment":{"delay_ms":5}}`)
	waitJS[bool](t, ctx, "the payment row is redrawn with the other client's delay",
		`document.querySelector('#switch-payment input[name="payment.delay_ms"]').value === "5"`, 5*time.Second)
	if got := eval[string](t, ctx, `(f => f.value + (document.activeElement === f ? " focused" : " blurred"))(document.querySelector('`+userField+`'))`); got != "mal focused" {
		t.Fatalf("after the redraw the half-typed user field reads %q, want \"mal focused\"", got)
	}
	// A count the browser refuses is said, not silently dropped.
	do(t, ctx, "ask for more failures than the switch allows",
		chromedp.SetValue(chromedp.CSS(`#switch-payment input[name="payment.fail_next"]`), "200000"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#switch-payment input[name="payment.fail_next"]').dispatchEvent(new Event("change", {bubbles: true}))`))
	refused := waitJS[string](t, ctx, "the page says why the switch was not changed",
		`document.querySelector("#switch-msg .error")?.textContent`, 5*time.Second)
	if !strings.Contains(refused, "fail the next N") {
		t.Errorf("the refusal reads %q, want it to name the field", refused)
	}
	do(t, ctx, "scope payment to mallory's next booking",
		chromedp.SendKeys(chromedp.CSS(userField), "lory"),
		chromedp.SetValue(chromedp.CSS(`#switch-payment input[name="payment.fail_next"]`), "1"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#switch-payment input[name="payment.fail_next"]').dispatchEvent(new Event("change", {bubbles: true}))`))
	waitJS[bool](t, ctx, "the switch is armed", `document.querySelector("#switch-msg").textContent.includes("mallory")`, 5*time.Second)
	var sw map[string]struct {
		FailNext int    `json:"fail_next"`
		UserID   string `json:"user_id"`
	}
	if p.Do("GET", "/api/failures", nil, &sw); sw["payment"].FailNext != 1 || sw["payment"].UserID != "mallory" {
		t.Fatalf("after the page's change the payment switch is %+v, want fail_next 1 for mallory", sw["payment"])
	}

	// Mallory books; then the load button books alongside, and nobody else
	// is hurt by the switch. (Mallory first: the load picks random seats.)
	// The button is pressed once her booking is drawn to its end: the
	// panel following it sits above the button and grows with each
	// message, and a click aimed before it grew can land beside the button
	// (a full run here once saw the load never start).
	mallory := book(t, ctx, "mallory", "J10")
	waitStatus(t, ctx, p, mallory, "compensated")
	waitJS[bool](t, ctx, "the panel following mallory's booking draws it to the end",
		`document.querySelector("#mine")?.textContent.includes("told user")`, 10*time.Second)
	eval[string](t, ctx, `document.querySelector('#load-form input[name="n"]').value = "12"`)
	do(t, ctx, "press the load button", chromedp.Click(chromedp.CSS(`#load-form button[type=submit]`)))
	waitJS[bool](t, ctx, "the page says the load started", `document.querySelector("#load-msg").textContent.includes("12")`, 5*time.Second)
	why := eval[string](t, ctx, `document.querySelector("#booking-`+mallory+` .why").textContent`)
	if !strings.Contains(why, "⚡ injected") || !strings.Contains(why, "payment.fail_next=1 (user_id=mallory)") {
		t.Errorf("mallory's booking says %q, want the injected switch with its setting", strings.Join(strings.Fields(why), " "))
	}
	waitJS[bool](t, ctx, "the header counts the load's bookings confirmed",
		`document.querySelector("#stats").textContent.includes("✔ 12 confirmed")`, 15*time.Second)
	waitJS[bool](t, ctx, "the header shows each step's latency",
		`["payment","seats","notification","compensation"].every(s => /ms|s$/.test(document.querySelector('[data-step="'+s+'"]')?.textContent || ""))`, 10*time.Second)

	// Compare the compensated booking with the latest confirmed one.
	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(p.URL+"/bookings/"+mallory)); err != nil {
		t.Fatalf("open mallory's booking: %v", err)
	}
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`#compare-with .compare-links a`))); err != nil {
		t.Fatalf("follow the compare link: %v", err)
	}
	statuses := waitJS[[]string](t, ctx, "both bookings side by side",
		`(l => l.length === 2 && l)([...document.querySelectorAll("[data-status]")].map(e => e.dataset.status))`, 10*time.Second)
	if !(statuses[0] == "compensated" && statuses[1] == "confirmed") && !(statuses[0] == "confirmed" && statuses[1] == "compensated") {
		t.Errorf("the comparison shows %v, want one compensated and one confirmed", statuses)
	}

	// The export is a download of the whole history.
	res, err := http.Get(p.URL + "/bookings/" + mallory + ".json")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("export: %d %q, want 200 and an attachment", res.StatusCode, res.Header.Get("Content-Disposition"))
	}
}
