// Package api is sagaboard's JSON API, the routes under /api/ that
// CONTRACT.md promises, and /metrics. Its handlers read through
// viewmodel.Builder and answer every error through httperr, so a status
// and its sentence are decided in one place. It knows nothing of pages.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/scenario"
	"github.com/sagaboard/sagaboard/web/httperr"
	"github.com/sagaboard/sagaboard/web/load"
	"github.com/sagaboard/sagaboard/web/viewmodel"
)

// Broker is what the API reads of the broker.
type Broker interface {
	// Status says whether the broker is connected, why not, and how often
	// it was lost.
	Status() (connected bool, lastErr error, outages int, since time.Time)
	// Inspect reads the queues' depths.
	Inspect(ctx context.Context, queues []string) ([]saga.QueueStat, error)
}

// Config is what the API serves from.
type Config struct {
	Model  *viewmodel.Builder
	Broker Broker
	Load   *load.Loader
	// Replayed is called after a dead letter was sent back, so the pages
	// redraw the panel; nil calls nothing.
	Replayed func()
	// Log defaults to slog.Default().
	Log *slog.Logger
	// WriteTimeout is how long an answer may take once it is ready to be
	// written; ?wait= extends the deadline by its wait. Default 30s.
	WriteTimeout time.Duration
	// Metrics is what /metrics serves. Default: NewMetrics(), with no
	// pipeline feeding its step timings.
	Metrics *Metrics
	// Hub reads the live feed's WebSocket counts for /metrics; nil leaves
	// them out.
	Hub hubStats
	// Scenarios are the lessons /api/scenarios offers and plays.
	Scenarios *scenario.Library
}

// Handler serves the API.
type Handler struct {
	cfg   Config
	src   viewmodel.Sources
	model *viewmodel.Builder
	log   *slog.Logger
	wait  waiters
	// metrics serves /metrics.
	metrics http.Handler
}

// New returns the API's handler.
func New(cfg Config) *Handler {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	h := &Handler{cfg: cfg, src: cfg.Model.Sources(), model: cfg.Model, log: cfg.Log}
	h.metrics = cfg.Metrics.serve(h)
	return h
}

// Routes registers the API's routes on m, with guard around each one that
// changes state.
func (h *Handler) Routes(m *http.ServeMux, guard func(http.HandlerFunc) http.HandlerFunc) {
	m.HandleFunc("POST /api/bookings", guard(h.createBooking))
	m.HandleFunc("GET /api/bookings", h.listBookings)
	m.HandleFunc("GET /api/bookings/{id}", h.getBooking)
	m.HandleFunc("GET /api/seats", h.listSeats)
	m.HandleFunc("GET /api/payments", h.listPayments)
	m.HandleFunc("GET /api/stats", h.stats)
	m.HandleFunc("GET /api/notifications", h.listNotifications)
	m.HandleFunc("GET /api/failures", h.getFailures)
	m.HandleFunc("PUT /api/failures", guard(h.putFailures))
	m.HandleFunc("GET /api/dead-letters", h.listDeadLetters)
	m.HandleFunc("POST /api/dead-letters/{id}/replay", guard(h.replayDeadLetter))
	m.HandleFunc("POST /api/dead-letters/poison", guard(h.sendPoison))
	m.HandleFunc("GET /api/slow-motion", h.getSlowMotion)
	m.HandleFunc("PUT /api/slow-motion", guard(h.putSlowMotion))
	m.HandleFunc("POST /api/steps/{participant}/let-one-through", guard(h.letOneThrough))
	m.HandleFunc("GET /api/queues", h.queues)
	m.HandleFunc("GET /api/invariants", h.invariants)
	m.HandleFunc("GET /api/history", h.history)
	m.HandleFunc("GET /api/history/range", h.historyRange)
	m.HandleFunc("POST /api/load", guard(h.startLoad))
	m.Handle("GET /metrics", h.metrics)
	h.scenarioRoutes(m, guard)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, httperr.Errorf(httperr.NotFound, "no such API endpoint: %s %s", r.Method, r.URL.Path))
	})
}

// BookingCommitted wakes the requests waiting on a booking. It never blocks.
func (h *Handler) BookingCommitted(id string) { h.wait.wake(id) }

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	httperr.Write(w, r, h.log, err)
}

