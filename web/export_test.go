package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/compensation"
	"github.com/sagaboard/sagaboard/services/notification"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/payment"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/seats"
	"github.com/sagaboard/sagaboard/services/store"
	"github.com/sagaboard/sagaboard/web"
)

// loopBus stands in for RabbitMQ inside one test process: each published
// message goes to the observer's tap and to the queues its routing key is
// bound to (the bindings services/rabbit declares), and each queue's
// consumer gets its messages one at a time, in order. It keeps no promise a
// broker keeps across crashes; it is only enough to run whole sagas, so the
// pages can be checked against real histories.
type loopBus struct {
	mu     sync.Mutex
	queues map[string]chan saga.Message
}

func (b *loopBus) queue(name string) chan saga.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.queues == nil {
		b.queues = map[string]chan saga.Message{}
	}
	q, ok := b.queues[name]
	if !ok {
		q = make(chan saga.Message, 4096)
		b.queues[name] = q
	}
	return q
}

func (b *loopBus) Publish(_ context.Context, msgs ...saga.Message) error {
	for _, m := range msgs {
		// The tap first: the observer must see a message before anybody
		// can react to it, or the history would be out of order.
		targets := []string{saga.ObserverQueue, m.RoutingKey}
		if m.RoutingKey == saga.NotificationQueue || m.RoutingKey == saga.KeyBookingNotified {
			targets = append(targets, saga.BookingUpdateQueue)
		}
		for _, t := range targets {
			select {
			case b.queue(t) <- m:
			default: // a queue nobody drains (retries, notes) is full: drop
			}
		}
	}
	return nil
}

func (b *loopBus) Consume(ctx context.Context, name string, _ saga.ConsumeOptions, h saga.BatchHandler) error {
	q := b.queue(name)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-q:
			m.Queue = name
			outs := h(ctx, []saga.Message{m})
			if len(outs) == 1 && outs[0].Err == nil && outs[0].Durable != nil {
				_ = outs[0].Durable(ctx)
			}
		}
	}
}

func (b *loopBus) Replay(context.Context, string, saga.Message) error { return nil }

// lab is the whole program in one test: the web server over real SQLite
// stores in a temporary folder, a venue of 3×4 seats, and, when started
// with run, every participant consuming from a loopBus.
type lab struct {
	t        *testing.T
	URL      string
	Server   *web.Server
	Booking  *booking.Service
	Switches *saga.Switches
	Bus      *loopBus
	client   *http.Client
}

type labOptions struct {
	run       bool                // run the participants, so sagas finish
	noPayment bool                // leave Payment out of this process
	token     string              // the server's -token
	log       io.Writer           // where the server logs; default nowhere
	config    func(c *web.Config) // changes the server's config before New
}

