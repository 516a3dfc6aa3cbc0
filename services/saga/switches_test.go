package saga_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
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

func TestDecideFailsByRateAndSaysSo(t *testing.T) {
	s := mustSwitches(t, `{"payment":{"fail_rate":1},"seats":{"fail_rate":0.2}}`)
	if fault, ok := s.Decide("payment", "alice", 0.999); !ok || fault != "payment.fail_rate=1" {
		t.Errorf("payment at rate 1: %q %v, want payment.fail_rate=1", fault, ok)
	}
	if fault, ok := s.Decide("seats", "alice", 0.1); !ok || fault != "seats.fail_rate=0.2" {
		t.Errorf("seats at rate 0.2, roll 0.1: %q %v, want seats.fail_rate=0.2", fault, ok)
	}
	if fault, ok := s.Decide("seats", "alice", 0.2); ok {
		t.Errorf("seats at rate 0.2, roll 0.2 failed with %q", fault)
	}
	if fault, ok := s.Decide("notification", "alice", 0); ok {
		t.Errorf("notification, all off, failed with %q", fault)
	}
}

func TestDecideScopedToAUserSparesEveryoneElse(t *testing.T) {
	s := mustSwitches(t, `{"seats":{"fail_rate":0.2,"user_id":"bob"},"payment":{"fail_next":2,"user_id":"alice"}}`)
	if fault, ok := s.Decide("seats", "bob", 0); !ok || fault != "seats.fail_rate=0.2 (user_id=bob)" {
		t.Errorf("bob on seats: %q %v, want seats.fail_rate=0.2 (user_id=bob)", fault, ok)
	}
	if fault, ok := s.Decide("seats", "alice", 0); ok {
		t.Errorf("alice on a switch scoped to bob failed with %q", fault)
	}
	// Other users pass, and do not spend alice's count.
	for _, user := range []string{"bob", "Alice", "alice ", ""} {
		if fault, ok := s.Decide("payment", user, 0); ok {
			t.Errorf("user %q on a switch scoped to alice failed with %q", user, fault)
		}
	}
	if got := s.Get("payment").FailNext; got != 2 {
		t.Fatalf("other users counted fail_next down to %d, want 2", got)
	}
	for _, want := range []string{"payment.fail_next=2 (user_id=alice)", "payment.fail_next=1 (user_id=alice)"} {
		if fault, ok := s.Decide("payment", "alice", 0.99); !ok || fault != want {
			t.Errorf("alice: %q %v, want %q", fault, ok, want)
		}
	}
	if fault, ok := s.Decide("payment", "alice", 0); ok {
		t.Errorf("alice's third message failed with %q after fail_next 2", fault)
	}
	// Delay and pause stay global: a scope does not touch them.
	mustApply(t, s, `{"payment":{"paused":true,"delay_ms":100}}`)
	if got := s.Get("payment"); !got.Paused || got.DelayMS != 100 || got.UserID != "alice" {
		t.Errorf("payment = %+v, want paused, delay 100 and still scoped to alice", got)
	}
	// An empty user_id is everyone again.
	mustApply(t, s, `{"seats":{"user_id":""}}`)
	if fault, ok := s.Decide("seats", "alice", 0); !ok || fault != "seats.fail_rate=0.2" {
		t.Errorf("alice after the scope was lifted: %q %v, want seats.fail_rate=0.2", fault, ok)
	}
}

func TestFailNextFailsExactlyNThenTheRateDecides(t *testing.T) {
	s := mustSwitches(t, `{"notification":{"fail_next":3}}`)
	var faults []string
	for i := 0; i < 10; i++ {
		if fault, ok := s.Decide("notification", "carol", 0.5); ok {
			faults = append(faults, fault)
		}
	}
	want := []string{"notification.fail_next=3", "notification.fail_next=2", "notification.fail_next=1"}
	if strings.Join(faults, "; ") != strings.Join(want, "; ") {
		t.Errorf("10 messages after fail_next 3 failed with %q, want %q", faults, want)
	}
	if got := s.Get("notification").FailNext; got != 0 {
		t.Errorf("fail_next reads %d after it was spent, want 0", got)
	}

	// fail_next comes before fail_rate, whatever the roll, then the rate
	// decides again.
	mustApply(t, s, `{"notification":{"fail_next":1,"fail_rate":0.5}}`)
	if fault, ok := s.Decide("notification", "carol", 0.9); !ok || fault != "notification.fail_next=1" {
		t.Errorf("a roll over the rate with fail_next 1: %q %v, want notification.fail_next=1", fault, ok)
	}
	if fault, ok := s.Decide("notification", "carol", 0.9); ok {
		t.Errorf("a roll over the rate with fail_next spent failed with %q", fault)
	}
	if fault, ok := s.Decide("notification", "carol", 0.4); !ok || fault != "notification.fail_rate=0.5" {
		t.Errorf("a roll under the rate: %q %v, want notification.fail_rate=0.5", fault, ok)
	}
}

func TestFailNextCountsDownOnceUnderManyGoroutines(t *testing.T) {
	const n, goroutines, each = 500, 32, 100
	s := mustSwitches(t, fmt.Sprintf(`{"payment":{"fail_next":%d,"user_id":"alice"}}`, n))
	var failed atomic.Int64
	seen := make([]map[string]bool, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		seen[g] = map[string]bool{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				user := "alice"
				if i%3 == 0 {
					user = "bob" // passes, and spends nothing
				}
				if fault, ok := s.Decide("payment", user, 0.5); ok {
					failed.Add(1)
					seen[g][fault] = true
				}
			}
		}()
	}
	wg.Wait()
	if got := failed.Load(); got != n {
		t.Errorf("%d goroutines failed %d messages with fail_next %d, want exactly %d", goroutines, got, n, n)
	}
	// Each count is stamped on exactly one message.
	all := map[string]bool{}
	for _, m := range seen {
		for f := range m {
			if all[f] {
				t.Errorf("%q was stamped twice", f)
			}
			all[f] = true
		}
	}
	for i := 1; i <= n; i++ {
		if f := fmt.Sprintf("payment.fail_next=%d (user_id=alice)", i); !all[f] {
			t.Errorf("no message was stamped %q", f)
			break
		}
	}
	if got := s.Get("payment").FailNext; got != 0 {
		t.Errorf("fail_next reads %d, want 0", got)
	}
}

