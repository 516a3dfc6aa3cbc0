package ui

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
	"github.com/sagaboard/sagaboard/web/viewmodel"
)

// This file is what the live feed knows besides the parts: the broker and
// its queues, looked at every lookEvery, and the rates counted from what
// the observer reports.

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
	// Which node, where -amqp names a cluster's: a broker that knows it
	// says it (see rabbit.Broker.Node).
	if n, ok := br.(interface {
		Node() string
		Nodes() int
	}); ok && n.Nodes() > 1 {
		b.Node = n.Node()
	}
	if lastErr != nil && !up {
		b.Err = lastErr.Error()
	}
	b.Processes = l.processes(time.Now())
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

// ProcessSeen records what a process said of itself on the control
// exchange (saga.TypePresence), heard at now.
func (l *Live) ProcessSeen(p saga.Presence, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]seenProcess{}
	}
	l.seen[p.Process] = seenProcess{p, now}
	// Forget the processes gone quiet: the map stays as small as the
	// deployment, however often processes restart.
	for id, s := range l.seen {
		if now.Sub(s.at) > forgetProcess {
			delete(l.seen, id)
		}
	}
}

// forgetProcess is how long a process stays on the page after it was last
// heard: three missed presences.
const forgetProcess = 3 * saga.PresenceEvery

type seenProcess struct {
	saga.Presence
	at time.Time
}

// processes are the processes heard within forgetProcess, by their parts.
func (l *Live) processes(now time.Time) []views.ProcessNode {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []views.ProcessNode
	for _, s := range l.seen {
		if now.Sub(s.at) > forgetProcess {
			continue
		}
		var nodes []string
		for _, part := range s.Parts {
			if n := s.Nodes[part]; n != "" && !slices.Contains(nodes, n) {
				nodes = append(nodes, n)
			}
		}
		if len(nodes) == 0 {
			nodes = []string{"none"}
		}
		out = append(out, views.ProcessNode{Parts: strings.Join(s.Parts, ","), Nodes: strings.Join(nodes, ",")})
	}
	slices.SortFunc(out, func(a, b views.ProcessNode) int { return strings.Compare(a.Parts, b.Parts) })
	return out
}
