package views_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

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
	dots := doc.Find(`svg.timeline[data-mode="steps"][data-width="wide"] g.dot`)
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
	failed := doc.Find(`svg[data-mode="steps"][data-width="wide"] g.dot[data-type="PaymentServiceFailed"]`)
	if !failed.HasClass("k-failure") || failed.AttrOr("data-lane", "") != "payment" {
		t.Errorf("the failure is drawn as %q in lane %q, want k-failure in payment", failed.AttrOr("class", ""), failed.AttrOr("data-lane", ""))
	}
	if got := text(failed.Find(".dot-label")); got != "declined" {
		t.Errorf("failure label = %q", got)
	}
	if n := doc.Find(`svg[data-mode="steps"][data-width="wide"] path.hop.undo`).Length(); n != 4 {
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
	page, _ := mustRender(t, views.BookingCard(booking("b1", "alice", saga.StatusConfirmed, happyEvents)))
	doc := page.Find(`svg[data-mode="steps"][data-width="wide"]`)
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
	if got := text(page.Find(".b-total")); got != "1.5 s" {
		t.Errorf("total = %q, want 1.5 s", got)
	}
	if got := text(page.Find(".why")); got != "Booking SUCCESS sent to user alice" {
		t.Errorf("why = %q, want what the user was told", got)
	}
}

// A few retries are drawn dot by dot, each at its own time, so their
// real times show; a long run is one dot with its count and its span.
func TestRetriesShowTheirRealTimes(t *testing.T) {
	retries := func(n int) []views.Event {
		events := append([]views.Event{}, happyEvents[:3]...)
		for i := range n {
			e := ev(int64(4+i), 10+700*i, "NotificationRetry", "notification", "notification_retry_500ms", "send failed: notification.fail_rate=1")
			e.Attempt = i + 1
			events = append(events, e)
		}
		return events
	}
	b := booking("b1", "alice", saga.StatusConfirmed, retries(3))
	b.Notified = false
	doc, _ := mustRender(t, views.BookingCard(b))
	steps := doc.Find(`svg[data-mode="steps"][data-width="wide"]`)
	retry := steps.Find("g.dot.k-retry")
	if retry.Length() != 3 {
		t.Fatalf("%d retry dots, want one per retry", retry.Length())
	}
	var took []string
	retry.Find("text.took").Each(func(_ int, s *goquery.Selection) { took = append(took, s.Text()) })
	if want := "+5 ms|+700 ms|+700 ms"; strings.Join(took, "|") != want {
		t.Errorf("the retries' times read %v, want %s", took, want)
	}
	if retry.First().HasClass("undo") {
		t.Error("a retry after the pivot is drawn as an undo")
	}
	if got := text(doc.Find(".told")); got != "✉ not yet" {
		t.Errorf("told = %q", got)
	}
	doc, _ = mustRender(t, views.BookingDetail(b))
	if got := text(doc.Find(".summary")); !strings.Contains(got, "failed 3 times so far") {
		t.Errorf("summary = %q, want the retries counted", got)
	}

	long := booking("b1", "alice", saga.StatusConfirmed, retries(views.MaxRetryDots+2))
	long.Notified = false
	doc, _ = mustRender(t, views.BookingCard(long))
	retry = doc.Find(`svg[data-mode="steps"][data-width="wide"] g.dot.k-retry`)
	if retry.Length() != 1 || retry.AttrOr("data-count", "") != "8" {
		t.Fatalf("a run of 8 retries is %d dots (count %q), want one dot of 8", retry.Length(), retry.AttrOr("data-count", ""))
	}
	if got := text(retry.Find("text.took")); got != "+5 ms, 8 in 4.9 s" {
		t.Errorf("the folded run's time reads %q, want its span", got)
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
		if li.Find(".ev-meaning").Text() != views.Sentence(e) || strings.Contains(views.Sentence(e), "does not know") {
			t.Errorf("message %d (%s) has no plain explanation", i+1, e.Type)
		}
		if pre := li.Find("details pre").Text(); !strings.Contains(pre, e.Reason) {
			t.Errorf("message %d payload %q does not hold its reason", i+1, pre)
		}
		if li.HasClass("undo") != views.Compensation(e.Type) {
			t.Errorf("message %d (%s) undo mark = %v", i+1, e.Type, li.HasClass("undo"))
		}
	})
	if got := text(doc.Find(".summary")); !strings.HasPrefix(got, "Compensated: Payment declined the charge (declined: payment.fail_rate=1), so no money was taken") {
		t.Errorf("summary = %q", got)
	}
	if got := doc.Find("article").AttrOr("data-status", ""); got != "compensated" {
		t.Errorf("data-status = %q", got)
	}
}

// A booking says where it waits: a pending one instead of a reason, a
// decided one whose user is not told yet under its reason, so the reason
// (and whether a switch caused it) stays in sight while notification fails.
func TestCardSaysWhereABookingWaits(t *testing.T) {
	b := booking("b3", "gus", saga.StatusPending, happyEvents[:2])
	b.Waiting = &views.Waiting{Queue: "seat_update_queue", Since: t0, For: 12 * time.Second, Note: "seats paused"}
	doc, _ := mustRender(t, views.BookingCard(b))
	if got := text(doc.Find(".why")); got != "● waiting in seat_update_queue for 12 s so far — seats paused" {
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
	if got := text(lines.Last()); got != "● waiting in notification_retry_2s for 3 s so far — next try due now — retry 3 of 40 for notification" {
		t.Errorf("the waiting line reads %q", got)
	}
}
