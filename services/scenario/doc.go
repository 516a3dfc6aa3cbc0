// Package scenario plays narrated, self-checking lessons against a running
// sagaboard, and records what a person does as one.
//
// A scenario is a small JSON document: a name, a title and steps. Each step
// does one thing (set switches, book, wait, pause, resume, let one through)
// or expects one thing (a status, a reason, the money, the invariants), and
// says in a sentence why. The runner speaks only the server's JSON API over
// HTTP, so the same code plays a lesson on the page, in a test and from
// `sagaboard -scenario FILE` against another machine.
//
// A run keeps out of a person's way where the API lets it: its users are its
// own (lesson-<run>-alice), a switch's user_id is scoped to them, and every
// switch it touched is put back when it ends, passed or failed. Pause,
// delay and slow motion are per queue, so those a person sees too.
package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// Document is one scenario as it is written.
type Document struct {
	// Name is the scenario's id in URLs: lowercase letters, digits and
	// dashes.
	Name string `json:"name"`
	// Title is what the page shows.
	Title string `json:"title"`
	// About says, in a sentence or two, what the lesson teaches.
	About string `json:"about,omitempty"`
	Steps []Step `json:"steps"`
}

// Step does one thing or checks one thing. Exactly one of its actions is
// set; Say narrates it.
type Step struct {
	// Say is the caption shown while the step runs.
	Say string `json:"say"`

	// Switches is merged into the failure switches, as PUT /api/failures.
	// A user_id names a user of the scenario and is scoped like one.
	Switches map[string]saga.SwitchPatch `json:"switches,omitempty"`
	// SlowMotion sets slow motion, in ms per hop (PUT /api/slow-motion).
	SlowMotion *int `json:"slow_motion,omitempty"`
	// Pause, Resume and LetOneThrough name a participant.
	Pause         string `json:"pause,omitempty"`
	Resume        string `json:"resume,omitempty"`
	LetOneThrough string `json:"let_one_through,omitempty"`
	// Book starts bookings.
	Book *Book `json:"book,omitempty"`
	// Wait waits for a booking, or for a time.
	Wait *Wait `json:"wait,omitempty"`
	// Expect checks something, polling until it holds or its time is up.
	Expect *Expect `json:"expect,omitempty"`
}

// Book starts Count bookings (default 1) as User, each of Seats, or of Any
// free seats (default 1) when no seats are named.
type Book struct {
	// User is a name in the scenario; the run books as lesson-<run>-<user>.
	User  string   `json:"user"`
	Seats []string `json:"seats,omitempty"`
	Any   int      `json:"any,omitempty"`
	Count int      `json:"count,omitempty"`
	// As names the bookings for later steps; default the user.
	As string `json:"as,omitempty"`
}

// Wait waits until Booking reaches Until, for at most Within, or for For.
type Wait struct {
	// Booking names bookings by their Book.As (every one of them).
	Booking string `json:"booking,omitempty"`
	// Until is a status (pending, confirmed, compensated), "decided" (not
	// pending) or "notified".
	Until string `json:"until,omitempty"`
	// Within bounds the wait; default 30s.
	Within Duration `json:"within,omitempty"`
	// For waits this long, whatever happens.
	For Duration `json:"for,omitempty"`
	// Otherwise is added to the sentence when the wait runs out: what the
	// lesson needs that this server may not give it.
	Otherwise string `json:"otherwise,omitempty"`
}

// Expect checks one or more things of a booking, or the invariants. Each
// is polled until it holds, for at most Within (default 10s), so a check
// need not know how fast the saga is.
type Expect struct {
	Booking string `json:"booking,omitempty"`
	// Status is pending, confirmed, compensated or decided.
	Status string `json:"status,omitempty"`
	// Reason is found in the booking's reason.
	Reason string `json:"reason,omitempty"`
	// Waiting is found in the queue the booking waits in, or in its note.
	Waiting string `json:"waiting,omitempty"`
	// Event is a message type on the booking's timeline.
	Event string `json:"event,omitempty"`
	// Money is "nets" (what was charged less what was refunded is the price
	// of what was sold), "refunded" (charged, then all refunded) or
	// "untouched" (nothing charged).
	Money string `json:"money,omitempty"`
	// Invariants true expects every rule checked and holding.
	Invariants bool     `json:"invariants,omitempty"`
	Within     Duration `json:"within,omitempty"`
}

// Duration is a time.Duration written as "2s" in a document.
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "2s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a string such as "2s" or "500ms".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"2s\", not %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration such as \"2s\"", s)
	}
	*d = Duration(v)
	return nil
}

