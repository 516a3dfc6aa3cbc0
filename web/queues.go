package web

import (
	"context"
	"net/http"
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

func (s *Server) queues(w http.ResponseWriter, r *http.Request) {
	stats, err := s.cfg.Broker.Inspect(r.Context(), saga.WorkQueues())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot read queue depths: "+err.Error())
		return
	}
	// The depths are the answer; who waits is a bonus that must not cost
	// it, so a store that cannot be read leaves the lists empty.
	waiting, err := s.waitingByQueue(r.Context())
	if err != nil {
		s.log.Warn("queues: could not find the waiting bookings", "err", err)
	}
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
	writeJSON(w, http.StatusOK, out)
}

// waitingByQueue groups the unfinished bookings by the queue their next
// step waits in, oldest first. It reads at most 2×inFlightLimit bookings
// and their events, in three queries; it is empty unless both Booking and
// the observer run here.
func (s *Server) waitingByQueue(ctx context.Context) (map[string][]WaitingBooking, error) {
	out := map[string][]WaitingBooking{}
	if s.cfg.Booking == nil || s.cfg.Observer == nil {
		// Where a booking waits is read from the messages the observer
		// saw; without them any answer would be a guess.
		return out, nil
	}
	list, err := s.cfg.Booking.InFlight(ctx, inFlightLimit)
	if err != nil || len(list) == 0 {
		return out, err
	}
	ids := make([]string, len(list))
	for i, b := range list {
		ids[i] = b.ID
	}
	events, err := s.cfg.Observer.EventsOf(ctx, ids)
	if err != nil {
		return out, err
	}
	switches := s.cfg.Switches.All()
	for _, b := range list {
		if w := waitingOf(b, events[b.ID], switches); w != nil {
			out[w.Queue] = append(out[w.Queue], WaitingBooking{ID: b.ID, UserID: b.UserID, Since: w.Since, Note: w.Note})
		}
	}
	for _, l := range out {
		sort.Slice(l, func(i, j int) bool { return l[i].Since.Before(l[j].Since) })
	}
	return out, nil
}

// queueViews turns queue depths and the waiting bookings into the panel's
// rows. The retry queues are one row: they hold messages for a while by
// design and have no consumer, so apart they would only look broken.
func queueViews(stats []saga.QueueStat, waiting map[string][]WaitingBooking, now time.Time) []views.Queue {
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
