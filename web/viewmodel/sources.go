// Package viewmodel turns what the participants hold into the values the
// API answers with and the views draw. The JSON API, the pages and the live
// feed all build from here, so a fragment pushed over the WebSocket is the
// markup the page was first drawn with, and the API's "waiting" is the
// page's.
//
// It reads the participants through the narrow interfaces below, which say
// all web needs of them; a test can fake each in a few lines. A part that
// does not run in this process is absent: Sources says so (Has), and the
// absent part answers every call with httperr.Absent, a 503 with the
// sentence that says how to run it here.
package viewmodel

import (
	"context"
	"log/slog"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/invariants"
	"github.com/sagaboard/sagaboard/services/notification"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/payment"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web/httperr"
)

// Bookings is what web reads of Booking's bookings.
type Bookings interface {
	// Get returns one booking, or an error wrapping saga.ErrNotFound.
	Get(ctx context.Context, id string) (booking.Booking, error)
	// GetMany returns the bookings with these ids that exist, newest first.
	GetMany(ctx context.Context, ids []string) ([]booking.Booking, error)
	// List returns bookings newest first, filtered.
	List(ctx context.Context, f booking.Filter) ([]booking.Booking, error)
	// InFlight returns the oldest unfinished bookings: pending, or decided
	// and not yet told.
	InFlight(ctx context.Context, limit int) ([]booking.Booking, error)
	// Stats counts bookings by status.
	Stats(ctx context.Context) (booking.Stats, error)
}

// Seats is what web reads of Booking's seat map.
type Seats interface {
	// Seats lists every seat, in venue order.
	Seats(ctx context.Context) ([]booking.Seat, error)
}

// Booker is what web asks of Booking: to start a booking.
type Booker interface {
	// Create holds the seats and starts the saga; saga.ErrInvalid or
	// saga.ErrConflict when it cannot.
	Create(ctx context.Context, userID string, seats []string) (booking.Booking, error)
}

// BookingPart is everything web uses of Booking.
type BookingPart interface {
	Bookings
	Seats
	Booker
}

// Ledger is what web reads of Payment.
type Ledger interface {
	// Ledger lists charges and refunds newest first, of one booking when
	// bookingID is not "".
	Ledger(ctx context.Context, bookingID string, limit int) ([]payment.Entry, error)
}

// Notices is what web reads of Notification.
type Notices interface {
	// List returns what users were told, newest first, of one user when
	// userID is not "".
	List(ctx context.Context, userID string, limit int) ([]notification.Notice, error)
	// Get returns what the user of a booking was told, or saga.ErrNotFound.
	Get(ctx context.Context, bookingID string) (notification.Notice, error)
}

// Events is what web reads of the observer's record of messages.
type Events interface {
	// Events lists one booking's messages in order.
	Events(ctx context.Context, bookingID string) ([]observer.Event, error)
	// EventsOf lists the messages of many bookings, by booking id.
	EventsOf(ctx context.Context, bookingIDs []string) (map[string][]observer.Event, error)
	// Counts are the messages seen since start, by queue and type.
	Counts() []observer.Count
	// SwitchesDuring is the switches' record over a stretch of time: the
	// set in force at its start, then every change.
	SwitchesDuring(ctx context.Context, from, to time.Time) ([]observer.SwitchChange, error)
}

// DeadLetters is what web reads of the observer's dead letters.
type DeadLetters interface {
	// DeadLetters lists the newest dead letters.
	DeadLetters(ctx context.Context, limit int) ([]observer.DeadLetter, error)
	// DeadLetterStats counts the dead letters kept and those dropped to keep
	// only the newest.
	DeadLetterStats(ctx context.Context) (observer.DeadLetterStats, error)
}

// Replayer is what web asks of the observer: to send a dead letter back.
type Replayer interface {
	// Replay sends a dead letter back to its queue; saga.ErrNotFound when
	// there is none with that id.
	Replay(ctx context.Context, id string) error
	SendPoison(ctx context.Context, queue, kind string) (saga.Message, error)
}

// ObserverPart is everything web uses of the observer.
type ObserverPart interface {
	Events
	DeadLetters
	Replayer
}

// Invariants is what web reads of the invariant checker.
type Invariants interface {
	// Report is the latest check.
	Report() invariants.Report
}

// Sources are the parts as this process has them. Build them with
// NewSources, which puts an absent part in place of each nil, so a call
// never needs a nil check: it answers httperr.Absent.
type Sources struct {
	Booking      BookingPart
	Payment      Ledger
	Notification Notices
	Observer     ObserverPart
	// History is the observer's record read back in time; NewSources
	// takes it from Observer when Observer has it.
	History History
	// Invariants runs where Booking does; without it, Has(PartInvariants)
	// is false.
	Invariants Invariants
	// Switches are the failure switches; never nil after NewSources.
	Switches *saga.Switches
	// PublishSwitches sends a switch change to every other process; nil
	// sends nothing.
	PublishSwitches func(ctx context.Context, all map[string]saga.Switch) error
	// TraceURL is the link template for a booking's trace, with
	// {trace_id} (-trace-url). Default "": no link.
	TraceURL string

	has map[string]bool
}

// PartInvariants names the invariant checker for Has. It is not a saga
// part: it runs inside the process that runs Booking.
const PartInvariants = "invariants"

