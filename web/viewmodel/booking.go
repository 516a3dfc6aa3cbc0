package viewmodel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

// Builder builds the API's values and the views' from Sources. It holds no
// state of its own, so the API, the pages and the live feed may share one.
type Builder struct {
	src Sources
}

// New returns a Builder over src, as NewSources made it.
func New(src Sources) *Builder { return &Builder{src: src} }

// Sources returns what the Builder reads.
func (b *Builder) Sources() Sources { return b.src }

// BookingView is a booking as GET /api/bookings/{id} shows it: the booking's
// own state, the events the observer saw, and where it waits.
type BookingView struct {
	booking.Booking
	Events  []observer.Event `json:"events"`
	Waiting *Waiting         `json:"waiting,omitempty"`
	// TraceID is the booking's W3C trace id, as the observer saw it on
	// BookingCreated; "" without the observer here, or before it saw it.
	TraceID string `json:"trace_id,omitempty"`
	// TraceURL links to the trace in a trace viewer, from the -trace-url
	// template; "" without a template or a trace id.
	TraceURL string `json:"trace_url,omitempty"`
}

// Waiting says where a booking's next step waits, and since when. The
// contract promises it while a booking is pending; it is also given until
// the user is told, so a notification being retried shows where it is.
type Waiting struct {
	Queue string    `json:"queue"`
	Since time.Time `json:"since"`
	// Step is the participant that takes the next step.
	Step string `json:"step"`
	// Attempt and MaxAttempts are set while a notification is retried.
	Attempt     int `json:"attempt,omitempty"`
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Note says why it may wait longer than usual, e.g. "seats paused".
	Note string `json:"note,omitempty"`
}

// BookingView assembles one booking with its events; without the observer
// in this process, with none.
func (b *Builder) BookingView(ctx context.Context, id string) (BookingView, error) {
	bk, err := b.src.Booking.Get(ctx, id)
	if err != nil {
		return BookingView{}, err
	}
	return b.ViewOf(ctx, bk)
}

// ViewOf is BookingView for a booking already read: a long poll has just
// read it to see that it left pending, and reading it again would add a
// query to the moment its client waits for.
func (b *Builder) ViewOf(ctx context.Context, bk booking.Booking) (BookingView, error) {
	var err error
	v := BookingView{Booking: bk, Events: []observer.Event{}}
	if b.src.Has(saga.PartObserver) {
		if v.Events, err = b.src.Observer.Events(ctx, bk.ID); err != nil {
			return v, err
		}
	}
	v.Waiting = WaitingOf(bk, v.Events, b.src.Switches.All())
	v.TraceID = TraceID(v.Events)
	v.TraceURL = TraceURL(b.src.TraceURL, v.TraceID)
	return v, nil
}

// TraceID is the trace id of a booking's BookingCreated, among its events:
// the one trace its whole saga belongs to.
func TraceID(events []observer.Event) string {
	for _, e := range events {
		if e.Type == saga.TypeBookingCreated && e.TraceID != "" {
			return e.TraceID
		}
	}
	return ""
}

// TraceURL fills a -trace-url template with a trace id; "" when either is
// missing. A trace id is 32 hex digits, so it needs no escaping.
func TraceURL(template, traceID string) string {
	if template == "" || traceID == "" {
		return ""
	}
	return strings.ReplaceAll(template, "{trace_id}", traceID)
}

// Booking is one booking with its events, as the views take it.
func (b *Builder) Booking(ctx context.Context, id string) (views.Booking, error) {
	v, err := b.BookingView(ctx, id)
	if err != nil {
		return views.Booking{}, err
	}
	out := []views.Booking{viewBooking(v.Booking, v.Events, b.src.Switches.All())}
	b.withWaits(ctx, []booking.Booking{v.Booking}, map[string][]observer.Event{id: v.Events}, out)
	out[0].TraceID, out[0].TraceURL = v.TraceID, v.TraceURL
	out[0].Steps = BookingSteps(v.Events)
	return out[0], nil
}

// List is the bookings list: newest first, filtered. It is empty where
// Booking does not run.
func (b *Builder) List(ctx context.Context, f views.Filter, limit int) ([]views.Booking, error) {
	if !b.src.Has(saga.PartBooking) {
		return nil, nil
	}
	list, err := b.src.Booking.List(ctx, booking.Filter{Status: f.Status, UserID: f.UserID, Limit: limit})
	if err != nil {
		return nil, err
	}
	return b.withEvents(ctx, list)
}

// Cards returns the bookings with the given ids, newest first.
func (b *Builder) Cards(ctx context.Context, ids []string) ([]views.Booking, error) {
	if !b.src.Has(saga.PartBooking) || len(ids) == 0 {
		return nil, nil
	}
	list, err := b.src.Booking.GetMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	return b.withEvents(ctx, list)
}

// withEvents adds each booking's events, in one query for all of them.
func (b *Builder) withEvents(ctx context.Context, list []booking.Booking) ([]views.Booking, error) {
	events := map[string][]observer.Event{}
	if b.src.Has(saga.PartObserver) && len(list) > 0 {
		ids := make([]string, len(list))
		for i, bk := range list {
			ids[i] = bk.ID
		}
		var err error
		if events, err = b.src.Observer.EventsOf(ctx, ids); err != nil {
			return nil, err
		}
	}
	out := make([]views.Booking, len(list))
	switches := b.src.Switches.All()
	for i, bk := range list {
		out[i] = viewBooking(bk, events[bk.ID], switches)
	}
	b.withWaits(ctx, list, events, out)
	return out, nil
}

