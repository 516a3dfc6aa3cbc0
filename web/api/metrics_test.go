package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web/api"
	"github.com/sagaboard/sagaboard/web/viewmodel"
	"github.com/sagaboard/sagaboard/web/ws"
)

// hostileObserver has seen the messages anybody on the broker could make
// up, with routing keys and types that try to break the text format.
type hostileObserver struct {
	viewmodel.ObserverPart // only Counts is read
	counts                 []observer.Count
}

func (o hostileObserver) Counts() []observer.Count { return o.counts }

type upBroker struct{}

//lint:ignore ST1008 it implements api.Broker, whose lastErr is part of a snapshot.
func (upBroker) Status() (bool, error, int, time.Time) { return true, nil, 2, time.Now() }
func (upBroker) Inspect(_ context.Context, queues []string) ([]saga.QueueStat, error) {
	out := make([]saga.QueueStat, len(queues))
	for i, q := range queues {
		out[i] = saga.QueueStat{Name: q, Ready: i, Consumers: 1}
	}
	return out, nil
}

// TestMetricsParseAndStayBoundedAfterHostileLabels: whatever routing keys
// and types arrive, /metrics parses as the Prometheus text format, a
// made-up word becomes the one label "other" rather than a series of its
// own, and nothing in a label forges another metric. The runtime, process,
// step, queue and WebSocket metrics are there too.
func TestMetricsParseAndStayBoundedAfterHostileLabels(t *testing.T) {
	hostile := []string{"evil\tqueue", `q"} 1` + "\nsagaboard_broker_up 0\n#", `back\slash`, "\x00\x01", "bad\xffutf8", "two\nlines"}
	for i := range 60 {
		hostile = append(hostile, fmt.Sprintf("made.up.key.%d", i))
	}
	counts := []observer.Count{{Queue: saga.PaymentQueue, Type: saga.TypeBookingCreated, N: 3}}
	for _, h := range hostile {
		counts = append(counts, observer.Count{Queue: h, Type: h + "Type", N: 1})
	}
	metrics := api.NewMetrics()
	h := api.New(api.Config{
		Model:   viewmodel.New(viewmodel.NewSources(viewmodel.Sources{Observer: hostileObserver{counts: counts}})),
		Broker:  upBroker{},
		Metrics: metrics,
		Hub:     func() ws.Stats { return ws.Stats{Clients: 3, Frames: 10, Dropped: 1} },
	})
	// A step seen in this process: one handled, one poison.
	step := metrics.Steps()(func(_ context.Context, msgs []saga.Message) []saga.Outcome {
		return []saga.Outcome{{}, {Err: saga.Poison("no")}}
	})
	past := time.Now().Add(-50 * time.Millisecond)
	step(context.Background(), []saga.Message{{Queue: saga.PaymentQueue, Timestamp: past}, {Queue: saga.PaymentQueue, Timestamp: past}})

	mux := http.NewServeMux()
	h.Routes(mux, func(f http.HandlerFunc) http.HandlerFunc { return f })
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse as the text format: %v\n%s", err, body)
	}

	known := map[string]bool{"other": true}
	for _, q := range saga.WorkQueues() {
		known[q] = true
	}
	for _, r := range saga.Routes {
		known[r.Key], known[r.Type] = true, true
	}
	msgs := families["sagaboard_messages_total"]
	if msgs == nil || msgs.GetType() != dto.MetricType_COUNTER {
		t.Fatalf("no counter sagaboard_messages_total:\n%s", body)
	}
	var other float64
	for _, m := range msgs.Metric {
		l := labelMap(m)
		if !known[l["queue"]] || !known[l["type"]] {
			t.Errorf("label queue=%q type=%q is outside the saga's vocabulary", l["queue"], l["type"])
		}
		if l["queue"] == "other" {
			other += m.GetCounter().GetValue()
		}
	}
	if len(msgs.Metric) > 3 || other != float64(len(hostile)) {
		t.Errorf("%d series, %v messages under other; want at most 3 series and all %d made-up messages under other:\n%s", len(msgs.Metric), other, len(hostile), body)
	}
	if up := families["sagaboard_broker_up"]; up == nil || len(up.Metric) != 1 || up.Metric[0].GetGauge().GetValue() != 1 {
		t.Errorf("sagaboard_broker_up is not the one series at 1 (forged by a label?):\n%s", body)
	}
	for name, typ := range map[string]dto.MetricType{
		"go_goroutines": dto.MetricType_GAUGE, "process_cpu_seconds_total": dto.MetricType_COUNTER,
		"sagaboard_step_seconds": dto.MetricType_HISTOGRAM, "sagaboard_step_messages_total": dto.MetricType_COUNTER,
		"sagaboard_queue_messages": dto.MetricType_GAUGE, "sagaboard_queue_consumers": dto.MetricType_GAUGE,
		"sagaboard_ws_clients": dto.MetricType_GAUGE, "sagaboard_ws_dropped_frames_total": dto.MetricType_COUNTER,
		"sagaboard_broker_outages_total": dto.MetricType_COUNTER,
	} {
		if f := families[name]; f == nil || f.GetType() != typ {
			t.Errorf("no %v %s in /metrics", typ, name)
		}
	}
	if f := families["sagaboard_step_seconds"]; f != nil {
		hist := f.Metric[0].GetHistogram()
		if labelMap(f.Metric[0])["queue"] != saga.PaymentQueue || hist.GetSampleCount() != 2 || hist.GetSampleSum() < 0.1 {
			t.Errorf("sagaboard_step_seconds = %v, want 2 samples of payment_queue of about 50ms", f.Metric[0])
		}
	}
	if f := families["sagaboard_step_messages_total"]; f != nil {
		got := map[string]float64{}
		for _, m := range f.Metric {
			got[labelMap(m)["outcome"]] = m.GetCounter().GetValue()
		}
		if got["ok"] != 1 || got["poison"] != 1 {
			t.Errorf("sagaboard_step_messages_total by outcome = %v, want ok 1 and poison 1", got)
		}
	}
}

func labelMap(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.Label {
		out[l.GetName()] = l.GetValue()
	}
	return out
}
