package web_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/coder/websocket"
	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/notification"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/sqlite"
	"github.com/sagaboard/sagaboard/web"
)

// quietBus stands in for RabbitMQ: it keeps what is published and delivers
// nothing, so the pages can be tested with real stores and no broker.
type quietBus struct {
	mu  sync.Mutex
	out []saga.Message
}

func (b *quietBus) Publish(_ context.Context, msgs ...saga.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.out = append(b.out, msgs...)
	return nil
}

func (b *quietBus) Consume(ctx context.Context, _ string, _ saga.ConsumeOptions, _ saga.BatchHandler) error {
	<-ctx.Done()
	return nil
}

func (b *quietBus) Replay(context.Context, string, saga.Message) error { return nil }

// fakeBroker reports a broker that is up, or down when down is set.
type fakeBroker struct {
	mu   sync.Mutex
	down bool
}

func (f *fakeBroker) Healthy() error { return nil }

//lint:ignore ST1008 it implements web.Broker, whose Status mirrors services/rabbit's, which web does not own
func (f *fakeBroker) Status() (bool, error, int, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return false, errors.New("dial tcp 127.0.0.1:5672: connect: connection refused"), 1, time.Now()
	}
	return true, nil, 0, time.Now()
}

func (f *fakeBroker) Inspect(_ context.Context, queues []string) ([]saga.QueueStat, error) {
	out := make([]saga.QueueStat, len(queues))
	for i, q := range queues {
		out[i] = saga.QueueStat{Name: q, Consumers: 1}
	}
	return out, nil
}

type harness struct {
	t         *testing.T
	URL       string
	Switches  *saga.Switches
	Booking   *booking.Service
	Server    *web.Server
	Published chan map[string]saga.Switch
	client    *http.Client
}

// mustOpenStore opens a participant's store, name.db, in dir, closed when
// the test ends.
func mustOpenStore(t *testing.T, dir, name string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, name+".db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// mustServe runs the web server over real SQLite stores in a temporary
// folder, with a 3x4 venue.
func mustServe(t *testing.T, token string) *harness {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	bus := &quietBus{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(name string) *sqlite.DB { return mustOpenStore(t, dir, name) }
	sw := saga.NewSwitches()
	bk, err := booking.New(ctx, open("booking"), bus, saga.Venue{Rows: 3, Cols: 4}, 0, log)
	if err != nil {
		t.Fatal(err)
	}
	nt, err := notification.New(ctx, open("notification"), bus, sw, log)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := observer.New(ctx, open("observer"), bus, log)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, Switches: sw, Booking: bk, Published: make(chan map[string]saga.Switch, 10)}
	srv := web.New(web.Config{Booking: bk, Notification: nt, Observer: ob, Switches: sw, Broker: &fakeBroker{}, Token: token, Log: log,
		PublishSwitches: func(_ context.Context, all map[string]saga.Switch) error { h.Published <- all; return nil }})
	bk.OnChange(srv.Live().BookingChanged)
	h.Server = srv
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
	})
	h.URL = ts.URL
	jar := &cookieJar{}
	h.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return h
}

// cookieJar keeps cookies for the test server, whatever its port.
type cookieJar struct {
	mu sync.Mutex
	c  []*http.Cookie
}

func (j *cookieJar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.c = append(j.c, cs...)
}

func (j *cookieJar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.c
}

// post sends a form as htmx does from the page: same origin.
func (h *harness) post(path string, form url.Values) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest("POST", h.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", h.URL)
	return h.do(req)
}

