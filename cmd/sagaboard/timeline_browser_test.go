package main_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// countType counts a booking's messages of one type.
func countType(b Booking, typ string) int {
	n := 0
	for _, e := range b.Events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// fits checks, in the page as it is drawn, that every visible timeline is
// no wider than its box and that its dots stand for every message of its
// booking, each dot inside the drawing. It returns what is wrong, "" when
// nothing is.
const fits = `(() => {
	const bad = [];
	const shown = [...document.querySelectorAll("svg.timeline")].filter(s => s.getClientRects().length > 0);
	if (shown.length === 0) bad.push("no timeline shown");
	for (const svg of shown) {
		const art = svg.closest("[data-id]");
		const box = svg.closest(".timeline-wrap").getBoundingClientRect();
		const r = svg.getBoundingClientRect();
		const name = (art ? art.dataset.id : "?") + " " + svg.dataset.mode;
		if (r.width > box.width + 0.5 || r.right > box.right + 0.5 || r.left < box.left - 0.5) bad.push(name + ": drawing " + r.width.toFixed(0) + " px in a " + box.width.toFixed(0) + " px box");
		if (r.right > document.documentElement.clientWidth + 0.5) bad.push(name + ": drawing runs off the page");
		// The booking page's drawing is read, not glanced at: shrunk much
		// below its own size, its labels are too small to read.
		const scale = r.width / svg.width.baseVal.value;
		if (svg.classList.contains("big") && scale < 0.75) bad.push(name + ": drawn at " + (scale * 100).toFixed(0) + "% of its size, too small to read");
		let n = 0;
		for (const g of svg.querySelectorAll("g.dot")) {
			n += +g.dataset.count;
			const m = g.querySelector(".mark").getBoundingClientRect();
			if (m.left < r.left - 0.5 || m.right > r.right + 0.5 || m.top < r.top - 0.5 || m.bottom > r.bottom + 0.5) bad.push(name + ": " + g.dataset.type + " outside the drawing");
			const label = g.querySelector(".dot-label");
			if (label && label.getBoundingClientRect().right > r.right + 0.5) bad.push(name + ": label of " + g.dataset.type + " clipped");
		}
		if (n !== +svg.dataset.messages) bad.push(name + ": " + n + " messages drawn of " + svg.dataset.messages);
		if (art && art.dataset.messages && n !== +art.dataset.messages) bad.push(name + ": " + n + " drawn, the booking has " + art.dataset.messages);
	}
	return bad.join("; ");
})()`

// TestTimelinesFitAndTellTimeInABrowser draws three long bookings (a deadline with
// seats paused, a failed sale, four notification retries) on the booking
// page, the dashboard and the compare page, at a laptop's width and a
// phone's, in steps and in time: no drawing is wider than its box, and each
// shows every message. In time, the wait before the deadline is drawn at
// least ten times as wide as a hop of a few ms.
func TestTimelinesFitAndTellTimeInABrowser(t *testing.T) {
	p, _ := startSaga(t, "-deadline", "3s")

	// Four retries for erin only, started first: they take 7.6 s.
	p.SetSwitches(`{"notification":{"fail_next":4,"user_id":"erin"}}`)
	erin := p.Book("erin", "E1")
	p.WaitFor(erin, 10*time.Second, "confirmed", func(b Booking) bool { return b.Status == "confirmed" })
	p.SetSwitches(`{"seats":{"paused":true}}`)
	gina := p.Book("gina", "G1")
	p.WaitFor(gina, 10*time.Second, "compensated at the deadline", func(b Booking) bool { return b.Status == "compensated" && b.Notified })
	time.Sleep(time.Second)
	p.SetSwitches(`{"seats":{"paused":false}}`)
	p.WaitFor(gina, 10*time.Second, "showing the late sale", func(b Booking) bool {
		return slices.Contains(eventTypes(b), "LateMessageNeutralised")
	})
	p.SetSwitches(`{"seats":{"fail_rate":1}}`)
	dave := p.Book("dave", "F2")
	p.WaitFor(dave, 10*time.Second, "compensated and told", func(b Booking) bool { return b.Status == "compensated" && b.Notified })
	p.SetSwitches(`{"seats":{"fail_rate":0}}`)
	p.WaitFor(erin, 20*time.Second, "told after four retries", func(b Booking) bool { return b.Notified })
	p.Settled(10 * time.Second)

	want := map[string]int{}
	for _, id := range []string{gina, dave, erin} {
		want[id] = len(p.Get(id).Events)
	}
	if want[gina] != 9 {
		t.Errorf("the deadline booking has %d messages, want 9: %v", want[gina], eventTypes(p.Get(gina)))
	}
	if n := countType(p.Get(erin), "NotificationRetry"); n != 4 {
		t.Errorf("erin's booking has %d retries, want 4", n)
	}
	// The page knows each booking's count only from its drawing; give the
	// check the API's.
	mark := `(m => { for (const [id, n] of Object.entries(m)) document.querySelectorAll('[data-id="' + id + '"]').forEach(a => a.dataset.messages = n); return true })(` +
		`{"` + gina + `":` + strconv.Itoa(want[gina]) + `,"` + dave + `":` + strconv.Itoa(want[dave]) + `,"` + erin + `":` + strconv.Itoa(want[erin]) + `})`

	pages := map[string]string{
		"deadline": "/bookings/" + gina, "seats failed": "/bookings/" + dave, "retries": "/bookings/" + erin,
		"dashboard": "/", "compare": "/compare?a=" + gina + "&b=" + dave,
	}
	shotIDs := map[string]string{"deadline": gina, "seats-failed": dave, "retries": erin}
	for _, width := range []int{1400, 420} {
		ctx := mustBrowser(t, width, 1000)
		for name, path := range pages {
			for _, mode := range []string{"steps", "time"} {
				do(t, ctx, "open "+name, chromedp.Navigate(p.URL+path), chromedp.WaitReady(chromedp.CSS(`svg.timeline`)))
				do(t, ctx, "draw in "+mode, chromedp.Click(chromedp.CSS(`button[data-tl-mode="`+mode+`"]`)))
				if got := eval[string](t, ctx, `document.documentElement.dataset.tl`); got != mode {
					t.Fatalf("%s: the toggle set %q, want %q", name, got, mode)
				}
				eval[bool](t, ctx, mark)
				if bad := eval[string](t, ctx, fits); bad != "" {
					t.Errorf("%d px, %s, %s: %s", width, name, mode, bad)
				}
			}
		}
		// The choice outlives the page: time is still drawn after a reload.
		// The drawing shown: each comes wide and narrow, and the box picks.
		const shownTime = `[...document.querySelectorAll('svg.timeline[data-mode="time"]')].find(s => s.getClientRects().length > 0)`
		do(t, ctx, "reload", chromedp.Navigate(p.URL+"/bookings/"+gina))
		waitJS[bool](t, ctx, "a drawing in time is shown after a reload", `!!`+shownTime, 10*time.Second)
		x := func(typ string) float64 {
			return eval[float64](t, ctx, `(r => r.left + r.width / 2)(`+shownTime+`.querySelector('g.dot[data-type="`+typ+`"] .mark').getBoundingClientRect())`)
		}
		short, long := x("PaymentCompleted")-x("BookingCreated"), x("DeadlineExceeded")-x("PaymentCompleted")
		// A narrow drawing may go on in a row below at the long wait, which
		// it then draws at that row's start: measure from where a row's
		// first hop starts.
		if eval[bool](t, ctx, `(s => s.querySelector('g.dot[data-type="DeadlineExceeded"]').dataset.row !== s.querySelector('g.dot[data-type="PaymentCompleted"]').dataset.row)(`+shownTime+`)`) {
			start := eval[float64](t, ctx, `(s => { const r = s.getBoundingClientRect(); return r.left + (+s.querySelector('line.lane-line').getAttribute('x1') + 14) * r.width / s.width.baseVal.value })(`+shownTime+`)`)
			long = x("DeadlineExceeded") - start
		}
		if short <= 0 || long < 10*short {
			t.Errorf("%d px: in time, the wait before the deadline is %.0f px and a hop of a few ms %.0f px: want ten times at least", width, long, short)
		}
		if got := eval[string](t, ctx, shownTime+`.querySelector('.break-took')?.textContent || ""`); got == "" {
			t.Errorf("%d px: no break marks the long wait", width)
		}
		if got := eval[string](t, ctx, `document.querySelector(".why.waited")?.textContent || ""`); got == "" {
			t.Errorf("%d px: the deadline booking does not say why it waited", width)
		}
		shots(t, ctx, p, width, shotIDs)
	}
}

// shots saves the booking pages as screenshots in SAGABOARD_SHOTS, when it
// is set, in both drawings, plus a confirmed and a declined booking.
func shots(t *testing.T, ctx context.Context, p *Proc, width int, ids map[string]string) {
	dir := os.Getenv("SAGABOARD_SHOTS")
	if dir == "" {
		return
	}
	if _, ok := ids["confirmed"]; !ok {
		ok := p.Book("alice", "A1")
		p.WaitFor(ok, 10*time.Second, "confirmed and told", func(b Booking) bool { return b.Status == "confirmed" && b.Notified })
		p.SetSwitches(`{"payment":{"fail_rate":1}}`)
		no := p.Book("bob", "B1")
		p.WaitFor(no, 10*time.Second, "compensated and told", func(b Booking) bool { return b.Status == "compensated" && b.Notified })
		p.SetSwitches(`{"payment":{"fail_rate":0}}`)
		ids["confirmed"], ids["declined"] = ok, no
	}
	for name, id := range ids {
		for _, mode := range []string{"steps", "time"} {
			do(t, ctx, "open "+name, chromedp.Navigate(p.URL+"/bookings/"+id), chromedp.WaitReady(chromedp.CSS(`svg.timeline`)),
				chromedp.Click(chromedp.CSS(`button[data-tl-mode="`+mode+`"]`)), chromedp.Sleep(200*time.Millisecond))
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, name+"-"+strconv.Itoa(width)+"-"+mode+".png")
			if err := os.WriteFile(out, png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
