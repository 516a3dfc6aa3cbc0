package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// errNoDashboard means the server has no GET /ws: the dashboard part of the
// report is skipped rather than failing the run.
var errNoDashboard = errors.New("dashboard: /ws not available")

// confirmedIDs returns the ids of the bookings a dashboard frame shows as
// confirmed. The contract's hooks are an element with id="booking-{id}"
// and data-status="{status}"; frames are HTML fragments (hx-swap-oob), so
// each start tag is checked for both attributes, in either order.
func confirmedIDs(frame []byte) []string {
	// Most frames carry no confirmation; skip them without a tag scan.
	if !bytes.Contains(frame, []byte(`data-status="confirmed"`)) {
		return nil
	}
	var ids []string
	rest := frame
	for {
		i := bytes.IndexByte(rest, '<')
		if i < 0 {
			return ids
		}
		j := bytes.IndexByte(rest[i:], '>')
		if j < 0 {
			return ids
		}
		tag := rest[i : i+j]
		rest = rest[i+j:]
		id, ok := attr(tag, "id")
		if !ok || !strings.HasPrefix(id, "booking-") || len(id) == len("booking-") {
			continue
		}
		if st, _ := attr(tag, "data-status"); st == "confirmed" {
			ids = append(ids, strings.TrimPrefix(id, "booking-"))
		}
	}
}

