// Package invariants checks, all the time and cheaply, the promises the saga
// makes about its data: a seat is sold only to a confirmed booking, a held
// seat belongs to a pending one, a confirmed booking's ledger nets its
// amount, a compensated one nets zero, and no message was handled twice.
//
// It is a monitor, not a participant: it sends nothing, changes nothing, and
// reads each store through the small read-only interfaces in sources.go,
// which each store implements on its reader pool. Stores are separate SQLite
// files, so no read sees them all at one instant; the checker reads a
// booking's status first and the other stores after, and the saga's causal
// order (charge before confirmed, refund before compensated, no ticket after
// a void) means what it reads later can only be newer, never a false alarm.
//
// It also checks that no participant acted for a booking Booking never had
// (a charge, a ticket or a notice made from a forged BookingCreated), and
// that SeatUpdating's tickets and Booking's seat map agree: every ticket is
// for a seat of the venue that Booking gives to the ticket's booking, and
// every seat Booking sold to a confirmed booking has its ticket. Booking
// commits a booking, holding its seats, before its BookingCreated leaves,
// and marks a seat sold only after SeatsSold, which follows the ticket; so
// a ticket read after the seat map is never older than the hold it needs,
// and a sale read before the tickets never lacks a ticket that is coming.
//
// A check is incremental. Each one reads
//   - the bookings touched since the last check, found through a cursor on
//     an indexed column of each store (bookings' updated_at, the ledger's at,
//     tickets' at, the observer's event seq), with a couple of seconds of
//     overlap for rows that commit with an older time than one already read;
//   - the bookings in violation at the last check, so a repaired one clears;
//   - a small page of a slow sweep over every booking, so a change the
//     cursors cannot see (an old row edited in place) is found eventually;
//   - the seats of all those bookings, the seats in violation, and a window
//     of the seat map (1,000 seats: the default venue whole, the largest in
//     ten checks). A seat changes only with its booking, so the window is
//     only for changes made behind the saga's back.
//
// Pending bookings are not checked for money: their charge may be in
// flight.
package invariants

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Rule names, as reports and metrics give them.
const (
	RuleSeatSold        = "seat-sold-to-confirmed"
	RuleSeatHeld        = "held-seat-pending"
	RuleConfirmedNets   = "confirmed-nets-amount"
	RuleCompensatedNets = "compensated-nets-zero"
	RuleHandledOnce     = "handled-once"
	// RuleEffectHasBooking, RuleTicketSeatBooked and RuleSoldSeatTicketed
	// catch what a message forged on the broker leaves behind: effects
	// for a booking nobody made, and tickets the seat map does not show.
	RuleEffectHasBooking = "effect-has-booking"
	RuleTicketSeatBooked = "ticket-seat-booked"
	RuleSoldSeatTicketed = "sold-seat-ticketed"
)

// Report states.
const (
	StateOK       = "ok"
	StateViolated = "violated"
	StatePartial  = "partial"
	StateError    = "error"
	StateStarting = "starting"
)

const (
	defaultEvery     = time.Second
	defaultOverlap   = 2 * time.Second
	defaultBatch     = 2000
	defaultSweepPage = 200
	defaultSeatPage  = 1000
	// maxCarried bounds the ids kept for the next check while checks fail.
	maxCarried = 8 * defaultBatch
)

// Rules describes every rule, in the order reports list them.
var Rules = []RuleInfo{
	{RuleSeatSold, "a seat is sold only to a confirmed booking: in Booking's seat map, and in SeatUpdating's tickets no ticket belongs to a compensated booking"},
	{RuleSeatHeld, "a held seat belongs to a pending booking"},
	{RuleConfirmedNets, "a confirmed booking's ledger (charges minus refunds) nets exactly its amount"},
	{RuleCompensatedNets, "a compensated booking's ledger nets to zero"},
	{RuleHandledOnce, "no message was handled twice: no consumed message caused two distinct messages of one type"},
	{RuleEffectHasBooking, "every charge in Payment's ledger, ticket in SeatUpdating's tickets and notice Notification sent belongs to a booking Booking has"},
	{RuleTicketSeatBooked, "every ticket is for a seat of the venue that Booking's seat map holds or sells to the ticket's booking"},
	{RuleSoldSeatTicketed, "every seat Booking's seat map sells to a confirmed booking has SeatUpdating's ticket for that booking"},
}

// RuleInfo names and explains one rule.
type RuleInfo struct {
	Name, Description string
}

