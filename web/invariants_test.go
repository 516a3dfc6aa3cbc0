package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/invariants"
	"github.com/sagaboard/sagaboard/services/notification"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/payment"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/seats"
	"github.com/sagaboard/sagaboard/services/store"
	"github.com/sagaboard/sagaboard/web"
)

// invariantsReply is GET /api/invariants as a client reads it.
type invariantsReply struct {
	OK         *bool   `json:"ok"`
	CheckedAt  *string `json:"checked_at"`
	Violations []struct {
		Rule      string `json:"rule"`
		BookingID string `json:"booking_id"`
		Detail    string `json:"detail"`
	} `json:"violations"`
	Rules []struct {
		Rule    string `json:"rule"`
		Checked bool   `json:"checked"`
		Holds   bool   `json:"holds"`
	} `json:"rules"`
	Error string `json:"error"`
}

func getInvariants(t *testing.T, url string) (int, invariantsReply, string) {
	t.Helper()
	res, err := http.Get(url + "/api/invariants")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var r invariantsReply
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("GET /api/invariants: %v in %s", err, b)
	}
	return res.StatusCode, r, string(b)
}

func TestInvariantsAPIReportsTheCheckersVerdict(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(name string) *store.DB { return mustOpenStore(t, dir, name) }
	bus, sw := &quietBus{}, saga.NewSwitches()
	bdb := open("booking")
	bk, err := booking.New(ctx, bdb, bus, saga.Venue{Rows: 3, Cols: 4}, 0, log)
	if err != nil {
		t.Fatal(err)
	}
	pay, err := payment.New(ctx, open("payment"), bus, sw, log)
	if err != nil {
		t.Fatal(err)
	}
	st, err := seats.New(ctx, open("seats"), bus, sw, log)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := observer.New(ctx, open("observer"), bus, log)
	if err != nil {
		t.Fatal(err)
	}
	nt, err := notification.New(ctx, open("notification"), bus, sw, log)
	if err != nil {
		t.Fatal(err)
	}
	ba, err := bk.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ta, err := st.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	chk, err := invariants.New(invariants.Config{Bookings: ba, Ledger: pay.Audit(), Tickets: ta, Events: ob.Audit(), Notices: nt.Audit(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := web.New(web.Config{Booking: bk, Payment: pay, Observer: ob, Switches: sw, Broker: &fakeBroker{}, Invariants: chk, Log: log})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); ts.Close() })

	b, err := bk.Create(ctx, "alice", []string{"A1", "A2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chk.Check(ctx); err != nil {
		t.Fatal(err)
	}
	code, r, body := getInvariants(t, ts.URL)
	if code != http.StatusOK || r.OK == nil || !*r.OK || r.Violations == nil || len(r.Violations) != 0 {
		t.Fatalf("GET /api/invariants = %d %s, want 200 with ok true and an empty violations list", code, body)
	}
	if r.CheckedAt == nil {
		t.Fatalf("no checked_at in %s", body)
	}
	if at, err := time.Parse(time.RFC3339Nano, *r.CheckedAt); err != nil || time.Since(at) > time.Minute {
		t.Errorf("checked_at %q is not a recent RFC 3339 time", *r.CheckedAt)
	}
	if len(r.Rules) != 8 {
		t.Errorf("%d rules listed, want 8: %s", len(r.Rules), body)
	}

	// A pending booking's seat sold in the seat map breaks a rule.
	if _, err := bdb.Write(ctx, func(tx *store.Tx) ([]saga.Message, error) {
		_, err := tx.ExecContext(ctx, `UPDATE seats SET status = 'sold' WHERE id = 'A2'`)
		return nil, err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chk.Check(ctx); err != nil {
		t.Fatal(err)
	}
	code, r, body = getInvariants(t, ts.URL)
	if code != http.StatusOK || r.OK == nil || *r.OK {
		t.Fatalf("after a break: %d %s, want 200 with ok false", code, body)
	}
	if len(r.Violations) != 1 || r.Violations[0].Rule != invariants.RuleSeatSold || r.Violations[0].BookingID != b.ID || r.Violations[0].Detail == "" {
		t.Errorf("violations %+v, want one %s naming %s with a detail", r.Violations, invariants.RuleSeatSold, b.ID)
	}
}

func TestInvariantsAPISaysWhenNoCheckerRunsHere(t *testing.T) {
	srv := web.New(web.Config{Switches: saga.NewSwitches(), Broker: &fakeBroker{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); ts.Close() })
	res, err := http.Get(ts.URL + "/api/invariants")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusServiceUnavailable || e.Error == "" {
		t.Errorf("without a checker: %d %q, want 503 with a sentence", res.StatusCode, e.Error)
	}
}
