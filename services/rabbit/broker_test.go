package rabbit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sagaboard/sagaboard/services/rabbit"
)

// requireBroker skips without the local broker, except under CI, where a
// missing broker is a failure.
func requireBroker(t *testing.T) {
	t.Helper()
	conn, err := amqp.Dial("amqp://guest:guest@127.0.0.1:5672/")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("RabbitMQ is not reachable on 127.0.0.1:5672 (%v); CI must have it", err)
		}
		t.Skipf("RabbitMQ is not reachable on 127.0.0.1:5672 (%v)", err)
	}
	conn.Close()
}

// syncLog is a log a test can read while the broker's goroutine writes it.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// openFirst opens a Broker on raw and returns it, its log, and what
// WaitFirst says.
func openFirst(t *testing.T, raw string) (*rabbit.Broker, *syncLog, error) {
	t.Helper()
	log := &syncLog{}
	b := rabbit.Open(rabbit.Config{URL: raw, Log: slog.New(slog.NewTextHandler(log, nil))})
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return b, log, b.WaitFirst(ctx)
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func TestPermanentRefusalsStopTheStartWithOneSentence(t *testing.T) {
	requireBroker(t)
	noPerm := randomName("sagaboard-test-noperm-")
	if out, err := exec.Command("rabbitmqctl", "add_vhost", noPerm).CombinedOutput(); err != nil {
		t.Fatalf("rabbitmqctl add_vhost: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("rabbitmqctl", "delete_vhost", noPerm).Run() })
	unknown := randomName("sagaboard-test-nosuch-")

	cases := []struct {
		name, url string
		says      []string // words the sentence must hold
	}{
		{"wrong password", "amqp://guest:" + secret + "@127.0.0.1:5672/", []string{`"guest"`, "127.0.0.1:5672", `"/"`, "password"}},
		{"unknown user", "amqp://nobody-" + secret[:2] + ":" + secret + "@127.0.0.1:5672/", []string{"127.0.0.1:5672", "password"}},
		{"unknown vhost", "amqp://guest:guest@127.0.0.1:5672/" + unknown, []string{`"guest"`, "127.0.0.1:5672", unknown, "does not exist"}},
		{"no permission on the vhost", "amqp://guest:guest@127.0.0.1:5672/" + noPerm, []string{`"guest"`, noPerm, "no permission"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, log, err := openFirst(t, c.url)
			if !errors.Is(err, rabbit.ErrPermanent) {
				t.Fatalf("WaitFirst = %v, want ErrPermanent", err)
			}
			t.Log(err)
			for _, w := range append(c.says, "will not fix itself") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("WaitFirst = %q, want it to say %s", err, w)
				}
			}
			health := errText(b.Healthy())
			for what, s := range map[string]string{"error": err.Error(), "Healthy": health, "log": log.String()} {
				if strings.Contains(s, secret) {
					t.Errorf("%s shows the password: %s", what, s)
				}
			}
			if !errors.Is(b.Healthy(), rabbit.ErrPermanent) {
				t.Errorf("Healthy = %q, want the permanent refusal", health)
			}
			if n := strings.Count(log.String(), "level=ERROR"); n != 1 {
				t.Errorf("the log has %d error lines, want the one sentence:\n%s", n, log)
			}
		})
	}
}

func TestABrokerThatIsDownAtStartIsRetriedInTheBackground(t *testing.T) {
	// A loopback port that was free a moment ago: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	b, log, err := openFirst(t, "amqp://guest:"+secret+"@127.0.0.1:"+strconv.Itoa(port)+"/")
	if err != nil {
		t.Fatalf("WaitFirst = %v, want nil: a broker that is down may come up", err)
	}
	time.Sleep(2 * time.Second) // a few retries
	h := b.Healthy()
	if h == nil || errors.Is(h, rabbit.ErrPermanent) {
		t.Errorf("Healthy = %v, want a transient error", h)
	}
	if strings.Contains(errText(h), secret) || strings.Contains(log.String(), secret) {
		t.Errorf("the password shows: %v\n%s", h, log)
	}
	if n := strings.Count(log.String(), "cannot reach RabbitMQ"); n != 1 {
		t.Errorf("the log says %d times that it cannot reach the broker, want once:\n%s", n, log)
	}
}
