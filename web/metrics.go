package web

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/sagaboard/sagaboard/services/saga"
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
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	if s.cfg.Observer != nil {
		counts := s.cfg.Observer.Counts()
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
	if s.cfg.Booking != nil {
		if st, err := s.cfg.Booking.Stats(r.Context()); err == nil {
			b.WriteString("# HELP sagaboard_bookings Bookings by status.\n# TYPE sagaboard_bookings gauge\n")
			fmt.Fprintf(&b, "sagaboard_bookings{status=\"pending\"} %d\n", st.Pending)
			fmt.Fprintf(&b, "sagaboard_bookings{status=\"confirmed\"} %d\n", st.Confirmed)
			fmt.Fprintf(&b, "sagaboard_bookings{status=\"compensated\"} %d\n", st.Compensated)
		}
	}
	s.invariantMetrics(&b)
	up, _, outages, _ := s.cfg.Broker.Status()
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
// services/saga, where they are said once. The queues are the ones the
// parts consume plus the keys only the observer hears.
func vocabulary() labels {
	l := labels{queues: map[string]bool{saga.KeyBookingNotified: true, saga.KeyNotes: true}, types: map[string]bool{}}
	for _, q := range saga.WorkQueues() {
		l.queues[q] = true
	}
	for _, t := range []string{saga.TypeBookingCreated, saga.TypePaymentCompleted, saga.TypePaymentServiceFailed,
		saga.TypeSeatsSold, saga.TypeSeatUpdatingServiceFailed, saga.TypeRefundRequested, saga.TypePaymentRefunded,
		saga.TypeSeatReleaseRequested, saga.TypeBookingCancelled, saga.TypeNotificationRetry, saga.TypeBookingNotified,
		saga.TypeDeadlineExceeded, saga.TypeSeatsVoidRequested, saga.TypeVoidRefused, saga.TypeLateMessageNeutralised} {
		l.types[t] = true
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
