package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// Recorder turns what a person does on this server, on the page or
// through the API, into a scenario: switch changes, slow motion, letting
// one through, bookings and waits, in order, with the pauses between
// them. Stop adds expectations of the outcomes it saw, so the document
// replays as a check.
//
// It watches requests (Wrap) rather than the parts, so it records what was
// asked, the way a runner would ask it again; requests a scenario makes
// carry TagHeader and are left out.
type Recorder struct {
	// State reads the switches and slow motion (ms) as they are now.
	state  func() (map[string]saga.Switch, int)
	client *Client

	mu      sync.Mutex
	on      bool
	started time.Time
	last    time.Time
	steps   []Step
	booked  []recorded
	perUser map[string]int
	lastDoc []byte
}

type recorded struct{ ref, id string }

// NewRecorder records through c, reading the switches with state.
func NewRecorder(c *Client, state func() (map[string]saga.Switch, int)) *Recorder {
	return &Recorder{client: c, state: state}
}

// Recording reports whether a recording is on.
func (rec *Recorder) Recording() bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.on
}

// Start begins a recording; ErrBusy while one is on.
func (rec *Recorder) Start() error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.on {
		return errorf(ErrBusy, "a recording is on already, since %s; stop it first", rec.started.Format(time.TimeOnly))
	}
	now := time.Now()
	rec.on, rec.started, rec.last, rec.steps, rec.booked, rec.perUser = true, now, now, nil, nil, map[string]int{}
	return nil
}

// Last returns the document the last recording made, nil before one.
func (rec *Recorder) Last() []byte {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.lastDoc
}

// Stop ends the recording and returns it as a document, with an
// expectation of each booking's outcome as it is now: its status, its
// reason and its money, then the invariants.
func (rec *Recorder) Stop(ctx context.Context) (Document, error) {
	rec.mu.Lock()
	if !rec.on {
		rec.mu.Unlock()
		return Document{}, errorf(ErrNotFound, "no recording is on; start one first")
	}
	rec.on = false
	steps, booked, started := rec.steps, rec.booked, rec.started
	rec.mu.Unlock()
	if len(steps) == 0 {
		return Document{}, errorf(ErrInvalid, "nothing was recorded: change a switch or book while recording")
	}
	r := &Run{c: rec.client}
	seenRef := map[string]bool{}
	for _, b := range booked {
		v, err := r.getBooking(ctx, b.id)
		if err != nil {
			return Document{}, fmt.Errorf("scenario: read recorded booking %s: %w", b.id, err)
		}
		if v.Status == saga.StatusPending {
			steps = append(steps, Step{Say: fmt.Sprintf("%s was still pending when the recording stopped.", b.ref), Expect: &Expect{Booking: b.ref, Status: saga.StatusPending}})
			continue
		}
		e := &Expect{Booking: b.ref, Status: v.Status, Money: MoneyNets, Within: Duration(DefaultWait)}
		say := fmt.Sprintf("%s's booking was %s", b.ref, v.Status)
		if v.Reason != "" {
			// The scope names the user as this server knew them; a replay
			// has its own, so only what comes before it is expected.
			e.Reason, _, _ = strings.Cut(v.Reason, " (user_id=")
			say += ": " + e.Reason
		}
		if !seenRef[b.ref] {
			steps = append(steps, Step{Say: say + ", and its money netted out.", Expect: e})
		}
		seenRef[b.ref] = true
	}
	steps = append(steps, Step{Say: "Every invariant held.", Expect: &Expect{Invariants: true}})
	d := Document{
		Name:  "recorded-" + started.UTC().Format("20060102-150405"),
		Title: "Recorded " + started.UTC().Format("2006-01-02 15:04 UTC"),
		About: "What a person did on the page, replayed; the expectations are the outcomes seen while recording.",
		Steps: steps,
	}
	if err := d.Validate(); err != nil {
		return Document{}, err
	}
	b, _ := json.MarshalIndent(d, "", "  ")
	rec.mu.Lock()
	rec.lastDoc = b
	rec.mu.Unlock()
	return d, nil
}

var (
	letRE  = regexp.MustCompile(`^/(api|ui)/steps/([a-z]+)/let-one-through$`)
	waitRE = regexp.MustCompile(`^/api/bookings/([^/]+)$`)
	badRE  = regexp.MustCompile(`[^A-Za-z0-9_.-]`)
)

// safeUser makes a name a scenario's user can have.
func safeUser(s string) string {
	s = badRE.ReplaceAllString(strings.TrimSpace(s), "-")
	if s == "" {
		s = "someone"
	}
	if len(s) > MaxUserLen {
		s = s[:MaxUserLen]
	}
	return s
}

