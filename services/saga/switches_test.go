package saga_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

func TestParsePatchTakesAPartialPatch(t *testing.T) {
	p, err := saga.ParsePatch([]byte(`{"payment":{"fail_rate":0.5},"notification":{"paused":true,"delay_ms":60000}}`))
	if err != nil {
		t.Fatalf("ParsePatch(good patch): %v", err)
	}
	if len(p) != 2 {
		t.Fatalf("patch names %d participants, want 2: %+v", len(p), p)
	}
	pay := p["payment"]
	if pay.FailRate == nil || *pay.FailRate != 0.5 || pay.DelayMS != nil || pay.Paused != nil {
		t.Errorf("payment patch = %+v, want only fail_rate 0.5", pay)
	}
	n := p["notification"]
	if n.FailRate != nil || n.DelayMS == nil || *n.DelayMS != 60000 || n.Paused == nil || !*n.Paused {
		t.Errorf("notification patch = %+v, want delay_ms 60000 and paused", n)
	}
	for _, body := range []string{
		`{"seats":{"fail_rate":0}}`,
		`{"seats":{"fail_rate":1}}`,
		`{"seats":{"delay_ms":0}}`,
		`{"payment":{"fail_rate":1,"delay_ms":250,"paused":false},"seats":{"fail_rate":0.25},"notification":{"fail_rate":0}}`,
		" {\"payment\":{\"paused\":true}}\n",
	} {
		if _, err := saga.ParsePatch([]byte(body)); err != nil {
			t.Errorf("ParsePatch(%s): %v", body, err)
		}
	}
}

