package main_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/rabbit"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// TestStreamOffsetIsCommittedWithTheEvents kills an observer after it has
// committed a batch read from the stream tap and before it acked it, then
// starts it again. The offset is stored in the transaction that recorded
// the batch, so the second run starts right after that batch: nothing is
// lost, and nothing the first run recorded reaches the live page again.
func TestStreamOffsetIsCommittedWithTheEvents(t *testing.T) {
	// Mostly waiting on the broker and rabbitmqctl: these overlap at the end
	// of the package's run rather than add up.
	t.Parallel()
	vhost := MustVhost(t)
	name := vhost[strings.LastIndex(vhost, "/")+1:]
	dir := t.TempDir()
	ctx := t.Context()
	b := rabbit.Open(rabbit.Config{URL: vhost, Tap: rabbit.TapStream, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer b.Close()
	if err := b.WaitFirst(ctx); err != nil {
		t.Fatal(err)
	}
	publish := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			m := saga.NewMessage("test", saga.TypeBookingCreated, saga.PaymentQueue, saga.Envelope{Booking: saga.Booking{ID: fmt.Sprintf("b%03d", i)}})
			m.ID = fmt.Sprintf("m%03d", i)
			if err := b.Publish(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(0, 150)
	first := crashChild(t, vhost, dir, "crash")
	if first.code != 3 {
		t.Fatalf("the first observer was to die after its first commit (exit 3); it exited %d:\n%s", first.code, first.out)
	}
	committed := storedOffset(t, dir)
	if committed != first.seen {
		t.Fatalf("the observer died having committed %d messages, but its stored offset is %d", first.seen, committed)
	}
	publish(150, 300)
	second := crashChild(t, vhost, dir, "run")
	if second.code != 0 {
		t.Fatalf("the second observer exited %d:\n%s", second.code, second.out)
	}
	if !strings.Contains(second.out, fmt.Sprintf("from_offset=%d", committed)) {
		t.Errorf("the second observer did not start at the committed offset %d:\n%s", committed, second.out)
	}
	if first.seen+second.seen != 300 {
		t.Errorf("the live page heard %d messages from the first observer and %d from the second, %d in all; want each of the 300 once", first.seen, second.seen, first.seen+second.seen)
	}
	var events int
	if err := openObserver(t, dir).QueryRow(`SELECT count(DISTINCT message_id) FROM events`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if next := storedOffset(t, dir); events != 300 || next != 300 {
		t.Errorf("recorded %d of 300 messages, stored offset %d", events, next)
	}
	if !streamHolds(t, name, 300) {
		t.Errorf("the stream holds %d messages; 300 were published", streamLength(t, name))
	}
	t.Logf("killed after committing %d of 150 and before acking them; resumed at offset %d and heard the other %d", first.seen, committed, second.seen)
}

type childResult struct {
	code int
	seen int64 // messages the child's live feed heard
	out  string
}

var heard = regexp.MustCompile(`heard=(\d+)`)

// crashChild runs TestStreamObserverChild in a process of its own.
func crashChild(t *testing.T, vhost, dir, mode string) childResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStreamObserverChild$", "-test.v")
	cmd.Env = append(os.Environ(), "SAGABOARD_CHILD="+mode, "SAGABOARD_CHILD_AMQP="+vhost, "SAGABOARD_CHILD_DATA="+dir)
	out, err := cmd.CombinedOutput()
	r := childResult{out: string(out)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run the observer: %v", err)
	}
	if m := heard.FindStringSubmatch(r.out); m != nil {
		r.seen, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return r
}

// TestStreamObserverChild is the observer TestStreamOffsetIsCommittedWithTheEvents
// runs and kills; on its own it does nothing. In mode "crash" it exits with
// status 3 right after its first batch is committed, before the transport
// acks it; in mode "run" it exits once 300 messages are recorded.
func TestStreamObserverChild(t *testing.T) {
	mode := os.Getenv("SAGABOARD_CHILD")
	if mode == "" {
		t.Skip("run by TestStreamOffsetIsCommittedWithTheEvents")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	b := rabbit.Open(rabbit.Config{URL: os.Getenv("SAGABOARD_CHILD_AMQP"), Tap: rabbit.TapStream, Log: log})
	db, err := store.OpenFile(ctx, filepath.Join(os.Getenv("SAGABOARD_CHILD_DATA"), "observer.db"))
	if err != nil {
		t.Fatal(err)
	}
	var seen atomic.Int64
	crash := func(h saga.BatchHandler) saga.BatchHandler {
		return func(ctx context.Context, msgs []saga.Message) []saga.Outcome {
			outs := h(ctx, msgs)
			if mode == "crash" {
				// Committed, not acked: as a SIGKILL at that moment.
				fmt.Printf("heard=%d\n", seen.Load())
				os.Exit(3)
			}
			return outs
		}
	}
	svc, err := observer.New(ctx, db, saga.WithMiddleware(b, crash), log)
	if err != nil {
		t.Fatal(err)
	}
	svc.ReadTapAsStream()
	svc.OnEvents(func(evs []observer.Event) { seen.Add(int64(len(evs))) })
	go func() { _ = svc.Run(ctx) }()
	for ctx.Err() == nil {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err == nil && n >= 300 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("heard=%d\n", seen.Load())
}
