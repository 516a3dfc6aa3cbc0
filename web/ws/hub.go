// Package ws is the WebSocket hub that keeps dashboards live. It moves bytes
// and nothing else: it knows clients, the topic each one listens to, and
// messages, but not what the messages say. The web package renders; the hub
// delivers.
//
// Delivery never blocks the caller. Each client has a bounded queue; a client
// whose queue is full is too slow, and is closed with 1013 (try again later),
// which makes htmx's WebSocket extension reconnect and fetch a fresh
// snapshot. Everyone else keeps receiving.
//
// A new client first waits for its snapshot: the renderer hands it over with
// Welcome, from the same goroutine that broadcasts, so a client never sees a
// delta older than its snapshot.
package ws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Options tune a hub. The zero value is usable.
type Options struct {
	// Buffer is how many messages may wait for one client before it is
	// closed as too slow. Default 32: at the dashboard's ten frames a second
	// that is three seconds of lag.
	Buffer int
	// WriteTimeout bounds every write to a client. A client that takes longer
	// to accept one message is gone, not slow. Default 5s.
	WriteTimeout time.Duration
	// MaxClients bounds the connected clients; more are refused with 503.
	// Default 1000.
	MaxClients int
	// MaxPerClient bounds the connections from one client, as ClientOf
	// names it, so one client cannot hold every slot of MaxClients; more
	// are refused with 503. Default 200.
	MaxPerClient int
	// ClientOf names the client a request comes from. Default: the IP
	// address of r.RemoteAddr.
	ClientOf func(r *http.Request) string
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// Close reasons, sent in the close frame.
const (
	reasonSlow     = "too slow to keep up; reconnect for a fresh snapshot"
	reasonShutdown = "server is shutting down"
)

// Hub fans messages out to WebSocket clients.
type Hub struct {
	opt    Options
	joined chan struct{}

	mu      sync.Mutex
	clients map[*client]struct{}
	closed  bool
	wg      sync.WaitGroup
	// slots counts the connections of each client, and total all of
	// them, from before the upgrade until the client is gone: upgrades at
	// the same moment then cannot all pass the caps together.
	slots map[string]int
	total int
	// frames counts messages queued for a client, and dropped those that
	// found its buffer full and closed it, for /metrics.
	frames, dropped atomic.Int64
}

type client struct {
	topic string
	send  chan []byte
	ready bool // has had its snapshot, so it takes broadcasts

	once   sync.Once
	done   chan struct{} // closed when the hub wants the client gone
	code   websocket.StatusCode
	reason string
}

// drop asks the client's writer to close with code. It never blocks, and
// only the first call counts.
func (c *client) drop(code websocket.StatusCode, reason string) {
	c.once.Do(func() {
		c.code, c.reason = code, reason
		close(c.done)
	})
}

// New returns a hub.
func New(opt Options) *Hub {
	if opt.Buffer <= 0 {
		opt.Buffer = 32
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 5 * time.Second
	}
	if opt.MaxClients <= 0 {
		opt.MaxClients = 1000
	}
	if opt.MaxPerClient <= 0 {
		opt.MaxPerClient = 200
	}
	if opt.ClientOf == nil {
		opt.ClientOf = remoteIP
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	return &Hub{opt: opt, joined: make(chan struct{}, 1), clients: map[*client]struct{}{}, slots: map[string]int{}}
}

// Joined fires when a client waits for its snapshot, so the renderer can
// call Welcome at once rather than at its next frame.
func (h *Hub) Joined() <-chan struct{} { return h.joined }

// Len returns how many clients are connected.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Stats is what a hub has done, for /metrics.
type Stats struct {
	Clients int   // connected now
	Frames  int64 // messages queued for a client since the hub started
	Dropped int64 // messages that found a client's buffer full, closing it
}

// Stats returns the hub's counts.
func (h *Hub) Stats() Stats {
	return Stats{Clients: h.Len(), Frames: h.frames.Load(), Dropped: h.dropped.Load()}
}

// Topics returns the topics at least one client listens to.
func (h *Hub) Topics() map[string]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]bool{}
	for c := range h.clients {
		out[c.topic] = true
	}
	return out
}

// Broadcast queues msg for every client of topic that has had its snapshot.
// It never blocks: a client whose queue is full is closed with 1013. Every
// client gets the same slice, so callers must not change it afterwards.
func (h *Hub) Broadcast(topic string, msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		if !c.ready || c.topic != topic {
			continue
		}
		h.offer(c, msg)
	}
}

