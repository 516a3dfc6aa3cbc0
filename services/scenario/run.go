package scenario

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// The states of a run.
const (
	Running = "running"
	Passed  = "passed"
	Failed  = "failed"
)

// Report is a run as GET /api/scenarios/runs/{run} shows it.
type Report struct {
	Run   string       `json:"run"`
	Name  string       `json:"name"`
	Title string       `json:"title"`
	State string       `json:"state"`
	Steps []StepResult `json:"steps"`
	// Current is the index of the step being played, len(Steps) once done.
	Current int `json:"current"`
	// Verdict is a sentence once the run is over.
	Verdict string `json:"verdict,omitempty"`
	// Restored says which switches were put back as they were.
	Restored string    `json:"restored,omitempty"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended,omitzero"`
}

// StepResult is one step of a run. A step not reached yet is not Done.
type StepResult struct {
	Text     string `json:"text"`
	Kind     string `json:"kind"`
	Done     bool   `json:"done"`
	OK       bool   `json:"ok"`
	Expected string `json:"expected"`
	Seen     string `json:"seen"`
}

// Run is one play of a document. Its report can be read while it plays.
type Run struct {
	doc    Document
	c      *Client
	prefix string // users are prefix+name

	mu     sync.Mutex
	report Report

	bookings map[string][]string // Book.As → booking ids
	saved    map[string]saga.Switch
	slow     *int // slow motion before the run changed it
}

// NewRun prepares doc to be played through c as run id.
func NewRun(doc Document, c *Client, id string) *Run {
	r := &Run{doc: doc, c: c, prefix: "lesson-" + id + "-", bookings: map[string][]string{}, saved: map[string]saga.Switch{}}
	r.report = Report{Run: id, Name: doc.Name, Title: doc.Title, State: Running, Started: time.Now().UTC()}
	for _, s := range doc.Steps {
		r.report.Steps = append(r.report.Steps, StepResult{Text: s.Say, Kind: s.kinds()[0], Expected: s.expectText()})
	}
	return r
}

// Report returns the run as it stands.
func (r *Run) Report() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := r.report
	rep.Steps = slices.Clone(rep.Steps)
	return rep
}

// User is the name a scenario's user books under in this run.
func (r *Run) User(name string) string { return r.prefix + name }

// Play plays every step, then puts back every switch the run changed,
// whatever happened, and returns the report. A failed action (a booking
// refused, the server unreachable) ends the run there; a failed
// expectation is marked red and the run goes on, so one wrong guess does
// not hide what the rest of the lesson shows.
func (r *Run) Play(ctx context.Context) Report {
	stopped := ""
	for i, s := range r.doc.Steps {
		r.mu.Lock()
		r.report.Current = i
		r.mu.Unlock()
		res := r.step(ctx, s)
		res.Text, res.Kind, res.Done = s.Say, s.kinds()[0], true
		if res.Expected == "" {
			res.Expected = s.expectText()
		}
		r.mu.Lock()
		r.report.Steps[i] = res
		r.mu.Unlock()
		if ctx.Err() != nil {
			stopped = "it was stopped at step " + fmt.Sprint(i+1)
			break
		}
		if !res.OK && s.Expect == nil && s.Wait == nil {
			stopped = fmt.Sprintf("step %d could not be done, so the rest was not played", i+1)
			break
		}
	}
	restored := r.restore(context.WithoutCancel(ctx))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.report.Current = len(r.report.Steps)
	r.report.Restored = restored
	r.report.Ended = time.Now().UTC()
	var red []string
	for i, s := range r.report.Steps {
		if s.Done && !s.OK {
			red = append(red, fmt.Sprint(i+1))
		}
	}
	switch {
	case len(red) == 0 && stopped == "":
		r.report.State = Passed
		r.report.Verdict = fmt.Sprintf("Passed: all %d steps did what they said.", len(r.report.Steps))
	default:
		r.report.State = Failed
		r.report.Verdict = "Failed: step " + strings.Join(red, ", ") + " did not go as expected"
		if len(red) > 1 {
			r.report.Verdict = "Failed: steps " + strings.Join(red, ", ") + " did not go as expected"
		}
		if len(red) == 0 {
			r.report.Verdict = "Failed"
		}
		if stopped != "" {
			r.report.Verdict += "; " + stopped
		}
		r.report.Verdict += "."
	}
	return r.report
}

