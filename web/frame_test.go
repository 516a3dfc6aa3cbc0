package web_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/coder/websocket"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

// maxFirstFrame is what a dashboard's first WebSocket frame may weigh for a
// 100×100 venue: it used to draw the whole seat map again, 1.9 MB.
const maxFirstFrame = 200 << 10

// dialLive opens the dashboard's WebSocket as the page does, with no limit
// on a frame's size; it is closed when the test ends.
func dialLive(t *testing.T, ctx context.Context, h *harness) *websocket.Conn {
	t.Helper()
	wsURL := "ws" + strings.TrimPrefix(h.URL, "http") + "/ws"
	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {h.URL}}})
	if err != nil {
		t.Fatalf("dial %s: %v", wsURL, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetReadLimit(-1)
	return c
}

// firstFrame opens the dashboard's WebSocket and returns its first frame.
func firstFrame(t *testing.T, h *harness) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialLive(t, ctx, h)
	defer c.CloseNow() // a test may open many
	_, frame, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return frame
}

func TestFirstFrameOfABigVenueIsSmall(t *testing.T) {
	h := mustServeVenue(t, "", saga.Venue{Rows: 100, Cols: 100})
	ctx := context.Background()
	// Half the venue held, ten seats a booking, so the frame carries the
	// newest bookings as well as the seats.
	for r := range 50 {
		for c := 0; c < 100; c += 10 {
			seats := make([]string, 10)
			for i := range seats {
				seats[i] = saga.SeatID(r, c+i)
			}
			if _, err := h.Booking.Create(ctx, "alice", seats); err != nil {
				t.Fatal(err)
			}
		}
	}
	frame := firstFrame(t, h)
	var whole bytes.Buffer
	seats, err := h.Booking.Seats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := views.SeatMap{Known: true}
	for _, s := range seats {
		if label := strings.TrimRight(s.ID, "0123456789"); len(m.Rows) == 0 || m.Rows[len(m.Rows)-1].Label != label {
			m.Rows = append(m.Rows, views.SeatRow{Label: label})
		}
		row := &m.Rows[len(m.Rows)-1]
		row.Seats = append(row.Seats, views.Seat{ID: s.ID, Status: s.Status, BookingID: s.BookingID})
	}
	_ = views.SeatMapView(m).Render(ctx, &whole)
	t.Logf("first frame for a 100×100 venue, 5,000 seats held by 500 bookings: %d bytes (the seat map drawn whole, as it was sent before: %d bytes)", len(frame), whole.Len())
	if len(frame) > maxFirstFrame {
		t.Errorf("the first frame is %d bytes, want at most %d", len(frame), maxFirstFrame)
	}
	doc := parse(t, string(frame))
	st := doc.Find("#seat-states")
	states := st.AttrOr("data-states", "")
	if len(states) != 10000 || strings.Count(states, "h") != 5000 || strings.Count(states, "f") != 5000 || states[0] != 'h' || states[9999] != 'f' {
		t.Errorf("the seat states are %d letters, %d held; want 10,000 with the first 5,000 held", len(states), strings.Count(states, "h"))
	}
	if got := st.AttrOr("data-title-held", ""); got != "seat {id}: held by a booking in flight" {
		t.Errorf("a held seat's title is %q", got)
	}
	// The page the frame lands on has the seats to set, and the slot.
	_, page := h.get("/")
	pd := parse(t, page)
	if pd.Find("#seatmap .seat").Length() != 10000 || pd.Find("#seat-states").Length() != 1 {
		t.Errorf("the page has %d seats and %d #seat-states", pd.Find("#seatmap .seat").Length(), pd.Find("#seat-states").Length())
	}
	if n := doc.Find(`[hx-swap-oob="afterbegin:#booking-list"] > article.booking`).Length(); n == 0 {
		t.Error("the first frame brings no bookings")
	}
}

// TestAFloodOfSeatsIsSentAsLetters: in a big venue one booking's seat is
// redrawn on its own, and a flood of them, between two frames, as one
// letter per seat, a fraction of the seats one by one.
func TestAFloodOfSeatsIsSentAsLetters(t *testing.T) {
	h := mustServeVenue(t, "", saga.Venue{Rows: 100, Cols: 100})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialLive(t, ctx, h)
	if _, _, err := c.Read(ctx); err != nil { // the snapshot
		t.Fatal(err)
	}
	// next reads frames until one draws seat; it returns that frame.
	next := func(seat string) *goquery.Document {
		t.Helper()
		for {
			_, msg, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("waiting for a frame with %s: %v", seat, err)
			}
			doc := parse(t, string(msg))
			if doc.Find("#seat-"+seat).Length() > 0 || doc.Find("#seat-states").Length() > 0 {
				return doc
			}
		}
	}
	if _, err := h.Booking.Create(ctx, "alice", []string{"A1"}); err != nil {
		t.Fatal(err)
	}
	doc := next("A1")
	if doc.Find("#seat-states").Length() != 0 || !doc.Find("#seat-A1").HasClass("seat-held") {
		t.Fatalf("one seat held in a 10,000-seat venue was not redrawn on its own")
	}
	// 300 seats held at once, within one frame: in one transaction each
	// booking of ten, all before the next frame is drawn.
	var seats []string
	for i := range 30 {
		ten := make([]string, 10)
		for j := range ten {
			ten[j] = saga.SeatID(10+i/10, (i%10)*10+j)
		}
		seats = append(seats, ten...)
		if _, err := h.Booking.Create(ctx, "bob", ten); err != nil {
			t.Fatal(err)
		}
	}
	held, asLetters := 0, false
	for held < len(seats) {
		doc = next(seats[0])
		letters := doc.Find("#seat-states").AttrOr("data-states", "")
		if letters == "" {
			// The frame came mid-flood: its seats are on their own.
			held += doc.Find(".seat-held").Length()
			continue
		}
		if len(letters) != 10000 {
			t.Fatalf("the seat letters cover %d seats, want 10,000", len(letters))
		}
		asLetters = true
		held = strings.Count(letters, "h") - 1 // A1 is held too
		var each bytes.Buffer
		for _, id := range seats {
			_ = views.SeatView(views.Seat{ID: id, Status: saga.SeatHeld}, true).Render(ctx, &each)
		}
		if html, _ := goquery.OuterHtml(doc.Find("#seat-states")); len(html) > each.Len()/4 {
			t.Errorf("every seat as a letter weighs %d bytes, want under a quarter of the %d of these seats one by one", len(html), each.Len())
		}
	}
	if !asLetters {
		t.Error("300 seats held within a few frames were each sent on their own, never as letters")
	}
}
