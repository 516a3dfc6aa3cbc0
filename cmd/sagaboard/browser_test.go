package main_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromium is the browser the tests drive: Debian's, installed by
// .ci/ensure-chromium.sh. The tests never download one.
const chromium = "/usr/bin/chromium"

// mustBrowser starts a headless Chromium with a fresh profile and returns a
// tab's context. Without Chromium the test is skipped, except in CI, where a
// missing browser is a failure.
func mustBrowser(t *testing.T, width, height int) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (%v); CI must have it (make chromium)", chromium, err)
		}
		t.Skipf("%s is missing (%v); run `make chromium`", chromium, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	return ctx
}

// do runs browser steps or fails the test, saying what it was doing.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript expression until it is truthy and returns it.
func waitJS[T any](t *testing.T, ctx context.Context, what, expr string, timeout time.Duration) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting until %s: %v\npage says: %s", what, err, eval[string](t, ctx, `document.body.innerText.slice(0, 2000)`))
	}
	return v
}

// openDashboard loads the dashboard and waits until its WebSocket is live.
func openDashboard(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	do(t, ctx, "open the dashboard", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("form#booking-form")))
	waitJS[bool](t, ctx, "the page is live", `document.querySelector("#ws-state").classList.contains("live")`, 10*time.Second)
}

// book fills the form as a person does: name, two clicks on seats, Book.
// It returns the id the page links to.
func book(t *testing.T, ctx context.Context, user string, seats ...string) string {
	t.Helper()
	// The page keeps the name after a booking; start afresh.
	eval[string](t, ctx, `document.querySelector('#booking-form input[name="user_id"]').value = ""`)
	do(t, ctx, "fill in the name", chromedp.SendKeys(chromedp.CSS(`#booking-form input[name="user_id"]`), user))
	for _, s := range seats {
		do(t, ctx, "pick seat "+s, chromedp.Click(chromedp.CSS(`#seat-`+s)))
	}
	if got := eval[string](t, ctx, `document.querySelector('#booking-form input[name="user_id"]').value`); got != user {
		t.Fatalf("the name field holds %q, want %q", got, user)
	}
	label := eval[string](t, ctx, `document.querySelector("#book-button").textContent`)
	if want := "Book " + strings.Join(seats, ", "); label != want {
		t.Errorf("the button reads %q after picking %v, want %q", label, seats, want)
	}
	const linked = `document.querySelector("#book-msg a[data-booking-id]")?.dataset.bookingId`
	before := eval[string](t, ctx, `(`+linked+`) || ""`)
	do(t, ctx, "press Book", chromedp.Click(chromedp.CSS(`#book-button`)))
	// The answer replaces the last one; wait for a link to a new booking.
	return waitJS[string](t, ctx, "the page says the booking was made",
		`(id => id !== "`+before+`" && id)(`+linked+`)`, 10*time.Second)
}

// waitStatus waits until the booking's element on the page has status.
func waitStatus(t *testing.T, ctx context.Context, p *Proc, id, status string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#booking-`+id+`")?.dataset.status === "`+status+`"`,
		chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		b := p.Get(id)
		t.Fatalf("booking %s never showed %s on the page (%v); the API says %s with events %v; the page says %q",
			id, status, err, b.Status, eventTypes(b), eval[string](t, ctx, `document.querySelector("#booking-`+id+`")?.outerHTML.slice(0, 300) || "nothing"`))
	}
}

