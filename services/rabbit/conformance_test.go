package rabbit_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sagaboard/sagaboard/services/bustest"
	"github.com/sagaboard/sagaboard/services/rabbit"
	"github.com/sagaboard/sagaboard/services/saga"
)

// brokerURL is the shared local broker; the tests make vhosts of their own
// on it and never touch anything else.
const brokerURL = "amqp://guest:guest@127.0.0.1:5672/"

// mustOwnVhost makes an empty vhost for guest on the local broker and
// deletes it when the test ends. It skips without a broker, except under
// CI, which must have one.
func mustOwnVhost(t *testing.T) string {
	t.Helper()
	conn, err := amqp.Dial(brokerURL)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("RabbitMQ is not reachable on 127.0.0.1:5672 (%v); CI must have it", err)
		}
		t.Skipf("RabbitMQ is not reachable on 127.0.0.1:5672 (%v)", err)
	}
	conn.Close()
	name := randomName("sagaboard-test-conformance-")
	for _, args := range [][]string{{"add_vhost", name}, {"set_permissions", "-p", name, "guest", ".*", ".*", ".*"}} {
		if out, err := exec.Command("rabbitmqctl", args...).CombinedOutput(); err != nil {
			t.Fatalf("rabbitmqctl %s: %v\n%s", args[0], err, out)
		}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("rabbitmqctl", "delete_vhost", name).CombinedOutput(); err != nil {
			t.Errorf("rabbitmqctl delete_vhost %s: %v\n%s", name, err, out)
		}
	})
	return name
}

// TestConformance runs the bus conformance suite on RabbitMQ. Making a vhost
// takes rabbitmqctl a second or more, so the checks share one, and each
// starts on a fresh Broker with every queue purged.
func TestConformance(t *testing.T) {
	url := brokerURL + mustOwnVhost(t)
	bustest.Run(t, func(t *testing.T) saga.Bus {
		b := rabbit.Open(rabbit.Config{URL: url, Name: "sagaboard-conformance", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		t.Cleanup(func() { b.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := b.WaitFirst(ctx); err != nil {
			t.Fatal(err)
		}
		// Inspect waits for a session, whose start declares the topology.
		if _, err := b.Inspect(ctx, saga.WorkQueues()); err != nil {
			t.Fatal(err)
		}
		purge(t, url)
		return b
	})
}

// purge empties every saga queue, so what one check left behind cannot
// reach the next.
func purge(t *testing.T, url string) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range saga.WorkQueues() {
		if _, err := ch.QueuePurge(q, false); err != nil {
			t.Fatalf("purge %s: %v", q, err)
		}
	}
}
