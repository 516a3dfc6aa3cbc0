package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

func labDoc(t *testing.T, html string) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func labText(s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") }

func TestCompareShowsTwoBookingsSideBySideAndLive(t *testing.T) {
	l := mustLab(t, labOptions{run: true})
	happy := l.settled("alice", "A1", "A2")
	l.Switches.Apply(map[string]saga.SwitchPatch{saga.PartPayment: {FailRate: labPtr(1.0)}})
	undone := l.settled("bob", "B1")

	res, body := l.fetch(views.CompareURL(happy.ID, undone.ID))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("compare: %d", res.StatusCode)
	}
	doc := labDoc(t, body)
	for side, b := range map[string]struct{ id, status, outcome string }{
		"a": {happy.ID, "confirmed", "✔ confirmed"},
		"b": {undone.ID, "compensated", "✖ compensated"},
	} {
		col := doc.Find("#side-" + side)
		art := col.Find("article#booking-" + b.id)
		if art.Length() != 1 || art.AttrOr("data-status", "") != b.status {
			t.Errorf("side %s: booking %s with status %q, want %s", side, b.id, art.AttrOr("data-status", ""), b.status)
		}
		if got := labText(art.Find(".d-head")); !strings.Contains(got, b.id) || !strings.Contains(got, b.outcome) {
			t.Errorf("side %s heads %q, want its id and %q", side, got, b.outcome)
		}
		if art.Find(`svg.timeline[data-mode="steps"][data-width="wide"]`).Length() != 1 || art.Find(`svg.timeline[data-mode="time"][data-width="wide"]`).Length() != 1 {
			t.Errorf("side %s has no timeline", side)
		}
		if doc.Find(`[ws-connect="/ws?booking=`+b.id+`"]`).Length() != 1 {
			t.Errorf("side %s does not listen to its booking's live feed", side)
		}
		if col.Find(`a[href="/bookings/`+b.id+`.json"]`).Length() != 1 {
			t.Errorf("side %s offers no export", side)
		}
	}
	if got := labText(doc.Find("#side-b .why, #side-b .summary")); !strings.Contains(got, "declined") {
		t.Errorf("the compensated side does not say why: %q", got)
	}

	// From the booking's own page, without typing anything.
	_, body = l.fetch("/bookings/" + happy.ID)
	box := labDoc(t, body).Find("#compare-with")
	link := box.Find("a").FilterFunction(func(_ int, s *goquery.Selection) bool {
		return strings.Contains(s.Text(), "latest compensated")
	})
	href := link.AttrOr("href", "")
	if href == "" {
		t.Fatalf("the booking page offers no comparison with a compensated booking: %q", labText(box))
	}
	res, _ = l.fetch(href)
	if want := views.CompareURL(happy.ID, undone.ID); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
		t.Errorf("GET %s: %d to %q, want 303 to %q", href, res.StatusCode, res.Header.Get("Location"), want)
	}
	form := box.Find(`form[action="/compare"]`)
	if form.Find(`input[type=hidden][name=a]`).AttrOr("value", "") != happy.ID || form.Find(`input[name=b]`).Length() != 1 {
		t.Error("the booking page has no form to type another id")
	}
	// What that form sends: a pasted address works as well as an id.
	res, _ = l.fetch("/compare?" + url.Values{"a": {happy.ID}, "b": {" " + l.URL + "/bookings/" + undone.ID + " "}}.Encode())
	if res.StatusCode != http.StatusOK {
		t.Errorf("comparing with a pasted address: %d", res.StatusCode)
	}

	// A compensated booking is offered the latest confirmed one.
	_, body = l.fetch("/bookings/" + undone.ID)
	if got := labText(labDoc(t, body).Find("#compare-with .compare-links")); !strings.Contains(got, "latest confirmed") || strings.Contains(got, "latest compensated") {
		t.Errorf("a compensated booking's page offers %q", got)
	}
}

func TestCompareExplainsMissingAndUnknownIDs(t *testing.T) {
	l := mustLab(t, labOptions{})
	b, err := l.Booking.Create(t.Context(), "erin", []string{"C3"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query  url.Values
		status int
		side   string
		want   string
	}{
		{url.Values{"a": {b.ID}}, http.StatusOK, "b", "Type a booking id above"},
		{url.Values{}, http.StatusOK, "a", "Type a booking id above"},
		{url.Values{"a": {b.ID}, "b": {"nope"}}, http.StatusNotFound, "b", "There is no booking “nope” here."},
		{url.Values{"a": {`<script>x</script>`}, "b": {b.ID}}, http.StatusNotFound, "a", "There is no booking “<script>x</script>” here."},
		{url.Values{"a": {b.ID}, "b": {b.ID}}, http.StatusOK, "b", "That is the same booking as A"},
		{url.Values{"a": {b.ID}, "b": {views.LatestCompensated}}, http.StatusOK, "b", "There is no other compensated booking yet"},
		{url.Values{"a": {views.LatestConfirmed}, "b": {b.ID}}, http.StatusOK, "a", "There is no other confirmed booking yet"},
	} {
		res, body := l.fetch("/compare?" + tc.query.Encode())
		doc := labDoc(t, body)
		if res.StatusCode != tc.status {
			t.Errorf("%v: %d, want %d", tc.query, res.StatusCode, tc.status)
		}
		if got := labText(doc.Find("#side-" + tc.side + " .compare-missing")); !strings.Contains(got, tc.want) {
			t.Errorf("%v: side %s says %q, want %q", tc.query, tc.side, got, tc.want)
		}
		if n := doc.Find("script:not([src])").Length(); n != 0 {
			t.Errorf("%v: %d inline scripts on the page", tc.query, n)
		}
		// The booking that exists is still shown beside the message.
		if tc.query.Get("a") == b.ID && doc.Find("#side-a article#booking-"+b.ID).Length() != 1 {
			t.Errorf("%v: side a lost booking %s", tc.query, b.ID)
		}
	}
}