// Welcome sends each waiting client its snapshot and lets broadcasts reach
// it from then on. snapshot is called once per topic that has a waiting
// client, outside the hub's lock; a nil snapshot leaves the clients waiting.
func (h *Hub) Welcome(snapshot func(topic string) []byte) {
	h.mu.Lock()
	topics := map[string][]byte{}
	for c := range h.clients {
		if !c.ready {
			topics[c.topic] = nil
		}
	}
	h.mu.Unlock()
	if len(topics) == 0 {
		return
	}
	for t := range topics {
		topics[t] = snapshot(t)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		msg, ok := topics[c.topic]
		if c.ready || !ok || msg == nil {
			continue
		}
		// A client that joined after the snapshots were made waits for
		// the next Welcome, which Joined has already asked for.
		c.ready = true
		h.offer(c, msg)
	}
}

// offer queues msg for c or drops c as too slow. h.mu is held.
func (h *Hub) offer(c *client, msg []byte) {
	select {
	case c.send <- msg:
		h.frames.Add(1)
	default:
		h.dropped.Add(1)
		delete(h.clients, c)
		c.drop(websocket.StatusTryAgainLater, reasonSlow)
	}
}

// Serve upgrades the request to a WebSocket and keeps the client on topic
// until it leaves, is too slow, or the hub closes. Accept checks that the
// page's Origin matches the Host, so other sites cannot listen in.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, topic string) {
	who := h.opt.ClientOf(r)
	if msg := h.reserve(who); msg != "" {
		http.Error(w, msg, http.StatusServiceUnavailable)
		return
	}
	defer h.release(who)
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		// Accept has answered already (403 for a foreign origin, 426 for
		// a plain GET); the reason is the client's problem, not ours.
		h.opt.Log.Debug("websocket refused", "err", err, "origin", r.Header.Get("Origin"))
		return
	}
	c := &client{topic: topic, send: make(chan []byte, h.opt.Buffer), done: make(chan struct{})}
	if !h.add(c) {
		_ = conn.Close(websocket.StatusGoingAway, reasonShutdown)
		return
	}
	defer h.wg.Done()
	defer h.remove(c)
	select {
	case h.joined <- struct{}{}:
	default:
	}
	// The dashboard never sends anything; CloseRead answers pings and tells
	// us when the client goes.
	ctx := conn.CloseRead(r.Context())
	err = h.write(ctx, conn, c)
	if err != nil && !normalClose(err) {
		h.opt.Log.Warn("dashboard client dropped", "err", err, "remote", r.RemoteAddr)
	}
}

// reserve takes a slot for a connection from who, or says in a sentence
// why there is none.
func (h *Hub) reserve(who string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return "the dashboard is shutting down; try again shortly"
	case h.slots[who] >= h.opt.MaxPerClient:
		return fmt.Sprintf("your address already has %d live dashboards open, the most one client may; close some tabs and try again", h.slots[who])
	case h.total >= h.opt.MaxClients:
		return "the dashboard has too many live clients just now; try again shortly"
	}
	h.slots[who]++
	h.total++
	return ""
}

func (h *Hub) release(who string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.total--
	if h.slots[who]--; h.slots[who] <= 0 {
		delete(h.slots, who)
	}
}

// remoteIP is the default ClientOf: the address without its port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *Hub) add(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.clients[c] = struct{}{}
	h.wg.Add(1)
	return true
}

func (h *Hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
}

// write sends c's queue to conn, each message with its own timeout, until
// the client leaves or the hub drops it.
func (h *Hub) write(ctx context.Context, conn *websocket.Conn, c *client) error {
	for {
		// A drop wins over queued messages: a slow client must not get
		// more of what it could not keep up with.
		select {
		case <-c.done:
			return h.close(conn, c)
		default:
		}
		select {
		case <-c.done:
			return h.close(conn, c)
		case <-ctx.Done():
			_ = conn.CloseNow()
			return ctx.Err()
		case msg := <-c.send:
			wctx, cancel := context.WithTimeout(ctx, h.opt.WriteTimeout)
			err := conn.Write(wctx, websocket.MessageText, msg)
			cancel()
			if err != nil {
				_ = conn.CloseNow()
				return err
			}
		}
	}
}

func (h *Hub) close(conn *websocket.Conn, c *client) error {
	err := conn.Close(c.code, c.reason)
	if c.code == websocket.StatusTryAgainLater {
		h.opt.Log.Info("dashboard client too slow; closed it so it reconnects", "code", int(c.code))
	}
	if err != nil && !normalClose(err) {
		return err
	}
	return nil
}

// Close disconnects every client with 1001 (going away) and waits a little
// for them to go. Later clients are refused.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	for c := range h.clients {
		delete(h.clients, c)
		c.drop(websocket.StatusGoingAway, reasonShutdown)
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	// Each close waits for the browser's answer; a browser that does not
	// answer must not hold up the shutdown for long.
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
}

// normalClose reports whether err is an ordinary end of a connection: the
// browser closed the tab or navigated away, or the server shut down.
func normalClose(err error) bool {
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway, websocket.StatusNoStatusRcvd:
		return true
	}
	return errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}
