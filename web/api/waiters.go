package api

import (
	"sync"
)

// waiters lets a request wait for a booking's next committed change, so
// GET /api/bookings/{id}?wait=5s answers the moment the booking leaves
// pending instead of making scripts poll.
type waiters struct {
	mu sync.Mutex
	m  map[string][]chan struct{}
}

// add registers interest in id; the returned channel is closed at its next
// change, and cancel must be called when the waiter gives up.
func (w *waiters) add(id string) (ch <-chan struct{}, cancel func()) {
	c := make(chan struct{})
	w.mu.Lock()
	if w.m == nil {
		w.m = map[string][]chan struct{}{}
	}
	w.m[id] = append(w.m[id], c)
	w.mu.Unlock()
	return c, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		list := w.m[id]
		for i, x := range list {
			if x == c {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(w.m, id)
		} else {
			w.m[id] = list
		}
	}
}

// wake closes every waiter of id. It never blocks.
func (w *waiters) wake(id string) {
	w.mu.Lock()
	list := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	for _, c := range list {
		close(c)
	}
}
