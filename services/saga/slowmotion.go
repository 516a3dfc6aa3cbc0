package saga

import (
	"fmt"
	"time"
)

// MaxSlowMS bounds slow motion; a hop slower than this is no longer
// something a person watches.
const MaxSlowMS = 10000

func checkSlow(ms int) error {
	if ms < 0 || ms > MaxSlowMS {
		return invalid("slow motion must be from 0 to %d ms per hop", MaxSlowMS)
	}
	return nil
}

// Slow returns slow motion's delay per hop, 0 when it is off.
func (s *Switches) Slow() time.Duration {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return time.Duration(s.slowMS) * time.Millisecond
}

// SetSlow sets slow motion to ms per hop, 0 to turn it off, as a change
// made here (see Apply). It refuses a value out of range, as ErrInvalid.
func (s *Switches) SetSlow(ms int) error {
	if err := checkSlow(ms); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slowMS = ms
	s.restamp()
	s.wake()
	return nil
}

// LetOneThrough lets the next message of part's step through while the step
// is paused, as a change made here: it is sent to every process, and each
// one that runs the step passes one message. It refuses a part without a
// switch (ErrInvalid) and a step that is not paused (ErrConflict), where
// a press would be kept for a pause that has not come yet.
func (s *Switches) LetOneThrough(part string) error {
	if !isSwitchPart(part) {
		return invalid("unknown participant %q; use payment, seats or notification", truncate(part, 32))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.m[part].Paused {
		return fmt.Errorf("%w: %s is not paused, so every message goes through already; pause it first", ErrConflict, part)
	}
	s.pressed[part]++
	s.permits[part]++
	s.restamp()
	s.wake()
	return nil
}

// Permits returns how many messages of part's step this process may still
// let through while it is paused.
func (s *Switches) Permits(part string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.permits[part]
}

// TakePermit spends one of part's permits, as a paused consumer takes the
// message it lets through, and reports whether there was one. Resuming
// the step drops what is left: a permit is for one pause.
func (s *Switches) TakePermit(part string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.permits[part] == 0 || !s.m[part].Paused {
		return false
	}
	s.permits[part]--
	return true
}