// Wrap records the requests next answers with success while a recording is
// on.
func (rec *Recorder) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !rec.Recording() || r.Header.Get(TagHeader) != "" {
			next.ServeHTTP(w, r)
			return
		}
		p := r.URL.Path
		switch {
		case r.Method == http.MethodGet && waitRE.MatchString(p) && r.URL.Query().Get("wait") != "":
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			rec.waited(waitRE.FindStringSubmatch(p)[1], sw.ok())
		case r.Method == http.MethodGet:
			next.ServeHTTP(w, r)
		case p == "/api/failures" || p == "/ui/failures" || p == "/api/slow-motion" || p == "/ui/slow-motion":
			before, slowBefore := rec.state()
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			if sw.ok() {
				after, slowAfter := rec.state()
				rec.switched(before, after, slowBefore, slowAfter)
			}
		case letRE.MatchString(p):
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			if sw.ok() {
				part := letRE.FindStringSubmatch(p)[2]
				rec.add(Step{Say: "Let one message through to " + part + ".", LetOneThrough: part})
			}
		case p == "/api/bookings" || p == "/ui/bookings":
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
			r.Body = io.NopCloser(bytes.NewReader(body))
			user, seats := bookingAsked(r, body)
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			if sw.ok() && user != "" {
				// The API's answer names the booking; the form's answer is
				// a page, so the user's newest booking stands for it there.
				id, ok := strings.CutPrefix(sw.Header().Get("Location"), "/api/bookings/")
				if !ok { // the form's 303 names the page, not the booking
					id = ""
				}
				rec.bookedBy(r.Context(), user, seats, id)
			}
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// bookingAsked reads who booked which seats, from JSON or from the form.
func bookingAsked(r *http.Request, body []byte) (string, []string) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		var b struct {
			UserID string   `json:"user_id"`
			Seats  []string `json:"seats"`
		}
		_ = json.Unmarshal(body, &b)
		return b.UserID, b.Seats
	}
	v, _ := url.ParseQuery(string(body))
	return strings.TrimSpace(v.Get("user_id")), v["seats"]
}

// add appends a step, after a wait as long as the person waited.
func (rec *Recorder) add(s Step) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.addLocked(s)
}

func (rec *Recorder) addLocked(s Step) {
	if !rec.on {
		return
	}
	now := time.Now()
	if gap := now.Sub(rec.last).Round(500 * time.Millisecond); gap >= time.Second && len(rec.steps) > 0 {
		gap = min(gap, time.Minute)
		rec.steps = append(rec.steps, Step{Say: fmt.Sprintf("Wait %s, as the recording did.", gap), Wait: &Wait{For: Duration(gap)}})
	}
	rec.last = now
	if len(rec.steps) < MaxSteps-30 {
		rec.steps = append(rec.steps, s)
	}
}

func (rec *Recorder) switched(before, after map[string]saga.Switch, slowBefore, slowAfter int) {
	for _, part := range saga.SwitchParts {
		b, a := before[part], after[part]
		if a.Paused != b.Paused && a.FailRate == b.FailRate && a.FailNext == b.FailNext && a.DelayMS == b.DelayMS && a.UserID == b.UserID {
			if a.Paused {
				rec.add(Step{Say: "Pause " + part + ".", Pause: part})
			} else {
				rec.add(Step{Say: "Resume " + part + ".", Resume: part})
			}
			continue
		}
		var p saga.SwitchPatch
		changed := false
		if a.FailRate != b.FailRate {
			p.FailRate, changed = &a.FailRate, true
		}
		if a.FailNext != b.FailNext {
			p.FailNext, changed = &a.FailNext, true
		}
		if a.DelayMS != b.DelayMS {
			p.DelayMS, changed = &a.DelayMS, true
		}
		if a.Paused != b.Paused {
			p.Paused, changed = &a.Paused, true
		}
		if a.UserID != b.UserID || (changed && (p.FailRate != nil || p.FailNext != nil)) {
			u := a.UserID
			if u != "" {
				u = safeUser(u)
			}
			p.UserID, changed = &u, true
		}
		if changed {
			rec.add(Step{Say: "Set " + describePatch(part, p) + ".", Switches: map[string]saga.SwitchPatch{part: p}})
		}
	}
	if slowAfter != slowBefore {
		ms := slowAfter
		rec.add(Step{Say: fmt.Sprintf("Slow motion at %d ms per hop.", ms), SlowMotion: &ms})
	}
}

func (rec *Recorder) bookedBy(ctx context.Context, user string, seats []string, id string) {
	if id == "" {
		var list []struct {
			ID string `json:"id"`
		}
		if err := rec.client.do(ctx, http.MethodGet, "/api/bookings?limit=1&user_id="+url.QueryEscape(user), nil, &list); err != nil || len(list) == 0 {
			return
		}
		id = list[0].ID
	}
	name := safeUser(user)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.perUser[name]++
	ref := name
	if n := rec.perUser[name]; n > 1 {
		ref = fmt.Sprintf("%s-%d", name, n)
	}
	rec.booked = append(rec.booked, recorded{ref: ref, id: id})
	// Any free seats rather than the ones taken, so the document replays on
	// a server where those are sold.
	rec.addLocked(Step{Say: fmt.Sprintf("%s books %d seat(s) (%s when recorded).", name, max(len(seats), 1), strings.Join(seats, " ")),
		Book: &Book{User: name, Any: max(len(seats), 1), As: ref}})
}

func (rec *Recorder) waited(id string, ok bool) {
	if !ok {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, b := range rec.booked {
		if b.id == id {
			rec.addLocked(Step{Say: "Wait until " + b.ref + "'s booking is decided.", Wait: &Wait{Booking: b.ref, Until: Decided}})
			return
		}
	}
}

// statusWriter remembers the status an answer was sent with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ok is a success: 2xx, or the 303 a form without htmx is answered with.
func (w *statusWriter) ok() bool { return w.status >= 200 && w.status < 400 }
