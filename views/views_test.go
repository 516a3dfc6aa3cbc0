package views_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

// mustRender renders c and parses it as a browser would.
func mustRender(t *testing.T, c templ.Component) (*goquery.Document, string) {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc, b.String()
}

func text(s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") }

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// ev makes an event ms milliseconds after t0.
func ev(seq int64, ms int, typ, source, queue, reason string) views.Event {
	return views.Event{Seq: seq, Type: typ, Source: source, Queue: queue, Reason: reason,
		At: t0.Add(time.Duration(ms) * time.Millisecond), ObservedAt: t0.Add(time.Duration(ms+1) * time.Millisecond),
		Payload: `{"booking": {"id": "b1"}, "reason": "` + reason + `"}`}
}

var happyEvents = []views.Event{
	ev(1, 0, "BookingCreated", "booking", "payment_queue", "held A1 A2 for alice"),
	ev(2, 2, "PaymentCompleted", "payment", "seat_update_queue", "charged 20.00"),
	ev(3, 5, "SeatsSold", "seats", "notification_queue", "sold A1 A2"),
	ev(4, 1505, "BookingNotified", "notification", "booking_notified", "Booking SUCCESS sent to user alice"),
}

var declinedEvents = []views.Event{
	ev(1, 0, "BookingCreated", "booking", "payment_queue", "held B1 for bob"),
	ev(2, 3, "PaymentServiceFailed", "payment", "compensation_queue", "declined: payment.fail_rate=1"),
	ev(3, 4, "SeatReleaseRequested", "compensation", "seat_release_queue", "release the seats"),
	ev(4, 6, "BookingCancelled", "booking", "notification_queue", "released B1, booking cancelled"),
	ev(5, 9, "BookingNotified", "notification", "booking_notified", "Booking FAIL sent to user bob"),
}

func booking(id, user, status string, events []views.Event) views.Booking {
	return views.Booking{ID: id, UserID: user, Seats: []string{"A1", "A2"}, AmountCents: 2000, Status: status,
		Notified: status != saga.StatusPending, CreatedAt: t0, UpdatedAt: t0, Events: events}
}

func TestSeatMapDisablesHeldAndSoldSeats(t *testing.T) {
	m := views.SeatMap{Known: true, PriceCents: 1000, Rows: []views.SeatRow{{Label: "A", Seats: []views.Seat{
		{ID: "A1", Status: saga.SeatFree}, {ID: "A2", Status: saga.SeatHeld, BookingID: "b1"}, {ID: "A3", Status: saga.SeatSold, BookingID: "b2"},
	}}}}
	doc, _ := mustRender(t, views.BookingForm(m))
	form := doc.Find("form#booking-form")
	if form.Length() != 1 {
		t.Fatal("no form#booking-form")
	}
	if form.Find(`input[name="user_id"]`).Length() != 1 {
		t.Error("the booking form has no user_id input")
	}
	boxes := form.Find(`input[type="checkbox"][name="seats"]`)
	if boxes.Length() != 3 {
		t.Fatalf("%d seat checkboxes, want one per seat (3)", boxes.Length())
	}
	for _, tc := range []struct {
		seat, class, title string
		disabled           bool
	}{
		{"A1", "seat-free", "free", false},
		{"A2", "seat-held", "held", true},
		{"A3", "seat-sold", "sold", true},
	} {
		box := form.Find(`input[name="seats"][value="` + tc.seat + `"]`)
		if _, disabled := box.Attr("disabled"); disabled != tc.disabled {
			t.Errorf("seat %s disabled = %v, want %v", tc.seat, disabled, tc.disabled)
		}
		label := box.Parent()
		if !label.HasClass(tc.class) {
			t.Errorf("seat %s has class %q, want %s", tc.seat, label.AttrOr("class", ""), tc.class)
		}
		if title := label.AttrOr("title", ""); !strings.Contains(title, tc.title) {
			t.Errorf("seat %s says %q, want it to say %s", tc.seat, title, tc.title)
		}
	}
	if got := text(doc.Find("#book-summary")); !strings.Contains(got, "10.00 each") {
		t.Errorf("summary = %q, want the price of a seat", got)
	}
}

func TestSwitchRowUsesTheContractsNames(t *testing.T) {
	doc, _ := mustRender(t, views.SwitchRow(views.Switch{Part: "payment", FailRate: 0.5, DelayMS: 250, Paused: true, Queue: "payment_queue"}, true))
	form := doc.Find("form#switch-payment")
	if got := form.AttrOr("hx-swap-oob", ""); got != "true" {
		t.Errorf("a live switch row has hx-swap-oob=%q", got)
	}
	if got := form.Find(`input[name="payment.fail_rate"]`).AttrOr("value", ""); got != "0.5" {
		t.Errorf("payment.fail_rate = %q, want 0.5", got)
	}
	if got := text(form.Find("output")); got != "50 %" {
		t.Errorf("the rate reads %q, want 50 %%", got)
	}
	if got := form.Find(`input[name="payment.delay_ms"]`).AttrOr("value", ""); got != "250" {
		t.Errorf("payment.delay_ms = %q", got)
	}
	if _, ok := form.Find(`input[type="checkbox"][name="payment.paused"]`).Attr("checked"); !ok {
		t.Error("a paused switch's box is not ticked")
	}
	if got := text(form.Find(".sw-pause")); got != "▶ resume" {
		t.Errorf("a paused switch offers %q, want ▶ resume", got)
	}
}

func TestQueuePanelSaysWhoWaitsWhere(t *testing.T) {
	doc, _ := mustRender(t, views.QueuePanel(views.Queues{Known: true, Err: "RabbitMQ is unreachable"}, false))
	if got := text(doc.Find(".q-err")); got != "✖ cannot read the queues: RabbitMQ is unreachable" {
		t.Errorf("queue panel reads %q", got)
	}
	doc, _ = mustRender(t, views.QueuePanel(views.Queues{Known: true, Paused: map[string]bool{"seat_update_queue": true}, List: []views.Queue{
		{Name: "payment_queue", Ready: 0, Consumers: 1},
		{Name: "seat_update_queue", Ready: 7, Unacked: 2, Consumers: 0, WaitingMore: 3, Waiting: []views.QueueWait{
			{ID: "06h1fzcjcg4e0wg8", UserID: "gus<b>", Since: t0, For: 12 * time.Second, Note: "seats paused"}}},
	}}, false))
	row := doc.Find(`tr[data-queue="seat_update_queue"]`)
	if !row.HasClass("busy") {
		t.Error("a queue with messages ready is not marked busy")
	}
	if got := text(row.Find("th")); got != "seat_update_queue paused" {
		t.Errorf("the paused queue's name reads %q", got)
	}
	if r, u, c := text(row.Find(".q-ready")), text(row.Find(".q-unacked")), text(row.Find(".q-consumers")); r != "7" || u != "2" || c != "0" {
		t.Errorf("ready/unacked/consumers = %s/%s/%s, want 7/2/0", r, u, c)
	}
	link := row.Find("a.qw")
	if href := link.AttrOr("href", ""); href != "/bookings/06h1fzcjcg4e0wg8" {
		t.Errorf("the waiting booking links to %q", href)
	}
	if got := text(link); got != "…4e0wg8 gus<b> 12 s" {
		t.Errorf("the waiting booking reads %q, want its id, user (escaped) and age", got)
	}
	if !strings.Contains(link.AttrOr("title", ""), "seats paused") {
		t.Errorf("the waiting booking's title %q does not say why it waits", link.AttrOr("title", ""))
	}
	if got := text(row.Find(".qw-more")); got != "+3 more" {
		t.Errorf("the rest read %q, want +3 more", got)
	}
	if _, ok := doc.Find(`tr[data-queue="payment_queue"]`).Attr("class"); !ok || doc.Find(`tr[data-queue="payment_queue"]`).HasClass("busy") {
		t.Error("an empty queue is marked busy")
	}
	doc, _ = mustRender(t, views.BrokerStatus(views.Broker{Known: true, Connected: false, Err: "connection refused", Since: t0}, true))
	if got := text(doc.Find("#broker")); !strings.Contains(got, "RabbitMQ unreachable since 12:00:00") {
		t.Errorf("broker reads %q", got)
	}
}

func TestDashboardHasEveryPanel(t *testing.T) {
	d := views.Dashboard{
		Page:     views.Page{Title: "sagaboard", WS: "/ws", Assets: views.Assets{CSS: "/static/app.css?v=1", JS: "/static/app.js?v=1", HTMX: "/static/htmx.min.js?v=1", HTMXWS: "/static/htmx-ext-ws.js?v=1"}},
		Stats:    views.Stats{Known: true, Total: 1204, Confirmed: 1150, Compensated: 54},
		Seats:    views.SeatMap{Known: true, Rows: []views.SeatRow{{Label: "A", Seats: []views.Seat{{ID: "A1", Status: "free"}}}}},
		Switches: []views.Switch{{Part: "payment"}, {Part: "seats"}, {Part: "notification"}},
		Filter:   views.Filter{Status: "confirmed", UserID: "alice"},
	}
	d.List = views.BookingsList{Filter: d.Filter, Limit: 50, Live: true, Items: []views.Booking{booking("b1", "alice", saga.StatusConfirmed, happyEvents)}}
	doc, _ := mustRender(t, views.DashboardPage(d))
	if got := doc.Find("[ws-connect]").AttrOr("ws-connect", ""); got != "/ws" {
		t.Errorf("ws-connect = %q", got)
	}
	if doc.Find(`[hx-ext="ws"]`).Length() != 1 {
		t.Error("the page does not load the ws extension")
	}
	if n := doc.Find("script:not([src])").Length(); n != 0 {
		t.Errorf("%d inline scripts; the CSP forbids them", n)
	}
	for _, part := range []string{"payment", "seats", "notification"} {
		if doc.Find(`input[name="`+part+`.fail_rate"]`).Length() != 1 {
			t.Errorf("no %s.fail_rate input", part)
		}
	}
	if got := text(doc.Find("#stats .ok")); got != "✔ 1,150 confirmed" {
		t.Errorf("stats read %q", got)
	}
	if doc.Find(`#booking-list[data-filter-status="confirmed"][data-filter-user="alice"]`).Length() != 1 {
		t.Error("the list does not carry its filter")
	}
	if _, ok := doc.Find(`#filter input[value="confirmed"]`).Attr("checked"); !ok {
		t.Error("the confirmed tab is not selected")
	}
	if doc.Find("#booking-b1").Length() != 1 || doc.Find("#notices").Length() != 1 || doc.Find("#dead-letters").Length() != 1 || doc.Find("#queues").Length() != 1 {
		t.Error("a panel is missing")
	}
	d.NeedToken = true
	doc, _ = mustRender(t, views.DashboardPage(d))
	if doc.Find(`form.token-form[action="/ui/token"] input[type="password"][name="token"]`).Length() != 1 {
		t.Error("a page without the token does not ask for it")
	}
}

func TestFormMessageLinksTheBooking(t *testing.T) {
	doc, _ := mustRender(t, views.FormMessage(views.FormResult{OK: true, Message: "Booked A1 for alice", BookingID: "06h1"}))
	a := doc.Find("a[data-booking-id]")
	if a.AttrOr("data-booking-id", "") != "06h1" || a.AttrOr("href", "") != "/bookings/06h1" {
		t.Errorf("link = %q %q", a.AttrOr("data-booking-id", ""), a.AttrOr("href", ""))
	}
	doc, _ = mustRender(t, views.FormMessage(views.FormResult{Message: "seat A2 is held — pick another seat"}))
	if got := text(doc.Find(".msg-line.error")); got != "✖ seat A2 is held — pick another seat" {
		t.Errorf("error reads %q", got)
	}
}
