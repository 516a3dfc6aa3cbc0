package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// TestMainRunsInProcess runs the real program as a test would run any Go
// code, as wtf's cmd/wtfd tests do: ParseFlags, Run, then Close, with its
// log in a buffer. It books, and it stops cleanly. The tests that kill,
// restart or split the program run the built binary instead (see
// harness_test.go): a process cannot SIGKILL a part of itself.
func TestMainRunsInProcess(t *testing.T) {
	if err := exec.Command("rabbitmqctl", "-q", "ping").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("RabbitMQ is not reachable (%v); CI must have it", err)
		}
		t.Skipf("RabbitMQ is not reachable (%v); run `make broker`", err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	vhost := "sagaboard-test-inprocess-" + hex.EncodeToString(b)
	for _, args := range [][]string{{"add_vhost", vhost}, {"set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"}} {
		if out, err := exec.Command("rabbitmqctl", args...).CombinedOutput(); err != nil {
			t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("rabbitmqctl", "delete_vhost", vhost).Run() })

	log := &logBuffer{}
	m := NewMain()
	m.Stderr = log
	m.Log = slog.New(slog.NewTextHandler(log, nil))
	args := []string{"-addr", "127.0.0.1:0", "-data", t.TempDir(), "-amqp", "amqp://guest:guest@localhost:5672/" + vhost, "-deadline", "0"}
	if err := m.ParseFlags(args, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = m.Close()
		}
	})

	res, err := http.Post(m.URL()+"api/bookings", "application/json", strings.NewReader(`{"user_id":"alice","seats":["A1"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ ID, Status string }
	_ = json.NewDecoder(res.Body).Decode(&created)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted || created.ID == "" {
		t.Fatalf("POST /api/bookings = %d %+v, want 202 with an id", res.StatusCode, created)
	}
	res, err = http.Get(m.URL() + "api/bookings/" + created.ID + "?wait=10s")
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Status string }
	_ = json.NewDecoder(res.Body).Decode(&got)
	res.Body.Close()
	if got.Status != "confirmed" {
		t.Errorf("the booking is %q after waiting, want confirmed", got.Status)
	}

	closed = true
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if !strings.Contains(log.String(), "sagaboard stopped") || strings.Contains(log.String(), "part stopped") {
		t.Errorf("a clean stop logs \"sagaboard stopped\" and no part that stopped on its own:\n%s", log.String())
	}
}

// logBuffer lets the parts' goroutines log into one buffer.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
