package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

// The dashboard's sizes.
const (
	// listLimit is how many bookings the list shows and keeps.
	listLimit = 50
	// noticeLimit and deadLetterLimit size the side panels.
	noticeLimit     = 12
	deadLetterLimit = 10
)

// This file turns what the services hold into the plain values the views
// take. The pages and the live feed both use it, so a fragment pushed over
// the WebSocket is the same markup the page was first drawn with.

func viewEvent(e observer.Event) views.Event {
	env := e.Envelope()
	v := views.Event{Seq: e.Seq, Type: e.Type, Source: e.Source, Queue: e.Queue, Attempt: e.Attempt,
		At: e.At, ObservedAt: e.ObservedAt, Reason: env.Reason, Cause: env.Cause, Injected: env.Injected}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, e.Payload, "", "  "); err == nil {
		v.Payload = pretty.String()
	} else {
		v.Payload = string(e.Payload)
	}
	return v
}

func viewBooking(b booking.Booking, events []observer.Event, switches map[string]saga.Switch) views.Booking {
	v := views.Booking{ID: b.ID, UserID: b.UserID, Seats: b.Seats, AmountCents: b.AmountCents, Status: b.Status,
		Notified: b.Notified, Reason: b.Reason, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt,
		Events: make([]views.Event, len(events))}
	for i, e := range events {
		v.Events[i] = viewEvent(e)
	}
	if w := waitingOf(b, events, switches); w != nil {
		v.Waiting = &views.Waiting{Queue: w.Queue, Since: w.Since, For: time.Since(w.Since), Note: w.Note}
	}
	return v
}

// withEvents adds each booking's events, in one query for all of them.
func (s *Server) withEvents(ctx context.Context, list []booking.Booking) ([]views.Booking, error) {
	events := map[string][]observer.Event{}
	if s.cfg.Observer != nil && len(list) > 0 {
		ids := make([]string, len(list))
		for i, b := range list {
			ids[i] = b.ID
		}
		var err error
		if events, err = s.cfg.Observer.EventsOf(ctx, ids); err != nil {
			return nil, err
		}
	}
	out := make([]views.Booking, len(list))
	switches := s.cfg.Switches.All()
	for i, b := range list {
		out[i] = viewBooking(b, events[b.ID], switches)
	}
	return out, nil
}

// listCards is the bookings list: newest first, filtered.
func (s *Server) listCards(ctx context.Context, f views.Filter, limit int) ([]views.Booking, error) {
	if s.cfg.Booking == nil {
		return nil, nil
	}
	list, err := s.cfg.Booking.List(ctx, booking.Filter{Status: f.Status, UserID: f.UserID, Limit: limit})
	if err != nil {
		return nil, err
	}
	return s.withEvents(ctx, list)
}

// cards returns the bookings with the given ids, newest first.
func (s *Server) cards(ctx context.Context, ids []string) ([]views.Booking, error) {
	if s.cfg.Booking == nil || len(ids) == 0 {
		return nil, nil
	}
	list, err := s.cfg.Booking.GetMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	return s.withEvents(ctx, list)
}

// filterOf reads the list's filter from a query. An unknown status filters
// nothing rather than failing: it came from a hand-edited URL.
func filterOf(q url.Values) views.Filter {
	f := views.Filter{Status: q.Get("status"), UserID: q.Get("user_id")}
	switch f.Status {
	case booking.StatusPending, booking.StatusConfirmed, booking.StatusCompensated:
	default:
		f.Status = ""
	}
	if len(f.UserID) > saga.MaxUserIDLen {
		f.UserID = f.UserID[:saga.MaxUserIDLen]
	}
	return f
}

func (s *Server) statsCounts(ctx context.Context) (views.Stats, error) {
	if s.cfg.Booking == nil {
		return views.Stats{}, nil
	}
	st, err := s.cfg.Booking.Stats(ctx)
	if err != nil {
		return views.Stats{}, err
	}
	return views.Stats{Known: true, Total: st.Total, Pending: st.Pending, Confirmed: st.Confirmed,
		Compensated: st.Compensated, Notified: st.Notified}, nil
}

// seats returns the seat map as a flat list, in venue order.
func (s *Server) seats(ctx context.Context) ([]views.Seat, error) {
	if s.cfg.Booking == nil {
		return nil, nil
	}
	list, err := s.cfg.Booking.Seats(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]views.Seat, len(list))
	for i, st := range list {
		out[i] = views.Seat{ID: st.ID, Status: st.Status, BookingID: st.BookingID}
	}
	return out, nil
}

// seatMap groups seats into rows by their row label.
func (s *Server) seatMap(seats []views.Seat) views.SeatMap {
	m := views.SeatMap{Known: s.cfg.Booking != nil, PriceCents: saga.PricePerSeat}
	for _, st := range seats {
		label := strings.TrimRight(st.ID, "0123456789")
		if n := len(m.Rows); n == 0 || m.Rows[n-1].Label != label {
			m.Rows = append(m.Rows, views.SeatRow{Label: label})
		}
		r := &m.Rows[len(m.Rows)-1]
		r.Seats = append(r.Seats, st)
	}
	return m
}

// switchQueues names the queue each switch's participant drains.
var switchQueues = map[string]string{
	saga.PartPayment:      saga.PaymentQueue,
	saga.PartSeats:        saga.SeatUpdateQueue,
	saga.PartNotification: saga.NotificationQueue,
}

func (s *Server) switchViews() []views.Switch {
	all := s.cfg.Switches.All()
	out := make([]views.Switch, 0, len(saga.SwitchParts))
	for _, p := range saga.SwitchParts {
		sw := all[p]
		out = append(out, views.Switch{Part: p, FailRate: sw.FailRate, DelayMS: sw.DelayMS, Paused: sw.Paused, Queue: switchQueues[p],
			FailNext: sw.FailNext, UserID: sw.UserID})
	}
	return out
}

// pausedQueues lists the queues whose consumer is paused by its switch.
func (s *Server) pausedQueues() map[string]bool {
	out := map[string]bool{}
	for p, sw := range s.cfg.Switches.All() {
		if sw.Paused {
			out[switchQueues[p]] = true
		}
	}
	return out
}

func (s *Server) noticesView(ctx context.Context) (views.Notices, error) {
	if s.cfg.Notification == nil {
		return views.Notices{}, nil
	}
	list, err := s.cfg.Notification.List(ctx, "", noticeLimit)
	if err != nil {
		return views.Notices{}, err
	}
	n := views.Notices{Known: true, List: make([]views.Notice, len(list))}
	for i, x := range list {
		n.List[i] = views.Notice{BookingID: x.BookingID, UserID: x.UserID, Text: x.Text, Success: x.Success, At: x.At}
	}
	return n, nil
}

func (s *Server) deadLettersView(ctx context.Context) (views.DeadLetters, error) {
	if s.cfg.Observer == nil {
		return views.DeadLetters{}, nil
	}
	list, err := s.cfg.Observer.DeadLetters(ctx, deadLetterLimit)
	if err != nil {
		return views.DeadLetters{}, err
	}
	d := views.DeadLetters{Known: true, List: make([]views.DeadLetter, len(list))}
	for i, x := range list {
		d.List[i] = views.DeadLetter{ID: x.ID, Queue: x.Queue, Reason: x.Reason, Type: x.Type, BookingID: x.BookingID,
			Body: x.Body, At: x.At, ReplayedAt: x.ReplayedAt}
	}
	return d, nil
}
