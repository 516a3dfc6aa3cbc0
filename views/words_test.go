package views_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

// deadlineEvents is a booking compensated at its deadline while seats was
// paused: nine messages, the long wait before the deadline and the late
// sale after seats resumed.
var deadlineEvents = []views.Event{
	ev(1, 0, "BookingCreated", "booking", "payment_queue", "held G1 for gina"),
	ev(2, 4, "PaymentCompleted", "payment", "seat_update_queue", "charged 10.00"),
	ev(3, 15704, "DeadlineExceeded", "booking", "compensation_queue", "deadline: still pending after 15s"),
	ev(4, 15706, "SeatsVoidRequested", "compensation", "seat_void_queue", "void the sale"),
	ev(5, 15709, "RefundRequested", "seats", "refund_queue", "voided; refund"),
	ev(6, 15712, "PaymentRefunded", "payment", "seat_release_queue", "refunded 10.00"),
	ev(7, 15715, "BookingCancelled", "booking", "notification_queue", "released G1"),
	ev(8, 15719, "BookingNotified", "notification", "booking_notified", "Booking FAIL sent to user gina"),
	ev(9, 21000, "LateMessageNeutralised", "seats", "notes", "late PaymentCompleted ignored"),
}

func TestSentenceNamesTheSender(t *testing.T) {
	for _, tc := range []struct {
		e    views.Event
		want string
	}{
		{deadlineEvents[4], "Seats made sure the seats will never be sold, then asked Payment to give the money back"},
		{ev(1, 0, "RefundRequested", "compensation", "refund_queue", ""), "Compensation asked Payment to give the money back"},
		{deadlineEvents[2], "Booking saw the deadline pass with the booking still pending, and asked Compensation to undo it."},
		{deadlineEvents[8], "Seats got a message for this booking after it was undone"},
		{declinedEvents[1], "Payment declined the charge: no money was taken."},
		{ev(1, 0, "PaymentCompleted", "mallory", "seat_update_queue", ""), "Marked as sent by “mallory”, which never sends PaymentCompleted: “mallory” charged"},
	} {
		if got := views.Sentence(tc.e); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s from %s reads %q, want it to start %q", tc.e.Type, tc.e.Source, got, tc.want)
		}
	}
	retry := ev(1, 0, "NotificationRetry", "notification", "notification_retry_2s", "")
	retry.Attempt = 3
	if got := views.Sentence(retry); !strings.Contains(got, "(attempt 3); it will try again after 2.0 s") {
		t.Errorf("a retry reads %q, want its attempt and its pause", got)
	}
}

// A declined payment took no money, so nothing was given back; a failed
// sale did take it, and it was refunded.
func TestOutcomeFitsWhatHappened(t *testing.T) {
	declined := booking("b2", "bob", saga.StatusCompensated, declinedEvents).Summary()
	for _, bad := range []string{"kept", "refund", "given back"} {
		if strings.Contains(declined, bad) {
			t.Errorf("a declined payment's summary says %q: %s", bad, declined)
		}
	}
	if !strings.Contains(declined, "no money was taken") {
		t.Errorf("a declined payment's summary = %q, want no money taken", declined)
	}
	deadline := booking("b5", "gina", saga.StatusCompensated, deadlineEvents).Summary()
	if !strings.HasPrefix(deadline, "Compensated at its deadline (still pending after 15s): the charge was refunded") {
		t.Errorf("the deadline booking's summary = %q", deadline)
	}
}

// A booking that was stuck keeps the reason on its page once the wait is
// over, and "last message" is the last message, late ones included.
func TestStuckReasonAndLastMessageAfterTheFact(t *testing.T) {
	b := booking("b5", "gina", saga.StatusCompensated, deadlineEvents)
	b.Waits = []views.PastWait{{Queue: "seat_update_queue", Step: "seats", From: deadlineEvents[1].At, To: deadlineEvents[1].At.Add(15700 * time.Millisecond), Note: "seats paused"}}
	doc, _ := mustRender(t, views.BookingDetail(b))
	if got := text(doc.Find(".why.waited")); got != "waited 15.7 s in seat_update_queue: seats paused" {
		t.Errorf("the page says %q, want the past wait and its reason", got)
	}
	if got := text(doc.Find(".summary")); !strings.Contains(got, "It waited 15.7 s in seat_update_queue: seats paused.") {
		t.Errorf("the summary = %q, want the wait told", got)
	}
	var last string
	doc.Find(".facts > div").Each(func(_ int, d *goquery.Selection) {
		if text(d.Find("dt")) == "last message" {
			last = text(d.Find("dd"))
		}
	})
	if want := views.ClockMS(deadlineEvents[8].At) + " UTC"; last != want {
		t.Errorf("last message = %q, want the late message's time %q", last, want)
	}
	card, _ := mustRender(t, views.BookingCard(b))
	if got := text(card.Find(".why.waited")); !strings.Contains(got, "seats paused") {
		t.Errorf("the card says %q, want the past wait", got)
	}
	open := views.PastWait{Queue: "seat_update_queue", Step: "seats", From: t0, To: t0.Add(4 * time.Second), Open: true, Note: "seats paused"}
	if got := open.Text(); got != "has waited 4.0 s so far in seat_update_queue, still unhandled: seats paused" {
		t.Errorf("an open wait reads %q", got)
	}
}

