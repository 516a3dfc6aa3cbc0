package main_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSplitProcesses runs the parts as separate processes on one broker: a
// front process (web, booking, observer and the other workers) and two
// competing payment processes sharing one ledger. One payment process is
// killed under load; the other carries on and nothing is lost. A switch
// changed on the front process reaches the payment processes through the
// broker, including one that starts after the change.
func TestSplitProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("split-process test skipped in -short mode")
	}
	vhost := MustVhost(t)
	front := Start(t, "-addr", "127.0.0.1:0", "-data", t.TempDir(), "-amqp", vhost,
		"-only", "web,booking,observer,seats,compensation,notification", "-rows", "40", "-cols", "40")
	payData := t.TempDir()
	pay1 := Start(t, "-data", payData, "-amqp", vhost, "-only", "payment")
	pay2 := Start(t, "-data", payData, "-amqp", vhost, "-only", "payment")

	// The dashboard says where each process is: its own, and the two
	// payment processes, heard on the control exchange.
	waitProcesses(t, front, map[string][]string{
		"web,booking,observer,seats,compensation,notification": {"localhost:5672"},
		"payment": {"localhost:5672", "localhost:5672"},
	}, 15*time.Second)

	var health map[string]string
	if code := front.Do("GET", "/api/payments", nil, &health); code != http.StatusServiceUnavailable || !strings.Contains(health["error"], "payment") {
		t.Errorf("GET /api/payments on a process without payment: %d %v, want 503 naming the part", code, health)
	}

	l := startLoad(front, 39, 40, 3) // row AN stays free for the checks below
	time.Sleep(1500 * time.Millisecond)
	pay1.Kill()
	time.Sleep(1500 * time.Millisecond)
	accepted := l.Stop()
	if len(accepted) < 30 {
		t.Fatalf("only %d bookings accepted; the test proves little", len(accepted))
	}
	for _, id := range accepted {
		front.WaitFor(id, 30*time.Second, "finished", func(b Booking) bool { return b.Status != "pending" && b.Notified })
	}
	front.Settled(20 * time.Second)

	// The ledger both payment processes wrote: read it through a process
	// that runs payment and web on the same data folder.
	reader := Start(t, "-addr", "127.0.0.1:0", "-data", payData, "-amqp", vhost, "-only", "payment,web")
	confirmed := 0
	for _, id := range accepted {
		b := front.Get(id)
		charged, refunded := reader.Ledger(id)
		if b.Status == "confirmed" {
			confirmed++
			if charged != b.AmountCents || refunded != 0 {
				t.Errorf("confirmed %s: charged %d refunded %d, want exactly %d", id, charged, refunded, b.AmountCents)
			}
		} else if charged != refunded {
			t.Errorf("compensated %s: charged %d refunded %d", id, charged, refunded)
		}
	}
	if confirmed == 0 {
		t.Errorf("no booking was confirmed with payment in other processes")
	}

	// A switch flipped on the front process reaches the payment process.
	front.SetSwitches(`{"payment":{"fail_rate":1}}`)
	time.Sleep(300 * time.Millisecond)
	id := front.Book("zed", "AN40")
	b := front.WaitFor(id, 10*time.Second, "compensated", func(b Booking) bool { return b.Status == "compensated" })
	if !strings.Contains(b.Reason, "payment.fail_rate=1") {
		t.Errorf("reason = %q, want the payment switch from the other process", b.Reason)
	}
	// A payment process that starts after the change asks for the switches.
	pay2.Kill()
	reader.Kill()
	pay3 := Start(t, "-data", payData, "-amqp", vhost, "-only", "payment")
	time.Sleep(500 * time.Millisecond)
	id = front.Book("zed", "AN39")
	b = front.WaitFor(id, 10*time.Second, "compensated", func(b Booking) bool { return b.Status == "compensated" })
	if !strings.Contains(b.Reason, "payment.fail_rate=1") {
		t.Errorf("late starter: reason = %q, want the switch set before it started", b.Reason)
	}
	pay3.Stop()
	t.Logf("split: %d bookings over 2 competing payment processes, one killed; %d confirmed", len(accepted), confirmed)
}
