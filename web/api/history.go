package api

import (
	"net/http"

	"github.com/sagaboard/sagaboard/web/httperr"
	"github.com/sagaboard/sagaboard/web/viewmodel"
)

// history is GET /api/history?at=<RFC 3339>: the saga as the observer's
// record had it at that moment, bounded to the stretch the record covers.
func (h *Handler) history(w http.ResponseWriter, r *http.Request) {
	at, err := viewmodel.ParseMoment(r.URL.Query().Get("at"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := h.model.Moment(r.Context(), at)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httperr.WriteJSON(w, http.StatusOK, m)
}

// historyRange is GET /api/history/range: {"from","to"}, the stretch the
// record covers, for the scrubber to span.
func (h *Handler) historyRange(w http.ResponseWriter, r *http.Request) {
	rg, err := h.model.HistoryRange(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httperr.WriteJSON(w, http.StatusOK, rg)
}
