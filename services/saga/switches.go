package saga

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Switch is one participant's failure switch.
type Switch struct {
	// FailRate is the share of messages on which the step fails, 0 to 1.
	FailRate float64 `json:"fail_rate"`
	// DelayMS is added before each message is handled, 0 to 60000. It
	// applies to every booking: a queue is slowed, not a user.
	DelayMS int `json:"delay_ms"`
	// Paused stops the participant from consuming. It applies to every
	// booking: pausing is per queue.
	Paused bool `json:"paused"`
	// FailNext is how many of the next messages of the step fail, whatever
	// FailRate says, 0 to 100000; each one counts it down. 0 is off.
	//
	// It is counted in each process: in split mode every process that runs
	// the step fails its own next FailNext messages, because a count shared
	// across processes would need a round trip to one owner per message,
	// and the switches are only ever sent as a whole set, never as a
	// decrement. So with two payment processes, fail_next=3 fails up to 6.
	FailNext int `json:"fail_next"`
	// UserID, when not "", limits FailRate and FailNext to bookings of that
	// user: other users' bookings pass and do not count FailNext down. ""
	// is everyone.
	UserID string `json:"user_id"`
	// FailNextID names the setting that armed FailNext. Every change is
	// sent to every process as the whole set of switches, counts included;
	// a process that meets a FailNextID it has armed already keeps its own
	// count instead of starting again. Leave it out to arm fail_next: each
	// setting then gets a new one.
	FailNextID string `json:"fail_next_id,omitempty"`
}

// SwitchPatch is a partial Switch, as PUT /api/failures takes it.
type SwitchPatch struct {
	FailRate   *float64 `json:"fail_rate,omitempty"`
	DelayMS    *int     `json:"delay_ms,omitempty"`
	Paused     *bool    `json:"paused,omitempty"`
	FailNext   *int     `json:"fail_next,omitempty"`
	UserID     *string  `json:"user_id,omitempty"`
	FailNextID *string  `json:"fail_next_id,omitempty"`
}

// SwitchParts lists the participants that have a switch.
var SwitchParts = []string{PartPayment, PartSeats, PartNotification}

// MaxDelayMS bounds delay_ms.
const MaxDelayMS = 60000

// MaxFailNext bounds fail_next.
const MaxFailNext = 100000

// maxFailNextID bounds fail_next_id; NewID makes 16 characters.
const maxFailNextID = 64

// Switches holds every participant's switch. It is safe for concurrent use;
// readers on the hot path take a read lock only.
type Switches struct {
	mu      sync.RWMutex
	m       map[string]Switch
	slowMS  int            // slow motion: every hop waits this long
	pressed map[string]int // let-one-through presses per part, as the state counts them
	permits map[string]int // presses this process has not yet spent
	changed chan struct{}
	stamp   SwitchStamp // of the change that made the set in force
	origin  string      // this process, in the stamps of its own changes
}

// SwitchStamp orders changes of the switches made in different processes:
// the later change wins everywhere, so processes that missed each other's
// changes during a broker outage agree once they hear each other again.
type SwitchStamp struct {
	At int64  `json:"at"` // Unix milliseconds of the change
	By string `json:"by"` // the process that made it, to break a tie
}

func (a SwitchStamp) after(b SwitchStamp) bool {
	return a.At > b.At || (a.At == b.At && a.By > b.By)
}

// SwitchState is the whole set with the stamp of the change that made it:
// what processes send each other, and what each keeps on disk.
type SwitchState struct {
	SwitchStamp
	Switches map[string]Switch `json:"switches"`
	// SlowMS is slow motion: every consumer of the saga, the undo chain
	// included, waits this long before each message and takes one at a
	// time. 0 is off. It sits beside the participants' switches, not among
	// them, so GET /api/failures stays a map of participants.
	SlowMS int `json:"slow_ms,omitempty"`
	// LetThrough counts, per participant, the presses of "let one
	// through" since the set was first made. Each process lets through
	// one message of a paused step for every press it hears of after its
	// first state, so a count, not an event, crosses processes: a set
	// heard twice passes nothing twice. As with fail_next, two processes
	// that run the same step each let one through.
	LetThrough map[string]int `json:"let_through,omitempty"`
}

