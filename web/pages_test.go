package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

func TestDashboardShowsBookingsSeatsAndEscapesUsers(t *testing.T) {
	h := mustServe(t, "")
	evil := `<script>alert("x")</script>`
	b, err := h.Booking.Create(context.Background(), evil, []string{"B2"})
	if err != nil {
		t.Fatal(err)
	}
	res, body := h.get("/")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	doc := parse(t, body)
	card := doc.Find("#booking-" + b.ID)
	if card.AttrOr("data-status", "") != "pending" {
		t.Errorf("booking %s on the page: data-status %q", b.ID, card.AttrOr("data-status", ""))
	}
	if got := card.Find(".b-user").Text(); got != evil {
		t.Errorf("the user reads %q", got)
	}
	if n := doc.Find("script:not([src])").Length(); n != 0 {
		t.Errorf("the hostile user id became %d scripts", n)
	}
	if _, ok := doc.Find(`input[name="seats"][value="B2"]`).Attr("disabled"); !ok {
		t.Error("the held seat B2 can be picked")
	}
	if _, ok := doc.Find(`input[name="seats"][value="B3"]`).Attr("disabled"); ok {
		t.Error("the free seat B3 cannot be picked")
	}
	if n := doc.Find(`#seatmap input[name="seats"]`).Length(); n != 12 {
		t.Errorf("%d seats on a 3x4 venue", n)
	}
	if got := squash(doc.Find("#stats .wait").Text()); got != "● 1 pending" {
		t.Errorf("the header reads %q", got)
	}
}

func TestBookingPageAndNotFound(t *testing.T) {
	h := mustServe(t, "")
	b, err := h.Booking.Create(context.Background(), "dora", []string{"C1"})
	if err != nil {
		t.Fatal(err)
	}
	res, body := h.get("/bookings/" + b.ID)
	doc := parse(t, body)
	if res.StatusCode != http.StatusOK || doc.Find("article#booking-"+b.ID).AttrOr("data-status", "") != "pending" {
		t.Fatalf("GET /bookings/%s: %d", b.ID, res.StatusCode)
	}
	if got := doc.Find("[ws-connect]").AttrOr("ws-connect", ""); got != "/ws?booking="+b.ID {
		t.Errorf("the page listens on %q", got)
	}
	if got := squash(doc.Find(".summary").Text()); !strings.HasPrefix(got, "In progress: waiting in payment_queue") {
		t.Errorf("summary = %q", got)
	}
	res, body = h.get("/bookings/nope")
	if res.StatusCode != http.StatusNotFound || !strings.Contains(body, "There is no booking nope here.") {
		t.Errorf("unknown booking: %d", res.StatusCode)
	}
	if res, _ := h.get("/no/such/page"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown page: %d", res.StatusCode)
	}
}

func TestFilterFragmentKeepsTheFilterInTheAddress(t *testing.T) {
	h := mustServe(t, "")
	ctx := context.Background()
	a, _ := h.Booking.Create(ctx, "ann", []string{"A1"})
	h.Booking.Create(ctx, "ben", []string{"A2"})
	res, body := h.get("/ui/bookings?status=pending&user_id=ann")
	if got := res.Header.Get("HX-Push-Url"); got != "/?status=pending&user_id=ann" {
		t.Errorf("HX-Push-Url = %q", got)
	}
	doc := parse(t, body)
	if n := doc.Find("article.booking").Length(); n != 1 || doc.Find("#booking-"+a.ID).Length() != 1 {
		t.Errorf("filtered list has %d bookings, want only ann's", n)
	}
	if doc.Find(`#booking-list[data-filter-user="ann"][data-filter-status="pending"]`).Length() != 1 {
		t.Error("the list does not carry its filter for live updates")
	}
}

