package web

import "github.com/sagaboard/sagaboard/services/observer"

// Live feeds the dashboard's WebSocket clients. Participants call it when
// something changed; it never blocks them.
type Live struct {
	s *Server
}

func newLive(s *Server) *Live { return &Live{s: s} }

// BookingChanged is called after a booking's state was committed.
func (l *Live) BookingChanged(id string) {}

// SwitchesChanged is called after the failure switches changed.
func (l *Live) SwitchesChanged() {}

// DeadLettersChanged is called when a dead letter arrived or was replayed.
func (l *Live) DeadLettersChanged() {}

func (l *Live) close() {}

// EventsObserved is called with every batch of newly observed messages.
func (l *Live) EventsObserved(events []observer.Event) {}