func ok(seen string) StepResult        { return StepResult{OK: true, Seen: seen} }
func failed(seen string) StepResult    { return StepResult{Seen: seen} }
func failedErr(err error) StepResult   { return failed(sentence(err)) }
func (r *Run) ids(ref string) []string { return r.bookings[ref] }

// sentence is an error as a user reads it: the server's own sentence when
// it gave one.
func sentence(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Message + fmt.Sprintf(" (%s %s answered %d)", ae.Method, ae.Path, ae.Status)
	}
	return err.Error()
}

func (r *Run) step(ctx context.Context, s Step) StepResult {
	switch {
	case s.Switches != nil:
		patch := map[string]saga.SwitchPatch{}
		var said []string
		for part, p := range s.Switches {
			if p.UserID != nil && *p.UserID != "" {
				u := r.User(*p.UserID)
				p.UserID = &u
			}
			patch[part] = p
			said = append(said, describePatch(part, p))
		}
		sort.Strings(said)
		if err := r.putSwitches(ctx, patch); err != nil {
			return failedErr(err)
		}
		return ok("set " + strings.Join(said, "; "))
	case s.Pause != "" || s.Resume != "":
		part, paused := s.Pause, true
		if s.Resume != "" {
			part, paused = s.Resume, false
		}
		if err := r.putSwitches(ctx, map[string]saga.SwitchPatch{part: {Paused: &paused}}); err != nil {
			return failedErr(err)
		}
		if paused {
			return ok(part + " paused")
		}
		return ok(part + " resumed")
	case s.LetOneThrough != "":
		if err := r.c.do(ctx, http.MethodPost, "/api/steps/"+s.LetOneThrough+"/let-one-through", nil, nil); err != nil {
			return failedErr(err)
		}
		return ok("let one message through to " + s.LetOneThrough)
	case s.SlowMotion != nil:
		if r.slow == nil {
			var cur struct {
				DelayMS int `json:"delay_ms"`
			}
			if err := r.c.do(ctx, http.MethodGet, "/api/slow-motion", nil, &cur); err != nil {
				return failedErr(err)
			}
			r.slow = &cur.DelayMS
		}
		if err := r.c.do(ctx, http.MethodPut, "/api/slow-motion", map[string]int{"delay_ms": *s.SlowMotion}, nil); err != nil {
			return failedErr(err)
		}
		return ok(fmt.Sprintf("slow motion at %d ms per hop", *s.SlowMotion))
	case s.Book != nil:
		return r.book(ctx, *s.Book)
	case s.Wait != nil && s.Wait.For > 0:
		t := time.NewTimer(time.Duration(s.Wait.For))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return failed("stopped while waiting")
		case <-t.C:
			return ok("waited " + time.Duration(s.Wait.For).String())
		}
	case s.Wait != nil:
		return r.wait(ctx, *s.Wait)
	case s.Expect != nil:
		return r.expect(ctx, *s.Expect)
	}
	return failed("this step does nothing")
}

// putSwitches saves each participant's switch before the run first
// changes it, then changes it.
func (r *Run) putSwitches(ctx context.Context, patch map[string]saga.SwitchPatch) error {
	need := false
	for part := range patch {
		if _, ok := r.saved[part]; !ok {
			need = true
		}
	}
	if need {
		var all map[string]saga.Switch
		if err := r.c.do(ctx, http.MethodGet, "/api/failures", nil, &all); err != nil {
			return err
		}
		for part := range patch {
			if _, ok := r.saved[part]; !ok {
				r.saved[part] = all[part]
			}
		}
	}
	return r.c.do(ctx, http.MethodPut, "/api/failures", patch, nil)
}

