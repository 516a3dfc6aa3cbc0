package main_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// mustBookMany posts n one-seat bookings through the API, eight at a time,
// the switches off, and returns their ids sorted oldest first.
func mustBookMany(t *testing.T, p *Proc, n, cols int) []string {
	t.Helper()
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace"}
	ids := make([]string, n)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				var out struct {
					ID string `json:"id"`
				}
				body := map[string]any{"user_id": users[i%len(users)], "seats": []string{rowLabel(i/cols) + strconv.Itoa(i%cols+1)}}
				if code := p.Do("POST", "/api/bookings", body, &out); code != http.StatusAccepted {
					t.Errorf("booking %d: %d", i, code)
				}
				ids[i] = out.ID
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	slices.Sort(ids)
	return ids
}

// TestBookingsListInABrowser is issue 12: with 2,000 bookings the dashboard
// is a short page of rows, a search by id prefix finds one, paging back
// reaches the oldest, and a booking made in the form is shown above the
// fold and followed until it is decided.
func TestBookingsListInABrowser(t *testing.T) {
	const rows, cols, n = 50, 41, 2000
	p, _ := startSaga(t, "-rows", strconv.Itoa(rows), "-cols", strconv.Itoa(cols))
	ids := mustBookMany(t, p, n, cols)
	p.Settled(60 * time.Second)

	ctx := mustBrowser(t, 1400, 1000)
	openDashboard(t, ctx, p.URL+"/")
	h := eval[int](t, ctx, `document.documentElement.scrollHeight`)
	t.Logf("with %d bookings the dashboard's first paint is %d px tall", n, h)
	if h >= 4000 {
		t.Errorf("the dashboard is %d px tall with %d bookings, want under 4,000", h, n)
	}
	if got := eval[int](t, ctx, `document.querySelectorAll("#booking-list > article.row[data-status]").length`); got != 50 {
		t.Errorf("the list shows %d rows, want the newest 50", got)
	}
	// A row opens in place into its timeline.
	newest := ids[n-1]
	do(t, ctx, "open the newest row", chromedp.Click(chromedp.CSS(`#booking-`+newest+` summary`)))
	if got := eval[int](t, ctx, `document.querySelectorAll("#booking-`+newest+` details[open] svg.timeline g.dot").length`); got < 4 {
		t.Errorf("the open row draws %d dots, want its whole timeline", got)
	}
	shot(t, ctx, "list-1400.png")

	// Search by the start of an id in the middle of the list.
	target := ids[n/2]
	prefix := target[:13]
	do(t, ctx, "search for "+prefix, chromedp.SendKeys(chromedp.CSS(`#filter-q`), prefix))
	waitJS[bool](t, ctx, "the search finds "+target,
		`!!document.querySelector("#booking-`+target+`") && [...document.querySelectorAll("#booking-list > article")].every(a => a.dataset.id.startsWith("`+prefix+`"))`, 10*time.Second)
	if got := eval[string](t, ctx, `location.search`); got != "?q="+prefix {
		t.Errorf("the address says %q after a search", got)
	}
	shot(t, ctx, "search-1400.png")

	// Page back from the newest to the oldest.
	openDashboard(t, ctx, p.URL+"/")
	pages := 1
	for eval[bool](t, ctx, `!!document.querySelector("#page-older")`) {
		last := eval[string](t, ctx, `document.querySelector("#booking-list").lastElementChild.dataset.id`)
		do(t, ctx, "go to an older page", chromedp.Click(chromedp.CSS(`#page-older`)))
		waitJS[bool](t, ctx, "the older page is drawn",
			`(f => f && f.dataset.id < "`+last+`")(document.querySelector("#booking-list").firstElementChild)`, 10*time.Second)
		if pages++; pages > n/50+2 {
			t.Fatalf("still paging after %d pages", pages)
		}
	}
	if got := eval[string](t, ctx, `document.querySelector("#booking-list").lastElementChild.dataset.id`); got != ids[0] {
		t.Errorf("the last page ends with %s, want the oldest %s", got, ids[0])
	}
	if pages != n/50 {
		t.Errorf("%d pages of 50 for %d bookings", pages, n)
	}
	// The page back is still: a new booking does not join it.
	before := eval[string](t, ctx, `[...document.querySelectorAll("#booking-list > article")].map(a => a.id).join()`)
	fresh := p.Book("heidi", "AX1")
	p.WaitFor(fresh, 10*time.Second, "confirmed", func(b Booking) bool { return b.Status == "confirmed" })
	time.Sleep(500 * time.Millisecond)
	if after := eval[string](t, ctx, `[...document.querySelectorAll("#booking-list > article")].map(a => a.id).join()`); after != before {
		t.Error("a new booking changed an older page")
	}
	do(t, ctx, "go to a newer page", chromedp.Click(chromedp.CSS(`#page-newer`)))
	waitJS[bool](t, ctx, "the newer page is drawn", `document.querySelector("#booking-list").lastElementChild.dataset.id > "`+ids[49]+`"`, 10*time.Second)

	// A booking made in the form shows beside the form, above the fold,
	// and is followed there until it is decided.
	openDashboard(t, ctx, p.URL+"/")
	mine := book(t, ctx, "ivan", "AX2")
	waitJS[bool](t, ctx, "your booking is followed to its end",
		`(m => m && !m.hidden && m.dataset.status === "confirmed" && m.querySelector(".outcome").textContent.includes("confirmed"))(document.querySelector("#mine"))`, 10*time.Second)
	if got := eval[string](t, ctx, `document.querySelector("#mine a.b-id").getAttribute("href")`); got != "/bookings/"+mine {
		t.Errorf("your booking links %s, want %s", got, mine)
	}
	if top := eval[float64](t, ctx, `document.querySelector("#mine").getBoundingClientRect().top`); top > 1000-60 {
		t.Errorf("your booking starts %.0f px down a 1,000 px window: below the fold", top)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("[id=booking-`+mine+`]").length`); n != 1 {
		t.Errorf("%d elements have the id booking-%s, want 1", n, mine)
	}
	shot(t, ctx, "mine-1400.png")
}

// shot saves a screenshot under $SAGABOARD_SHOTS, when set.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("SAGABOARD_SHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestListScreenshots draws the Bookings panel of a running server
// ($SAGABOARD_SHOTS_URL), whole and searched, at a laptop's width and a
// phone's, into $SAGABOARD_SHOTS. It runs only when both are set.
func TestListScreenshots(t *testing.T) {
	base := os.Getenv("SAGABOARD_SHOTS_URL")
	if base == "" || os.Getenv("SAGABOARD_SHOTS") == "" {
		t.Skip("set SAGABOARD_SHOTS_URL and SAGABOARD_SHOTS to draw the list")
	}
	for _, width := range []int{1400, 420} {
		ctx := mustBrowser(t, width, 1000)
		for name, path := range map[string]string{"list": "/", "search": "/?q=zoe"} {
			openDashboard(t, ctx, base+path)
			do(t, ctx, "show the list", chromedp.ScrollIntoView(chromedp.CSS(`#h-bookings`)), chromedp.Sleep(300*time.Millisecond))
			shot(t, ctx, name+"-"+strconv.Itoa(width)+".png")
		}
	}
}
