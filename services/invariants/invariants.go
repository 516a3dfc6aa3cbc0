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
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
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

// Report is the result of the latest check, as GET /api/invariants gives it.
//
// OK is true only when every rule was checked and every one holds. In a
// process that does not hold every store (split mode, -only) some rules are
// not checked here: OK is then false even with no violation, State says
// "partial" and each rule says whether it was checked, and why not. A rule
// nobody checked is never reported as holding.
type Report struct {
	OK bool `json:"ok"`
	// State is "ok", "violated" (some rule is broken), "partial" (no checked
	// rule is broken, but some rules cannot be checked in this process),
	// "error" (the last check could not read a store; the violations are
	// the last ones found) or "starting" (no check has finished yet).
	State     string    `json:"state"`
	CheckedAt time.Time `json:"checked_at"`
	// TookMS is how long the last check took.
	TookMS float64 `json:"took_ms"`
	// BookingsChecked is how many bookings the last check looked at: those
	// touched since the check before, those in violation and a sweep page.
	BookingsChecked int `json:"bookings_checked"`
	// BookingsTotal is how many bookings Booking's store holds.
	BookingsTotal int `json:"bookings_total"`
	// SweptAt is when the slow sweep last finished a pass over every
	// booking; absent until the first pass ends.
	SweptAt    *time.Time   `json:"swept_at,omitempty"`
	Violations []Violation  `json:"violations"`
	Rules      []RuleReport `json:"rules"`
	// Error says why the last check failed, when it did.
	Error string `json:"error,omitempty"`
}

// Violation is one booking that breaks one rule.
type Violation struct {
	Rule      string `json:"rule"`
	BookingID string `json:"booking_id"`
	Detail    string `json:"detail"`
}