// restore puts back every switch the run changed, as it was before, and
// says which.
func (r *Run) restore(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var done []string
	var errs []string
	if len(r.saved) > 0 {
		patch := map[string]saga.SwitchPatch{}
		for part, sw := range r.saved {
			patch[part] = saga.SwitchPatch{FailRate: &sw.FailRate, DelayMS: &sw.DelayMS, Paused: &sw.Paused, FailNext: &sw.FailNext, UserID: &sw.UserID}
			done = append(done, part)
		}
		if err := r.c.do(ctx, http.MethodPut, "/api/failures", patch, nil); err != nil {
			errs = append(errs, sentence(err))
		}
	}
	if r.slow != nil {
		done = append(done, "slow motion")
		if err := r.c.do(ctx, http.MethodPut, "/api/slow-motion", map[string]int{"delay_ms": *r.slow}, nil); err != nil {
			errs = append(errs, sentence(err))
		}
	}
	sort.Strings(done)
	switch {
	case len(errs) > 0:
		return "could not put the switches back: " + strings.Join(errs, "; ")
	case len(done) == 0:
		return "no switch was changed"
	}
	return "put back as they were: " + strings.Join(done, ", ")
}

func describePatch(part string, p saga.SwitchPatch) string {
	var f []string
	if p.FailRate != nil {
		f = append(f, fmt.Sprintf("fail_rate=%g", *p.FailRate))
	}
	if p.FailNext != nil {
		f = append(f, fmt.Sprintf("fail_next=%d", *p.FailNext))
	}
	if p.DelayMS != nil {
		f = append(f, fmt.Sprintf("delay_ms=%d", *p.DelayMS))
	}
	if p.Paused != nil {
		f = append(f, fmt.Sprintf("paused=%t", *p.Paused))
	}
	if p.UserID != nil {
		f = append(f, fmt.Sprintf("user_id=%s", *p.UserID))
	}
	return part + " " + strings.Join(f, " ")
}

type seatView struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func (r *Run) book(ctx context.Context, b Book) StepResult {
	n := max(b.Count, 1)
	user := r.User(b.User)
	var seen []string
	for range n {
		id, seats, err := r.bookOne(ctx, user, b)
		if err != nil {
			return failedErr(err)
		}
		r.bookings[b.ref()] = append(r.bookings[b.ref()], id)
		if n <= 3 {
			seen = append(seen, fmt.Sprintf("%s as %s: booking %s", strings.Join(seats, " "), user, short(id)))
		}
	}
	if n > 3 {
		return ok(fmt.Sprintf("%d bookings as %s", n, user))
	}
	return ok("booked " + strings.Join(seen, "; "))
}

