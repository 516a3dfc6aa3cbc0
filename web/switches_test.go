package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// row is what the page's switch form sends on any change: every field of
// the row, the hidden "false" before the pause box, and the count as drawn.
func row(part string, fields map[string]string) url.Values {
	form := url.Values{
		part + ".fail_rate":       {"0"},
		part + ".delay_ms":        {"0"},
		part + ".paused":          {"false"},
		part + ".fail_next":       {"0"},
		part + ".fail_next_shown": {"0"},
		part + ".user_id":         {""},
	}
	for k, v := range fields {
		form.Set(part+"."+k, v)
	}
	return form
}

func (h *harness) lastPublished() map[string]saga.Switch {
	h.t.Helper()
	select {
	case all := <-h.Published:
		return all
	case <-time.After(time.Second):
		h.t.Fatal("the change was not sent to the other processes")
		return nil
	}
}

func TestSwitchFormScopesFailuresToAUserAndTheNextMessages(t *testing.T) {
	h := mustServe(t, "")
	res, body := h.post("/ui/failures", row("payment", map[string]string{"fail_next": "3", "user_id": "  alice "}))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("switch form: %d %s", res.StatusCode, body)
	}
	got := h.Switches.Get("payment")
	if got.FailNext != 3 || got.UserID != "alice" || got.FailRate != 0 {
		t.Errorf("payment switch = %+v, want fail_next 3 for alice only", got)
	}
	if said := squash(parse(t, body).Find(".msg-line.ok").Text()); said != "✔ payment fails the next 3 messages, only for alice" {
		t.Errorf("the answer reads %q", said)
	}
	if sent := h.lastPublished()["payment"]; sent.FailNext != 3 || sent.UserID != "alice" {
		t.Errorf("other processes were sent %+v", sent)
	}

	// The dashboard draws the scope in the row, with a hint.
	_, page := h.get("/")
	form := parse(t, page).Find("form#switch-payment")
	if v := form.Find(`input[name="payment.fail_next"]`).AttrOr("value", ""); v != "3" {
		t.Errorf("payment.fail_next reads %q, want 3", v)
	}
	if v := form.Find(`input[name="payment.user_id"]`).AttrOr("value", ""); v != "alice" {
		t.Errorf("payment.user_id reads %q, want alice", v)
	}
	if hint := squash(form.Find(".sw-scope-hint").Text()); hint != "next 3 fail · only alice" {
		t.Errorf("the row's hint reads %q", hint)
	}
	if !form.HasClass("failing") {
		t.Error("a row with fail_next 3 is not marked failing")
	}
	if parse(t, page).Find("form#switch-seats .sw-scope-hint").Length() != 0 {
		t.Error("a row without a scope shows a hint")
	}

	// Two of alice's messages fail; then the delay changes in the same row,
	// which sends fail_next as drawn (3): the count is not set again.
	h.Switches.Decide("payment", "alice", 0.5)
	h.Switches.Decide("payment", "alice", 0.5)
	armed := h.Switches.Get("payment").FailNextID
	res, body = h.post("/ui/failures", row("payment", map[string]string{"delay_ms": "100", "fail_next": "3", "fail_next_shown": "3", "user_id": "alice"}))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("delay change: %d %s", res.StatusCode, body)
	}
	if got := h.Switches.Get("payment"); got.FailNext != 1 || got.DelayMS != 100 || got.FailNextID != armed {
		t.Errorf("after a delay change the switch is %+v, want fail_next still 1 of the same setting, delay 100", got)
	}
	if sent := h.lastPublished()["payment"]; sent.FailNextID != armed {
		t.Errorf("the delay change was sent as a new fail_next setting: %+v", sent)
	}
	// Typing a new count sets it, even one equal to an earlier setting.
	h.post("/ui/failures", row("payment", map[string]string{"fail_next": "3", "fail_next_shown": "1", "user_id": "alice"}))
	if got := h.Switches.Get("payment"); got.FailNext != 3 || got.FailNextID == armed {
		t.Errorf("typing 3 over 1 gave %+v, want a new fail_next 3", got)
	}
	h.lastPublished()

	// Empty fields are off and everyone.
	res, body = h.post("/ui/failures", row("payment", map[string]string{"fail_next": "", "fail_next_shown": "3", "user_id": ""}))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("empty fields: %d %s", res.StatusCode, body)
	}
	if got := h.Switches.Get("payment"); got.FailNext != 0 || got.UserID != "" {
		t.Errorf("empty fail_next and user_id gave %+v, want 0 and everyone", got)
	}
	if said := squash(parse(t, body).Find(".msg-line.ok").Text()); said != "✔ payment does not fail" {
		t.Errorf("the answer reads %q", said)
	}
}

