package saga_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

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
