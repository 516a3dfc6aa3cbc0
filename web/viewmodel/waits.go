package viewmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

// LongWait is the shortest wait worth a sentence on a booking: a message
// that lay this long in a queue before its part took it.
const LongWait = time.Second

// PastWaits finds a booking's long waits in its record: each work message
// from when it was sent to when the part that takes it sent the message it
// caused (caused_by), or to now when nothing it caused is seen yet and the
// booking is decided (while pending, Waiting tells the wait in hand). A
// retry's holding queue holds on purpose and is left out. The reasons come
// from history, the switches as they were then (SwitchesDuring).
func PastWaits(b booking.Booking, events []observer.Event, history []observer.SwitchChange, now time.Time) []views.PastWait {
	var out []views.PastWait
	for _, w := range candidates(b, events, now) {
		w.Note = noteOf(w.Queue, w.From, w.To, history)
		// An unhandled message whose wait the record cannot explain may
		// simply have been handled with nothing to show for it: say
		// nothing rather than guess.
		if w.Open && w.Note == "" {
			continue
		}
		out = append(out, w)
	}
	return out
}

func candidates(b booking.Booking, events []observer.Event, now time.Time) []views.PastWait {
	if len(events) == 0 {
		return nil
	}
	index := make(map[string]int, len(events))
	for i, e := range events {
		index[e.MessageID] = i
	}
	handled := make(map[int]time.Time, len(events))
	for _, e := range events {
		if j, ok := index[e.CausedBy]; ok && e.CausedBy != "" {
			if t, seen := handled[j]; !seen || e.At.Before(t) {
				handled[j] = e.At
			}
		}
	}
	var out []views.PastWait
	for j, e := range events {
		step, ok := StepOf(e.Queue)
		if !ok || isRetryQueue(e.Queue) {
			continue
		}
		w := views.PastWait{Queue: e.Queue, Step: step, From: e.At}
		if to, ok := handled[j]; ok {
			w.To = to
		} else if b.Status != saga.StatusPending {
			w.To, w.Open = now, true
		} else {
			continue
		}
		if w.To.Sub(w.From) >= LongWait {
			out = append(out, w)
		}
	}
	return out
}

// noteOf says why a message may have waited in queue over [from, to]:
// the switch that holds up that queue, as the record had it then.
func noteOf(queue string, from, to time.Time, history []observer.SwitchChange) string {
	part, ok := SwitchOf(queue)
	if !ok {
		return ""
	}
	var paused time.Duration
	delay := 0
	for i, c := range history {
		end := to
		if i+1 < len(history) && history[i+1].At.Before(to) {
			end = history[i+1].At
		}
		start := c.At
		if start.Before(from) {
			start = from
		}
		if !end.After(start) {
			continue
		}
		sw := c.Switches[part]
		if sw.Paused {
			paused += end.Sub(start)
		}
		delay = max(delay, sw.DelayMS)
	}
	switch total := to.Sub(from); {
	case paused > 0 && paused >= total-LongWait/2:
		return part + " paused"
	case paused > 0:
		return fmt.Sprintf("%s paused for %s of it", part, views.Duration(paused))
	case delay > 0:
		return fmt.Sprintf("%s waits %d ms per message", part, delay)
	}
	return ""
}

// withWaits fills each booking's past waits, reading the switches' record
// once for all of them, and only when one has a wait to explain.
func (b *Builder) withWaits(ctx context.Context, list []booking.Booking, events map[string][]observer.Event, out []views.Booking) {
	if !b.src.Has(saga.PartObserver) {
		return
	}
	now := time.Now()
	var from, to time.Time
	for _, bk := range list {
		for _, w := range candidates(bk, events[bk.ID], now) {
			if from.IsZero() || w.From.Before(from) {
				from = w.From
			}
			if w.To.After(to) {
				to = w.To
			}
		}
	}
	if from.IsZero() {
		return
	}
	history, err := b.src.Observer.SwitchesDuring(ctx, from, to)
	if err != nil {
		// The waits are told without their reasons rather than the page
		// not at all.
		history = nil
	}
	for i, bk := range list {
		out[i].Waits = PastWaits(bk, events[bk.ID], history, now)
	}
}