func (h *harness) get(path string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest("GET", h.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) (*http.Response, string) {
	h.t.Helper()
	res, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func parse(t *testing.T, html string) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestBookingFormBooksAndShowsATakenSeatInline(t *testing.T) {
	h := mustServe(t, "")
	res, body := h.post("/ui/bookings", url.Values{"user_id": {"alice"}, "seats": {"A1", "A2"}})
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("booking A1 A2: %d %s", res.StatusCode, body)
	}
	doc := parse(t, body)
	if got := squash(doc.Find(".msg-line.ok").Text()); !strings.Contains(got, "Booked A1 A2 for alice (20.00)") {
		t.Errorf("the answer reads %q", got)
	}
	id := doc.Find("a[data-booking-id]").AttrOr("data-booking-id", "")
	if b, err := h.Booking.Get(context.Background(), id); err != nil || b.UserID != "alice" {
		t.Fatalf("the answer links booking %q, which is %+v, %v", id, b, err)
	}

	res, body = h.post("/ui/bookings", url.Values{"user_id": {"bob"}, "seats": {"A2", "A3"}})
	if res.StatusCode != http.StatusConflict {
		t.Fatalf("booking a held seat: %d, want 409", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("the conflict came back as %s, want an HTML sentence for the page", ct)
	}
	if got := squash(parse(t, body).Find(".msg-line.error").Text()); got != "✖ seat A2 is held — pick another seat" {
		t.Errorf("the conflict reads %q", got)
	}

	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"user_id": {"carol"}}, "pick at least one free seat"},
		{url.Values{"seats": {"B1"}}, "enter your name first"},
		{url.Values{"user_id": {"carol"}, "seats": {"Z9"}}, `seat "Z9" is not in this venue`},
	} {
		res, body := h.post("/ui/bookings", tc.form)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(squash(parse(t, body).Text()), tc.want) {
			t.Errorf("%v: %d %q, want 400 saying %q", tc.form, res.StatusCode, squash(body), tc.want)
		}
	}
}

func TestFormsRefuseCrossSiteRequests(t *testing.T) {
	h := mustServe(t, "")
	req, _ := http.NewRequest("POST", h.URL+"/ui/bookings", strings.NewReader("user_id=mallory&seats=A1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	if res, _ := h.do(req); res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site form post: %d, want 403", res.StatusCode)
	}
	if list, _ := h.Booking.List(context.Background(), booking.Filter{}); len(list) != 0 {
		t.Errorf("a cross-site post made %d bookings", len(list))
	}
}

func TestSwitchFormChangesTheSwitchesEverywhere(t *testing.T) {
	h := mustServe(t, "")
	res, body := h.post("/ui/failures", url.Values{"payment.fail_rate": {"1"}, "payment.delay_ms": {"250"}, "payment.paused": {"false", "true"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("switch form: %d %s", res.StatusCode, body)
	}
	if got := h.Switches.Get("payment"); got != (saga.Switch{FailRate: 1, DelayMS: 250, Paused: true}) {
		t.Errorf("payment switch = %+v, want fail 1, delay 250, paused", got)
	}
	select {
	case all := <-h.Published:
		if all["payment"].FailRate != 1 {
			t.Errorf("other processes were sent %+v", all)
		}
	case <-time.After(time.Second):
		t.Error("the change was not sent to the other processes")
	}
	if got := squash(parse(t, body).Find(".msg-line.ok").Text()); got != "✔ payment fails 100 %, waits 250 ms per message, is paused" {
		t.Errorf("the answer reads %q", got)
	}
	// The hidden "false" before the box is what an unticked box sends.
	h.post("/ui/failures", url.Values{"payment.paused": {"false"}})
	if h.Switches.Get("payment").Paused || h.Switches.Get("payment").FailRate != 1 {
		t.Errorf("unticking pause gave %+v, want only paused to change", h.Switches.Get("payment"))
	}

	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"payment.delay_ms": {"70000"}}, "payment.delay_ms must be from 0 to 60000"},
		{url.Values{"payment.fail_rate": {"NaN"}}, "payment.fail_rate must be a number from 0 to 1"},
		{url.Values{"payment.fail_rate": {"2"}}, "payment.fail_rate must be from 0 to 1"},
		{url.Values{"booking.fail_rate": {"1"}}, `unknown participant "booking"`},
		{url.Values{"payment.colour": {"red"}}, `unknown switch field "payment.colour"`},
	} {
		res, body := h.post("/ui/failures", tc.form)
		doc := parse(t, body)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(doc.Find(".msg-line.error").Text(), tc.want) {
			t.Errorf("%v: %d %q, want 400 saying %q", tc.form, res.StatusCode, squash(doc.Text()), tc.want)
			continue
		}
		// The rows come back with the switches as they are, over what was typed.
		if got := doc.Find(`form#switch-payment[hx-swap-oob="true"] input[name="payment.fail_rate"]`).AttrOr("value", ""); got != "1" {
			t.Errorf("%v: the payment row came back with fail_rate %q, want the unchanged 1", tc.form, got)
		}
	}
	if got := h.Switches.Get("payment"); got.FailRate != 1 || got.DelayMS != 250 {
		t.Errorf("refused changes changed the switch: %+v", got)
	}
}