func TestFailNextCountdownWakesWatchers(t *testing.T) {
	s := mustSwitches(t, `{"seats":{"fail_next":1}}`)
	changed := s.Changed()
	if _, ok := s.Decide("seats", "dave", 0.5); !ok {
		t.Fatal("fail_next 1 did not fail the next message")
	}
	select {
	case <-changed:
	case <-time.After(time.Second):
		t.Fatal("counting fail_next down did not close the channel Changed() returned")
	}
	// A message that spends nothing wakes nobody.
	next := s.Changed()
	s.Decide("seats", "dave", 0.5)
	select {
	case <-next:
		t.Error("a message that changed no switch closed Changed()")
	default:
	}
}

// Switch changes travel between processes as the whole set, encoded from
// All() and checked by ParsePatch. The new fields must survive that trip,
// and the same setting coming back must not arm fail_next again.
func TestSwitchesSurviveTheTripBetweenProcesses(t *testing.T) {
	front := mustSwitches(t, `{"payment":{"fail_rate":0.25,"fail_next":3,"user_id":"alice"},"seats":{"delay_ms":50}}`)
	worker := saga.NewSwitches()
	send := func(from, to *saga.Switches) {
		t.Helper()
		body, err := json.Marshal(from.All())
		if err != nil {
			t.Fatal(err)
		}
		mustApply(t, to, string(body))
	}
	send(front, worker)
	if got, want := worker.All(), front.All(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the trip the worker has %+v, want %+v", got, want)
	}
	if got := worker.Get("payment"); got.FailNext != 3 || got.UserID != "alice" || got.FailNextID == "" {
		t.Errorf("worker payment = %+v, want fail_next 3 for alice, with the setting's id", got)
	}

	// The worker spends two; a change made on the front later sends the
	// whole set again, with fail_next 3 as the front still counts it.
	worker.Decide("payment", "alice", 0.9)
	worker.Decide("payment", "alice", 0.9)
	mustApply(t, front, `{"seats":{"delay_ms":0}}`)
	send(front, worker)
	if got := worker.Get("payment").FailNext; got != 1 {
		t.Errorf("the same setting sent again re-armed the worker to %d, want its own count of 1", got)
	}
	if got := worker.Get("seats").DelayMS; got != 0 {
		t.Errorf("the worker did not take the new delay: %d", got)
	}
	// A process also hears its own change: that must not re-arm it either.
	send(worker, worker)
	if got := worker.Get("payment").FailNext; got != 1 {
		t.Errorf("hearing its own set re-armed the worker to %d", got)
	}
	// A new setting, even of the same count, arms again everywhere.
	mustApply(t, front, `{"payment":{"fail_next":3}}`)
	send(front, worker)
	if got := worker.Get("payment").FailNext; got != 3 {
		t.Errorf("a new fail_next 3 left the worker at %d, want 3", got)
	}
	// The front spending its own count does not spend the worker's...
	for front.Get("payment").FailNext > 0 {
		front.Decide("payment", "alice", 0.9)
	}
	send(front, worker)
	if got := worker.Get("payment").FailNext; got != 3 {
		t.Errorf("the front's spent count reached the worker: %d, want 3", got)
	}
	// ...but turning fail_next off does.
	mustApply(t, front, `{"payment":{"fail_next":0}}`)
	send(front, worker)
	if got := worker.Get("payment").FailNext; got != 0 {
		t.Errorf("fail_next 0 left the worker at %d", got)
	}
	if fault, ok := worker.Decide("payment", "alice", 0.9); ok {
		t.Errorf("the worker still fails after fail_next 0: %q", fault)
	}
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

func TestApplyStateKeepsTheLaterChange(t *testing.T) {
	a, b := saga.NewSwitches(), saga.NewSwitches()
	rate := func(f float64) map[string]saga.SwitchPatch {
		return map[string]saga.SwitchPatch{saga.PartPayment: {FailRate: &f}}
	}
	a.Apply(rate(0.3))
	time.Sleep(2 * time.Millisecond)
	b.Apply(rate(0.7))
	older, _ := json.Marshal(a.State())
	newer, _ := json.Marshal(b.State())
	if took, err := b.ApplyState(older); err != nil || took {
		t.Errorf("an older state was taken (%v, %v): a change made before would undo a later one", took, err)
	}
	if took, err := a.ApplyState(newer); err != nil || !took {
		t.Errorf("the later state was not taken: %v, %v", took, err)
	}
	if a.Get(saga.PartPayment).FailRate != 0.7 || b.Get(saga.PartPayment).FailRate != 0.7 {
		t.Errorf("fail rates %v and %v, want both 0.7", a.Get(saga.PartPayment).FailRate, b.Get(saga.PartPayment).FailRate)
	}
	if took, _ := a.ApplyState(newer); took {
		t.Error("the same state taken twice: a process would echo its own change back and forth")
	}
	if _, err := a.ApplyState([]byte(`{"at":9999999999999,"switches":{"payment":{"fail_rate":2}}}`)); err == nil {
		t.Error("a state with a fail rate of 2 was taken; it must be checked as a PUT is")
	}
}
