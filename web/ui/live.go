package ui

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"log/slog"

	"github.com/a-h/templ"
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
	// then gets at most about this much, whatever the booking rate.
	bytesPerSecond = 256 << 10
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

// dashboardDelta draws what changed on the dashboard since the last frame.
func (l *Live) dashboardDelta(ctx context.Context, m marks) []byte {
	var out bytes.Buffer
	if len(m.bookings) > 0 && l.model.Sources().Has(saga.PartBooking) {
		ids := make([]string, 0, len(m.bookings))
		for id := range m.bookings {
			ids = append(ids, id)
		}
		// Ids sort by creation time: draw the newest now, the rest next.
		slices.Sort(ids)
		slices.Reverse(ids)
		if len(ids) > maxCardsPerFrame {
			l.putBack(ids[maxCardsPerFrame:min(len(ids), listLimit)], false)
			ids = ids[:maxCardsPerFrame]
		}
		cards, err := l.model.Cards(ctx, ids)
		if err != nil {
			l.log.Warn("live: could not read changed bookings", "err", err)
		} else if len(cards) > 0 {
			l.write(ctx, &out, views.BookingsInsert(cards))
		}
	}
	if m.seats && l.model.Sources().Has(saga.PartBooking) {
		seats, err := l.model.Seats(ctx)
		if err != nil {
			l.log.Warn("live: could not read the seats", "err", err)
		} else {
			l.seatDelta(ctx, &out, seats)
		}
	}
	if m.stats || m.rates {
		l.region(ctx, &out, "stats", l.statsBar(ctx, m.stats))
	}
	if m.switches {
		for _, sw := range l.model.Switches() {
			l.region(ctx, &out, "switch-"+sw.Part, views.SwitchRow(sw, true))
		}
	}
	if m.queues {
		l.region(ctx, &out, "queues", views.QueuePanel(l.queuesView(), true))
		l.region(ctx, &out, "broker", views.BrokerStatus(l.brokerView(), true))
	}
	if m.invariants {
		inv := l.model.Invariants()
		l.region(ctx, &out, "invariants", views.InvariantsPanel(inv, true))
		l.region(ctx, &out, "inv-pill", views.InvariantsPill(inv, true))
	}
	if m.notices {
		if n, err := l.model.Notices(ctx); err == nil {
			l.region(ctx, &out, "notices", views.NoticesPanel(n, true))
		} else {
			l.log.Warn("live: could not read notifications", "err", err)
		}
	}
	if m.dead {
		if d, err := l.model.DeadLetters(ctx); err == nil {
			l.region(ctx, &out, "dead-letters", views.DeadLettersPanel(d, true))
		} else {
			l.log.Warn("live: could not read dead letters", "err", err)
		}
	}
	return out.Bytes()
}

// seatDelta sends the seats whose status changed since the last frame, each
// on its own, so the boxes a person has ticked elsewhere stay ticked.
func (l *Live) seatDelta(ctx context.Context, out *bytes.Buffer, seats []views.Seat) {
	if l.seats == nil || len(l.seats) != len(seats) {
		l.seats = seats
		l.write(ctx, out, views.SeatMapView(l.model.SeatMap(seats)))
		return
	}
	for i, st := range seats {
		if l.seats[i] != st {
			l.write(ctx, out, views.SeatView(st, true))
		}
	}
	l.seats = seats
}

// statsBar draws the counts, querying them at most every statsEvery.
func (l *Live) statsBar(ctx context.Context, changed bool) templ.Component {
	if changed || !l.haveCounts {
		if time.Since(l.countsAt) < statsEvery && l.haveCounts {
			l.putBack(nil, true)
		} else if st, err := l.model.Stats(ctx); err != nil {
			l.log.Warn("live: could not count bookings", "err", err)
		} else {
			l.counts, l.countsAt, l.haveCounts = st, time.Now(), true
		}
	}
	st := l.counts
	l.header(&st)
	return views.StatsBar(st, true)
}

// region writes a fragment when it differs from what the dashboards have.
func (l *Live) region(ctx context.Context, out *bytes.Buffer, name string, c templ.Component) {
	b := l.render(ctx, c)
	if b == nil || bytes.Equal(l.last[name], b) {
		return
	}
	l.last[name] = b
	out.Write(b)
}

func (l *Live) write(ctx context.Context, out *bytes.Buffer, c templ.Component) {
	out.Write(l.render(ctx, c))
}

func (l *Live) render(ctx context.Context, c templ.Component) []byte {
	var b bytes.Buffer
	if err := c.Render(ctx, &b); err != nil {
		l.log.Warn("live: could not render a fragment", "err", err)
		return nil
	}
	return b.Bytes()
}

