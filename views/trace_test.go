package views_test

import (
	"testing"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

func TestTheBookingPageShowsItsTraceAndLinksIt(t *testing.T) {
	b := booking("06h2jsgc0ezv6p6x", "alice", saga.StatusConfirmed, happyEvents)
	doc, _ := mustRender(t, views.BookingDetail(b))
	if doc.Find(".trace").Length() != 0 {
		t.Error("a booking without a trace id shows a trace row")
	}
	b.TraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	doc, _ = mustRender(t, views.BookingDetail(b))
	if got := doc.Find("code.trace-id").Text(); got != b.TraceID {
		t.Errorf("trace id shown as %q, want %q", got, b.TraceID)
	}
	b.TraceURL = "http://127.0.0.1:16686/trace/" + b.TraceID
	doc, _ = mustRender(t, views.BookingDetail(b))
	if got := doc.Find("a.trace-id").AttrOr("href", ""); got != b.TraceURL {
		t.Errorf("trace link = %q, want %q", got, b.TraceURL)
	}
}
