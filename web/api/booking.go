package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web/httperr"
	"github.com/sagaboard/sagaboard/web/viewmodel"
)

// MaxWait bounds ?wait= on GET /api/bookings/{id}.
const MaxWait = 60 * time.Second

func (h *Handler) getBooking(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var wait time.Duration
	if raw := r.URL.Query().Get("wait"); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d < 0 || d > MaxWait {
			h.fail(w, r, httperr.Errorf(httperr.Invalid, "wait must be a duration from 0s to %s, such as 5s", MaxWait))
			return
		}
		wait = d
		// The answer is written after the wait, so its deadline starts then.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + h.cfg.WriteTimeout))
	}
	var v viewmodel.BookingView
	var err error
	if wait > 0 && h.src.Has(saga.PartBooking) {
		v, err = h.waitForOutcome(r, id, wait)
	} else {
		v, err = h.model.BookingView(r.Context(), id)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httperr.WriteJSON(w, http.StatusOK, v)
}

// waitForOutcome is an extension of the contract: it waits until the
// booking leaves pending, or the time is up, and returns it as it then is.
func (h *Handler) waitForOutcome(r *http.Request, id string, wait time.Duration) (viewmodel.BookingView, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		changed, cancel := h.wait.add(id)
		// Read after registering, so a change in between is not missed.
		// Only the status decides whether to wait on, so only the booking
		// is read here; the whole view is drawn once, at the end. That keeps
		// a waiting client's work off the CPU while its saga runs.
		b, err := h.src.Booking.Get(r.Context(), id)
		if err != nil {
			cancel()
			return viewmodel.BookingView{}, err
		}
		if b.Status != saga.StatusPending {
			cancel()
			return h.model.ViewOf(r.Context(), b)
		}
		select {
		case <-changed:
		case <-timer.C:
			cancel()
			return h.model.BookingView(r.Context(), id)
		case <-r.Context().Done():
			cancel()
			return viewmodel.BookingView{}, fmt.Errorf("api: wait for booking %s: %w", id, r.Context().Err())
		}
	}
}
