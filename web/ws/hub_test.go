package ws_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/sagaboard/sagaboard/web/ws"
)

// mustHub serves a hub on a test server; every client listens to topic "t".
func mustHub(t *testing.T, opt ws.Options) (*ws.Hub, string) {
	t.Helper()
	hub := ws.New(opt)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub.Serve(w, r, r.URL.Query().Get("topic"))
	}))
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	return hub, "ws" + strings.TrimPrefix(srv.URL, "http")
}

func mustDial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func read(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func snapshot(topic string) []byte { return []byte("snapshot of " + topic) }

func TestSlowClientIsClosedWith1013WhileOthersKeepReceiving(t *testing.T) {
	// A long write timeout keeps the slow client's stuck write alive until
	// it wakes up, so it can read the close frame behind its backlog, as a
	// throttled background tab would.
	hub, url := mustHub(t, ws.Options{Buffer: 4, WriteTimeout: 20 * time.Second})
	slow := mustDial(t, url+"?topic=t")
	fast := mustDial(t, url+"?topic=t")
	waitUntil(t, "both clients joined", func() bool { return hub.Len() == 2 })
	hub.Welcome(snapshot)
	if got := read(t, fast); got != "snapshot of t" {
		t.Fatalf("first message = %q, want the snapshot", got)
	}

	// The slow client never reads. Messages pile up in its socket, then
	// in its queue, until the hub gives up on it. The fast client reads
	// each one before the next is sent, and must get every one.
	big := bytes.Repeat([]byte("x"), 64<<10)
	sent := 0
	for hub.Len() == 2 {
		if sent > 5000 {
			t.Fatalf("sent %d messages of 64 KiB and the slow client is still connected", sent)
		}
		msg := append([]byte(fmt.Sprintf("%06d ", sent)), big...)
		hub.Broadcast("t", msg)
		if got := read(t, fast); !strings.HasPrefix(got, fmt.Sprintf("%06d ", sent)) {
			t.Fatalf("fast client got message %.6s, want %06d", got, sent)
		}
		sent++
	}
	t.Logf("the slow client was dropped after %d messages", sent)

	// The fast client is unaffected.
	for i := range 3 {
		hub.Broadcast("t", []byte(fmt.Sprintf("after %d", i)))
		if got := read(t, fast); got != fmt.Sprintf("after %d", i) {
			t.Fatalf("fast client after the drop got %q", got)
		}
	}
	if hub.Len() != 1 {
		t.Errorf("hub has %d clients, want 1", hub.Len())
	}

	// When the slow client reads at last, it finds its backlog and then
	// the close frame with 1013, which tells a browser to reconnect.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	got := 0
	for err == nil {
		_, _, err = slow.Read(ctx)
		got++
	}
	if code := websocket.CloseStatus(err); code != websocket.StatusTryAgainLater {
		t.Fatalf("slow client ended with %v (status %d), want status 1013 (try again later)", err, code)
	}
	if got > sent+1 {
		t.Errorf("slow client read %d messages, more than the %d sent", got, sent)
	}
}

func TestNewClientGetsItsSnapshotBeforeAnyDelta(t *testing.T) {
	hub, url := mustHub(t, ws.Options{})
	a := mustDial(t, url+"?topic=dashboard")
	waitUntil(t, "a joined", func() bool { return hub.Len() == 1 })
	select {
	case <-hub.Joined():
	case <-time.After(time.Second):
		t.Fatal("Joined did not fire for a new client")
	}
	// A delta made before the client's snapshot must not reach it: the
	// snapshot already holds that state.
	hub.Broadcast("dashboard", []byte("old delta"))
	hub.Welcome(snapshot)
	hub.Broadcast("dashboard", []byte("new delta"))
	if got := read(t, a); got != "snapshot of dashboard" {
		t.Fatalf("first message = %q, want the snapshot", got)
	}
	if got := read(t, a); got != "new delta" {
		t.Fatalf("second message = %q, want the delta sent after the snapshot", got)
	}
}

func TestBroadcastReachesOnlyItsTopic(t *testing.T) {
	hub, url := mustHub(t, ws.Options{})
	dash := mustDial(t, url+"?topic=dashboard")
	page := mustDial(t, url+"?topic=booking/42")
	waitUntil(t, "both joined", func() bool { return hub.Len() == 2 })
	topics := hub.Topics()
	if !topics["dashboard"] || !topics["booking/42"] || len(topics) != 2 {
		t.Fatalf("Topics() = %v, want dashboard and booking/42", topics)
	}
	hub.Welcome(snapshot)
	hub.Broadcast("booking/42", []byte("booking 42 changed"))
	hub.Broadcast("dashboard", []byte("dashboard changed"))
	if got := read(t, page); got != "snapshot of booking/42" {
		t.Fatalf("booking page got %q first", got)
	}
	if got := read(t, page); got != "booking 42 changed" {
		t.Fatalf("booking page got %q, want only its own topic", got)
	}
	read(t, dash) // snapshot
	if got := read(t, dash); got != "dashboard changed" {
		t.Fatalf("dashboard got %q, want only its own topic", got)
	}
}

func TestCloseSendsGoingAway(t *testing.T) {
	hub, url := mustHub(t, ws.Options{})
	c := mustDial(t, url+"?topic=t")
	waitUntil(t, "joined", func() bool { return hub.Len() == 1 })
	go hub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := c.Read(ctx)
	if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
		t.Fatalf("read after Close: %v, want status 1001 (going away)", err)
	}
}

func TestForeignOriginIsRefused(t *testing.T) {
	hub, url := mustHub(t, ws.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, res, err := websocket.Dial(ctx, url+"?topic=t", &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": []string{"https://evil.example"}},
	})
	if err == nil {
		t.Fatal("a page from another origin could open the dashboard's WebSocket")
	}
	if res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v, want 403", err)
	}
	if hub.Len() != 0 {
		t.Errorf("hub has %d clients after refusing the only one", hub.Len())
	}
}
