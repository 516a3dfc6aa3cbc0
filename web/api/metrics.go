package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web/viewmodel"
)

// stepOutcomes maps a message type to the step and outcome it reports, for
// the per-step counters.
var stepOutcomes = map[string][2]string{
	saga.TypeBookingCreated:            {"booking", "success"},
	saga.TypePaymentCompleted:          {"payment", "success"},
	saga.TypePaymentServiceFailed:      {"payment", "failure"},
	saga.TypeSeatsSold:                 {"seats", "success"},
	saga.TypeSeatUpdatingServiceFailed: {"seats", "failure"},
	saga.TypePaymentRefunded:           {"refund", "success"},
	saga.TypeBookingCancelled:          {"release", "success"},
	saga.TypeBookingNotified:           {"notification", "success"},
	saga.TypeNotificationRetry:         {"notification", "retry"},
}

// metrics writes the Prometheus text format by hand: a few counters do not
// justify a client library (STYLE: before adding a dependency, don't).
func (h *Handler) metrics(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	if h.src.Has(saga.PartObserver) {
		counts := h.src.Observer.Counts()
		b.WriteString("# HELP sagaboard_messages_total Messages the observer saw since this process started, by queue and type.\n")
		b.WriteString("# TYPE sagaboard_messages_total counter\n")
		steps := map[[2]string]int64{}
		// Routing keys and types are whatever a client of the broker sent;
		// as labels they are bounded to the saga's own words, so a flood of
		// made-up ones adds to one "other" series instead of a new series
		// each.
		known := vocabulary()
		series := map[[2]string]int64{}
		for _, c := range counts {
			series[[2]string{known.queue(c.Queue), known.typ(c.Type)}] += c.N
			if so, ok := stepOutcomes[c.Type]; ok {
				steps[so] += c.N
			}
		}
		for _, k := range sortedKeys(series) {
			fmt.Fprintf(&b, "sagaboard_messages_total{queue=%s,type=%s} %d\n", labelValue(k[0]), labelValue(k[1]), series[k])
		}
		b.WriteString("# HELP sagaboard_step_total Saga steps by outcome, since this process started.\n")
		b.WriteString("# TYPE sagaboard_step_total counter\n")
		for _, k := range sortedKeys(steps) {
			fmt.Fprintf(&b, "sagaboard_step_total{step=%s,outcome=%s} %d\n", labelValue(k[0]), labelValue(k[1]), steps[k])
		}
	}
	if h.src.Has(saga.PartBooking) {
		if st, err := h.src.Booking.Stats(r.Context()); err == nil {
			b.WriteString("# HELP sagaboard_bookings Bookings by status.\n# TYPE sagaboard_bookings gauge\n")
			fmt.Fprintf(&b, "sagaboard_bookings{status=%s} %d\n", labelValue(saga.StatusPending), st.Pending)
			fmt.Fprintf(&b, "sagaboard_bookings{status=%s} %d\n", labelValue(saga.StatusConfirmed), st.Confirmed)
			fmt.Fprintf(&b, "sagaboard_bookings{status=%s} %d\n", labelValue(saga.StatusCompensated), st.Compensated)
		}
	}
	h.invariantMetrics(&b)
	up, _, outages, _ := h.cfg.Broker.Status()
	b.WriteString("# HELP sagaboard_broker_up Whether the broker connection is open.\n# TYPE sagaboard_broker_up gauge\n")
	fmt.Fprintf(&b, "sagaboard_broker_up %d\n", map[bool]int{false: 0, true: 1}[up])
	b.WriteString("# HELP sagaboard_broker_outages_total Broker connections lost since start.\n# TYPE sagaboard_broker_outages_total counter\n")
	fmt.Fprintf(&b, "sagaboard_broker_outages_total %d\n", outages)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

// otherLabel stands for every value outside the saga's vocabulary.
const otherLabel = "other"

// labels is the vocabulary a label value may come from; see vocabulary.
type labels struct {
	queues, types map[string]bool
}

// vocabulary is the saga's own words for queues and message types, from
// services/saga, where they are said once: the queues the parts consume,
// the routing keys only the observer hears, and every type a part may send.
func vocabulary() labels {
	l := labels{queues: map[string]bool{}, types: map[string]bool{}}
	for _, q := range saga.WorkQueues() {
		l.queues[q] = true
	}
	for _, r := range saga.Routes {
		l.queues[r.Key] = true
		l.types[r.Type] = true
	}
	return l
}

func (l labels) queue(q string) string { return l.bounded(l.queues, q) }
func (l labels) typ(t string) string   { return l.bounded(l.types, t) }

func (labels) bounded(set map[string]bool, v string) string {
	if set[v] {
		return v
	}
	return otherLabel
}

// sortedKeys orders a metric's series, so /metrics reads the same twice.
func sortedKeys(m map[[2]string]int64) [][2]string {
	keys := make([][2]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	return keys
}

// labelValue quotes a label value as the Prometheus text format wants:
// valid UTF-8, with only backslash, double quote and newline escaped, as
// \\, \" and \n. (Go's %q escapes more, in ways the format does not read.)
func labelValue(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// invariantMetrics writes the checker's gauges in the Prometheus text
// format, for /metrics: the violations by rule, and how long the last
// check took. It writes nothing where no checker runs.
func (h *Handler) invariantMetrics(b *strings.Builder) {
	if !h.src.Has(viewmodel.PartInvariants) {
		return
	}
	rep := h.src.Invariants.Report()
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