// Latest returns the newest booking with status other than except, ""
// when there is none. The (status, id) index makes it one short read.
func (b *Builder) Latest(ctx context.Context, status, except string) (string, error) {
	list, err := b.src.Booking.List(ctx, booking.Filter{Status: status, Limit: 2})
	if err != nil {
		return "", err
	}
	for _, bk := range list {
		if bk.ID != except {
			return bk.ID, nil
		}
	}
	return "", nil
}

// FilterOf reads the list's filter from a query. An unknown status filters
// nothing rather than failing: it came from a hand-edited URL.
func FilterOf(q url.Values) views.Filter {
	f := views.Filter{Status: q.Get("status"), UserID: q.Get("user_id")}
	if !saga.ValidStatus(f.Status) {
		f.Status = ""
	}
	if len(f.UserID) > saga.MaxUserIDLen {
		f.UserID = f.UserID[:saga.MaxUserIDLen]
	}
	return f
}

func viewEvent(e observer.Event) views.Event {
	env := e.Envelope()
	v := views.Event{Seq: e.Seq, Type: e.Type, Source: e.Source, Queue: e.Queue, Attempt: e.Attempt,
		At: e.At, ObservedAt: e.ObservedAt, Reason: env.Reason, Cause: env.Cause, Injected: env.Injected}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, e.Payload, "", "  "); err == nil {
		v.Payload = pretty.String()
	} else {
		v.Payload = string(e.Payload)
	}
	return v
}

func viewBooking(b booking.Booking, events []observer.Event, switches map[string]saga.Switch) views.Booking {
	v := views.Booking{ID: b.ID, UserID: b.UserID, Seats: b.Seats, AmountCents: b.AmountCents, Status: b.Status,
		Notified: b.Notified, Reason: b.Reason, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt,
		Events: make([]views.Event, len(events))}
	for i, e := range events {
		v.Events[i] = viewEvent(e)
	}
	if w := WaitingOf(b, events, switches); w != nil {
		v.Waiting = &views.Waiting{Queue: w.Queue, Since: w.Since, For: time.Since(w.Since), Note: w.Note}
	}
	return v
}

// WaitingOf derives where a booking waits from the last work message the
// observer saw for it: the message sent last is the one whose handler has
// not finished yet. Notes and the "told" event go to no work queue, so they
// are skipped. A booking that is decided and told waits nowhere.
func WaitingOf(b booking.Booking, events []observer.Event, switches map[string]saga.Switch) *Waiting {
	if b.Status != saga.StatusPending && b.Notified {
		return nil
	}
	w := &Waiting{Queue: saga.PaymentQueue, Since: b.CreatedAt}
	for i := len(events) - 1; i >= 0; i-- {
		if _, ok := StepOf(events[i].Queue); ok {
			w.Queue, w.Since, w.Attempt = events[i].Queue, events[i].At, events[i].Attempt
			break
		}
	}
	if b.Status != saga.StatusPending && w.Queue != saga.NotificationQueue && !isRetryQueue(w.Queue) {
		// Decided, and the event that tells the user is not seen yet: it
		// goes to notification_queue.
		w.Queue, w.Attempt = saga.NotificationQueue, 0
	}
	w.Step, _ = StepOf(w.Queue)
	var notes []string
	if isRetryQueue(w.Queue) {
		w.MaxAttempts = saga.MaxNotificationAttempts
		notes = append(notes, fmt.Sprintf("retry %d of %d for notification", w.Attempt, w.MaxAttempts))
	} else {
		w.Attempt = 0
	}
	if part, ok := SwitchOf(w.Queue); ok {
		sw := switches[part]
		switch {
		case sw.Paused:
			notes = append(notes, part+" paused")
		case sw.DelayMS > 0:
			notes = append(notes, fmt.Sprintf("%s waits %d ms per message", part, sw.DelayMS))
		}
	}
	w.Note = strings.Join(notes, "; ")
	return w
}

// StepOf names the part that takes the next step of a message sent with
// routing key queue: the part that consumes that queue, by saga.Consumes.
// A retry waits in its holding queue, which hands it to notification_queue.
// The observer is nobody's step.
func StepOf(queue string) (string, bool) {
	if isRetryQueue(queue) {
		queue = saga.NotificationQueue
	}
	for part, qs := range saga.Consumes {
		if part != saga.PartObserver && slices.Contains(qs, queue) {
			return part, true
		}
	}
	return "", false
}

// SwitchQueue names the queue whose consumer a part's switch holds up:
// the first queue the part consumes, its forward step (saga.Consumes lists
// it first). Its undo queues are not held up by pause or delay.
func SwitchQueue(part string) string {
	if qs := saga.Consumes[part]; len(qs) > 0 {
		return qs[0]
	}
	return ""
}

// SwitchOf names the switch whose pause and delay hold up a queue: the
// inverse of SwitchQueue. A retry waits in its holding queue first, which
// no switch holds up.
func SwitchOf(queue string) (string, bool) {
	for _, part := range saga.SwitchParts {
		if SwitchQueue(part) == queue {
			return part, true
		}
	}
	return "", false
}

func isRetryQueue(q string) bool {
	for _, r := range saga.NotificationRetryQueues {
		if r.Name == q {
			return true
		}
	}
	return false
}
