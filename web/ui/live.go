package ui

import (
	"context"
	"strings"
	"sync"
	"time"

	"log/slog"

	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
	"github.com/sagaboard/sagaboard/web/guard"
	"github.com/sagaboard/sagaboard/web/viewmodel"
	"github.com/sagaboard/sagaboard/web/ws"
)

// How the live feed paces itself.
const (
	// frameEvery is how often changes are drawn and pushed. Changes in
	// between are coalesced: a booking that moved five times in one frame
	// is drawn once, and the same bytes go to every client.
	frameEvery = 100 * time.Millisecond
	// lookEvery is how often the broker and its queues are looked at.
	lookEvery = time.Second
	// statsEvery bounds how often the counts are queried under load.
	statsEvery = 300 * time.Millisecond
	// maxCardsPerFrame bounds the bookings drawn in one frame; the rest
	// wait for the next one, newest first, so a flood never makes one
	// frame huge. At most a list's worth waits: anything older has been
	// pushed off every list by newer bookings.
	maxCardsPerFrame = 20
	// maxMarked bounds the bookings marked between two frames.
	maxMarked = 10000
	// bytesPerSecond paces the dashboard under load: after a frame of n
	// bytes the next one waits n/bytesPerSecond, and the changes in between
	// are coalesced. Small frames still go every frameEvery. Each client
	// then gets at most about this much, whatever the booking rate: 8
	// Mbit/s. A frame under load is mostly its 20 cards, 7 KB each with
	// their two timelines; at the 256 KiB/s this was, such a frame bought
	// a pause of 400 ms, and 100 viewers were 210-420 ms stale at p99 where
	// the target is 250 ms (now 100-110 ms, for about a tenth more of the
	// server's CPU under full load; README, Performance).
	bytesPerSecond = 1 << 20
	// maxPause caps that wait. Pacing must not feed on itself: a longer
	// pause gathers more changes, which make a bigger frame and a longer
	// pause, until the view is seconds stale. The dashboard promises less
	// than a second.
	maxPause = 400 * time.Millisecond
	// dashboardTopic is what GET / listens to; a booking's page listens to
	// bookingTopic(id).
	dashboardTopic = "dashboard"
)

func bookingTopic(id string) string { return "booking/" + id }

// Live feeds the dashboard's WebSocket clients. Participants call it when
// something changed; it never blocks them: a call only marks what changed,
// under a mutex held for a moment. A single goroutine draws each changed
// fragment once per frame and hands the same bytes to every client.
type Live struct {
	cfg   LiveConfig
	model *viewmodel.Builder
	log   *slog.Logger
	hub   *ws.Hub

	mu     sync.Mutex
	marks  marks
	rates  rates
	steps  stepTimes
	queues views.Queues
	broker views.Broker
	seen   map[string]seenProcess // the deployment's processes, by id

	// Owned by the frame goroutine: what the connected dashboards show,
	// so a frame sends only what differs and a newcomer's snapshot
	// matches what the others have.
	seats      []views.Seat
	last       map[string][]byte
	nextDash   time.Time // the dashboard's next frame, when paced
	counts     views.Stats
	countsAt   time.Time
	haveCounts bool

	stop      context.CancelFunc
	done      sync.WaitGroup
	closeOnce sync.Once
}

// marks are what changed since the last frame.
type marks struct {
	bookings                                                         map[string]struct{}
	seats, stats, rates, switches, notices, dead, queues, invariants bool
}

// Broker is what the live feed reads of the broker.
type Broker interface {
	// Status says whether the broker is connected, why not, and how often
	// it was lost.
	Status() (connected bool, lastErr error, outages int, since time.Time)
	// Inspect reads the queues' depths.
	Inspect(ctx context.Context, queues []string) ([]saga.QueueStat, error)
}