// A wait in a retry's holding queue says what is spent and what is to
// come, apart.
func TestWaitedAndNextTryAreTold(t *testing.T) {
	b := booking("b6", "erin", saga.StatusConfirmed, happyEvents[:3])
	b.Notified = false
	b.Waiting = &views.Waiting{Queue: "notification_retry_5s", Since: t0, For: 2 * time.Second, Note: "retry 4 of 40 for notification"}
	doc, _ := mustRender(t, views.BookingCard(b))
	line := doc.Find(".why.waiting")
	if got := text(line); got != "● waiting in notification_retry_5s for 2 s so far — next try in 3 s — retry 4 of 40 for notification" {
		t.Errorf("the waiting line reads %q", got)
	}
	if got := line.Find(".until").AttrOr("data-until", ""); got != views.Stamp(t0.Add(5*time.Second)) {
		t.Errorf("the next try counts down to %q, want %s", got, views.Stamp(t0.Add(5*time.Second)))
	}
}

// Every message appears on both drawings; in time mode the wait before the
// deadline is drawn at least ten times as wide as a hop of a few ms, with
// a break that says its length; a long chain wraps rather than widens.
func TestTimelineFitsAndTellsTime(t *testing.T) {
	for _, big := range []bool{false, true} {
		for _, mode := range []string{views.ModeSteps, views.ModeTime} {
			tl := views.LayoutAs(deadlineEvents, big, mode)
			n := 0
			for _, h := range tl.Hops {
				n += h.Count
				if h.X > tl.Width || h.Y > tl.Height {
					t.Errorf("big=%v %s: %s at %d,%d outside %dx%d", big, mode, h.Event.Type, h.X, h.Y, tl.Width, tl.Height)
				}
			}
			if n != len(deadlineEvents) {
				t.Errorf("big=%v %s: %d messages drawn, want %d", big, mode, n, len(deadlineEvents))
			}
			if max := map[bool]int{false: 800, true: 960}[big]; tl.Width > max {
				t.Errorf("big=%v %s: %d px wide, want it wrapped to at most %d", big, mode, tl.Width, max)
			}
		}
		tl := views.LayoutAs(deadlineEvents, big, views.ModeTime)
		short := tl.Hops[1].X - tl.Hops[0].X
		long := tl.Hops[2].X - tl.Hops[1].X
		if tl.Hops[2].Row != tl.Hops[1].Row {
			long = tl.Width - tl.Hops[1].X // the break ends its row
		}
		if long < 10*short {
			t.Errorf("big=%v: the 15.7 s wait is %d px, a 4 ms hop %d px: want at least ten times", big, long, short)
		}
		if len(tl.Breaks) == 0 || tl.Breaks[0].Text() != "⟿ 15.7 s" {
			t.Errorf("big=%v: breaks %+v, want the wait's length on one", big, tl.Breaks)
		}
	}
	doc, _ := mustRender(t, views.TimelineFigure(deadlineEvents, true))
	for _, mode := range []string{"steps", "time"} {
		svg := doc.Find(`svg.timeline[data-mode="` + mode + `"][data-width="wide"]`)
		if got := svg.AttrOr("data-messages", ""); got != strconv.Itoa(len(deadlineEvents)) {
			t.Errorf("%s: data-messages %q", mode, got)
		}
		if n := svg.Find("g.dot").Length(); n != len(deadlineEvents) {
			t.Errorf("%s: %d dots, want %d", mode, n, len(deadlineEvents))
		}
	}
}
