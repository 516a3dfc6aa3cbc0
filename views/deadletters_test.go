package views_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/views"
)

func TestAForgedDeadLetterIsShownAndNeverOfferedForReplay(t *testing.T) {
	d := views.DeadLetters{Known: true, Dropped: 3, List: []views.DeadLetter{
		{ID: "f1", Queue: "compensation_queue", Type: "PaymentServiceFailed", Reason: "forged: seats may not send PaymentServiceFailed to compensation_queue", At: time.Now(), Forged: true},
		{ID: "p1", Queue: "payment_queue", Type: "BookingCreated", Reason: "poison message: body is not valid UTF-8", At: time.Now()},
	}}
	doc, _ := mustRender(t, views.DeadLettersPanel(d, false))
	items := doc.Find("li.dl")
	if items.Length() != 2 {
		t.Fatalf("%d dead letters drawn, want 2", items.Length())
	}
	forged, poison := items.Eq(0), items.Eq(1)
	if !forged.HasClass("forged") || forged.Find("button").Length() != 0 || !strings.Contains(forged.Text(), "forged: never replayed") {
		t.Errorf("the forged one: class %q, %d buttons, text %q; want it marked forged, with no Replay button", forged.AttrOr("class", ""), forged.Find("button").Length(), forged.Text())
	}
	if poison.HasClass("forged") || poison.Find("button").Length() != 1 {
		t.Errorf("the poison one must keep its Replay button")
	}
	if !strings.Contains(doc.Text(), "3 older dead letters were dropped") {
		t.Errorf("the panel does not say that 3 older dead letters were dropped: %q", doc.Text())
	}
}