func TestParsePatchRefusesBadPatches(t *testing.T) {
	for _, tc := range []struct {
		name, body string
	}{
		{"unknown participant", `{"booking":{"fail_rate":1}}`},
		{"unknown participant next to a good one", `{"payment":{"fail_rate":1},"observer":{"paused":true}}`},
		{"participant in capitals", `{"PAYMENT":{"fail_rate":1}}`},
		{"fail_rate below 0", `{"payment":{"fail_rate":-0.1}}`},
		{"fail_rate above 1", `{"payment":{"fail_rate":2}}`},
		{"fail_rate just above 1", `{"seats":{"fail_rate":1.0000001}}`},
		{"delay_ms below 0", `{"payment":{"delay_ms":-1}}`},
		{"delay_ms above 60000", `{"payment":{"delay_ms":60001}}`},
		{"delay_ms 70000", `{"notification":{"delay_ms":70000}}`},
		{"fail_rate as a string", `{"payment":{"fail_rate":"1"}}`},
		{"delay_ms as a fraction", `{"payment":{"delay_ms":1.5}}`},
		{"delay_ms beyond int", `{"payment":{"delay_ms":1e30}}`},
		{"paused as a string", `{"payment":{"paused":"yes"}}`},
		{"switch as a number", `{"payment":1}`},
		{"unknown switch field", `{"payment":{"failrate":1}}`},
		{"empty object", `{}`},
		{"null", `null`},
		{"array", `[{"payment":{"fail_rate":1}}]`},
		{"empty body", ``},
		{"malformed JSON", `{"payment":{"fail_rate":1}`},
		{"trailing object", `{"payment":{"fail_rate":1}}{"seats":{"fail_rate":1}}`},
		{"trailing brace", `{"payment":{"fail_rate":1}}}`},
		{"trailing bracket", `{"payment":{"fail_rate":1}}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := saga.ParsePatch([]byte(tc.body))
			if err == nil {
				t.Fatalf("ParsePatch accepted it: %+v", p)
			}
			if !errors.Is(err, saga.ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid, so the API would not answer 400", err)
			}
		})
	}
}

func TestSwitchesApplyMergesAndWakesWatchers(t *testing.T) {
	s := saga.NewSwitches()
	for _, part := range saga.SwitchParts {
		if sw := s.Get(part); sw != (saga.Switch{}) {
			t.Errorf("new switch %s = %+v, want all off", part, sw)
		}
	}
	changed := s.Changed()
	select {
	case <-changed:
		t.Fatal("Changed() is closed before any change")
	default:
	}

	p, err := saga.ParsePatch([]byte(`{"payment":{"fail_rate":1,"delay_ms":500}}`))
	if err != nil {
		t.Fatal(err)
	}
	s.Apply(p)
	select {
	case <-changed:
	case <-time.After(time.Second):
		t.Fatal("Apply did not close the channel Changed() returned before it")
	}
	if got := s.Get("payment"); got != (saga.Switch{FailRate: 1, DelayMS: 500}) {
		t.Errorf("payment after Apply = %+v, want fail_rate 1 and delay_ms 500", got)
	}

	next := s.Changed()
	select {
	case <-next:
		t.Fatal("the channel for the next change is closed already")
	default:
	}
	// A partial patch leaves the fields it does not name alone.
	p, err = saga.ParsePatch([]byte(`{"payment":{"paused":true},"seats":{"fail_rate":0.5}}`))
	if err != nil {
		t.Fatal(err)
	}
	s.Apply(p)
	<-next
	all := s.All()
	if all["payment"] != (saga.Switch{FailRate: 1, DelayMS: 500, Paused: true}) {
		t.Errorf("payment after a second partial patch = %+v, want fail_rate 1, delay_ms 500, paused", all["payment"])
	}
	if all["seats"] != (saga.Switch{FailRate: 0.5}) || all["notification"] != (saga.Switch{}) {
		t.Errorf("seats %+v notification %+v, want fail_rate 0.5 and all off", all["seats"], all["notification"])
	}
	if len(all) != len(saga.SwitchParts) {
		t.Errorf("All() has %d switches, want %d", len(all), len(saga.SwitchParts))
	}
	// All returns a copy: changing it changes nothing.
	all["payment"] = saga.Switch{}
	if s.Get("payment").FailRate != 1 {
		t.Error("changing the map All() returned changed the switches")
	}
	// A participant without a switch is never added, even if asked directly.
	one := 1.0
	s.Apply(map[string]saga.SwitchPatch{"booking": {FailRate: &one}})
	if _, ok := s.All()["booking"]; ok {
		t.Error("Apply added a switch for booking, which has none")
	}
}

func TestDescribeNamesTheSwitch(t *testing.T) {
	if got := saga.Describe("payment", saga.Switch{FailRate: 1}); got != "payment.fail_rate=1" {
		t.Errorf("Describe = %q, want payment.fail_rate=1", got)
	}
	if got := saga.Describe("seats", saga.Switch{FailRate: 0.25}); !strings.Contains(got, "seats.fail_rate=0.25") {
		t.Errorf("Describe = %q, want seats.fail_rate=0.25", got)
	}
}

// mustSwitches returns switches set by a PUT /api/failures body.
func mustSwitches(t *testing.T, body string) *saga.Switches {
	t.Helper()
	s := saga.NewSwitches()
	mustApply(t, s, body)
	return s
}

func mustApply(t *testing.T, s *saga.Switches, body string) {
	t.Helper()
	p, err := saga.ParsePatch([]byte(body))
	if err != nil {
		t.Fatalf("ParsePatch(%s): %v", body, err)
	}
	s.Apply(p)
}

func TestParsePatchChecksTheScope(t *testing.T) {
	p, err := saga.ParsePatch([]byte(`{"payment":{"fail_next":100000,"user_id":"Zoë O'Brien (VIP)"},"seats":{"fail_next":0,"user_id":""}}`))
	if err != nil {
		t.Fatalf("ParsePatch(good scope): %v", err)
	}
	if pay := p["payment"]; pay.FailNext == nil || *pay.FailNext != 100000 || pay.UserID == nil || *pay.UserID != "Zoë O'Brien (VIP)" {
		t.Errorf("payment patch = %+v", pay)
	}
	if st := p["seats"]; st.FailNext == nil || *st.FailNext != 0 || st.UserID == nil || *st.UserID != "" {
		t.Errorf("seats patch = %+v, want fail_next 0 and user_id everyone", st)
	}
	long := strings.Repeat("u", saga.MaxUserIDLen)
	if _, err := saga.ParsePatch([]byte(`{"payment":{"user_id":"` + long + `"}}`)); err != nil {
		t.Errorf("a user_id of %d bytes, as long as a booking's may be, was refused: %v", saga.MaxUserIDLen, err)
	}

	for _, tc := range []struct {
		name, body, want string
	}{
		{"fail_next below 0", `{"payment":{"fail_next":-1}}`, "payment.fail_next must be a whole number from 0 to 100000"},
		{"fail_next above 100000", `{"seats":{"fail_next":100001}}`, "seats.fail_next must be a whole number from 0 to 100000"},
		{"fail_next as a fraction", `{"payment":{"fail_next":1.5}}`, "body must be an object"},
		{"fail_next as a string", `{"payment":{"fail_next":"3"}}`, "body must be an object"},
		{"user_id too long", `{"notification":{"user_id":"` + long + `x"}}`, "notification.user_id is longer than 64 bytes"},
		{"user_id with a newline", `{"payment":{"user_id":"ali\nce"}}`, "payment.user_id must be printable text"},
		{"user_id with a NUL", `{"payment":{"user_id":"\u0000"}}`, "payment.user_id must be printable text"},
		{"user_id with DEL", `{"payment":{"user_id":"a\u007f"}}`, "payment.user_id must be printable text"},
		{"user_id as a number", `{"payment":{"user_id":7}}`, "body must be an object"},
		{"user_id null among good fields", `{"payment":{"fail_rate":1,"userid":"bob"}}`, "unknown field"},
		{"fail_next_id with a tab", `{"payment":{"fail_next":1,"fail_next_id":"a\tb"}}`, "payment.fail_next_id must be printable text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := saga.ParsePatch([]byte(tc.body))
			if err == nil {
				t.Fatalf("ParsePatch accepted it: %+v", p)
			}
			if !errors.Is(err, saga.ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid, so the API would not answer 400", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestSlowMotionTravelsInTheState(t *testing.T) {
	here, there := saga.NewSwitches(), saga.NewSwitches()
	if err := here.SetSlow(500); err != nil {
		t.Fatalf("SetSlow(500): %v", err)
	}
	if err := here.SetSlow(saga.MaxSlowMS + 1); !errors.Is(err, saga.ErrInvalid) {
		t.Errorf("SetSlow(%d) = %v, want ErrInvalid", saga.MaxSlowMS+1, err)
	}
	body, _ := json.Marshal(here.State())
	if took, err := there.ApplyState(body); !took || err != nil {
		t.Fatalf("ApplyState(%s) = %v, %v; want taken", body, took, err)
	}
	if got := there.Slow(); got != 500*time.Millisecond {
		t.Errorf("the other process's slow motion is %v, want 500ms", got)
	}
	if all := there.All(); len(all) != len(saga.SwitchParts) {
		t.Errorf("slow motion leaked into the participants' map: %v", all)
	}
}

func TestLetOneThroughPassesOnePerPressInEveryProcess(t *testing.T) {
	web, seats := saga.NewSwitches(), saga.NewSwitches()
	send := func() {
		t.Helper()
		body, _ := json.Marshal(web.State())
		if _, err := seats.ApplyState(body); err != nil {
			t.Fatalf("ApplyState: %v", err)
		}
	}
	if err := web.LetOneThrough("seats"); !errors.Is(err, saga.ErrConflict) {
		t.Errorf("let one through on a step that is not paused = %v, want ErrConflict", err)
	}
	if err := web.LetOneThrough("booking"); !errors.Is(err, saga.ErrInvalid) {
		t.Errorf("let one through on booking = %v, want ErrInvalid", err)
	}
	paused := true
	web.Apply(map[string]saga.SwitchPatch{"seats": {Paused: &paused}})
	send() // the seats process's first state: where it starts counting
	for range 2 {
		if err := web.LetOneThrough("seats"); err != nil {
			t.Fatalf("LetOneThrough: %v", err)
		}
	}
	send()
	send() // heard twice: passes nothing twice
	if n := seats.Permits("seats"); n != 2 {
		t.Fatalf("after two presses the seats process has %d permits, want 2", n)
	}
	taken := 0
	for range 3 {
		if seats.TakePermit("seats") {
			taken++
		}
	}
	if taken != 2 {
		t.Errorf("two presses gave %d permits, want 2", taken)
	}
	if seats.Permits("payment") != 0 {
		t.Errorf("a press for seats gave payment a permit")
	}

	// A process that starts later takes the count as where it starts.
	late := saga.NewSwitches()
	body, _ := json.Marshal(web.State())
	if _, err := late.ApplyState(body); err != nil {
		t.Fatal(err)
	}
	if n := late.Permits("seats"); n != 0 {
		t.Errorf("a process that started after the presses has %d permits, want 0", n)
	}

	// Resuming drops what is left.
	_ = web.LetOneThrough("seats")
	off := false
	web.Apply(map[string]saga.SwitchPatch{"seats": {Paused: &off}})
	if web.TakePermit("seats") {
		t.Errorf("a permit outlived the pause it was for")
	}
}