func TestTokenIsAskedOnceAndKeptInACookie(t *testing.T) {
	h := mustServe(t, "s3cret-token")
	_, body := h.get("/")
	if parse(t, body).Find(`form.token-form input[name="token"]`).Length() != 1 {
		t.Fatal("the page does not ask for the token")
	}
	res, body := h.post("/ui/bookings", url.Values{"user_id": {"alice"}, "seats": {"A1"}})
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("booking without the token: %d %s", res.StatusCode, body)
	}

	res, _ = h.post("/ui/token", url.Values{"token": {"wrong"}})
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/?token=wrong" {
		t.Fatalf("wrong token: %d to %q", res.StatusCode, loc)
	}
	_, body = h.get("/?token=wrong")
	if got := squash(parse(t, body).Find(".token-form .error").Text()); got != "✖ That token is not right." {
		t.Errorf("after a wrong token the page says %q", got)
	}

	res, _ = h.post("/ui/token", url.Values{"token": {"s3cret-token"}})
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == web.TokenCookie {
			cookie = c
		}
	}
	if res.StatusCode != http.StatusSeeOther || cookie == nil {
		t.Fatalf("right token: %d, cookie %v", res.StatusCode, cookie)
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" {
		t.Errorf("cookie = %+v, want HttpOnly, SameSite=Strict, Path=/", cookie)
	}
	res, body = h.post("/ui/bookings", url.Values{"user_id": {"alice"}, "seats": {"A1"}})
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("booking with the cookie: %d %s", res.StatusCode, body)
	}
	_, body = h.get("/")
	if parse(t, body).Find("form.token-form").Length() != 0 {
		t.Error("the page still asks for the token it has")
	}
}

func TestDashboardShowsBookingsSeatsAndEscapesUsers(t *testing.T) {
	h := mustServe(t, "")
	evil := `<script>alert("x")</script>`
	b, err := h.Booking.Create(context.Background(), evil, []string{"B2"})
	if err != nil {
		t.Fatal(err)
	}
	res, body := h.get("/")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	doc := parse(t, body)
	card := doc.Find("#booking-" + b.ID)
	if card.AttrOr("data-status", "") != "pending" {
		t.Errorf("booking %s on the page: data-status %q", b.ID, card.AttrOr("data-status", ""))
	}
	if got := card.Find(".b-user").Text(); got != evil {
		t.Errorf("the user reads %q", got)
	}
	if n := doc.Find("script:not([src])").Length(); n != 0 {
		t.Errorf("the hostile user id became %d scripts", n)
	}
	if _, ok := doc.Find(`input[name="seats"][value="B2"]`).Attr("disabled"); !ok {
		t.Error("the held seat B2 can be picked")
	}
	if _, ok := doc.Find(`input[name="seats"][value="B3"]`).Attr("disabled"); ok {
		t.Error("the free seat B3 cannot be picked")
	}
	if n := doc.Find(`#seatmap input[name="seats"]`).Length(); n != 12 {
		t.Errorf("%d seats on a 3x4 venue", n)
	}
	if got := squash(doc.Find("#stats .wait").Text()); got != "● 1 pending" {
		t.Errorf("the header reads %q", got)
	}
}

func TestBookingPageAndNotFound(t *testing.T) {
	h := mustServe(t, "")
	b, err := h.Booking.Create(context.Background(), "dora", []string{"C1"})
	if err != nil {
		t.Fatal(err)
	}
	res, body := h.get("/bookings/" + b.ID)
	doc := parse(t, body)
	if res.StatusCode != http.StatusOK || doc.Find("article#booking-"+b.ID).AttrOr("data-status", "") != "pending" {
		t.Fatalf("GET /bookings/%s: %d", b.ID, res.StatusCode)
	}
	if got := doc.Find("[ws-connect]").AttrOr("ws-connect", ""); got != "/ws?booking="+b.ID {
		t.Errorf("the page listens on %q", got)
	}
	if got := squash(doc.Find(".summary").Text()); !strings.HasPrefix(got, "In progress: waiting in payment_queue") {
		t.Errorf("summary = %q", got)
	}
	res, body = h.get("/bookings/nope")
	if res.StatusCode != http.StatusNotFound || !strings.Contains(body, "There is no booking nope here.") {
		t.Errorf("unknown booking: %d", res.StatusCode)
	}
	if res, _ := h.get("/no/such/page"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown page: %d", res.StatusCode)
	}
}