// NewSwitches returns switches that are all off.
func NewSwitches() *Switches {
	m := make(map[string]Switch, len(SwitchParts))
	for _, p := range SwitchParts {
		m[p] = Switch{}
	}
	return &Switches{m: m, pressed: map[string]int{}, permits: map[string]int{}, changed: make(chan struct{}), origin: NewID()}
}

// State returns the whole set and its stamp.
func (s *Switches) State() SwitchState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := SwitchState{SwitchStamp: s.stamp, Switches: make(map[string]Switch, len(s.m)), SlowMS: s.slowMS}
	for k, v := range s.m {
		st.Switches[k] = v
	}
	for k, v := range s.pressed {
		if v > 0 {
			if st.LetThrough == nil {
				st.LetThrough = map[string]int{}
			}
			st.LetThrough[k] = v
		}
	}
	return st
}

// ApplyState takes a state sent by another process, or kept on disk, when
// it is later than the one in force, and reports whether it did. Its values
// are checked as a PUT's are: a whole set is also a valid patch.
func (s *Switches) ApplyState(body []byte) (bool, error) {
	var raw struct {
		SwitchStamp
		Switches   json.RawMessage `json:"switches"`
		SlowMS     int             `json:"slow_ms"`
		LetThrough map[string]int  `json:"let_through"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return false, invalid("switch state is not JSON: %v", err)
	}
	p, err := ParsePatch(raw.Switches)
	if err != nil {
		return false, err
	}
	if err := checkSlow(raw.SlowMS); err != nil {
		return false, err
	}
	for part, n := range raw.LetThrough {
		if !isSwitchPart(part) || n < 0 {
			return false, invalid("let_through must count presses of payment, seats or notification")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !raw.SwitchStamp.after(s.stamp) {
		return false, nil
	}
	// The first state a process takes (kept on disk, or heard from a
	// dashboard at start) is where it starts counting: presses made
	// before it ran are not its to spend.
	first := s.stamp == SwitchStamp{}
	s.merge(p)
	s.slowMS = raw.SlowMS
	for _, part := range SwitchParts {
		n := raw.LetThrough[part]
		if d := n - s.pressed[part]; d > 0 && !first {
			s.permits[part] += d
		}
		s.pressed[part] = n
	}
	s.stamp = raw.SwitchStamp
	s.wake()
	return true, nil
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
		if sw.FailNext != nil && (*sw.FailNext < 0 || *sw.FailNext > MaxFailNext) {
			return nil, invalid("%s.fail_next must be a whole number from 0 to %d", part, MaxFailNext)
		}
		// The same rules as a booking's user_id, so a scope can name any
		// user who can book, and nobody else.
		if sw.UserID != nil && len(*sw.UserID) > MaxUserIDLen {
			return nil, invalid("%s.user_id is longer than %d bytes, so no booking can have it", part, MaxUserIDLen)
		}
		if sw.UserID != nil && !validText(*sw.UserID) {
			return nil, invalid("%s.user_id must be printable text, like a booking's user_id", part)
		}
		if sw.FailNextID != nil && (len(*sw.FailNextID) > maxFailNextID || !validText(*sw.FailNextID)) {
			return nil, invalid("%s.fail_next_id must be printable text of at most %d bytes; leave it out to set fail_next", part, maxFailNextID)
		}
	}
	return p, nil
}

// Apply merges a checked patch into the switches and wakes every watcher.
//
// fail_next is armed by a patch without a fail_next_id, or with an empty
// one (a person's change: it gets a new id, or none when it is 0), or with
// another id than the one in force (a setting made elsewhere). A patch with
// the id in force is that same setting coming back, as every change in any
// process sends the whole set again: it leaves this process's count alone,
// so nothing fails twice for one setting.
//
// It is a change made here, stamped now, so it wins over every change made
// before it anywhere.
func (s *Switches) Apply(p map[string]SwitchPatch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.merge(p)
	s.restamp()
	s.wake()
}

// restamp stamps a change made here now. The caller holds the write lock.
func (s *Switches) restamp() {
	now := SwitchStamp{At: time.Now().UnixMilli(), By: s.origin}
	if !now.after(s.stamp) { // a clock behind the last change's
		now.At = s.stamp.At + 1
	}
	s.stamp = now
}

// merge applies a checked patch. The caller holds the write lock.
func (s *Switches) merge(p map[string]SwitchPatch) {
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
			if !cur.Paused {
				s.permits[part] = 0
			}
		}
		if sw.UserID != nil {
			cur.UserID = *sw.UserID
		}
		id := ""
		if sw.FailNextID != nil {
			id = *sw.FailNextID
		}
		switch {
		case sw.FailNext == nil:
		case id == "" && *sw.FailNext == 0:
			// Off is the same setting wherever it was made, so it has no
			// id: a set that was never armed goes round unchanged.
			cur.FailNext, cur.FailNextID = 0, ""
		case id == "":
			cur.FailNext, cur.FailNextID = *sw.FailNext, NewID()
		case id != cur.FailNextID:
			cur.FailNext, cur.FailNextID = *sw.FailNext, id
		}
		s.m[part] = cur
	}
}

// wake closes the channel Changed returned and makes the next one. The
// caller holds the write lock.
func (s *Switches) wake() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Decide says whether part's switch fails the message it is about to
// handle, one of a booking of userID. roll is a uniform number in [0,1),
// passed in so tests can fix it. When the message fails, fault describes the
// setting that caused it as it was at that moment, the text stamped on the
// event it causes:
//
//	payment.fail_next=3 (user_id=alice)   fail_next before it was counted down
//	payment.fail_rate=1
//	seats.fail_rate=0.2 (user_id=bob)
//
// A switch scoped to a user passes every other user's message. fail_next
// comes before fail_rate, and failing one counts it down, under the lock, so
// N concurrent callers fail exactly N messages between them; a count down
// wakes watchers as Apply does. The count is spent when the decision is
// made: if the handler's transaction then rolls back, the message comes
// again and is decided again.
func (s *Switches) Decide(part, userID string, roll float64) (fault string, ok bool) {
	// The hot path, with no count to spend, takes a read lock only.
	s.mu.RLock()
	sw := s.m[part]
	if sw.FailNext == 0 || !sw.covers(userID) {
		defer s.mu.RUnlock()
		return sw.verdict(part, userID, roll)
	}
	s.mu.RUnlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	sw = s.m[part]
	fault, ok = sw.verdict(part, userID, roll)
	if ok && sw.FailNext > 0 {
		sw.FailNext--
		s.m[part] = sw
		s.wake()
	}
	return fault, ok
}

// covers reports whether the switch's failures apply to userID's bookings.
func (sw Switch) covers(userID string) bool { return sw.UserID == "" || sw.UserID == userID }

// verdict decides on one snapshot of a switch; Decide counts down.
func (sw Switch) verdict(part, userID string, roll float64) (string, bool) {
	switch {
	case !sw.covers(userID):
		return "", false
	case sw.FailNext > 0:
		return fmt.Sprintf("%s.fail_next=%d", part, sw.FailNext) + scope(sw), true
	case Injected(sw.FailRate, roll):
		return Describe(part, sw), true
	}
	return "", false
}

// Describe returns "payment.fail_rate=0.5", or "payment.fail_rate=0.5
// (user_id=alice)" for a switch scoped to a user: the text stamped on the
// event a fail rate caused.
func Describe(part string, sw Switch) string {
	return fmt.Sprintf("%s.fail_rate=%g", part, sw.FailRate) + scope(sw)
}

func scope(sw Switch) string {
	if sw.UserID == "" {
		return ""
	}
	return " (user_id=" + sw.UserID + ")"
}

func isSwitchPart(p string) bool {
	for _, q := range SwitchParts {
		if p == q {
			return true
		}
	}
	return false
}
