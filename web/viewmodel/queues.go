package viewmodel

import (
	"context"
	"sort"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

// How the queue panel finds the bookings that wait.
const (
	// inFlightLimit bounds the bookings looked at, per kind (pending, and
	// decided but untold), oldest first: the ones in trouble.
	inFlightLimit = 200
	// waitingPerQueue bounds the bookings listed per queue in the API.
	waitingPerQueue = 50
	// waitingShown bounds them on the dashboard.
	waitingShown = 4
)

// QueueView is one queue as GET /api/queues reports it: the contract's
// counts, and the bookings whose next step waits in it, oldest first.
type QueueView struct {
	saga.QueueStat
	Waiting []WaitingBooking `json:"waiting"`
	// WaitingMore counts the bookings that wait here beyond those listed,
	// among the oldest unfinished ones looked at (inFlightLimit of each
	// kind): a lower bound when more are in flight.
	WaitingMore int `json:"waiting_more,omitempty"`
}

// WaitingBooking is a booking waiting in a queue.
type WaitingBooking struct {
	ID     string    `json:"booking_id"`
	UserID string    `json:"user_id"`
	Since  time.Time `json:"since"`
	Note   string    `json:"note,omitempty"`
}

// WaitingByQueue groups the unfinished bookings by the queue their next
// step waits in, oldest first. It reads at most 2×inFlightLimit bookings
// and their events, in three queries; it is empty unless both Booking and
// the observer run here.
func (b *Builder) WaitingByQueue(ctx context.Context) (map[string][]WaitingBooking, error) {
	out := map[string][]WaitingBooking{}
	if !b.src.Has(saga.PartBooking) || !b.src.Has(saga.PartObserver) {
		// Where a booking waits is read from the messages the observer
		// saw; without them any answer would be a guess.
		return out, nil
	}
	list, err := b.src.Booking.InFlight(ctx, inFlightLimit)
	if err != nil || len(list) == 0 {
		return out, err
	}
	ids := make([]string, len(list))
	for i, bk := range list {
		ids[i] = bk.ID
	}
	events, err := b.src.Observer.EventsOf(ctx, ids)
	if err != nil {
		return out, err
	}
	switches := b.src.Switches.All()
	for _, bk := range list {
		if w := WaitingOf(bk, events[bk.ID], switches); w != nil {
			out[w.Queue] = append(out[w.Queue], WaitingBooking{ID: bk.ID, UserID: bk.UserID, Since: w.Since, Note: w.Note})
		}
	}
	for _, l := range out {
		sort.Slice(l, func(i, j int) bool { return l[i].Since.Before(l[j].Since) })
	}
	return out, nil
}

// QueueViews turns queue depths and the waiting bookings into the panel's
// rows. The retry queues are one row: they hold messages for a while by
// design and have no consumer, so apart they would only look broken.
func QueueViews(stats []saga.QueueStat, waiting map[string][]WaitingBooking, now time.Time) []views.Queue {
	retry := map[string]bool{}
	for _, r := range saga.NotificationRetryQueues {
		retry[r.Name] = true
	}
	var out []views.Queue
	held := views.Queue{Name: "notification_retry_*", Holding: true}
	add := func(q *views.Queue, list []WaitingBooking) {
		for _, w := range list {
			if len(q.Waiting) < waitingShown {
				q.Waiting = append(q.Waiting, views.QueueWait{ID: w.ID, UserID: w.UserID, Since: w.Since, For: now.Sub(w.Since), Note: w.Note})
			} else {
				q.WaitingMore++
			}
		}
	}
	for _, q := range stats {
		if retry[q.Name] {
			held.Ready += q.Ready
			held.Unacked += q.Unacked
			add(&held, waiting[q.Name])
			continue
		}
		v := views.Queue{Name: q.Name, Ready: q.Ready, Unacked: q.Unacked, Consumers: q.Consumers}
		add(&v, waiting[q.Name])
		out = append(out, v)
	}
	return append(out, held)
}

// QueueList is GET /api/queues' answer: each queue's counts with the
// bookings waiting in it, at most waitingPerQueue of them.
func QueueList(stats []saga.QueueStat, waiting map[string][]WaitingBooking) []QueueView {
	out := make([]QueueView, len(stats))
	for i, q := range stats {
		list := waiting[q.Name]
		out[i] = QueueView{QueueStat: q, Waiting: []WaitingBooking{}}
		if len(list) > waitingPerQueue {
			out[i].WaitingMore = len(list) - waitingPerQueue
			list = list[:waitingPerQueue]
		}
		out[i].Waiting = append(out[i].Waiting, list...)
	}
	return out
}
