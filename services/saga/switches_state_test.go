package saga_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

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
