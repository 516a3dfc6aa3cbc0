package main_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	_ "modernc.org/sqlite" // reads the observers' files as a person would
)

// TestStreamTapResumesAfterSIGKILLAndASecondObserverReadsItAll runs the
// saga's workers in one process and the dashboard (web and observer) in
// another, with the tap as a stream. The dashboard is killed with SIGKILL
// under load and started again: it must resume from the offset it had
// committed, and end with every message the stream holds recorded once. A
// second dashboard, started later on a folder of its own, reads the stream
// from its start and ends with the same events.
func TestStreamTapResumesAfterSIGKILLAndASecondObserverReadsItAll(t *testing.T) {
	// Mostly waiting on the broker and rabbitmqctl: these overlap at the end
	// of the package's run rather than add up.
	t.Parallel()
	if testing.Short() {
		t.Skip("stream tap test skipped in -short mode")
	}
	vhost := MustVhost(t)
	name := vhost[strings.LastIndex(vhost, "/")+1:]
	workers := Start(t, "-addr", "127.0.0.1:0", "-data", t.TempDir(), "-amqp", vhost, "-tap", "stream", "-tap-retention", "64MB",
		"-only", "booking,payment,seats,compensation,notification", "-rows", "30", "-cols", "30")
	dashData := t.TempDir()
	dash := Start(t, "-addr", "127.0.0.1:0", "-data", dashData, "-amqp", vhost, "-tap", "stream", "-tap-retention", "64MB", "-only", "web,observer")

	// The retention the user asked for is the stream's own argument.
	args := queueArguments(t, name, "observer_queue")
	for _, want := range []string{`{"x-queue-type","stream"}`, `{"x-max-length-bytes",64000000}`} {
		if !strings.Contains(args, want) {
			t.Errorf("observer_queue's arguments are %s; want %s among them", args, want)
		}
	}

	l := startLoad(workers, 30, 30, 3)
	time.Sleep(1500 * time.Millisecond)
	dash.Kill()
	committed := storedOffset(t, dashData)
	if committed <= 0 {
		t.Fatalf("the dashboard had recorded nothing when it was killed (stored offset %d); the test proves little", committed)
	}
	time.Sleep(time.Second) // the saga goes on while nobody watches
	dash.Restart()
	time.Sleep(1500 * time.Millisecond)
	accepted := l.Stop()
	if len(accepted) < 30 {
		t.Fatalf("only %d bookings accepted; the test proves little", len(accepted))
	}
	if want := fmt.Sprintf(`msg="reading a stream" queue=observer_queue from_offset=%d`, committed); !strings.Contains(dash.Log(), want) {
		t.Errorf("the restarted dashboard did not resume from the offset it had committed (%d); its log:\n%s", committed, tail(dash.Log(), 20))
	}
	for _, id := range accepted {
		workers.WaitFor(id, 30*time.Second, "finished", func(b Booking) bool { return b.Status != "pending" && b.Notified })
	}

	// Every message the stream holds is recorded, each once: the stream
	// keeps them all (64 MB is far more than this load), so the count the
	// broker gives is what the parts sent through the exchange.
	total := waitRecorded(t, name, dashData)
	if n := countBookingsRecorded(t, dashData, accepted); n != len(accepted) {
		t.Errorf("the dashboard recorded BookingCreated for %d of %d accepted bookings", n, len(accepted))
	}

	// A second dashboard opened now reads the stream from its start.
	secondData := t.TempDir()
	second := Start(t, "-addr", "127.0.0.1:0", "-data", secondData, "-amqp", vhost, "-tap", "stream", "-tap-retention", "64MB", "-only", "web,observer")
	if !strings.Contains(second.Log(), `from_offset=0`) {
		time.Sleep(500 * time.Millisecond)
		if !strings.Contains(second.Log(), `from_offset=0`) {
			t.Errorf("a fresh dashboard did not read the stream from its start; its log:\n%s", tail(second.Log(), 20))
		}
	}
	waitRecorded(t, name, secondData)
	first, again := recordedSet(t, dashData), recordedSet(t, secondData)
	if first != again {
		t.Errorf("the second dashboard's events differ from the first's (%d and %d lines)", strings.Count(first, "\n"), strings.Count(again, "\n"))
	}
	t.Logf("stream tap: %d bookings, %d messages; the dashboard was killed at offset %d and resumed there; a second dashboard read all %d from the start",
		len(accepted), total, committed, total)
}

