package ui

import (
	"net/http"

	"github.com/sagaboard/sagaboard/views"
	"github.com/sagaboard/sagaboard/web/viewmodel"
)

// history is GET /ui/history?at=: the saga at a moment, as the dashboard's
// scrubber draws it in place of the live panels.
func (h *Handler) history(w http.ResponseWriter, r *http.Request) {
	at, err := viewmodel.ParseMoment(r.URL.Query().Get("at"))
	if err != nil {
		h.formFail(w, r, err)
		return
	}
	m, err := h.model.Moment(r.Context(), at)
	if err != nil {
		h.formFail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, views.MomentPanel(h.model.MomentView(m)))
}
