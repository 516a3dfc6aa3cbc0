package views

import (
	"strconv"
	"time"
)

// Invariants is the invariants panel: what the latest check found.
type Invariants struct {
	// Known is false when no checker runs in this process.
	Known bool
	// State is "ok", "violated", "partial", "error" or "starting".
	State     string
	CheckedAt time.Time
	// Now is when the view was made, for "checked 0.4 s ago".
	Now time.Time
	// Bookings is how many bookings the store holds.
	Bookings int
	Rules    []InvariantRule
	// Error says why the last check failed, when it did.
	Error string
}

// InvariantRule is one rule and the bookings that break it.
type InvariantRule struct {
	Name, Description string
	Checked           bool
	// Skipped says why the rule is not checked here.
	Skipped    string
	Violations []InvariantViolation
}

// InvariantViolation is one booking that breaks a rule.
type InvariantViolation struct {
	BookingID, Detail string
}

// MaxShownViolations bounds the bookings the panel lists per rule.
const MaxShownViolations = 10

// Shown returns the violations the panel lists.
func (r InvariantRule) Shown() []InvariantViolation {
	if len(r.Violations) > MaxShownViolations {
		return r.Violations[:MaxShownViolations]
	}
	return r.Violations
}

// More is how many violations are not listed.
func (r InvariantRule) More() int { return max(0, len(r.Violations)-MaxShownViolations) }

// Broken reports whether the rule has violations.
func (r InvariantRule) Broken() bool { return len(r.Violations) > 0 }

// Holding counts the rules checked with no violation.
func (v Invariants) Holding() int {
	n := 0
	for _, r := range v.Rules {
		if r.Checked && !r.Broken() {
			n++
		}
	}
	return n
}

// BrokenRules counts the rules with violations.
func (v Invariants) BrokenRules() int {
	n := 0
	for _, r := range v.Rules {
		if r.Broken() {
			n++
		}
	}
	return n
}

// Unchecked counts the rules that are not checked here.
func (v Invariants) Unchecked() int {
	n := 0
	for _, r := range v.Rules {
		if !r.Checked {
			n++
		}
	}
	return n
}

// Headline is the panel's one line, in words.
func (v Invariants) Headline() string {
	switch {
	case v.BrokenRules() > 0:
		return plural(v.BrokenRules(), "rule is", "rules are") + " broken"
	case v.State == "starting":
		return "the first check is running"
	case v.State == "error":
		return "the last check failed"
	case v.Unchecked() > 0:
		return plural(v.Holding(), "rule holds", "rules hold") + " · " + strconv.Itoa(v.Unchecked()) + " not checked in this process"
	}
	return plural(v.Holding(), "rule holds", "rules hold")
}

// Facts is the line under the headline: how fresh and how much.
func (v Invariants) Facts() string {
	if v.CheckedAt.IsZero() {
		return Count(v.Bookings) + " " + Plural(v.Bookings, "booking", "bookings")
	}
	return "checked " + invAgo(v.Now.Sub(v.CheckedAt)) + " · " + Count(v.Bookings) + " " + Plural(v.Bookings, "booking", "bookings")
}

// Tone is the panel's colour class; the headline always says it in words too.
func (v Invariants) Tone() string {
	switch {
	case v.BrokenRules() > 0:
		return "inv-bad"
	case v.State == "ok":
		return "inv-ok"
	}
	return "inv-partial"
}

// Mark is the symbol beside the headline.
func (v Invariants) Mark() string {
	switch v.Tone() {
	case "inv-bad":
		return "✖"
	case "inv-ok":
		return "✔"
	}
	return "◐"
}

// Mark is the symbol beside a rule.
func (r InvariantRule) Mark() string {
	switch {
	case r.Broken():
		return "✖"
	case !r.Checked:
		return "–"
	}
	return "✔"
}

// plural says "1 rule" or "3 rules".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// Plural picks the word for n, "booking" for 1 and "bookings" for any
// other count, 0 included; the number is written by the caller.
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// invAgo says how long ago, to a tenth of a second under a minute.
func invAgo(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
	case d >= time.Minute:
		return d.Round(time.Second).String() + " ago"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s ago"
}
