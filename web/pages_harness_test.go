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
	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/notification"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
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
func mustOpenStore(t *testing.T, dir, name string) *store.DB {
	t.Helper()
	db, err := store.OpenFile(context.Background(), filepath.Join(dir, name+".db"))
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
	return mustServeVenue(t, token, saga.Venue{Rows: 3, Cols: 4})
}

// mustServeVenue is mustServe with a venue of another size.
func mustServeVenue(t *testing.T, token string, venue saga.Venue) *harness {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	bus := &quietBus{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(name string) *store.DB { return mustOpenStore(t, dir, name) }
	sw := saga.NewSwitches()
	bk, err := booking.New(ctx, open("booking"), bus, venue, 0, log)
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