// The limits a document must keep.
const (
	MaxSteps    = 200
	MaxUserLen  = 24 // lesson-<run>-<user> must fit saga.MaxUserIDLen
	MaxCount    = 100
	MaxWait     = 5 * time.Minute
	DefaultWait = 30 * time.Second
	// DefaultWithin is how long an expectation is polled by default.
	DefaultWithin = 10 * time.Second
)

// Until and Status values besides saga's statuses.
const (
	Decided  = "decided"
	Notified = "notified"
)

// The Money values.
const (
	MoneyNets      = "nets"
	MoneyRefunded  = "refunded"
	MoneyUntouched = "untouched"
)

// ErrInvalid is wrapped by every error Parse returns: the document is
// not one the runner can play.
var ErrInvalid = errors.New("scenario: invalid document")

var (
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,47}$`)
	userRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,24}$`)
)

// Parse reads a document strictly: unknown fields, trailing data and
// steps that do nothing or two things are refused with a sentence that
// names the step.
func Parse(b []byte) (Document, error) {
	var d Document
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Document{}, errorf(ErrInvalid, "%s", explainJSON(b, dec, err))
	}
	if dec.More() {
		return Document{}, errorf(ErrInvalid, "there is more after the document's closing brace")
	}
	if err := d.Validate(); err != nil {
		return Document{}, err
	}
	return d, nil
}

// explainJSON turns a decoding error into a sentence with a line number.
func explainJSON(b []byte, dec *json.Decoder, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "not valid JSON: the document ends before it is complete"
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON at line %d: %v", lineOf(b, syn.Offset), syn)
	case errors.As(err, &typ):
		return fmt.Sprintf("line %d: %s must be %s, not a JSON %s", lineOf(b, typ.Offset), typ.Field, typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return fmt.Sprintf("line %d: %s; a step takes say with one of switches, slow_motion, pause, resume, let_one_through, book, wait or expect",
			lineOf(b, dec.InputOffset()), strings.TrimPrefix(err.Error(), "json: "))
	}
	return err.Error()
}

func lineOf(b []byte, off int64) int {
	off = min(max(off, 0), int64(len(b)))
	return 1 + bytes.Count(b[:off], []byte("\n"))
}