func TestDashboardInABrowser(t *testing.T) {
	p, _ := startSaga(t)
	ctx := mustBrowser(t, 1440, 1000)

	// (a) Book through the form and watch it confirm, with no reload.
	openDashboard(t, ctx, p.URL+"/")
	eval[string](t, ctx, `window.sagaboardMarker = "the same page"`)
	alice := book(t, ctx, "alice", "A1", "A2")
	waitStatus(t, ctx, p, alice, "confirmed")
	if got := eval[string](t, ctx, `document.querySelector("#booking-`+alice+` .outcome").textContent`); got != "✔ confirmed" {
		t.Errorf("alice's booking reads %q, want ✔ confirmed", got)
	}
	waitJS[bool](t, ctx, "seats A1 and A2 show as sold",
		`["A1","A2"].every(s => document.querySelector("#seat-"+s).classList.contains("seat-sold") && document.querySelector("#seat-"+s+" input").disabled)`, 5*time.Second)
	if got := eval[string](t, ctx, `window.sagaboardMarker || "gone"`); got != "the same page" {
		t.Fatalf("the page was reloaded while booking (marker %q)", got)
	}

	// (b) Turn the payment switch to fail every time, with the slider's own
	// keyboard control, then book again and watch it compensate.
	do(t, ctx, "turn payment.fail_rate to 1",
		chromedp.Focus(chromedp.CSS(`input[name="payment.fail_rate"]`)),
		chromedp.KeyEvent(kb.End))
	waitJS[bool](t, ctx, "the page confirms the switch",
		`document.querySelector("#switch-msg").textContent.includes("payment fails 100 %")`, 5*time.Second)
	var switches map[string]struct {
		FailRate float64 `json:"fail_rate"`
	}
	if code := p.Do("GET", "/api/failures", nil, &switches); code != http.StatusOK || switches["payment"].FailRate != 1 {
		t.Fatalf("after the page's switch: %d %+v, want payment.fail_rate 1", code, switches)
	}
	bob := book(t, ctx, "bob", "B1", "B2")
	waitStatus(t, ctx, p, bob, "compensated")
	if got := eval[string](t, ctx, `document.querySelector("#booking-`+bob+` .why").textContent`); !strings.Contains(got, "payment.fail_rate=1") {
		t.Errorf("bob's booking says why %q, want the switch named", got)
	}
	waitJS[bool](t, ctx, "seats B1 and B2 are free again",
		`["B1","B2"].every(s => !document.querySelector("#seat-"+s+" input").disabled)`, 5*time.Second)
	if got := eval[string](t, ctx, `window.sagaboardMarker || "gone"`); got != "the same page" {
		t.Fatalf("the page was reloaded (marker %q)", got)
	}

	// (c) Open the compensated booking's page and read its timeline.
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`#booking-`+bob+` a.b-id`))); err != nil {
		t.Fatalf("open bob's booking: %v", err)
	}
	waitJS[bool](t, ctx, "the booking page shows every message",
		`document.querySelectorAll("ol.events > li").length === 5`, 10*time.Second)
	if got := eval[string](t, ctx, `location.pathname`); got != "/bookings/"+bob {
		t.Errorf("the link led to %s", got)
	}
	types := eval[[]string](t, ctx, `[...document.querySelectorAll("ol.events .ev-type")].map(e => e.textContent)`)
	if want := []string{"BookingCreated", "PaymentServiceFailed", "SeatReleaseRequested", "BookingCancelled", "BookingNotified"}; !slices.Equal(types, want) {
		t.Errorf("the page lists %v, want %v", types, want)
	}
	lanes := eval[[]string](t, ctx, `[...document.querySelectorAll('svg.timeline[data-mode="steps"][data-width="wide"] g.dot')].map(g => g.dataset.lane + ":" + g.querySelector(".dot-label").textContent)`)
	if want := []string{"booking:held seats", "payment:declined", "compensation:ask release", "booking:released", "notification:told user"}; !slices.Equal(lanes, want) {
		t.Errorf("the timeline draws %v, want %v", lanes, want)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('svg.timeline[data-mode="steps"][data-width="wide"] path.hop.undo').length`); n != 4 {
		t.Errorf("%d dashed undo lines on the timeline, want 4", n)
	}
	summary := eval[string](t, ctx, `document.querySelector(".summary").textContent`)
	if !strings.HasPrefix(summary, "Compensated: Payment declined the charge (declined: payment.fail_rate=1), so no money was taken") {
		t.Errorf("the summary reads %q", summary)
	}
	payload := eval[string](t, ctx, `(d => { d.open = true; return d.querySelector("pre").innerText })(document.querySelector("ol.events > li:nth-child(2) details"))`)
	if !strings.Contains(payload, `"reason": "declined: payment.fail_rate=1"`) {
		t.Errorf("the failure's payload reads %q", payload)
	}
}

// TestScreenshot draws the dashboard in a lived-in state and saves it as
// static/screenshot.png for the README. It runs only with
// SAGABOARD_SCREENSHOT=1.
func TestScreenshot(t *testing.T) {
	if os.Getenv("SAGABOARD_SCREENSHOT") != "1" {
		t.Skip("set SAGABOARD_SCREENSHOT=1 to redraw static/screenshot.png")
	}
	// Provisioned, as `make run` starts: the page a user sees first.
	dir := t.TempDir()
	MustProvisioned(t, dir)
	p := Start(t, "-addr", "127.0.0.1:0", "-data", dir)
	settle := func(ids ...string) {
		for _, id := range ids {
			p.WaitFor(id, 15*time.Second, "finished", func(b Booking) bool { return b.Status != "pending" && b.Notified })
		}
	}
	settle(p.Book("alice", "C4", "C5"), p.Book("bob", "D3"))
	p.SetSwitches(`{"notification":{"fail_rate":1}}`)
	erin := p.Book("erin", "G4", "G5", "G6")
	p.WaitFor(erin, 15*time.Second, "retried", func(b Booking) bool {
		n := 0
		for _, e := range b.Events {
			if e.Type == "NotificationRetry" {
				n++
			}
		}
		return n >= 3
	})
	p.SetSwitches(`{"notification":{"fail_rate":0}}`)
	settle(erin, p.Book("fatima", "B5", "B6"))
	p.SetSwitches(`{"payment":{"fail_rate":1}}`)
	settle(p.Book("carol", "E6", "E7"))
	p.SetSwitches(`{"payment":{"fail_rate":0},"seats":{"fail_rate":1}}`)
	settle(p.Book("dave", "F2"))
	p.SetSwitches(`{"payment":{"fail_rate":0.2},"seats":{"fail_rate":0,"paused":true}}`)
	gus := p.Book("gus", "H7")
	p.WaitFor(gus, 10*time.Second, "waiting for seats", func(b Booking) bool { return b.Waiting != nil && b.Waiting.Queue == "seat_update_queue" })

	ctx := mustBrowser(t, 1440, 1440)
	openDashboard(t, ctx, p.URL+"/")
	do(t, ctx, "pick seats", chromedp.SendKeys(chromedp.CSS(`input[name="user_id"]`), "hana"),
		chromedp.Click(chromedp.CSS(`#seat-A7`)), chromedp.Click(chromedp.CSS(`#seat-A8`)))
	waitJS[bool](t, ctx, "the list is drawn", `document.querySelectorAll("#booking-list > article").length === 7`, 10*time.Second)
	do(t, ctx, "let the seats' colour settle", chromedp.Sleep(time.Second))
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join("..", "..", "static", "screenshot.png")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", out, len(png))
}
