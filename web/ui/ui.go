// Package ui is sagaboard's dashboard: the pages, the forms they post, and
// the live feed (Live) that keeps them current over the WebSocket. It
// builds every value it draws through viewmodel.Builder, as the API does,
// and draws with the templ views. It knows nothing of the JSON API.
package ui

import (
	"log/slog"
	"net/http"

	"github.com/sagaboard/sagaboard/services/scenario"
	"github.com/sagaboard/sagaboard/views"
	"github.com/sagaboard/sagaboard/web/guard"
	"github.com/sagaboard/sagaboard/web/httperr"
	"github.com/sagaboard/sagaboard/web/load"
	"github.com/sagaboard/sagaboard/web/viewmodel"
)

// listLimit is how many bookings the list shows and keeps.
const listLimit = 50

// Config is what the pages serve from.
type Config struct {
	Model *viewmodel.Builder
	Live  *Live
	Guard *guard.Guard
	Load  *load.Loader
	// Scenarios are the lessons the page plays and records; nil hides them.
	Scenarios *scenario.Library
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// Handler serves the pages.
type Handler struct {
	cfg    Config
	src    viewmodel.Sources
	model  *viewmodel.Builder
	live   *Live
	log    *slog.Logger
	assets assets
}

// New returns the pages' handler.
func New(cfg Config) *Handler {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Handler{cfg: cfg, src: cfg.Model.Sources(), model: cfg.Model, live: cfg.Live, log: cfg.Log, assets: loadAssets()}
}

// message answers a page request with err's sentence on a page of its own,
// with err's status: a part that does not run here is a 503 that says so.
func (h *Handler) message(w http.ResponseWriter, r *http.Request, err error) {
	if httperr.Gone(err) {
		return
	}
	e := httperr.From(err)
	if e.Code == httperr.Internal {
		h.pageError(w, r, err)
		return
	}
	h.render(w, r, httperr.Status(e.Code), views.MessagePage(h.page(r, "sagaboard", ""), "That did not work", e.Message, false))
}
