package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web/viewmodel"
	"github.com/sagaboard/sagaboard/web/ws"
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

// Metrics is what /metrics serves, in the Prometheus text format, from a
// registry of its own (never the global one, so two servers in one test
// process do not collide): Go's runtime and the process, the time each
// step takes, and what the parts and the broker hold at the moment of the
// scrape. One Metrics is made in main, before the parts, so their
// pipelines can time steps with Steps.
type Metrics struct {
	reg   *prometheus.Registry
	step  *prometheus.HistogramVec
	steps *prometheus.CounterVec
}

// NewMetrics returns metrics with the Go runtime and process collectors
// registered, and the step metrics Steps feeds.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		step: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sagaboard_step_seconds",
			Help: "Time from a message being published to its step deciding about it (queueing and handling), by the queue it was consumed from.",
			// 1 ms to 30 s: a step is a few ms idle and seconds under a
			// switch's delay or a backlog.
			Buckets: prometheus.ExponentialBucketsRange(0.001, 30, 16),
		}, []string{"queue"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sagaboard_step_messages_total",
			Help: "Messages a step decided about in this process, by queue and outcome: ok (acked), retry (requeued) or poison (dead-lettered).",
		}, []string{"queue", "outcome"}),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), m.step, m.steps)
	return m
}

// Steps is the pipeline step that times every step in this process: put
// it early in saga.WithMiddleware so the time covers the other steps.
// Queue names are the process's own, so they need no bounding.
func (m *Metrics) Steps() saga.Middleware {
	return func(h saga.BatchHandler) saga.BatchHandler {
		return func(ctx context.Context, msgs []saga.Message) []saga.Outcome {
			outs := h(ctx, msgs)
			now := time.Now()
			for i, msg := range msgs {
				if msg.Queue == saga.ObserverQueue || msg.Queue == saga.DeadLetterQueue || i >= len(outs) {
					continue // the observer's record is not a step
				}
				// The publish time is the sender's clock, so a skewed or
				// forged one is clamped rather than trusted.
				m.step.WithLabelValues(msg.Queue).Observe(max(now.Sub(msg.Timestamp).Seconds(), 0))
				outcome := "ok"
				switch err := outs[i].Err; {
				case errors.Is(err, saga.ErrPoison):
					outcome = "poison"
				case err != nil:
					outcome = "retry"
				}
				m.steps.WithLabelValues(msg.Queue, outcome).Inc()
			}
			return outs
		}
	}
}

// serve registers h's collector and returns the /metrics handler.
func (m *Metrics) serve(h *Handler) http.Handler {
	if err := m.reg.Register(partsCollector{h}); err != nil {
		// A second Handler over the same Metrics: the first one's figures
		// stand; both read the same parts.
		h.log.Warn("metrics: parts collector not registered", "err", err)
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: promLog{h}, ErrorHandling: promhttp.ContinueOnError})
}

type promLog struct{ h *Handler }

func (l promLog) Println(v ...any) { l.h.log.Warn("metrics", "err", v) }

// Descriptions of what partsCollector reads at each scrape.
var (
	descMessages = prometheus.NewDesc("sagaboard_messages_total",
		"Messages the observer saw since this process started, by routing key (queue) and type; anything outside the saga's vocabulary counts as other.", []string{"queue", "type"}, nil)
	descSteps = prometheus.NewDesc("sagaboard_step_total",
		"Saga steps by outcome, as the observer saw them since this process started.", []string{"step", "outcome"}, nil)
	descBookings = prometheus.NewDesc("sagaboard_bookings",
		"Bookings by status now.", []string{"status"}, nil)
	descOutcomes = prometheus.NewDesc("sagaboard_bookings_total",
		"Bookings ever made (outcome=created) and ever finished, by outcome (confirmed, compensated), as the store holds them.", []string{"outcome"}, nil)
	descQueueMessages = prometheus.NewDesc("sagaboard_queue_messages",
		"Messages in each queue the saga uses, ready or unacked, as the broker said at the scrape.", []string{"queue", "state"}, nil)
	descQueueConsumers = prometheus.NewDesc("sagaboard_queue_consumers",
		"Consumers of each queue the saga uses.", []string{"queue"}, nil)
	descWSClients = prometheus.NewDesc("sagaboard_ws_clients",
		"Live dashboards connected over WebSocket.", nil, nil)
	descWSFrames = prometheus.NewDesc("sagaboard_ws_frames_total",
		"Frames queued for a dashboard.", nil, nil)
	descWSDropped = prometheus.NewDesc("sagaboard_ws_dropped_frames_total",
		"Frames that found a dashboard's buffer full; each closed that dashboard so it reconnects.", nil, nil)
	descBrokerUp = prometheus.NewDesc("sagaboard_broker_up",
		"Whether the broker connection is open.", nil, nil)
	descOutages = prometheus.NewDesc("sagaboard_broker_outages_total",
		"Broker connections lost since start.", nil, nil)
	descViolations = prometheus.NewDesc("sagaboard_invariant_violations",
		"Bookings breaking each invariant at the last check; absent for a rule not checked in this process.", []string{"rule"}, nil)
	descCheckSeconds = prometheus.NewDesc("sagaboard_invariant_check_seconds",
		"How long the last invariant check took.", nil, nil)
	descInvariantsOK = prometheus.NewDesc("sagaboard_invariants_ok",
		"1 when every invariant was checked and holds.", nil, nil)
)

