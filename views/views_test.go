package views_test

import (
	"bytes"
	"context"
	"github.com/sagaboard/sagaboard/services/saga"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
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

func TestBookingCardShowsTheOutcomeInWordsAndSymbols(t *testing.T) {
	for _, tc := range []struct {
		status, want string
		events       []views.Event
	}{
		{saga.StatusConfirmed, "✔ confirmed", happyEvents},
		{saga.StatusCompensated, "✖ compensated", declinedEvents},
		{saga.StatusPending, "● pending", happyEvents[:2]},
	} {
		b := booking("06h1abc", "alice", tc.status, tc.events)
		doc, _ := mustRender(t, views.BookingCard(b))
		art := doc.Find("article#booking-06h1abc")
		if art.Length() != 1 {
			t.Fatalf("%s: no article#booking-06h1abc", tc.status)
		}
		if got := art.AttrOr("data-status", ""); got != tc.status {
			t.Errorf("data-status = %q, want %q", got, tc.status)
		}
		if got := text(art.Find(".outcome")); got != tc.want {
			t.Errorf("%s: outcome reads %q, want %q", tc.status, got, tc.want)
		}
		if got := text(art.Find(".b-seats")); got != "A1 A2" {
			t.Errorf("seats read %q", got)
		}
		if href := art.Find("a.b-id").AttrOr("href", ""); href != "/bookings/06h1abc" {
			t.Errorf("the booking links to %q", href)
		}
	}
}

func TestHostileUserIDAndPayloadAreShownAsText(t *testing.T) {
	evil := `<script>alert(1)</script>`
	events := []views.Event{ev(1, 0, "BookingCreated", "booking", "payment_queue", `<img src=x onerror=alert(2)>`)}
	events[0].Payload = `{"user_id": "<script>alert(3)</script>"}`
	b := booking("b1", evil, saga.StatusPending, events)
	for name, c := range map[string]templ.Component{
		"card":   views.BookingCard(b),
		"detail": views.BookingDetail(b),
		"notice": views.NoticesPanel(views.Notices{Known: true, List: []views.Notice{{BookingID: `"><script>x</script>`, UserID: evil, Text: evil}}}, false),
		"dead":   views.DeadLettersPanel(views.DeadLetters{Known: true, List: []views.DeadLetter{{ID: "d1", Queue: evil, Reason: evil, Body: evil}}}, false),
	} {
		doc, html := mustRender(t, c)
		if n := doc.Find("script, img").Length(); n != 0 {
			t.Errorf("%s: hostile text became %d elements:\n%s", name, n, html)
		}
		if !strings.Contains(doc.Text(), "<script>") {
			t.Errorf("%s: the hostile text is not shown as text", name)
		}
	}
	doc, _ := mustRender(t, views.BookingCard(b))
	if got := text(doc.Find(".b-user")); got != evil {
		t.Errorf("user reads %q, want the id exactly as given", got)
	}
	if got := doc.Find("article").AttrOr("data-user", ""); got != evil {
		t.Errorf("data-user = %q, want the id exactly as given", got)
	}
	doc, _ = mustRender(t, views.BookingDetail(b))
	if got := doc.Find("details pre").Text(); !strings.Contains(got, `"<script>alert(3)</script>"`) {
		t.Errorf("payload reads %q, want the hostile payload as text", got)
	}
}

func TestCompensationPathIsMarked(t *testing.T) {
	b := booking("b2", "bob", saga.StatusCompensated, declinedEvents)
	doc, _ := mustRender(t, views.BookingCard(b))
	dots := doc.Find("svg.timeline g.dot")
	if dots.Length() != len(declinedEvents) {
		t.Fatalf("%d dots, want one per message (%d)", dots.Length(), len(declinedEvents))
	}
	undo := map[string]bool{}
	dots.Each(func(_ int, g *goquery.Selection) { undo[g.AttrOr("data-type", "")] = g.HasClass("undo") })
	for typ, want := range map[string]bool{
		"BookingCreated": false, "PaymentServiceFailed": true, "SeatReleaseRequested": true,
		"BookingCancelled": true, "BookingNotified": true,
	} {
		if undo[typ] != want {
			t.Errorf("%s on the compensation path = %v, want %v", typ, undo[typ], want)
		}
	}
	failed := doc.Find(`g.dot[data-type="PaymentServiceFailed"]`)
	if !failed.HasClass("k-failure") || failed.AttrOr("data-lane", "") != "payment" {
		t.Errorf("the failure is drawn as %q in lane %q, want k-failure in payment", failed.AttrOr("class", ""), failed.AttrOr("data-lane", ""))
	}
	if got := text(failed.Find(".dot-label")); got != "declined" {
		t.Errorf("failure label = %q", got)
	}
	if n := doc.Find("path.hop.undo").Length(); n != 4 {
		t.Errorf("%d dashed undo lines, want 4 (into the failure, two undos, the notice)", n)
	}
	// The fixture's failure carries no injected flag, so it reads as real.
	if got := text(doc.Find(".why")); got != "real failure declined: payment.fail_rate=1" {
		t.Errorf("why = %q, want the failure's reason marked real", got)
	}
	injected := slices.Clone(b.Events)
	injected[1].Injected = true
	b.Events = injected
	doc, _ = mustRender(t, views.BookingCard(b))
	if got := text(doc.Find(".why .fault")); got != "⚡ injected" {
		t.Errorf("an injected failure is marked %q, want ⚡ injected", got)
	}
	// The forward path of a happy booking has no undo at all.
	doc, _ = mustRender(t, views.BookingCard(booking("b1", "alice", saga.StatusConfirmed, happyEvents)))
	if n := doc.Find(".undo").Length(); n != 0 {
		t.Errorf("a confirmed booking has %d undo marks", n)
	}
}

func TestPivotHopTimesAndLanes(t *testing.T) {
	doc, _ := mustRender(t, views.BookingCard(booking("b1", "alice", saga.StatusConfirmed, happyEvents)))
	pivot := doc.Find(`g.dot[data-type="SeatsSold"]`)
	if !pivot.HasClass("k-pivot") || !strings.Contains(text(pivot.Find(".dot-label")), "pivot") {
		t.Errorf("SeatsSold is not marked as the pivot: class %q label %q", pivot.AttrOr("class", ""), text(pivot.Find(".dot-label")))
	}
	if doc.Find("line.pivot-line").Length() != 1 {
		t.Error("no pivot line across the lanes")
	}
	var took []string
	doc.Find("text.took").Each(func(_ int, s *goquery.Selection) { took = append(took, s.Text()) })
	if want := []string{"start", "+2 ms", "+3 ms", "+1.5 s"}; strings.Join(took, "|") != strings.Join(want, "|") {
		t.Errorf("hop times = %v, want %v", took, want)
	}
	var lanes []string
	doc.Find("text.lane-name").Each(func(_ int, s *goquery.Selection) { lanes = append(lanes, s.Text()) })
	if strings.Join(lanes, " ") != "booking payment seats compensation notification" {
		t.Errorf("lanes = %v", lanes)
	}
	lane := map[string]string{}
	doc.Find("g.dot").Each(func(_ int, g *goquery.Selection) { lane[g.AttrOr("data-type", "")] = g.AttrOr("data-lane", "") })
	if lane["PaymentCompleted"] != "payment" || lane["SeatsSold"] != "seats" || lane["BookingNotified"] != "notification" {
		t.Errorf("each hop should sit in its sender's lane: %v", lane)
	}
	if got := text(doc.Find(".b-total")); got != "1.5 s" {
		t.Errorf("total = %q, want 1.5 s", got)
	}
	if got := text(doc.Find(".why")); got != "Booking SUCCESS sent to user alice" {
		t.Errorf("why = %q, want what the user was told", got)
	}
}

func TestRetriesShowAsOneDotWithACount(t *testing.T) {
	events := append([]views.Event{}, happyEvents[:3]...)
	for i := range 3 {
		e := ev(int64(4+i), 10+100*i, "NotificationRetry", "notification", "notification_retry_100ms", "send failed: notification.fail_rate=1")
		e.Attempt = i + 1
		events = append(events, e)
	}
	b := booking("b1", "alice", saga.StatusConfirmed, events)
	b.Notified = false
	doc, _ := mustRender(t, views.BookingCard(b))
	retry := doc.Find("g.dot.k-retry")
	if retry.Length() != 1 {
		t.Fatalf("%d retry dots, want the three retries as one", retry.Length())
	}
	if got := text(retry.Find(".dot-label")); got != "retry ×3" {
		t.Errorf("retry label = %q, want retry ×3", got)
	}
	if retry.HasClass("undo") {
		t.Error("a retry after the pivot is drawn as an undo")
	}
	if got := text(doc.Find(".told")); got != "✉ not yet" {
		t.Errorf("told = %q", got)
	}
	doc, _ = mustRender(t, views.BookingDetail(b))
	if got := text(doc.Find(".summary")); !strings.Contains(got, "failed 3 times so far") {
		t.Errorf("summary = %q, want the retries counted", got)
	}
}

func TestBookingDetailExplainsEveryMessage(t *testing.T) {
	b := booking("b2", "bob", saga.StatusCompensated, declinedEvents)
	doc, _ := mustRender(t, views.BookingDetail(b))
	items := doc.Find("ol.events > li")
	if items.Length() != len(declinedEvents) {
		t.Fatalf("%d messages listed, want %d", items.Length(), len(declinedEvents))
	}
	items.Each(func(i int, li *goquery.Selection) {
		e := declinedEvents[i]
		if got := text(li.Find(".ev-type")); got != e.Type {
			t.Errorf("message %d is %q, want %q", i+1, got, e.Type)
		}
		if got := text(li.Find(".ev-lane")); got != e.Source {
			t.Errorf("message %d lane %q, want %q", i+1, got, e.Source)
		}
		if li.Find(".ev-meaning").Text() != views.Meaning(e.Type) || strings.Contains(views.Meaning(e.Type), "does not know") {
			t.Errorf("message %d (%s) has no plain explanation", i+1, e.Type)
		}
		if pre := li.Find("details pre").Text(); !strings.Contains(pre, e.Reason) {
			t.Errorf("message %d payload %q does not hold its reason", i+1, pre)
		}
		if li.HasClass("undo") != views.Compensation(e.Type) {
			t.Errorf("message %d (%s) undo mark = %v", i+1, e.Type, li.HasClass("undo"))
		}
	})
	if got := text(doc.Find(".summary")); !strings.HasPrefix(got, "Compensated: a step failed (declined: payment.fail_rate=1)") {
		t.Errorf("summary = %q", got)
	}
	if got := doc.Find("article").AttrOr("data-status", ""); got != "compensated" {
		t.Errorf("data-status = %q", got)
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
		Bookings: []views.Booking{booking("b1", "alice", saga.StatusConfirmed, happyEvents)},
		Filter:   views.Filter{Status: "confirmed", UserID: "alice"}, ListLimit: 50,
	}
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

// A booking says where it waits: a pending one instead of a reason, a
// decided one whose user is not told yet under its reason, so the reason
// (and whether a switch caused it) stays in sight while notification fails.
func TestCardSaysWhereABookingWaits(t *testing.T) {
	b := booking("b3", "gus", saga.StatusPending, happyEvents[:2])
	b.Waiting = &views.Waiting{Queue: "seat_update_queue", Since: t0, For: 12 * time.Second, Note: "seats paused"}
	doc, _ := mustRender(t, views.BookingCard(b))
	if got := text(doc.Find(".why")); got != "● waiting in seat_update_queue for 12 s — seats paused" {
		t.Errorf("a pending booking reads %q", got)
	}
	if got := doc.Find(".why .since").AttrOr("data-since", ""); got != views.Stamp(t0) {
		t.Errorf("the age ticks from %q, want %s", got, views.Stamp(t0))
	}
	d := booking("b4", "dave", saga.StatusCompensated, slices.Clone(declinedEvents))
	d.Events[1].Injected = true
	d.Notified = false
	d.Waiting = &views.Waiting{Queue: "notification_retry_2s", Since: t0, For: 3 * time.Second, Note: "retry 3 of 40 for notification"}
	doc, _ = mustRender(t, views.BookingCard(d))
	lines := doc.Find(".why")
	if lines.Length() != 2 {
		t.Fatalf("%d .why lines for a compensated booking not told yet, want the reason and where it waits", lines.Length())
	}
	if got := text(lines.First()); got != "⚡ injected declined: payment.fail_rate=1" {
		t.Errorf("the reason reads %q", got)
	}
	if got := text(lines.Last()); got != "● waiting in notification_retry_2s for 3 s — retry 3 of 40 for notification" {
		t.Errorf("the waiting line reads %q", got)
	}
}