// dashboardSnapshot is what a new dashboard client gets first: every live
// region as the other clients have it, and the newest bookings.
func (l *Live) dashboardSnapshot(ctx context.Context) []byte {
	var out bytes.Buffer
	if l.model.Sources().Has(saga.PartBooking) {
		if l.seats == nil {
			seats, err := l.model.Seats(ctx)
			if err != nil {
				l.log.Warn("live: could not read the seats", "err", err)
			}
			l.seats = seats
		}
		if l.seats != nil {
			l.write(ctx, &out, views.SeatMapView(l.model.SeatMap(l.seats)))
		}
		if cards, err := l.model.List(ctx, views.Filter{}, maxCardsPerFrame); err == nil {
			l.write(ctx, &out, views.BookingsInsert(cards))
		} else {
			l.log.Warn("live: could not list bookings", "err", err)
		}
	}
	regions := []struct {
		name string
		c    func() templ.Component
	}{
		{"stats", func() templ.Component { return l.statsBar(ctx, false) }},
		{"queues", func() templ.Component { return views.QueuePanel(l.queuesView(), true) }},
		{"invariants", func() templ.Component { return views.InvariantsPanel(l.model.Invariants(), true) }},
		{"inv-pill", func() templ.Component { return views.InvariantsPill(l.model.Invariants(), true) }},
		{"broker", func() templ.Component { return views.BrokerStatus(l.brokerView(), true) }},
		{"notices", func() templ.Component { n, _ := l.model.Notices(ctx); return views.NoticesPanel(n, true) }},
		{"dead-letters", func() templ.Component { d, _ := l.model.DeadLetters(ctx); return views.DeadLettersPanel(d, true) }},
	}
	for _, sw := range l.model.Switches() {
		regions = append(regions, struct {
			name string
			c    func() templ.Component
		}{"switch-" + sw.Part, func() templ.Component { return views.SwitchRow(sw, true) }})
	}
	for _, r := range regions {
		b, ok := l.last[r.name]
		if !ok {
			b = l.render(ctx, r.c())
			l.last[r.name] = b
		}
		out.Write(b)
	}
	return out.Bytes()
}

// detail draws a booking's page; nil when it cannot.
func (l *Live) detail(ctx context.Context, id string) []byte {
	v, err := l.model.Booking(ctx, id)
	if err != nil {
		return nil
	}
	return l.render(ctx, views.BookingDetail(v))
}

func (l *Live) queuesView() views.Queues {
	l.mu.Lock()
	q := l.queues
	l.mu.Unlock()
	q.Paused = l.model.PausedQueues()
	return q
}

func (l *Live) brokerView() views.Broker {
	l.mu.Lock()
	b := l.broker
	l.mu.Unlock()
	b.SharedIdentity = l.cfg.SharedIdentity
	return b
}

// watchBroker looks at the broker and its queues every lookEvery, apart
// from the frames, so a broker that does not answer never delays them.
func (l *Live) watchBroker(ctx context.Context) {
	t := time.NewTicker(lookEvery)
	defer t.Stop()
	for {
		l.look(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (l *Live) look(ctx context.Context) {
	br := l.cfg.Broker
	if br == nil {
		return
	}
	up, lastErr, outages, since := br.Status()
	b := views.Broker{Known: true, Connected: up, Outages: outages, Since: since}
	if lastErr != nil && !up {
		b.Err = lastErr.Error()
	}
	q := views.Queues{Known: true}
	if up {
		ictx, cancel := context.WithTimeout(ctx, lookEvery*9/10)
		stats, err := br.Inspect(ictx, saga.WorkQueues())
		var waiting map[string][]viewmodel.WaitingBooking
		if err == nil {
			// Found even while nobody watches, so a dashboard that opens
			// shows who waits where in its first paint (under 1 % of the
			// CPU at full load, in a profile).
			if waiting, err = l.model.WaitingByQueue(ictx); err != nil {
				l.log.Warn("live: could not find the waiting bookings", "err", err)
				err = nil
			}
		}
		cancel()
		if err != nil {
			q.Err = err.Error()
		} else {
			q.List = viewmodel.QueueViews(stats, waiting, time.Now())
		}
	} else {
		q.Err = "RabbitMQ is unreachable"
	}
	l.mu.Lock()
	l.broker, l.queues = b, q
	// The invariants panel says how long ago it was checked: redraw it
	// with the queues. A change of verdict is pushed at once, by
	// InvariantsChanged.
	l.marks.queues, l.marks.rates, l.marks.invariants = true, true, true
	l.mu.Unlock()
}

// rates counts new bookings and messages per second over the last few
// seconds, from what the observer reports: no query needed.
type rates struct {
	buckets [6]struct {
		sec            int64
		bookings, msgs int
	}
}

func (r *rates) add(now time.Time, bookings, msgs int) {
	sec := now.Unix()
	b := &r.buckets[sec%int64(len(r.buckets))]
	if b.sec != sec {
		b.sec, b.bookings, b.msgs = sec, 0, 0
	}
	b.bookings += bookings
	b.msgs += msgs
}

// perSecond averages the last five whole seconds.
func (r *rates) perSecond(now time.Time) (bookings, msgs float64) {
	sec := now.Unix()
	n := int64(len(r.buckets) - 1)
	for _, b := range r.buckets {
		if b.sec < sec && b.sec >= sec-n {
			bookings += float64(b.bookings)
			msgs += float64(b.msgs)
		}
	}
	return bookings / float64(n), msgs / float64(n)
}
