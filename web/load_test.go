package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/views"
	"github.com/sagaboard/sagaboard/web"
)

// sameSite are the headers a browser sends with a form posted from the
// page itself.
func (l *lab) sameSite(extra ...string) http.Header {
	h := http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {l.URL}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

func (l *lab) postForm(path string, form url.Values) (*http.Response, string) {
	l.t.Helper()
	return l.send("POST", path, form.Encode(), l.sameSite("Content-Type", "application/x-www-form-urlencoded", "HX-Request", "true"))
}

// load asks for n bookings through the API, retrying while the previous
// load is still finishing its last step.
func (l *lab) load(n int) (*http.Response, string) {
	l.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, body := l.send("POST", "/api/load", `{"n":`+strconv.Itoa(n)+`}`, nil)
		if res.StatusCode != http.StatusConflict || !strings.Contains(body, "already running") || time.Now().After(deadline) {
			return res, body
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// bookingsSettle waits until the number of bookings stops changing and
// returns them.
func (l *lab) bookingsSettle() []booking.Booking {
	l.t.Helper()
	var last []booking.Booking
	for stable := 0; stable < 8; {
		time.Sleep(25 * time.Millisecond)
		list, err := l.Booking.List(context.Background(), booking.Filter{Limit: 500})
		if err != nil {
			l.t.Fatal(err)
		}
		if len(list) == len(last) {
			stable++
		} else {
			stable = 0
		}
		last = list
	}
	return last
}

func TestLoadBooksExactlyNThenWhatIsFree(t *testing.T) {
	l := mustLab(t, labOptions{})
	res, body := l.load(5)
	var st web.LoadStarted
	if res.StatusCode != http.StatusAccepted || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("POST /api/load 5: %d %s", res.StatusCode, body)
	}
	if st != (web.LoadStarted{Requested: 5, Started: 5, FreeSeats: 12}) {
		t.Errorf("answer %+v, want 5 of 5 started with 12 free", st)
	}
	// A second press while the first runs is refused, with its progress.
	res, body = l.send("POST", "/api/load", `{"n":3}`, nil)
	if res.StatusCode != http.StatusConflict || !regexp.MustCompile(`^\{"error":"a load is already running: [0-5] of 5 booked"\}`).MatchString(body) {
		t.Errorf("a second load at once: %d %s, want 409 saying how far the first is", res.StatusCode, body)
	}
	list := l.bookingsSettle()
	if len(list) != 5 {
		t.Fatalf("the load made %d bookings, want 5", len(list))
	}
	seen := map[string]bool{}
	for _, b := range list {
		if len(b.Seats) != 1 || seen[b.Seats[0]] || b.UserID == "" {
			t.Errorf("booking %+v: want one seat per booking, none twice, and a name", b)
		}
		seen[b.Seats[0]] = true
	}

	// Seven are left; asking for fifty books those and says so.
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, body = l.postForm("/ui/load", url.Values{"n": {"50"}})
		if res.StatusCode != http.StatusConflict || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("the load form: %d %s", res.StatusCode, body)
	}
	got := labText(labDoc(t, body).Find(".msg-line.ok"))
	if !strings.Contains(got, "Only 7 seats are free, fewer than the 50 asked for, so booking 7 random seats…") || !strings.Contains(got, "-rows and -cols") {
		t.Errorf("the form answers %q", got)
	}
	if list := l.bookingsSettle(); len(list) != 12 {
		t.Errorf("%d bookings after the second load, want all 12 seats booked", len(list))
	}
	res, body = l.load(1)
	if res.StatusCode != http.StatusConflict || !strings.Contains(body, "no seat is free") {
		t.Errorf("a load with no seat free: %d %s", res.StatusCode, body)
	}
}

func TestLoadFormAnswersInASentence(t *testing.T) {
	var b bytes.Buffer
	if err := views.LoadForm().Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	form := labDoc(t, b.String()).Find("form#load-form")
	n := form.Find(`input[name="n"][type="number"]`)
	if form.AttrOr("hx-post", "") != "/ui/load" || n.AttrOr("min", "") != "1" || n.AttrOr("max", "") != "500" || n.AttrOr("value", "") != "50" {
		t.Errorf("the load form is %s", b.String())
	}
	if got := labText(form.Find("button[type=submit]")); got != "Book 50 random" {
		t.Errorf("the button says %q", got)
	}

	l := mustLab(t, labOptions{})
	res, body := l.postForm("/ui/load", url.Values{"n": {"3"}})
	if got := labText(labDoc(t, body).Find(".msg-line.ok")); res.StatusCode != http.StatusAccepted || got != "✔ Booking 3 random seats… (12 free)" {
		t.Errorf("the form: %d %q", res.StatusCode, got)
	}
	l.bookingsSettle()

	for _, n := range []string{"0", "501", "lots", "", "2.5"} {
		res, body := l.postForm("/ui/load", url.Values{"n": {n}})
		if got := labText(labDoc(t, body).Find(".msg-line.error")); res.StatusCode != http.StatusBadRequest || !strings.Contains(got, "n must be a whole number from 1 to 500") {
			t.Errorf("n=%q: %d %q, want 400 with a sentence", n, res.StatusCode, got)
		}
	}
	for _, body := range []string{`{"n":0}`, `{"n":501}`, `{}`, `{"n":"ten"}`, `{"m":5}`} {
		res, got := l.send("POST", "/api/load", body, nil)
		var e struct{ Error string }
		if res.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(got), &e) != nil || e.Error == "" {
			t.Errorf("POST /api/load %s: %d %s, want 400 with a sentence", body, res.StatusCode, got)
		}
	}
	if list := l.bookingsSettle(); len(list) != 3 {
		t.Errorf("refused loads booked: %d bookings, want the 3 of the first", len(list))
	}
}