func TestStaticFilesAreCachedByContentHash(t *testing.T) {
	h := mustServe(t, "")
	_, body := h.get("/")
	href := parse(t, body).Find(`link[rel="stylesheet"]`).AttrOr("href", "")
	if !strings.HasPrefix(href, "/static/app.css?v=") {
		t.Fatalf("stylesheet link = %q", href)
	}
	res, css := h.get(href)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Errorf("GET %s: %d %q %q", href, res.StatusCode, res.Header.Get("Cache-Control"), res.Header.Get("Content-Type"))
	}
	if !strings.Contains(css, ".seat") {
		t.Error("the stylesheet is not the dashboard's")
	}
	if res, _ := h.get("/static/app.css?v=old"); res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("a stale version is cached for good: %q", res.Header.Get("Cache-Control"))
	}
	for _, name := range []string{"app.js", "htmx.min.js", "htmx-ext-ws.js"} {
		if res, _ := h.get("/static/" + name); res.StatusCode != http.StatusOK {
			t.Errorf("GET /static/%s: %d", name, res.StatusCode)
		}
	}
	if res, _ := h.get("/static/static.go"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /static/static.go: %d, want 404", res.StatusCode)
	}
}

// TestLiveFeedSendsASnapshotThenDeltas connects as the page does and
// watches a booking and its seats arrive without asking.
func TestLiveFeedSendsASnapshotThenDeltas(t *testing.T) {
	h := mustServe(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialLive(t, ctx, h)
	_, snap, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	doc := parse(t, string(snap))
	for _, id := range []string{"seat-states", "stats", "queues", "broker", "notices", "dead-letters", "switch-payment"} {
		if doc.Find("#"+id).Length() != 1 {
			t.Errorf("the snapshot has no #%s", id)
		}
	}

	b, err := h.Booking.Create(ctx, "erin", []string{"C3"})
	if err != nil {
		t.Fatal(err)
	}
	sawBooking, sawSeat := false, false
	for !sawBooking || !sawSeat {
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for the booking and its seat: %v", err)
		}
		doc := parse(t, string(msg))
		if card := doc.Find(`[hx-swap-oob="afterbegin:#booking-list"] #booking-` + b.ID); card.Length() == 1 {
			sawBooking = card.AttrOr("data-status", "") == "pending"
		}
		if seat := doc.Find("#seat-C3"); seat.Length() == 1 {
			_, disabled := seat.Find("input").Attr("disabled")
			sawSeat = seat.HasClass("seat-held") && disabled
		}
		if letters, ok := doc.Find("#seat-states").Attr("data-states"); ok {
			sawSeat = sawSeat || letterOf(t, h, letters, "C3") == 'h'
		}
	}
	// A frame redraws only the seats that changed, not the whole map: each
	// on its own, or every seat's state as one letter, whichever is smaller
	// (in this small venue, the letters win for two seats).
	venue, err := h.Booking.Seats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]byte{}
	for _, st := range venue {
		before[st.ID] = st.Status[0]
	}
	if _, err := h.Booking.Create(ctx, "erin", []string{"A1", "B2"}); err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{}
	for len(held) < 2 {
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for seats A1 and B2: %v", err)
		}
		doc := parse(t, string(msg))
		if doc.Find("#seatmap").Length() > 0 {
			t.Fatal("a frame sent the whole seat map again for one booking's two seats")
		}
		if letters, ok := doc.Find("#seat-states").Attr("data-states"); ok {
			if len(letters) != len(venue) {
				t.Fatalf("the seat letters cover %d seats, the venue has %d", len(letters), len(venue))
			}
			for i, st := range venue {
				switch {
				case st.ID == "A1" || st.ID == "B2":
					if letters[i] == 'h' {
						held["seat-"+st.ID] = true
					}
				case letters[i] != before[st.ID]:
					t.Errorf("the seat letters changed %s from %c to %c, which did not change", st.ID, before[st.ID], letters[i])
				}
			}
		}
		doc.Find(`[id^="seat-"]:not(#seat-states)`).Each(func(_ int, s *goquery.Selection) {
			id := s.AttrOr("id", "")
			if id != "seat-A1" && id != "seat-B2" {
				t.Errorf("a frame redrew %s, which did not change", id)
			}
			if s.HasClass("seat-held") {
				held[id] = true
			}
		})
	}
}

// letterOf is seat id's letter in a frame's seat letters, which follow the
// venue's order.
func letterOf(t *testing.T, h *harness, letters, id string) byte {
	t.Helper()
	venue, err := h.Booking.Seats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != len(venue) {
		t.Fatalf("the seat letters cover %d seats, the venue has %d", len(letters), len(venue))
	}
	for i, st := range venue {
		if st.ID == id {
			return letters[i]
		}
	}
	t.Fatalf("no seat %s in the venue", id)
	return 0
}