// attr returns the double-quoted value of the attribute name in a start
// tag. The name must follow white space, so id= does not match data-id=.
func attr(tag []byte, name string) (string, bool) {
	key := []byte(name + `="`)
	for k := 0; ; {
		i := bytes.Index(tag[k:], key)
		if i < 0 {
			return "", false
		}
		p := k + i
		if p > 0 && isSpace(tag[p-1]) {
			v := tag[p+len(key):]
			end := bytes.IndexByte(v, '"')
			if end < 0 {
				return "", false
			}
			return string(v[:end]), true
		}
		k = p + 1
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// wsClient is one dashboard viewer. It records when it first saw each
// booking as confirmed.
type wsClient struct {
	conn *websocket.Conn

	mu      sync.Mutex
	seen    map[string]time.Time
	frames  int
	bytes   int64
	first   int   // the first frame's size: the snapshot a newcomer gets
	dropped error // set when the server closed or broke the connection
	closing bool  // set before we close it ourselves: not a drop
	done    chan struct{}
}

// dialDashboard connects one viewer. The Origin is the server's own, as a
// browser on the dashboard page would send; the server checks it.
func dialDashboard(ctx context.Context, base, token string) (*wsClient, error) {
	u := "ws" + strings.TrimPrefix(base, "http") + "/ws"
	h := http.Header{"Origin": {base}}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, res, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		if res != nil && (res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusMethodNotAllowed) {
			return nil, errNoDashboard
		}
		return nil, fmt.Errorf("dashboard: dial %s: %w", u, err)
	}
	// A snapshot of a full dashboard is far larger than the library's 32 KiB
	// default.
	conn.SetReadLimit(64 << 20)
	c := &wsClient{conn: conn, seen: map[string]time.Time{}, done: make(chan struct{})}
	go c.read(ctx)
	return c, nil
}

func (c *wsClient) read(ctx context.Context) {
	defer close(c.done)
	for {
		_, frame, err := c.conn.Read(ctx)
		now := time.Now()
		if err != nil {
			c.mu.Lock()
			if !c.closing && ctx.Err() == nil {
				c.dropped = err
			}
			c.mu.Unlock()
			return
		}
		ids := confirmedIDs(frame)
		c.mu.Lock()
		c.frames++
		if c.frames == 1 {
			c.first = len(frame)
		}
		c.bytes += int64(len(frame))
		for _, id := range ids {
			if _, ok := c.seen[id]; !ok {
				c.seen[id] = now
			}
		}
		c.mu.Unlock()
	}
}

// Dashboard is the staleness of 100 viewers' views over a throughput run.
type Dashboard struct {
	Err     error // errNoDashboard, or why it could not connect
	Clients int
	Dropped int
	DropErr error // the first drop's reason
	// Staleness is confirmation to frame arrival, over the (sampled
	// booking, viewer) pairs whose confirmed card was drawn.
	Staleness Latency
	Pairs     int // (sampled booking, connected viewer) pairs
	// Undrawn pairs never got a confirmed card: under a flood a booking
	// can fall off the list (newest first) before it is confirmed, which
	// is fine, so they are counted rather than timed. CatchUp is what
	// catches a feed that falls behind or stops.
	Undrawn int
	// CatchUp is the time from the last confirmation until every viewer
	// showed the newest bookings as confirmed; never if not within the
	// grace.
	CatchUp time.Duration
	Frames  int
	Bytes   int64
	// FirstFrame is the largest first frame a viewer got when it
	// connected, before the run; FirstFrameAfter is a newcomer's, after
	// it, with the run's bookings held or sold. The target is < 200 KB
	// for the 100×100 venue.
	FirstFrame, FirstFrameAfter int
}

// newestShown is how many of the newest bookings must end up confirmed on
// every viewer: they are at the top of any list.
const newestShown = 10

// never stands for a time that did not come within the grace: it sorts
// above every measured one.
const never = time.Duration(math.MaxInt64)

// dashboard is a set of viewers.
type dashboard struct {
	clients []*wsClient
	cancel  context.CancelFunc
}

// openDashboard connects n viewers before the run starts, as people who
// watch the dashboard would already be there.
func openDashboard(ctx context.Context, base, token string, n int) (*dashboard, error) {
	ctx, cancel := context.WithCancel(ctx)
	d := &dashboard{cancel: cancel}
	for range n {
		c, err := dialDashboard(ctx, base, token)
		if err != nil {
			d.close()
			return nil, err
		}
		d.clients = append(d.clients, c)
	}
	return d, nil
}

// result waits up to grace for every viewer still connected to show the
// newest bookings confirmed, then disconnects them all and sums up.
func (d *dashboard) result(t Throughput, grace time.Duration) Dashboard {
	ids := slices.Clone(t.IDs)
	// Ids sort by creation time, as the dashboard's list does.
	slices.Sort(ids)
	newest := ids[max(0, len(ids)-newestShown):]
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if _, ok := d.caughtUp(newest); ok {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := Dashboard{Clients: len(d.clients), CatchUp: never}
	if last, ok := d.caughtUp(newest); ok {
		r.CatchUp = max(0, last.Sub(t.Done))
	}
	d.close()
	var stale []time.Duration
	for _, c := range d.clients {
		c.mu.Lock()
		r.Frames += c.frames
		r.Bytes += c.bytes
		r.FirstFrame = max(r.FirstFrame, c.first)
		if c.dropped != nil {
			r.Dropped++
			if r.DropErr == nil {
				r.DropErr = c.dropped
			}
		}
		for id, at := range t.Confirmed {
			r.Pairs++
			seen, ok := c.seen[id]
			if !ok {
				r.Undrawn++
				continue
			}
			// updated_at has millisecond resolution and is truncated, so
			// this can only overstate staleness, by under 1 ms.
			stale = append(stale, max(0, seen.Sub(at)))
		}
		c.mu.Unlock()
	}
	r.Staleness = summarize(stale)
	return r
}

// firstFrame connects one more viewer, as a person opening the dashboard
// would, and returns the size of the first frame it gets.
func firstFrame(ctx context.Context, base, token string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := dialDashboard(ctx, base, token)
	if err != nil {
		return 0, err
	}
	defer func() {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		_ = c.conn.Close(websocket.StatusNormalClosure, "measured")
		<-c.done
	}()
	for {
		c.mu.Lock()
		n, dropped := c.first, c.dropped
		c.mu.Unlock()
		switch {
		case n > 0:
			return n, nil
		case dropped != nil:
			return 0, fmt.Errorf("dashboard: first frame: %w", dropped)
		case ctx.Err() != nil:
			return 0, fmt.Errorf("dashboard: first frame: %w", ctx.Err())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// caughtUp returns the moment the last connected viewer showed every one
// of ids confirmed, and false if one has not yet.
func (d *dashboard) caughtUp(ids []string) (time.Time, bool) {
	var last time.Time
	for _, c := range d.clients {
		c.mu.Lock()
		gone := c.dropped != nil
		for _, id := range ids {
			at, ok := c.seen[id]
			if !ok && !gone {
				c.mu.Unlock()
				return time.Time{}, false
			}
			if ok && at.After(last) {
				last = at
			}
		}
		c.mu.Unlock()
	}
	return last, true
}

func (d *dashboard) close() {
	// Close waits for the server's half of the handshake, so close all at
	// once rather than one after another.
	var wg sync.WaitGroup
	for _, c := range d.clients {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		wg.Go(func() { _ = c.conn.Close(websocket.StatusNormalClosure, "benchmark done") })
	}
	wg.Wait()
	d.cancel()
	for _, c := range d.clients {
		<-c.done
	}
}
