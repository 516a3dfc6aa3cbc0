package observer_test

import (
	"context"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// TestSwitchesDuringTellsThePastFromTheRecord pauses seats, resumes it,
// and asks what the switches were during a wait that is over: the record
// says paused, although seats runs again now.
func TestSwitchesDuringTellsThePastFromTheRecord(t *testing.T) {
	ctx := context.Background()
	svc, _ := MustRunObserver(t, saga.ObserverQueue)
	switches := saga.NewSwitches()
	watch, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.WatchSwitches(watch, switches); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	yes, no := true, false
	before := time.Now()
	time.Sleep(5 * time.Millisecond)
	switches.Apply(map[string]saga.SwitchPatch{saga.PartSeats: {Paused: &yes}})
	paused := switches.State().At
	time.Sleep(20 * time.Millisecond)
	switches.Apply(map[string]saga.SwitchPatch{saga.PartSeats: {Paused: &no}})
	resumed := switches.State().At

	var got []int64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		changes, err := svc.SwitchesDuring(ctx, before, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, c := range changes {
			got = append(got, c.At.UnixMilli())
		}
		if len(changes) >= 3 && changes[len(changes)-1].At.UnixMilli() == resumed {
			if changes[0].Switches[saga.PartSeats].Paused {
				t.Errorf("seats paused before the pause: %+v", changes[0])
			}
			if c := changes[len(changes)-2]; c.At.UnixMilli() != paused || !c.Switches[saga.PartSeats].Paused {
				t.Errorf("the pause reads %+v, want seats paused at %d", c, paused)
			}
			if changes[len(changes)-1].Switches[saga.PartSeats].Paused {
				t.Errorf("seats still paused after resume")
			}
			// During the pause only: the pause in force at its start.
			during, err := svc.SwitchesDuring(ctx, time.UnixMilli(paused+1), time.UnixMilli(resumed-1))
			if err != nil {
				t.Fatal(err)
			}
			if len(during) != 1 || !during[0].Switches[saga.PartSeats].Paused {
				t.Errorf("during the pause the record says %+v", during)
			}
			return
		}
	}
	t.Fatalf("the record never showed the pause and the resume: %v (paused %d, resumed %d)", got, paused, resumed)
}