// RuleReport is one rule's state at the last check.
type RuleReport struct {
	Rule        string `json:"rule"`
	Description string `json:"description"`
	// Checked is false when some data the rule needs is not in this
	// process; Skipped then says which.
	Checked bool `json:"checked"`
	// Holds is true only when the rule was checked and nothing breaks it.
	Holds      bool   `json:"holds"`
	Violations int    `json:"violations"`
	Skipped    string `json:"skipped,omitempty"`
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

// Run checks at once and then every Config.Every until ctx ends.
func (c *Checker) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Every)
	defer t.Stop()
	failing := false
	for {
		_, err := c.Check(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			c.log.Warn("invariant check failed; will retry", "err", err)
			failing = true
		case err == nil && failing:
			c.log.Info("invariant checks running again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
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

// changed calls OnChange when the state or the violations differ from what
// it last saw, and logs what appeared.
func (c *Checker) changed(r Report) {
	var b strings.Builder
	b.WriteString(r.State)
	for _, v := range r.Violations {
		b.WriteString("\x00" + v.Rule + "\x00" + v.BookingID + "\x00" + v.Detail)
	}
	if b.String() == c.last {
		return
	}
	if r.State == StateViolated {
		c.log.Warn("an invariant is broken", "violations", len(r.Violations), "first_rule", r.Violations[0].Rule,
			"first_booking", r.Violations[0].BookingID, "detail", r.Violations[0].Detail)
	} else if strings.HasPrefix(c.last, StateViolated) && len(r.Violations) == 0 {
		c.log.Info("every violation has cleared", "state", r.State)
	}
	c.last = b.String()
	c.mu.Lock()
	fn := c.onChange
	c.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// rules reports each rule, given the violations found.
func (c *Checker) rules(vs []Violation) []RuleReport {
	count := map[string]int{}
	for _, v := range vs {
		count[v.Rule]++
	}
	out := make([]RuleReport, 0, len(Rules))
	for _, info := range Rules {
		r := RuleReport{Rule: info.Name, Description: info.Description, Checked: true, Violations: count[info.Name]}
		switch info.Name {
		case RuleSeatSold:
			if c.cfg.Tickets == nil {
				r.Checked, r.Skipped = false, "SeatUpdating's tickets are kept by another process: only Booking's seat map is checked here"
			}
		case RuleConfirmedNets, RuleCompensatedNets:
			if c.cfg.Ledger == nil {
				r.Checked, r.Skipped = false, "Payment's ledger is kept by another process"
			}
		case RuleHandledOnce:
			if c.cfg.Events == nil {
				r.Checked, r.Skipped = false, "the observer's record of messages is kept by another process"
			}
		case RuleEffectHasBooking:
			var away []string
			if c.cfg.Ledger == nil {
				away = append(away, "Payment's ledger")
			}
			if c.cfg.Tickets == nil {
				away = append(away, "SeatUpdating's tickets")
			}
			if c.cfg.Notices == nil {
				away = append(away, "Notification's notices")
			}
			// Checked only whole: a rule read in part is never said to
			// hold, though the stores that are here are still read.
			if len(away) > 0 {
				r.Checked, r.Skipped = false, "kept by another process: "+strings.Join(away, " and ")+"; the stores here are checked still"
			}
		case RuleTicketSeatBooked, RuleSoldSeatTicketed:
			if c.cfg.Tickets == nil {
				r.Checked, r.Skipped = false, "SeatUpdating's tickets are kept by another process"
			}
		}
		r.Holds = r.Checked && r.Violations == 0
		out = append(out, r)
	}
	return out
}

// violations returns every violation known, in rule order, then by booking.
func (c *Checker) violations() []Violation {
	out := seatViolations(c.seatViol)
	for _, vs := range c.byBooking {
		out = append(out, vs...)
	}
	order := map[string]int{}
	for i, r := range Rules {
		order[r.Name] = i
	}
	slices.SortFunc(out, func(a, b Violation) int {
		if d := order[a.Rule] - order[b.Rule]; d != 0 {
			return d
		}
		if d := strings.Compare(a.BookingID, b.BookingID); d != 0 {
			return d
		}
		return strings.Compare(a.Detail, b.Detail)
	})
	if out == nil {
		out = []Violation{}
	}
	return out
}

// firstPassSpeedup multiplies the sweep's page while the first pass after a
// start runs and the saga is quiet: fewer than quietChanges changed rows in
// the feeds since the last check.
const (
	firstPassSpeedup = 5
	quietChanges     = 100
)

// check reads the stores and updates the violations. It returns how many
// bookings it checked and how many there are.
func (c *Checker) check(ctx context.Context) (int, int, error) {
	b := c.cfg.Bookings
	// Ids a failed check had read stay in carry, so a failure loses
	// nothing; while too many wait, the feeds are not read further.
	if len(c.carry) < maxCarried {
		changed := 0
		for _, f := range c.feeds {
			ids, err := f.next(ctx, c.cfg.Batch)
			for _, id := range ids {
				c.carry[id] = true
			}
			if err != nil {
				return 0, 0, fmt.Errorf("invariants: read %s changes: %w", f.name, err)
			}
			changed += len(ids)
		}
		if c.cfg.SweepPage > 0 {
			// A checker that has just started has seen nothing of the past
			// as changes: until its first pass is done, it sweeps faster
			// whenever the saga is quiet (fewer than quietChanges), so a
			// restart is covered in seconds, not minutes. After that the
			// sweep is a trickle.
			size := c.cfg.SweepPage
			if c.sweptAt.IsZero() && changed < quietChanges {
				size *= firstPassSpeedup
			}
			page, err := b.Page(ctx, c.sweepAfter, size)
			if err != nil {
				return 0, 0, fmt.Errorf("invariants: sweep bookings: %w", err)
			}
			for _, id := range page {
				c.carry[id] = true
			}
			if len(page) < size {
				c.sweepAfter, c.sweptAt = "", time.Now().UTC()
			} else {
				c.sweepAfter = page[len(page)-1]
			}
		}
	}
	total, err := b.Total(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("invariants: count bookings: %w", err)
	}

	// Booking's store first: the seat map, then the status of every booking
	// to check. Everything read from the other stores afterwards is at
	// least as new.
	seats := maps.Clone(c.seatViol)
	window, seatAfter, err := b.SeatWindow(ctx, c.seatAfter, c.cfg.SeatPage)
	if err != nil {
		return 0, 0, fmt.Errorf("invariants: read the seat map: %w", err)
	}
	for id := range seats {
		if id > c.seatAfter && (seatAfter == "" || id <= seatAfter) {
			delete(seats, id) // in the window: read again just now
		}
	}
	for _, s := range window {
		seats[s.SeatID] = s
	}
	if c.cfg.Tickets != nil {
		// The tickets of the same window of seats: one that the seat map
		// does not give to its booking has that booking checked now, by the
		// rules below, whatever made it and whenever.
		suspects, err := c.ticketWindow(ctx, c.seatAfter, seatAfter)
		if err != nil {
			return 0, 0, err
		}
		for _, id := range suspects {
			c.carry[id] = true
		}
	}
	ids := make([]string, 0, len(c.carry)+len(c.byBooking))
	for id := range c.carry {
		ids = append(ids, id)
	}
	for id := range c.byBooking {
		if !c.carry[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	states := make(map[string]BookingState, len(ids))
	for part := range slices.Chunk(ids, MaxIDs) {
		got, err := b.States(ctx, part)
		if err != nil {
			return 0, 0, fmt.Errorf("invariants: read booking states: %w", err)
		}
		for _, s := range got {
			states[s.ID] = s
		}
	}
	// The seats of every booking checked: a seat changes only with its
	// booking, so a new hold or sale is seen at the next check. Then the
	// seats in violation, so a repaired one clears.
	recheck := map[string]bool{}
	for id := range seats {
		recheck[id] = true
	}
	var claims []SeatClaim // the held and sold seats of the bookings checked
	for part := range slices.Chunk(ids, MaxIDs) {
		got, err := b.SeatsOf(ctx, part)
		if err != nil {
			return 0, 0, fmt.Errorf("invariants: read seats of bookings: %w", err)
		}
		for _, s := range got {
			setSeat(seats, s)
			delete(recheck, s.SeatID)
		}
		claims = append(claims, got...)
	}
	for part := range slices.Chunk(slices.Sorted(maps.Keys(recheck)), MaxIDs) {
		got, err := b.Seats(ctx, part)
		if err != nil {
			return 0, 0, fmt.Errorf("invariants: read seats: %w", err)
		}
		for _, s := range got {
			setSeat(seats, s)
		}
	}

	found := make([]string, 0, len(states))
	var settled []string // confirmed or compensated: their money is final
	var compensated []string
	var missing []string // ids Booking does not have: only a forgery makes them
	for _, id := range ids {
		s, ok := states[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		found = append(found, id)
		switch s.Status {
		case saga.StatusConfirmed:
			settled = append(settled, id)
		case saga.StatusCompensated:
			settled = append(settled, id)
			compensated = append(compensated, id)
		}
	}

	fresh := map[string][]Violation{}
	add := func(rule, id, detail string) {
		fresh[id] = append(fresh[id], Violation{Rule: rule, BookingID: id, Detail: detail})
	}
	if c.cfg.Ledger != nil {
		for part := range slices.Chunk(settled, MaxIDs) {
			nets, err := c.cfg.Ledger.Nets(ctx, part)
			if err != nil {
				return 0, 0, fmt.Errorf("invariants: read the ledger: %w", err)
			}
			for _, id := range part {
				s, n := states[id], nets[id]
				net := n.ChargedCents - n.RefundedCents
				money := fmt.Sprintf("the ledger nets %s (charged %s, refunded %s)", saga.Money(net), saga.Money(n.ChargedCents), saga.Money(n.RefundedCents))
				if s.Status == saga.StatusConfirmed && net != s.AmountCents {
					add(RuleConfirmedNets, id, fmt.Sprintf("confirmed for %s, but %s", saga.Money(s.AmountCents), money))
				}
				if s.Status == saga.StatusCompensated && net != 0 {
					add(RuleCompensatedNets, id, "compensated, but "+money)
				}
			}
		}
	}
	var tickets map[string][]string // booking → its tickets' seats
	if c.cfg.Tickets != nil {
		// The tickets of every booking checked, not only the compensated:
		// after the seat map, so a ticket is never older than its hold.
		tickets = map[string][]string{}
		for part := range slices.Chunk(ids, MaxIDs) {
			sold, err := c.cfg.Tickets.Sold(ctx, part)
			if err != nil {
				return 0, 0, fmt.Errorf("invariants: read tickets: %w", err)
			}
			maps.Copy(tickets, sold)
		}
		for _, id := range compensated {
			if seats := tickets[id]; len(seats) > 0 {
				add(RuleSeatSold, id, fmt.Sprintf("SeatUpdating sold %s to this booking, which is compensated", seatList(seats)))
			}
		}
		unticketedSales(claims, tickets, add)
		if err := c.strayTickets(ctx, tickets, states, claims, add); err != nil {
			return 0, 0, err
		}
	}
	if err := c.orphans(ctx, missing, tickets, add); err != nil {
		return 0, 0, err
	}
	if c.cfg.Events != nil {
		for part := range slices.Chunk(found, MaxIDs) {
			dups, err := c.cfg.Events.Duplicates(ctx, part)
			if err != nil {
				return 0, 0, fmt.Errorf("invariants: read events: %w", err)
			}
			for _, d := range dups {
				if _, ok := states[d.BookingID]; !ok {
					continue
				}
				add(RuleHandledOnce, d.BookingID, fmt.Sprintf("message %s was handled %d times: it caused %d distinct %s messages (%s)",
					d.CausedBy, len(d.MessageIDs), len(d.MessageIDs), d.Type, strings.Join(d.MessageIDs, ", ")))
			}
		}
	}

	// Everything read: commit the result.
	for _, id := range ids {
		if vs := fresh[id]; len(vs) > 0 {
			c.byBooking[id] = vs
		} else {
			delete(c.byBooking, id)
		}
	}
	c.seatViol, c.seatAfter = seats, seatAfter
	c.carry = map[string]bool{}
	return len(found), total, nil
}

// mismatch reports whether a seat breaks a seat rule.
func mismatch(s SeatClaim) bool {
	return (s.SeatStatus == saga.SeatSold && s.BookingStatus != saga.StatusConfirmed) ||
		(s.SeatStatus == saga.SeatHeld && s.BookingStatus != saga.StatusPending)
}

// setSeat records a seat as read: kept when it breaks a rule, dropped when
// it does not.
func setSeat(seats map[string]SeatClaim, s SeatClaim) {
	if mismatch(s) {
		seats[s.SeatID] = s
	} else {
		delete(seats, s.SeatID)
	}
}

// seatViolations turns the seats that break a rule into violations: one per
// rule and booking, naming its seats.
func seatViolations(bySeat map[string]SeatClaim) []Violation {
	type key struct{ rule, booking, status string }
	seats := map[key][]string{}
	var keys []key
	for _, id := range slices.Sorted(maps.Keys(bySeat)) {
		s := bySeat[id]
		var k key
		switch {
		case s.SeatStatus == saga.SeatSold && s.BookingStatus != saga.StatusConfirmed:
			k = key{RuleSeatSold, s.BookingID, s.BookingStatus}
		case s.SeatStatus == saga.SeatHeld && s.BookingStatus != saga.StatusPending:
			k = key{RuleSeatHeld, s.BookingID, s.BookingStatus}
		default:
			continue
		}
		if _, ok := seats[k]; !ok {
			keys = append(keys, k)
		}
		seats[k] = append(seats[k], s.SeatID)
	}
	out := make([]Violation, 0, len(keys))
	for _, k := range keys {
		state := saga.SeatSold
		if k.rule == RuleSeatHeld {
			state = saga.SeatHeld
		}
		what := seatList(seats[k]) + " is "
		if len(seats[k]) > 1 {
			what = seatList(seats[k]) + " are "
		}
		what += state + " in Booking's seat map"
		var detail string
		switch {
		case k.booking == "":
			detail = what + ", to no booking"
		case k.status == "":
			detail = what + ", to a booking the store does not have"
		default:
			detail = what + ", but the booking is " + k.status
		}
		out = append(out, Violation{Rule: k.rule, BookingID: k.booking, Detail: detail})
	}
	return out
}

func seatList(seats []string) string {
	if len(seats) == 1 {
		return "seat " + seats[0]
	}
	return "seats " + strings.Join(seats, " ")
}

// feed is one store's cursors. The forward cursor reads what is new, a page
// at most per check. A second cursor re-reads the Overlap behind it, a page
// at most per check, for rows that commit with an older time than rows
// already read; when the overlap holds more than a page, it goes round it
// over several checks instead of holding the forward cursor back. Rows read
// once are remembered while they are in the overlap, and skipped.
type feed struct {
	name    string
	src     Feed
	overlap int64
	started bool
	pos     Cursor          // the last row the forward cursor read
	lag     Cursor          // where the re-read of the overlap goes on
	seen    map[Cursor]bool // rows read, within the overlap behind pos
}

func newFeed(name string, src Feed, overlap int64) *feed {
	return &feed{name: name, src: src, overlap: overlap, seen: map[Cursor]bool{}}
}

func before(a, b Cursor) bool { return a.At < b.At || (a.At == b.At && a.Key < b.Key) }

// next returns the ids of the bookings whose rows changed since the last
// call. A new feed starts Overlap before the store's newest row: what came
// before is the sweep's to check.
func (f *feed) next(ctx context.Context, limit int) ([]string, error) {
	if !f.started {
		head, err := f.src.Head(ctx)
		if err != nil {
			return nil, err
		}
		f.started, f.pos = true, Cursor{At: head - f.overlap}
		f.lag = f.pos
	}
	var ids []string
	take := func(rows []Change) {
		for _, r := range rows {
			p := Cursor{At: r.At, Key: r.Key}
			if !f.seen[p] {
				f.seen[p] = true
				ids = append(ids, r.BookingID)
			}
		}
	}
	rows, err := f.src.Changes(ctx, f.pos, limit)
	if err != nil {
		return nil, err
	}
	take(rows)
	if len(rows) > 0 {
		f.pos = Cursor{At: rows[len(rows)-1].At, Key: rows[len(rows)-1].Key}
	}
	floor := Cursor{At: f.pos.At - f.overlap}
	if f.overlap > 0 {
		if before(f.lag, floor) {
			f.lag = floor
		}
		late, err := f.src.Changes(ctx, f.lag, limit)
		if err != nil {
			// The forward rows are marked seen: hand them over anyway, so
			// the caller keeps them for the next check.
			return ids, err
		}
		take(late)
		f.lag = floor // round again from the start of the overlap
		if len(late) == limit {
			if last := late[len(late)-1]; before(Cursor{At: last.At, Key: last.Key}, f.pos) {
				f.lag = Cursor{At: last.At, Key: last.Key} // more of the overlap waits
			}
		}
	}
	for p := range f.seen {
		if p.At < floor.At {
			delete(f.seen, p)
		}
	}
	return ids, nil
}