// Validate checks what decoding cannot: names, one action per step, and
// that every booking a step names was booked by an earlier step.
func (d Document) Validate() error {
	bad := func(format string, a ...any) error {
		return errorf(ErrInvalid, "%s", fmt.Sprintf(format, a...))
	}
	if !nameRE.MatchString(d.Name) {
		return bad("name %q must be 1 to 48 lowercase letters, digits and dashes, such as \"why-did-it-fail\"", d.Name)
	}
	if strings.TrimSpace(d.Title) == "" {
		return bad("%s has no title", d.Name)
	}
	if len(d.Steps) == 0 || len(d.Steps) > MaxSteps {
		return bad("%s must have from 1 to %d steps, not %d", d.Name, MaxSteps, len(d.Steps))
	}
	booked := map[string]bool{}
	for i, s := range d.Steps {
		n := i + 1
		if strings.TrimSpace(s.Say) == "" {
			return bad("step %d has nothing to say; every step narrates itself in say", n)
		}
		if k := s.kinds(); len(k) != 1 {
			if len(k) == 0 {
				return bad("step %d (%q) does nothing; give it one of switches, slow_motion, pause, resume, let_one_through, book, wait or expect", n, s.Say)
			}
			return bad("step %d does %s at once; give each its own step", n, strings.Join(k, " and "))
		}
		for _, p := range []string{s.Pause, s.Resume, s.LetOneThrough} {
			if p != "" && !slices.Contains(saga.SwitchParts, p) {
				return bad("step %d names %q; a step to pause, resume or let through is one of %s", n, p, strings.Join(saga.SwitchParts, ", "))
			}
		}
		if s.Switches != nil {
			body, _ := json.Marshal(s.Switches)
			if _, err := saga.ParsePatch(body); err != nil {
				return bad("step %d: %v", n, err)
			}
			for part, p := range s.Switches {
				if p.UserID != nil && *p.UserID != "" && !userRE.MatchString(*p.UserID) {
					return bad("step %d: %s.user_id %q must be a user of the scenario: 1 to %d letters, digits, '.', '_' or '-'", n, part, *p.UserID, MaxUserLen)
				}
			}
		}
		if s.SlowMotion != nil && (*s.SlowMotion < 0 || *s.SlowMotion > 10000) {
			return bad("step %d: slow_motion must be from 0 to 10000 ms", n)
		}
		if b := s.Book; b != nil {
			if !userRE.MatchString(b.User) {
				return bad("step %d: book.user %q must be 1 to %d letters, digits, '.', '_' or '-'", n, b.User, MaxUserLen)
			}
			if len(b.Seats) > 0 && b.Any > 0 {
				return bad("step %d: book names seats and any at once; give one", n)
			}
			if b.Count < 0 || b.Count > MaxCount || b.Any < 0 || b.Any > 10 {
				return bad("step %d: book.count must be from 1 to %d and book.any from 1 to 10", n, MaxCount)
			}
			if len(b.Seats) > 0 && b.Count > 1 {
				return bad("step %d: a seat can be booked once; give any instead of seats to book %d times", n, b.Count)
			}
			booked[b.ref()] = true
		}
		if w := s.Wait; w != nil {
			switch {
			case w.For > 0 && w.Booking != "":
				return bad("step %d: wait for a time or for a booking, not both", n)
			case w.For > 0:
				if time.Duration(w.For) > MaxWait {
					return bad("step %d: wait.for is at most %s", n, MaxWait)
				}
			case w.Booking == "" || w.Until == "":
				return bad("step %d: wait needs booking and until, or for", n)
			case !validUntil(w.Until, true):
				return bad("step %d: wait.until %q must be pending, confirmed, compensated, decided or notified", n, w.Until)
			case time.Duration(w.Within) > MaxWait:
				return bad("step %d: wait.within is at most %s", n, MaxWait)
			}
			if w.Booking != "" && !booked[w.Booking] {
				return bad("step %d waits for booking %q, which no earlier step books (book.as, or its user)", n, w.Booking)
			}
		}
		if e := s.Expect; e != nil {
			if !e.Invariants && e.Booking == "" {
				return bad("step %d: expect needs a booking or invariants: true", n)
			}
			if e.Booking != "" && e.Status == "" && e.Reason == "" && e.Waiting == "" && e.Event == "" && e.Money == "" {
				return bad("step %d: expect names booking %q but nothing to expect of it (status, reason, waiting, event or money)", n, e.Booking)
			}
			if e.Booking != "" && !booked[e.Booking] {
				return bad("step %d expects of booking %q, which no earlier step books (book.as, or its user)", n, e.Booking)
			}
			if e.Status != "" && !validUntil(e.Status, false) {
				return bad("step %d: expect.status %q must be pending, confirmed, compensated or decided", n, e.Status)
			}
			if e.Money != "" && e.Money != MoneyNets && e.Money != MoneyRefunded && e.Money != MoneyUntouched {
				return bad("step %d: expect.money %q must be nets, refunded or untouched", n, e.Money)
			}
			if time.Duration(e.Within) > MaxWait {
				return bad("step %d: expect.within is at most %s", n, MaxWait)
			}
		}
	}
	return nil
}

func validUntil(s string, notified bool) bool {
	return saga.ValidStatus(s) || s == Decided || (notified && s == Notified)
}

// kinds lists the actions a step sets.
func (s Step) kinds() []string {
	var k []string
	add := func(set bool, name string) {
		if set {
			k = append(k, name)
		}
	}
	add(s.Switches != nil, "switches")
	add(s.SlowMotion != nil, "slow_motion")
	add(s.Pause != "", "pause")
	add(s.Resume != "", "resume")
	add(s.LetOneThrough != "", "let_one_through")
	add(s.Book != nil, "book")
	add(s.Wait != nil, "wait")
	add(s.Expect != nil, "expect")
	return k
}

func (b Book) ref() string {
	if b.As != "" {
		return b.As
	}
	return b.User
}

// Summary is a scenario as GET /api/scenarios lists it.
type Summary struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	About string `json:"about,omitempty"`
	Steps int    `json:"steps"`
}

// Summary returns the document's line in the list.
func (d Document) Summary() Summary {
	return Summary{Name: d.Name, Title: d.Title, About: d.About, Steps: len(d.Steps)}
}

// Error is a failure with the sentence a user reads; Kind is ErrInvalid,
// ErrNotFound or ErrBusy, for errors.Is.
type Error struct {
	Kind     error
	Sentence string
}

func (e *Error) Error() string { return e.Sentence }

// Unwrap returns the kind.
func (e *Error) Unwrap() error { return e.Kind }

func errorf(kind error, format string, a ...any) error {
	return &Error{Kind: kind, Sentence: fmt.Sprintf(format, a...)}
}