// bookOne books the seats named, or any free ones; a free seat someone
// takes in between is a 409, so it tries a few times with fresh ones.
func (r *Run) bookOne(ctx context.Context, user string, b Book) (string, []string, error) {
	var last error
	for range 5 {
		seats := b.Seats
		if len(seats) == 0 {
			var all []seatView
			if err := r.c.do(ctx, http.MethodGet, "/api/seats", nil, &all); err != nil {
				return "", nil, err
			}
			var free []string
			for _, s := range all {
				if s.Status == saga.SeatFree {
					free = append(free, s.ID)
				}
			}
			want := max(b.Any, 1)
			if len(free) < want {
				return "", nil, fmt.Errorf("only %d seats are free and the step needs %d; start the server on a fresh -data folder, or with more -rows", len(free), want)
			}
			// Random free seats, so a person booking from the top of the
			// map meets the lesson as little as possible.
			rand.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
			seats = free[:want]
		}
		var out struct {
			ID string `json:"id"`
		}
		err := r.c.do(ctx, http.MethodPost, "/api/bookings", map[string]any{"user_id": user, "seats": seats}, &out)
		if err == nil {
			return out.ID, seats, nil
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusConflict || len(b.Seats) > 0 {
			return "", nil, err
		}
		last = err
	}
	return "", nil, last
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// bookingView is what the runner reads of a booking.
type bookingView struct {
	ID          string `json:"id"`
	UserID      string `json:"user_id"`
	Status      string `json:"status"`
	Reason      string `json:"reason"`
	Notified    bool   `json:"notified"`
	AmountCents int    `json:"amount_cents"`
	Seats       []string
	Waiting     *struct {
		Queue string `json:"queue"`
		Note  string `json:"note"`
	} `json:"waiting"`
	Events []struct {
		Type string `json:"type"`
	} `json:"events"`
}

func (r *Run) getBooking(ctx context.Context, id string) (bookingView, error) {
	var b bookingView
	err := r.c.do(ctx, http.MethodGet, "/api/bookings/"+url.PathEscape(id), nil, &b)
	return b, err
}

func reached(b bookingView, until string) bool {
	switch until {
	case Decided:
		return b.Status != saga.StatusPending
	case Notified:
		return b.Notified
	}
	return b.Status == until
}

func (r *Run) wait(ctx context.Context, w Wait) StepResult {
	within := time.Duration(w.Within)
	if within <= 0 {
		within = DefaultWait
	}
	start := time.Now()
	var last string
	err := poll(ctx, within, func() (bool, error) {
		for _, id := range r.ids(w.Booking) {
			b, err := r.getBooking(ctx, id)
			if err != nil {
				return false, err
			}
			if !reached(b, w.Until) {
				last = describeBooking(w.Booking, b)
				return false, nil
			}
		}
		return true, nil
	})
	took := time.Since(start).Round(100 * time.Millisecond)
	switch {
	case err == nil:
		return ok(fmt.Sprintf("%s %s after %s", w.Booking, w.Until, took))
	case errors.Is(err, errTimeout):
		seen := fmt.Sprintf("after %s: %s", within, last)
		if w.Otherwise != "" {
			seen += ". " + w.Otherwise
		}
		return failed(seen)
	}
	return failedErr(err)
}

func describeBooking(ref string, b bookingView) string {
	s := fmt.Sprintf("%s (%s) is %s", ref, short(b.ID), b.Status)
	if b.Reason != "" {
		s += fmt.Sprintf(", reason %q", b.Reason)
	}
	if b.Waiting != nil && b.Status == saga.StatusPending {
		s += ", waiting in " + b.Waiting.Queue
		if b.Waiting.Note != "" {
			s += " (" + b.Waiting.Note + ")"
		}
	}
	return s
}

var errTimeout = errors.New("scenario: time is up")

// poll calls f every 200 ms until it holds, errs, or within has passed.
func poll(ctx context.Context, within time.Duration, f func() (bool, error)) error {
	deadline := time.Now().Add(within)
	for {
		done, err := f()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return errTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// expectText is the step's expectation in words, "" for an action.
func (s Step) expectText() string {
	e := s.Expect
	if e == nil {
		if w := s.Wait; w != nil && w.Booking != "" {
			within := time.Duration(w.Within)
			if within <= 0 {
				within = DefaultWait
			}
			return fmt.Sprintf("%s %s within %s", w.Booking, w.Until, within)
		}
		return ""
	}
	var f []string
	if e.Status != "" {
		f = append(f, e.Status)
	}
	if e.Reason != "" {
		f = append(f, fmt.Sprintf("reason has %q", e.Reason))
	}
	if e.Waiting != "" {
		f = append(f, fmt.Sprintf("waiting in %q", e.Waiting))
	}
	if e.Event != "" {
		f = append(f, e.Event+" on its timeline")
	}
	switch e.Money {
	case MoneyNets:
		f = append(f, "money nets out (charged less refunded = the price of what was sold)")
	case MoneyRefunded:
		f = append(f, "charged, then refunded in full")
	case MoneyUntouched:
		f = append(f, "nothing charged")
	}
	out := ""
	if e.Booking != "" {
		out = e.Booking + ": " + strings.Join(f, ", ")
	}
	if e.Invariants {
		if out != "" {
			out += "; "
		}
		out += "every invariant checked and holding"
	}
	return out
}

type entry struct {
	Kind        string `json:"kind"`
	AmountCents int    `json:"amount_cents"`
}

// check reports whether one booking meets e, and what was seen.
func (r *Run) check(ctx context.Context, ref string, b bookingView, e Expect) (bool, string, error) {
	var miss []string
	if e.Status != "" && !reached(b, e.Status) {
		m := "status " + b.Status
		if b.Reason != "" && e.Reason == "" {
			m += fmt.Sprintf(" (reason %q)", b.Reason) // what a person would look at next
		}
		miss = append(miss, m)
	}
	if e.Reason != "" && !strings.Contains(b.Reason, e.Reason) {
		if b.Reason == "" {
			miss = append(miss, "no reason")
		} else {
			miss = append(miss, fmt.Sprintf("reason %q", b.Reason))
		}
	}
	if e.Waiting != "" {
		switch {
		case b.Waiting == nil:
			miss = append(miss, "not waiting anywhere (it is "+b.Status+")")
		case !strings.Contains(b.Waiting.Queue, e.Waiting) && !strings.Contains(b.Waiting.Note, e.Waiting):
			miss = append(miss, fmt.Sprintf("waiting in %s (%s)", b.Waiting.Queue, b.Waiting.Note))
		}
	}
	if e.Event != "" && !slices.ContainsFunc(b.Events, func(ev struct {
		Type string `json:"type"`
	}) bool {
		return ev.Type == e.Event
	}) {
		var types []string
		for _, ev := range b.Events {
			types = append(types, ev.Type)
		}
		miss = append(miss, "no "+e.Event+" among "+strings.Join(types, " → "))
	}
	if e.Money != "" {
		var ledger []entry
		if err := r.c.do(ctx, http.MethodGet, "/api/payments?booking_id="+url.QueryEscape(b.ID), nil, &ledger); err != nil {
			return false, "", err
		}
		charged, refunded := 0, 0
		for _, l := range ledger {
			switch l.Kind {
			case "charge":
				charged += l.AmountCents
			case "refund":
				refunded += l.AmountCents
			}
		}
		sold := 0
		if b.Status == saga.StatusConfirmed {
			sold = b.AmountCents
		}
		money := fmt.Sprintf("charged %d, refunded %d cents (%s)", charged, refunded, b.Status)
		good := false
		switch e.Money {
		case MoneyNets:
			good = b.Status != saga.StatusPending && charged-refunded == sold
		case MoneyRefunded:
			good = charged > 0 && refunded == charged
		case MoneyUntouched:
			good = charged == 0 && refunded == 0
		}
		if !good {
			miss = append(miss, money)
		}
	}
	if len(miss) > 0 {
		return false, ref + " (" + short(b.ID) + "): " + strings.Join(miss, ", "), nil
	}
	return true, "", nil
}

type invariantsView struct {
	OK         bool   `json:"ok"`
	State      string `json:"state"`
	Violations []struct {
		Rule      string `json:"rule"`
		BookingID string `json:"booking_id"`
		Detail    string `json:"detail"`
	} `json:"violations"`
}

func (r *Run) expect(ctx context.Context, e Expect) StepResult {
	within := time.Duration(e.Within)
	if within <= 0 {
		within = DefaultWithin
	}
	var last string
	err := poll(ctx, within, func() (bool, error) {
		for _, id := range r.ids(e.Booking) {
			b, err := r.getBooking(ctx, id)
			if err != nil {
				return false, err
			}
			good, seen, err := r.check(ctx, e.Booking, b, e)
			if err != nil || !good {
				last = seen
				return false, err
			}
		}
		if e.Invariants {
			var inv invariantsView
			if err := r.c.do(ctx, http.MethodGet, "/api/invariants", nil, &inv); err != nil {
				return false, err
			}
			if !inv.OK {
				last = "invariants " + inv.State
				for _, v := range inv.Violations {
					last += fmt.Sprintf("; %s broken by %s: %s", v.Rule, short(v.BookingID), v.Detail)
				}
				return false, nil
			}
		}
		return true, nil
	})
	switch {
	case err == nil:
		seen := "as expected"
		if n := len(r.ids(e.Booking)); n > 1 {
			seen = fmt.Sprintf("as expected, all %d", n)
		}
		return ok(seen)
	case errors.Is(err, errTimeout):
		return failed(fmt.Sprintf("after %s: %s", within, last))
	}
	return failedErr(err)
}
