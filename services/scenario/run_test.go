package scenario_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/scenario"
)

// fakeAPI is the few routes a scenario uses, deciding each booking at
// once: payment declines while its fail_next lasts, for its user only.
type fakeAPI struct {
	mu       sync.Mutex
	switches map[string]saga.Switch
	bookings map[string]map[string]any
	users    []string
	token    string
	sawToken bool
}

func newFake() *fakeAPI {
	return &fakeAPI{switches: map[string]saga.Switch{"payment": {}, "seats": {}, "notification": {FailRate: 0.5}}, bookings: map[string]map[string]any{}}
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.token != "" && r.Header.Get("Authorization") == "Bearer "+f.token {
		f.sawToken = true
	}
	reply := func(v any) { w.Header().Set("Content-Type", "application/json"); _ = json.NewEncoder(w).Encode(v) }
	switch {
	case r.Method == "GET" && r.URL.Path == "/api/failures":
		reply(f.switches)
	case r.Method == "PUT" && r.URL.Path == "/api/failures":
		var p map[string]saga.SwitchPatch
		_ = json.NewDecoder(r.Body).Decode(&p)
		for part, sp := range p {
			sw := f.switches[part]
			if sp.FailRate != nil {
				sw.FailRate = *sp.FailRate
			}
			if sp.FailNext != nil {
				sw.FailNext = *sp.FailNext
			}
			if sp.UserID != nil {
				sw.UserID = *sp.UserID
			}
			if sp.Paused != nil {
				sw.Paused = *sp.Paused
			}
			if sp.DelayMS != nil {
				sw.DelayMS = *sp.DelayMS
			}
			f.switches[part] = sw
		}
		reply(f.switches)
	case r.Method == "GET" && r.URL.Path == "/api/seats":
		reply([]map[string]string{{"id": "A1", "status": "sold"}, {"id": "A2", "status": "free"}, {"id": "A3", "status": "free"}})
	case r.Method == "POST" && r.URL.Path == "/api/bookings":
		var req struct {
			UserID string   `json:"user_id"`
			Seats  []string `json:"seats"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.users = append(f.users, req.UserID)
		id := fmt.Sprintf("b%d", len(f.bookings)+1)
		b := map[string]any{"id": id, "user_id": req.UserID, "status": "confirmed", "amount_cents": 1000 * len(req.Seats), "notified": true}
		if sw := f.switches["payment"]; sw.FailNext > 0 && (sw.UserID == "" || sw.UserID == req.UserID) {
			b["status"], b["reason"] = "compensated", fmt.Sprintf("declined: payment.fail_next=%d (user_id=%s)", sw.FailNext, sw.UserID)
			sw.FailNext--
			f.switches["payment"] = sw
		}
		f.bookings[id] = b
		w.WriteHeader(http.StatusAccepted)
		reply(map[string]string{"id": id, "status": "pending"})
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/api/bookings/"):
		b, ok := f.bookings[strings.TrimPrefix(r.URL.Path, "/api/bookings/")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			reply(map[string]string{"error": "no such booking"})
			return
		}
		reply(b)
	case r.Method == "GET" && r.URL.Path == "/api/payments":
		b := f.bookings[r.URL.Query().Get("booking_id")]
		if b != nil && b["status"] == "confirmed" {
			reply([]map[string]any{{"kind": "charge", "amount_cents": b["amount_cents"]}})
			return
		}
		reply([]any{})
	case r.URL.Path == "/api/invariants":
		reply(map[string]any{"ok": true, "state": "ok"})
	default:
		w.WriteHeader(http.StatusNotFound)
		reply(map[string]string{"error": "no such API endpoint"})
	}
}

const declineDoc = `{"name":"decline","title":"Decline","steps":[
 {"say":"Payment declines mallory's next.","switches":{"payment":{"fail_next":1,"user_id":"mallory"}}},
 {"say":"Mallory books.","book":{"user":"mallory"}},
 {"say":"Alice books two.","book":{"user":"alice","any":2}},
 {"say":"Mallory's is declined.","expect":{"booking":"mallory","status":"compensated","reason":"declined: payment.fail_next=1","money":"untouched"}},
 {"say":"Alice's is confirmed.","expect":{"booking":"alice","status":%q,"money":"nets","within":"300ms"}},
 {"say":"Invariants hold.","expect":{"invariants":true}}
]}`

func play(t *testing.T, f *fakeAPI, doc string, token string) scenario.Report {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	d, err := scenario.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return scenario.NewRun(d, &scenario.Client{Base: srv.URL, Token: token}, "r1").Play(context.Background())
}

func TestRunPassesScopesUsersAndPutsSwitchesBack(t *testing.T) {
	f := newFake()
	f.token = "sekrit-token-of-some-length"
	before, _ := json.Marshal(f.switches)
	rep := play(t, f, fmt.Sprintf(declineDoc, "confirmed"), f.token)
	if rep.State != scenario.Passed {
		t.Fatalf("state %s: %+v", rep.State, rep.Steps)
	}
	if strings.Join(f.users, ",") != "lesson-r1-mallory,lesson-r1-alice" {
		t.Errorf("booked as %v, want the run's own users", f.users)
	}
	if after, _ := json.Marshal(f.switches); string(after) != string(before) {
		t.Errorf("switches after = %s, want put back as %s", after, before)
	}
	if !f.sawToken {
		t.Error("the token was not sent")
	}
	if rep.Restored != "put back as they were: payment" || !strings.HasPrefix(rep.Verdict, "Passed") {
		t.Errorf("restored %q, verdict %q", rep.Restored, rep.Verdict)
	}
}

func TestRunWrongExpectationSaysWhatDiffered(t *testing.T) {
	f := newFake()
	rep := play(t, f, fmt.Sprintf(declineDoc, "compensated"), "")
	if rep.State != scenario.Failed {
		t.Fatalf("state %s, want failed", rep.State)
	}
	s := rep.Steps[4]
	if s.OK || s.Expected != "alice: compensated, money nets out (charged less refunded = the price of what was sold)" ||
		!strings.Contains(s.Seen, "after 300ms: alice (b2): status confirmed") {
		t.Errorf("step 5 = %+v", s)
	}
	if !rep.Steps[5].OK || rep.Verdict != "Failed: step 5 did not go as expected." {
		t.Errorf("the run should go on after a wrong guess and name it: %q %+v", rep.Verdict, rep.Steps[5])
	}
	if f.switches["payment"].UserID != "" {
		t.Errorf("payment still scoped to %q after a failed run", f.switches["payment"].UserID)
	}
}

func TestRunStopsWhenAnActionFails(t *testing.T) {
	f := newFake()
	rep := play(t, f, `{"name":"x","title":"X","steps":[
 {"say":"Pause seats.","pause":"seats"},
 {"say":"Book four.","book":{"user":"gus","any":4}},
 {"say":"Never reached.","expect":{"invariants":true}}]}`, "")
	if rep.State != scenario.Failed || rep.Steps[2].Done || !strings.Contains(rep.Steps[1].Seen, "only 2 seats are free and the step needs 4") {
		t.Errorf("report = %+v", rep)
	}
	if f.switches["seats"].Paused {
		t.Error("seats left paused")
	}
	if !strings.Contains(rep.Verdict, "step 2 could not be done") {
		t.Errorf("verdict %q", rep.Verdict)
	}
}
