package invariants

import (
	"slices"
	"strings"
	"time"
)

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
