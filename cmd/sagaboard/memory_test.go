package main_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// memoryLimitKB is the peak resident memory the server may reach while it
// dead-letters the big messages below. Idle it sits near 35 MB.
const memoryLimitKB = 200 << 10

// TestMemoryStaysBoundedUnderBigMessages plays an attacker who fills a work
// queue with multi-megabyte messages: every one must be dead-lettered with a
// bounded prefix of its body, and the server must not hold them all in memory
// on the way.
func TestMemoryStaysBoundedUnderBigMessages(t *testing.T) {
	const (
		n    = 100
		size = 4 << 20
	)
	p, vhost := startSaga(t)
	pid := p.cmd.Process.Pid
	before := vmHWM(t, pid)

	conn, err := amqp.Dial(vhost)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// One filler shared by every message, so the test itself stays small.
	filler := bytes.Repeat([]byte("x"), size)
	bodies := make([][]byte, n)
	for i := range n {
		head := fmt.Sprintf(`{"booking":{"id":"mem-%03d","user_id":"mallory","seats":["A1"],"amount_cents":1000},"reason":"`, i)
		b := append([]byte(head), filler[:size-len(head)-2]...)
		bodies[i] = append(b, '"', '}')
	}
	var confirms []*amqp.DeferredConfirmation
	for i, body := range bodies {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "sagaboard", "payment_queue", false, false, amqp.Publishing{
			MessageId: fmt.Sprintf("mem-%03d", i), CorrelationId: fmt.Sprintf("mem-%03d", i), Type: "BookingCreated",
			DeliveryMode: amqp.Persistent, ContentType: "application/json", Body: body,
		})
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		confirms = append(confirms, dc)
	}
	for i, dc := range confirms {
		if ok, err := dc.WaitContext(ctx); err != nil || !ok {
			t.Fatalf("publish %d not confirmed: %v", i, err)
		}
	}
	bodies = nil

	deadline := time.Now().Add(2 * time.Minute)
	var found map[string]poisonDeadLetter
	for {
		found = map[string]poisonDeadLetter{}
		for _, d := range poisonListDeadLetters(t, p) {
			if d.Queue != "payment_queue" {
				continue
			}
			for i := range n {
				tag := fmt.Sprintf(`"id":"mem-%03d"`, i)
				if strings.Contains(d.Body, tag) {
					found[tag] = d
				}
			}
		}
		if len(found) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d big messages dead-lettered after 2 minutes\nlog:\n%s", len(found), n, tail(p.Log(), 30))
		}
		time.Sleep(250 * time.Millisecond)
	}
	poisonDrained(t, p, vhost, 30*time.Second)
	peak := vmHWM(t, pid)
	t.Logf("VmHWM: %d MB at start, %d MB after %d messages of %d MB", before>>10, peak>>10, n, size>>20)
	if peak > memoryLimitKB {
		t.Errorf("peak resident memory %d MB, want under %d MB", peak>>10, memoryLimitKB>>10)
	}
	for tag, d := range found {
		if len(d.Body) > 4096 || !strings.HasPrefix(d.Body, `{"booking":{`) {
			t.Errorf("dead letter %s: body is %d bytes starting %.40q, want at most the first 4 KiB of what was sent", tag, len(d.Body), d.Body)
		}
		if !strings.Contains(d.Reason, strconv.Itoa(size)) {
			t.Errorf("dead letter %s: reason %q does not give the body's real size, %d bytes", tag, d.Reason, size)
		}
	}
	poisonAlive(t, p)
}

// vmHWM reads a process's peak resident memory, in KB, from /proc.
func vmHWM(t *testing.T, pid int) int {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the server's memory: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("odd VmHWM line %q", line)
			}
			return kb
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}
