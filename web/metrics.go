package web

import (
	"fmt"
	"net/http"
	"sort"
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
		sort.Slice(counts, func(i, j int) bool {
			if counts[i].Queue != counts[j].Queue {
				return counts[i].Queue < counts[j].Queue
			}
			return counts[i].Type < counts[j].Type
		})
		b.WriteString("# HELP sagaboard_messages_total Messages the observer saw since this process started, by queue and type.\n")
		b.WriteString("# TYPE sagaboard_messages_total counter\n")
		steps := map[[2]string]int64{}
		for _, c := range counts {
			fmt.Fprintf(&b, "sagaboard_messages_total{queue=%q,type=%q} %d\n", label(c.Queue), label(c.Type), c.N)
			if so, ok := stepOutcomes[c.Type]; ok {
				steps[so] += c.N
			}
		}
		b.WriteString("# HELP sagaboard_step_total Saga steps by outcome, since this process started.\n")
		b.WriteString("# TYPE sagaboard_step_total counter\n")
		keys := make([][2]string, 0, len(steps))
		for k := range steps {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
		for _, k := range keys {
			fmt.Fprintf(&b, "sagaboard_step_total{step=%q,outcome=%q} %d\n", k[0], k[1], steps[k])
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

// label keeps a label value printable; %q then escapes it the way the text
// format wants.
func label(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.ToValidUTF8(s, "?")
}