func (h *Handler) createBooking(w http.ResponseWriter, r *http.Request) {
	if err := h.src.Need(saga.PartBooking); err != nil {
		h.fail(w, r, err)
		return
	}
	body, err := ReadBody(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req, err := ParseBookingRequest(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	b, err := h.src.Booking.Create(r.Context(), req.UserID, req.Seats)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/bookings/"+b.ID)
	httperr.WriteJSON(w, http.StatusAccepted, map[string]string{"id": b.ID, "status": b.Status})
}

func (h *Handler) listBookings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := booking.Filter{Status: q.Get("status"), UserID: q.Get("user_id"), Before: q.Get("before"), After: q.Get("after")}
	if f.Status != "" && !saga.ValidStatus(f.Status) {
		h.fail(w, r, httperr.Errorf(httperr.Invalid, "status must be pending, confirmed or compensated"))
		return
	}
	if f.Before != "" && f.After != "" {
		h.fail(w, r, httperr.Errorf(httperr.Invalid, "give before or after, not both: a page is older than one booking or newer than one"))
		return
	}
	if q.Has("q") {
		s, err := saga.ParseSearch(q.Get("q"))
		if err != nil {
			h.fail(w, r, err)
			return
		}
		f.Search = &s
	}
	limit, err := parseLimit(q.Get("limit"), 50, booking.MaxList)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f.Limit = limit
	list, err := h.src.Booking.List(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httperr.WriteJSON(w, http.StatusOK, list)
}

func (h *Handler) listSeats(w http.ResponseWriter, r *http.Request) {
	seats, err := h.src.Booking.Seats(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httperr.WriteJSON(w, http.StatusOK, seats)
}

func (h *Handler) listPayments(w http.ResponseWriter, r *http.Request) {
	limit, err := parseLimit(r.URL.Query().Get("limit"), 500, 5000)
	if err == nil {
		var list any
		if list, err = h.src.Payment.Ledger(r.Context(), r.URL.Query().Get("booking_id"), limit); err == nil {
			httperr.WriteJSON(w, http.StatusOK, list)
			return
		}
	}
	h.fail(w, r, err)
}

func (h *Handler) stats(w http.ResponseWriter, r *http.Request) {
	st, err := h.src.Booking.Stats(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httperr.WriteJSON(w, http.StatusOK, st)
}

func (h *Handler) listNotifications(w http.ResponseWriter, r *http.Request) {
	limit, err := parseLimit(r.URL.Query().Get("limit"), 50, 500)
	if err == nil {
		var list any
		if list, err = h.src.Notification.List(r.Context(), r.URL.Query().Get("user_id"), limit); err == nil {
			httperr.WriteJSON(w, http.StatusOK, list)
			return
		}
	}
	h.fail(w, r, err)
}

func (h *Handler) getFailures(w http.ResponseWriter, _ *http.Request) {
	httperr.WriteJSON(w, http.StatusOK, h.src.Switches.All())
}

func (h *Handler) putFailures(w http.ResponseWriter, r *http.Request) {
	body, err := ReadBody(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	patch, err := saga.ParsePatch(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.src.ApplySwitches(r.Context(), h.log, patch)
	httperr.WriteJSON(w, http.StatusOK, h.src.Switches.All())
}

func (h *Handler) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	limit, err := parseLimit(r.URL.Query().Get("limit"), 100, 1000)
	if err == nil {
		var list any
		if list, err = h.src.Observer.DeadLetters(r.Context(), limit); err == nil {
			httperr.WriteJSON(w, http.StatusOK, list)
			return
		}
	}
	h.fail(w, r, err)
}

func (h *Handler) replayDeadLetter(w http.ResponseWriter, r *http.Request) {
	if err := h.src.Observer.Replay(r.Context(), r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	if h.cfg.Replayed != nil {
		h.cfg.Replayed()
	}
	httperr.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "replayed"})
}

func (h *Handler) queues(w http.ResponseWriter, r *http.Request) {
	stats, err := h.cfg.Broker.Inspect(r.Context(), saga.WorkQueues())
	if err != nil {
		h.fail(w, r, &httperr.Error{Code: httperr.Unavailable, Message: "cannot read queue depths: " + err.Error(), Err: err})
		return
	}
	// The depths are the answer; who waits is a bonus that must not cost
	// it, so a store that cannot be read leaves the lists empty.
	waiting, err := h.model.WaitingByQueue(r.Context())
	if err != nil {
		h.log.Warn("queues: could not find the waiting bookings", "err", err)
	}
	httperr.WriteJSON(w, http.StatusOK, viewmodel.QueueList(stats, waiting))
}

// invariants answers GET /api/invariants with the latest check.
func (h *Handler) invariants(w http.ResponseWriter, r *http.Request) {
	if !h.src.Has(viewmodel.PartInvariants) {
		h.fail(w, r, httperr.Errorf(httperr.Unavailable, "the invariant checker runs in the process that runs Booking, and this one does not"))
		return
	}
	httperr.WriteJSON(w, http.StatusOK, h.src.Invariants.Report())
}

// loadRequest is the body of POST /api/load.
type loadRequest struct {
	N int `json:"n"`
}

// startLoad is POST /api/load {"n":50}.
func (h *Handler) startLoad(w http.ResponseWriter, r *http.Request) {
	body, err := ReadBody(w, r)
	if err == nil {
		var req loadRequest
		if err = DecodeStrict(body, &req); err == nil {
			var st load.Started
			if st, err = h.cfg.Load.Start(r.Context(), req.N); err == nil {
				httperr.WriteJSON(w, http.StatusAccepted, st)
				return
			}
		}
	}
	h.fail(w, r, err)
}