func TestFilterFragmentKeepsTheFilterInTheAddress(t *testing.T) {
	h := mustServe(t, "")
	ctx := context.Background()
	a, _ := h.Booking.Create(ctx, "ann", []string{"A1"})
	h.Booking.Create(ctx, "ben", []string{"A2"})
	res, body := h.get("/ui/bookings?status=pending&user_id=ann")
	if got := res.Header.Get("HX-Push-Url"); got != "/?status=pending&user_id=ann" {
		t.Errorf("HX-Push-Url = %q", got)
	}
	doc := parse(t, body)
	if n := doc.Find("article.booking").Length(); n != 1 || doc.Find("#booking-"+a.ID).Length() != 1 {
		t.Errorf("filtered list has %d bookings, want only ann's", n)
	}
	if doc.Find(`#booking-list[data-filter-user="ann"][data-filter-status="pending"]`).Length() != 1 {
		t.Error("the list does not carry its filter for live updates")
	}
}

func TestStaticFilesAreCachedByContentHash(t *testing.T) {
	h := mustServe(t, "")
	_, body := h.get("/")
	href := parse(t, body).Find(`link[rel="stylesheet"]`).AttrOr("href", "")
	if !strings.HasPrefix(href, "/static/app.css?v=") {
		t.Fatalf("stylesheet link = %q", href)
	}
	res, css := h.get(href)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Errorf("GET %s: %d %q %q", href, res.StatusCode, res.Header.Get("Cache-Control"), res.Header.Get("Content-Type"))
	}
	if !strings.Contains(css, ".seat") {
		t.Error("the stylesheet is not the dashboard's")
	}
	if res, _ := h.get("/static/app.css?v=old"); res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("a stale version is cached for good: %q", res.Header.Get("Cache-Control"))
	}
	for _, name := range []string{"app.js", "htmx.min.js", "htmx-ext-ws.js"} {
		if res, _ := h.get("/static/" + name); res.StatusCode != http.StatusOK {
			t.Errorf("GET /static/%s: %d", name, res.StatusCode)
		}
	}
	if res, _ := h.get("/static/static.go"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /static/static.go: %d, want 404", res.StatusCode)
	}
}

// TestLiveFeedSendsASnapshotThenDeltas connects as the page does and
// watches a booking and its seats arrive without asking.
func TestLiveFeedSendsASnapshotThenDeltas(t *testing.T) {
	h := mustServe(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(h.URL, "http") + "/ws"
	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {h.URL}}})
	if err != nil {
		t.Fatalf("dial %s: %v", wsURL, err)
	}
	defer c.CloseNow()
	c.SetReadLimit(-1)
	_, snap, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	doc := parse(t, string(snap))
	for _, id := range []string{"seatmap", "stats", "queues", "broker", "notices", "dead-letters", "switch-payment"} {
		if doc.Find("#"+id).Length() != 1 {
			t.Errorf("the snapshot has no #%s", id)
		}
	}

	b, err := h.Booking.Create(ctx, "erin", []string{"C3"})
	if err != nil {
		t.Fatal(err)
	}
	sawBooking, sawSeat := false, false
	for !sawBooking || !sawSeat {
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for the booking and its seat: %v", err)
		}
		doc := parse(t, string(msg))
		if card := doc.Find(`[hx-swap-oob="afterbegin:#booking-list"] #booking-` + b.ID); card.Length() == 1 {
			sawBooking = card.AttrOr("data-status", "") == "pending"
		}
		if seat := doc.Find("#seat-C3"); seat.Length() == 1 {
			_, disabled := seat.Find("input").Attr("disabled")
			sawSeat = seat.HasClass("seat-held") && disabled
		}
	}
	// A frame redraws only the seats that changed, not the whole map.
	if _, err := h.Booking.Create(ctx, "erin", []string{"A1", "B2"}); err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{}
	for len(held) < 2 {
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for seats A1 and B2: %v", err)
		}
		doc := parse(t, string(msg))
		if doc.Find("#seatmap").Length() > 0 {
			t.Fatal("a frame sent the whole seat map again for one booking's two seats")
		}
		doc.Find(`[id^="seat-"]`).Each(func(_ int, s *goquery.Selection) {
			id := s.AttrOr("id", "")
			if id != "seat-A1" && id != "seat-B2" {
				t.Errorf("a frame redrew %s, which did not change", id)
			}
			if s.HasClass("seat-held") {
				held[id] = true
			}
		})
	}
}
