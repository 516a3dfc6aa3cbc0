package saga

import (
	"fmt"
	"sync"
)

// Switch is one participant's failure switch.
type Switch struct {
	// FailRate is the share of messages on which the step fails, 0 to 1.
	FailRate float64 `json:"fail_rate"`
	// DelayMS is added before each message is handled, 0 to 60000.
	DelayMS int `json:"delay_ms"`
	// Paused stops the participant from consuming.
	Paused bool `json:"paused"`
}

// SwitchPatch is a partial Switch, as PUT /api/failures takes it.
type SwitchPatch struct {
	FailRate *float64 `json:"fail_rate,omitempty"`
	DelayMS  *int     `json:"delay_ms,omitempty"`
	Paused   *bool    `json:"paused,omitempty"`
}

// SwitchParts lists the participants that have a switch.
var SwitchParts = []string{PartPayment, PartSeats, PartNotification}

// MaxDelayMS bounds delay_ms.
const MaxDelayMS = 60000

// Switches holds every participant's switch. It is safe for concurrent use;
// readers on the hot path take a read lock only.
type Switches struct {
	mu      sync.RWMutex
	m       map[string]Switch
	changed chan struct{}
}

// NewSwitches returns switches that are all off.
func NewSwitches() *Switches {
	m := make(map[string]Switch, len(SwitchParts))
	for _, p := range SwitchParts {
		m[p] = Switch{}
	}
	return &Switches{m: m, changed: make(chan struct{})}
}

// Get returns one participant's switch.
func (s *Switches) Get(part string) Switch {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[part]
}

// All returns a copy of every switch.
func (s *Switches) All() map[string]Switch {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]Switch, len(s.m))
	for k, v := range s.m {
		out[k] = v
	}
	return out
}

// Changed returns a channel that is closed at the next change.
func (s *Switches) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}

// ParsePatch decodes a PUT /api/failures body and checks every value, so a
// bad request changes nothing.
func ParsePatch(body []byte) (map[string]SwitchPatch, error) {
	var p map[string]SwitchPatch
	if err := DecodeStrict(body, &p); err != nil {
		return nil, invalid("body must be an object like {\"payment\":{\"fail_rate\":1}}: %v", err)
	}
	if len(p) == 0 {
		return nil, invalid("body names no participant; use payment, seats or notification")
	}
	for part, sw := range p {
		if !isSwitchPart(part) {
			return nil, invalid("unknown participant %q; use payment, seats or notification", truncate(part, 32))
		}
		if sw.FailRate != nil && (*sw.FailRate < 0 || *sw.FailRate > 1 || *sw.FailRate != *sw.FailRate) {
			return nil, invalid("%s.fail_rate must be from 0 to 1", part)
		}
		if sw.DelayMS != nil && (*sw.DelayMS < 0 || *sw.DelayMS > MaxDelayMS) {
			return nil, invalid("%s.delay_ms must be from 0 to %d", part, MaxDelayMS)
		}
	}
	return p, nil
}

// Apply merges a checked patch into the switches and wakes every watcher.
func (s *Switches) Apply(p map[string]SwitchPatch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for part, sw := range p {
		if !isSwitchPart(part) {
			continue
		}
		cur := s.m[part]
		if sw.FailRate != nil {
			cur.FailRate = *sw.FailRate
		}
		if sw.DelayMS != nil {
			cur.DelayMS = *sw.DelayMS
		}
		if sw.Paused != nil {
			cur.Paused = *sw.Paused
		}
		s.m[part] = cur
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// Describe returns "payment.fail_rate=0.5" for a switch that injected a fault,
// the text stamped on the event it caused.
func Describe(part string, sw Switch) string {
	return fmt.Sprintf("%s.fail_rate=%g", part, sw.FailRate)
}

func isSwitchPart(p string) bool {
	for _, q := range SwitchParts {
		if p == q {
			return true
		}
	}
	return false
}