// queueArguments is a queue's arguments as rabbitmqctl prints them.
func queueArguments(t *testing.T, vhost, queue string) string {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", "list_queues", "-q", "-p", vhost, "name", "arguments").CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl list_queues: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == queue {
			return strings.Join(f[1:], " ")
		}
	}
	t.Fatalf("no queue %s in vhost %s:\n%s", queue, vhost, out)
	return ""
}

// streamLength is how many messages the tap holds, as the broker counts.
func streamLength(t *testing.T, vhost string) int64 {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", "list_queues", "-q", "-p", vhost, "name", "messages").CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl list_queues: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^observer_queue\s+(\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no observer_queue in vhost %s:\n%s", vhost, out)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

// streamHolds reports whether the tap comes to hold n messages within 30s,
// as the broker counts them: it refreshes the count now and then.
func streamHolds(t *testing.T, vhost string, n int64) bool {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); streamLength(t, vhost) != n; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

func openObserver(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "observer.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// storedOffset is the offset after the last one the observer in dir
// committed; 0 when none is.
func storedOffset(t *testing.T, dir string) int64 {
	t.Helper()
	var next int64
	err := openObserver(t, dir).QueryRow(`SELECT coalesce(max(next), 0) FROM tap_offsets`).Scan(&next)
	if err != nil {
		t.Fatalf("read the stored offset: %v", err)
	}
	return next
}

// waitRecorded waits until the observer in dir has recorded, as events or
// as dead letters taken from the tap, as many messages as the stream
// holds, and has stored the offset after the last, and returns the count.
// The broker refreshes its count now and then, so a count behind what was
// recorded is waited out; one that never agrees fails.
func waitRecorded(t *testing.T, vhost, dir string) int64 {
	t.Helper()
	db := openObserver(t, dir)
	deadline := time.Now().Add(30 * time.Second)
	for {
		total := streamLength(t, vhost)
		var events, dead, next int64
		err := db.QueryRow(`SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM dead_letters WHERE queue = 'observer_queue'),
			(SELECT coalesce(max(next), 0) FROM tap_offsets)`).Scan(&events, &dead, &next)
		if err != nil {
			t.Fatalf("count what the observer recorded: %v", err)
		}
		if events+dead == total && next == total {
			return total
		}
		if time.Now().After(deadline) {
			t.Fatalf("the observer recorded %d events and %d dead letters of a stream of %d messages, and stored offset %d, within 30s", events, dead, total, next)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func countBookingsRecorded(t *testing.T, dir string, ids []string) int {
	t.Helper()
	db := openObserver(t, dir)
	n := 0
	for _, id := range ids {
		var c int
		if err := db.QueryRow(`SELECT count(*) FROM events WHERE booking_id = ? AND type = 'BookingCreated'`, id).Scan(&c); err != nil {
			t.Fatal(err)
		}
		n += c
	}
	return n
}

// recordedSet is every event the observer in dir recorded, one per line,
// by message and routing key, sorted.
func recordedSet(t *testing.T, dir string) string {
	t.Helper()
	rows, err := openObserver(t, dir).Query(`SELECT message_id, routing_key, type, booking_id FROM events ORDER BY message_id, routing_key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, key, typ, booking string
		if err := rows.Scan(&id, &key, &typ, &booking); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, id, key, typ, booking)
	}
	return b.String()
}

// TestForgedMessageOnAStreamTapIsKeptAndPassed provisions a vhost whose tap
// is a stream, then publishes, as payment's own broker user, a SeatsSold
// that payment may not send. The stream cannot dead-letter it: the observer
// keeps it as a dead letter of the tap, marked forged, moves its offset on
// past it, and goes on recording the saga.
func TestForgedMessageOnAStreamTapIsKeptAndPassed(t *testing.T) {
	// Mostly waiting on the broker and rabbitmqctl: these overlap at the end
	// of the package's run rather than add up.
	t.Parallel()
	dir := t.TempDir()
	_, creds := MustProvisioned(t, dir, "-tap", "stream", "-tap-retention", "32MB")
	if args := queueArguments(t, creds.vhost, "observer_queue"); !strings.Contains(args, `{"x-queue-type","stream"}`) || !strings.Contains(args, `{"x-max-length-bytes",32000000}`) {
		t.Errorf("setup-broker made observer_queue with arguments %s; want a stream of 32000000 bytes", args)
	}
	p := Start(t, "-addr", "127.0.0.1:0", "-data", dir)
	if !strings.Contains(p.Log(), `msg="reading a stream" queue=observer_queue`) {
		time.Sleep(time.Second)
		if !strings.Contains(p.Log(), `msg="reading a stream" queue=observer_queue`) {
			t.Fatalf("the provisioned observer does not read its tap as the stream setup-broker made:\n%s", tail(p.Log(), 20))
		}
	}
	first := p.Book("alice", "A1")
	p.WaitFor(first, 10*time.Second, "confirmed and notified", func(b Booking) bool { return b.Status == "confirmed" && b.Notified })

	body, _ := json.Marshal(map[string]any{"booking": map[string]any{"id": first, "user_id": "alice", "seats": []string{"A1"}, "amount_cents": 1000}})
	err := tryPublish(creds.url("payment"), "sagaboard", "seat_update_queue", amqp.Publishing{MessageId: "forged-on-the-stream", Type: "SeatsSold",
		CorrelationId: first, UserId: creds.Parts["payment"].User, ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: body})
	if err != nil {
		t.Fatalf("payment's user may publish on seat_update_queue's key, so the broker takes it: %v", err)
	}
	second := p.Book("bob", "A2")
	b := p.WaitFor(second, 10*time.Second, "confirmed, notified and observed", func(b Booking) bool { return b.Status == "confirmed" && b.Notified && len(b.Events) >= 4 })

	var onTap []deadLetter
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		onTap = onTap[:0]
		for _, d := range p.deadLetters() {
			if d.Queue == "observer_queue" {
				onTap = append(onTap, d)
			}
		}
		if len(onTap) > 0 {
			break
		}
	}
	if len(onTap) != 1 || !strings.HasPrefix(onTap[0].Reason, "forged: payment may not send SeatsSold") {
		t.Fatalf("dead letters from the tap: %+v; want the forged SeatsSold once, forged", onTap)
	}
	if code := p.Do("POST", "/api/dead-letters/"+onTap[0].ID+"/replay", nil, nil); code != 409 {
		t.Errorf("replaying the forged message kept from the stream answered %d, want 409", code)
	}
	p.Stop()
	if next := storedOffset(t, dir); !streamHolds(t, creds.vhost, next) {
		t.Errorf("the observer stored offset %d; the stream holds %d messages, the forged one among them", next, streamLength(t, creds.vhost))
	}
	t.Logf("forged message kept as the tap's dead letter; the next booking's %d messages recorded after it", len(b.Events))
}

// TestATapOfAnotherKindStopsTheStartWithASentence: a queue's arguments are
// fixed when it is made, so a process asking for a stream where a classic
// tap is stops at start and says what to do, instead of retrying forever.
func TestATapOfAnotherKindStopsTheStartWithASentence(t *testing.T) {
	t.Parallel()
	vhost := MustVhost(t)
	Start(t, "-data", t.TempDir(), "-amqp", vhost, "-only", "payment").Kill()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "-data", t.TempDir(), "-amqp", vhost, "-only", "payment", "-tap", "stream").CombinedOutput()
	if ctx.Err() != nil || err == nil {
		t.Fatalf("a process asking for a stream tap where a classic one is did not stop at start:\n%s", out)
	}
	if !strings.Contains(string(out), "observer_queue") || !strings.Contains(string(out), "same -quorum, -tap and -tap-retention") {
		t.Errorf("the refusal does not name the queue and say what to do:\n%s", out)
	}
}