// NewSources returns s with every nil part replaced by an absent one, and
// remembers which were present.
func NewSources(s Sources) Sources {
	s.has = map[string]bool{
		saga.PartBooking:      s.Booking != nil,
		saga.PartPayment:      s.Payment != nil,
		saga.PartNotification: s.Notification != nil,
		saga.PartObserver:     s.Observer != nil,
		PartInvariants:        s.Invariants != nil,
	}
	if s.Booking == nil {
		s.Booking = absentBooking{}
	}
	if s.Payment == nil {
		s.Payment = absentPayment{}
	}
	if s.Notification == nil {
		s.Notification = absentNotification{}
	}
	if h, ok := s.Observer.(History); ok && s.History == nil {
		s.History = h
	}
	if s.Observer == nil {
		s.Observer = absentObserver{}
	}
	if s.History == nil {
		s.History = absentObserver{}
	}
	if s.Invariants == nil {
		s.Invariants = absentInvariants{}
	}
	if s.Switches == nil {
		s.Switches = saga.NewSwitches()
	}
	return s
}

// Has reports whether part runs in this process.
func (s Sources) Has(part string) bool { return s.has[part] }

// Need returns httperr.Absent when part does not run in this process.
func (s Sources) Need(part string) error {
	if !s.Has(part) {
		return httperr.Absent(part)
	}
	return nil
}

// ApplySwitches changes the switches here and tells every other process.
// The live feed hears of it from the switches themselves (Changed).
func (s Sources) ApplySwitches(ctx context.Context, log *slog.Logger, patch map[string]saga.SwitchPatch) {
	s.Switches.Apply(patch)
	s.publishSwitches(ctx, log)
}

// SetSlow sets slow motion here and tells every other process.
func (s Sources) SetSlow(ctx context.Context, log *slog.Logger, ms int) error {
	if err := s.Switches.SetSlow(ms); err != nil {
		return err
	}
	s.publishSwitches(ctx, log)
	return nil
}

// LetOneThrough lets the next message of part's paused step through, here
// and in every other process that runs the step.
func (s Sources) LetOneThrough(ctx context.Context, log *slog.Logger, part string) error {
	if err := s.Switches.LetOneThrough(part); err != nil {
		return err
	}
	s.publishSwitches(ctx, log)
	return nil
}

func (s Sources) publishSwitches(ctx context.Context, log *slog.Logger) {
	if s.PublishSwitches == nil {
		return
	}
	if err := s.PublishSwitches(ctx, s.Switches.All()); err != nil {
		// This process has the change; other processes get it with the
		// next change or when the broker is back.
		log.Warn("could not send the switch change to other processes", "err", err)
	}
}

// The absent parts: each call says the part does not run here.
type (
	absentBooking      struct{}
	absentPayment      struct{}
	absentNotification struct{}
	absentObserver     struct{}
	absentInvariants   struct{}
)

func (absentBooking) Get(context.Context, string) (booking.Booking, error) {
	return booking.Booking{}, httperr.Absent(saga.PartBooking)
}

func (absentBooking) GetMany(context.Context, []string) ([]booking.Booking, error) {
	return nil, httperr.Absent(saga.PartBooking)
}

func (absentBooking) List(context.Context, booking.Filter) ([]booking.Booking, error) {
	return nil, httperr.Absent(saga.PartBooking)
}

func (absentBooking) InFlight(context.Context, int) ([]booking.Booking, error) {
	return nil, httperr.Absent(saga.PartBooking)
}

func (absentBooking) Stats(context.Context) (booking.Stats, error) {
	return booking.Stats{}, httperr.Absent(saga.PartBooking)
}

func (absentBooking) Seats(context.Context) ([]booking.Seat, error) {
	return nil, httperr.Absent(saga.PartBooking)
}

func (absentBooking) Create(context.Context, string, []string) (booking.Booking, error) {
	return booking.Booking{}, httperr.Absent(saga.PartBooking)
}

func (absentPayment) Ledger(context.Context, string, int) ([]payment.Entry, error) {
	return nil, httperr.Absent(saga.PartPayment)
}

func (absentNotification) List(context.Context, string, int) ([]notification.Notice, error) {
	return nil, httperr.Absent(saga.PartNotification)
}

func (absentNotification) Get(context.Context, string) (notification.Notice, error) {
	return notification.Notice{}, httperr.Absent(saga.PartNotification)
}

func (absentObserver) Events(context.Context, string) ([]observer.Event, error) {
	return nil, httperr.Absent(saga.PartObserver)
}

func (absentObserver) EventsOf(context.Context, []string) (map[string][]observer.Event, error) {
	return nil, httperr.Absent(saga.PartObserver)
}

func (absentObserver) Counts() []observer.Count { return nil }

func (absentObserver) SwitchesDuring(context.Context, time.Time, time.Time) ([]observer.SwitchChange, error) {
	return nil, httperr.Absent(saga.PartObserver)
}

func (absentObserver) DeadLetters(context.Context, int) ([]observer.DeadLetter, error) {
	return nil, httperr.Absent(saga.PartObserver)
}

func (absentObserver) DeadLetterStats(context.Context) (observer.DeadLetterStats, error) {
	return observer.DeadLetterStats{}, httperr.Absent(saga.PartObserver)
}

func (absentObserver) Replay(context.Context, string) error {
	return httperr.Absent(saga.PartObserver)
}

func (absentObserver) SendPoison(context.Context, string, string) (saga.Message, error) {
	return saga.Message{}, httperr.Absent(saga.PartObserver)
}

func (absentInvariants) Report() invariants.Report { return invariants.Report{} }

func (absentObserver) EventsUntil(context.Context, time.Time) ([]observer.Event, error) {
	return nil, httperr.Absent(saga.PartObserver)
}

func (absentObserver) DepthsAt(context.Context, time.Time) (time.Time, []saga.QueueStat, error) {
	return time.Time{}, nil, httperr.Absent(saga.PartObserver)
}

func (absentObserver) Recorded(context.Context) (time.Time, time.Time, error) {
	return time.Time{}, time.Time{}, httperr.Absent(saga.PartObserver)
}