// LiveConfig is what the live feed draws from.
type LiveConfig struct {
	Model *viewmodel.Builder
	// Broker is looked at every lookEvery; nil shows it as unknown.
	Broker Broker
	// SharedIdentity warns on the page that every part logs in to the
	// broker as one user.
	SharedIdentity bool
	// WSPerClient bounds the dashboards one client address may hold open.
	WSPerClient int
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// NewLive starts the live feed; Close stops it.
func NewLive(cfg LiveConfig) *Live {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	l := &Live{cfg: cfg, model: cfg.Model, log: cfg.Log, last: map[string][]byte{}, steps: newStepTimes(),
		hub: ws.New(ws.Options{Log: cfg.Log, MaxPerClient: cfg.WSPerClient, ClientOf: guard.ClientAddr})}
	l.marks.bookings = map[string]struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	l.stop = cancel
	l.done.Add(3)
	go func() {
		defer l.done.Done()
		l.run(ctx)
	}()
	go func() {
		defer l.done.Done()
		l.watchSwitches(ctx)
	}()
	go func() {
		defer l.done.Done()
		l.watchBroker(ctx)
	}()
	return l
}

// BookingChanged is called after a booking's state was committed.
func (l *Live) BookingChanged(id string) {
	l.mu.Lock()
	l.markBooking(id)
	l.marks.seats, l.marks.stats, l.marks.notices = true, true, true
	l.mu.Unlock()
}

// SwitchesChanged is called after the failure switches changed.
func (l *Live) SwitchesChanged() {
	l.mu.Lock()
	l.marks.switches, l.marks.queues = true, true
	l.mu.Unlock()
}

// watchSwitches redraws the switches whenever they change, however they
// changed: a form, another process, or a participant counting down
// "fail the next N".
func (l *Live) watchSwitches(ctx context.Context) {
	for {
		changed := l.model.Sources().Switches.Changed()
		select {
		case <-ctx.Done():
			return
		case <-changed:
			l.SwitchesChanged()
		}
	}
}

// InvariantsChanged is called when a rule starts or stops holding.
func (l *Live) InvariantsChanged() {
	l.mu.Lock()
	l.marks.invariants = true
	l.mu.Unlock()
}

// DeadLettersChanged is called when a dead letter arrived or was replayed.
func (l *Live) DeadLettersChanged() {
	l.mu.Lock()
	l.marks.dead = true
	l.mu.Unlock()
}

// EventsObserved is called with every batch of newly observed messages.
func (l *Live) EventsObserved(events []observer.Event) {
	created := 0
	l.mu.Lock()
	for _, e := range events {
		if e.BookingID != "" {
			l.markBooking(e.BookingID)
		}
		l.steps.observe(e)
		switch e.Type {
		case saga.TypeBookingCreated:
			created++
		case saga.TypeBookingNotified:
			l.marks.notices = true
		}
	}
	l.rates.add(time.Now(), created, len(events))
	l.mu.Unlock()
}

// header fills the header's rates and step latencies into st, from what
// the feed counted.
func (l *Live) header(st *views.Stats) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st.BookingsPerSec, st.MessagesPerSec = l.rates.perSecond(time.Now())
	st.Steps = l.steps.views()
}

// markBooking needs l.mu.
func (l *Live) markBooking(id string) {
	if len(id) > 64 {
		return // not one of our ids; nothing on the page can show it
	}
	if len(l.marks.bookings) >= maxMarked {
		clear(l.marks.bookings)
	}
	l.marks.bookings[id] = struct{}{}
}

func (l *Live) take() marks {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.marks
	l.marks = marks{bookings: map[string]struct{}{}}
	return m
}

// putBack returns marks a frame could not use yet.
func (l *Live) putBack(ids []string, stats bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		l.markBooking(id)
	}
	l.marks.stats = l.marks.stats || stats
}

// deferMarks returns all of m for a later frame.
func (l *Live) deferMarks(m marks) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range m.bookings {
		l.markBooking(id)
	}
	k := &l.marks
	k.seats, k.stats, k.rates, k.switches = k.seats || m.seats, k.stats || m.stats, k.rates || m.rates, k.switches || m.switches
	k.notices, k.dead, k.queues = k.notices || m.notices, k.dead || m.dead, k.queues || m.queues
	k.invariants = k.invariants || m.invariants
}

// Close stops the feed and disconnects every client.
func (l *Live) Close() {
	l.closeOnce.Do(func() {
		l.stop()
		l.done.Wait()
		l.hub.Close()
	})
}

// run draws a frame every frameEvery, and at once when a client joins so
// it gets its snapshot without waiting.
func (l *Live) run(ctx context.Context) {
	t := time.NewTicker(frameEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.hub.Joined():
		}
		l.frame(ctx)
	}
}

// frame pushes what changed, then welcomes new clients with a snapshot.
// Both happen here, in one goroutine, so a snapshot is never older than a
// delta its client gets after it.
func (l *Live) frame(ctx context.Context) {
	m := l.take()
	topics := l.hub.Topics()
	if !topics[dashboardTopic] {
		// Nobody watches the dashboard: forget what it showed, so the next
		// dashboard starts from a fresh snapshot.
		l.seats, l.haveCounts = nil, false
		clear(l.last)
	}
	if len(topics) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	for id := range m.bookings {
		if topics[bookingTopic(id)] {
			if msg := l.detail(ctx, id); msg != nil {
				l.hub.Broadcast(bookingTopic(id), msg)
			}
		}
	}
	switch {
	case !topics[dashboardTopic]:
	case time.Now().Before(l.nextDash):
		l.deferMarks(m)
	default:
		if msg := l.dashboardDelta(ctx, m); len(msg) > 0 {
			l.hub.Broadcast(dashboardTopic, msg)
			l.nextDash = time.Now().Add(min(time.Duration(len(msg))*time.Second/bytesPerSecond, maxPause))
		}
	}
	l.hub.Welcome(func(topic string) []byte {
		if topic == dashboardTopic {
			return l.dashboardSnapshot(ctx)
		}
		if id, ok := strings.CutPrefix(topic, "booking/"); ok {
			return l.detail(ctx, id)
		}
		return nil
	})
}