// Config is what a Checker reads and how often.
type Config struct {
	// Bookings is Booking's store; required.
	Bookings Bookings
	// Ledger, Tickets, Events and Notices are Payment's, SeatUpdating's,
	// the observer's and Notification's stores; nil when they are not in
	// this process, and the rules that need them are then reported as not
	// checked.
	Ledger  Ledger
	Tickets Tickets
	Events  Events
	Notices Notices
	// Every is the time between checks. Default 1s.
	Every time.Duration
	// Overlap is how far back each time-based cursor re-reads, for rows
	// committed with an older time than one already read (a booking's
	// time is taken before its transaction waits for the writer). Default
	// 2s.
	Overlap time.Duration
	// Batch bounds the rows read from one feed in one check; a feed with
	// more goes on at the next check. Default 2000.
	Batch int
	// SweepPage is how many bookings the slow sweep checks per check.
	// Default 200; negative turns the sweep off.
	SweepPage int
	// SeatPage is how many seats of the map each check reads on top of the
	// seats of the bookings it checks. Default 1000: the default venue is
	// read whole every check, the largest (10,000 seats) every 10 checks.
	SeatPage int
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// Checker checks the invariants. Make it with New, run it with Run, read it
// with Report.
type Checker struct {
	cfg   Config
	feeds []*feed
	log   *slog.Logger

	mu       sync.Mutex // guards report and onChange
	report   Report
	onChange func()

	// The rest belongs to the one check running at a time.
	checking   sync.Mutex
	carry      map[string]bool        // ids read but not yet checked
	seatViol   map[string]SeatClaim   // seat id → a seat that breaks a seat rule
	byBooking  map[string][]Violation // from each booking's last check
	sweepAfter string
	seatAfter  string // where the next seat window starts
	sweptAt    time.Time
	last       string // the violations and state the last OnChange saw
}

// New returns a checker over the given stores.
func New(cfg Config) (*Checker, error) {
	if cfg.Bookings == nil {
		return nil, fmt.Errorf("invariants: Booking's store is required: the checker runs where Booking runs")
	}
	if cfg.Every <= 0 {
		cfg.Every = defaultEvery
	}
	if cfg.Overlap <= 0 {
		cfg.Overlap = defaultOverlap
	}
	if cfg.Batch <= 0 {
		cfg.Batch = defaultBatch
	}
	// A full page makes the next read start at its last row, which it
	// reads again, so a page of one would never move on.
	cfg.Batch = max(cfg.Batch, 2)
	if cfg.SweepPage == 0 {
		cfg.SweepPage = defaultSweepPage
	}
	if cfg.SeatPage <= 0 {
		cfg.SeatPage = defaultSeatPage
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c := &Checker{cfg: cfg, log: cfg.Log.With("part", "invariants"), carry: map[string]bool{},
		seatViol: map[string]SeatClaim{}, byBooking: map[string][]Violation{}}
	overlap := cfg.Overlap.Milliseconds()
	c.feeds = append(c.feeds, newFeed("bookings", cfg.Bookings, overlap))
	if cfg.Ledger != nil {
		c.feeds = append(c.feeds, newFeed("ledger", cfg.Ledger, overlap))
	}
	if cfg.Tickets != nil {
		c.feeds = append(c.feeds, newFeed("tickets", cfg.Tickets, overlap))
	}
	if cfg.Events != nil {
		// Events are numbered by their one writer as they commit, so a
		// smaller seq can never appear later: no overlap is needed.
		c.feeds = append(c.feeds, newFeed("events", cfg.Events, 0))
	}
	if cfg.Notices != nil {
		c.feeds = append(c.feeds, newFeed("notices", cfg.Notices, overlap))
	}
	c.report = Report{State: StateStarting, Violations: []Violation{}, Rules: c.rules(nil)}
	return c, nil
}

// OnChange sets the function called after a check that changed the state or
// the set of violations. It is called from the checker's goroutine and must
// not block.
func (c *Checker) OnChange(fn func()) {
	c.mu.Lock()
	c.onChange = fn
	c.mu.Unlock()
}

// Report returns the latest report.
func (c *Checker) Report() Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.report
}

// Run checks at once and then every Config.Every until ctx ends. It cannot
// fail: a check that fails is logged and tried again at the next tick.
func (c *Checker) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Every)
	defer t.Stop()
	failing := false
	for {
		_, err := c.Check(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && !failing:
			c.log.Warn("invariant check failed; will retry", "err", err)
			failing = true
		case err == nil && failing:
			c.log.Info("invariant checks running again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check runs one check now and returns the new report. Run calls it; tests
// and benchmarks call it to step the checker.
func (c *Checker) Check(ctx context.Context) (Report, error) {
	c.checking.Lock()
	defer c.checking.Unlock()
	start := time.Now()
	n, total, err := c.check(ctx)
	if err != nil {
		c.mu.Lock()
		r := c.report
		r.OK, r.State, r.Error = false, StateError, "the last check could not read a store: "+err.Error()
		c.report = r
		c.mu.Unlock()
		c.changed(r)
		return r, err
	}
	vs := c.violations()
	r := Report{CheckedAt: start.UTC(), TookMS: float64(time.Since(start).Microseconds()) / 1000,
		BookingsChecked: n, BookingsTotal: total, Violations: vs, Rules: c.rules(vs)}
	if !c.sweptAt.IsZero() {
		t := c.sweptAt
		r.SweptAt = &t
	}
	r.OK, r.State = true, StateOK
	for _, rule := range r.Rules {
		if !rule.Checked {
			r.OK, r.State = false, StatePartial
		}
	}
	if len(vs) > 0 {
		r.OK, r.State = false, StateViolated
	}
	c.mu.Lock()
	c.report = r
	c.mu.Unlock()
	c.changed(r)
	return r, nil
}
