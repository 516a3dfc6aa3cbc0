package main_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// TestJaegerShowsTheBookingsTrace is opt-in (SAGABOARD_JAEGER=1): it runs
// Jaeger as `make jaeger` does (building it first when it is not in bin/,
// which takes minutes), books with tracing on, and reads the booking's
// trace back through Jaeger's query API, every step in it.
func TestJaegerShowsTheBookingsTrace(t *testing.T) {
	if os.Getenv("SAGABOARD_JAEGER") != "1" {
		t.Skip("set SAGABOARD_JAEGER=1 to run Jaeger (make jaeger builds it once, in minutes)")
	}
	root, _ := filepath.Abs("../..")
	bin := filepath.Join(root, "bin", "jaeger-v1.76.0")
	if _, err := os.Stat(bin); err != nil {
		build := exec.Command("make", "-C", root, bin)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build Jaeger: %v\n%s", err, out)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	jaeger := exec.CommandContext(ctx, bin, "--config", filepath.Join(root, ".ci/jaeger/config.yaml"))
	jaeger.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	log := &syncBuffer{}
	jaeger.Stdout, jaeger.Stderr = log, log
	if err := jaeger.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = jaeger.Process.Kill(); _ = jaeger.Wait() })
	query := "http://127.0.0.1:16686"
	for deadline := time.Now().Add(30 * time.Second); ; {
		if res, err := http.Get(query + "/api/services"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jaeger's query API did not answer in 30s:\n%s", log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
	p, _ := startSaga(t, "-trace-url", query+"/trace/{trace_id}")
	p.SetSwitches(`{"payment":{"fail_rate":1}}`)
	id := p.Book("alice", "C3")
	p.WaitFor(id, 15*time.Second, "compensated and notified", func(b Booking) bool { return b.Status == "compensated" && b.Notified })
	var view struct {
		TraceID  string `json:"trace_id"`
		TraceURL string `json:"trace_url"`
	}
	p.Do("GET", "/api/bookings/"+id, nil, &view)
	if view.TraceID == "" || view.TraceURL != query+"/trace/"+view.TraceID {
		t.Fatalf("booking says trace_id %q, trace_url %q", view.TraceID, view.TraceURL)
	}

	steps := []string{"POST /api/bookings", "process payment_queue", "process compensation_queue", "process seat_release_queue", "process notification_queue", "process booking_update_queue"}
	var ops []string
	for deadline := time.Now().Add(20 * time.Second); ; {
		ops = jaegerOperations(t, query+"/api/traces/"+view.TraceID)
		missing := false
		for _, s := range steps {
			missing = missing || !slices.Contains(ops, s)
		}
		if !missing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jaeger's trace %s has %v, want each of %v", view.TraceID, ops, steps)
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("Jaeger shows trace %s: %v", view.TraceID, ops)
}

// jaegerOperations returns the operation names of one trace, as Jaeger's
// query API (the one its UI reads) gives them; none while it has none.
func jaegerOperations(t *testing.T, url string) []string {
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Data []struct {
			Spans []struct {
				OperationName string `json:"operationName"`
			} `json:"spans"`
		} `json:"data"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&out) != nil || len(out.Data) == 0 {
		return nil
	}
	var ops []string
	for _, s := range out.Data[0].Spans {
		ops = append(ops, s.OperationName)
	}
	return ops
}