func TestSwitchFormRefusesABadScopeWithASentence(t *testing.T) {
	h := mustServe(t, "")
	h.post("/ui/failures", row("seats", map[string]string{"fail_rate": "0.5", "fail_next": "2", "user_id": "bob"}))
	before := h.Switches.Get("seats")
	for _, tc := range []struct {
		field, value, want string
	}{
		{"fail_next", "-1", "seats.fail_next must be a whole number from 0 to 100000"},
		{"fail_next", "100001", "seats.fail_next must be a whole number from 0 to 100000"},
		{"fail_next", "2.5", "seats.fail_next must be a whole number of messages from 0 to 100000"},
		{"fail_next", "lots", "seats.fail_next must be a whole number of messages from 0 to 100000"},
		{"fail_next_shown", "x", "seats.fail_next must be a whole number"},
		{"user_id", strings.Repeat("b", saga.MaxUserIDLen+1), "seats.user_id is longer than 64 bytes, so no booking can have it"},
		{"user_id", "bo\x00b", "seats.user_id must be printable text, like a booking's user_id"},
		{"user_id", "bo\x1bb", "seats.user_id must be printable text, like a booking's user_id"},
		{"fail_next_id", "x", `unknown switch field "seats.fail_next_id"`},
	} {
		res, body := h.post("/ui/failures", row("seats", map[string]string{tc.field: tc.value}))
		doc := parse(t, body)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(doc.Find(".msg-line.error").Text(), tc.want) {
			t.Errorf("%s=%q: %d %q, want 400 saying %q", tc.field, tc.value, res.StatusCode, squash(doc.Text()), tc.want)
			continue
		}
		// The row comes back as the switch is, over what was typed.
		seats := doc.Find(`form#switch-seats[hx-swap-oob="true"]`)
		if v := seats.Find(`input[name="seats.user_id"]`).AttrOr("value", ""); v != "bob" {
			t.Errorf("%s=%q: the seats row came back with user_id %q, want the unchanged bob", tc.field, tc.value, v)
		}
	}
	if got := h.Switches.Get("seats"); got != before {
		t.Errorf("refused changes changed the switch: %+v, was %+v", got, before)
	}
}

func TestFailuresAPITakesAndShowsTheScope(t *testing.T) {
	h := mustServe(t, "")
	put := func(body string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("PUT", h.URL+"/api/failures", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		return h.do(req)
	}
	res, body := put(`{"seats":{"fail_next":2,"user_id":"bob"}}`)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s", res.StatusCode, body)
	}
	_, body = h.get("/api/failures")
	var all map[string]map[string]any
	if err := json.Unmarshal([]byte(body), &all); err != nil {
		t.Fatalf("GET /api/failures: %v in %s", err, body)
	}
	seats := all["seats"]
	if seats["fail_next"] != 2.0 || seats["user_id"] != "bob" || seats["fail_rate"] != 0.0 || seats["delay_ms"] != 0.0 || seats["paused"] != false {
		t.Errorf("seats reads %v", seats)
	}
	if id, _ := seats["fail_next_id"].(string); id == "" {
		t.Errorf("seats has no fail_next_id: %v", seats)
	}
	if pay := all["payment"]; pay["fail_next"] != 0.0 || pay["user_id"] != "" {
		t.Errorf("payment reads %v, want fail_next 0 and user_id \"\"", pay)
	}
	if _, ok := all["payment"]["fail_next_id"]; ok {
		t.Errorf("a switch never armed shows a fail_next_id: %v", all["payment"])
	}

	for _, tc := range []struct{ body, want string }{
		{`{"seats":{"user_id":"bo\u0007b"}}`, "seats.user_id must be printable text, like a booking's user_id"},
		{`{"seats":{"fail_next":-3}}`, "seats.fail_next must be a whole number from 0 to 100000"},
		{`{"seats":{"failnext":3}}`, "unknown field"},
	} {
		res, body := put(tc.body)
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal([]byte(body), &e)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(e.Error, tc.want) {
			t.Errorf("PUT %s: %d %s, want 400 saying %q", tc.body, res.StatusCode, body, tc.want)
		}
	}
	if got := h.Switches.Get("seats"); got.FailNext != 2 || got.UserID != "bob" {
		t.Errorf("refused PUTs changed seats: %+v", got)
	}
}
