package views_test

import (
	"testing"

	"github.com/sagaboard/sagaboard/views"
)

func TestPluralCountsOneAsOne(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "bookings"}, {1, "booking"}, {2, "bookings"}, {1204, "bookings"}} {
		if got := views.Plural(tc.n, "booking", "bookings"); got != tc.want {
			t.Errorf("Plural(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	for _, tc := range []struct {
		total int
		want  string
	}{{1, "1 booking"}, {0, "0 bookings"}, {2, "2 bookings"}} {
		doc, _ := mustRender(t, views.StatsBar(views.Stats{Known: true, Total: tc.total}, false))
		if got := text(doc.Find(".stat.total")); got != tc.want {
			t.Errorf("the header says %q, want %q", got, tc.want)
		}
	}
	inv := views.Invariants{Bookings: 1}
	if got := inv.Facts(); got != "1 booking" {
		t.Errorf("Invariants.Facts() = %q, want \"1 booking\"", got)
	}
}

func TestSlowMotionAndLetOneThroughOnThePage(t *testing.T) {
	doc, _ := mustRender(t, views.Switches([]views.Switch{
		{Part: "payment", Queue: "payment_queue", SlowMS: 500},
		{Part: "seats", Queue: "seat_update_queue", Paused: true, SlowMS: 500},
	}))
	if got, _ := doc.Find("#slow-motion select option[selected]").Attr("value"); got != "500" {
		t.Errorf("slow motion shows %q selected, want 500", got)
	}
	if n := doc.Find("#switch-seats button.let-one").Length(); n != 1 {
		t.Errorf("the paused seats row has %d let-one-through buttons, want 1", n)
	}
	if n := doc.Find("#switch-payment button.let-one").Length(); n != 0 {
		t.Errorf("the running payment row offers let one through")
	}
	hint, _ := mustRender(t, views.SlowHint(0, false))
	if n := hint.Find(`a[href="#slow-motion"]`).Length(); n != 1 {
		t.Errorf("the hint by Book does not point at slow motion")
	}
}

func TestAMessagePageDoesNotSayConnecting(t *testing.T) {
	doc, html := mustRender(t, views.MessagePage(views.Page{Title: "No such booking"}, "No such booking", "There is no booking x here.", false))
	if doc.Find("#ws-state").Length() != 0 || doc.Find("[ws-connect]").Length() != 0 {
		t.Errorf("a page without a WebSocket still says connecting: %s", html)
	}
}