func TestLoadIsGuarded(t *testing.T) {
	l := mustLab(t, labOptions{token: "s3cret"})
	cross := http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"},
		"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {"Bearer s3cret"}}
	if res, _ := l.send("POST", "/ui/load", "n=5", cross); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site form post: %d, want 403", res.StatusCode)
	}
	cross.Set("Content-Type", "application/json")
	if res, _ := l.send("POST", "/api/load", `{"n":5}`, cross); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site API post: %d, want 403", res.StatusCode)
	}
	if res, body := l.send("POST", "/api/load", `{"n":5}`, nil); res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "token") {
		t.Errorf("no token: %d %s, want 401", res.StatusCode, body)
	}
	if res, _ := l.postForm("/ui/load", url.Values{"n": {"5"}}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the form without the token: %d, want 401", res.StatusCode)
	}
	if list := l.bookingsSettle(); len(list) != 0 {
		t.Fatalf("refused loads made %d bookings", len(list))
	}
	if res, body := l.send("POST", "/api/load", `{"n":2}`, http.Header{"Authorization": {"Bearer s3cret"}}); res.StatusCode != http.StatusAccepted {
		t.Errorf("with the token: %d %s", res.StatusCode, body)
	}
	if list := l.bookingsSettle(); len(list) != 2 {
		t.Errorf("%d bookings, want 2", len(list))
	}
}

func TestCloseStopsARunningLoad(t *testing.T) {
	l := mustLab(t, labOptions{})
	if res, body := l.load(12); res.StatusCode != http.StatusAccepted {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	time.Sleep(50 * time.Millisecond)
	l.Server.Close()
	list, _ := l.Booking.List(context.Background(), booking.Filter{Limit: 500})
	if after := l.bookingsSettle(); len(after) != len(list) || len(after) == 12 {
		t.Errorf("after Close the load went on: %d bookings, then %d of 12", len(list), len(after))
	}
	if res, body := l.load(1); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a load after Close: %d %s, want 503", res.StatusCode, body)
	}
}