func mustLab(t *testing.T, o labOptions) *lab {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	bus := &loopBus{}
	if o.log == nil {
		o.log = io.Discard
	}
	log := slog.New(slog.NewTextHandler(o.log, nil))
	open := func(name string) *store.DB { return mustOpenStore(t, dir, name) }
	must := func(err error) {
		if err != nil {
			t.Helper()
			t.Fatal(err)
		}
	}
	sw := saga.NewSwitches()
	bk, err := booking.New(ctx, open("booking"), bus, saga.Venue{Rows: 3, Cols: 4}, 0, log)
	must(err)
	nt, err := notification.New(ctx, open("notification"), bus, sw, log)
	must(err)
	ob, err := observer.New(ctx, open("observer"), bus, log)
	must(err)
	st, err := seats.New(ctx, open("seats"), bus, sw, log)
	must(err)
	cp, err := compensation.New(ctx, open("compensation"), bus, log)
	must(err)
	cfg := web.Config{Booking: bk, Notification: nt, Observer: ob, Switches: sw, Broker: &fakeBroker{}, Token: o.token, Log: log}
	var pay *payment.Service
	if !o.noPayment {
		pay, err = payment.New(ctx, open("payment"), bus, sw, log)
		must(err)
		cfg.Payment = pay
	}
	if o.config != nil {
		o.config(&cfg)
	}
	srv := web.New(cfg)
	bk.OnChange(srv.BookingCommitted)
	var wg sync.WaitGroup
	if o.run {
		runs := []func(context.Context) error{bk.Run, nt.Run, ob.Run, st.Run, cp.Run}
		if pay != nil {
			runs = append(runs, pay.Run)
		}
		for _, run := range runs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = run(ctx)
			}()
		}
	}
	ts := httptest.NewServer(srv)
	// Cleanups run last first: the databases close after this.
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
		cancel()
		wg.Wait()
	})
	return &lab{t: t, URL: ts.URL, Server: srv, Booking: bk, Switches: sw, Bus: bus,
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// send makes a request and reads the whole answer.
func (l *lab) send(method, path, body string, header http.Header) (*http.Response, string) {
	l.t.Helper()
	req, err := http.NewRequest(method, l.URL+path, strings.NewReader(body))
	if err != nil {
		l.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if host := header.Get("Host"); host != "" {
		req.Host = host // the client sends req.Host, never a Host header
	}
	res, err := l.client.Do(req)
	if err != nil {
		l.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (l *lab) fetch(path string) (*http.Response, string) {
	l.t.Helper()
	return l.send("GET", path, "", nil)
}

// settled books seats for user and waits until the saga is over: decided,
// the user told, and the observer has seen the notice.
func (l *lab) settled(user string, seatIDs ...string) web.BookingView {
	l.t.Helper()
	b, err := l.Booking.Create(context.Background(), user, seatIDs)
	if err != nil {
		l.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := l.fetch("/api/bookings/" + b.ID)
		var v web.BookingView
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			l.t.Fatalf("GET /api/bookings/%s: %v: %s", b.ID, err, body)
		}
		if v.Status != booking.StatusPending && v.Notified && len(v.Events) > 0 && v.Events[len(v.Events)-1].Type == saga.TypeBookingNotified {
			return v
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("booking %s did not finish: %s", b.ID, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func eventTypes(events []observer.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Type
	}
	return out
}

func (l *lab) export(id string) (web.BookingExport, *http.Response) {
	l.t.Helper()
	res, body := l.fetch("/bookings/" + id + ".json")
	if res.StatusCode != http.StatusOK {
		l.t.Fatalf("GET /bookings/%s.json: %d %s", id, res.StatusCode, body)
	}
	var x web.BookingExport
	if err := json.Unmarshal([]byte(body), &x); err != nil {
		l.t.Fatalf("the export is not JSON: %v\n%s", err, body)
	}
	return x, res
}

func TestExportIsTheBookingsWholeHistoryAsADownload(t *testing.T) {
	l := mustLab(t, labOptions{run: true})
	happy := l.settled("alice", "A1", "A2")
	before := time.Now().Add(-time.Second)

	x, res := l.export(happy.ID)
	if got, want := res.Header.Get("Content-Disposition"), `attachment; filename="booking-`+happy.ID+`.json"`; got != want {
		t.Errorf("Content-Disposition = %q, want %q", got, want)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	if x.Booking.ID != happy.ID || x.Booking.Status != booking.StatusConfirmed || x.Booking.UserID != "alice" || !x.Booking.Notified {
		t.Errorf("the exported booking is %+v", x.Booking.Booking)
	}
	if x.ExportedAt.Before(before) || x.ExportedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("exported_at = %v", x.ExportedAt)
	}
	want := []string{saga.TypeBookingCreated, saga.TypePaymentCompleted, saga.TypeSeatsSold, saga.TypeBookingNotified}
	if got := eventTypes(x.Booking.Events); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("the exported events are %v, want %v", got, want)
	}
	for i, e := range x.Booking.Events {
		if i > 0 && e.Seq <= x.Booking.Events[i-1].Seq {
			t.Errorf("event %d has seq %d after %d: not in order", i, e.Seq, x.Booking.Events[i-1].Seq)
		}
		if env := e.Envelope(); env.Booking.ID != happy.ID {
			t.Errorf("event %d (%s) carries no payload for the booking: %s", i, e.Type, e.Payload)
		}
	}
	if len(x.Ledger) != 1 || x.Ledger[0].Kind != "charge" || x.Ledger[0].AmountCents != 2000 || x.Ledger[0].BookingID != happy.ID {
		t.Errorf("the ledger is %+v, want one charge of 2000", x.Ledger)
	}
	if n := x.Notification; n == nil || !n.Success || n.Text != "Booking SUCCESS sent to user alice" {
		t.Errorf("the notification is %+v", n)
	}
	if len(x.Missing) != 0 {
		t.Errorf("everything runs here, yet the export says it misses %q", x.Missing)
	}

	// A booking that was charged and then undone: the refund follows the
	// charge, and the user was told it failed.
	l.Switches.Apply(map[string]saga.SwitchPatch{saga.PartSeats: {FailRate: labPtr(1.0)}})
	undone := l.settled("bob", "B1")
	x, _ = l.export(undone.ID)
	if x.Booking.Status != booking.StatusCompensated {
		t.Fatalf("bob's booking is %s", x.Booking.Status)
	}
	if len(x.Ledger) != 2 || x.Ledger[0].Kind != "charge" || x.Ledger[1].Kind != "refund" || x.Ledger[1].AmountCents != 1000 {
		t.Errorf("the ledger is %+v, want the charge, then its refund", x.Ledger)
	}
	got := eventTypes(x.Booking.Events)
	if got[0] != saga.TypeBookingCreated || got[len(got)-1] != saga.TypeBookingNotified || !labHas(got, saga.TypePaymentRefunded) {
		t.Errorf("the undone booking's events are %v", got)
	}
	if n := x.Notification; n == nil || n.Success {
		t.Errorf("the notification is %+v, want a failure notice", n)
	}
}

func labPtr[T any](v T) *T { return &v }

func labHas(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestExportOfAnUnknownBookingIs404(t *testing.T) {
	l := mustLab(t, labOptions{})
	for _, path := range []string{"/bookings/nope.json", "/bookings/" + saga.NewID() + ".json", "/bookings/no%20pe%22.json", "/bookings/.json"} {
		res, body := l.fetch(path)
		var e struct{ Error string }
		if res.StatusCode != http.StatusNotFound || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("GET %s: %d %s, want 404 with a JSON error", path, res.StatusCode, body)
		}
		if cd := res.Header.Get("Content-Disposition"); cd != "" {
			t.Errorf("GET %s: a 404 offers a download: %q", path, cd)
		}
	}
	// The page itself is unchanged by its .json twin.
	b, _ := l.Booking.Create(context.Background(), "carol", []string{"C2"})
	if res, body := l.fetch("/bookings/" + b.ID); res.StatusCode != http.StatusOK || !strings.Contains(body, `id="booking-`+b.ID+`"`) {
		t.Errorf("GET /bookings/%s: %d", b.ID, res.StatusCode)
	}
}

func TestExportSaysWhatThisProcessCannotAdd(t *testing.T) {
	l := mustLab(t, labOptions{noPayment: true})
	b, err := l.Booking.Create(context.Background(), "dora", []string{"A3"})
	if err != nil {
		t.Fatal(err)
	}
	res, body := l.fetch("/bookings/" + b.ID + ".json")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	if string(raw["ledger"]) != "null" || string(raw["notification"]) != "null" {
		t.Errorf("ledger %s, notification %s; want both null", raw["ledger"], raw["notification"])
	}
	if !strings.Contains(string(raw["missing"]), "ledger: payment does not run in this process") {
		t.Errorf("missing = %s", raw["missing"])
	}
}
