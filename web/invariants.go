package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/views"
)

// invariants answers GET /api/invariants with the latest check.
func (s *Server) invariants(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Invariants == nil {
		writeError(w, http.StatusServiceUnavailable, "the invariant checker runs in the process that runs Booking, and this one does not")
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.Invariants.Report())
}

// invariantsView is the invariants panel's data, from the latest check.
func (s *Server) invariantsView() views.Invariants {
	if s.cfg.Invariants == nil {
		return views.Invariants{}
	}
	rep := s.cfg.Invariants.Report()
	v := views.Invariants{Known: true, State: rep.State, CheckedAt: rep.CheckedAt, Now: time.Now(), Bookings: rep.BookingsTotal, Error: rep.Error}
	byRule := map[string][]views.InvariantViolation{}
	for _, x := range rep.Violations {
		byRule[x.Rule] = append(byRule[x.Rule], views.InvariantViolation{BookingID: x.BookingID, Detail: x.Detail})
	}
	for _, r := range rep.Rules {
		v.Rules = append(v.Rules, views.InvariantRule{Name: r.Rule, Description: r.Description, Checked: r.Checked,
			Skipped: r.Skipped, Violations: byRule[r.Rule]})
	}
	return v
}

// invariantMetrics writes the checker's gauges in the Prometheus text
// format, for /metrics: the violations by rule, and how long the last
// check took. It writes nothing where no checker runs.
func (s *Server) invariantMetrics(b *strings.Builder) {
	if s.cfg.Invariants == nil {
		return
	}
	rep := s.cfg.Invariants.Report()
	b.WriteString("# HELP sagaboard_invariant_violations Bookings breaking each invariant at the last check; absent for a rule not checked in this process.\n")
	b.WriteString("# TYPE sagaboard_invariant_violations gauge\n")
	for _, r := range rep.Rules {
		if r.Checked || r.Violations > 0 {
			fmt.Fprintf(b, "sagaboard_invariant_violations{rule=%s} %d\n", labelValue(r.Rule), r.Violations)
		}
	}
	b.WriteString("# HELP sagaboard_invariant_check_seconds How long the last invariant check took.\n")
	b.WriteString("# TYPE sagaboard_invariant_check_seconds gauge\n")
	fmt.Fprintf(b, "sagaboard_invariant_check_seconds %g\n", rep.TookMS/1000)
	b.WriteString("# HELP sagaboard_invariants_ok 1 when every invariant was checked and holds.\n")
	b.WriteString("# TYPE sagaboard_invariants_ok gauge\n")
	fmt.Fprintf(b, "sagaboard_invariants_ok %d\n", map[bool]int{false: 0, true: 1}[rep.OK])
}