// partsCollector reads the parts at each scrape: what they hold is theirs,
// so /metrics copies nothing into counters of its own.
type partsCollector struct{ h *Handler }

func (c partsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMessages, descSteps, descBookings, descOutcomes, descQueueMessages, descQueueConsumers,
		descWSClients, descWSFrames, descWSDropped, descBrokerUp, descOutages, descViolations, descCheckSeconds, descInvariantsOK} {
		ch <- d
	}
}

// scrapeTimeout bounds what one scrape waits for the store and the broker.
const scrapeTimeout = 5 * time.Second

func (c partsCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.h
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if h.src.Has(saga.PartObserver) {
		// Routing keys and types are whatever a client of the broker sent;
		// as labels they are bounded to the saga's own words, so a flood of
		// made-up ones adds to one "other" series instead of a new series
		// each.
		known := vocabulary()
		series := map[[2]string]int64{}
		steps := map[[2]string]int64{}
		for _, n := range h.src.Observer.Counts() {
			series[[2]string{known.queue(n.Queue), known.typ(n.Type)}] += n.N
			if so, ok := stepOutcomes[n.Type]; ok {
				steps[so] += n.N
			}
		}
		for k, n := range series {
			counter(descMessages, float64(n), k[0], k[1])
		}
		for k, n := range steps {
			counter(descSteps, float64(n), k[0], k[1])
		}
	}
	if h.src.Has(saga.PartBooking) {
		if st, err := h.src.Booking.Stats(ctx); err == nil {
			gauge(descBookings, float64(st.Pending), saga.StatusPending)
			gauge(descBookings, float64(st.Confirmed), saga.StatusConfirmed)
			gauge(descBookings, float64(st.Compensated), saga.StatusCompensated)
			counter(descOutcomes, float64(st.Total), "created")
			counter(descOutcomes, float64(st.Confirmed), saga.StatusConfirmed)
			counter(descOutcomes, float64(st.Compensated), saga.StatusCompensated)
		} else {
			ch <- prometheus.NewInvalidMetric(descBookings, err)
		}
	}
	if b := h.cfg.Broker; b != nil {
		up, _, outages, _ := b.Status()
		gauge(descBrokerUp, map[bool]float64{false: 0, true: 1}[up])
		counter(descOutages, float64(outages))
		// While the broker is away there are no depths to give; the
		// series are absent rather than zero, which would be a lie.
		if up {
			if stats, err := b.Inspect(ctx, saga.WorkQueues()); err == nil {
				for _, q := range stats {
					gauge(descQueueMessages, float64(q.Ready), q.Name, "ready")
					gauge(descQueueMessages, float64(q.Unacked), q.Name, "unacked")
					gauge(descQueueConsumers, float64(q.Consumers), q.Name)
				}
			}
		}
	}
	if h.cfg.Hub != nil {
		st := h.cfg.Hub()
		gauge(descWSClients, float64(st.Clients))
		counter(descWSFrames, float64(st.Frames))
		counter(descWSDropped, float64(st.Dropped))
	}
	if h.src.Has(viewmodel.PartInvariants) {
		rep := h.src.Invariants.Report()
		for _, r := range rep.Rules {
			if r.Checked || r.Violations > 0 {
				gauge(descViolations, float64(r.Violations), r.Rule)
			}
		}
		gauge(descCheckSeconds, rep.TookMS/1000)
		gauge(descInvariantsOK, map[bool]float64{false: 0, true: 1}[rep.OK])
	}
}

// hubStats is what /metrics reads of the live feed; see Config.Hub.
type hubStats = func() ws.Stats

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
